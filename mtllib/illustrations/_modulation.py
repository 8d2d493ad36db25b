"""Parameter counts, trunk passes and learned channel scales of the Modulation Module in LeafNet."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from ..data import TASK_NAMES
from ..models import LeafNet
from ..plots import PALETTE

__all__ = [
    "forward_seconds",
    "modulation_scales",
    "parameter_counts",
    "plot_modulation_heatmaps",
    "plot_scale_distribution",
    "trunk_passes",
]


def parameter_counts(
    num_classes: Sequence[int] = (12, 2), channels: Sequence[int] = (16, 32, 64, 128), hidden: Sequence[int] = (256, 128)
) -> pd.DataFrame:
    """Count the parameters of LeafNet without and with Modulation Modules, by role.

    Columns: ``shared`` (convolutions, batch normalisation, fully connected layers), ``heads``,
    ``modulation`` (the T×C scale matrices) and ``total``. The rows are ``LeafNet`` and
    ``LeafNet + Modulation``. Batch normalisation's running statistics are buffers, so they are
    not counted. The global random generator is left as it was.
    """
    rows = []
    for label, modulation in (("LeafNet", False), ("LeafNet + Modulation", True)):
        with torch.random.fork_rng(devices=[]):
            model = LeafNet(num_classes, channels, hidden, modulation=modulation)
        shared = sum(p.numel() for p in model.shared_parameters())
        heads = sum(p.numel() for p in model.heads.parameters())
        scales = sum(block.modulation.weight.numel() for block in model.blocks if block.modulation is not None)
        rows.append({"model": label, "shared": shared, "heads": heads, "modulation": scales, "total": sum(p.numel() for p in model.parameters())})
    return pd.DataFrame(rows).set_index("model")


def trunk_passes(model: LeafNet, x: Tensor) -> int:
    """Count how often :meth:`LeafNet.forward_all` runs the first convolution block on ``x``.

    The pass runs in evaluation mode without gradients, so batch normalisation's running
    statistics stay as they were, and the model's mode is restored afterwards.
    """
    calls = 0

    def count(*_: object) -> None:
        nonlocal calls
        calls += 1

    was_training = model.training
    handle = model.blocks[0].register_forward_hook(count)
    try:
        model.eval()
        with torch.no_grad():
            model.forward_all(x)
    finally:
        handle.remove()
        model.train(was_training)
    return calls


def forward_seconds(models: Mapping[str, nn.Module], x: Tensor, *, repeats: int = 10) -> dict[str, float]:
    """Measure the median wall-clock seconds of one ``forward_all(x)`` of each model, without gradients.

    The models run in evaluation mode and in turns, one pass of each per round, so that a
    change in the machine's load during the measurement affects all of them alike. Every
    model's training mode is restored afterwards.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive int, got {repeats!r}")
    times: dict[str, list[float]] = {name: [] for name in models}
    modes = {name: model.training for name, model in models.items()}
    try:
        with torch.no_grad():
            for model in models.values():
                model.eval()
                model.forward_all(x)
            for _ in range(repeats):
                for name, model in models.items():
                    started = time.perf_counter()
                    model.forward_all(x)
                    times[name].append(time.perf_counter() - started)
    finally:
        for name, model in models.items():
            model.train(modes[name])
    return {name: float(np.median(values)) for name, values in times.items()}


def modulation_scales(model: LeafNet, task_names: Sequence[str] = TASK_NAMES) -> pd.DataFrame:
    """List every learned channel scale of a model with Modulation Modules.

    Returns:
        One row per block, task and channel with columns ``block`` (1-based), ``task``,
        ``channel`` and ``scale``.
    """
    rows = []
    for number, block in enumerate(model.blocks, start=1):
        if block.modulation is None:
            continue
        weight = block.modulation.weight.detach().cpu().double()
        for task in range(weight.shape[0]):
            for channel, scale in enumerate(weight[task].tolist()):
                rows.append({"block": number, "task": task_names[task], "channel": channel, "scale": scale})
    if not rows:
        raise ValueError("model has no Modulation Modules. Build it with modulation=True (approaches C, D, G, H)")
    return pd.DataFrame(rows)


def plot_modulation_heatmaps(scales: pd.DataFrame) -> Figure:
    """Draw, per block, the tasks' channel scales as a heatmap and the first task minus the second below it.

    The scales share one colour scale centred on 1 (no change), and the differences share
    another centred on 0. ``scales`` is a table from :func:`modulation_scales`.
    """
    blocks = sorted(scales["block"].unique())
    tasks = list(dict.fromkeys(scales["task"]))
    if len(tasks) != 2:
        raise ValueError(f"scales must contain two tasks, got {tasks}")
    reach = max(float((scales["scale"] - 1).abs().max()), 1e-6)
    wide = {block: scales[scales["block"] == block].pivot(index="task", columns="channel", values="scale").loc[tasks] for block in blocks}
    differences = {block: (frame.loc[tasks[0]] - frame.loc[tasks[1]]).to_frame().T for block, frame in wide.items()}
    difference_reach = max(max(float(frame.abs().to_numpy().max()) for frame in differences.values()), 1e-6)

    figure, axes = plt.subplots(
        2 * len(blocks), 1, figsize=(10, 2.0 * len(blocks) + 0.8), layout="constrained",
        gridspec_kw={"height_ratios": [2, 1] * len(blocks)},
    )
    for number, block in enumerate(blocks):
        top, bottom = axes[2 * number], axes[2 * number + 1]
        image = top.imshow(
            wide[block].to_numpy(), cmap="vlag", vmin=1 - reach, vmax=1 + reach, aspect="auto", interpolation="nearest"
        )
        figure.colorbar(image, ax=top, label="scale", pad=0.01)
        top.set_yticks(range(len(tasks)), tasks)
        top.set_xticks([])
        top.set_title(f"block {block}: {wide[block].shape[1]} channels")
        image = bottom.imshow(
            differences[block].to_numpy(), cmap="PuOr", vmin=-difference_reach, vmax=difference_reach,
            aspect="auto", interpolation="nearest",
        )
        figure.colorbar(image, ax=bottom, label="difference", pad=0.01)
        bottom.set_yticks([0], [f"{tasks[0]} − {tasks[1]}"])
        bottom.set_xlabel("channel (0 … C−1)" if number == len(blocks) - 1 else "")
    return figure


def plot_scale_distribution(scales: pd.DataFrame) -> Figure:
    """Draw the distribution of the channel scales per block and task, and of the tasks' differences."""
    tasks = list(dict.fromkeys(scales["task"]))
    wide = scales.pivot_table(index=["block", "channel"], columns="task", values="scale").reset_index()
    wide["difference"] = wide[tasks[0]] - wide[tasks[1]]

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    sns.violinplot(scales, x="block", y="scale", hue="task", palette=PALETTE, ax=left, inner="quart", cut=0, density_norm="width")
    left.axhline(1.0, color="black", lw=0.8, linestyle=":")
    sns.move_legend(left, "lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, title=None, frameon=False)
    left.set_xlabel("convolution block")
    left.set_ylabel("channel scale (1 = unchanged)")
    sns.stripplot(wide, x="block", y="difference", color=sns.color_palette(PALETTE)[2], ax=right, size=3, jitter=0.25)
    right.axhline(0.0, color="black", lw=0.8, linestyle=":")
    right.set_xlabel("convolution block")
    right.set_ylabel(f"scale of {tasks[0]} − scale of {tasks[1]}")
    return figure
