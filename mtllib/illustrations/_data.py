"""Tables and figures of the leaf data: class counts, sample grid, letterboxing, a pixel baseline."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..data import HEALTH_NAMES, LEAF_CLASSES, SPECIES_NAMES, TASK_NAMES, LeafData, letterbox, render_leaf
from ..data._letterbox import letterbox_geometry
from ..data._procedural import procedural_items, render_width
from ..plots import PALETTE

__all__ = [
    "LetterboxExample",
    "class_count_table",
    "letterbox_example",
    "limit_per_class",
    "pixel_baseline",
    "plot_letterbox_example",
    "plot_sample_grid",
]


def class_count_table() -> pd.DataFrame:
    """Tabulate the 22 classes with their photo count and the size of the full procedural set.

    Columns: ``prefix`` (the 4-digit file-name prefix), ``species``, ``health``, ``photos``
    (photos in the dataset of Chouhan et al. 2019) and ``procedural`` (images that
    :func:`mtllib.data.procedural_leaves` draws without ``limit_per_class``).
    """
    procedural = pd.Series([prefix for prefix, _ in procedural_items()]).value_counts()
    rows = [
        {
            "prefix": f"{leaf_class.prefix:04d}",
            "species": SPECIES_NAMES[leaf_class.species],
            "health": HEALTH_NAMES[leaf_class.health],
            "photos": leaf_class.count,
            "procedural": int(procedural.get(leaf_class.prefix, 0)),
        }
        for leaf_class in LEAF_CLASSES
    ]
    return pd.DataFrame(rows)


def _first_per_class(data: LeafData, per_class: int) -> dict[int, list[int]]:
    """Map each class index present in ``data`` to the positions of its first ``per_class`` images."""
    classes = data.class_index.cpu()
    positions: dict[int, list[int]] = {}
    for label in classes.unique().tolist():
        positions[int(label)] = torch.nonzero(classes == label).flatten()[:per_class].tolist()
    return positions


def limit_per_class(data: LeafData, limit: int | None) -> LeafData:
    """Keep the first ``limit`` images of each class, in their order. ``None`` keeps every image."""
    if limit is None:
        return data
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")
    kept = [index for positions in _first_per_class(data, limit).values() for index in positions]
    return data.subset(sorted(kept))


def plot_sample_grid(data: LeafData, per_class: int = 2, *, cell_inches: float = 0.8) -> Figure:
    """Draw the first ``per_class`` images of every class: one row per species, healthy then diseased.

    Each image gets a square of ``cell_inches`` on the figure. At matplotlib's default 100 dots
    per inch the default 0.8 shows a 64-pixel image at about its own size.

    Cells of a species and health state that has no class in the dataset (Bael has no healthy
    leaves and Basil no diseased ones) stay empty with the label "no class".
    """
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        raise ValueError(f"per_class must be a positive int, got {per_class!r}")
    positions = _first_per_class(data, per_class)
    by_pair = {(leaf_class.species, leaf_class.health): leaf_class.index for leaf_class in LEAF_CLASSES}

    rows, columns = len(SPECIES_NAMES), 2 * per_class
    figure, axes = plt.subplots(
        rows, columns, figsize=(cell_inches * columns + 1.6, cell_inches * rows), squeeze=False
    )
    for species, species_name in enumerate(SPECIES_NAMES):
        for health in range(2):
            chosen = positions.get(by_pair.get((species, health), -1), [])
            for slot in range(per_class):
                ax = axes[species, health * per_class + slot]
                ax.set_xticks([])
                ax.set_yticks([])
                if slot < len(chosen):
                    ax.imshow(data.images[chosen[slot]].permute(1, 2, 0).cpu().numpy())
                else:
                    for spine in ax.spines.values():
                        spine.set_visible(False)
                    if slot == 0:
                        text = "no class" if (species, health) not in by_pair else "no image"
                        ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=8, color="grey", transform=ax.transAxes)
                if species == 0:
                    ax.set_title(HEALTH_NAMES[health], fontsize=9)
        axes[species, 0].set_ylabel(species_name, rotation=0, ha="right", va="center", fontsize=9)
    figure.subplots_adjust(left=1.5 / (cell_inches * columns + 1.6), right=0.98, top=0.96, bottom=0.01, wspace=0.05, hspace=0.08)
    return figure


@dataclass(frozen=True)
class LetterboxExample:
    """One procedural drawing before and after letterboxing, with where it landed."""

    drawing: Image.Image
    boxed: Image.Image
    scaled_width: int
    scaled_height: int
    left: int
    top: int


def letterbox_example(prefix: int = 12, index: int = 0, *, seed: int = 0, image_size: int = 64) -> LetterboxExample:
    """Draw procedural leaf ``index`` of class ``prefix`` at its 3:2 size and letterbox it to ``image_size``.

    The drawing has the width :func:`mtllib.data.procedural_leaves` uses for this image size.
    """
    drawing = render_leaf(prefix, index, seed=seed, width=render_width(image_size))
    boxed = letterbox(drawing, image_size)
    scaled_width, scaled_height, left, top = letterbox_geometry(drawing.width, drawing.height, image_size)
    return LetterboxExample(drawing, boxed, scaled_width, scaled_height, left, top)


def plot_letterbox_example(example: LetterboxExample) -> Figure:
    """Draw the 3:2 drawing beside its letterboxed square, with the scaled image outlined."""
    figure, (left_ax, right_ax) = plt.subplots(
        1, 2, figsize=(9, 3.4), layout="constrained", gridspec_kw={"width_ratios": [1.5, 1]}
    )
    colour = sns.color_palette(PALETTE)[1]

    left_ax.imshow(example.drawing)
    left_ax.set_title(f"drawing, {example.drawing.width} × {example.drawing.height} px (3:2)")
    left_ax.set_xlabel("x (pixels)")
    left_ax.set_ylabel("y (pixels)")

    size = example.boxed.width
    right_ax.imshow(example.boxed)
    right_ax.add_patch(
        Rectangle(
            (example.left - 0.5, example.top - 0.5), example.scaled_width, example.scaled_height,
            fill=False, edgecolor=colour, linewidth=1.5, linestyle="--",
        )
    )
    bottom = example.top + example.scaled_height
    for low, high in ((0, example.top), (bottom, size)):
        if high > low:
            right_ax.text(size / 2, (low + high) / 2 - 0.5, "zero padding", color="white", ha="center", va="center", fontsize=8)
    right_ax.set_title(f"letterboxed, {size} × {size} px")
    right_ax.set_xlabel("x (pixels)")
    right_ax.set_ylabel("y (pixels)")
    return figure


def pixel_baseline(data: LeafData, *, pixels: int = 16, test_fraction: float = 0.25, seed: int = 0) -> pd.DataFrame:
    """Score logistic regression on raw pixels, and the majority class, for each task.

    The images are averaged down to ``pixels`` × ``pixels``, flattened and standardised, and
    one L2-regularised logistic regression per task is fitted on a stratified split (stratified
    on the 22 classes) that holds out ``test_fraction`` of ``data``. A task that such a linear
    model solves would not need a convolutional network.

    Returns:
        One row per task and classifier with ``accuracy``, ``train_images`` and ``test_images``.
    """
    if isinstance(pixels, bool) or not isinstance(pixels, int) or not 1 <= pixels <= data.image_size:
        raise ValueError(f"pixels must be an int in [1, {data.image_size}], got {pixels!r}")
    features = F.adaptive_avg_pool2d(data.images.float() / 255.0, pixels).flatten(1).numpy()
    positions = np.arange(len(data))
    train, test = train_test_split(
        positions, test_size=test_fraction, random_state=seed, stratify=data.class_index.cpu().numpy()
    )

    rows = []
    for task, labels in zip(TASK_NAMES, data.targets):
        target = labels.cpu().numpy()
        majority = np.bincount(target[train]).argmax()
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        model.fit(features[train], target[train])
        scores = {
            "majority class": float(np.mean(target[test] == majority)),
            f"logistic regression on {pixels}×{pixels} pixels": float(model.score(features[test], target[test])),
        }
        for classifier, accuracy in scores.items():
            rows.append(
                {"task": task, "classifier": classifier, "accuracy": accuracy, "train_images": len(train), "test_images": len(test)}
            )
    return pd.DataFrame(rows)
