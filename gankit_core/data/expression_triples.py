"""Expression-transfer triples: a source face with expression e, a target face, and the target's identity with e.

Each row is one training example of paper 003 (and one test case with ground truth): ``image`` the source,
``target`` the target (another identity, another expression), ``truth`` the target's identity wearing the
source's expression (I_o), each with its 68 landmarks, plus ``reference_landmarks``: the source's identity with
the neutral expression (J_s of Eq. 4, the "reference expression"). Two factories:

- ``synthetic-expression``: rendered from the synthetic faces, so every triple has exact ground truth; test
  identities are disjoint from training ones (``split=test``), as the paper's 8:2 split.
- ``expression-triples:PATH``: triples formed from a paired expression folder (RaFD, CK+ layouts; see
  ``expression:PATH``), subjects split 8:2 into ``split=train`` and ``split=test``.
"""

from __future__ import annotations

import numpy as np

from gankit_core.data import Dataset, parse_options
from gankit_core.data.synthetic import EXPRESSIONS, RENDER_VERSION, STYLES, face_params, landmarks, render
from gankit_core.errors import DataError

SYNTHETIC_OPTIONS = {"n": int, "style": str, "identities": int, "split": str, "cache": bool}
DEFAULT_TRIPLES = 1024
DEFAULT_IDENTITIES = 200
NEUTRAL = EXPRESSIONS.index("neutral")
CHUNK = 128
TEST_FRACTION = 0.2  # section V.A: training and test sets in the ratio 8:2


def triple_plan(seed: int, count: int, identities: int, split: str) -> dict[str, np.ndarray]:
    """Who and which expression each triple shows; test identities never appear in training."""
    rng = np.random.default_rng([seed, 611953, 0 if split == "train" else 1])
    offset = 0 if split == "train" else 1_000_000
    source = rng.integers(0, identities, count)
    target = (source + rng.integers(1, max(identities, 2), count)) % max(identities, 2)  # another identity
    expression = rng.integers(0, len(EXPRESSIONS), count)
    target_expression = (expression + rng.integers(1, len(EXPRESSIONS), count)) % len(EXPRESSIONS)  # another one
    return {"identity": offset + source, "target_identity": offset + target, "expression": expression,
            "target_expression": target_expression, "intensity": rng.uniform(0.6, 1.0, count),
            "target_intensity": rng.uniform(0.6, 1.0, count)}


def render_triples(seed: int, count: int, size: int, style: str, identities: int, split: str) -> dict[str, np.ndarray]:
    plan = triple_plan(seed, count, identities, split)
    out = {key: np.empty((count, 3, size, size), np.uint8) for key in ("image", "target", "truth")}
    out |= {key: np.empty((count, 68, 2), np.float32)
            for key in ("landmarks", "target_landmarks", "truth_landmarks", "reference_landmarks")}
    for start in range(0, count, CHUNK):
        part = slice(start, min(start + CHUNK, count))
        faces = {
            "image": face_params(seed, plan["identity"][part], plan["expression"][part], plan["intensity"][part]),
            "target": face_params(seed, plan["target_identity"][part], plan["target_expression"][part],
                                  plan["target_intensity"][part]),
            "truth": face_params(seed, plan["target_identity"][part], plan["expression"][part], plan["intensity"][part]),
        }
        noise = seed * 1_000_003 + start
        for key, params in faces.items():
            # target and truth share their sensor noise: the only difference between them is the expression
            out[key][part] = render(params, size, style, noise + (key == "image")).transpose(0, 3, 1, 2)
            out["landmarks" if key == "image" else f"{key}_landmarks"][part] = landmarks(params, size)
        neutral = np.full(part.stop - part.start, NEUTRAL)
        out["reference_landmarks"][part] = landmarks(face_params(seed, plan["identity"][part], neutral,
                                                                 np.ones(len(neutral))), size)
    return out | {key: plan[key].astype(np.int64) for key in ("identity", "target_identity", "expression")}


def _tensors(arrays: dict[str, np.ndarray]) -> dict:
    import torch

    return {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in arrays.items()}


def synthetic_expression(argument: str | None, image_size: int, seed: int = 0, strict: bool = False) -> Dataset:
    """Factory for ``synthetic-expression[:n=1024,identities=200,style=photo,split=train]``."""
    from gankit_core.data.synthetic_dataset import cached_arrays

    options = parse_options(argument, SYNTHETIC_OPTIONS, "synthetic-expression")
    style, split = options.get("style", "photo"), options.get("split", "train")
    count, identities = options.get("n", DEFAULT_TRIPLES), options.get("identities", DEFAULT_IDENTITIES)
    if style not in STYLES:
        raise DataError(f"synthetic-expression: style must be one of {', '.join(STYLES)}, not {style!r}")
    if split not in ("train", "test"):
        raise DataError(f"synthetic-expression: split must be train or test, not {split!r}")
    if count < 1 or identities < 2:
        raise DataError("synthetic-expression: n must be at least 1 and identities at least 2")
    if not 32 <= image_size <= 512:
        raise DataError(f"synthetic-expression renders 32 to 512 pixels, not {image_size}")
    key = f"v{RENDER_VERSION}-{seed}-{count}-{image_size}-{style}-{identities}-{split}"
    arrays = cached_arrays("synthetic-expression", key,
                           lambda: render_triples(seed, count, image_size, style, identities, split),
                           options.get("cache", True))
    return Dataset(f"synthetic-expression:{style}", _tensors(arrays), {"style": style, "split": split, "seed": seed})


def form_triples(identity: np.ndarray, expression: np.ndarray, truths: np.ndarray, sources: np.ndarray,
                 seed: int) -> dict[str, np.ndarray]:
    """Row indices (source, target, truth, reference) of the triples a labelled image set allows: each row in
    ``truths`` is the truth once, with a random row of ``sources`` from another subject showing its expression as
    the source and a random other image of its own subject as the target; the reference is the source subject's
    neutral image (else the source itself)."""
    rng = np.random.default_rng([seed, 611953])
    rows_of: dict[tuple[int, int], list[int]] = {}
    for row in range(len(identity)):
        rows_of.setdefault((int(identity[row]), int(expression[row])), []).append(row)
    source_set = set(sources.tolist())
    picks: dict[str, list[int]] = {"image": [], "target": [], "truth": [], "reference": []}
    for truth in truths.tolist():
        subject, shown = int(identity[truth]), int(expression[truth])
        candidates = [r for (s, e), found in rows_of.items() if e == shown and s != subject for r in found
                      if r in source_set]
        targets = [r for (s, e), found in rows_of.items() if s == subject and e != shown for r in found]
        if not candidates or not targets:
            continue
        source = candidates[rng.integers(len(candidates))]
        neutral = rows_of.get((int(identity[source]), NEUTRAL), [source])
        for key, row in (("image", source), ("target", targets[rng.integers(len(targets))]), ("truth", truth),
                         ("reference", neutral[0])):
            picks[key].append(row)
    return {key: np.asarray(value, dtype=np.int64) for key, value in picks.items()}


def expression_triples(argument: str | None, image_size: int, seed: int = 0, strict: bool = False) -> Dataset:
    """Factory for ``expression-triples:PATH[,split=train|test]``: triples from a paired expression folder."""
    from gankit_core.data import open_dataset

    if not argument:
        raise DataError("dataset 'expression-triples' needs a folder: --data expression-triples:PATH")
    path, _, rest = argument.partition(",")
    options = parse_options(rest or None, {"split": str, "strict": bool}, "expression-triples")
    split = options.pop("split", "train")
    if split not in ("train", "test"):
        raise DataError(f"expression-triples: split must be train or test, not {split!r}")
    folder = open_dataset(f"expression:{path}" + (",strict=true" if options.get("strict") else ""), image_size,
                          seed=seed, strict=strict)
    identity = folder.fields["identity"].numpy()
    subjects = np.unique(identity)
    if len(subjects) < 3:
        raise DataError(f"expression-triples: {path} has {len(subjects)} subjects; a train/test split needs 3 or more")
    held_out = subjects[np.random.default_rng([seed, 8]).permutation(len(subjects))[:max(1, round(
        TEST_FRACTION * len(subjects)))]]
    held = np.isin(identity, held_out)
    everyone = np.arange(len(identity))
    # Test triples put held-out subjects' faces in the target and the truth; their sources may be anyone.
    truths = everyone[held] if split == "test" else everyone[~held]
    sources = everyone if split == "test" else everyone[~held]
    picks = form_triples(identity, folder.fields["expression"].numpy(), truths, sources, seed)
    if not len(picks["truth"]):
        raise DataError(f"expression-triples: no subject in the {split} part of {path} shares an expression with another")
    fields = folder.fields
    arrays = {"image": fields["image"][picks["image"]], "target": fields["image"][picks["target"]],
              "truth": fields["image"][picks["truth"]]}
    for key, name in (("image", "landmarks"), ("target", "target_landmarks"), ("truth", "truth_landmarks"),
                      ("reference", "reference_landmarks")):
        arrays[name] = fields["landmarks"][picks[key]]
    arrays["identity"] = fields["identity"][picks["image"]]
    arrays["target_identity"] = fields["identity"][picks["truth"]]
    arrays["expression"] = fields["expression"][picks["truth"]]
    return Dataset(f"expression-triples:{path}", arrays, {"root": path, "split": split})
