"""The Markdown report of a benchmark run, built from its measurements."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ._aims import Aim
from ._measurement import Measurement, find
from ._pcgrad import AGREEMENT_TOLERANCE, OURS, Aggregator
from ._settings import BATCH_SIZE, EPOCH_IMAGES, IMAGE_SIZE, BenchSettings
from ._steps import REFERENCE, SINGLE_TASK, STEPS_PER_EPOCH
from ._throughput import MATMUL

__all__ = ["ReportContext", "render_report"]


@dataclass
class ReportContext:
    """Everything the report shows besides the measurements themselves."""

    command: str
    machine: Mapping[str, str]
    settings: BenchSettings
    measurements: Sequence[Measurement]
    aggregators: Sequence[Aggregator]
    aims: Sequence[Aim]
    memory_method: str
    load_before: tuple[float, float, float] | None
    load_after: tuple[float, float, float] | None
    elapsed_seconds: float
    section_errors: dict[str, str] = field(default_factory=dict)


def _format(value: float | None, digits: int = 3) -> str:
    """Format a figure with ``digits`` significant digits; em dash for a missing figure."""
    if value is None or math.isnan(value):
        return "—"
    if float(value).is_integer() and abs(value) < 10 ** (digits + 3):
        return f"{int(value):,}"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= digits + 3 or magnitude < -4:
        return f"{value:.{digits - 1}e}"
    decimals = max(digits - 1 - magnitude, 0)
    return f"{value:,.{decimals}f}"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def _value(context: ReportContext, section: str, name: str, metric: str) -> float | None:
    measurement = find(context.measurements, section, name, metric)
    return None if measurement is None else measurement.value


def _names(context: ReportContext, section: str) -> list[str]:
    seen: dict[str, None] = {}
    for measurement in context.measurements:
        if measurement.section == section:
            seen.setdefault(measurement.name, None)
    return list(seen)


def _load_text(load: tuple[float, float, float] | None) -> str:
    return "not available" if load is None else " / ".join(f"{value:.2f}" for value in load)


def _header(context: ReportContext) -> list[str]:
    kind = "quick" if context.settings.quick else "full"
    lines = [
        "# mtllib benchmark",
        "",
        f"A {kind} run of `{context.command}`, {_format(context.elapsed_seconds)} s in all, every figure "
        "measured in the same process on the same inputs.",
        "",
        f"Load average (1 / 5 / 15 min) at the start: {_load_text(context.load_before)}; at the end: "
        f"{_load_text(context.load_after)}. Timings on a machine shared with other processes vary from "
        "run to run, so compare figures within one report rather than across reports.",
        "",
        "Seconds per section: "
        + ", ".join(f"{m.name} {_format(m.value)}" for m in context.measurements if m.section == "run")
        + ".",
        "",
        "## Machine",
        "",
    ]
    lines += _table(["", ""], ([key, value] for key, value in context.machine.items()))
    return lines


def _aims_section(context: ReportContext) -> list[str]:
    lines = ["## Aims", "", "Aims are reported; a missed aim does not fail the run.", ""]
    rows = []
    for aim in context.aims:
        rows.append([aim.description, f"{_format(aim.measured)} {aim.unit}", aim.verdict, aim.comment])
    return lines + _table(["aim", "measured", "met", "comment"], rows)


def _step_section(context: ReportContext) -> list[str]:
    settings = context.settings
    lines = [
        "## Training step per approach",
        "",
        f"One `mtllib.training_step` at batch {BATCH_SIZE} of random {IMAGE_SIZE}×{IMAGE_SIZE} RGB images "
        "(uint8 converted to float32 in [0, 1], channels_last), Adam with learning rate 5e-4. "
        f"Each model takes {settings.warmup_steps} untimed warm-up step(s), then {settings.timed_steps} timed "
        f"steps in {settings.rounds} round(s) that interleave the models. LaSS approaches (B, D, F, H) "
        "have their masks set (alpha 0.5), so they run the masked phase of training. "
        f"The single-task model is LeafNet with the species head only. An epoch of {EPOCH_IMAGES:,} "
        f"images is estimated as {STEPS_PER_EPOCH} steps × the median step time.",
        "",
        f"Memory: {context.memory_method}, over {settings.memory_steps} step(s) per model. "
        "*Peak* is the whole process; *step* is the peak minus the memory in use before the steps, "
        "and its ratio to A is the memory ratio.",
        "",
    ]
    rows = []
    for name in _names(context, "step"):
        get = lambda metric: _value(context, "step", name, metric)  # noqa: E731
        label = find(context.measurements, "step", name, "step_time_median").details.get("label", name)
        rows.append(
            [
                str(label),
                _format(get("step_time_median")),
                f"{_format(get('step_time_q1'))}–{_format(get('step_time_q3'))}",
                f"{_format(get('step_time_min'))}–{_format(get('step_time_max'))}",
                _format(get("step_time_ratio_to_A")),
                _format(get("peak_memory"), 4),
                _format(get("step_memory")),
                _format(get("step_memory_ratio_to_A")),
                _format(get("epoch_time")),
            ]
        )
    headers = [
        "approach",
        "median ms",
        "IQR ms",
        "min–max ms",
        f"time × {REFERENCE}",
        "peak MiB",
        "step MiB",
        f"memory × {REFERENCE}",
        "s per epoch",
    ]
    return lines + _table(headers, rows)


def _pcgrad_section(context: ReportContext) -> list[str]:
    settings = context.settings
    lines = [
        "## PCGrad aggregation against TorchJD and LibMTL",
        "",
        "Each implementation combines the same 2×P float32 matrix of task gradients into the sum of "
        "the projected gradients: the species and health gradients of a new LeafNet's shared "
        "parameters on one batch, and synthetic rows with cosine similarity about -0.45. Times are "
        f"medians of {settings.aggregation_repeats} interleaved calls ({settings.large_aggregation_repeats} "
        f"above P = 10^6) after {settings.aggregation_warmup} warm-up call(s). Agreement: "
        f"max|anchor − mtllib| / max|mtllib| ≤ {AGREEMENT_TOLERANCE:g}; with two tasks the visiting "
        "order cannot change the result, so the outputs must agree.",
        "",
        "What is timed:",
        "",
    ]
    for aggregator in context.aggregators:
        version = f" {aggregator.version}" if aggregator.version else ""
        lines.append(f"- **{aggregator.name}{version}**: {aggregator.timed}.")
        if aggregator.note:
            lines.append(f"  Note: {aggregator.note}.")
        if aggregator.error:
            lines.append(f"  **Not measured**: {aggregator.error}")
    lines.append("")

    anchors = [a.name for a in context.aggregators if a.name != OURS]
    headers = ["gradients", "P", "cosine", f"{OURS} ms"] + [f"{name} ms" for name in anchors]
    headers += [f"{name} agrees (max rel. diff.)" for name in anchors]
    rows = []
    for name in _names(context, "pcgrad"):
        if _value(context, "pcgrad", name, "columns") is None:
            continue
        row = [
            name,
            f"{int(_value(context, 'pcgrad', name, 'columns')):,}",
            _format(_value(context, "pcgrad", name, "cosine")),
            _format(_value(context, "pcgrad", name, f"{OURS}_time")),
        ]
        row += [_format(_value(context, "pcgrad", name, f"{anchor}_time")) for anchor in anchors]
        for anchor in anchors:
            agrees = _value(context, "pcgrad", name, f"{anchor}_agrees")
            difference = _value(context, "pcgrad", name, f"{anchor}_max_relative_difference")
            row.append("not run" if agrees is None else f"{'yes' if agrees else 'NO'} ({_format(difference, 2)})")
        rows.append(row)
    lines += _table(headers, rows)

    lines += [
        "### Where mtllib's aggregation spends its time",
        "",
        "Medians of the internal steps of `mtllib.pcgrad.project_conflicting`, timed one by one on the "
        "same matrices, next to the bare Gramian product `matrix @ matrix.T`.",
        "",
    ]
    phases = ["_gramian", "_visiting_orders", "pcgrad_weights", "_combine", "matrix @ matrix.T alone"]
    rows = [[name] + [_format(_value(context, "pcgrad_phases", name, phase)) for phase in phases] for name in _names(context, "pcgrad_phases")]
    lines += _table(["gradients"] + [f"{phase} ms" for phase in phases], rows)
    return lines


def _throughput_section(context: ReportContext) -> list[str]:
    peak = find(context.measurements, "throughput", MATMUL, "peak_flops")
    median = _value(context, "throughput", MATMUL, "median_flops")
    if peak is None:
        return []
    size = peak.details.get("size")
    lines = [
        "## Throughput",
        "",
        f"Matrix-multiplication peak: {_format(peak.value)} GFLOP/s, the fastest of {peak.details.get('repeats')} "
        f"float32 products of {size}×{size} matrices on {peak.details.get('device')} (median {_format(median)} GFLOP/s). "
        "FLOPs per image come from `torch.utils.flop_counter.FlopCounterMode` over one training step "
        "(forward, backward passes and PCGrad's products; it counts convolutions and matrix products, "
        "not element-wise work), divided by the batch size. Images per second use the median step time.",
        "",
    ]
    approaches = [m for m in context.measurements if m.section == "step" and m.metric == "step_time_median" and m.name != SINGLE_TASK]
    if approaches:
        slowest = max(approaches, key=lambda m: m.value)
        reference = _value(context, "throughput", REFERENCE, "images_per_second")
        expensive = _value(context, "throughput", slowest.name, "images_per_second")
        lines += [
            f"Approach {REFERENCE} trains {_format(reference)} images/s; the most expensive approach in this run, "
            f"{slowest.details.get('label', slowest.name)}, trains {_format(expensive)} images/s.",
            "",
        ]
    rows = []
    for name in _names(context, "throughput"):
        if name == MATMUL:
            continue
        get = lambda metric: _value(context, "throughput", name, metric)  # noqa: E731
        label = find(context.measurements, "throughput", name, "images_per_second").details.get("label", name)
        rows.append(
            [
                str(label),
                _format(get("images_per_second")),
                _format(get("flops_per_image")),
                _format(get("achieved_flops")),
                _format(get("fraction_of_matmul_peak"), 2),
            ]
        )
    return lines + _table(["approach", "images/s", "GFLOP per image", "GFLOP/s", "fraction of matmul peak"], rows)


def _breakdown_section(context: ReportContext) -> list[str]:
    names = _names(context, "breakdown")
    if not names:
        return []
    first = find(context.measurements, "breakdown", names[0], "time_median")
    lines = [
        f"## Where time goes in a step of {first.details.get('label')}",
        "",
        f"Phases of {first.details.get('repeats')} steps timed one by one (device synchronised at each "
        "phase boundary): the forward pass with the losses, each task's backward pass, the projection "
        "(flatten to T×P, project, write `.grad`) and the optimizer step with LaSS's restore of "
        "weights outside the masks. The whole `training_step` median from the step section is shown "
        "for comparison.",
        "",
    ]
    rows = []
    for name in names:
        share = _value(context, "breakdown", name, "share")
        rows.append([name, _format(_value(context, "breakdown", name, "time_median")), "" if share is None else f"{100 * share:.1f} %"])
    lines += _table(["phase", "median ms", "share"], rows)
    return lines


def _external_section(context: ReportContext, section: str, title: str, source: str) -> list[str]:
    lines = [f"## {title}", "", f"Figures from {source}, one row per measurement with its settings.", ""]
    if section in context.section_errors:
        return lines + [f"**Not measured**: {context.section_errors[section]}", ""]
    measurements = [m for m in context.measurements if m.section == section]
    if not measurements:
        return []
    metrics = list(dict.fromkeys(m.metric for m in measurements))
    units = {m.metric: m.unit for m in measurements}
    rows = []
    for name in _names(context, section):
        first = next(m for m in measurements if m.name == name)
        settings = ", ".join(f"{key}={_format_setting(value)}" for key, value in first.details.items())
        rows.append([name] + [_format(_value(context, section, name, metric)) for metric in metrics] + [settings])
    return lines + _table(["measurement"] + [f"{metric} ({units[metric]})" for metric in metrics] + ["settings"], rows)


def _format_setting(value: object) -> str:
    return _format(value) if isinstance(value, float) else str(value)


def render_report(context: ReportContext) -> str:
    """Render the Markdown report: machine, aims, then one section per measured area."""
    lines = _header(context)
    lines += _aims_section(context)
    lines += _step_section(context)
    lines += _pcgrad_section(context)
    lines += _throughput_section(context)
    lines += _breakdown_section(context)
    lines += _external_section(context, "data", "Data loading", "`mtllib.data._benchmark` (decode + letterbox per photo, procedural generation)")
    lines += _external_section(
        context, "diagnostics", "Overhead of the tragic-triad recorder", "`mtllib.diagnostics.benchmark_overhead` (training with and without `TriadRecorder`)"
    )
    lines += [
        "## Files",
        "",
        "`bench.csv` next to this report has one row per figure: section, name, metric, value, unit, "
        "and the settings behind the figure as JSON in `details`. `bench_steps.png` draws the step "
        "times per approach and `bench_pcgrad.png` the PCGrad aggregation times against P.",
        "",
    ]
    return "\n".join(lines)
