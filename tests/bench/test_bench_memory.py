"""The peak-memory helpers of the benchmark: VmHWM reset, fallback and PeakMemory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mtllib.bench import _memory
from mtllib.bench._memory import PeakMemory, current_rss_bytes, peak_rss_bytes, reset_peak_rss

MIB = 2**20

needs_clear_refs = pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc/self/clear_refs"
)


def _touched_tensor(mebibytes: int) -> torch.Tensor:
    # torch.ones writes every page, so the pages count in the resident set.
    return torch.ones(mebibytes * MIB // 4, dtype=torch.float32)


@needs_clear_refs
def test_peak_rss_follows_allocation() -> None:
    assert reset_peak_rss()
    baseline = current_rss_bytes()
    tensor = _touched_tensor(256)
    peak, source = peak_rss_bytes()
    assert source == "VmHWM"
    assert peak >= baseline + 200 * MIB
    del tensor


@needs_clear_refs
def test_peak_rss_reset_forgets_freed_memory() -> None:
    tensor = _touched_tensor(256)
    high, _ = peak_rss_bytes()
    del tensor
    _memory._release_free_memory()
    assert reset_peak_rss()
    low, _ = peak_rss_bytes()
    assert low <= high - 150 * MIB


def test_peak_rss_without_proc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(_memory, "_STATUS", tmp_path / "missing-status")
    monkeypatch.setattr(_memory, "_CLEAR_REFS", tmp_path / "missing-folder" / "clear_refs")
    peak, source = peak_rss_bytes()
    assert source == "ru_maxrss"
    assert peak > 0
    assert current_rss_bytes() is None
    assert reset_peak_rss() is False


@needs_clear_refs
def test_peak_memory_measures_block() -> None:
    probe = PeakMemory(torch.device("cpu"))
    probe.reset()
    tensor = _touched_tensor(128)
    reading = probe.read()
    del tensor
    assert reading.increase_bytes >= 100 * MIB
    assert reading.peak_bytes >= reading.baseline_bytes
    assert "VmHWM" in reading.method


def test_peak_memory_method_without_reset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(_memory, "_CLEAR_REFS", tmp_path / "missing-folder" / "clear_refs")
    probe = PeakMemory(torch.device("cpu"))
    probe.reset()
    assert "not writable" in probe.read().method
