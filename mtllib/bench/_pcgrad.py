"""PCGrad aggregation of mtllib against the anchors TorchJD and LibMTL, on the same matrices.

Every aggregator gets the same T×P matrix of task gradients and returns the sum of the
projected gradients, so the outputs can be compared entry by entry. With T = 2 the visiting
order does not change the result: each task is projected against the other one only.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..pcgrad import _combine, _gramian, _visiting_orders, pcgrad_weights, project_conflicting
from ..training import TrainConfig, build_model
from ._measurement import Measurement
from ._settings import NUM_CLASSES, BenchSettings
from ._timing import summarize, time_call, time_repeated

__all__ = [
    "AGREEMENT_TOLERANCE",
    "Aggregator",
    "leafnet_gradients",
    "load_aggregators",
    "measure_pcgrad",
    "synthetic_gradients",
]

logger = logging.getLogger(__name__)

SECTION = "pcgrad"
PHASE_SECTION = "pcgrad_phases"
OURS = "mtllib"

# Largest accepted max|anchor - mtllib| / max|mtllib|. The three implementations sum the
# dot products of float32 rows in different orders, which moves the result by about 1e-6
# of its largest entry at P = 10**7.
AGREEMENT_TOLERANCE = 1e-4


@dataclass
class Aggregator:
    """A PCGrad implementation as a function from a T×P matrix to the summed projected gradients.

    ``combine`` is None when the implementation could not be loaded, and ``error`` then
    contains the exception's type and message.
    ``timed`` describes the code a timing covers, for the report.
    """

    name: str
    combine: Callable[[Tensor], Tensor] | None
    timed: str
    version: str = ""
    error: str | None = None
    note: str | None = None


def _describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _mtllib_aggregator() -> Aggregator:
    generator = torch.Generator().manual_seed(0)
    return Aggregator(
        OURS,
        lambda matrix: project_conflicting(matrix, generator=generator),
        "mtllib.project_conflicting(matrix, generator=...): Gramian, visiting orders, "
        "coefficients on the T×T Gramian in float64, one T×P combination",
    )


def _torchjd_aggregator() -> Aggregator:
    timed = "torchjd.aggregation.PCGrad()(matrix): Gramian, weights on the CPU, weighted sum"
    try:
        import torchjd
        from torchjd.aggregation import PCGrad as TorchJDPCGrad
    # Anything a third-party import raises (ImportError, or an AttributeError against a newer
    # torch) means the anchor cannot run; the report shows the message.
    except Exception as error:  # noqa: BLE001
        return Aggregator("TorchJD", None, timed, error=_describe_error(error))
    aggregator = TorchJDPCGrad()
    return Aggregator("TorchJD", aggregator, timed, version=getattr(torchjd, "__version__", ""))


def _import_libmtl_pcgrad() -> tuple[type, str | None]:
    """Import LibMTL's PCGrad weighting class; return it and a note on how it was imported.

    LibMTL 1.1.5's package ``__init__`` imports its ResNet models, which import
    ``torchvision.models.utils``, a module that torchvision 0.13 removed. When that import
    fails, the ``LibMTL.weighting`` subpackage, which needs only torch, numpy and scipy, is
    imported with the package ``__init__`` skipped, and the note records the original error.
    """
    try:
        from LibMTL.weighting.PCGrad import PCGrad as LibMTLPCGrad
    except Exception as error:  # noqa: BLE001 - any failure of the third-party import is reported
        package_error = _describe_error(error)
    else:
        return LibMTLPCGrad, None

    spec = importlib.util.find_spec("LibMTL") if "LibMTL" not in sys.modules else None
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"import LibMTL failed ({package_error}) and its install folder was not found")
    # NOTE: this leaves a bare LibMTL package module in sys.modules for the rest of the
    # process, so a later `import LibMTL` there returns it without running the __init__.
    package = types.ModuleType("LibMTL")
    package.__path__ = list(spec.submodule_search_locations)
    package.__file__ = spec.origin
    sys.modules["LibMTL"] = package
    from LibMTL.weighting.PCGrad import PCGrad as LibMTLPCGrad

    note = (
        f"`import LibMTL` fails with this torchvision ({package_error}); LibMTL.weighting was "
        "imported with the package __init__ (model zoo, trainer) skipped"
    )
    return LibMTLPCGrad, note


def _libmtl_aggregator(device: torch.device) -> Aggregator:
    timed = (
        "LibMTL.weighting.PCGrad.backward (LibMTL 1.1.5) with _compute_grad returning the matrix "
        "and _reset_grad keeping the result: clone, the loop of torch.dot, norm and .item() "
        "per pair, sum over tasks; gradient collection and writing into .grad are not timed"
    )
    try:
        libmtl_pcgrad, note = _import_libmtl_pcgrad()
    except Exception as error:  # noqa: BLE001 - any failure of the third-party import is reported
        return Aggregator("LibMTL", None, timed, error=_describe_error(error))

    class _MatrixDriven(libmtl_pcgrad):  # type: ignore[misc, valid-type]
        """LibMTL's PCGrad with the model's gradients replaced by a given matrix.

        LibMTL mixes a weighting into its model class, which provides ``task_num``,
        ``device`` and ``rep_grad`` and collects the task gradients of the shared parameters
        in ``_compute_grad``. Only those hooks are replaced; ``backward`` is LibMTL's.
        """

        def __init__(self) -> None:
            super().__init__()
            self.rep_grad = False
            self.device = device
            self.matrix: Tensor | None = None
            self.result: Tensor | None = None

        def _compute_grad_dim(self) -> None:
            self.grad_dim = self.matrix.shape[1]

        def _compute_grad(self, losses, mode, rep_grad=False):  # noqa: ANN001, ANN202 - LibMTL's signature
            return self.matrix

        def _reset_grad(self, new_grads: Tensor) -> None:
            self.result = new_grads

    driver = _MatrixDriven()

    def combine(matrix: Tensor) -> Tensor:
        driver.matrix = matrix
        driver.task_num = matrix.shape[0]
        # backward only takes len(losses), so placeholders stand for the task losses.
        driver.backward([None] * matrix.shape[0])
        return driver.result

    from importlib.metadata import version

    return Aggregator("LibMTL", combine, timed, version=version("LibMTL"), note=note)


def load_aggregators(device: torch.device) -> list[Aggregator]:
    """Return mtllib's PCGrad and the anchors, each loaded or with the error that stopped it."""
    return [_mtllib_aggregator(), _torchjd_aggregator(), _libmtl_aggregator(device)]


def leafnet_gradients(batch: tuple[Tensor, Sequence[Tensor]], device: torch.device) -> Tensor:
    """Return the 2×P matrix of the species and health gradients of a new LeafNet's shared parameters."""
    model = build_model("E", NUM_CLASSES, TrainConfig()).to(device)
    model.train()
    x, targets = batch
    logits = model.forward_all(x)
    shared = list(model.shared_parameters())
    rows = []
    for task, target in enumerate(targets):
        loss = F.cross_entropy(logits[task], target)
        gradients = torch.autograd.grad(loss, shared, retain_graph=task < len(targets) - 1)
        rows.append(torch.cat([gradient.reshape(-1) for gradient in gradients]))
    return torch.stack(rows).detach()


def synthetic_gradients(columns: int, device: torch.device, seed: int = 0) -> Tensor:
    """Return a 2×P float32 matrix of normal rows whose cosine similarity is about -0.45.

    The second row is a normal vector minus half the first, so the two task gradients
    conflict and every implementation has to project.
    """
    generator = torch.Generator().manual_seed(seed)
    first = torch.randn(columns, generator=generator)
    second = torch.randn(columns, generator=generator) - 0.5 * first
    return torch.stack([first, second]).to(device)


def _cosine(matrix: Tensor) -> float:
    return float(F.cosine_similarity(matrix[0].double(), matrix[1].double(), dim=0))


def _relative_difference(output: Tensor, reference: Tensor) -> float:
    scale = float(reference.abs().max())
    difference = float((output.double() - reference.double()).abs().max())
    return difference / scale if scale > 0 else difference


def _compare(
    input_name: str, matrix: Tensor, aggregators: Sequence[Aggregator], repeats: int, device: torch.device, settings: BenchSettings
) -> list[Measurement]:
    available = [a for a in aggregators if a.combine is not None]
    base = {"rows": matrix.shape[0], "columns": matrix.shape[1], "dtype": str(matrix.dtype).removeprefix("torch."), "device": str(device)}
    rows = [
        Measurement(SECTION, input_name, "columns", float(matrix.shape[1]), "count", base),
        Measurement(SECTION, input_name, "cosine", _cosine(matrix), "ratio", base),
    ]

    outputs: dict[str, Tensor] = {}
    failed: dict[str, str] = {}
    for aggregator in available:
        try:
            outputs[aggregator.name] = aggregator.combine(matrix)
        except Exception as error:  # noqa: BLE001 - an anchor that fails on this input is reported
            if aggregator.name == OURS:
                raise
            failed[aggregator.name] = _describe_error(error)
            logger.warning("%s failed on %s: %s", aggregator.name, input_name, failed[aggregator.name])
    running = [a for a in available if a.name in outputs]

    seconds: dict[str, list[float]] = {a.name: [] for a in running}
    for _ in range(settings.aggregation_warmup):
        for aggregator in running:
            aggregator.combine(matrix)
    # Interleaved and rotated, so that no implementation is always timed first.
    for repeat in range(repeats):
        shift = repeat % len(running)
        for aggregator in running[shift:] + running[:shift]:
            seconds[aggregator.name].append(time_call(lambda: aggregator.combine(matrix), device))

    reference = outputs[OURS]
    for aggregator in aggregators:
        details = {**base, "timed": aggregator.timed, "repeats": repeats, "warmup": settings.aggregation_warmup}
        error = aggregator.error or failed.get(aggregator.name)
        if error is not None:
            rows.append(Measurement(SECTION, input_name, f"{aggregator.name}_time", math.nan, "ms", {**details, "error": error}))
            continue
        summary = summarize(seconds[aggregator.name])
        rows.append(Measurement(SECTION, input_name, f"{aggregator.name}_time", 1000 * summary.median, "ms", {**details, "q1_ms": 1000 * summary.q1, "q3_ms": 1000 * summary.q3}))
        if aggregator.name != OURS:
            difference = _relative_difference(outputs[aggregator.name], reference)
            check = {**base, "tolerance": AGREEMENT_TOLERANCE, "measure": "max|anchor - mtllib| / max|mtllib|"}
            rows.append(Measurement(SECTION, input_name, f"{aggregator.name}_max_relative_difference", difference, "ratio", check))
            rows.append(Measurement(SECTION, input_name, f"{aggregator.name}_agrees", float(difference <= AGREEMENT_TOLERANCE), "boolean", check))
    return rows


def _mtllib_phases(input_name: str, matrix: Tensor, repeats: int, device: torch.device, settings: BenchSettings) -> list[Measurement]:
    """Time the four steps of project_conflicting and the bare Gramian product, for profiling."""
    generator = torch.Generator().manual_seed(0)
    gramian, scales = _gramian(matrix)
    orders = _visiting_orders(matrix.shape[0], generator)
    weights = pcgrad_weights(gramian, orders, scales)
    phases: dict[str, Callable[[], object]] = {
        "_gramian": lambda: _gramian(matrix),
        "_visiting_orders": lambda: _visiting_orders(matrix.shape[0], generator),
        "pcgrad_weights": lambda: pcgrad_weights(gramian, orders, scales),
        "_combine": lambda: _combine(weights, matrix, scales, "sum"),
        "matrix @ matrix.T alone": lambda: matrix @ matrix.T,
    }
    rows = []
    for phase, function in phases.items():
        summary = summarize(time_repeated(function, device, warmup=settings.aggregation_warmup, repeats=repeats))
        details = {"phase": phase, "columns": matrix.shape[1], "repeats": repeats, "q1_ms": 1000 * summary.q1, "q3_ms": 1000 * summary.q3}
        rows.append(Measurement(PHASE_SECTION, input_name, phase, 1000 * summary.median, "ms", details))
    return rows


def measure_pcgrad(batch: tuple[Tensor, Sequence[Tensor]], device: torch.device, settings: BenchSettings) -> tuple[list[Measurement], list[Aggregator]]:
    """Compare the aggregators on a real LeafNet matrix and on synthetic T=2 matrices.

    Returns the measurements and the aggregators, whose descriptions and errors go into the report.
    """
    aggregators = load_aggregators(device)
    rows = []
    for aggregator in aggregators:
        details = {"version": aggregator.version, "timed": aggregator.timed}
        if aggregator.error is not None:
            details["error"] = aggregator.error
            logger.warning("%s is not available: %s", aggregator.name, aggregator.error)
        if aggregator.note is not None:
            details["note"] = aggregator.note
        rows.append(Measurement(SECTION, aggregator.name, "available", float(aggregator.combine is not None), "boolean", details))

    inputs = [("LeafNet", leafnet_gradients(batch, device))]
    inputs += [(f"synthetic P={columns}", synthetic_gradients(columns, device)) for columns in settings.synthetic_sizes]
    for input_name, matrix in inputs:
        repeats = settings.aggregation_repeats if matrix.shape[1] <= 10**6 else settings.large_aggregation_repeats
        logger.info("PCGrad aggregation on %s (%d x %d), %d repeats", input_name, *matrix.shape, repeats)
        rows.extend(_compare(input_name, matrix, aggregators, repeats, device, settings))
        rows.extend(_mtllib_phases(input_name, matrix, repeats, device, settings))
    return rows, aggregators
