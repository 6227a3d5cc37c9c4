"""Folder images decoded once into a uint8 file under the cache, then read on demand in constant memory.

The first open of a folder at an image size lists its files and decodes every image once (threads:
Pillow releases the GIL while it decodes and resizes) into ``images.npy`` (N x 3 x S x S uint8, one
row per listed file) under ``$GANKIT_CACHE/folders/``, beside an index of which files were readable
and how each was cropped. The entry is keyed by the file list (relative names, sizes, modification
times), the size and the crop, so a changed folder is prepared again and its stale entry removed.
Later opens list the folder, find the entry and read each batch from it with ``os.preadv``: the
process holds no image (peak RSS does not grow with the folder), and the file's pages sit in the
kernel's page cache, shared by every process reading it (each DDP rank).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from array import array
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gankit_core.errors import DataError
from gankit_core.progress import Steps

PREPARE_VERSION = 1  # bump when decoding or the entry layout changes, so old entries are not reused
CROP = "centre-square-lanczos"
FOLDERS = "folders"  # under the cache directory
IMAGES, INDEX, META = "images.npy", "index.npz", "meta.json"
CHUNK = 2048  # images handed to the decoding threads at a time: bounded memory for any folder


@dataclass(frozen=True)
class FolderListing:
    """The image files under a folder, sorted as paths sort: relative names, sizes and mtimes."""

    root: Path
    names: list[str]
    sizes: np.ndarray
    mtimes: np.ndarray
    selection: str = "all"  # which of the folder's images: a subset has its own cache entry

    def __len__(self) -> int:
        return len(self.names)

    def path(self, index: int) -> Path:
        return self.root / self.names[index]

    def subset(self, keep: list[int] | np.ndarray, selection: str) -> FolderListing:
        keep = np.asarray(keep, dtype=np.int64)
        return FolderListing(self.root, [self.names[i] for i in keep.tolist()], self.sizes[keep], self.mtimes[keep],
                             selection)

    def key(self, size: int) -> str:
        """Changes whenever a file is added, removed, renamed or rewritten, or the output changes."""
        digest = hashlib.sha1(f"v{PREPARE_VERSION}|{CROP}|{size}|{self.selection}\n".encode())
        digest.update("\0".join(self.names).encode("utf-8", "surrogateescape"))
        digest.update(self.sizes.astype("<i8").tobytes())
        digest.update(self.mtimes.astype("<i8").tobytes())
        return digest.hexdigest()


def scan_images(folder: Path, suffixes: set[str], what: str = "folder") -> FolderListing:
    """Image files under ``folder``, recursively (hidden files skipped); missing or empty is a DataError."""
    if not folder.exists():
        raise DataError(f"{what} not found: {folder}")
    if not folder.is_dir():
        raise DataError(f"{what} is not a folder: {folder}")
    names: list[str] = []
    sizes, mtimes = array("q"), array("q")  # 8 bytes a file, not a Python int
    any_file = False
    pending, seen = [("", str(folder))], set()
    while pending:
        prefix, directory = pending.pop()
        real = os.path.realpath(directory)
        if real in seen:  # a symlink loop
            continue
        seen.add(real)
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.is_dir():
                        pending.append((f"{prefix}{entry.name}/", entry.path))
                    elif entry.is_file() and not entry.name.startswith("."):
                        any_file = True
                        if "." + entry.name.rpartition(".")[2].lower() in suffixes:
                            stat = entry.stat()
                            names.append(prefix + entry.name)
                            sizes.append(stat.st_size)
                            mtimes.append(stat.st_mtime_ns)
        except OSError as error:
            raise DataError(f"cannot list {directory}: {error.strerror}") from None
    if not any_file:
        raise DataError(f"{what} is empty: {folder}")
    if not names:
        raise DataError(f"no images of a supported format ({', '.join(sorted(suffixes))}) in {folder}")
    # Sorted as paths sort (part by part): with "/" as "\0", which sorts before every other character.
    order = np.array(sorted(range(len(names)), key=lambda i: names[i].replace("/", "\0")), dtype=np.int64)
    return FolderListing(folder, [names[i] for i in order.tolist()], np.frombuffer(sizes, np.int64)[order],
                         np.frombuffer(mtimes, np.int64)[order])


PARALLEL_READS = 4
_READERS: dict[int, ThreadPoolExecutor] = {}  # by process id: a forked child has none of its parent's threads


def _readers() -> ThreadPoolExecutor:
    """Threads that read image rows (os.preadv releases the GIL), shared by every dataset of the process."""
    pid = os.getpid()
    if pid not in _READERS:
        _READERS[pid] = ThreadPoolExecutor(PARALLEL_READS, thread_name_prefix="gankit-read")
    return _READERS[pid]


class CachedImages:
    """N x 3 x S x S uint8 images in a prepared file, read on demand: indexing returns a new tensor.

    Indexes like a tensor for what datasets need (an int, a slice, an index tensor or array, and a
    tuple whose first item is one of those). ``rows`` maps each image to its row in the file, so a
    subset or a repetition (the unpaired layout's cycled domain) costs an index array, not a copy.
    """

    ndim = 4

    def __init__(self, path: Path, offset: int, size: int, rows: np.ndarray) -> None:
        self.path, self.offset, self.size = path, offset, size
        self.rows = np.asarray(rows, dtype=np.int64)
        self.row_bytes = 3 * size * size
        self._fd: int | None = None
        self._pid = -1

    @property
    def dtype(self):
        import torch

        return torch.uint8

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.rows), 3, self.size, self.size)

    def __len__(self) -> int:
        return len(self.rows)

    def select(self, positions) -> CachedImages:
        return CachedImages(self.path, self.offset, self.size, self.rows[np.asarray(positions)])

    def __getitem__(self, key):
        import torch

        rest: tuple = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        if isinstance(key, torch.Tensor):
            key = key.cpu().numpy()
        if isinstance(key, (int, np.integer)):
            return self._read(self.rows[[int(key)]])[0][rest]
        return self._read(np.atleast_1d(self.rows[key]))[(slice(None), *rest)]

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # a forked child opens its own
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
            if hasattr(os, "posix_fadvise"):
                # Batches are random rows: the kernel's readahead would read what no batch asks for
                # (measured on a cold 9.8 GB file: 102 ms a batch of 64 with it, 34 ms without).
                os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_RANDOM)
        return self._fd

    def _read(self, rows: np.ndarray):
        import torch

        out = np.empty((len(rows), 3, self.size, self.size), dtype=np.uint8)
        if len(rows) == 0:
            return torch.from_numpy(out)
        descriptor = self._descriptor()
        flat = out.reshape(len(rows), self.row_bytes)
        order = np.argsort(rows, kind="stable")  # in file order

        def read(positions: np.ndarray) -> None:
            for position in positions.tolist():
                count = os.preadv(descriptor, [flat[position]], self.offset + int(rows[position]) * self.row_bytes)
                if count != self.row_bytes:
                    raise DataError(f"the prepared images in {self.path.parent} are damaged (short read); "
                                    "run `gankit cache clear` and open the folder again")

        if len(rows) < PARALLEL_READS * 8:
            read(order)
        else:  # a few reads in flight: a disk answers them together (cold file: 34 -> 23 ms a batch of 64)
            list(_readers().map(read, np.array_split(order, PARALLEL_READS)))
        return torch.from_numpy(out)

    def __del__(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            with contextlib.suppress(OSError):
                os.close(self._fd)


@dataclass
class PreparedFolder:
    """A folder's entry in the cache: where its images are and which of them were readable."""

    listing: FolderListing
    entry: Path
    size: int
    readable: np.ndarray  # bool, one per listed file
    placements: np.ndarray  # N x 3 float64: offset_x, offset_y, scale (output = (input - offset) * scale)
    reasons: dict[int, str]  # why each unreadable file could not be read
    offset: int  # where the image rows start in images.npy

    def images(self, slots) -> CachedImages:
        return CachedImages(self.entry / IMAGES, self.offset, self.size, np.asarray(slots, dtype=np.int64))

    def readable_slots(self, strict: bool, where: Path) -> np.ndarray:
        """Slots of the readable files; each unreadable one is a warning line and a count (or an error)."""
        bad = np.flatnonzero(~self.readable)
        if len(bad) and strict:
            first = int(bad[0])
            raise DataError(f"cannot read image {self.listing.path(first)}: {self.reasons.get(first, 'unreadable')}")
        for slot in bad.tolist():
            print(f"warning: skipping unreadable image {self.listing.path(slot)}: {self.reasons.get(slot, '')}",
                  file=sys.stderr)
        if len(bad):
            print(f"warning: skipped {len(bad)} unreadable image(s) of {len(self.listing)} in {where}", file=sys.stderr)
        if len(bad) == len(self.listing):
            raise DataError(f"none of the {len(self.listing)} images in {where} could be read")
        return np.flatnonzero(self.readable)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path``: the first process prepares, the others (DDP ranks) wait and reuse."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _slug(root: Path) -> str:
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in root.resolve().name)
    return name.strip(".-") or "folder"


def prepare_folder(listing: FolderListing, size: int, strict: bool) -> PreparedFolder:
    """The folder's cache entry at ``size``, decoding it first if no entry matches its file list."""
    from gankit_core.data.synthetic_dataset import cache_dir

    key = listing.key(size)
    folders = cache_dir() / FOLDERS
    entry = folders / f"{_slug(listing.root)}-{size}px-{key[:16]}"
    if (entry / META).is_file():
        return _open_entry(listing, entry, size)
    try:
        folders.mkdir(parents=True, exist_ok=True)
        lock = folders / f".{entry.name}.lock"
        lock.touch()
    except OSError as error:
        # A read-only cache still trains: prepare into a temporary folder that this process removes.
        scratch = Path(tempfile.mkdtemp(prefix="gankit-folder-"))
        import atexit

        atexit.register(shutil.rmtree, scratch, True)
        print(f"warning: cannot write the cache {folders} ({error.strerror}); preparing {listing.root} "
              f"into {scratch}, again on every run", file=sys.stderr)
        _build_entry(listing, size, strict, scratch / "entry")
        return _open_entry(listing, scratch / "entry", size)
    with _locked(lock):
        if not (entry / META).is_file():
            _remove_stale(folders, entry, listing, size)  # first: its space may be needed
            needed = len(listing) * 3 * size * size
            free = shutil.disk_usage(folders).free
            if needed > free:
                raise DataError(f"preparing {listing.root} at {size}px needs {needed / 1e9:.1f} GB in {folders}, "
                                f"which has {free / 1e9:.1f} GB free: set GANKIT_CACHE to a larger disk")
            building = folders / f".{entry.name}.{os.getpid()}.building"
            shutil.rmtree(building, ignore_errors=True)
            try:
                _build_entry(listing, size, strict, building)
                building.rename(entry)
            except OSError as error:
                raise DataError(f"cannot prepare {listing.root} in {folders}: {error.strerror}") from None
            finally:
                shutil.rmtree(building, ignore_errors=True)
    lock.unlink(missing_ok=True)
    return _open_entry(listing, entry, size)


def _build_entry(listing: FolderListing, size: int, strict: bool, entry: Path) -> None:
    """Decode every listed image at ``size`` into ``entry``/images.npy and write the index and meta last."""
    from gankit_core.data.decode import UnreadableImage, read_image

    entry.mkdir(parents=True)
    count, row_bytes = len(listing), 3 * size * size
    images = np.lib.format.open_memmap(entry / IMAGES, mode="w+", dtype=np.uint8, shape=(count, 3, size, size))
    offset = images.offset
    del images  # only the header and the file's length were needed: rows are written with pwrite
    readable = np.zeros(count, dtype=bool)
    placements = np.zeros((count, 3), dtype=np.float64)
    reasons: dict[int, str] = {}
    descriptor = os.open(entry / IMAGES, os.O_WRONLY)

    def decode(slot: int) -> None:
        path = listing.path(slot)
        try:
            array, placement = read_image(path, size)
        except UnreadableImage as error:
            if strict:
                raise DataError(f"cannot read image {path}: {error}") from None
            reasons[slot] = str(error)
            return
        os.pwrite(descriptor, np.ascontiguousarray(array.transpose(2, 0, 1)).data, offset + slot * row_bytes)
        readable[slot] = True
        placements[slot] = (placement.offset_x, placement.offset_y, placement.scale)

    started = time.perf_counter()
    try:
        with Steps(f"preparing {listing.root} at {size}px", count) as progress, \
                ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            for start in range(0, count, CHUNK):
                list(pool.map(decode, range(start, min(start + CHUNK, count))))
                done = min(start + CHUNK, count)
                progress.update(done, info=f"{done / (time.perf_counter() - started):,.0f} images/s")
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    np.savez(entry / INDEX, readable=readable, placements=placements)
    meta = {"version": PREPARE_VERSION, "kind": "folder", "root": str(listing.root.resolve()), "size": size,
            "selection": listing.selection, "crop": CROP, "files": count, "readable": int(readable.sum()),
            "unreadable": {str(slot): reason for slot, reason in sorted(reasons.items())},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "prepare_s": round(time.perf_counter() - started, 2)}
    (entry / META).write_text(json.dumps(meta, indent=1) + "\n")


def _open_entry(listing: FolderListing, entry: Path, size: int) -> PreparedFolder:
    try:
        meta = json.loads((entry / META).read_text())
        with np.load(entry / INDEX) as index:
            readable, placements = index["readable"], index["placements"]
        offset = int(np.load(entry / IMAGES, mmap_mode="r").offset)  # reads the header only
        expected = offset + len(listing) * 3 * size * size
        if len(readable) != len(listing) or (entry / IMAGES).stat().st_size != expected:
            raise ValueError("wrong length")
    except (OSError, ValueError, KeyError) as error:
        raise DataError(f"the prepared images in {entry} are damaged ({error}); "
                        "run `gankit cache clear` and open the folder again") from None
    reasons = {int(slot): reason for slot, reason in meta.get("unreadable", {}).items()}
    return PreparedFolder(listing, entry, size, readable, placements, reasons, offset)


def _remove_stale(folders: Path, keep: Path, listing: FolderListing, size: int) -> None:
    """Entries for the same folder, selection and size made from an older file list: never read again."""
    for other in folders.iterdir():
        if other == keep or not (other / META).is_file():
            continue
        with contextlib.suppress(OSError, ValueError):
            meta = json.loads((other / META).read_text())
            if (meta.get("root"), meta.get("size"), meta.get("selection")) == (
                    str(listing.root.resolve()), size, listing.selection):
                shutil.rmtree(other, ignore_errors=True)
