"""Gradient norms, cosine similarity, gradient magnitude similarity and conflicts.

Definitions, for the gradients g_i and g_j of two tasks over a set of shared weights:

* ``dot`` = g_i·g_j, ``squared_norm_i`` = ‖g_i‖², ``squared_norm_j`` = ‖g_j‖²;
* ``cosine`` = g_i·g_j / (‖g_i‖‖g_j‖), NaN when either gradient is zero;
* ``magnitude_similarity`` = 2‖g_i‖‖g_j‖ / (‖g_i‖² + ‖g_j‖²) (Yu et al., "Gradient Surgery
  for Multi-Task Learning", NeurIPS 2020), 1 for equal norms, 0 when exactly one gradient is
  zero, NaN when both are;
* ``conflict`` = 1.0 when g_i·g_j < 0, else 0.0, so a zero gradient never conflicts.

All sums run in float64. Squared norms and dot products add up over disjoint sets of weights,
which is why they are recorded next to the ratios.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..lass import MaskedLinear

__all__ = ["gradient_similarity", "similarity_from_products"]

WHOLE = "all"
"""Layer name of the rows that cover every recorded parameter."""

ROOT = "(root)"
"""Layer name of parameters registered on the model itself rather than on a submodule."""


def similarity_from_products(dot: float, squared_norm_i: float, squared_norm_j: float) -> dict[str, float]:
    """Compute cosine, magnitude similarity and conflict from a dot product and two squared norms.

    Zero gradients follow the conventions of this module's docstring: the cosine of a zero
    gradient is NaN, the magnitude similarity is 0 when one norm is zero and NaN when both
    are, and a zero gradient never conflicts.
    """
    if squared_norm_i < 0 or squared_norm_j < 0:
        raise ValueError(f"squared norms must be >= 0, got {squared_norm_i} and {squared_norm_j}")

    norm_product = math.sqrt(squared_norm_i) * math.sqrt(squared_norm_j)
    if norm_product > 0:
        cosine = min(1.0, max(-1.0, dot / norm_product))
    else:
        cosine = math.nan

    total = squared_norm_i + squared_norm_j
    # Rounding can put 2ab / (a² + b²) a few ulps above its bound of 1.
    magnitude = min(1.0, 2.0 * norm_product / total) if total > 0 else math.nan
    return {"cosine": cosine, "magnitude_similarity": magnitude, "conflict": 1.0 if dot < 0 else 0.0}


def gradient_similarity(g_i: Tensor, g_j: Tensor, shared: Tensor | None = None) -> dict[str, float]:
    """Measure how two task gradients relate: dot product, squared norms and their ratios.

    Args:
        g_i, g_j: gradients of the same shape; they are flattened.
        shared: optional bool tensor of that shape; only the weights where it is True count,
            as for the weights two LaSS masks share.

    Returns:
        ``dot`` (g_i·g_j), ``squared_norm_i`` and ``squared_norm_j`` (‖g_i‖², ‖g_j‖²),
        ``cosine`` (g_i·g_j / (‖g_i‖‖g_j‖), NaN for a zero gradient),
        ``magnitude_similarity`` (2‖g_i‖‖g_j‖ / (‖g_i‖² + ‖g_j‖²), 0 when exactly one
        gradient is zero) and ``conflict`` (1.0 when g_i·g_j < 0, else 0.0).

    Example:
        >>> import torch
        >>> from mtllib.diagnostics import gradient_similarity
        >>> values = gradient_similarity(torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0]))
        >>> round(values["cosine"], 4), values["magnitude_similarity"] < 1, values["conflict"]
        (-0.7071, True, 1.0)
    """
    if g_i.shape != g_j.shape:
        raise ValueError(f"g_i and g_j must have the same shape, got {tuple(g_i.shape)} and {tuple(g_j.shape)}")
    a = g_i.detach().reshape(-1).double()
    b = g_j.detach().reshape(-1).double()
    if shared is not None:
        if shared.shape != g_i.shape:
            raise ValueError(f"shared must have the shape of the gradients {tuple(g_i.shape)}, got {tuple(shared.shape)}")
        keep = shared.reshape(-1).to(device=a.device, dtype=torch.bool)
        a = torch.where(keep, a, torch.zeros_like(a))
        b = torch.where(keep, b, torch.zeros_like(b))

    dot, squared_norm_i, squared_norm_j = torch.stack([a @ b, a @ a, b @ b]).tolist()
    return {
        "dot": dot,
        "squared_norm_i": squared_norm_i,
        "squared_norm_j": squared_norm_j,
        **similarity_from_products(dot, squared_norm_i, squared_norm_j),
    }


@dataclass(frozen=True)
class _Entry:
    name: str
    layer: str
    parameter: nn.Parameter
    masked_layer: MaskedLinear | None


class ParameterLayout:
    """The recorded parameters flattened into one vector, grouped by the module that owns them.

    Parameters are reordered so that each layer (``blocks.0.conv``, ``fully_connected.1``, ...)
    is one contiguous range of columns, in the order in which layers first appear among
    ``parameters``. The weight of a :class:`~mtllib.lass.MaskedLinear` is remembered with its
    layer so that pair statistics can be restricted to the weights two tasks' masks share.
    """

    def __init__(self, model: nn.Module, parameters: Sequence[nn.Parameter]) -> None:
        owners = {name: module for name, module in model.named_modules()}
        names = {id(p): name for name, p in model.named_parameters()}

        entries: list[_Entry] = []
        seen: set[int] = set()
        for parameter in parameters:
            if id(parameter) in seen:
                continue
            seen.add(id(parameter))
            if id(parameter) not in names:
                raise ValueError(
                    f"parameters contains a tensor of shape {tuple(parameter.shape)} that is not a parameter of "
                    f"{type(model).__name__}; pass parameters of the model being trained"
                )
            name = names[id(parameter)]
            owner_name, _, attribute = name.rpartition(".")
            owner = owners[owner_name]
            masked = owner if isinstance(owner, MaskedLinear) and attribute == "weight" else None
            entries.append(_Entry(name, owner_name or ROOT, parameter, masked))
        if not entries:
            raise ValueError("parameters is empty; pass at least one shared parameter of the model")

        layer_order = list(dict.fromkeys(entry.layer for entry in entries))
        entries.sort(key=lambda entry: layer_order.index(entry.layer))

        self.entries = entries
        self.parameters = [entry.parameter for entry in entries]
        self.sizes = [entry.parameter.numel() for entry in entries]
        self.total = sum(self.sizes)
        self.layers: dict[str, tuple[int, int]] = {}
        offset = 0
        for entry, size in zip(entries, self.sizes):
            start, _ = self.layers.get(entry.layer, (offset, offset))
            self.layers[entry.layer] = (start, offset + size)
            offset += size

    def flatten(self, gradients: Sequence[Sequence[Tensor | None]]) -> Tensor:
        """Stack per-task gradients (in :attr:`parameters` order) into a T×P float64 matrix."""
        first = self.parameters[0]
        matrix = torch.zeros(len(gradients), self.total, dtype=torch.float64, device=first.device)
        for row, task_gradients in zip(matrix, gradients):
            offset = 0
            for size, gradient in zip(self.sizes, task_gradients):
                if gradient is not None:
                    row[offset : offset + size].copy_(gradient.detach().reshape(-1))
                offset += size
        return matrix

    def pair_keep(self, task_i: int, task_j: int) -> Tensor | None:
        """Return the bool vector of weights both tasks' LaSS masks keep, or None without masks."""
        if not any(entry.masked_layer is not None and entry.masked_layer.has_masks for entry in self.entries):
            return None
        parts = []
        for entry in self.entries:
            layer = entry.masked_layer
            if layer is not None and layer.has_masks:
                parts.append((layer.masks[task_i] & layer.masks[task_j]).reshape(-1))
            else:
                parts.append(torch.ones(entry.parameter.numel(), dtype=torch.bool, device=entry.parameter.device))
        return torch.cat(parts)


Row = tuple[str, str, int | None, int | None, float]
"""(layer, quantity, task, task_j, value)."""


def gradient_rows(matrix: Tensor, layout: ParameterLayout, tasks: Sequence[int]) -> list[Row]:
    """Compute every per-task and per-pair quantity of a T×P gradient matrix, whole and per layer.

    The rows of layer ``"all"`` are computed from the whole vectors, not summed from the layers,
    so that the sums of the layers' squared norms and dot products check them.
    """
    num_tasks = matrix.shape[0]
    pairs = [(a, b) for a in range(num_tasks) for b in range(a + 1, num_tasks)]
    keeps = {pair: layout.pair_keep(tasks[pair[0]], tasks[pair[1]]) for pair in pairs}
    ranges = [(WHOLE, 0, layout.total), *((name, start, stop) for name, (start, stop) in layout.layers.items())]

    # Every value goes into one tensor first so that a GPU synchronises once per record.
    values = []
    for _, start, stop in ranges:
        block = matrix[:, start:stop]
        gramian = block @ block.T
        values.append(gramian.diagonal())
        for a, b in pairs:
            keep = keeps[(a, b)]
            if keep is None:
                values.append(torch.stack([gramian[a, b], gramian[a, a], gramian[b, b]]))
            else:
                shared = keep[start:stop].to(block.dtype)
                g_a = block[a] * shared
                g_b = block[b] * shared
                values.append(torch.stack([g_a @ g_b, g_a @ g_a, g_b @ g_b]))
    flat = torch.cat(values).tolist()

    rows: list[Row] = []
    position = 0
    for layer, _, _ in ranges:
        for a in range(num_tasks):
            squared_norm = flat[position + a]
            rows.append((layer, "grad_norm", tasks[a], None, math.sqrt(squared_norm)))
            rows.append((layer, "squared_norm", tasks[a], None, squared_norm))
        position += num_tasks
        for a, b in pairs:
            dot, squared_norm_i, squared_norm_j = flat[position : position + 3]
            position += 3
            pair_values = {
                "dot": dot,
                "squared_norm_i": squared_norm_i,
                "squared_norm_j": squared_norm_j,
                **similarity_from_products(dot, squared_norm_i, squared_norm_j),
            }
            rows.extend((layer, quantity, tasks[a], tasks[b], value) for quantity, value in pair_values.items())
    return rows
