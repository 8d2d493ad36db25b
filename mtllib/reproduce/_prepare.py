"""Setting up an output folder: configuration, data, folds and manifest."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from ..data import LeafData
from ..profiles import get_profile
from ._manifest import build_manifest, write_manifest
from ._study import CONFIG_FILE, StudyConfig, check_or_save, load_study_data, study_folds

__all__ = ["PreparedStudy", "prepare_study"]

logger = logging.getLogger(__name__)


@dataclass
class PreparedStudy:
    """An output folder ready for :func:`~mtllib.reproduce.run_approach`."""

    out_dir: Path
    config: StudyConfig
    data: LeafData
    resumed: bool


def prepare_study(
    out_dir: str | Path,
    *,
    profile: str,
    data: str = "procedural",
    folds: int | None = None,
    repeats: int = 1,
    seed: int = 0,
    single_task: bool = True,
    pcgrad_mode: str = "shared",
    device: torch.device | str = "cpu",
    approaches: list[str] | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> PreparedStudy:
    """Load the data and write ``config.json``, ``folds.csv`` and ``manifest.json`` in ``out_dir``.

    A folder that already holds a configuration is resumed only when every setting is equal;
    otherwise :class:`~mtllib.reproduce.ConfigurationMismatch` names the differences, and
    nothing in the folder is changed.

    Args:
        out_dir: the output folder, created if needed.
        profile: ``smoke``, ``quick`` or ``paper``.
        data: ``procedural`` or the folder of the leaf photos.
        folds: number of folds k; default the profile's.
        repeats: how many times the k-fold split is drawn, with seeds ``seed + r``.
        seed: seed of the folds and of the units' initial weights.
        single_task: also train the two single-task references.
        pcgrad_mode: ``shared`` (the rule of Yu et al.) or ``wrapper``.
        device: recorded in the manifest.
        approaches: recorded in the manifest.
        cache_dir: where decoded images are cached; default ``~/.cache/mtllib``.
        progress: show progress bars while loading.
    """
    chosen = get_profile(profile)
    folds = chosen.folds if folds is None else folds
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ValueError(f"folds must be an int >= 2, got {folds!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")

    source = data if data == "procedural" else str(Path(data).expanduser().resolve())
    train = chosen.train_config(seed=seed, pcgrad_mode=pcgrad_mode).to_dict()
    settings = {
        "profile": profile,
        "data": source,
        "limit_per_class": chosen.limit_per_class,
        "image_size": chosen.image_size,
        "folds": folds,
        "repeats": repeats,
        "seed": seed,
        "single_task": single_task,
        "train": train,
    }
    out_dir = Path(out_dir)

    # Settings that do not depend on the images are compared before the data are loaded, so
    # that a mismatch is reported at once rather than after decoding or drawing every image.
    if (out_dir / CONFIG_FILE).exists():
        existing = StudyConfig.load(out_dir)
        early = StudyConfig(data_fingerprint=existing.data_fingerprint, data_size=existing.data_size, **settings)
        check_or_save(out_dir, early)

    leaf_data = load_study_data(source, profile, cache_dir=cache_dir, progress=progress)
    config = StudyConfig(data_fingerprint=leaf_data.fingerprint(), data_size=len(leaf_data), **settings)
    resumed = check_or_save(out_dir, config)
    if not (out_dir / "folds.csv").exists():
        _write_folds(out_dir, leaf_data, config)
    device = torch.device(device)
    write_manifest(out_dir, build_manifest(config, device, approaches or [], source))
    logger.info("%s %s: %d images, %d folds x %d repeats", "Resuming" if resumed else "Prepared", out_dir, len(leaf_data), folds, repeats)
    return PreparedStudy(out_dir, config, leaf_data, resumed)


def _write_folds(out_dir: Path, data: LeafData, config: StudyConfig) -> None:
    """Write which fold holds each image as test data, per repeat."""
    table = pd.DataFrame({"file": list(data.files), "species": data.species.tolist(), "health": data.health.tolist()})
    for repeat, splits in enumerate(study_folds(data, config)):
        assignment = torch.full((len(data),), -1, dtype=torch.int64)
        for fold, (_, test_index) in enumerate(splits):
            assignment[test_index] = fold
        table[f"repeat_{repeat}"] = assignment.tolist()
    table.to_csv(out_dir / "folds.csv", index_label="index")
