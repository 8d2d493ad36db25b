from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from mtllib.data import LeafData, LeafRenderer, export_jpeg_tree, load_leaf_photos


def test_export_nested_round_trip(small_leaves: LeafData, tmp_path: Path) -> None:
    paths = export_jpeg_tree(small_leaves, tmp_path, progress=False)
    assert len(paths) == len(small_leaves)
    assert paths[0] == tmp_path / "Mango (P0)" / "healthy" / "0001_0001.JPG"
    assert (tmp_path / "Bael (P4)" / "diseased" / "0016_0004.JPG").is_file()
    assert (tmp_path / "Basil (P8)" / "healthy" / "0008_0001.JPG").is_file()

    loaded = load_leaf_photos(tmp_path, image_size=64, workers=1, progress=False)
    assert len(loaded) == len(small_leaves)
    assert torch.equal(loaded.species, small_leaves.species)
    assert torch.equal(loaded.health, small_leaves.health)
    assert [Path(file).stem for file in loaded.files] == list(small_leaves.files)
    # Only JPEG compression separates the round trip from the original pixels.
    difference = (loaded.images.float() - small_leaves.images.float()).abs().mean()
    assert float(difference) < 3.0


def test_export_flat_round_trip(small_leaves: LeafData, tmp_path: Path) -> None:
    paths = export_jpeg_tree(small_leaves, tmp_path, layout="flat", progress=False)
    assert all(path.parent == tmp_path for path in paths)
    loaded = load_leaf_photos(tmp_path, image_size=64, workers=1, progress=False)
    assert torch.equal(loaded.class_index, small_leaves.class_index)


def test_export_subset_numbers_kept(small_leaves: LeafData, tmp_path: Path) -> None:
    subset = small_leaves.subset([3, 1])
    paths = export_jpeg_tree(subset, tmp_path, layout="flat", progress=False)
    assert [path.name for path in paths] == ["0001_0004.JPG", "0001_0002.JPG"]


def test_export_numbers_counted_without_names(small_leaves: LeafData, tmp_path: Path) -> None:
    subset = small_leaves.subset([0, 1, 4])
    renamed = LeafData(subset.images, subset.species, subset.health, files=("x", "y", "z"))
    paths = export_jpeg_tree(renamed, tmp_path, layout="flat", progress=False)
    assert [path.name for path in paths] == ["0001_0001.JPG", "0001_0002.JPG", "0002_0001.JPG"]


def test_export_renderer_larger_drawings(tmp_path: Path) -> None:
    renderer = LeafRenderer(seed=0, width=384, limit_per_class=1)
    paths = export_jpeg_tree(renderer, tmp_path, workers=2, progress=False)
    assert len(paths) == 22
    assert paths[4] == tmp_path / "Jamun (P5)" / "healthy" / "0005_0001.JPG"
    with Image.open(paths[0]) as image:
        assert image.size == (384, 256)
    loaded = load_leaf_photos(tmp_path, image_size=32, workers=1, progress=False)
    assert loaded.class_index.tolist() == list(range(22))


def test_export_validation(small_leaves: LeafData, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="layout must be one of 'nested', 'flat'"):
        export_jpeg_tree(small_leaves, tmp_path, layout="tree")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="quality must be an int"):
        export_jpeg_tree(small_leaves, tmp_path, quality=0)
    with pytest.raises(ValueError, match="source must be a LeafData or a LeafRenderer"):
        export_jpeg_tree("leaves", tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="width must be a positive multiple of 3"):
        LeafRenderer(width=200)
