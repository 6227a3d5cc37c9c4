"""Meta-tests that keep the plugin API honest: every hookspec is documented and exercised."""

import inspect
import re
from pathlib import Path

from gankit_core import hookspecs
from gankit_core.plugins import ALL_HOOKS, get_plugins

ROOT = Path(__file__).resolve().parents[1]


def hookspec_names():
    return [name for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_")]


def test_every_hookspec_has_a_one_line_docstring_and_is_loaded():
    for name in hookspec_names():
        doc = getattr(hookspecs, name).__doc__
        assert doc and len(doc.strip().splitlines()) == 1, name
    assert sorted(hookspec_names()) == sorted(ALL_HOOKS)


def test_every_hookspec_is_documented_for_plugin_authors():
    page = (ROOT / "docs" / "writing-plugins.md").read_text()
    for name in hookspec_names():
        assert re.search(rf"`{name}\(register\)`", page), f"{name} is not documented in docs/writing-plugins.md"


def test_every_hookspec_is_implemented_by_an_installed_plugin():
    implemented = {hook for info in get_plugins().plugins if info.ok for hook in info.hooks}
    assert set(hookspec_names()) <= implemented, set(hookspec_names()) - implemented


def test_every_registered_model_names_its_paper():
    for entry in get_plugins().registry.list(kind="model"):
        assert entry.paper, f"model {entry.name} registers no paper"
        assert entry.load().__doc__, f"model {entry.name} has no docstring"
