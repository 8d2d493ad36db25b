"""Loader for the leaf photos of Chouhan et al. (2019), in either of their known folder layouts."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import struct
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from ._cache import load_cache, save_cache
from ._classes import HEALTH_NAMES, SPECIES_FOLDERS, class_by_prefix
from ._leafdata import LeafData
from ._letterbox import letterbox
from ._parallel import map_chunks, resolve_workers

__all__ = ["decode_photo", "load_leaf_photos", "scan_photo_tree"]

logger = logging.getLogger(__name__)

# Version of the decoding steps. Changing it invalidates cached photo data.
DECODER_VERSION = 1

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png"})
EXPECTED_LAYOUTS = (
    "'<Species (Pn)>/<healthy|diseased>/NNNN_MMMM.JPG' (e.g. 'Mango (P0)/diseased/0012_0001.JPG') "
    "or flat folders of 'NNNN_MMMM.JPG' files, where NNNN is the class prefix 0001-0022"
)
# Entries listed in the warning about skipped files; the full list is in LeafData.skipped.
MAX_LISTED_SKIPPED = 50

_PREFIX_PATTERN = re.compile(r"^(\d{4})_")
_SPECIES_FOLDER_PATTERN = re.compile(r"\(P(\d+)\)\s*$", re.IGNORECASE)
# Errors that Pillow raises on unreadable, truncated or malformed image files.
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
)


@dataclass(frozen=True)
class PhotoTree:
    """Result of scanning a photo root.

    ``files`` and ``prefixes`` are the usable photos and their class prefixes. ``stats`` has
    ``(relative path, size, modification time in ns)`` of every image file, skipped ones too,
    for the cache manifest.
    """

    files: tuple[Path, ...]
    prefixes: tuple[int, ...]
    skipped: tuple[tuple[str, str], ...]
    stats: tuple[tuple[str, int, int], ...]


def _walk_image_files(root: Path) -> Iterator[Path]:
    """Yield image files below ``root`` in sorted order, skipping macOS debris and hidden folders."""
    for directory, folder_names, file_names in os.walk(root):
        folder_names[:] = sorted(
            name for name in folder_names if name != "__MACOSX" and not name.startswith(".")
        )
        for name in sorted(file_names):
            if name.startswith(".") or Path(name).suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            yield Path(directory) / name


def _check_folders(path: Path, root: Path, prefix: int) -> None:
    """Raise ValueError when the species or health folder above ``path`` disagrees with its prefix."""
    leaf_class = class_by_prefix(prefix)
    assert leaf_class is not None
    species_folder: tuple[str, int] | None = None
    health_folder: tuple[str, int] | None = None
    for part in path.relative_to(root).parts[:-1]:
        match = _SPECIES_FOLDER_PATTERN.search(part)
        if match:
            species_folder = (part, int(match.group(1)))
        if part.lower() in HEALTH_NAMES:
            health_folder = (part, HEALTH_NAMES.index(part.lower()))

    meaning = (
        f"prefix {prefix:04d} means {SPECIES_FOLDERS[leaf_class.species]}, {HEALTH_NAMES[leaf_class.health]}"
    )
    if species_folder is not None and species_folder[1] != leaf_class.species:
        raise ValueError(
            f"{path}: species folder {species_folder[0]!r} disagrees with the file name, whose {meaning}; "
            "move or rename the file"
        )
    if health_folder is not None and health_folder[1] != leaf_class.health:
        raise ValueError(
            f"{path}: health folder {health_folder[0]!r} disagrees with the file name, whose {meaning}; "
            "move or rename the file"
        )


def scan_photo_tree(root: str | os.PathLike[str]) -> PhotoTree:
    """Find the leaf photos below ``root`` and check their names against their folders.

    Files are ordered by class prefix, then by path. Image files (.jpg, .jpeg, .png in any
    case) whose name has no known class prefix, and second copies of a file name already found
    elsewhere, go to ``skipped``. Raises ValueError when ``root`` is missing or contains no
    usable image, and when a species or health folder disagrees with a file's prefix.
    """
    root_path = Path(root)
    if not root_path.is_dir():
        state = "is not a folder" if root_path.exists() else "does not exist"
        raise ValueError(f"photo root {str(root_path)!r} {state}; expected a folder with the layout {EXPECTED_LAYOUTS}")

    found: list[tuple[int, Path]] = []
    skipped: list[tuple[str, str]] = []
    stats: list[tuple[str, int, int]] = []
    first_by_name: dict[str, Path] = {}
    candidates = 0
    for path in _walk_image_files(root_path):
        candidates += 1
        status = path.stat()
        stats.append((path.relative_to(root_path).as_posix(), status.st_size, status.st_mtime_ns))

        match = _PREFIX_PATTERN.match(path.name)
        if match is None:
            skipped.append((str(path), "file name does not start with a 4-digit class prefix and '_'"))
            continue
        prefix = int(match.group(1))
        if class_by_prefix(prefix) is None:
            skipped.append((str(path), f"unknown class prefix {match.group(1)}, expected 0001-0022"))
            continue
        _check_folders(path, root_path, prefix)

        # The dataset's file names are unique, so a second copy (for example an archive
        # extracted twice) would count the same photo twice.
        key = path.name.lower()
        if key in first_by_name:
            skipped.append((str(path), f"duplicate of {first_by_name[key]}"))
            continue
        first_by_name[key] = path
        found.append((prefix, path))

    if candidates == 0:
        raise ValueError(
            f"no image files (.jpg, .jpeg, .png) found under {str(root_path)!r}; expected the layout {EXPECTED_LAYOUTS}"
        )
    if not found:
        examples = ", ".join(repr(Path(path).name) for path, _ in skipped[:5])
        raise ValueError(
            f"none of the {candidates} image files under {str(root_path)!r} has a known class prefix "
            f"(for example {examples}); expected the layout {EXPECTED_LAYOUTS}"
        )

    found.sort(key=lambda item: (item[0], item[1].as_posix()))
    return PhotoTree(
        files=tuple(path for _, path in found),
        prefixes=tuple(prefix for prefix, _ in found),
        skipped=tuple(skipped),
        stats=tuple(stats),
    )


def decode_photo(path: str | os.PathLike[str], image_size: int, *, draft: bool = True) -> np.ndarray:
    """Decode one photo into a uint8 array of shape 3 x S x S.

    With ``draft``, JPEG files are decoded at the smallest DCT scale (1/1, 1/2, 1/4 or 1/8)
    that still covers the letterboxed size (``Image.draft``), which is several times faster
    than a full decode of a 24-megapixel photo. The EXIF orientation is then applied, and
    :func:`letterbox` converts the image to 8-bit RGB and fits it into the square. Raises one
    of ``DECODE_ERRORS`` for an unreadable file.
    """
    with Image.open(path) as image:
        if draft and image.format == "JPEG":
            # The draft box is in the stored orientation. The letterbox scale depends only on
            # the longer side, so the box is right whatever the EXIF orientation.
            width, height = image.size
            scale = image_size / max(width, height)
            image.draft(None, (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))))
        oriented = ImageOps.exif_transpose(image)
        boxed = letterbox(oriented, image_size)
    return np.asarray(boxed).transpose(2, 0, 1).copy()


def _decode_or_reason(path: str, image_size: int) -> np.ndarray | str:
    """Decode a photo, or return the reason why it cannot be decoded."""
    try:
        array = decode_photo(path, image_size)
    except DECODE_ERRORS as error:
        return f"unreadable image ({type(error).__name__}: {error})"
    return array


def _decode_chunk(paths: list[str], image_size: int) -> list[np.ndarray | str]:
    return [_decode_or_reason(path, image_size) for path in paths]


def _cache_path(cache_dir: Path, root: Path, image_size: int) -> Path:
    key = hashlib.sha256(f"{root}\n{image_size}".encode()).hexdigest()[:16]
    return cache_dir / f"leaf-photos-{image_size}px-{key}.pt"


def _warn_skipped(skipped: tuple[tuple[str, str], ...], root: Path) -> None:
    lines = [f"  {path}: {reason}" for path, reason in skipped[:MAX_LISTED_SKIPPED]]
    if len(skipped) > MAX_LISTED_SKIPPED:
        lines.append(f"  ... and {len(skipped) - MAX_LISTED_SKIPPED} more (see LeafData.skipped)")
    warnings.warn(
        f"Skipped {len(skipped)} file(s) under {root}:\n" + "\n".join(lines),
        UserWarning,
        stacklevel=3,
    )


def load_leaf_photos(
    root: str | os.PathLike[str],
    image_size: int = 64,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    workers: int | None = None,
    progress: bool = True,
) -> LeafData:
    """Load the leaf photos below ``root`` as letterboxed ``image_size`` x ``image_size`` images.

    Both known layouts are found anywhere below ``root``: ``<Species (Pn)>/<healthy|diseased>/
    NNNN_MMMM.JPG`` and flat folders of ``NNNN_MMMM.JPG`` files. Labels come from the 4-digit
    prefix, and a species or health folder that disagrees with it raises ValueError naming the
    file. Extensions .jpg, .jpeg and .png match in any case. macOS debris (``__MACOSX/``,
    ``._*``, ``.DS_Store``), hidden folders and non-image files are ignored.

    Each photo is decoded by :func:`decode_photo` (JPEG draft mode, EXIF orientation, 8-bit
    RGB, letterbox), in ``workers`` processes (default: the usable CPU cores) with a progress
    bar. Unreadable files, unknown prefixes and duplicate file names are collected in
    ``LeafData.skipped`` and reported in one warning, and the other images are still loaded.

    With ``cache_dir``, the result is stored in one file there. It is reused only when the
    list of image files, their sizes, modification times, ``image_size`` and the decoder
    version all match, and otherwise rebuilt. An unreadable cache file is rebuilt.

    Raises ValueError when ``root`` does not exist, contains no image file, contains only
    files without a known class prefix, or contains no decodable image.
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive int, got {image_size!r}")
    worker_count = resolve_workers(workers)
    root_path = Path(root).expanduser().resolve()
    tree = scan_photo_tree(root_path)

    manifest = {
        "kind": "leaf photos",
        "root": str(root_path),
        "image_size": image_size,
        "decoder_version": DECODER_VERSION,
        "files": [list(entry) for entry in tree.stats],
    }
    cache_path = None
    if cache_dir is not None:
        cache_path = _cache_path(Path(cache_dir).expanduser(), root_path, image_size)
        cached = load_cache(cache_path, manifest)
        if cached is not None:
            logger.info("Loaded %d leaf photos from cache %s", len(cached), cache_path)
            if cached.skipped:
                _warn_skipped(cached.skipped, root_path)
            return cached

    paths = [str(path) for path in tree.files]
    results = map_chunks(
        _decode_chunk,
        paths,
        image_size,
        workers=worker_count,
        chunk_size=8,
        description="Decoding leaf photos",
        progress=progress,
    )

    arrays: list[np.ndarray] = []
    files: list[str] = []
    prefixes: list[int] = []
    skipped = list(tree.skipped)
    for path, prefix, result in zip(paths, tree.prefixes, results):
        if isinstance(result, str):
            skipped.append((path, result))
        else:
            arrays.append(result)
            files.append(path)
            prefixes.append(prefix)
    if not arrays:
        raise ValueError(
            f"none of the {len(paths)} leaf photos under {str(root_path)!r} could be decoded; "
            f"first failure: {skipped[len(tree.skipped)][0]}: {skipped[len(tree.skipped)][1]}"
        )

    classes = [class_by_prefix(prefix) for prefix in prefixes]
    data = LeafData(
        images=torch.from_numpy(np.stack(arrays)),
        species=torch.tensor([leaf_class.species for leaf_class in classes if leaf_class], dtype=torch.int64),
        health=torch.tensor([leaf_class.health for leaf_class in classes if leaf_class], dtype=torch.int64),
        files=tuple(files),
        skipped=tuple(skipped),
        source=str(root_path),
    )
    if cache_path is not None:
        save_cache(cache_path, manifest, data)
    if data.skipped:
        _warn_skipped(data.skipped, root_path)
    return data
