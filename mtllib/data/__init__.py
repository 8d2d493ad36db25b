"""Leaf data: the photos of Chouhan et al. (2019), procedural stand-ins, folds and mini-batches.

Two tasks share every image: task 0 is the species (12 classes, the dataset's "Pn" number)
and task 1 the health (0 healthy, 1 diseased). :func:`procedural_leaves` is the default data,
with the real dataset's 22 classes and 4,503 images. :func:`load_leaf_photos` loads the real
photos, and :func:`download_leaf_photos` fetches them where the machine has internet access.
"""

from ._batches import Batches
from ._classes import (
    HEALTH_NAMES,
    LEAF_CLASSES,
    NUM_CLASSES,
    SPECIES_FOLDERS,
    SPECIES_NAMES,
    TASK_NAMES,
    LeafClass,
    class_by_prefix,
)
from ._download import LEAF_PHOTOS_URL, download_leaf_photos
from ._export import LeafRenderer, export_jpeg_tree
from ._folds import stratified_folds
from ._leafdata import LeafData
from ._letterbox import letterbox
from ._photos import decode_photo, load_leaf_photos
from ._procedural import procedural_leaves, render_leaf
from ._render import GENERATOR_VERSION

__all__ = [
    "Batches",
    "GENERATOR_VERSION",
    "HEALTH_NAMES",
    "LEAF_CLASSES",
    "LEAF_PHOTOS_URL",
    "LeafClass",
    "LeafData",
    "LeafRenderer",
    "NUM_CLASSES",
    "SPECIES_FOLDERS",
    "SPECIES_NAMES",
    "TASK_NAMES",
    "class_by_prefix",
    "decode_photo",
    "download_leaf_photos",
    "export_jpeg_tree",
    "letterbox",
    "load_leaf_photos",
    "procedural_leaves",
    "render_leaf",
    "stratified_folds",
]
