"""Export of leaf images as a JPEG tree in the real dataset's layout and naming scheme."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image

from ._classes import HEALTH_NAMES, LEAF_CLASSES, SPECIES_FOLDERS, class_by_prefix
from ._leafdata import LeafData
from ._parallel import map_chunks, resolve_workers
from ._procedural import MIN_RENDER_WIDTH, procedural_items, render_leaf

__all__ = ["LeafRenderer", "export_jpeg_tree"]

Layout = Literal["nested", "flat"]
LAYOUTS = ("nested", "flat")

_NAME_PATTERN = re.compile(r"^(\d{4})_(\d+)")


@dataclass(frozen=True)
class LeafRenderer:
    """Procedural leaves drawn at ``width`` x ``2 * width / 3`` pixels, before letterboxing.

    Pass it to :func:`export_jpeg_tree` to write photo-like JPEGs larger than the letterboxed
    images, for example ``LeafRenderer(width=6000, limit_per_class=1)`` for full-size files.
    ``width`` must be a positive multiple of 3. Image ``index`` of class ``prefix`` is the same
    scene as in :func:`procedural_leaves` with the same seed.
    """

    seed: int = 0
    width: int = MIN_RENDER_WIDTH
    limit_per_class: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.width, bool) or not isinstance(self.width, int) or self.width < 3 or self.width % 3:
            raise ValueError(f"width must be a positive multiple of 3, got {self.width!r}")
        procedural_items(self.limit_per_class)  # Validates limit_per_class.

    def items(self) -> list[tuple[int, int]]:
        """List ``(prefix, index)`` of the images, class by class."""
        return procedural_items(self.limit_per_class)

    def __call__(self, prefix: int, index: int) -> Image.Image:
        """Draw image ``index`` (0-based) of class ``prefix``."""
        return render_leaf(prefix, index, seed=self.seed, width=self.width)


def _relative_path(prefix: int, number: int, layout: Layout) -> Path:
    """Path of a photo in the real naming scheme, e.g. ``Mango (P0)/diseased/0012_0001.JPG``."""
    leaf_class = class_by_prefix(prefix)
    assert leaf_class is not None
    name = f"{prefix:04d}_{number:04d}.JPG"
    if layout == "flat":
        return Path(name)
    return Path(SPECIES_FOLDERS[leaf_class.species]) / HEALTH_NAMES[leaf_class.health] / name


def _numbers_for(data: LeafData) -> list[int]:
    """Photo numbers: parsed from ``data.files`` where they carry the right prefix, else 1, 2, ... per class."""
    prefixes = [LEAF_CLASSES[index].prefix for index in data.class_index.tolist()]
    parsed = []
    for prefix, file in zip(prefixes, data.files):
        match = _NAME_PATTERN.match(Path(file).name)
        if match is None or int(match.group(1)) != prefix:
            break
        parsed.append((prefix, int(match.group(2))))
    if len(parsed) == len(data) and len(set(parsed)) == len(parsed):
        return [number for _, number in parsed]

    counters: dict[int, int] = {}
    numbers = []
    for prefix in prefixes:
        counters[prefix] = counters.get(prefix, 0) + 1
        numbers.append(counters[prefix])
    return numbers


def _render_and_save(
    items: list[tuple[int, int]], setting: tuple[LeafRenderer, str, Layout, int]
) -> list[str]:
    renderer, root, layout, quality = setting
    paths = []
    for prefix, index in items:
        path = Path(root) / _relative_path(prefix, index + 1, layout)
        path.parent.mkdir(parents=True, exist_ok=True)
        renderer(prefix, index).save(path, "JPEG", quality=quality)
        paths.append(str(path))
    return paths


def export_jpeg_tree(
    source: LeafData | LeafRenderer,
    root: str | os.PathLike[str],
    layout: Layout = "nested",
    *,
    quality: int = 90,
    workers: int | None = None,
    progress: bool = True,
) -> list[Path]:
    """Write leaf images as JPEG files in the real dataset's layout and return their paths.

    ``layout="nested"`` writes ``<Species (Pn)>/<healthy|diseased>/NNNN_MMMM.JPG`` below
    ``root``, and ``layout="flat"`` writes every ``NNNN_MMMM.JPG`` directly into ``root``.
    Existing files of the same name are overwritten. :func:`load_leaf_photos` reads either
    layout back.

    ``source`` is either a LeafData, whose S x S images are written as they are, or a
    :class:`LeafRenderer`, whose 3:2 drawings are rendered at its width in ``workers``
    processes. A LeafData's photo numbers MMMM come from its ``files`` when every entry starts
    with its class prefix (as procedural leaves and loaded photos do), else they count 1, 2, ...
    within each class. A renderer's image ``index`` gets number ``index + 1``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(map(repr, LAYOUTS))}, got {layout!r}")
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 95:
        raise ValueError(f"quality must be an int in [1, 95], got {quality!r}")
    root_path = Path(root)
    root_path.mkdir(parents=True, exist_ok=True)

    if isinstance(source, LeafRenderer):
        written = map_chunks(
            _render_and_save,
            source.items(),
            (source, str(root_path), layout, quality),
            workers=resolve_workers(workers),
            chunk_size=4,
            description="Writing leaf JPEGs",
            progress=progress,
        )
        return [Path(path) for path in written]

    if not isinstance(source, LeafData):
        raise ValueError(f"source must be a LeafData or a LeafRenderer, got {type(source).__name__}")
    images = source.images.cpu().permute(0, 2, 3, 1).contiguous().numpy()
    prefixes = [LEAF_CLASSES[index].prefix for index in source.class_index.tolist()]
    paths = []
    for array, prefix, number in zip(images, prefixes, _numbers_for(source)):
        path = root_path / _relative_path(prefix, number, layout)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(path, "JPEG", quality=quality)
        paths.append(path)
    return paths
