"""How much a translation's KID moves between held-out sets, and whether a lead over the classical tool is larger
than that (docs/models/translation-runs.md, round 4).

    python plugins/cyclegan/scripts/kid_spread.py cyclegan=RUN ugatit=RUN2    # any ugatit or cyclegan runs

On five sets of 128 held-out faces (sets 1-5 of the twins; references of the target domain drawn anew for each),
KID for the identity, the classical tool of each direction, each named run and, for the first run, its cartoon ->
photo base; then each method's mean and standard deviation over the sets, and its difference from the tool, set by
set. ``gankit eval`` scores one set (the twins' set 1, references with seed 0). Takes about ten minutes on a
2-core CPU: run it alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys

import torch

from gankit_core import api
from gankit_core.data import open_dataset
from gankit_core.data.synthetic_dataset import translation_twins
from gankit_core.errors import GankitError
from gankit_core.images import to_uint8, to_unit
from gankit_core.metrics.fid import kernel_inception_distance
from gankit_core.metrics.inception import InceptionFeatures
from gankit_core.translation import BUILT_IN_STYLES, CLASSICAL

COUNT, SIZE, SETS = 128, 64, range(1, 6)


def translated(loaded, images: torch.Tensor, direction: str, base: bool = False) -> torch.Tensor:
    network = loaded.nets[f"gen_{direction}"]
    with torch.no_grad():
        return torch.cat([to_uint8((network.base(to_unit(chunk)) if base else
                                    loaded.model.translate(loaded.nets, to_unit(chunk), direction)).float())
                          for chunk in images.split(32)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="NAME=RUN", help="a ugatit or cyclegan run with residual generators")
    args = parser.parse_args()
    runs = {}
    for item in args.runs:  # all loaded before the slow part, so a wrong path fails at once
        name, sep, path = item.partition("=")
        if not sep or not name:
            sys.exit(f"error: give each run as NAME=RUN, not {item!r}")
        try:
            runs[name] = api.load_checkpoint(path)
        except GankitError as error:
            sys.exit(f"error: {error}")
        if "gen_a2b" not in runs[name].nets or not runs[name].model.config.residual:
            sys.exit(f"error: {path} is not a ugatit or cyclegan run with residual generators")
    inception = InceptionFeatures()
    scores: dict[tuple[str, str], list[float]] = {}
    for index in SETS:
        photos, cartoons = (torch.from_numpy(faces) for faces in translation_twins(index, COUNT, SIZE, BUILT_IN_STYLES["a2b"]))
        references = open_dataset(f"synthetic-unpaired:split=test,n={COUNT}", SIZE, seed=100 + index)
        targets = {"a2b": inception(references.fields["image_b"]), "b2a": inception(references.fields["image"])}
        sources = {"a2b": photos, "b2a": cartoons}
        sets = {}
        for direction, source in sources.items():
            tool, classical = CLASSICAL[BUILT_IN_STYLES[direction]]
            sets[(direction, "identity")] = source
            sets[(direction, tool)] = classical(source, index) if direction == "b2a" else classical(source)
            for number, (name, loaded) in enumerate(runs.items()):
                sets[(direction, name)] = translated(loaded, source, direction)
                if number == 0 and direction == "b2a":
                    sets[(direction, f"{name} base")] = translated(loaded, source, direction, base=True)
        for (direction, method), images in sets.items():
            kid = kernel_inception_distance(inception(images), targets[direction], seed=index)[0]
            scores.setdefault((direction, method), []).append(kid)
            print(f"set {index} {direction} {method:24s} KID {kid:.4f}", flush=True)
    print()
    for (direction, method), values in scores.items():
        tool = scores[(direction, CLASSICAL[BUILT_IN_STYLES[direction]][0])]
        differences = [value - reference for value, reference in zip(values, tool, strict=True)]
        print(f"{direction} {method:24s} KID mean {statistics.mean(values):.4f} sd {statistics.stdev(values):.4f}"
              f"   minus the tool: mean {statistics.mean(differences):+.4f} sd {statistics.stdev(differences):.4f},"
              f" per set {' '.join(f'{d:+.4f}' for d in differences)}")


if __name__ == "__main__":
    main()
