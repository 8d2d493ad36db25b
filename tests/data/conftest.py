"""Shared fixtures of the leaf data tests: procedural data sets generated once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtllib.data import LeafData, procedural_leaves


@pytest.fixture(scope="session")
def procedural_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cache folder shared by the session's procedural data sets."""
    return tmp_path_factory.mktemp("procedural-cache")


@pytest.fixture(scope="session")
def full_leaves(procedural_cache: Path) -> LeafData:
    """All 4,503 procedural leaves for seed 0 at 64 pixels, generated once per session."""
    return procedural_leaves(seed=0, image_size=64, cache_dir=procedural_cache, progress=False)


@pytest.fixture(scope="session")
def small_leaves(procedural_cache: Path) -> LeafData:
    """The first 4 procedural leaves of each class for seed 0 at 64 pixels (88 images)."""
    return procedural_leaves(seed=0, image_size=64, cache_dir=procedural_cache, limit_per_class=4, progress=False)
