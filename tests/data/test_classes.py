from __future__ import annotations

import pytest
import torch

from mtllib.data import LEAF_CLASSES, SPECIES_FOLDERS, LeafData, class_by_prefix

# Class counts of the dataset, (healthy, diseased) per species in P-number order.
EXPECTED_COUNTS = {
    0: (170, 265),
    1: (220, 232),
    2: (179, 254),
    3: (277, 142),
    4: (0, 118),
    5: (279, 345),
    6: (133, 124),
    7: (322, 276),
    8: (149, 0),
    9: (287, 272),
    10: (159, 77),
    11: (103, 120),
}


def test_class_table_counts() -> None:
    assert len(LEAF_CLASSES) == 22
    assert sum(leaf_class.count for leaf_class in LEAF_CLASSES) == 4503
    assert sum(leaf_class.count for leaf_class in LEAF_CLASSES if leaf_class.health == 0) == 2278
    assert sum(leaf_class.count for leaf_class in LEAF_CLASSES if leaf_class.health == 1) == 2225
    for species, (healthy, diseased) in EXPECTED_COUNTS.items():
        counts = {c.health: c.count for c in LEAF_CLASSES if c.species == species}
        assert counts.get(0, 0) == healthy, species
        assert counts.get(1, 0) == diseased, species


def test_class_table_prefixes() -> None:
    assert [leaf_class.prefix for leaf_class in LEAF_CLASSES] == list(range(1, 23))
    assert all(leaf_class.health == 0 for leaf_class in LEAF_CLASSES[:11])
    assert all(leaf_class.health == 1 for leaf_class in LEAF_CLASSES[11:])
    # The prefix-to-species mapping is not an offset.
    assert class_by_prefix(5).species == 5
    assert class_by_prefix(16).species == 4
    assert class_by_prefix(20).species == 9
    assert class_by_prefix(0) is None
    assert class_by_prefix(23) is None
    assert SPECIES_FOLDERS[0] == "Mango (P0)"
    assert SPECIES_FOLDERS[3] == "Gauva (P3)"


def _tiny_data(species: list[int], health: list[int]) -> LeafData:
    count = len(species)
    return LeafData(
        images=torch.zeros(count, 3, 8, 8, dtype=torch.uint8),
        species=torch.tensor(species, dtype=torch.int64),
        health=torch.tensor(health, dtype=torch.int64),
        files=tuple(f"image{position}" for position in range(count)),
    )


def test_leafdata_properties() -> None:
    data = _tiny_data([0, 4, 8, 11], [1, 1, 0, 0])
    assert len(data) == 4
    assert data.num_classes == (12, 2)
    assert data.task_names == ("species", "health")
    assert data.image_size == 8
    assert data.targets[0] is data.species
    assert data.targets[1] is data.health
    # Prefixes 0012, 0016, 0008 and 0011, minus one.
    assert data.class_index.tolist() == [11, 15, 7, 10]


def test_leafdata_subset() -> None:
    data = _tiny_data([0, 1, 2, 3], [0, 1, 0, 1])
    data.images[2].fill_(7)
    part = data.subset(torch.tensor([2, 0]))
    assert part.species.tolist() == [2, 0]
    assert part.health.tolist() == [0, 0]
    assert part.files == ("image2", "image0")
    assert int(part.images[0].max()) == 7
    with pytest.raises(ValueError, match="indices must be in"):
        data.subset([4])
    masked = data.subset(torch.tensor([False, True, True, False]))
    assert masked.files == ("image1", "image2")
    with pytest.raises(ValueError, match="boolean mask must have shape"):
        data.subset(torch.tensor([True]))


def test_leafdata_fingerprint() -> None:
    data = _tiny_data([0, 1], [0, 1])
    same = _tiny_data([0, 1], [0, 1])
    assert data.fingerprint() == same.fingerprint()
    assert len(data.fingerprint()) == 64
    other_labels = _tiny_data([0, 1], [1, 1])
    assert data.fingerprint() != other_labels.fingerprint()
    same.images[0, 0, 0, 0] = 1
    assert data.fingerprint() != same.fingerprint()


def test_leafdata_validation() -> None:
    with pytest.raises(ValueError, match="no class"):
        _tiny_data([4], [0])  # Bael has no healthy class.
    with pytest.raises(ValueError, match="species labels must be in"):
        _tiny_data([12], [0])
    with pytest.raises(ValueError, match="images must be a uint8"):
        LeafData(torch.zeros(1, 3, 8, 8), torch.zeros(1, dtype=torch.int64), torch.zeros(1, dtype=torch.int64), ("a",))
    with pytest.raises(ValueError, match="files must have one entry"):
        LeafData(
            torch.zeros(1, 3, 8, 8, dtype=torch.uint8),
            torch.zeros(1, dtype=torch.int64),
            torch.zeros(1, dtype=torch.int64),
            (),
        )
