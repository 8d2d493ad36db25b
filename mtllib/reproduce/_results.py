"""Tables of a finished reproduction: metrics, epochs, summary and significance tests."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..approaches import APPROACHES
from ..diagnostics import read_diagnostics
from ..paper import published_results
from ..stats import compare_approaches
from ._study import SINGLE_TASK_IDS

__all__ = [
    "Results",
    "comparison_table",
    "find_results",
    "load_results",
    "smoke_results",
    "split_scores",
    "summary_table",
    "write_results",
]

logger = logging.getLogger(__name__)

SINGLE_TASK_LABEL = "single-task"
TASKS = ("species", "health")
SCORE_COLUMNS = (
    "species_accuracy",
    "species_f1",
    "health_accuracy",
    "health_f1",
    "mean_accuracy",
    "mean_f1",
    "gap_accuracy",
    "gap_f1",
)
STATISTICS_METRICS = ("mean_accuracy", "mean_f1", "species_f1", "health_f1")
STATISTICS_COLUMNS = ("test", "metric", "approach", "reference", "mean_difference", "statistic", "degrees_of_freedom", "p_value")


@dataclass
class Results:
    """The tables of one output folder."""

    out_dir: Path
    metrics: pd.DataFrame
    epochs: pd.DataFrame
    summary: pd.DataFrame
    statistics: pd.DataFrame
    diagnostics: pd.DataFrame | None
    manifest: dict

    @property
    def profile(self) -> str:
        """Name of the profile the results were made with."""
        return str(self.manifest.get("config", {}).get("profile", "unknown"))


def collect_records(out_dir: Path) -> list[dict]:
    """Read every finished unit's JSON record under ``out_dir/runs``."""
    return [json.loads(path.read_text()) for path in sorted((Path(out_dir) / "runs").glob("*/r*-f*.json"))]


def metrics_table(records: list[dict]) -> pd.DataFrame:
    """Tabulate accuracy and support-weighted F1 per run × repeat × fold × task."""
    rows = []
    for record in records:
        for metric in record["metrics"]:
            rows.append(
                {
                    "approach": record["run"],
                    "repeat": record["repeat"],
                    "fold": record["fold"],
                    "task": metric["task"],
                    "accuracy": metric["accuracy"],
                    "f1": metric["f1"],
                    "train_size": record["train_size"],
                    "test_size": record["test_size"],
                    "seconds": record["seconds"],
                    "device": record["device"],
                }
            )
    columns = ["approach", "repeat", "fold", "task", "accuracy", "f1", "train_size", "test_size", "seconds", "device"]
    return pd.DataFrame(rows, columns=columns)


def epochs_table(records: list[dict]) -> pd.DataFrame:
    """Tabulate the mean loss of each task and the seconds per run × repeat × fold × epoch."""
    rows = []
    for record in records:
        for epoch in record["epochs"]:
            rows.append({"approach": record["run"], "repeat": record["repeat"], "fold": record["fold"], **epoch})
    return pd.DataFrame(rows)


def split_scores(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per approach and split (repeat, fold): each task's scores, their mean and their gap.

    The two single-task references are joined into one row per split, labelled
    ``single-task``: its species scores come from the species-only model and its health
    scores from the health-only model. The gap is health minus species.
    """
    frame = metrics.copy()
    frame["approach"] = frame["approach"].replace({run: SINGLE_TASK_LABEL for run in SINGLE_TASK_IDS})
    wide = frame.pivot_table(index=["approach", "repeat", "fold"], columns="task", values=["accuracy", "f1"])
    wide.columns = [f"{task}_{metric}" for metric, task in wide.columns]
    wide = wide.reset_index()
    for metric in ("accuracy", "f1"):
        columns = [f"{task}_{metric}" for task in TASKS]
        if all(column in wide for column in columns):
            wide[f"mean_{metric}"] = wide[columns].mean(axis=1, skipna=False)
            wide[f"gap_{metric}"] = wide[f"health_{metric}"] - wide[f"species_{metric}"]
    return wide


def _ordered_index(labels: list[str]) -> list[str]:
    letters = [letter for letter in APPROACHES if letter in labels]
    others = sorted(label for label in labels if label not in APPROACHES)
    return letters + others


def summary_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over splits of each score, in the layout of the published table.

    Columns ``<score>_mean`` and ``<score>_std`` for species and health accuracy and F1, their
    means over the tasks and their gaps, plus ``splits`` (the number of folds × repeats).
    """
    scores = split_scores(metrics)
    present = [column for column in SCORE_COLUMNS if column in scores]
    grouped = scores.groupby("approach")[present]
    summary = pd.concat([grouped.mean().add_suffix("_mean"), grouped.std(ddof=1).add_suffix("_std")], axis=1)
    ordered = [f"{column}_{kind}" for column in present for kind in ("mean", "std")]
    summary = summary[ordered]
    summary["splits"] = scores.groupby("approach").size()
    return summary.loc[_ordered_index(list(summary.index))]


def statistics_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Corrected resampled t-tests against A and against the best approach, and Friedman tests."""
    scores = split_scores(metrics)
    scores = scores[scores["approach"].isin(list(APPROACHES))]
    if scores.empty or scores["approach"].nunique() < 2:
        return pd.DataFrame(columns=list(STATISTICS_COLUMNS))

    sizes = metrics.drop_duplicates(["approach", "repeat", "fold"])
    test_fraction = float((sizes["test_size"] / sizes["train_size"]).mean())

    tables = []
    for metric in STATISTICS_METRICS:
        table = scores.pivot_table(index=["repeat", "fold"], columns="approach", values=metric).dropna()
        if len(table) < 2:
            logger.warning("Statistics for %s skipped: fewer than 2 splits are finished for every approach", metric)
            continue
        table = table[[letter for letter in APPROACHES if letter in table.columns]]
        tables.append(compare_approaches(table, metric, test_fraction))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=list(STATISTICS_COLUMNS))


def comparison_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Format our scores (mean ± standard deviation) beside the published ones."""
    published = published_results()
    rows = []
    for approach, values in summary.iterrows():
        row = {"approach": APPROACHES[approach].label if approach in APPROACHES else approach}
        for score, title in (
            ("species_accuracy", "species acc"),
            ("health_accuracy", "health acc"),
            ("mean_accuracy", "mean acc"),
            ("mean_f1", "mean F1"),
        ):
            mean = values.get(f"{score}_mean", np.nan)
            spread = values.get(f"{score}_std", np.nan)
            if pd.isna(mean):
                row[title] = "–"
            elif pd.isna(spread):
                row[title] = f"{mean:.3f}"
            else:
                row[title] = f"{mean:.3f} ± {spread:.3f}"
            row[f"{title} (paper)"] = f"{published.loc[approach, score]:.3f}" if approach in published.index else "–"
        rows.append(row)
    return pd.DataFrame(rows).set_index("approach")


def write_results(out_dir: Path) -> Results:
    """Aggregate the finished units of ``out_dir`` and write the result tables there."""
    out_dir = Path(out_dir)
    records = collect_records(out_dir)
    metrics = metrics_table(records)
    epochs = epochs_table(records)
    summary = summary_table(metrics) if not metrics.empty else pd.DataFrame()
    statistics = statistics_table(metrics) if not metrics.empty else pd.DataFrame(columns=list(STATISTICS_COLUMNS))

    metrics.to_csv(out_dir / "metrics.csv", index=False)
    epochs.to_csv(out_dir / "epochs.csv", index=False)
    summary.to_csv(out_dir / "summary.csv", index_label="approach")
    statistics.to_csv(out_dir / "statistics.csv", index=False)

    diagnostics = None
    parts = sorted((out_dir / "runs").glob("*/r*-f*.diagnostics.csv"))
    if parts:
        diagnostics = pd.concat([read_diagnostics(path) for path in parts], ignore_index=True)
        diagnostics.to_csv(out_dir / "diagnostics.csv", index=False)

    manifest_path = out_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    return Results(out_dir, metrics, epochs, summary, statistics, diagnostics, manifest)


def load_results(out_dir: str | Path) -> Results:
    """Read the result tables that ``python -m mtllib reproduce`` wrote in ``out_dir``."""
    out_dir = Path(out_dir)
    if not (out_dir / "summary.csv").exists():
        raise FileNotFoundError(
            f"{out_dir / 'summary.csv'} not found; run python -m mtllib reproduce --out {out_dir} first"
        )
    metrics = pd.read_csv(out_dir / "metrics.csv")
    epochs = pd.read_csv(out_dir / "epochs.csv")
    summary = pd.read_csv(out_dir / "summary.csv", index_col="approach")
    statistics = pd.read_csv(out_dir / "statistics.csv")
    # A compressed copy serves as well, as in the run committed with the book.
    found = [path for path in (out_dir / "diagnostics.csv", out_dir / "diagnostics.csv.gz") if path.exists()]
    diagnostics = read_diagnostics(found[0]) if found else None
    manifest_path = out_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    return Results(out_dir, metrics, epochs, summary, statistics, diagnostics, manifest)


def find_results(base: str | Path = "results", data: str = "procedural", profiles: tuple[str, ...] = ("paper", "quick")) -> Path | None:
    """Return the first finished output folder ``base/<profile>-<data>`` in ``profiles`` order, or None."""
    for profile in profiles:
        folder = Path(base) / f"{profile}-{data}"
        if (folder / "summary.csv").exists():
            return folder
    return None


def smoke_results(out_dir: str | Path) -> Results:
    """Run the whole study with the smoke profile into ``out_dir`` and return its tables.

    This takes a minute or two on a CPU; the scores are those of two epochs on 176 images
    and say nothing about the methods.
    """
    from ..__main__ import main

    status = main(["--log-level", "WARNING", "reproduce", "--profile", "smoke", "--out", str(out_dir)])
    if status != 0:
        raise RuntimeError(f"the smoke run into {out_dir} failed with exit status {status}; see the log above")
    return load_results(out_dir)
