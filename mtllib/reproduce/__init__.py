"""Reproduce the leaf study: every approach over cross-validation folds, with statistics.

``python -m mtllib reproduce`` runs it from the command line; the experiment notebook calls
:func:`run_approach`, and the book reads the tables with :func:`load_results`.
"""

from __future__ import annotations

from ._claims import check_claims
from ._cli import add_arguments, experiment_notebook, run
from ._fold import FoldRun, train_fold
from ._prepare import PreparedStudy, prepare_study
from ._results import (
    Results,
    collect_records,
    comparison_table,
    epochs_table,
    find_results,
    load_results,
    smoke_results,
    split_scores,
    summary_table,
    write_results,
)
from ._study import SINGLE_TASK_IDS, ConfigurationMismatch, StudyConfig, default_cache_dir, load_study_data
from ._units import Unit, run_approach

__all__ = [
    "SINGLE_TASK_IDS",
    "ConfigurationMismatch",
    "FoldRun",
    "PreparedStudy",
    "Results",
    "StudyConfig",
    "Unit",
    "add_arguments",
    "check_claims",
    "collect_records",
    "comparison_table",
    "default_cache_dir",
    "epochs_table",
    "experiment_notebook",
    "find_results",
    "load_results",
    "load_study_data",
    "prepare_study",
    "run",
    "run_approach",
    "smoke_results",
    "split_scores",
    "summary_table",
    "train_fold",
    "write_results",
]
