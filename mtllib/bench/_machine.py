"""The machine a benchmark runs on: device choice, CPU model, cores and library versions."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
from pathlib import Path

import torch

__all__ = ["DEVICES", "cpu_model_name", "describe_machine", "load_average", "resolve_device"]

DEVICES = ("cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """Return the torch device for ``name``; ValueError for an unknown name or cuda without a GPU."""
    if name not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device 'cuda' is not available: torch {torch.__version__} finds no CUDA GPU "
            f"(torch.version.cuda is {torch.version.cuda}); use --device cpu"
        )
    return torch.device(name)


def cpu_model_name() -> str:
    """Return the CPU's model name from /proc/cpuinfo, else what :mod:`platform` reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> tuple[float, float, float] | None:
    """Return the 1, 5 and 15 minute load averages, or None where the system has none."""
    try:
        return os.getloadavg()
    except OSError:
        return None


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def describe_machine(device: torch.device) -> dict[str, str]:
    """Describe the machine, the libraries and the device, as readable strings for the report."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    description = {
        "CPU": cpu_model_name(),
        "logical CPUs": f"{os.cpu_count()} ({usable} usable by this process)",
        "torch threads": f"{torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} inter-op",
        "platform": platform.platform(),
        "Python": platform.python_version(),
        "torch": torch.__version__,
        "torchjd": _package_version("torchjd"),
        "LibMTL": _package_version("LibMTL"),
        "numpy": _package_version("numpy"),
        "device": str(device),
    }
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        description["device name"] = torch.cuda.get_device_name(device)
        description["device memory"] = f"{properties.total_memory / 2**30:.1f} GiB"
        description["CUDA"] = str(torch.version.cuda)
    description["started"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    return description
