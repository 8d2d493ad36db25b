"""The configuration of one reproduction of the study, its data and its folds."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..data import LeafData, load_leaf_photos, procedural_leaves, stratified_folds
from ..profiles import get_profile
from ..training import TrainConfig

__all__ = ["SINGLE_TASK_IDS", "StudyConfig", "ConfigurationMismatch", "default_cache_dir", "load_study_data", "study_folds"]

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"

# Run identifiers of the single-task references: the same network with one head, one loss.
SINGLE_TASK_IDS = ("single-species", "single-health")


class ConfigurationMismatch(ValueError):
    """Raised when an output folder holds results made with other settings."""


def default_cache_dir() -> Path:
    """Return the folder for decoded images: ``$MTLLIB_CACHE``, else ``~/.cache/mtllib``."""
    if os.environ.get("MTLLIB_CACHE"):
        return Path(os.environ["MTLLIB_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser()
    return base / "mtllib"


@dataclass(frozen=True)
class StudyConfig:
    """Every setting that decides the numbers a reproduction produces.

    Two runs with equal configurations may share an output folder; the approaches run, the
    device and the diagnostics switch are not part of it.
    """

    profile: str
    data: str
    data_fingerprint: str
    data_size: int
    limit_per_class: int | None
    image_size: int
    folds: int
    repeats: int
    seed: int
    single_task: bool
    train: dict

    def train_config(self) -> TrainConfig:
        """Return the :class:`~mtllib.TrainConfig` of the runs."""
        values = dict(self.train)
        values.pop("switch_epoch", None)
        return TrainConfig(**values)

    def to_dict(self) -> dict:
        """Return the configuration as plain JSON-ready values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> StudyConfig:
        """Rebuild a configuration written by :meth:`to_dict`."""
        return cls(**values)

    def save(self, out_dir: Path) -> None:
        """Write ``config.json`` in ``out_dir``."""
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / CONFIG_FILE
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        temporary.replace(path)

    @classmethod
    def load(cls, out_dir: Path) -> StudyConfig:
        """Read ``config.json`` from ``out_dir``."""
        path = Path(out_dir) / CONFIG_FILE
        if not path.exists():
            raise FileNotFoundError(f"{path} not found; start the run with python -m mtllib reproduce --out {out_dir}")
        return cls.from_dict(json.loads(path.read_text()))


def differing_settings(existing: StudyConfig, requested: StudyConfig) -> list[str]:
    """List ``name: old -> new`` for every setting that differs, training settings flattened."""
    old = _flatten(existing.to_dict())
    new = _flatten(requested.to_dict())
    return [f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]


def _flatten(values: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def check_or_save(out_dir: Path, requested: StudyConfig) -> bool:
    """Save ``requested`` in a new folder, or check that the folder's configuration equals it.

    Returns:
        True when ``out_dir`` already held a configuration (a resumed run).

    Raises:
        ConfigurationMismatch: naming every differing setting and the way out.
    """
    path = out_dir / CONFIG_FILE
    if not path.exists():
        requested.save(out_dir)
        return False
    existing = StudyConfig.load(out_dir)
    differences = differing_settings(existing, requested)
    if differences:
        raise ConfigurationMismatch(
            f"{out_dir} contains results made with other settings, which would be mixed with these: "
            + "; ".join(differences)
            + ". Choose another folder with --out, or repeat the original settings to resume."
        )
    return True


def limit_per_class(data: LeafData, limit: int) -> LeafData:
    """Keep the first ``limit`` images of each of the 22 classes, in their order."""
    classes = data.class_index
    kept = []
    for label in classes.unique().tolist():
        kept.append(torch.nonzero(classes == label).flatten()[:limit])
    return data.subset(torch.sort(torch.cat(kept)).values)


def load_study_data(
    source: str, profile_name: str, *, cache_dir: Path | None = None, progress: bool = True, data_seed: int = 0
) -> LeafData:
    """Load the images of a study: procedural leaves or the photos under a folder.

    ``source`` is ``"procedural"`` or the path of the photos. The profile decides the
    image size and, for the smoke profile, how many images of each class are kept.
    """
    profile = get_profile(profile_name)
    cache = default_cache_dir() if cache_dir is None else cache_dir
    if source == "procedural":
        return procedural_leaves(
            data_seed, profile.image_size, cache_dir=cache, limit_per_class=profile.limit_per_class, progress=progress
        )
    data = load_leaf_photos(source, profile.image_size, cache_dir=cache, progress=progress)
    if profile.limit_per_class is not None:
        data = limit_per_class(data, profile.limit_per_class)
    return data


def study_folds(data: LeafData, config: StudyConfig) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
    """Return, for each repeat r, the stratified folds drawn with seed ``config.seed + r``."""
    return [stratified_folds(data, k=config.folds, seed=config.seed + repeat) for repeat in range(config.repeats)]
