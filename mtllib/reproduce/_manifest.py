"""The manifest of a reproduction: versions, device, commit, data and configuration."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import platform
import subprocess
import sys
from pathlib import Path

import torch

from ._study import StudyConfig

__all__ = ["build_manifest", "git_commit", "write_manifest"]

PACKAGES = ("mtllib", "torch", "torchvision", "numpy", "scikit-learn", "scipy", "pandas", "pillow", "papermill")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_commit(path: Path | None = None) -> dict:
    """Return the commit of the checkout that holds this package, and whether it has changes."""
    folder = Path(__file__).resolve().parent if path is None else path
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder, capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(status.strip())}


def describe_device(device: torch.device) -> dict:
    """Name the device the units run on."""
    description = {"device": str(device), "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}
    if device.type == "cuda":
        description["gpu"] = torch.cuda.get_device_name(device)
        description["cuda"] = torch.version.cuda
    return description


def build_manifest(config: StudyConfig, device: torch.device, approaches: list[str], data_source: str) -> dict:
    """Collect what is needed to repeat a reproduction."""
    return {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "-m", "mtllib", *sys.argv[1:]]),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {package: _version(package) for package in PACKAGES},
        "device": describe_device(device),
        "git": git_commit(),
        "seed": config.seed,
        "data": {"source": data_source, "fingerprint": config.data_fingerprint, "images": config.data_size},
        "approaches": approaches,
        "fold_assignment": "folds.csv",
        "config": config.to_dict(),
    }


def write_manifest(out_dir: Path, manifest: dict) -> None:
    """Write ``manifest.json``, keeping the history of earlier invocations on the same folder."""
    path = Path(out_dir) / "manifest.json"
    history = []
    if path.exists():
        previous = json.loads(path.read_text())
        history = previous.pop("history", [])
        history.append({key: previous.get(key) for key in ("created", "command", "device", "git", "approaches")})
    manifest = {**manifest, "history": history}
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(manifest, indent=2) + "\n")
    temporary.replace(path)
