from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mtllib.data import letterbox
from mtllib.data._letterbox import letterbox_geometry, to_rgb


def _content_box(array: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box (left, top, right, bottom) of the non-black pixels."""
    rows = np.nonzero(array.any(axis=(1, 2)))[0]
    columns = np.nonzero(array.any(axis=(0, 2)))[0]
    return int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1


@pytest.mark.parametrize(
    ("width", "height", "size", "expected"),
    [
        (6000, 4000, 64, (64, 43, 0, 10)),
        (4000, 6000, 64, (43, 64, 10, 0)),
        (192, 128, 64, (64, 43, 0, 10)),
        (100, 100, 64, (64, 64, 0, 0)),
        (30, 20, 90, (90, 60, 0, 15)),
        (1000, 1, 10, (10, 1, 0, 4)),
    ],
)
def test_letterbox_geometry_table(width: int, height: int, size: int, expected: tuple[int, int, int, int]) -> None:
    assert letterbox_geometry(width, height, size) == expected


@pytest.mark.parametrize(("width", "height"), [(300, 200), (200, 300)])
def test_letterbox_landscape_and_portrait(width: int, height: int) -> None:
    image = Image.new("RGB", (width, height), (200, 100, 50))
    boxed = letterbox(image, 64)
    assert boxed.size == (64, 64)
    assert boxed.mode == "RGB"
    array = np.asarray(boxed)
    left, top, right, bottom = _content_box(array)

    # Aspect ratio kept: the longer side fills the square, the shorter one is 2/3 of it.
    if width > height:
        assert (left, right) == (0, 64)
        assert bottom - top == 43
    else:
        assert (top, bottom) == (0, 64)
        assert right - left == 43

    # Centred, with the odd pixel of padding on the right or bottom.
    assert (top, left) in ((10, 0), (0, 10))
    assert 64 - bottom in (10, 11) or 64 - right in (10, 11)

    # Zero padding, and the content keeps its colour.
    padding = np.ones((64, 64), dtype=bool)
    padding[top:bottom, left:right] = False
    assert not array[padding].any()
    centre = array[32, 32]
    assert np.abs(centre.astype(int) - [200, 100, 50]).max() <= 1


def test_letterbox_keeps_orientation() -> None:
    image = Image.new("RGB", (60, 40), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 30, 40))  # Left half red.
    array = np.asarray(letterbox(image, 30))
    assert array[15, 5, 0] > 200
    assert array[15, 5, 2] < 50
    assert array[15, 25, 2] > 200
    assert array[15, 25, 0] < 50


def test_letterbox_rejects_bad_size() -> None:
    image = Image.new("RGB", (10, 10))
    for size in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="size must be a positive int"):
            letterbox(image, size)  # type: ignore[arg-type]


def _mode_image(mode: str) -> tuple[Image.Image, tuple[int, int, int]]:
    """A 6 x 4 image in ``mode`` and the RGB colour it should become."""
    if mode == "L":
        return Image.new("L", (6, 4), 128), (128, 128, 128)
    if mode == "1":
        return Image.new("1", (6, 4), 1), (255, 255, 255)
    if mode == "P":
        image = Image.new("P", (6, 4), 3)
        image.putpalette([0, 0, 0] * 3 + [10, 200, 30] + [0, 0, 0] * 252)
        return image, (10, 200, 30)
    if mode == "P transparent":
        image = Image.new("P", (6, 4), 3)
        image.putpalette([0, 0, 0] * 3 + [10, 200, 30] + [0, 0, 0] * 252)
        image.info["transparency"] = 3
        return image, (0, 0, 0)
    if mode == "CMYK":
        return Image.new("CMYK", (6, 4), (0, 255, 255, 0)), (255, 0, 0)
    if mode == "RGBA":
        return Image.new("RGBA", (6, 4), (200, 100, 50, 255)), (200, 100, 50)
    if mode == "RGBA half":
        return Image.new("RGBA", (6, 4), (200, 100, 50, 128)), (100, 50, 25)
    if mode == "LA":
        return Image.new("LA", (6, 4), (200, 0)), (0, 0, 0)
    if mode == "I;16":
        return Image.fromarray(np.full((4, 6), 60000, dtype=np.uint16)), (233, 233, 233)
    if mode == "I":
        return Image.new("I", (6, 4), 65535), (255, 255, 255)
    if mode == "F":
        return Image.new("F", (6, 4), 77.4), (77, 77, 77)
    raise AssertionError(mode)


@pytest.mark.parametrize(
    "mode", ["L", "1", "P", "P transparent", "CMYK", "RGBA", "RGBA half", "LA", "I;16", "I", "F"]
)
def test_to_rgb_modes(mode: str) -> None:
    image, expected = _mode_image(mode)
    if mode == "I;16":
        assert image.mode == "I;16"
    converted = to_rgb(image)
    assert converted.mode == "RGB"
    assert converted.size == image.size
    pixel = np.asarray(converted)[1, 1].astype(int)
    assert np.abs(pixel - expected).max() <= 1, (mode, pixel.tolist(), expected)
