"""Training throughput against the device's measured float32 matrix-multiplication peak."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from ._measurement import Measurement
from ._settings import BATCH_SIZE, BenchSettings
from ._steps import StepModel, StepResults
from ._timing import summarize, time_repeated

__all__ = ["count_step_flops", "measure_matmul_peak", "measure_throughput"]

logger = logging.getLogger(__name__)

SECTION = "throughput"
MATMUL = "float32 matmul"


def measure_matmul_peak(device: torch.device, size: int, repeats: int) -> tuple[float, list[Measurement]]:
    """Time ``size``×``size`` float32 matrix products; return the best FLOP/s and the measurements.

    The fastest of the repeats is the estimate of the peak: slower repeats were disturbed.
    TF32 is left at torch's defaults, which are off for float32 matmul but on for cuDNN
    convolutions, so on a GPU the training steps may exceed this float32 peak's fraction.
    """
    generator = torch.Generator().manual_seed(0)
    left = torch.randn(size, size, generator=generator).to(device)
    right = torch.randn(size, size, generator=generator).to(device)
    seconds = time_repeated(lambda: left @ right, device, warmup=1, repeats=repeats)
    summary = summarize(seconds)
    flops = 2.0 * size**3
    details = {"size": size, "repeats": repeats, "device": str(device), "dtype": "float32", "flops_per_product": flops}
    if device.type == "cuda":
        details["matmul_allow_tf32"] = torch.backends.cuda.matmul.allow_tf32
        details["cudnn_allow_tf32"] = torch.backends.cudnn.allow_tf32
    peak = flops / summary.minimum
    rows = [
        Measurement(SECTION, MATMUL, "peak_flops", peak / 1e9, "GFLOP/s", {**details, "statistic": "fastest repeat"}),
        Measurement(SECTION, MATMUL, "median_flops", flops / summary.median / 1e9, "GFLOP/s", {**details, "statistic": "median repeat"}),
    ]
    return peak, rows


def count_step_flops(model: StepModel, batch: tuple[Tensor, tuple[Tensor, ...]]) -> float:
    """Count the floating-point operations of one training step with FlopCounterMode.

    The count covers the forward pass, every backward pass and PCGrad's products. Torch's
    FLOP counter has formulas for convolutions and matrix products only, so element-wise
    operations, normalisation and the optimizer count zero.
    """
    with FlopCounterMode(display=False) as counter:
        model.step(batch)
    return float(counter.get_total_flops())


def measure_throughput(
    models: Sequence[StepModel],
    batch: tuple[Tensor, tuple[Tensor, ...]],
    steps: StepResults,
    device: torch.device,
    settings: BenchSettings,
) -> list[Measurement]:
    """Report images per second, FLOPs per image and the fraction of the matmul peak per model."""
    logger.info("float32 matmul peak with %d×%d matrices", settings.matmul_size, settings.matmul_size)
    peak, rows = measure_matmul_peak(device, settings.matmul_size, settings.matmul_repeats)
    for model in models:
        flops_per_image = count_step_flops(model, batch) / BATCH_SIZE
        images_per_second = BATCH_SIZE / steps.times[model.name].median
        achieved = flops_per_image * images_per_second
        details = {"label": model.label, "batch_size": BATCH_SIZE, "device": str(device), "step_time_statistic": "median"}
        rows += [
            Measurement(SECTION, model.name, "images_per_second", images_per_second, "images/s", details),
            Measurement(SECTION, model.name, "flops_per_image", flops_per_image / 1e9, "GFLOP", {**details, "counter": "torch.utils.flop_counter.FlopCounterMode over one training step"}),
            Measurement(SECTION, model.name, "achieved_flops", achieved / 1e9, "GFLOP/s", details),
            Measurement(SECTION, model.name, "fraction_of_matmul_peak", achieved / peak, "ratio", {**details, "peak_gflops": peak / 1e9}),
        ]
    return rows
