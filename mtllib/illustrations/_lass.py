"""LaSS masks against random masks, the pruning fraction alpha, and weights outside a task's mask."""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
import torch.nn.functional as F
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from torch import Tensor

from .. import lass
from ..data import TASK_NAMES, LeafData
from ..plots import PALETTE
from ..reproduce import FoldRun, train_fold

__all__ = [
    "alpha_sweep",
    "outside_mask_drift",
    "overlap_with_random",
    "plot_alpha_sweep",
    "plot_mask_agreement",
    "plot_mask_overlap",
    "random_overlap",
]

logger = logging.getLogger(__name__)


def random_overlap(kept_i: float, kept_j: float) -> tuple[float, float]:
    """Return the expected shared fraction and IoU of two independent random masks with these densities.

    Entries are kept independently with probabilities ``kept_i`` and ``kept_j``, so both keep
    an entry with probability kept_i · kept_j, and the IoU is that over
    kept_i + kept_j − kept_i · kept_j (1 when both masks are empty). For two masks of density
    0.5: shared 0.25, IoU 1/3.
    """
    for name, value in (("kept_i", kept_i), ("kept_j", kept_j)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be a fraction in [0, 1], got {value!r}")
    shared = kept_i * kept_j
    union = kept_i + kept_j - shared
    return shared, shared / union if union > 0 else 1.0


def overlap_with_random(overlap: pd.DataFrame) -> pd.DataFrame:
    """Add ``random_shared`` and ``random_iou`` to a :func:`mtllib.lass.mask_overlap` table.

    They are what two independent random masks with the rows' densities would give, from
    :func:`random_overlap`.
    """
    frame = overlap.copy()
    expected = [random_overlap(i, j) for i, j in zip(frame["kept_i"], frame["kept_j"])]
    frame["random_shared"] = [shared for shared, _ in expected]
    frame["random_iou"] = [iou for _, iou in expected]
    return frame


def plot_mask_overlap(overlap: pd.DataFrame) -> Figure:
    """Draw, per layer, the shared fraction and IoU of the two task masks beside random masks of the same density."""
    frame = overlap_with_random(overlap)
    records = []
    for _, row in frame.iterrows():
        for measure, observed, expected in (("shared fraction", "shared", "random_shared"), ("IoU", "iou", "random_iou")):
            records.append({"layer": row["layer"], "measure": measure, "masks": "LaSS masks", "value": row[observed]})
            records.append({"layer": row["layer"], "measure": measure, "masks": "random masks, same density", "value": row[expected]})
    long = pd.DataFrame(records)

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.0), layout="constrained")
    titles = {"shared fraction": "entries kept by both masks", "IoU": "intersection over union of the masks"}
    for ax, measure in zip(axes, ("shared fraction", "IoU")):
        sns.barplot(long[long["measure"] == measure], x="layer", y="value", hue="masks", palette=PALETTE, ax=ax, errorbar=None)
        ax.set_title(titles[measure])
        ax.set_xlabel("layer")
        ax.set_ylabel(f"{measure} (0–1)")
        ax.set_ylim(0, 1.2)
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.legend(fontsize="small", loc="upper left", ncols=2)
    return figure


def plot_mask_agreement(
    masks: Tensor, task_names: Sequence[str] = TASK_NAMES, *, rows: int = 32, columns: int = 64, title: str = ""
) -> Figure:
    """Draw the top-left ``rows`` × ``columns`` block of two task masks (T×out×in), coloured by which task keeps each weight."""
    if masks.dim() != 3 or masks.shape[0] != 2:
        raise ValueError(f"masks must have shape (2, out, in), got {tuple(masks.shape)}")
    block = masks[:, :rows, :columns].cpu()
    category = (block[0].long() * 2 + block[1].long()).numpy()  # 0 neither, 1 second only, 2 first only, 3 both
    colours = sns.color_palette(PALETTE)
    labels = ["neither", f"{task_names[1]} only", f"{task_names[0]} only", "both"]
    cmap = ListedColormap([(0.92, 0.92, 0.92), colours[1], colours[0], colours[2]])

    figure, ax = plt.subplots(figsize=(10, 10 * block.shape[1] / block.shape[2] * 0.55 + 1.2), layout="constrained")
    ax.imshow(category, cmap=cmap, vmin=-0.5, vmax=3.5, interpolation="nearest", aspect="auto")
    ax.set_xlabel("input unit (column of W)")
    ax.set_ylabel("output unit (row of W)")
    if title:
        ax.set_title(title)
    counts = np.bincount(category.ravel(), minlength=4) / category.size
    handles = [Patch(color=cmap(index), label=f"{labels[index]} ({counts[index]:.0%})") for index in (3, 2, 1, 0)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return figure


def alpha_sweep(
    data: LeafData,
    alphas: Sequence[float],
    *,
    profile: str,
    fold: int = 0,
    seed: int = 0,
    runs: Mapping[float, FoldRun] | None = None,
    **overrides: object,
) -> tuple[pd.DataFrame, dict[float, FoldRun]]:
    """Train approach B (LaSS) on one fold once per pruning fraction alpha and tabulate the scores.

    Args:
        data: the leaf images.
        alphas: pruning fractions in [0, 1).
        profile: the training profile. ``overrides`` replace fields of its configuration.
        fold, seed: which fold of :func:`mtllib.reproduce.train_fold` and its seed.
        runs: runs already trained with these settings, by alpha, to reuse instead of training again.

    Returns:
        A table with one row per alpha and task (``alpha``, ``task``, ``accuracy``, ``f1``,
        ``kept_fraction`` and ``iou``, the masks' mean density and IoU over all masked weights),
        and the runs by alpha.
    """
    trained = dict(runs or {})
    rows = []
    for alpha in alphas:
        if alpha not in trained:
            logger.info("Training approach B with alpha %.2f", alpha)
            trained[alpha] = train_fold("B", data, profile=profile, fold=fold, seed=seed, lass_alpha=alpha, **overrides)
        run = trained[alpha]
        overlap = run.result.mask_overlap
        pooled = overlap[overlap["layer"] == "all"].iloc[0] if overlap is not None else None
        for task, scores in zip(TASK_NAMES, run.scores):
            rows.append(
                {
                    "alpha": alpha,
                    "task": task,
                    "accuracy": scores["accuracy"],
                    "f1": scores["f1"],
                    "kept_fraction": (pooled["kept_i"] + pooled["kept_j"]) / 2 if pooled is not None else math.nan,
                    "iou": pooled["iou"] if pooled is not None else math.nan,
                }
            )
    return pd.DataFrame(rows), trained


def plot_alpha_sweep(sweep: pd.DataFrame, metric: str = "accuracy") -> Figure:
    """Draw each task's test score against the pruning fraction alpha, with the masks' IoU beside it."""
    if metric not in ("accuracy", "f1"):
        raise ValueError(f"metric must be 'accuracy' or 'f1', got {metric!r}")
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    sns.lineplot(sweep, x="alpha", y=metric, hue="task", palette=PALETTE, marker="o", ax=left)
    left.set_xlabel("pruning fraction alpha")
    left.set_ylabel(f"{'accuracy' if metric == 'accuracy' else 'weighted F1'} on the test fold (0–1)")
    left.set_ylim(0, 1.02)
    per_alpha = sweep.drop_duplicates("alpha")
    right.plot(per_alpha["alpha"], per_alpha["iou"], marker="o", color=sns.color_palette(PALETTE)[2], label="LaSS masks")
    random_iou = [random_overlap(kept, kept)[1] for kept in per_alpha["kept_fraction"]]
    right.plot(per_alpha["alpha"], random_iou, marker="x", linestyle="--", color="grey", label="random masks, same density")
    right.set_xlabel("pruning fraction alpha")
    right.set_ylabel("IoU of the two task masks (0–1)")
    right.set_ylim(0, 1.02)
    right.legend(fontsize="small")
    return figure


def outside_mask_drift(*, seed: int = 0, in_features: int = 16, out_features: int = 8) -> pd.DataFrame:
    """Show that an Adam step of one task moves weights outside its mask unless they are restored.

    One :class:`mtllib.lass.MaskedLinear` layer with two tasks takes a joint, unmasked Adam
    step (which fills Adam's moment estimates), then gets masks of density 0.5 and takes one
    step on task 0's loss alone, once plainly and once inside
    :func:`mtllib.lass.keep_outside_masks`. Task 0's gradient is zero outside its mask, yet
    Adam's first moment still moves those weights. The global random generator is left as it was.

    Returns:
        One row per variant with the fraction of weights inside and outside task 0's mask that
        changed in the task-0 step, and the largest change outside the mask.
    """
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(32, in_features, generator=generator)
    targets = [torch.randn(32, out_features, generator=generator) for _ in range(2)]
    with torch.random.fork_rng(devices=[]):
        template = lass.MaskedLinear(in_features, out_features, num_tasks=2)
    with torch.no_grad():
        template.weight.copy_(torch.randn(out_features, in_features, generator=generator) * 0.3)
        template.bias.zero_()
    masks = torch.stack(
        [lass.magnitude_mask(torch.rand(out_features, in_features, generator=generator), 0.5) for _ in range(2)]
    )

    rows = []
    for variant, restore in (("plain Adam step", False), ("Adam step inside keep_outside_masks", True)):
        layer = copy.deepcopy(template)
        optimizer = torch.optim.Adam(layer.parameters(), lr=0.01)
        optimizer.zero_grad()
        sum(F.mse_loss(layer(x), target) for target in targets).backward()
        optimizer.step()

        layer.set_masks(masks)
        before = layer.weight.detach().clone()
        optimizer.zero_grad()
        F.mse_loss(layer(x, 0), targets[0]).backward()
        if restore:
            with lass.keep_outside_masks(layer, [0]):
                optimizer.step()
        else:
            optimizer.step()

        changed = layer.weight.detach() != before
        inside = masks[0]
        rows.append(
            {
                "variant": variant,
                "changed_inside": float(changed[inside].float().mean()),
                "changed_outside": float(changed[~inside].float().mean()),
                "max_change_outside": float((layer.weight.detach() - before).abs()[~inside].max()),
            }
        )
    return pd.DataFrame(rows).set_index("variant")
