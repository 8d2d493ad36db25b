"""Repeat counts and problem sizes of a full and a quick benchmark run."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["BATCH_SIZE", "EPOCH_IMAGES", "IMAGE_SIZE", "NUM_CLASSES", "BenchSettings", "settings_for"]

BATCH_SIZE = 32
IMAGE_SIZE = 64
NUM_CLASSES = (12, 2)  # species, health
EPOCH_IMAGES = 3600


@dataclass(frozen=True)
class BenchSettings:
    """How much each section measures; :func:`settings_for` gives the full and quick values."""

    quick: bool
    # Training steps: untimed warm-up steps per model, then rounds over all models, each
    # round timing steps_per_round consecutive steps of every model in turn.
    warmup_steps: int
    rounds: int
    steps_per_round: int
    memory_steps: int
    # PCGrad aggregation on T=2 matrices with these numbers of columns P.
    synthetic_sizes: tuple[int, ...]
    aggregation_warmup: int
    aggregation_repeats: int
    large_aggregation_repeats: int  # for P above 10**6
    # Square float32 matrix multiplication that estimates the device's peak.
    matmul_size: int
    matmul_repeats: int
    # Phases of a step of approach H.
    breakdown_warmup: int
    breakdown_repeats: int
    # Data loading, passed to mtllib.data._benchmark.
    photo_count: int
    photo_repeats: int
    procedural_limit_per_class: int | None
    procedural_workers: tuple[int | None, ...]

    @property
    def timed_steps(self) -> int:
        """Timed training steps per model."""
        return self.rounds * self.steps_per_round


def settings_for(quick: bool, device: torch.device) -> BenchSettings:
    """Return the settings of a quick run (well under a minute on 2 CPU cores) or a full run."""
    on_gpu = device.type == "cuda"
    if quick:
        return BenchSettings(
            quick=True,
            warmup_steps=1,
            rounds=1,
            steps_per_round=3,
            memory_steps=1,
            synthetic_sizes=(10**4, 10**5),
            aggregation_warmup=1,
            aggregation_repeats=5,
            large_aggregation_repeats=3,
            matmul_size=4096 if on_gpu else 1024,
            matmul_repeats=3,
            breakdown_warmup=1,
            breakdown_repeats=5,
            photo_count=1,
            photo_repeats=1,
            procedural_limit_per_class=1,
            procedural_workers=(1,),
        )
    return BenchSettings(
        quick=False,
        warmup_steps=5,
        rounds=10,
        steps_per_round=5,
        memory_steps=3,
        synthetic_sizes=(10**4, 10**5, 10**6, 10**7),
        aggregation_warmup=2,
        aggregation_repeats=21,
        large_aggregation_repeats=7,
        matmul_size=8192 if on_gpu else 2048,
        matmul_repeats=5,
        breakdown_warmup=3,
        breakdown_repeats=30,
        photo_count=4,
        photo_repeats=3,
        procedural_limit_per_class=None,
        procedural_workers=(1, None),
    )
