"""PCGrad in two dimensions, and the rule of Yu et al. (2020) against the wrapper-compatible mode on LeafNet."""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor, nn

from .._tasks import Batch, LossFunction
from ..data import TASK_NAMES
from ..diagnostics import gradient_similarity
from ..models import LeafNet
from ..pcgrad import PCGrad, project_conflicting
from ..plots import PALETTE

__all__ = [
    "MODE_LABELS",
    "compare_pcgrad_modes",
    "compare_pcgrad_modes_over_batches",
    "find_conflicting_batch",
    "pcgrad_2d",
    "plot_pcgrad_2d",
    "plot_pcgrad_modes",
]

logger = logging.getLogger(__name__)


MODE_LABELS = {"shared": "shared (Yu et al.)", "wrapper": "wrapper (Tseng)"}
"""Row labels of :func:`compare_pcgrad_modes` for the two modes of :class:`mtllib.PCGrad`."""


def pcgrad_2d(g1: Sequence[float], g2: Sequence[float]) -> dict[str, np.ndarray]:
    """Apply PCGrad to two 2-D task gradients and return g1, g2, their projections and sums."""
    grads = torch.tensor([list(g1), list(g2)], dtype=torch.float64)
    if grads.shape != (2, 2):
        raise ValueError(f"g1 and g2 must be 2-D vectors, got shapes {len(g1)} and {len(g2)}")
    projected = project_conflicting(grads, reduction="none", generator=torch.Generator().manual_seed(0))
    return {
        "g1": grads[0].numpy(),
        "g2": grads[1].numpy(),
        "g1_projected": projected[0].numpy(),
        "g2_projected": projected[1].numpy(),
        "sum": grads.sum(dim=0).numpy(),
        "pcgrad_sum": projected.sum(dim=0).numpy(),
    }


def _arrow(
    ax: plt.Axes, end: np.ndarray, colour: object, label: str, *, linewidth: float = 2.0, linestyle: str = "-", zorder: int = 2
) -> None:
    """Draw an arrow from the origin to ``end`` and a legend entry in the same style."""
    ax.annotate(
        "", xy=tuple(end), xytext=(0.0, 0.0), zorder=zorder,
        arrowprops={"arrowstyle": "-|>", "color": colour, "lw": linewidth, "linestyle": linestyle, "shrinkA": 0, "shrinkB": 0},
    )
    ax.plot([], [], color=colour, label=label, linewidth=linewidth, linestyle=linestyle)


def plot_pcgrad_2d(pairs: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> Figure:
    """Draw PCGrad on 2-D gradient pairs, one panel per pair, titled by its key.

    Each panel shows g1 and g2 (solid) and, where they differ from the originals, their
    projections g1' and g2' (dashed). Dotted lines from g1' to g1 and from g2' to g2 show the
    part that projection removed. The plain sum g1 + g2 is grey and the PCGrad update
    g1' + g2' black. All panels share their axis limits.
    """
    colours = sns.color_palette(PALETTE)
    computed = {title: pcgrad_2d(g1, g2) for title, (g1, g2) in pairs.items()}
    points = np.stack([np.zeros(2)] + [vector for vectors in computed.values() for vector in vectors.values()])
    low, high = points.min(axis=0) - 0.3, points.max(axis=0) + 0.3

    figure, axes = plt.subplots(1, len(pairs), figsize=(4.4 * len(pairs), 5.0), layout="constrained", squeeze=False)
    for ax, (title, vectors) in zip(axes[0], computed.items()):
        _arrow(ax, vectors["sum"], "grey", "g1 + g2 (plain sum)", linewidth=4.0, zorder=1)
        _arrow(ax, vectors["g1"], colours[0], "g1")
        _arrow(ax, vectors["g2"], colours[1], "g2")
        for name, colour in (("g1", colours[0]), ("g2", colours[1])):
            original, projected = vectors[name], vectors[f"{name}_projected"]
            if not np.allclose(original, projected):
                _arrow(ax, projected, colour, f"{name}' (projected)", linestyle="--", zorder=3)
                ax.plot(*zip(projected, original), color=colour, linewidth=1.2, linestyle=":")
        _arrow(ax, vectors["pcgrad_sum"], "black", "PCGrad update g1' + g2'", linewidth=2.5, zorder=4)

        ax.set_xlim(low[0], high[0])
        ax.set_ylim(low[1], high[1])
        ax.set_aspect("equal")
        ax.axhline(0, color="black", linewidth=0.5)
        ax.axvline(0, color="black", linewidth=0.5)
        ax.set_xlabel("component along θ₁ (loss per unit of θ₁)")
        ax.set_ylabel("component along θ₂ (loss per unit of θ₂)")
        g1, g2 = vectors["g1"], vectors["g2"]
        cosine = float(np.dot(g1, g2) / (np.linalg.norm(g1) * np.linalg.norm(g2)))
        ax.set_title(f"{title}: cos(g1, g2) = {cosine:.2f}")
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2)
    return figure


def _shared_cosine(model: nn.Module, batch: Batch, loss_fn: LossFunction) -> float:
    x, targets = batch
    shared = list(model.shared_parameters())
    losses = [loss_fn(logits, target) for logits, target in zip(model.forward_all(x), targets)]
    gradients = []
    for task, loss in enumerate(losses):
        parts = torch.autograd.grad(loss, shared, retain_graph=task < len(losses) - 1, allow_unused=True)
        gradients.append(torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(parts, shared)]))
    return _cosine(gradients[0], gradients[1])


def find_conflicting_batch(
    model: LeafNet, batches: Iterable[Batch], *, max_batches: int = 50, loss_fn: LossFunction = F.cross_entropy
) -> tuple[Batch, float, int]:
    """Find a batch on which the first two tasks' gradients on the shared parameters conflict.

    Batches are visited in order, up to ``max_batches``, with the model in training mode (so
    batch normalisation uses batch statistics and updates its running ones, as in training).

    Returns:
        The first batch whose shared-gradient cosine is below 0, that cosine and the number of
        batches examined. When no batch conflicts, the batch with the smallest cosine takes
        the place of the first.
    """
    model.train()
    best: tuple[Batch, float] | None = None
    examined = 0
    for batch in batches:
        if examined >= max_batches:
            break
        examined += 1
        cosine = _shared_cosine(model, batch, loss_fn)
        if best is None or cosine < best[1]:
            best = (batch, cosine)
        if cosine < 0:
            break
    if best is None:
        raise ValueError("batches must contain at least one batch, got none")
    if best[1] >= 0:
        logger.warning("No conflicting batch among %d; returning the one with the smallest cosine %.3f", examined, best[1])
    return best[0], best[1], examined


def _cosine(a: Tensor, b: Tensor) -> float:
    return gradient_similarity(a, b)["cosine"]


def _flat_slices(parameters: Sequence[nn.Parameter]) -> list[slice]:
    slices, offset = [], 0
    for parameter in parameters:
        slices.append(slice(offset, offset + parameter.numel()))
        offset += parameter.numel()
    return slices


def compare_pcgrad_modes(
    model: LeafNet, batch: Batch, *, seed: int = 0, loss_fn: LossFunction = F.cross_entropy
) -> pd.DataFrame:
    """Apply PCGrad in ``"shared"`` and ``"wrapper"`` mode to the same batch and compare what they write.

    Each mode runs on its own copy of ``model`` (training mode, same batch, so the same task
    gradients). The model must have two tasks and no Modulation Module.

    Returns:
        One row per mode (labelled as in ``MODE_LABELS``) with these columns:

        * ``cosine_before``: cosine of the two tasks' original gradients on the shared parameters;
        * ``cosine_0_after`` / ``cosine_1_after``: cosine of task 0's (task 1's) projected
          shared gradient with the other task's original shared gradient. PCGrad's rule makes
          it 0 for a conflicting pair of tasks and leaves it unchanged otherwise;
        * ``head_change_0`` / ``head_change_1``: ‖update of head t − g_t on head t‖ / ‖g_t on
          head t‖, how far a head's update differs from its own task's gradient (NaN when
          that gradient is zero);
        * ``shared_update_norm``: the norm of the update written into the shared parameters.
    """
    if getattr(model, "num_tasks", None) != 2 or getattr(model, "has_modulation", False):
        raise ValueError("model must be a LeafNet with two tasks and no Modulation Module")
    x, targets = batch
    names = [name for name, _ in model.named_parameters()]
    shared_ids = {id(p) for p in model.shared_parameters()}
    shared_names = [name for name, p in model.named_parameters() if id(p) in shared_ids]
    head_names = [[f"heads.{t}.{suffix}" for suffix in ("weight", "bias")] for t in range(2)]

    # The task gradients on every parameter, from a copy, as the reference for both modes.
    reference = copy.deepcopy(model).train()
    parameters = dict(reference.named_parameters())
    losses = [loss_fn(logits, target) for logits, target in zip(reference.forward_all(x), targets)]
    task_gradients = []
    for task, loss in enumerate(losses):
        parts = torch.autograd.grad(loss, list(parameters.values()), retain_graph=task == 0, allow_unused=True)
        task_gradients.append({name: (g if g is not None else torch.zeros_like(parameters[name])) for name, g in zip(parameters, parts)})

    def flat(gradients: Mapping[str, Tensor], selected: Sequence[str]) -> Tensor:
        return torch.cat([gradients[name].reshape(-1) for name in selected])

    original = [flat(gradients, shared_names) for gradients in task_gradients]
    rows = []
    for mode in ("shared", "wrapper"):
        copied = copy.deepcopy(model).train()
        named = dict(copied.named_parameters())
        optimizer = torch.optim.SGD([named[name] for name in names], lr=0.0)
        shared = [named[name] for name in shared_names] if mode == "shared" else None
        pcgrad = PCGrad(optimizer, shared, mode=mode, seed=seed, keep_gradients=True)
        optimizer.zero_grad(set_to_none=True)
        pcgrad.backward([loss_fn(logits, target) for logits, target in zip(copied.forward_all(x), targets)])

        projected = pcgrad.last_projected
        assert projected is not None
        # Columns of the projected matrix: the projected parameters, flattened in their order.
        projected_parameters = pcgrad.shared_parameters
        columns = {id(p): part for p, part in zip(projected_parameters, _flat_slices(projected_parameters))}
        projected_shared = [
            torch.cat([projected[task, columns[id(named[name])]] for name in shared_names]) for task in range(2)
        ]
        update = {name: named[name].grad for name in names}

        row = {
            "mode": MODE_LABELS[mode],
            "cosine_before": _cosine(original[0], original[1]),
            "cosine_0_after": _cosine(projected_shared[0], original[1]),
            "cosine_1_after": _cosine(projected_shared[1], original[0]),
        }
        for task in range(2):
            own = flat(task_gradients[task], head_names[task])
            written = flat(update, head_names[task])
            own_norm = float(own.norm())
            row[f"head_change_{task}"] = float((written - own).norm()) / own_norm if own_norm > 0 else math.nan
        row["shared_update_norm"] = float(flat(update, shared_names).norm())
        rows.append(row)
    return pd.DataFrame(rows).set_index("mode")


def compare_pcgrad_modes_over_batches(
    model: LeafNet,
    batches: Iterable[Batch],
    *,
    max_batches: int = 20,
    seed: int = 0,
    loss_fn: LossFunction = F.cross_entropy,
) -> pd.DataFrame:
    """Run :func:`compare_pcgrad_modes` on each of the first ``max_batches`` batches.

    Returns:
        The rows of every batch, with the mode as a column and a ``batch`` column (0-based).
    """
    frames = []
    for index, batch in enumerate(batches):
        if index >= max_batches:
            break
        frame = compare_pcgrad_modes(model, batch, seed=seed, loss_fn=loss_fn).reset_index()
        frame.insert(0, "batch", index)
        frames.append(frame)
    if not frames:
        raise ValueError("batches must contain at least one batch, got none")
    return pd.concat(frames, ignore_index=True)


def plot_pcgrad_modes(comparison: pd.DataFrame, task_names: Sequence[str] = TASK_NAMES) -> Figure:
    """Draw what each PCGrad mode leaves of the conflict on the shared parameters, and how it changes the heads.

    Left: on every batch whose task gradients conflict on the shared parameters, the fraction
    of the conflict left, cos(g_i', g_j) / cos(g_i, g_j): 0 when projection removed it, 1 when
    it is untouched. Right: the relative change of each head's update on those batches.
    ``comparison`` is a table from :func:`compare_pcgrad_modes_over_batches`.
    """
    conflicting = comparison[comparison["cosine_before"] < 0]
    if conflicting.empty:
        raise ValueError("comparison must contain a batch whose task gradients conflict (cosine_before < 0), got none")
    records = []
    for _, row in conflicting.iterrows():
        for task in range(2):
            records.append(
                {
                    "mode": row["mode"],
                    "projected task": task_names[task],
                    "conflict_left": row[f"cosine_{task}_after"] / row["cosine_before"],
                    "head_change": row[f"head_change_{task}"],
                }
            )
    long = pd.DataFrame(records)
    batches = conflicting["batch"].nunique()

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    for ax, column, label in (
        (left, "conflict_left", "cos(g_i', g_j) / cos(g_i, g_j)  (0 = removed)"),
        (right, "head_change", "‖head update − own gradient‖ / ‖own gradient‖"),
    ):
        sns.stripplot(long, x="projected task", y=column, hue="mode", palette=PALETTE, dodge=True, ax=ax, size=5, jitter=0.15)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_ylabel(label)
        ax.legend(fontsize="small")
    left.set_xlabel("projected task i (j is the other task)")
    left.set_title(f"conflict left on the shared parameters ({batches} conflicting batches)")
    right.set_xlabel("head of task")
    right.set_title("change of each head's update")
    return figure
