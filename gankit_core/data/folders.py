"""Datasets read from folders the user names (never downloaded): plain image folders, the unpaired
trainA/trainB layout, CelebA with its landmark file, and paired expression sets (RaFD, CK+ layouts).

Each folder is decoded once per image size into the cache (gankit_core.data.prepared: EXIF
orientation honoured, grayscale and RGBA converted to RGB, centre-cropped to a square and resized
with an antialiased filter) and read from there on demand, so memory does not grow with the folder
and a second run starts at once. A corrupt or truncated image is skipped with one warning line
naming it and a count at the end, or is an error with ``strict``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import sys
from pathlib import Path

import numpy as np

from gankit_core.data import Dataset, parse_options
from gankit_core.data.decode import IMAGE_SUFFIXES, Placement, read_image, read_user_image  # noqa: F401 (plugins import it here)
from gankit_core.data.prepared import FolderListing, PreparedFolder, prepare_folder, scan_images
from gankit_core.data.synthetic import EXPRESSIONS
from gankit_core.errors import DataError
from gankit_core.progress import Steps


def image_listing(folder: Path, what: str = "folder") -> FolderListing:
    """Image files under ``folder`` (recursive, sorted) with sizes and mtimes; missing or empty is a DataError."""
    return scan_images(folder, IMAGE_SUFFIXES, what)


def list_images(folder: Path, what: str = "folder") -> list[Path]:
    """Image files under ``folder`` (recursive, sorted); a missing or empty folder is a DataError."""
    listing = image_listing(folder, what)
    return [listing.root / name for name in listing.names]


def prepare_images(listing: FolderListing, size: int, strict: bool) -> tuple[PreparedFolder, np.ndarray]:
    """The listed images decoded at ``size`` (once: later runs reuse the cache) and the readable slots."""
    prepared = prepare_folder(listing, size, strict)
    return prepared, prepared.readable_slots(strict, listing.root)


def _tensors(arrays: dict[str, np.ndarray]):
    import torch

    return {key: value if not isinstance(value, np.ndarray) else torch.from_numpy(np.ascontiguousarray(value))
            for key, value in arrays.items()}


FOLDER_OPTIONS = {"strict": bool, "split": str, "landmarks": bool}


def _folder_argument(argument: str | None, name: str) -> tuple[Path, dict]:
    if not argument:
        raise DataError(f"dataset '{name}' needs a folder: --data {name}:PATH")
    path, _, rest = argument.partition(",")
    return Path(path).expanduser(), parse_options(rest or None, FOLDER_OPTIONS, name)


def image_folder(argument: str | None, image_size: int, seed: int = 0, strict: bool = False) -> Dataset:
    """``folder:PATH[,landmarks=true]``: every image under PATH (CelebA, LFW, a photo or cartoon set).

    A folder in gankit's own format (what ``gankit data synth`` writes: a ``landmarks.csv`` of 68 points,
    or a ``labels.csv`` with eye/mouth boxes) gives its images with their landmarks, boxes, identities and
    expressions from those files (``labeled_folder``). With ``landmarks=true`` the installed landmark
    detector finds each face's 68 points instead (on the full image, then mapped through the crop) and
    its eye/mouth boxes, so region models such as cregan can train on any photo folder; images with no
    face are skipped with a warning. The detections are kept in the folder's cache entry, so they run once.
    """
    folder, options = _folder_argument(argument, "folder")
    strict = strict or options.get("strict", False)
    if not options.get("landmarks", False) and has_labels(folder):
        return labeled_folder(folder, image_size, strict)
    prepared, slots = prepare_images(image_listing(folder), image_size, strict)
    if not options.get("landmarks", False):
        return Dataset(f"folder:{folder}", {"image": prepared.images(slots)}, {"root": str(folder)})
    from gankit_core.data.landmarks import region_boxes

    points, found = detected_landmarks(prepared, slots, strict)
    if not found.any():
        raise DataError(f"no face was found in any image of {folder}")
    for slot in slots[~found].tolist():
        print(f"warning: skipping {prepared.listing.path(slot)}: no face found", file=sys.stderr)
    points = points[found]
    arrays = {"image": prepared.images(slots[found]), "landmarks": points.astype(np.float32),
              **region_boxes(points, image_size)}
    return Dataset(f"folder:{folder}", _tensors(arrays), {"root": str(folder), "landmarks": True})


LABELS, LANDMARKS = "labels.csv", "landmarks.csv"  # gankit's own annotation files, beside the images
BOX_COLUMNS = {"eye_box": ("eye_x0", "eye_y0", "eye_x1", "eye_y1"),
               "mouth_box": ("mouth_x0", "mouth_y0", "mouth_x1", "mouth_y1")}
LABEL_COLUMNS = ("file", "identity", "expression", "intensity", "style", *BOX_COLUMNS["eye_box"],
                 *BOX_COLUMNS["mouth_box"])  # the columns `gankit data synth` writes, in its order


def csv_header(path: Path) -> list[str]:
    """The first row of a CSV file ([] when it is missing, empty or unreadable)."""
    try:
        with path.open(newline="", errors="replace") as handle:
            return next(csv.reader(handle), [])
    except OSError:
        return []


def has_labels(folder: Path) -> bool:
    """Whether ``folder`` holds gankit's annotations: a landmarks.csv, or a labels.csv with eye and mouth boxes
    (a labels file of another layout, a class per file say, leaves it a plain image folder)."""
    if not folder.is_dir():
        return False
    header = csv_header(folder / LABELS)
    boxes = "file" in header and all(column in header for columns in BOX_COLUMNS.values() for column in columns)
    return boxes or (folder / LANDMARKS).is_file()


def read_labels_csv(path: Path) -> dict[str, dict[str, np.ndarray | int]]:
    """A labels file: per file, whichever of its eye/mouth boxes (x0, y0, x1, y1 pixels), identity and expression
    (a name from EXPRESSIONS) it has columns for, in the layout `gankit data synth` writes."""
    table: dict[str, dict[str, np.ndarray | int]] = {}
    with path.open(newline="", errors="replace") as handle:  # binary damage reaches the value checks below
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        if "file" not in columns:
            raise DataError(f"{path}: not a labels table (no 'file' column)")
        boxes = {field: names for field, names in BOX_COLUMNS.items() if all(name in columns for name in names)}
        for number, row in enumerate(reader, start=2):
            entry: dict[str, np.ndarray | int] = {}
            try:
                for field, names in boxes.items():
                    entry[field] = np.array([float(row[name]) for name in names])
                if "identity" in columns:
                    entry["identity"] = int(row["identity"])
                if "expression" in columns:
                    entry["expression"] = EXPRESSIONS.index(row["expression"])
            except (TypeError, ValueError):
                raise DataError(f"{path}, line {number}: expected numbers for the boxes and identity and one of "
                                f"{', '.join(EXPRESSIONS)} for the expression") from None
            table[row["file"]] = entry
    return table


def _place_boxes(boxes: np.ndarray, placements: np.ndarray, size: int) -> np.ndarray:
    """Boxes in each file's own pixels (N x 4) -> square boxes in output pixels, through each file's crop."""
    from gankit_core.data.landmarks import square_box

    corners = _place(boxes.reshape(-1, 2, 2), placements)
    return square_box(corners[:, 0, 0], corners[:, 0, 1], corners[:, 1, 0], corners[:, 1, 1], 0.0, size)


def labeled_folder(folder: Path, image_size: int, strict: bool) -> Dataset:
    """A folder in gankit's own format: images with landmarks.csv (68 points) and/or labels.csv (eye and mouth
    boxes, identity, expression), each mapped through the image's crop. Images neither file lists are left out
    with a warning; boxes come from the landmarks where labels.csv gives none."""
    from gankit_core.data.landmarks import region_boxes

    labels = read_labels_csv(folder / LABELS) if (folder / LABELS).is_file() else {}
    points = read_landmark_csv(folder / LANDMARKS) if (folder / LANDMARKS).is_file() else {}
    annotated = [name for name in (LABELS, LANDMARKS) if (folder / name).is_file()]
    listing = image_listing(folder)
    listed = [index for index, name in enumerate(listing.names) if name in labels or name in points]
    if not listed:
        raise DataError(f"none of the images in {folder} are listed in its {' or '.join(annotated)}")
    if len(listed) < len(listing):
        print(f"warning: {len(listing) - len(listed)} image(s) in {folder} are not listed in its "
              f"{' or '.join(annotated)} and are left out", file=sys.stderr)
    listing = listing.subset(listed, f"listed in {' and '.join(annotated)}")
    prepared, slots = prepare_images(listing, image_size, strict)
    names = [listing.names[slot] for slot in slots.tolist()]
    placements = prepared.placements[slots]
    arrays: dict[str, np.ndarray] = {}
    if points:
        missing = [name for name in names if name not in points]
        if missing:
            raise DataError(f"{folder / LANDMARKS} has no landmarks for {missing[0]}")
        arrays["landmarks"] = _place(np.stack([points[name] for name in names]), placements).astype(np.float32)
    for field in ("eye_box", "mouth_box", "identity", "expression"):
        values = [labels.get(name, {}).get(field) for name in names]
        if any(value is None for value in values):
            continue  # not in labels.csv (or not for every image): boxes then come from the landmarks
        if field.endswith("_box"):
            arrays[field] = _place_boxes(np.stack(values), placements, image_size)
        else:
            arrays[field] = np.array(values, dtype=np.int64)
    if "landmarks" in arrays:
        derived = region_boxes(arrays["landmarks"], image_size)
        arrays.update({field: boxes for field, boxes in derived.items() if field not in arrays})
    return Dataset(f"folder:{folder}", {"image": prepared.images(slots), **_tensors(arrays)},
                   {"root": str(folder), "annotations": annotated})


def detected_landmarks(prepared: PreparedFolder, slots: np.ndarray, strict: bool) -> tuple[np.ndarray, np.ndarray]:
    """68 points (mapped through each image's crop) of the best face in each slot's full image, and
    whether a face was found; detected once per folder and detector, then read from the cache entry."""
    from gankit_core.engine.checkpoint import write_atomic
    from gankit_core.landmarking import detect_faces, get_detector

    detector = get_detector()
    stored = prepared.entry / f"landmarks-{type(detector).__module__}.{type(detector).__qualname__}.npz"
    if stored.is_file():
        with np.load(stored) as saved:
            if len(saved["found"]) == len(prepared.listing):
                return saved["points"][slots], saved["found"][slots]
    count = len(prepared.listing)
    points, found = np.zeros((count, 68, 2), np.float64), np.zeros(count, bool)
    with Steps(f"finding faces in {prepared.listing.root}", len(slots)) as progress:
        for slot in slots.tolist():
            path = prepared.listing.path(slot)
            try:
                face = detect_faces(read_image(path)[0], where=str(path))[0]
            except DataError as error:
                if "no face found" not in str(error) or strict:
                    raise
            else:
                offset_x, offset_y, scale = prepared.placements[slot]
                points[slot] = Placement(offset_x, offset_y, scale).apply(face.points)
                found[slot] = True
            progress.advance()
    buffer = io.BytesIO()
    np.savez(buffer, points=points, found=found)
    with contextlib.suppress(OSError):  # a read-only cache detects again next time
        write_atomic(stored, buffer.getvalue())
    return points[slots], found[slots]


def unpaired_folder(argument: str | None, image_size: int, seed: int = 0, strict: bool = False) -> Dataset:
    """``unpaired:PATH[,split=test]``: trainA/ and trainB/ (or testA/, testB/) as domains A and B.

    Fields: ``image`` (domain A) and ``image_b`` (domain B), as many as the larger domain; the smaller
    one is cycled in a seeded order so that every epoch pairs images differently.
    """
    root, options = _folder_argument(argument, "unpaired")
    strict = strict or options.get("strict", False)
    split = options.get("split", "train")
    if not root.is_dir():
        raise DataError(f"unpaired folder not found: {root}")
    domains = []
    for letter in "AB":
        folder = root / f"{split}{letter}"
        if not folder.is_dir():
            raise DataError(f"unpaired folder {root} has no {split}{letter}/ (expected {split}A/ and {split}B/)")
        prepared, slots = prepare_images(image_listing(folder, f"{split}{letter}/ folder"), image_size, strict)
        domains.append(prepared.images(slots))
    count = max(len(d) for d in domains)
    rng = np.random.default_rng(seed)
    index_a = np.arange(count) % len(domains[0])
    index_b = rng.permutation(count) % len(domains[1])
    arrays = {"image": domains[0].select(index_a), "image_b": domains[1].select(index_b)}
    return Dataset(f"unpaired:{root}", arrays, {"root": str(root), "sizes": [len(d) for d in domains]})


CELEBA_LANDMARKS = "list_landmarks_align_celeba.txt"


def read_celeba_landmarks(path: Path) -> dict[str, np.ndarray]:
    """CelebA's landmark file: a count line, a header line, then 'name x1 y1 ... x5 y5' per image."""
    points: dict[str, np.ndarray] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror}") from None
    for number, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 11:
            raise DataError(f"{path}, line {number}: expected a file name and 10 numbers, got {len(parts)} fields")
        try:
            points[parts[0]] = np.array(parts[1:], dtype=float).reshape(5, 2)
        except ValueError:
            raise DataError(f"{path}, line {number}: landmark values must be numbers") from None
    return points


def celeba(argument: str | None, image_size: int, seed: int = 0, strict: bool = False) -> Dataset:
    """``celeba:PATH``: CelebA aligned images with the 5-point landmark file; eye and mouth boxes come from
    the points. PATH holds ``img_align_celeba/`` (or the images) and ``list_landmarks_align_celeba.txt``."""
    from gankit_core.data.landmarks import region_boxes

    root, options = _folder_argument(argument, "celeba")
    strict = strict or options.get("strict", False)
    landmark_file = root / CELEBA_LANDMARKS
    if not root.is_dir():
        raise DataError(f"CelebA folder not found: {root}")
    if not landmark_file.is_file():
        raise DataError(f"CelebA folder {root} has no {CELEBA_LANDMARKS}")
    image_root = root / "img_align_celeba" if (root / "img_align_celeba").is_dir() else root
    table = read_celeba_landmarks(landmark_file)
    listing = image_listing(image_root, "CelebA image folder")
    listed = [i for i, name in enumerate(listing.names) if Path(name).name in table]
    if not listed:
        raise DataError(f"none of the images in {image_root} are listed in {landmark_file}")
    listing = listing.subset(listed, f"listed in {CELEBA_LANDMARKS}")
    prepared, slots = prepare_images(listing, image_size, strict)
    raw = np.stack([table[Path(listing.names[slot]).name] for slot in slots.tolist()])
    points = _place(raw, prepared.placements[slots])
    boxes = region_boxes(points, image_size)
    arrays = {"image": prepared.images(slots), "landmarks5": points.astype(np.float32), **boxes}
    return Dataset(f"celeba:{root}", _tensors(arrays), {"root": str(root)})


def _place(points: np.ndarray, placements: np.ndarray) -> np.ndarray:
    """Points in each file's own pixels (N x K x 2) -> output pixels, through each file's crop and scale."""
    return (points - placements[:, None, :2]) * placements[:, None, 2:]


def read_landmark_csv(path: Path) -> dict[str, np.ndarray]:
    """A landmarks file: 'file,x0,y0,...,x67,y67' rows (the format `gankit data synth` writes)."""
    table: dict[str, np.ndarray] = {}
    with path.open(newline="", errors="replace") as handle:  # binary damage reaches the number check below
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or row[0] in ("file", "image"):
                continue
            try:
                values = np.array(row[1:137], dtype=float)
            except ValueError:
                raise DataError(f"{path}, line {number}: landmark values must be numbers") from None
            if values.size != 136:
                raise DataError(f"{path}, line {number}: expected 68 x/y pairs, got {values.size} values")
            table[row[0]] = values.reshape(68, 2)
    return table


def _expression_of(path: Path, root: Path) -> int | None:
    """The expression a file stands for: a folder or a file-name word naming one (RaFD: '..._angry_...')."""
    aliases = {"happy": "happiness", "sad": "sadness", "surprised": "surprise", "fearful": "fear",
               "disgusted": "disgust", "angry": "anger", "anger": "anger", "contemptuous": None, "contempt": None}
    words = [part.lower() for part in path.relative_to(root).with_suffix("").parts]
    words += [w for part in words for w in part.replace("-", "_").split("_")]
    for word in words:
        name = aliases.get(word, word)
        if name in EXPRESSIONS:
            return EXPRESSIONS.index(name)
    return None


def expression_pairs(argument: str | None, image_size: int, seed: int = 0, strict: bool = False) -> Dataset:
    """``expression:PATH``: a paired expression set (RaFD, CK+ layouts): PATH/<subject>/<files>, each file's
    expression from its folder or file name; 68 landmarks from PATH/landmarks.csv or the installed detector.

    Fields: ``image``, ``landmarks``, ``identity`` (subject index), ``expression``, boxes.
    """
    from gankit_core.data.landmarks import region_boxes

    root, options = _folder_argument(argument, "expression")
    strict = strict or options.get("strict", False)
    listing = image_listing(root, "expression folder")
    listing = listing.subset([i for i, name in enumerate(listing.names) if _expression_of(root / name, root) is not None],
                             "naming an expression")
    if not len(listing):
        raise DataError(f"no file in {root} names an expression ({', '.join(EXPRESSIONS)}) in its folder or name")
    prepared, slots = prepare_images(listing, image_size, strict)
    kept = [listing.names[slot] for slot in slots.tolist()]
    images = prepared.images(slots)
    landmark_file = root / "landmarks.csv"
    if landmark_file.is_file():
        table = read_landmark_csv(landmark_file)
        missing = [name for name in kept if name not in table]
        if missing:
            raise DataError(f"{landmark_file} has no landmarks for {missing[0]}")
        points = _place(np.stack([table[name] for name in kept]), prepared.placements[slots])
    else:
        from gankit_core.landmarking import detect_faces

        # on the decoded images, one at a time: expression sets are small, and nothing is held
        points = np.stack([detect_faces(images[i].permute(1, 2, 0).numpy(), where=str(root / name))[0].points
                           for i, name in enumerate(kept)])
    subjects = sorted({Path(name).parts[0] for name in kept})
    identity = np.array([subjects.index(Path(name).parts[0]) for name in kept])
    expression = np.array([_expression_of(root / name, root) for name in kept])
    arrays = {"image": images, "landmarks": points.astype(np.float32), "identity": identity,
              "expression": expression, **region_boxes(points, image_size)}
    return Dataset(f"expression:{root}", _tensors(arrays), {"root": str(root), "subjects": len(subjects)})
