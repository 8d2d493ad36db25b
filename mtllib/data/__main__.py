"""Command line of the leaf data package: ``python -m mtllib.data bench``."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from ._benchmark import Row, bench_photo_decode, bench_procedural_generation


def _print_rows(rows: list[Row]) -> None:
    for row in rows:
        print(
            f"{row['benchmark']:<26} {row['variant']:<12} {row['images']:>6} images "
            f"{row['seconds']:8.2f} s {row['ms_per_image']:9.2f} ms/image"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtllib.data", description="Leaf data tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser(
        "bench",
        help="time photo decoding (draft vs full, on generated 6000x4000 JPEGs) and procedural generation",
    )
    bench.add_argument("--image-size", type=int, default=64, help="side of the letterboxed images in pixels")
    bench.add_argument("--photos", type=int, default=4, help="number of full-size JPEGs to decode")
    bench.add_argument("--repeats", type=int, default=3, help="decodes of each JPEG per variant")
    bench.add_argument(
        "--limit-per-class",
        type=int,
        default=None,
        help="generate only this many procedural images per class (default: all 4,503 images)",
    )
    arguments = parser.parse_args(argv)

    print(f"CPU cores usable: {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()}")
    _print_rows(bench_photo_decode(arguments.image_size, arguments.photos, arguments.repeats))
    _print_rows(bench_procedural_generation(arguments.image_size, arguments.limit_per_class))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
