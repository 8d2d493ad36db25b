"""Peak memory of a block of code: resident set size on CPU, allocated memory on CUDA."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import re
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["MemoryReading", "PeakMemory", "current_rss_bytes", "peak_rss_bytes", "reset_peak_rss"]

logger = logging.getLogger(__name__)

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    """Read a ``kB`` field such as ``VmHWM`` from /proc/self/status; None where it is not available."""
    try:
        text = _STATUS.read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def reset_peak_rss() -> bool:
    """Reset the process's peak resident set size (VmHWM) to its current value.

    Writing ``5`` to /proc/self/clear_refs does this on Linux 4.0 and later. Returns False
    where that file is missing or not writable; the peak then keeps counting from the start
    of the process.
    """
    try:
        _CLEAR_REFS.write_text("5")
    except OSError as error:
        logger.debug("cannot reset the peak RSS through %s: %s", _CLEAR_REFS, error)
        return False
    return True


def peak_rss_bytes() -> tuple[int, str]:
    """Return the process's peak resident set size in bytes and the source it was read from.

    The source is ``"VmHWM"`` (/proc/self/status, resettable by :func:`reset_peak_rss`) or,
    where /proc is missing, ``"ru_maxrss"`` from ``resource.getrusage``, which is the peak
    since the process started and cannot be reset.
    """
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib * 1024, "VmHWM"
    maximum = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS.
    return (maximum if sys.platform == "darwin" else maximum * 1024), "ru_maxrss"


def current_rss_bytes() -> int | None:
    """Return the process's current resident set size in bytes (VmRSS), or None without /proc."""
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def _release_free_memory() -> None:
    """Collect garbage and ask glibc to return freed heap memory to the system.

    Without the trim, memory freed by an earlier measurement can stay resident and raise
    the baseline of the next one.
    """
    gc.collect()
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


@dataclass(frozen=True)
class MemoryReading:
    """Peak memory of a measured block and the memory in use when it started, in bytes."""

    peak_bytes: int
    baseline_bytes: int
    method: str

    @property
    def increase_bytes(self) -> int:
        """Peak minus baseline: the memory the block itself needed at its peak."""
        return max(self.peak_bytes - self.baseline_bytes, 0)


class PeakMemory:
    """Measure the peak memory of the code run between :meth:`reset` and :meth:`read`.

    On CPU this is the process's resident set size (VmHWM after a reset through
    /proc/self/clear_refs), so it includes the Python interpreter, torch's libraries and
    every live tensor. On CUDA it is ``torch.cuda.max_memory_allocated``, the memory held by
    tensors on the device.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._baseline = 0
        self._resettable = True

    @property
    def method(self) -> str:
        """How the peak is measured, in words, for the report."""
        if self.device.type == "cuda":
            return "torch.cuda.max_memory_allocated after torch.cuda.reset_peak_memory_stats"
        if not self._resettable:
            return "peak RSS since the process started (ru_maxrss or VmHWM; /proc/self/clear_refs not writable)"
        return "peak RSS (VmHWM) after a reset through /proc/self/clear_refs"

    def reset(self) -> None:
        """Start a measurement: release free memory, reset the peak and record the baseline."""
        _release_free_memory()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._baseline = torch.cuda.memory_allocated(self.device)
            return
        self._resettable = reset_peak_rss()
        current = current_rss_bytes()
        self._baseline = current if current is not None else peak_rss_bytes()[0]

    def read(self) -> MemoryReading:
        """Return the peak since :meth:`reset` and the baseline recorded then."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return MemoryReading(torch.cuda.max_memory_allocated(self.device), self._baseline, self.method)
        peak, _source = peak_rss_bytes()
        return MemoryReading(peak, self._baseline, self.method)
