"""Reproduce the leaf study: every approach over cross-validation folds, with statistics.

``python -m mtllib reproduce`` runs it from the command line; the experiment notebook calls
:func:`run_approach`, and the book reads the tables with :func:`load_results`.
"""

from __future__ import annotations

from ._cli import add_arguments, experiment_notebook, run
from ._prepare import PreparedStudy, prepare_study
from ._results import (
    Results,
    collect_records,
    comparison_table,
    epochs_table,
    load_results,
    split_scores,
    summary_table,
    write_results,
)
from ._study import SINGLE_TASK_IDS, ConfigurationMismatch, StudyConfig, default_cache_dir, load_study_data
from ._units import Unit, run_approach

__all__ = [
    "SINGLE_TASK_IDS",
    "ConfigurationMismatch",
    "PreparedStudy",
    "Results",
    "StudyConfig",
    "Unit",
    "add_arguments",
    "collect_records",
    "comparison_table",
    "default_cache_dir",
    "epochs_table",
    "experiment_notebook",
    "load_results",
    "load_study_data",
    "prepare_study",
    "run",
    "run_approach",
    "split_scores",
    "summary_table",
    "write_results",
]
