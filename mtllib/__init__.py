"""Gradient conflict in multi-task learning: PCGrad, the Modulation Module and LaSS.

The methods are composable parts for any PyTorch multi-task model:

* :class:`PCGrad` and :func:`project_conflicting` (Yu et al., NeurIPS 2020);
* :class:`Modulation` (Zhao et al., ECCV 2018);
* :mod:`mtllib.lass` with :class:`MaskedLinear` and :func:`find_masks` (Lin et al., ACL 2021).

:class:`LeafNet`, :data:`APPROACHES`, :func:`training_step` and :func:`fit` combine them as
in the leaf study of Alison, Jonathan and Suhartono (CommIT Journal, 2024), and
:mod:`mtllib.data` provides its leaf images.
"""

from __future__ import annotations

import logging

from . import lass
from .approaches import APPROACHES, Approach, get_approach, parse_approaches
from .lass import MaskedLinear, find_masks, magnitude_mask
from .models import LeafNet
from .modulation import Modulation
from .pcgrad import PCGrad, project_conflicting
from .training import EpochLog, FitResult, TrainConfig, build_model, evaluate, fit, training_step

__all__ = [
    "APPROACHES",
    "Approach",
    "EpochLog",
    "FitResult",
    "LeafNet",
    "MaskedLinear",
    "Modulation",
    "PCGrad",
    "TrainConfig",
    "build_model",
    "evaluate",
    "find_masks",
    "fit",
    "get_approach",
    "lass",
    "magnitude_mask",
    "parse_approaches",
    "project_conflicting",
    "training_step",
]

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
