"""Units of work of a reproduction: one approach, repeat and fold, trained and scored."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from ..approaches import get_approach
from ..data import Batches, LeafData
from ..training import EpochLog, build_model, evaluate, fit
from ._study import SINGLE_TASK_IDS, StudyConfig, load_study_data, study_folds

__all__ = ["Unit", "expand_run_ids", "pending_units", "plan_units", "resolve_device", "run_approach", "run_unit"]

logger = logging.getLogger(__name__)

EVALUATION_BATCH_SIZE = 256


@dataclass(frozen=True)
class Unit:
    """One training run: an approach (or single-task reference), a repeat and a fold."""

    run: str
    repeat: int
    fold: int

    @property
    def name(self) -> str:
        """A short label such as ``"F r0 f3"``."""
        return f"{self.run} r{self.repeat} f{self.fold}"

    def result_path(self, out_dir: Path) -> Path:
        """Return the path of the JSON file whose presence marks the unit finished."""
        return Path(out_dir) / "runs" / self.run / f"r{self.repeat}-f{self.fold}.json"

    def diagnostics_path(self, out_dir: Path) -> Path:
        """Return the path of the unit's tragic-triad records, written when diagnostics are on."""
        return Path(out_dir) / "runs" / self.run / f"r{self.repeat}-f{self.fold}.diagnostics.csv"


def expand_run_ids(run_id: str) -> list[str]:
    """Map a notebook's ``approach`` parameter to run ids: a letter, or ``"single"`` for both references."""
    if run_id == "single":
        return list(SINGLE_TASK_IDS)
    if run_id in SINGLE_TASK_IDS:
        return [run_id]
    return [get_approach(run_id).letter]


def plan_units(run_ids: Sequence[str], config: StudyConfig) -> list[Unit]:
    """List every unit of the given runs, repeat by repeat and fold by fold."""
    return [
        Unit(run, repeat, fold)
        for run in run_ids
        for repeat in range(config.repeats)
        for fold in range(config.folds)
    ]


def pending_units(out_dir: Path, units: Sequence[Unit]) -> list[Unit]:
    """Return the units without a result file."""
    return [unit for unit in units if not unit.result_path(out_dir).exists()]


def resolve_device(device: str) -> torch.device:
    """Turn ``auto``, ``cpu`` or ``cuda[:n]`` into a device, checking that CUDA is there."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was requested but no CUDA GPU is available; use --device cpu or auto")
        return torch.device(device)
    raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")


def unit_seed(config: StudyConfig, unit: Unit) -> int:
    """Seed of a unit's initial weights and batch order.

    It depends on the repeat and fold but not on the approach, so every approach starts a
    fold from the same weights and sees the same batches: the comparisons are paired.
    """
    return config.seed + 100 * unit.repeat + unit.fold


def _task_setup(run: str, data: LeafData) -> tuple[str, tuple[int, ...], tuple[int, ...]]:
    """Return the approach letter, the classes per head and the data tasks a run trains."""
    if run in SINGLE_TASK_IDS:
        task = SINGLE_TASK_IDS.index(run)
        return "A", (data.num_classes[task],), (task,)
    return get_approach(run).letter, tuple(data.num_classes), tuple(range(len(data.num_classes)))


def run_unit(
    unit: Unit,
    data: LeafData,
    images: torch.Tensor,
    folds: list[list[tuple[torch.Tensor, torch.Tensor]]],
    config: StudyConfig,
    device: torch.device,
    *,
    diagnostics: bool = False,
    on_epoch: Callable[[Unit, EpochLog], None] | None = None,
) -> tuple[dict, object | None]:
    """Train and score one unit; return its result record (not yet written) and its recorder.

    ``images`` is ``data.images`` already moved to ``device``, shared by all units. The
    recorder is the unit's tragic-triad recorder when ``diagnostics`` is on, else None.
    """
    letter, num_classes, tasks = _task_setup(unit.run, data)
    train_index, test_index = folds[unit.repeat][unit.fold]
    seed = unit_seed(config, unit)
    train_config = dataclasses.replace(config.train_config(), seed=seed)

    all_targets = tuple(labels.to(device) for labels in data.targets)
    targets = tuple(all_targets[task] for task in tasks)
    train = Batches(
        images, targets, train_index, train_config.batch_size, shuffle=True,
        generator=torch.Generator().manual_seed(seed), device=device,
    )
    test = Batches(images, targets, test_index, EVALUATION_BATCH_SIZE, shuffle=False, device=device)

    model = build_model(letter, num_classes, train_config).to(device)
    recorder = None
    if diagnostics:
        from ..diagnostics import TriadRecorder

        recorder = TriadRecorder(context={"approach": unit.run, "repeat": unit.repeat, "fold": unit.fold})

    logger.info("Started %s: %d training and %d test images on %s", unit.name, len(train_index), len(test_index), device)
    started = time.perf_counter()
    result = fit(
        model, train, letter, train_config, observer=recorder,
        on_epoch=None if on_epoch is None else (lambda log: on_epoch(unit, log)),
    )
    scores = evaluate(model, test)
    seconds = time.perf_counter() - started

    task_names = [data.task_names[task] for task in tasks]
    record = {
        "run": unit.run,
        "approach": letter,
        "repeat": unit.repeat,
        "fold": unit.fold,
        "seed": seed,
        "tasks": task_names,
        "metrics": [{"task": name, **score} for name, score in zip(task_names, scores)],
        "train_size": int(len(train_index)),
        "test_size": int(len(test_index)),
        "seconds": seconds,
        "device": str(device),
        "epochs": [
            {
                "epoch": log.epoch,
                "phase": log.phase,
                "seconds": log.seconds,
                "mask_search_seconds": log.mask_search_seconds,
                **{f"loss_{name}": loss for name, loss in zip(task_names, log.losses)},
            }
            for log in result.history
        ],
        "mask_overlap": None if result.mask_overlap is None else result.mask_overlap.to_dict(orient="records"),
    }
    summary = ", ".join(f"{m['task']} accuracy {m['accuracy']:.3f} F1 {m['f1']:.3f}" for m in record["metrics"])
    logger.info("Finished %s in %.1f s: %s", unit.name, seconds, summary)
    return record, recorder


def write_json_atomically(path: Path, record: dict) -> None:
    """Write ``record`` so that an interruption leaves either no file or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(record, indent=1) + "\n")
    temporary.replace(path)


def run_approach(out_dir: str | Path, approach: str, device: str = "auto", diagnostics: bool = False) -> pd.DataFrame:
    """Train every unfinished fold of one approach of a reproduction in ``out_dir``.

    This is what the experiment notebook runs. The settings come from ``config.json`` in
    ``out_dir``, which ``python -m mtllib reproduce`` wrote; the data are loaded from the
    cache and checked against the configuration's fingerprint. Each finished unit is
    written at once, so an interruption loses at most the unit in progress.

    Args:
        out_dir: the reproduction's output folder.
        approach: a letter A–H, or ``"single"`` for the two single-task references.
        device: ``auto``, ``cpu`` or ``cuda``.
        diagnostics: record the tragic triad during training.

    Returns:
        One row per task of each unit of this approach, finished now or before.
    """
    out_dir = Path(out_dir)
    config = StudyConfig.load(out_dir)
    run_ids = expand_run_ids(approach)
    torch_device = resolve_device(device)

    units = plan_units(run_ids, config)
    todo = pending_units(out_dir, units)
    if todo:
        data = load_study_data(config.data, config.profile, progress=False)
        if data.fingerprint() != config.data_fingerprint:
            raise ValueError(
                f"the data at {config.data} no longer match the fingerprint in {out_dir / 'config.json'}; "
                "start a new run with another --out"
            )
        folds = study_folds(data, config)
        images = data.images.to(torch_device)
        progress_path = out_dir / "progress" / f"{approach}.json"

        def report_epoch(unit: Unit, log: EpochLog) -> None:
            write_json_atomically(progress_path, {"unit": unit.name, "run": unit.run, "repeat": unit.repeat, "fold": unit.fold, "epoch": log.epoch + 1})

        for unit in todo:
            record, recorder = run_unit(unit, data, images, folds, config, torch_device, diagnostics=diagnostics, on_epoch=report_epoch)
            if recorder is not None:
                recorder.write_csv(unit.diagnostics_path(out_dir))
            write_json_atomically(unit.result_path(out_dir), record)
    else:
        logger.info("All %d units of %s are finished already", len(units), approach)

    rows = []
    for unit in units:
        record = json.loads(unit.result_path(out_dir).read_text())
        for metric in record["metrics"]:
            rows.append({"run": unit.run, "repeat": unit.repeat, "fold": unit.fold, **metric})
    return pd.DataFrame(rows)

