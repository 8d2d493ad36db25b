from __future__ import annotations

from mtllib.diagnostics import benchmark_overhead
from mtllib.diagnostics.__main__ import main

KEYS = {
    "approach",
    "device",
    "threads",
    "steps",
    "every",
    "curvature_every",
    "plain_ms_per_step",
    "recorded_ms_per_step",
    "overhead_percent",
    "gradient_record_ms",
    "curvature_record_ms",
    "hook_overhead_percent",
}


def test_quick_benchmark_rows() -> None:
    rows = benchmark_overhead(quick=True, approaches=("A", "F"))

    assert [row["approach"] for row in rows] == ["A", "F"]
    for row in rows:
        assert set(row) == KEYS
        assert row["device"] == "cpu"
        assert row["plain_ms_per_step"] > 0
        assert row["curvature_record_ms"] > 0


def test_bench_command_prints_table(capsys) -> None:
    assert main(["bench", "--quick", "--approaches", "E"]) == 0

    output = capsys.readouterr().out
    assert "overhead_percent" in output
    assert "CPUs visible" in output
