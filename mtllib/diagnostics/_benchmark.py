"""Time training steps with and without :class:`TriadRecorder` to measure its overhead."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from itertools import cycle

import torch
from torch import Tensor

from .. import lass
from ..approaches import get_approach
from ..models import LeafNet
from ..pcgrad import PCGrad
from ..training import training_step
from ._recorder import DEFAULT_CURVATURE_EVERY, DEFAULT_EVERY, TriadRecorder

__all__ = ["benchmark_overhead"]

logger = logging.getLogger(__name__)

# The leaf study's network and batches: LeafNet with channels 16–128, batch 32, 64×64 images.
FULL = {"channels": (16, 32, 64, 128), "hidden": (256, 128), "image_size": 64, "batch_size": 32}
QUICK = {"channels": (4, 8), "hidden": (16,), "image_size": 16, "batch_size": 8}


def _batches(count: int, batch_size: int, image_size: int, device: torch.device) -> list[tuple[Tensor, tuple[Tensor, ...]]]:
    generator = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(count):
        x = torch.rand(batch_size, 3, image_size, image_size, generator=generator)
        targets = (torch.randint(0, 12, (batch_size,), generator=generator), torch.randint(0, 2, (batch_size,), generator=generator))
        x = x.contiguous(memory_format=torch.channels_last).to(device)
        batches.append((x, tuple(t.to(device) for t in targets)))
    return batches


class _Run:
    """One model, optimizer and batch stream of an approach, trained one step at a time."""

    def __init__(self, letter: str, sizes: dict, device: torch.device, recorder: TriadRecorder | None) -> None:
        approach = get_approach(letter)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.model = LeafNet(
                (12, 2), sizes["channels"], sizes["hidden"], image_size=sizes["image_size"],
                modulation=approach.modulation, lass=approach.lass,
            ).to(device)
        if approach.lass:
            # Masks from the initial weights: the recorder's cost does not depend on which weights they keep.
            lass.set_masks(self.model, lass.find_masks(self.model, [], None, 0.5, 0))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=5e-4)
        self.pcgrad = PCGrad(self.optimizer, self.model.shared_parameters()) if approach.pcgrad else None
        self.batches = cycle(_batches(8, sizes["batch_size"], sizes["image_size"], device))
        self.recorder = recorder
        self.device = device
        self.model.train()

    def train_step(self, step: int) -> float:
        """Train one step numbered ``step`` and return the seconds it took."""
        batch = next(self.batches)
        _synchronise(self.device)
        started = time.perf_counter()
        training_step(self.model, self.optimizer, batch, pcgrad=self.pcgrad, observer=self.recorder, step=step)
        _synchronise(self.device)
        return time.perf_counter() - started


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def benchmark_overhead(
    device: str = "cpu",
    quick: bool = False,
    *,
    approaches: Sequence[str] = ("A", "E", "C", "F"),
    every: int = DEFAULT_EVERY,
    curvature_every: int | None = DEFAULT_CURVATURE_EVERY,
    blocks: int | None = None,
) -> list[dict]:
    """Measure the training time that :class:`TriadRecorder` adds, per approach.

    Two copies of the same LeafNet train side by side, one with a recorder and one without.
    The network is the leaf study's: channels 16–128, hidden 256 and 128, batch 32, 64×64
    images. With ``quick`` it is a tiny one, for a smoke run of seconds. The copies take turns
    step by step, so that both see the same load of a shared machine. The timed steps are
    ``blocks`` blocks of ``curvature_every`` steps (``every`` steps when the curvature is
    off), so the recorder makes one curvature record per block. Both copies first train 5
    untimed warm-up steps, in which the recorder records once.

    Returns:
        One row per approach: ``approach``, ``device``, ``threads`` (torch's intra-op
        threads), ``steps`` (timed steps per copy), ``every``, ``curvature_every``,
        ``plain_ms_per_step`` and ``recorded_ms_per_step`` (mean step time of each copy),
        ``overhead_percent`` (their relative difference), ``gradient_record_ms`` and
        ``curvature_record_ms`` (mean time in the recorder's hooks per record) and
        ``hook_overhead_percent`` (all hook time over the plain copy's training time).
    """
    sizes = QUICK if quick else FULL
    target = torch.device(device)
    if quick:
        every, curvature_every = 2, 4
    if blocks is None:
        blocks = 2
    if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 1:
        raise ValueError(f"blocks must be a positive int, got {blocks!r}")
    block = curvature_every if curvature_every is not None else every
    warmup = 5

    rows = []
    for letter in approaches:
        recorder = TriadRecorder(every=every, curvature_every=curvature_every)
        plain = _Run(letter, sizes, target, None)
        recorded = _Run(letter, sizes, target, recorder)
        for step in range(warmup):
            plain.train_step(step)
            recorded.train_step(step)
        recorder.seconds = {"gradients": 0.0, "curvature": 0.0}

        # Timed steps are numbered from one block on, so that they cover whole blocks of the schedule.
        plain_seconds = recorded_seconds = 0.0
        steps = blocks * block
        for step in range(block, block + steps):
            if step % 2:
                recorded_seconds += recorded.train_step(step)
                plain_seconds += plain.train_step(step)
            else:
                plain_seconds += plain.train_step(step)
                recorded_seconds += recorded.train_step(step)

        gradient_records = sum(1 for step in range(block, block + steps) if step % every == 0)
        curvature_records = 0 if curvature_every is None else blocks
        rows.append(
            {
                "approach": letter,
                "device": str(target),
                "threads": torch.get_num_threads(),
                "steps": steps,
                "every": every,
                "curvature_every": curvature_every,
                "plain_ms_per_step": round(1000 * plain_seconds / steps, 2),
                "recorded_ms_per_step": round(1000 * recorded_seconds / steps, 2),
                "overhead_percent": round(100 * (recorded_seconds / plain_seconds - 1), 2),
                "gradient_record_ms": round(1000 * recorder.seconds["gradients"] / max(gradient_records, 1), 2),
                "curvature_record_ms": round(1000 * recorder.seconds["curvature"] / max(curvature_records, 1), 2),
                "hook_overhead_percent": round(100 * sum(recorder.seconds.values()) / plain_seconds, 2),
            }
        )
        logger.info("overhead of approach %s: %s", letter, rows[-1])
    return rows


def machine_description() -> str:
    """Describe the machine the benchmark ran on, for the printed report."""
    return f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs visible"
