"""``python -m mtllib bench``: what each approach costs, and mtllib's PCGrad against its anchors.

One run measures everything in the same process and on the same inputs. It times a
training step of approaches A–H and of a single-task model and measures its peak memory.
It compares PCGrad aggregation of mtllib with TorchJD and LibMTL, relates training
throughput to the device's matrix-multiplication peak, splits a step of approach H into
phases, and times leaf-data loading and the diagnostics recorder. It writes ``bench.md`` (a
report), ``bench.csv`` (one row per figure) and two plots (``bench_steps.png``,
``bench_pcgrad.png``) into ``--out``. The aims in the report do not change the exit status.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import time
from pathlib import Path

from ._aims import evaluate_aims
from ._breakdown import measure_breakdown
from ._data import measure_data, measure_diagnostics
from ._figures import write_figures
from ._machine import DEVICES, describe_machine, load_average, resolve_device
from ._measurement import CSV_COLUMNS, Measurement, write_csv
from ._memory import PeakMemory, peak_rss_bytes, reset_peak_rss
from ._pcgrad import measure_pcgrad
from ._report import ReportContext, render_report
from ._settings import settings_for
from ._steps import REFERENCE, build_step_models, make_batches, measure_steps
from ._throughput import measure_throughput

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_OUT",
    "Measurement",
    "PeakMemory",
    "add_arguments",
    "peak_rss_bytes",
    "reset_peak_rss",
    "run",
]

logger = logging.getLogger(__name__)

DEFAULT_OUT = Path("results") / "bench"
REPORT_NAME = "bench.md"
CSV_NAME = "bench.csv"
BATCH_COUNT = 4
BREAKDOWN_APPROACH = "H"
RUN_SECTION = "run"


def _device_argument(text: str) -> str:
    try:
        resolve_device(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``bench`` to ``parser``."""
    parser.add_argument(
        "--device",
        type=_device_argument,
        default="cpu",
        metavar="|".join(DEVICES),
        help="device that runs the training steps and aggregations (default cpu)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer repeats and sizes, for tests and CI: well under a minute on 2 CPU cores",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"folder for {REPORT_NAME} and {CSV_NAME}, created if missing (default {DEFAULT_OUT})",
    )


def _prepare_out(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out must be a folder, got the file {str(out)!r}")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _command_line(device: str, quick: bool, out: Path) -> str:
    arguments = ["python", "-m", "mtllib", "bench", "--device", device]
    if quick:
        arguments.append("--quick")
    return shlex.join([*arguments, "--out", str(out)])


def _usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def run(args: argparse.Namespace) -> int:
    """Run every benchmark, write the report and the CSV, print where they are; return the exit status.

    Returns 2 for an invalid device or output folder, 1 when a section that other parts of
    mtllib provide (data loading, diagnostics overhead) failed, and 0 otherwise, whether or
    not the aims are met.
    """
    try:
        device = resolve_device(str(args.device))
        out = _prepare_out(Path(args.out))
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    settings = settings_for(bool(args.quick), device)
    started = time.perf_counter()
    load_before = load_average()
    machine = describe_machine(device)
    logger.info("benchmark on %s (%s), %s run, writing to %s", device, machine["CPU"], "quick" if settings.quick else "full", out)
    measurements: list[Measurement] = []
    durations: dict[str, float] = {}

    section_started = time.perf_counter()
    batches = make_batches(BATCH_COUNT, device)
    models = build_step_models(batches, device)
    steps = measure_steps(models, batches, device, settings)
    measurements += steps.measurements
    durations["step"] = time.perf_counter() - section_started

    section_started = time.perf_counter()
    pcgrad_rows, aggregators = measure_pcgrad(batches[0], device, settings)
    measurements += pcgrad_rows
    durations["pcgrad"] = time.perf_counter() - section_started

    section_started = time.perf_counter()
    measurements += measure_throughput(models, batches[0], steps, device, settings)
    durations["throughput"] = time.perf_counter() - section_started

    section_started = time.perf_counter()
    by_name = {model.name: model for model in models}
    measurements += measure_breakdown(by_name[BREAKDOWN_APPROACH], batches, steps, device, settings)
    durations["breakdown"] = time.perf_counter() - section_started

    section_errors: dict[str, str] = {}
    external = (("data", lambda: measure_data(settings)), ("diagnostics", lambda: measure_diagnostics(device, settings)))
    for section, measure in external:
        section_started = time.perf_counter()
        try:
            measurements += measure()
        # These benchmarks belong to mtllib.data and mtllib.diagnostics. Whatever they raise
        # is reported, and the figures measured so far are still written.
        except Exception as error:  # noqa: BLE001
            logger.exception("the %s benchmark failed", section)
            section_errors[section] = f"{type(error).__name__}: {error}"
        durations[section] = time.perf_counter() - section_started

    measurements += [Measurement(RUN_SECTION, section, "elapsed", seconds, "s") for section, seconds in durations.items()]
    aims = evaluate_aims(measurements, aggregators, device, _usable_cores())
    for aim in aims:
        measurements += aim.measurements()

    context = ReportContext(
        command=_command_line(device.type, settings.quick, out),
        machine=machine,
        settings=settings,
        measurements=measurements,
        aggregators=aggregators,
        aims=aims,
        memory_method=steps.memory[REFERENCE].method,
        load_before=load_before,
        load_after=load_average(),
        elapsed_seconds=time.perf_counter() - started,
        section_errors=section_errors,
    )
    report_path = out / REPORT_NAME
    csv_path = out / CSV_NAME
    report_path.write_text(render_report(context), encoding="utf-8")
    write_csv(csv_path, measurements)
    figures = write_figures(measurements, out)

    print(f"report: {report_path}")
    print(f"figures: {csv_path} ({len(measurements)} rows)")
    for path in figures:
        print(f"plot: {path}")
    if settings.quick:
        print("quick run: too few repeats to judge the aims; run without --quick for figures to compare")
    for aim in aims:
        print(f"aim {aim.verdict}: {aim.description} (measured {aim.measured:.3g} {aim.unit})")
    for section, error in section_errors.items():
        print(f"section {section} failed: {error}", file=sys.stderr)
    return 1 if section_errors else 0
