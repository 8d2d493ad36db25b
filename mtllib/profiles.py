"""Named training profiles: the published protocol and shorter ones for CPUs and tests."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch

from .training import TrainConfig

__all__ = ["PROFILES", "PROFILE_ENVIRONMENT_VARIABLE", "Profile", "default_profile_name", "get_profile"]

logger = logging.getLogger(__name__)

PROFILE_ENVIRONMENT_VARIABLE = "MTLLIB_PROFILE"


@dataclass(frozen=True)
class Profile:
    """Everything a profile fixes about a run of the study."""

    name: str
    epochs: int
    lass_switch_epoch: int
    lass_finetune_epochs: int
    folds: int
    limit_per_class: int | None
    description: str
    batch_size: int = 32
    lr: float = 5e-4
    lass_alpha: float = 0.5
    image_size: int = 64

    def train_config(self, seed: int = 0, pcgrad_mode: str = "shared") -> TrainConfig:
        """Return the :class:`~mtllib.TrainConfig` of this profile."""
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            lass_alpha=self.lass_alpha,
            lass_switch_epoch=self.lass_switch_epoch,
            lass_finetune_epochs=self.lass_finetune_epochs,
            pcgrad_mode=pcgrad_mode,
            seed=seed,
        )


PROFILES: dict[str, Profile] = {
    "paper": Profile(
        "paper",
        epochs=100,
        lass_switch_epoch=50,
        lass_finetune_epochs=5,
        folds=5,
        limit_per_class=None,
        description="the published protocol: 100 epochs, LaSS masks at epoch 50, 5 folds",
    ),
    "quick": Profile(
        "quick",
        epochs=6,
        lass_switch_epoch=3,
        lass_finetune_epochs=1,
        folds=5,
        limit_per_class=None,
        description="the published protocol shortened to 6 epochs, for a CPU",
    ),
    "smoke": Profile(
        "smoke",
        epochs=2,
        lass_switch_epoch=1,
        lass_finetune_epochs=1,
        folds=2,
        limit_per_class=8,
        description="2 epochs on 8 images per class, 2 folds: seconds, for tests",
    ),
}


def get_profile(name: str) -> Profile:
    """Return the profile called ``name``."""
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {name!r}")
    return PROFILES[name]


def default_profile_name(device: str | None = None) -> str:
    """Pick a profile: ``$MTLLIB_PROFILE`` if set, else ``paper`` on a GPU and ``quick`` on a CPU."""
    chosen = os.environ.get(PROFILE_ENVIRONMENT_VARIABLE)
    if chosen:
        get_profile(chosen)
        return chosen
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return "paper" if str(device).startswith("cuda") else "quick"
