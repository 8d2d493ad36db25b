"""Command line of the diagnostics: ``python -m mtllib.diagnostics bench``."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

import pandas as pd

from ._benchmark import benchmark_overhead, machine_description


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command given in ``argv`` and return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m mtllib.diagnostics", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser(
        "bench",
        help="time training with and without the tragic-triad recorder at its default frequencies",
    )
    bench.add_argument("--device", default="cpu", help="torch device to train on (default: cpu)")
    bench.add_argument("--quick", action="store_true", help="tiny model and few steps: a smoke run of seconds")
    bench.add_argument(
        "--approaches", default="A,E,C,F", help="comma-separated approach letters to time (default: A,E,C,F)"
    )
    bench.add_argument(
        "--blocks", type=int, default=None,
        help="timed blocks of curvature_every steps per approach (default: 2)",
    )
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    approaches = [letter.strip() for letter in arguments.approaches.split(",") if letter.strip()]
    rows = benchmark_overhead(arguments.device, arguments.quick, approaches=approaches, blocks=arguments.blocks)
    print(machine_description())
    print(pd.DataFrame(rows).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
