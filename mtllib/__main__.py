"""Command line of mtllib: ``python -m mtllib reproduce`` and ``python -m mtllib bench``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# Each subcommand lives in its own module, which defines ``add_arguments(parser)`` and
# ``run(args) -> int``.
SUBCOMMANDS = {
    "reproduce": ("mtllib.reproduce", "train the eight approaches of the leaf study over cross-validation folds"),
    "bench": ("mtllib.bench", "measure the cost of each approach and compare PCGrad with TorchJD and LibMTL"),
}


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with one subparser per subcommand."""
    parser = argparse.ArgumentParser(prog="python -m mtllib", description=__doc__)
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="logging level (default INFO)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        subparser = subparsers.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(subparser)
        subparser.set_defaults(module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    return int(args.module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
