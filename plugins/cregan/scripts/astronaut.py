"""The photo figures of docs/models/cregan.md: the astronaut swapped with tinted and flipped copies of herself.

    python plugins/cregan/scripts/astronaut.py --checkpoint runs/main --out docs/models

writes the inputs (scikit-image's astronaut, public domain; a copy tinted darker and warmer; a mirrored copy),
runs ``gankit swap`` on every pair, region and ``--blend``, and writes ``cregan-astronaut-swap.png`` (G beside
Poisson mixed, both regions), ``cregan-astronaut-seams.png`` (every method, close up on the exchanged eyes) and
prints the seam figure of every method (the geometric mean over both directions, both regions, both copies).
Needs scikit-image and the dlib landmark detector plugin.
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

METHODS = ("gan", "poisson-mixed", "poisson", "colour", "feather", "paste")
TINT = np.array([0.86, 0.7, 0.56])  # darker and warmer: a second skin tone


def inputs(folder: Path) -> dict[str, Path]:
    from skimage import data

    photo = data.astronaut()
    images = {"astronaut": photo, "tinted": np.clip(photo * TINT + 0.5, 0, 255).astype(np.uint8),
              "mirrored": np.ascontiguousarray(photo[:, ::-1])}
    paths = {}
    for name, image in images.items():
        paths[name] = folder / f"{name}.png"
        Image.fromarray(image).save(paths[name])
    return paths


def swap(a: Path, b: Path, checkpoint: Path, region: str, method: str, out: Path) -> list[float]:
    result = subprocess.run([sys.executable, "-m", "gankit_core", "swap", str(a), str(b), "--checkpoint", str(checkpoint),
                             "--region", region, "--blend", method, "-o", str(out)], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return [float(value) for value in re.findall(r"seam ([0-9.]+)", result.stdout)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("docs/models"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cregan-astronaut-"))
    paths = inputs(work)
    seams: dict[str, list[float]] = {method: [] for method in METHODS}
    for method in METHODS:
        for copy in ("tinted", "mirrored"):
            for region in ("eyes", "mouth"):
                values = swap(paths["astronaut"], paths[copy], args.checkpoint, region, method, work / method)
                seams[method] += values
                print(f"{method:14s} astronaut <-> {copy:8s} {region:5s} seam {values[0]:.3f} {values[1]:.3f}")
    print("\nseam figure (geometric mean of 8 swaps; 1: no seam)")
    for method, values in seams.items():
        print(f"{method:14s} {math.exp(sum(map(math.log, values)) / len(values)):.3f}")

    def read(method: str, a: str, b: str, region: str) -> np.ndarray:
        return np.asarray(Image.open(work / method / f"{a}-with-{b}-{region}.png"))

    # G beside Poisson mixed: rows astronaut with the tinted copy's region, the tinted copy with hers
    rows = []
    for a, b in (("astronaut", "tinted"), ("tinted", "astronaut")):
        row = [np.asarray(Image.open(paths[a]))]
        for region in ("eyes", "mouth"):
            row += [read("poisson-mixed", a, b, region), read("gan", a, b, region)]
        rows.append(np.concatenate([image[40:260, 120:340] for image in row], 1))
    Image.fromarray(np.concatenate(rows, 0)).save(args.out / "cregan-astronaut-swap.png")
    # every method, close up on the eyes (the box that crosses hair, brows and skin)
    tiles = [np.concatenate([read(method, a, b, "eyes")[70:170, 150:310] for method in METHODS], 1)
             for a, b in (("astronaut", "tinted"), ("astronaut", "mirrored"), ("tinted", "astronaut"))]
    grid = np.concatenate(tiles, 0)
    Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.Resampling.NEAREST).save(
        args.out / "cregan-astronaut-seams.png")
    print(f"wrote {args.out / 'cregan-astronaut-swap.png'} and {args.out / 'cregan-astronaut-seams.png'}")


if __name__ == "__main__":
    main()
