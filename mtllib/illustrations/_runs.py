"""Tables and figures of single-fold runs of :func:`mtllib.reproduce.train_fold`."""

from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ..data import TASK_NAMES
from ..plots import PALETTE
from ..reproduce import FoldRun

__all__ = ["fold_scores_table", "plot_fold_losses"]


def fold_scores_table(runs: Mapping[str, FoldRun]) -> pd.DataFrame:
    """Tabulate each run's test accuracy and F1 per task, its last training loss per task and its training time.

    ``runs`` maps a label (such as an approach letter) to a run of
    :func:`mtllib.reproduce.train_fold`. ``training_seconds`` is the wall-clock time of all
    epochs, the LaSS mask search included.
    """
    rows = []
    for label, run in runs.items():
        last = run.result.history[-1].losses if run.result.history else [math.nan] * len(run.scores)
        seconds = sum(log.seconds for log in run.result.history)
        for task, (name, scores) in enumerate(zip(TASK_NAMES, run.scores)):
            rows.append(
                {
                    "run": label,
                    "approach": run.approach.label,
                    "task": name,
                    "accuracy": scores["accuracy"],
                    "f1": scores["f1"],
                    "last_training_loss": last[task],
                    "training_seconds": seconds,
                }
            )
    return pd.DataFrame(rows)


def plot_fold_losses(runs: Mapping[str, FoldRun]) -> Figure:
    """Draw each run's mean training loss per epoch, one panel per task.

    A dotted line before an epoch marks a LaSS run's first masked epoch (the switch to masks).
    """
    records = []
    switches = set()
    for label, run in runs.items():
        previous_phase = None
        for log in run.result.history:
            for name, loss in zip(TASK_NAMES, log.losses):
                records.append({"run": label, "task": name, "epoch": log.epoch + 1, "loss": loss})
            if log.phase == "masked" and previous_phase != "masked":
                switches.add(log.epoch + 1)
            previous_phase = log.phase
    frame = pd.DataFrame(records)

    tasks = list(dict.fromkeys(frame["task"]))
    figure, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 3.8), layout="constrained", squeeze=False)
    for ax, task in zip(axes[0], tasks):
        sns.lineplot(frame[frame["task"] == task], x="epoch", y="loss", hue="run", style="run", palette=PALETTE, markers=True, ax=ax)
        for epoch in sorted(switches):
            ax.axvline(epoch - 0.5, color="black", linewidth=0.8, linestyle=":")
        ax.set_title(task)
        ax.set_xlabel("epoch")
        ax.set_ylabel("training cross-entropy (nats)")
        ax.xaxis.get_major_locator().set_params(integer=True)
    return figure
