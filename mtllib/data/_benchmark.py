"""Timings of photo decoding and procedural generation, as rows of plain dicts.

Each function returns a list of dicts with the keys ``benchmark``, ``variant``, ``images``,
``seconds`` and ``ms_per_image`` plus a few setting keys, so that a benchmark suite can
collect them into one table.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageChops

from ._parallel import resolve_workers
from ._photos import decode_photo
from ._procedural import procedural_items, procedural_leaves, render_leaf

__all__ = ["bench_photo_decode", "bench_procedural_generation", "write_full_size_jpegs"]

Row = dict[str, Any]

# Size of the dataset's photos, about 6000 x 4000 pixels.
FULL_SIZE = (6000, 4000)


def write_full_size_jpegs(
    folder: str | os.PathLike[str], count: int, *, size: tuple[int, int] = FULL_SIZE, seed: int = 0, quality: int = 90
) -> list[Path]:
    """Write ``count`` photo-sized JPEGs of procedural leaves into ``folder`` and return their paths.

    Each is a 384-pixel-wide procedural drawing scaled up to ``size`` with grain added. The
    grain brings the file size (a few MB at 6000 x 4000) and the decoding work closer to a
    camera photo than a smooth upscaled drawing. Files are named in the dataset's scheme.
    """
    items = procedural_items(limit_per_class=1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= len(items):
        raise ValueError(f"count must be an int in [1, {len(items)}], got {count!r}")
    folder_path = Path(folder)
    folder_path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tile = np.clip(rng.normal(128, 6, size=(512, 512, 3)), 0, 255).astype(np.uint8)
    grain = Image.fromarray(np.tile(tile, (size[1] // 512 + 1, size[0] // 512 + 1, 1))[: size[1], : size[0]])
    paths = []
    for prefix, index in items[:count]:
        drawing = render_leaf(prefix, index, seed=seed, width=384).resize(size, Image.Resampling.BICUBIC)
        grainy = ImageChops.add(drawing, grain, scale=1.0, offset=-128)
        path = folder_path / f"{prefix:04d}_{index + 1:04d}.JPG"
        grainy.save(path, "JPEG", quality=quality)
        paths.append(path)
    return paths


def bench_photo_decode(image_size: int = 64, count: int = 4, repeats: int = 3, folder: str | None = None) -> list[Row]:
    """Time decode plus letterbox per full-size JPEG, in draft mode and with a full decode.

    ``count`` JPEGs of 6000 x 4000 pixels are written to ``folder`` (default: a temporary
    folder, deleted afterwards) and each is decoded ``repeats`` times per variant in this
    process. The row's ``ms_per_image`` is the mean over all decodes.
    """
    with tempfile.TemporaryDirectory(prefix="mtllib-bench-") as temporary:
        paths = write_full_size_jpegs(folder or temporary, count)
        file_mb = float(np.mean([path.stat().st_size for path in paths])) / 1e6
        rows = []
        for variant, draft in (("draft", True), ("full", False)):
            decode_photo(paths[0], image_size, draft=draft)  # Warm-up: imports and allocations.
            start = time.perf_counter()
            for _ in range(repeats):
                for path in paths:
                    decode_photo(path, image_size, draft=draft)
            seconds = time.perf_counter() - start
            decodes = repeats * len(paths)
            rows.append(
                {
                    "benchmark": "photo decode + letterbox",
                    "variant": variant,
                    "images": decodes,
                    "seconds": seconds,
                    "ms_per_image": 1000 * seconds / decodes,
                    "image_size": image_size,
                    "source_size": f"{FULL_SIZE[0]}x{FULL_SIZE[1]}",
                    "file_mb": file_mb,
                }
            )
    return rows


def bench_procedural_generation(
    image_size: int = 64, limit_per_class: int | None = None, workers: tuple[int | None, ...] = (1, None)
) -> list[Row]:
    """Time :func:`procedural_leaves` without a cache, once per entry of ``workers``.

    ``None`` in ``workers`` means all usable CPU cores. Process start-up is included in the
    time. The default generates all 4,503 images twice.
    """
    rows = []
    for worker_setting in workers:
        count = resolve_workers(worker_setting)
        start = time.perf_counter()
        data = procedural_leaves(
            seed=0, image_size=image_size, limit_per_class=limit_per_class, workers=count, progress=False
        )
        seconds = time.perf_counter() - start
        rows.append(
            {
                "benchmark": "procedural generation",
                "variant": f"{count} worker(s)",
                "images": len(data),
                "seconds": seconds,
                "ms_per_image": 1000 * seconds / len(data),
                "image_size": image_size,
                "workers": count,
            }
        )
    return rows
