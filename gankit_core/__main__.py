"""``python -m gankit_core`` runs the CLI (torchrun launches it this way)."""

from gankit_core.cli import main

main()
