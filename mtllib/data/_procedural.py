"""Procedural leaf photos with the classes and class counts of the real dataset."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ._cache import load_cache, save_cache
from ._classes import LEAF_CLASSES, class_by_prefix
from ._leafdata import LeafData
from ._letterbox import letterbox
from ._parallel import map_chunks, resolve_workers
from ._render import GENERATOR_VERSION, draw_leaf

__all__ = ["procedural_items", "procedural_leaves", "render_leaf", "render_width"]

logger = logging.getLogger(__name__)

# Smallest drawing width: the 3:2 drawing is at least 192 x 128 pixels, three times the default
# image size, so that letterboxing downsamples it.
MIN_RENDER_WIDTH = 192


def _check_non_negative_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return value


def render_width(image_size: int) -> int:
    """Width of the 3:2 drawing behind a letterboxed image of ``image_size`` pixels."""
    return max(MIN_RENDER_WIDTH, 3 * image_size)


def render_leaf(prefix: int, index: int, *, seed: int = 0, width: int = MIN_RENDER_WIDTH) -> Image.Image:
    """Draw procedural leaf ``index`` (0-based) of class ``prefix`` as a ``width`` x ``2 width / 3`` RGB image.

    This is the drawing before letterboxing. Its random choices come from
    ``numpy.random.SeedSequence([seed, prefix, index])``, so each image is independent of the
    others and of the order in which they are drawn. ``width`` must be a multiple of 3 and at
    least 3. Larger widths draw the same scene with finer detail, but the noise and the exact
    pixels differ between widths.
    """
    leaf_class = class_by_prefix(prefix) if isinstance(prefix, int) and not isinstance(prefix, bool) else None
    if leaf_class is None:
        raise ValueError(f"prefix must be a class prefix in [1, 22], got {prefix!r}")
    _check_non_negative_int("index", index)
    _check_non_negative_int("seed", seed)
    if isinstance(width, bool) or not isinstance(width, int) or width < 3 or width % 3:
        raise ValueError(f"width must be a positive multiple of 3, got {width!r}")
    sequence = np.random.SeedSequence([seed, prefix, index])
    return draw_leaf(sequence, leaf_class.species, leaf_class.health, width)


def procedural_items(limit_per_class: int | None = None) -> list[tuple[int, int]]:
    """List ``(prefix, index)`` of the procedural images, class by class in prefix order.

    Each class has as many images as the real dataset, or the first ``limit_per_class`` of them.
    """
    if limit_per_class is not None and (
        isinstance(limit_per_class, bool) or not isinstance(limit_per_class, int) or limit_per_class < 1
    ):
        raise ValueError(f"limit_per_class must be a positive int or None, got {limit_per_class!r}")
    items = []
    for leaf_class in LEAF_CLASSES:
        count = leaf_class.count if limit_per_class is None else min(leaf_class.count, limit_per_class)
        items.extend((leaf_class.prefix, index) for index in range(count))
    return items


def _render_chunk(items: list[tuple[int, int]], setting: tuple[int, int]) -> list[np.ndarray]:
    """Draw and letterbox a chunk of images; ``setting`` is ``(seed, image_size)``."""
    seed, image_size = setting
    width = render_width(image_size)
    arrays = []
    for prefix, index in items:
        boxed = letterbox(render_leaf(prefix, index, seed=seed, width=width), image_size)
        arrays.append(np.asarray(boxed).transpose(2, 0, 1).copy())
    return arrays


def procedural_leaves(
    seed: int = 0,
    image_size: int = 64,
    cache_dir: str | os.PathLike[str] | None = None,
    limit_per_class: int | None = None,
    *,
    workers: int | None = None,
    progress: bool = True,
) -> LeafData:
    """Generate procedural leaf photos with the 22 classes and 4,503 images of the real dataset.

    Each image is drawn by :func:`render_leaf` at :func:`render_width` and letterboxed with
    :func:`letterbox`, like the photos. The bytes depend only on ``seed``, ``image_size`` and
    the generator version, not on ``workers`` (default: the usable CPU cores). With
    ``limit_per_class=k`` only the first k images of each class are made, equal to those
    images in the full set. With ``cache_dir`` the result is stored in one file there, keyed by
    seed, image size, limit and generator version.
    """
    _check_non_negative_int("seed", seed)
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive int, got {image_size!r}")
    items = procedural_items(limit_per_class)
    worker_count = resolve_workers(workers)

    source = f"procedural(seed={seed})"
    if limit_per_class is not None:
        source = f"procedural(seed={seed}, limit_per_class={limit_per_class})"
    manifest = {
        "kind": "procedural leaves",
        "seed": seed,
        "image_size": image_size,
        "limit_per_class": limit_per_class,
        "generator_version": GENERATOR_VERSION,
    }
    cache_path = None
    if cache_dir is not None:
        limit_text = "all" if limit_per_class is None else str(limit_per_class)
        cache_path = Path(cache_dir).expanduser() / (
            f"procedural-leaves-v{GENERATOR_VERSION}-seed{seed}-{image_size}px-limit{limit_text}.pt"
        )
        cached = load_cache(cache_path, manifest)
        if cached is not None:
            logger.info("Loaded %d procedural leaves from cache %s", len(cached), cache_path)
            return cached

    arrays = map_chunks(
        _render_chunk,
        items,
        (seed, image_size),
        workers=worker_count,
        chunk_size=32,
        description="Drawing procedural leaves",
        progress=progress,
    )
    classes = [class_by_prefix(prefix) for prefix, _ in items]
    data = LeafData(
        images=torch.from_numpy(np.stack(arrays)),
        species=torch.tensor([leaf_class.species for leaf_class in classes if leaf_class], dtype=torch.int64),
        health=torch.tensor([leaf_class.health for leaf_class in classes if leaf_class], dtype=torch.int64),
        files=tuple(f"{prefix:04d}_{index + 1:04d}" for prefix, index in items),
        source=source,
    )
    if cache_path is not None:
        save_cache(cache_path, manifest, data)
    return data
