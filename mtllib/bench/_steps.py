"""Time and peak memory of one training step for each approach and for a single-task model."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .. import lass
from ..approaches import APPROACHES
from ..models import LeafNet
from ..pcgrad import PCGrad
from ..training import TrainConfig, build_model, training_step
from ._measurement import Measurement
from ._memory import MemoryReading, PeakMemory
from ._settings import BATCH_SIZE, EPOCH_IMAGES, IMAGE_SIZE, NUM_CLASSES, BenchSettings
from ._timing import TimingSummary, summarize, time_call

__all__ = [
    "REFERENCE",
    "SINGLE_TASK",
    "STEPS_PER_EPOCH",
    "StepModel",
    "StepResults",
    "build_step_models",
    "make_batches",
    "measure_steps",
    "to_training_batch",
]

logger = logging.getLogger(__name__)

Batch = tuple[Tensor, tuple[Tensor, ...]]

SECTION = "step"
REFERENCE = "A"
SINGLE_TASK = "single-task"
STEPS_PER_EPOCH = math.ceil(EPOCH_IMAGES / BATCH_SIZE)
MIB = 2**20


def to_training_batch(pixels: Tensor, labels: Sequence[Tensor], device: torch.device) -> Batch:
    """Convert uint8 images as :class:`mtllib.data.Batches` does: float32 in [0, 1], channels_last, on ``device``."""
    x = pixels.to(device).to(torch.float32).div_(255.0).contiguous(memory_format=torch.channels_last)
    return x, tuple(label.to(device) for label in labels)


def make_batches(count: int, device: torch.device, seed: int = 0) -> list[Batch]:
    """Return ``count`` training batches of random uint8 64×64 RGB images with species and health labels."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        pixels = torch.randint(0, 256, (BATCH_SIZE, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=torch.uint8, generator=generator)
        labels = [torch.randint(0, classes, (BATCH_SIZE,), generator=generator) for classes in NUM_CLASSES]
        batches.append(to_training_batch(pixels, labels, device))
    return batches


@dataclass
class StepModel:
    """A model with its optimizer, trained by :func:`mtllib.training_step` on given batches."""

    name: str
    label: str
    model: LeafNet
    optimizer: torch.optim.Optimizer
    pcgrad: PCGrad | None
    tasks: tuple[int, ...]

    def select(self, batch: Batch) -> Batch:
        """Keep the targets of this model's tasks."""
        x, targets = batch
        return x, tuple(targets[task] for task in self.tasks)

    def step(self, batch: Batch) -> Tensor:
        """Take one training step on ``batch`` and return the detached task losses."""
        return training_step(self.model, self.optimizer, self.select(batch), pcgrad=self.pcgrad)


def build_step_models(batches: Sequence[Batch], device: torch.device) -> list[StepModel]:
    """Build approaches A–H and the single-task model with the default TrainConfig.

    LaSS approaches get their masks first, found by magnitude pruning (alpha 0.5) of the
    initial weights without fine-tuning, so that their steps run the masked forward pass of
    the second half of training. The single-task model is LeafNet with the species head only.
    """
    config = TrainConfig()
    models = []
    for approach in APPROACHES.values():
        model = build_model(approach, NUM_CLASSES, config).to(device)
        if approach.lass:
            masks = lass.find_masks(model, batches[:1], None, alpha=config.lass_alpha, finetune_epochs=0)
            lass.set_masks(model, masks)
        model.train()
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
        pcgrad = PCGrad(optimizer, model.shared_parameters(), seed=config.seed) if approach.pcgrad else None
        models.append(StepModel(approach.letter, approach.label, model, optimizer, pcgrad, tuple(range(len(NUM_CLASSES)))))

    single = build_model(APPROACHES[REFERENCE], NUM_CLASSES[:1], config).to(device)
    single.train()
    optimizer = torch.optim.Adam(single.parameters(), lr=config.lr)
    models.append(StepModel(SINGLE_TASK, "single-task: species head only", single, optimizer, None, (0,)))
    return models


@dataclass
class StepResults:
    """Step times and peak memory per model name, and the measurements made from them."""

    times: dict[str, TimingSummary]
    memory: dict[str, MemoryReading]
    labels: dict[str, str]
    measurements: list[Measurement] = field(default_factory=list)

    def most_expensive(self) -> str:
        """Name of the approach (A–H) with the largest median step time."""
        return max(APPROACHES, key=lambda letter: self.times[letter].median)


def _time_steps(models: Sequence[StepModel], batches: Sequence[Batch], device: torch.device, settings: BenchSettings) -> dict[str, list[float]]:
    for model in models:
        for index in range(settings.warmup_steps):
            model.step(batches[index % len(batches)])

    # Rounds interleave the models, so that a burst of load from another process on the
    # machine slows every model alike instead of the one being timed at that moment.
    seconds: dict[str, list[float]] = {model.name: [] for model in models}
    for round_index in range(settings.rounds):
        order = list(models[round_index % len(models):]) + list(models[: round_index % len(models)])
        for model in order:
            for index in range(settings.steps_per_round):
                batch = batches[(round_index * settings.steps_per_round + index) % len(batches)]
                seconds[model.name].append(time_call(lambda: model.step(batch), device))
    return seconds


def _measure_memory(models: Sequence[StepModel], batches: Sequence[Batch], device: torch.device, settings: BenchSettings) -> dict[str, MemoryReading]:
    probe = PeakMemory(device)
    readings = {}
    for model in models:
        probe.reset()
        for index in range(settings.memory_steps):
            model.step(batches[index % len(batches)])
        readings[model.name] = probe.read()
    return readings


def measure_steps(models: Sequence[StepModel], batches: Sequence[Batch], device: torch.device, settings: BenchSettings) -> StepResults:
    """Time training steps of every model, then measure each one's peak memory over a few steps."""
    logger.info("timing %d training steps of %d models after %d warm-up steps", settings.timed_steps, len(models), settings.warmup_steps)
    seconds = _time_steps(models, batches, device, settings)
    memory = _measure_memory(models, batches, device, settings)
    results = StepResults(
        times={name: summarize(values) for name, values in seconds.items()},
        memory=memory,
        labels={model.name: model.label for model in models},
    )
    results.measurements = _step_measurements(results, device, settings)
    return results


def _step_measurements(results: StepResults, device: torch.device, settings: BenchSettings) -> list[Measurement]:
    reference_time = results.times[REFERENCE].median
    reference_memory = results.memory[REFERENCE].increase_bytes
    rows = []
    for name, summary in results.times.items():
        reading = results.memory[name]
        details = {
            "label": results.labels[name],
            "device": str(device),
            "batch_size": BATCH_SIZE,
            "image_size": IMAGE_SIZE,
            "timed_steps": summary.count,
            "warmup_steps": settings.warmup_steps,
        }
        memory_details = {**details, "memory_steps": settings.memory_steps, "method": reading.method}
        figures = [
            ("step_time_median", 1000 * summary.median, "ms", details),
            ("step_time_q1", 1000 * summary.q1, "ms", details),
            ("step_time_q3", 1000 * summary.q3, "ms", details),
            ("step_time_min", 1000 * summary.minimum, "ms", details),
            ("step_time_max", 1000 * summary.maximum, "ms", details),
            ("step_time_ratio_to_A", summary.median / reference_time, "ratio", details),
            ("epoch_time", summary.median * STEPS_PER_EPOCH, "s", {**details, "epoch_images": EPOCH_IMAGES, "steps_per_epoch": STEPS_PER_EPOCH}),
            ("peak_memory", reading.peak_bytes / MIB, "MiB", memory_details),
            ("step_memory", reading.increase_bytes / MIB, "MiB", {**memory_details, "baseline_mib": reading.baseline_bytes / MIB}),
            ("step_memory_ratio_to_A", reading.increase_bytes / reference_memory if reference_memory else math.nan, "ratio", memory_details),
        ]
        rows.extend(Measurement(SECTION, name, metric, float(value), unit, extra) for metric, value, unit, extra in figures)
    return rows
