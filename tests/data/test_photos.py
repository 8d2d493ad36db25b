from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import mtllib.data._photos as photos
from mtllib.data import LeafData, decode_photo, letterbox, load_leaf_photos
from mtllib.data._benchmark import write_full_size_jpegs

# Label of each prefix used below: prefix -> (species, health).
LABELS = {1: (0, 0), 12: (0, 1), 5: (5, 0), 16: (4, 1), 8: (8, 0), 22: (11, 1)}


def write_photo(path: Path, colour: tuple[int, int, int] = (90, 160, 60), size: tuple[int, int] = (60, 40)) -> Path:
    """Write a small JPEG with a colour of its own and a dark mark in the top-left corner."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, colour)
    image.paste((0, 0, 0), (0, 0, size[0] // 4, size[1] // 4))
    image.save(path, "JPEG", quality=95)
    return path


def nested_tree(root: Path) -> list[Path]:
    """Write 8 photos in the nested layout, below an extra top folder."""
    top = root / "Plant leaves"
    paths = [
        write_photo(top / "Mango (P0)" / "healthy" / "0001_0001.JPG"),
        write_photo(top / "Mango (P0)" / "healthy" / "0001_0002.jpg"),
        write_photo(top / "Mango (P0)" / "diseased" / "0012_0001.JPG"),
        write_photo(top / "Jamun (P5)" / "healthy" / "0005_0001.jpeg"),
        write_photo(top / "Bael (P4)" / "diseased" / "0016_0001.JPEG"),
        write_photo(top / "Basil (P8)" / "healthy" / "0008_0001.JPG"),
        write_photo(top / "Chinar (P11)" / "diseased" / "0022_0001.JPG"),
        write_photo(top / "Chinar (P11)" / "diseased" / "0022_0002.JPG"),
    ]
    return paths


def load(root: Path, **kwargs: object) -> LeafData:
    kwargs.setdefault("progress", False)
    kwargs.setdefault("workers", 1)
    return load_leaf_photos(root, **kwargs)  # type: ignore[arg-type]


def test_nested_layout_labels(tmp_path: Path) -> None:
    nested_tree(tmp_path)
    data = load(tmp_path, image_size=32)
    assert len(data) == 8
    assert data.images.shape == (8, 3, 32, 32)
    assert data.images.dtype == torch.uint8
    names = [Path(file).name for file in data.files]
    # Ordered by class prefix, then path.
    assert names == [
        "0001_0001.JPG",
        "0001_0002.jpg",
        "0005_0001.jpeg",
        "0008_0001.JPG",
        "0012_0001.JPG",
        "0016_0001.JPEG",
        "0022_0001.JPG",
        "0022_0002.JPG",
    ]
    prefixes = [int(name[:4]) for name in names]
    assert data.species.tolist() == [LABELS[prefix][0] for prefix in prefixes]
    assert data.health.tolist() == [LABELS[prefix][1] for prefix in prefixes]
    assert data.skipped == ()
    assert data.source == str(tmp_path.resolve())


def test_flat_layout_labels(tmp_path: Path) -> None:
    for prefix in LABELS:
        write_photo(tmp_path / "flat" / f"{prefix:04d}_0007.JPG")
    data = load(tmp_path)
    assert len(data) == len(LABELS)
    expected = sorted(LABELS)
    assert data.species.tolist() == [LABELS[prefix][0] for prefix in expected]
    assert data.health.tolist() == [LABELS[prefix][1] for prefix in expected]


def test_mixed_layouts_and_png(tmp_path: Path) -> None:
    nested_tree(tmp_path / "a")
    write_photo(tmp_path / "b" / "c" / "0009_0001.JPG")
    Image.new("RGB", (30, 20), (10, 20, 30)).save(tmp_path / "b" / "0010_0001.PNG")
    data = load(tmp_path)
    assert len(data) == 10
    assert sum(Path(file).suffix == ".PNG" for file in data.files) == 1
    assert data.species.tolist().count(9) == 1
    assert data.species.tolist().count(10) == 1


def test_image_content_letterboxed(tmp_path: Path) -> None:
    write_photo(tmp_path / "0001_0001.JPG", colour=(200, 40, 40), size=(90, 60))
    write_photo(tmp_path / "0002_0001.JPG", colour=(40, 40, 200), size=(60, 90))
    data = load(tmp_path, image_size=30)
    landscape, portrait = data.images.numpy()
    # Landscape: rows 0-4 and 25-29 are padding, the mark sits top-left of the content.
    assert not landscape[:, :5].any()
    assert not landscape[:, 25:].any()
    assert landscape[0, 15, 20] > 150
    assert landscape[2, 15, 20] < 100
    assert landscape[:, 6, 1].max() < 40
    # Portrait: columns are padded instead.
    assert not portrait[:, :, :5].any()
    assert not portrait[:, :, 25:].any()
    assert portrait[2, 20, 15] > 150


def test_full_size_jpegs_draft(tmp_path: Path) -> None:
    landscape = write_full_size_jpegs(tmp_path / "flat", 2)
    [portrait] = write_full_size_jpegs(tmp_path / "portrait", 1, size=(4000, 6000))
    portrait = portrait.rename(portrait.with_name("0001_0002.JPG"))
    with Image.open(landscape[0]) as image:
        assert image.size == (6000, 4000)
    assert landscape[0].stat().st_size > 1_000_000

    data = load(tmp_path, image_size=64, workers=2)
    assert data.images.shape == (3, 3, 64, 64)
    assert [Path(file).name for file in data.files] == ["0001_0001.JPG", "0001_0002.JPG", "0002_0001.JPG"]
    assert data.species.tolist() == [0, 0, 1]
    # The portrait photo is padded left and right, the landscape ones top and bottom.
    assert not data.images[1, :, :, :10].any()
    assert not data.images[0, :, :10, :].any()

    # Draft decoding (1/8 DCT scale here) and a full decode give nearly the same image.
    draft = decode_photo(landscape[0], 64, draft=True).astype(np.int16)
    full = decode_photo(landscape[0], 64, draft=False).astype(np.int16)
    assert np.array_equal(draft, data.images[0].numpy())
    assert np.abs(draft - full).mean() < 4.0
    with Image.open(landscape[0]) as image:
        image.draft(None, (64, 43))
        assert image.size == (750, 500)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_applied(tmp_path: Path, orientation: int) -> None:
    stored = Image.new("RGB", (60, 40), (0, 0, 220))
    stored.paste((220, 0, 0), (0, 0, 30, 40))  # Left half red in the stored pixels.
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "0001_0001.JPG"
    stored.save(path, "JPEG", quality=95, exif=exif)

    transposed = {
        3: stored.transpose(Image.Transpose.ROTATE_180),
        6: stored.transpose(Image.Transpose.ROTATE_270),
        8: stored.transpose(Image.Transpose.ROTATE_90),
    }[orientation]
    expected = np.asarray(letterbox(transposed, 30)).transpose(2, 0, 1).astype(np.int16)
    decoded = load(tmp_path, image_size=30).images[0].numpy().astype(np.int16)
    assert np.abs(decoded - expected).mean() < 3.0
    if orientation in (6, 8):
        # Portrait after rotation: padded left and right.
        assert not decoded[:, :, :5].any()
        assert not decoded[:, :, 25:].any()


def _write_mode(path: Path, mode: str) -> tuple[int, int, int]:
    """Write a 40 x 30 image of a given mode and return the RGB colour it should load as."""
    size = (40, 30)
    if mode == "L":
        Image.new("L", size, 100).save(path)
        return (100, 100, 100)
    if mode == "P":
        image = Image.new("P", size, 1)
        image.putpalette([0, 0, 0, 30, 180, 60] + [0, 0, 0] * 254)
        image.save(path)
        return (30, 180, 60)
    if mode == "CMYK":
        Image.new("CMYK", size, (0, 255, 255, 0)).save(path, quality=95)
        return (255, 0, 0)
    if mode == "RGBA":
        Image.new("RGBA", size, (40, 80, 160, 255)).save(path)
        return (40, 80, 160)
    if mode == "I;16":
        Image.fromarray(np.full((30, 40), 40000, dtype=np.uint16)).save(path)
        return (156, 156, 156)
    raise AssertionError(mode)


@pytest.mark.parametrize(
    ("mode", "suffix"),
    [("L", ".JPG"), ("L", ".png"), ("P", ".png"), ("CMYK", ".jpg"), ("RGBA", ".png"), ("I;16", ".png")],
)
def test_mode_conversion_on_load(tmp_path: Path, mode: str, suffix: str) -> None:
    path = tmp_path / f"0003_0001{suffix}"
    expected = _write_mode(path, mode)
    with Image.open(path) as written:
        assert written.mode == mode
    data = load(tmp_path, image_size=32)
    pixel = data.images[0, :, 16, 16].numpy().astype(int)
    assert np.abs(pixel - expected).max() <= 3, (mode, pixel.tolist())


def test_bad_files_skipped_with_one_warning(tmp_path: Path) -> None:
    good = nested_tree(tmp_path)
    folder = tmp_path / "Plant leaves" / "Mango (P0)" / "healthy"
    truncated = folder / "0001_0003.JPG"
    truncated.write_bytes(good[0].read_bytes()[:300])
    empty = folder / "0001_0004.JPG"
    empty.write_bytes(b"")
    not_image = folder / "0001_0005.jpg"
    not_image.write_text("not a JPEG")
    unknown = tmp_path / "0023_0001.JPG"
    write_photo(unknown)
    no_prefix = tmp_path / "IMG_1234.JPG"
    write_photo(no_prefix)
    # Ignored silently: non-image files and macOS debris.
    (tmp_path / "README.txt").write_text("notes")
    (tmp_path / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / "._0001_0001.JPG").write_bytes(b"\0\5\26\7")
    write_photo(tmp_path / "__MACOSX" / "Plant leaves" / "0001_0009.JPG")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load(tmp_path)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "Skipped 5 file(s)" in message

    assert len(data) == len(good)
    reasons = dict(data.skipped)
    assert set(reasons) == {str(path.resolve()) for path in (truncated, empty, not_image, unknown, no_prefix)}
    assert "unreadable image" in reasons[str(truncated.resolve())]
    assert "unreadable image" in reasons[str(empty.resolve())]
    assert "unknown class prefix 0023" in reasons[str(unknown.resolve())]
    assert "4-digit class prefix" in reasons[str(no_prefix.resolve())]
    for path in (truncated, empty, unknown, no_prefix):
        assert path.name in message


def test_duplicate_file_names_skipped(tmp_path: Path) -> None:
    write_photo(tmp_path / "a" / "0001_0001.JPG")
    write_photo(tmp_path / "b" / "0001_0001.JPG")
    with pytest.warns(UserWarning, match="duplicate of"):
        data = load(tmp_path)
    assert len(data) == 1
    assert data.files[0].endswith(os.path.join("a", "0001_0001.JPG"))


@pytest.mark.parametrize(
    ("relative", "folder"),
    [
        ("Arjun (P1)/healthy/0001_0001.JPG", "Arjun (P1)"),
        ("Mango (P0)/diseased/0001_0001.JPG", "diseased"),
        ("Bael (P4)/diseased/0005_0002.JPG", "Bael (P4)"),
        ("healthy/0016_0001.JPG", "healthy"),
    ],
)
def test_folder_prefix_disagreement(tmp_path: Path, relative: str, folder: str) -> None:
    nested_tree(tmp_path)
    wrong = write_photo(tmp_path / relative)
    with pytest.raises(ValueError, match="disagrees with the file name") as raised:
        load(tmp_path)
    assert str(wrong.resolve()) in str(raised.value)
    assert repr(folder) in str(raised.value)


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist.*Species \\(Pn\\)"):
        load(tmp_path / "nowhere")
    file = tmp_path / "file.JPG"
    write_photo(file)
    with pytest.raises(ValueError, match="is not a folder"):
        load(file)


def test_root_without_images(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here")
    (tmp_path / "sub").mkdir()
    write_photo(tmp_path / "__MACOSX" / "0001_0001.JPG")
    with pytest.raises(ValueError, match="no image files.*expected the layout"):
        load(tmp_path)


def test_root_with_only_unknown_files(tmp_path: Path) -> None:
    write_photo(tmp_path / "0000_0001.JPG")
    write_photo(tmp_path / "0099_0001.JPG")
    write_photo(tmp_path / "leaf.png")
    with pytest.raises(ValueError, match="none of the 3 image files.*known class prefix.*expected the layout"):
        load(tmp_path)


def test_root_with_only_unreadable_images(tmp_path: Path) -> None:
    (tmp_path / "0001_0001.JPG").write_bytes(b"")
    with pytest.raises(ValueError, match="could be decoded"):
        load(tmp_path)


def test_workers_match_serial(tmp_path: Path) -> None:
    nested_tree(tmp_path)
    for index in range(20):
        write_photo(tmp_path / "flat" / f"0009_{index:04d}.JPG", colour=(index * 10, 100, 200 - index * 5))
    serial = load(tmp_path, workers=1)
    parallel = load(tmp_path, workers=2)
    assert serial.fingerprint() == parallel.fingerprint()
    assert serial.files == parallel.files


def _count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the photos decoded from now on."""
    counter = [0]
    original = photos._decode_chunk

    def counting(paths: list[str], image_size: int) -> list[np.ndarray | str]:
        counter[0] += len(paths)
        return original(paths, image_size)

    monkeypatch.setattr(photos, "_decode_chunk", counting)
    return counter


def test_cache_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nested_tree(tmp_path / "root")
    cache = tmp_path / "cache"
    first = load(tmp_path / "root", cache_dir=cache)
    assert len(list(cache.iterdir())) == 1

    counter = _count_decodes(monkeypatch)
    second = load(tmp_path / "root", cache_dir=cache)
    assert counter[0] == 0
    assert second.fingerprint() == first.fingerprint()
    assert second.files == first.files
    assert second.source == first.source


def test_cache_invalidated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    paths = nested_tree(root)
    cache = tmp_path / "cache"
    load(root, cache_dir=cache)
    counter = _count_decodes(monkeypatch)

    # A file touched (new modification time).
    status = paths[0].stat()
    os.utime(paths[0], ns=(status.st_atime_ns, status.st_mtime_ns + 5_000_000_000))
    load(root, cache_dir=cache)
    assert counter[0] == 8
    load(root, cache_dir=cache)
    assert counter[0] == 8

    # A file added.
    write_photo(root / "0009_0001.JPG")
    assert len(load(root, cache_dir=cache)) == 9
    assert counter[0] == 17

    # A size changed while the modification time stays the same.
    status = paths[1].stat()
    write_photo(paths[1], colour=(1, 2, 3), size=(64, 40))
    os.utime(paths[1], ns=(status.st_atime_ns, status.st_mtime_ns))
    assert paths[1].stat().st_size != status.st_size
    load(root, cache_dir=cache)
    assert counter[0] == 26

    # Settings changed: another image size, then another decoder version.
    load(root, cache_dir=cache, image_size=32)
    assert counter[0] == 35
    monkeypatch.setattr(photos, "DECODER_VERSION", photos.DECODER_VERSION + 1)
    load(root, cache_dir=cache)
    assert counter[0] == 44


def test_corrupt_cache_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    nested_tree(tmp_path / "root")
    cache = tmp_path / "cache"
    first = load(tmp_path / "root", cache_dir=cache)
    [cache_file] = list(cache.iterdir())
    cache_file.write_bytes(cache_file.read_bytes()[:100])
    with caplog.at_level(logging.WARNING, logger="mtllib.data._cache"):
        again = load(tmp_path / "root", cache_dir=cache)
    assert "unreadable" in caplog.text
    assert again.fingerprint() == first.fingerprint()
    # The rebuilt cache is valid again.
    assert load(tmp_path / "root", cache_dir=cache).fingerprint() == first.fingerprint()


def test_cached_skipped_files_still_warned(tmp_path: Path) -> None:
    nested_tree(tmp_path / "root")
    (tmp_path / "root" / "0001_0100.JPG").write_bytes(b"")
    with pytest.warns(UserWarning, match="Skipped 1 file"):
        load(tmp_path / "root", cache_dir=tmp_path / "cache")
    with pytest.warns(UserWarning, match="Skipped 1 file"):
        cached = load(tmp_path / "root", cache_dir=tmp_path / "cache")
    assert len(cached.skipped) == 1


def test_invalid_arguments(tmp_path: Path) -> None:
    nested_tree(tmp_path)
    with pytest.raises(ValueError, match="image_size must be a positive int"):
        load(tmp_path, image_size=0)
    with pytest.raises(ValueError, match="workers must be a positive int"):
        load(tmp_path, workers=0)
