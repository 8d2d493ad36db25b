"""Figures and small computations for the book's chapters on the leaf data and the three methods.

The modules follow the chapters. The leaf data chapter uses the class table, the sample grid,
letterboxing and a pixel baseline. The PCGrad chapter uses the 2-D drawing and the comparison of
the rule of Yu et al. (2020) with the wrapper-compatible mode. The Modulation chapter uses
parameter counts, trunk passes and the learned channel scales. The LaSS chapter uses mask
overlap against random masks, the pruning fraction sweep and the weights outside a task's mask.
The remaining helpers tabulate and draw runs of :func:`mtllib.reproduce.train_fold`. Figures use
seaborn's colour-blind-safe palette and are returned for the caller to show or glue.
"""

from ._data import (
    LetterboxExample,
    class_count_table,
    letterbox_example,
    limit_per_class,
    pixel_baseline,
    plot_letterbox_example,
    plot_sample_grid,
)
from ._lass import (
    alpha_sweep,
    outside_mask_drift,
    overlap_with_random,
    plot_alpha_sweep,
    plot_mask_agreement,
    plot_mask_overlap,
    random_overlap,
)
from ._modulation import (
    forward_seconds,
    modulation_scales,
    parameter_counts,
    plot_modulation_heatmaps,
    plot_scale_distribution,
    trunk_passes,
)
from ._pcgrad import (
    MODE_LABELS,
    compare_pcgrad_modes,
    compare_pcgrad_modes_over_batches,
    find_conflicting_batch,
    pcgrad_2d,
    plot_pcgrad_2d,
    plot_pcgrad_modes,
)
from ._runs import fold_scores_table, plot_fold_losses

__all__ = [
    "MODE_LABELS",
    "LetterboxExample",
    "alpha_sweep",
    "class_count_table",
    "compare_pcgrad_modes",
    "compare_pcgrad_modes_over_batches",
    "find_conflicting_batch",
    "fold_scores_table",
    "forward_seconds",
    "letterbox_example",
    "limit_per_class",
    "modulation_scales",
    "outside_mask_drift",
    "overlap_with_random",
    "parameter_counts",
    "pcgrad_2d",
    "pixel_baseline",
    "plot_alpha_sweep",
    "plot_fold_losses",
    "plot_letterbox_example",
    "plot_mask_agreement",
    "plot_mask_overlap",
    "plot_modulation_heatmaps",
    "plot_pcgrad_2d",
    "plot_pcgrad_modes",
    "plot_sample_grid",
    "plot_scale_distribution",
    "random_overlap",
    "trunk_passes",
]
