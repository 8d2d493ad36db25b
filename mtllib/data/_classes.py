"""Class table of the leaf photo dataset of Chouhan, Singh, Kaul and Jain (2019).

"A Database of Leaf Images: Practice towards Plant Conservation with Plant Pathology",
Mendeley Data, dataset hb74ynkjcn, licence CC BY 4.0. The dataset has 4,503 photos in 22
classes, one per species and health state. The 4-digit prefix of a file name such as
``0007_0123.JPG`` is the class: 0001-0011 are healthy leaves and 0012-0022 diseased ones. The
prefix-to-species mapping is not an offset (healthy 0005 is Jamun, P5, but diseased 0016 is
Bael, P4), so the table below lists every prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "HEALTH_NAMES",
    "LEAF_CLASSES",
    "LeafClass",
    "NUM_CLASSES",
    "SPECIES_FOLDERS",
    "SPECIES_NAMES",
    "TASK_NAMES",
    "class_by_prefix",
    "class_index_table",
]

TASK_NAMES: tuple[str, str] = ("species", "health")
NUM_CLASSES: tuple[int, int] = (12, 2)

# Species index = the "Pn" number of the dataset's species folders. "Gauva" is the dataset's
# own spelling.
SPECIES_NAMES: tuple[str, ...] = (
    "Mango",
    "Arjun",
    "Alstonia Scholaris",
    "Gauva",
    "Bael",
    "Jamun",
    "Jatropha",
    "Pongamia Pinnata",
    "Basil",
    "Pomegranate",
    "Lemon",
    "Chinar",
)
SPECIES_FOLDERS: tuple[str, ...] = tuple(f"{name} (P{index})" for index, name in enumerate(SPECIES_NAMES))
HEALTH_NAMES: tuple[str, str] = ("healthy", "diseased")


@dataclass(frozen=True)
class LeafClass:
    """One of the 22 classes: file-name prefix, labels and number of photos in the dataset."""

    prefix: int
    species: int
    health: int
    count: int

    @property
    def index(self) -> int:
        """Class index in 0..21, the prefix minus one."""
        return self.prefix - 1

    @property
    def name(self) -> str:
        """Readable name such as ``"0012 Mango diseased"``."""
        return f"{self.prefix:04d} {SPECIES_NAMES[self.species]} {HEALTH_NAMES[self.health]}"


LEAF_CLASSES: tuple[LeafClass, ...] = (
    # Healthy leaves: prefix, species, health 0, count.
    LeafClass(1, 0, 0, 170),  # Mango
    LeafClass(2, 1, 0, 220),  # Arjun
    LeafClass(3, 2, 0, 179),  # Alstonia Scholaris
    LeafClass(4, 3, 0, 277),  # Gauva
    LeafClass(5, 5, 0, 279),  # Jamun (Bael has no healthy class)
    LeafClass(6, 6, 0, 133),  # Jatropha
    LeafClass(7, 7, 0, 322),  # Pongamia Pinnata
    LeafClass(8, 8, 0, 149),  # Basil
    LeafClass(9, 9, 0, 287),  # Pomegranate
    LeafClass(10, 10, 0, 159),  # Lemon
    LeafClass(11, 11, 0, 103),  # Chinar
    # Diseased leaves: prefix, species, health 1, count.
    LeafClass(12, 0, 1, 265),  # Mango
    LeafClass(13, 1, 1, 232),  # Arjun
    LeafClass(14, 2, 1, 254),  # Alstonia Scholaris
    LeafClass(15, 3, 1, 142),  # Gauva
    LeafClass(16, 4, 1, 118),  # Bael
    LeafClass(17, 5, 1, 345),  # Jamun
    LeafClass(18, 6, 1, 124),  # Jatropha
    LeafClass(19, 7, 1, 276),  # Pongamia Pinnata
    LeafClass(20, 9, 1, 272),  # Pomegranate (Basil has no diseased class)
    LeafClass(21, 10, 1, 77),  # Lemon
    LeafClass(22, 11, 1, 120),  # Chinar
)

_BY_PREFIX: dict[int, LeafClass] = {leaf_class.prefix: leaf_class for leaf_class in LEAF_CLASSES}


def class_by_prefix(prefix: int) -> LeafClass | None:
    """Look up the class of a 4-digit file-name prefix; None for a prefix outside 1..22."""
    return _BY_PREFIX.get(prefix)


def class_index_table() -> list[list[int]]:
    """Build the 12 x 2 table that maps (species, health) to the class index, -1 where no class exists."""
    table = [[-1, -1] for _ in SPECIES_NAMES]
    for leaf_class in LEAF_CLASSES:
        table[leaf_class.species][leaf_class.health] = leaf_class.index
    return table
