from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from mtllib.data.__main__ import main
from mtllib.data._benchmark import bench_procedural_generation, write_full_size_jpegs

ROW_KEYS = {"benchmark", "variant", "images", "seconds", "ms_per_image"}


def test_write_full_size_jpegs_small(tmp_path: Path) -> None:
    paths = write_full_size_jpegs(tmp_path, 2, size=(600, 400))
    assert [path.name for path in paths] == ["0001_0001.JPG", "0002_0001.JPG"]
    with Image.open(paths[0]) as image:
        assert image.size == (600, 400)
    with pytest.raises(ValueError, match=r"count must be an int in \[1, 22\]"):
        write_full_size_jpegs(tmp_path, 23)


def test_bench_generation_rows() -> None:
    rows = bench_procedural_generation(limit_per_class=1, workers=(1,))
    assert len(rows) == 1
    assert ROW_KEYS <= set(rows[0])
    assert rows[0]["images"] == 22
    assert rows[0]["workers"] == 1
    assert rows[0]["ms_per_image"] > 0


def test_bench_command_prints_rows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--photos", "1", "--repeats", "1", "--limit-per-class", "1"]) == 0
    output = capsys.readouterr().out
    assert "photo decode + letterbox   draft" in output
    assert "photo decode + letterbox   full" in output
    assert "procedural generation" in output
    assert "ms/image" in output
