"""End-to-end runs of ``python -m mtllib bench`` and its argument checks."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mtllib.__main__ import main
from mtllib.bench import CSV_COLUMNS
from mtllib.bench._figures import FIGURE_NAMES
from mtllib.bench._machine import cpu_model_name

APPROACH_LABELS = [
    "A: baseline",
    "B: LaSS",
    "C: Modulation",
    "D: Modulation + LaSS",
    "E: PCGrad",
    "F: PCGrad + LaSS",
    "G: PCGrad + Modulation",
    "H: PCGrad + Modulation + LaSS",
]
STEP_NAMES = ["A", "B", "C", "D", "E", "F", "G", "H", "single-task"]
SECTIONS = {"step", "pcgrad", "pcgrad_phases", "throughput", "breakdown", "data", "diagnostics", "aims", "run"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run the quick benchmark once in a fresh process, as a user would, into a temporary folder."""
    out = tmp_path_factory.mktemp("bench") / "nested" / "out"
    completed = subprocess.run(
        [sys.executable, "-m", "mtllib", "bench", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    return completed, out


@pytest.fixture(scope="module")
def rows(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> list[dict[str, str]]:
    _, out = quick_run
    with (out / "bench.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def report(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> str:
    _, out = quick_run
    return (out / "bench.md").read_text(encoding="utf-8")


def _select(rows: list[dict[str, str]], section: str, metric: str | None = None) -> list[dict[str, str]]:
    return [row for row in rows if row["section"] == section and (metric is None or row["metric"] == metric)]


def test_quick_run_succeeds(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    completed, out = quick_run
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert f"report: {out / 'bench.md'}" in completed.stdout
    assert (out / "bench.md").is_file()
    assert (out / "bench.csv").is_file()


def test_quick_run_writes_both_plots(quick_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    completed, out = quick_run
    for name in FIGURE_NAMES.values():
        path = out / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"plot: {path}" in completed.stdout


def test_csv_columns_and_sections(quick_run: tuple[subprocess.CompletedProcess[str], Path], rows: list[dict[str, str]]) -> None:
    _, out = quick_run
    with (out / "bench.csv").open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert tuple(header) == CSV_COLUMNS
    assert {row["section"] for row in rows} == SECTIONS
    for row in rows:
        assert isinstance(json.loads(row["details"]), dict)
        float(row["value"])


def test_step_rows_cover_every_model(rows: list[dict[str, str]]) -> None:
    medians = {row["name"]: float(row["value"]) for row in _select(rows, "step", "step_time_median")}
    assert list(medians) == STEP_NAMES
    for name in STEP_NAMES:
        assert medians[name] > 0
    for metric in ("step_time_ratio_to_A", "epoch_time", "peak_memory", "step_memory", "step_memory_ratio_to_A", "step_time_q1", "step_time_max"):
        assert [row["name"] for row in _select(rows, "step", metric)] == STEP_NAMES
    ratio_a = [row for row in _select(rows, "step", "step_time_ratio_to_A") if row["name"] == "A"]
    assert float(ratio_a[0]["value"]) == 1.0


def test_report_names_machine(report: str) -> None:
    assert "## Machine" in report
    assert cpu_model_name() in report
    assert torch.__version__ in report
    assert "logical CPUs" in report


def test_report_lists_every_approach(report: str) -> None:
    step_section = report.split("## Training step per approach")[1].split("\n## ")[0]
    for label in APPROACH_LABELS:
        assert f"| {label} |" in step_section
    assert "| single-task: species head only |" in step_section


def test_pcgrad_agreement_checked(rows: list[dict[str, str]], report: str) -> None:
    inputs = [row["name"] for row in _select(rows, "pcgrad", "columns")]
    assert inputs == ["LeafNet", "synthetic P=10000", "synthetic P=100000"]
    available_rows = {row["name"]: row for row in _select(rows, "pcgrad", "available")}
    available = {name: float(row["value"]) for name, row in available_rows.items()}
    assert set(available) == {"mtllib", "TorchJD", "LibMTL"}
    assert available["mtllib"] == 1.0
    assert available["TorchJD"] == 1.0
    for anchor, present in available.items():
        if anchor == "mtllib":
            continue
        agreements = {row["name"]: float(row["value"]) for row in _select(rows, "pcgrad", f"{anchor}_agrees")}
        if present:
            assert agreements == {name: 1.0 for name in inputs}
        else:
            assert agreements == {}
            error = json.loads(available_rows[anchor]["details"])["error"]
            assert f"**Not measured**: {error}" in report
    assert "agrees (max rel. diff.)" in report


def test_throughput_and_breakdown_rows(rows: list[dict[str, str]]) -> None:
    peak = _select(rows, "throughput", "peak_flops")
    assert len(peak) == 1
    assert float(peak[0]["value"]) > 0
    flops = {row["name"]: float(row["value"]) for row in _select(rows, "throughput", "flops_per_image")}
    assert set(flops) == set(STEP_NAMES)
    assert all(value > 0 for value in flops.values())
    fractions = {row["name"] for row in _select(rows, "throughput", "fraction_of_matmul_peak")}
    assert fractions == set(STEP_NAMES)
    phases = [row["name"] for row in _select(rows, "breakdown", "time_median")]
    assert phases == ["forward", "backward task 0", "backward task 1", "projection", "optimizer step", "sum of phases", "training_step"]
    shares = [float(row["value"]) for row in _select(rows, "breakdown", "share")]
    assert math.isclose(sum(shares), 1.0, rel_tol=1e-9)


def test_aims_reported(rows: list[dict[str, str]], report: str) -> None:
    aims = [row["name"] for row in _select(rows, "aims", "met")]
    assert aims == ["pcgrad_aggregation_speed", "pcgrad_step_ratio", "epoch_time_A"]
    assert "## Aims" in report


def test_data_rows_present(rows: list[dict[str, str]]) -> None:
    names = {row["name"] for row in _select(rows, "data", "ms_per_image")}
    assert "photo decode + letterbox / draft" in names
    assert "photo decode + letterbox / full" in names
    assert any(name.startswith("procedural generation") for name in names)


def test_diagnostics_rows_present(rows: list[dict[str, str]]) -> None:
    approaches = [row["name"] for row in _select(rows, "diagnostics", "overhead_percent")]
    assert approaches


def test_unknown_device_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["bench", "--device", "tpu"])
    assert raised.value.code == 2
    error = capsys.readouterr().err
    assert "device must be one of cpu, cuda, got 'tpu'" in error


@pytest.mark.skipif(torch.cuda.is_available(), reason="cuda is a valid device on a machine with a GPU")
def test_cuda_without_gpu_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["bench", "--device", "cuda"])
    assert raised.value.code == 2
    error = capsys.readouterr().err
    assert "device 'cuda' is not available" in error
    assert "use --device cpu" in error


def test_out_file_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "bench.md"
    target.write_text("not a folder")
    assert main(["bench", "--quick", "--out", str(target)]) == 2
    error = capsys.readouterr().err
    assert f"--out must be a folder, got the file {str(target)!r}" in error
