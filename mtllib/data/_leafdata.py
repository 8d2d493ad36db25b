"""The in-memory leaf data set returned by the photo loader and the procedural generator."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from ._classes import NUM_CLASSES, TASK_NAMES, class_index_table

__all__ = ["LeafData"]

_CLASS_INDEX = torch.tensor(class_index_table(), dtype=torch.int64)


@dataclass(eq=False, repr=False)
class LeafData:
    """Letterboxed leaf images with their species and health labels.

    Attributes:
        images: uint8 tensor of shape N x 3 x S x S (RGB, channels first).
        species: int64 tensor of length N, the species index 0..11 (the dataset's "Pn" number).
        health: int64 tensor of length N, 0 for healthy and 1 for diseased.
        files: one entry per image. For photos it is the source path. For procedural leaves it
            is the name the image gets in the real naming scheme, such as ``"0012_0001"``.
        skipped: ``(path, reason)`` for every file that the photo loader did not use.
        source: short description of where the images come from, such as
            ``"procedural(seed=0)"`` or the photo root.
    """

    images: Tensor
    species: Tensor
    health: Tensor
    files: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    source: str = ""

    num_classes: ClassVar[tuple[int, int]] = NUM_CLASSES
    task_names: ClassVar[tuple[str, str]] = TASK_NAMES

    def __post_init__(self) -> None:
        self.files = tuple(self.files)
        self.skipped = tuple((str(path), str(reason)) for path, reason in self.skipped)

        images = self.images
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(
                f"images must be a uint8 tensor of shape N x 3 x S x S, got {images.dtype} {tuple(images.shape)}"
            )
        if images.shape[2] != images.shape[3]:
            raise ValueError(f"images must be square, got {images.shape[2]}x{images.shape[3]}")

        count = images.shape[0]
        for name, labels, num_classes in (("species", self.species, 12), ("health", self.health, 2)):
            if labels.dtype != torch.int64 or labels.shape != (count,):
                raise ValueError(
                    f"{name} must be an int64 tensor of length {count}, got {labels.dtype} {tuple(labels.shape)}"
                )
            if count and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
                raise ValueError(f"{name} labels must be in [0, {num_classes - 1}], got {labels.unique().tolist()}")
        if len(self.files) != count:
            raise ValueError(f"files must have one entry per image ({count}), got {len(self.files)}")
        if count and bool((self.class_index < 0).any()):
            position = int(torch.nonzero(self.class_index < 0)[0, 0])
            raise ValueError(
                f"image {position} ({self.files[position]}) has species {int(self.species[position])} and health "
                f"{int(self.health[position])}, a combination that has no class in the dataset"
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        return (
            f"LeafData(len={len(self)}, image_size={self.image_size}, source={self.source!r}, "
            f"skipped={len(self.skipped)})"
        )

    @property
    def image_size(self) -> int:
        """Side length S of the square images in pixels."""
        return int(self.images.shape[-1])

    @property
    def targets(self) -> tuple[Tensor, Tensor]:
        """Labels of task 0 (species) and task 1 (health)."""
        return self.species, self.health

    @property
    def class_index(self) -> Tensor:
        """Index of the dataset's 22 classes, 0..21: the 4-digit file-name prefix minus one.

        It combines species and health, and stratified folds are drawn on it.
        """
        table = _CLASS_INDEX.to(self.species.device)
        return table[self.species, self.health]

    def subset(self, indices: Tensor | Sequence[int]) -> LeafData:
        """Return the images at ``indices``, in that order, with their labels and files.

        A boolean mask of length N selects the images where it is True.
        """
        count = len(self)
        mask = torch.as_tensor(indices)
        if mask.dtype == torch.bool:
            if mask.shape != (count,):
                raise ValueError(f"a boolean mask must have shape ({count},), got {tuple(mask.shape)}")
            index = torch.nonzero(mask.cpu()).reshape(-1)
        else:
            index = mask.to(torch.int64).reshape(-1).cpu()
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= count):
            raise ValueError(
                f"indices must be in [0, {count - 1}], got values from {int(index.min())} to {int(index.max())}"
            )
        files = tuple(self.files[position] for position in index.tolist())
        return LeafData(
            images=self.images[index.to(self.images.device)],
            species=self.species[index.to(self.species.device)],
            health=self.health[index.to(self.health.device)],
            files=files,
            skipped=self.skipped,
            source=self.source,
        )

    def fingerprint(self) -> str:
        """Compute the SHA-256 hex digest of the image bytes and labels.

        Two data sets have the same fingerprint exactly when their images, species and health
        labels are equal, in the same order. Files, skipped entries and source are not hashed.
        """
        digest = hashlib.sha256()
        digest.update(f"LeafData images {tuple(self.images.shape)}\n".encode())
        digest.update(self.images.detach().cpu().contiguous().numpy().tobytes())
        for name, labels in (("species", self.species), ("health", self.health)):
            digest.update(f"\n{name}\n".encode())
            digest.update(labels.detach().cpu().contiguous().numpy().astype("<i8").tobytes())
        return digest.hexdigest()
