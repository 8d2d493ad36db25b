from __future__ import annotations

import io
import stat
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from mtllib.data import download_leaf_photos
from mtllib.data._download import MARKER_NAME, _extract_nested, extract_zip, fetch


@dataclass
class ArchiveServer:
    """HTTP server on 127.0.0.1 that serves one archive, with or without Range support."""

    payload: bytes = b""
    honour_range: bool = True
    requests: list[str | None] = field(default_factory=list)
    bytes_sent: int = 0
    fail_with: int | None = None
    cut_after: int | None = None
    url: str = ""


def _jpeg_bytes(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (60, 40), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def _release_archive() -> bytes:
    """A release-like zip: one nested layout folder and a nested zip holding a flat folder."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as bundle:
        bundle.writestr("flat/0009_0001.JPG", _jpeg_bytes((10, 200, 10)))
        bundle.writestr("flat/0020_0001.JPG", _jpeg_bytes((120, 90, 10)))
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as bundle:
        bundle.writestr("Plant leaves/Mango (P0)/healthy/0001_0001.JPG", _jpeg_bytes((20, 160, 40)))
        bundle.writestr("Plant leaves/Mango (P0)/diseased/0012_0001.JPG", _jpeg_bytes((90, 120, 40)))
        bundle.writestr("Plant leaves/Bael (P4)/diseased/0016_0001.JPG", _jpeg_bytes((70, 140, 40)))
        bundle.writestr("__MACOSX/Plant leaves/._0001_0001.JPG", b"\0\5\26\7")
        bundle.writestr("Plant leaves/more.zip", inner.getvalue())
        bundle.writestr("README.txt", "Leaf images")
    return outer.getvalue()


@pytest.fixture
def server() -> Iterator[ArchiveServer]:
    state = ArchiveServer(payload=_release_archive())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler.
            header = self.headers.get("Range")
            state.requests.append(header)
            if state.fail_with is not None:
                self.send_error(state.fail_with)
                return
            body = state.payload
            start = 0
            if header and state.honour_range:
                start = int(header.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.send_header("Content-Type", "application/zip")
            self.end_headers()
            end = len(body) if state.cut_after is None else start + state.cut_after
            # Counted before writing, because the client may finish reading before this
            # thread runs again.
            state.bytes_sent += end - start
            self.wfile.write(body[start:end])
            if state.cut_after is not None:
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/files/hb74ynkjcn-1.zip"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_download_extracts_and_loads(server: ArchiveServer, tmp_path: Path) -> None:
    data = download_leaf_photos(tmp_path / "leaves", server.url, image_size=32, workers=1, progress=False)
    assert server.requests == [None]
    assert len(data) == 5
    assert sorted(data.class_index.tolist()) == [0, 8, 11, 15, 19]
    root = tmp_path / "leaves"
    assert (root / "hb74ynkjcn-1.zip").read_bytes() == server.payload
    assert not (root / "hb74ynkjcn-1.zip.part").exists()
    # The nested zip was extracted next to itself and removed.
    assert (root / "Plant leaves" / "more" / "flat" / "0020_0001.JPG").is_file()
    assert not (root / "Plant leaves" / "more.zip").exists()
    assert (root / MARKER_NAME).is_file()


def test_second_call_does_not_download(server: ArchiveServer, tmp_path: Path) -> None:
    first = download_leaf_photos(tmp_path, server.url, workers=1, progress=False)
    second = download_leaf_photos(tmp_path, server.url, workers=1, progress=False)
    assert len(server.requests) == 1
    assert second.fingerprint() == first.fingerprint()


def test_keep_archive_false(server: ArchiveServer, tmp_path: Path) -> None:
    download_leaf_photos(tmp_path, server.url, keep_archive=False, workers=1, progress=False)
    assert not (tmp_path / "hb74ynkjcn-1.zip").exists()
    assert len(download_leaf_photos(tmp_path, server.url, workers=1, progress=False)) == 5
    assert len(server.requests) == 1


def test_resume_from_part_file(server: ArchiveServer, tmp_path: Path) -> None:
    head = 1000
    (tmp_path / "hb74ynkjcn-1.zip.part").write_bytes(server.payload[:head])
    data = download_leaf_photos(tmp_path, server.url, workers=1, progress=False)
    assert server.requests == [f"bytes={head}-"]
    assert server.bytes_sent == len(server.payload) - head
    assert (tmp_path / "hb74ynkjcn-1.zip").read_bytes() == server.payload
    assert len(data) == 5


def test_interrupted_download_resumed(server: ArchiveServer, tmp_path: Path) -> None:
    server.cut_after = 700
    with pytest.raises(OSError, match="call again to resume"):
        download_leaf_photos(tmp_path, server.url, workers=1, progress=False)
    part = tmp_path / "hb74ynkjcn-1.zip.part"
    assert part.stat().st_size == 700
    assert not (tmp_path / "hb74ynkjcn-1.zip").exists()

    server.cut_after = None
    data = download_leaf_photos(tmp_path, server.url, workers=1, progress=False)
    assert server.requests == [None, "bytes=700-"]
    assert server.bytes_sent == len(server.payload)
    assert (tmp_path / "hb74ynkjcn-1.zip").read_bytes() == server.payload
    assert len(data) == 5


def test_restart_when_range_ignored(server: ArchiveServer, tmp_path: Path) -> None:
    server.honour_range = False
    # Wrong bytes in the partial file must not survive a restart.
    (tmp_path / "hb74ynkjcn-1.zip.part").write_bytes(b"x" * 500)
    data = download_leaf_photos(tmp_path, server.url, workers=1, progress=False)
    assert server.requests == ["bytes=500-"]
    assert server.bytes_sent == len(server.payload)
    assert (tmp_path / "hb74ynkjcn-1.zip").read_bytes() == server.payload
    assert len(data) == 5


def test_complete_part_file_finished(server: ArchiveServer, tmp_path: Path) -> None:
    (tmp_path / "a.zip.part").write_bytes(server.payload)
    fetch(server.url, tmp_path / "a.zip", progress=False)
    assert server.requests == [f"bytes={len(server.payload)}-"]
    assert server.bytes_sent == 0
    assert (tmp_path / "a.zip").read_bytes() == server.payload


def test_download_not_a_zip(server: ArchiveServer, tmp_path: Path) -> None:
    server.payload = b"<html>Access denied</html>"
    with pytest.raises(ValueError, match="is not a zip archive"):
        download_leaf_photos(tmp_path, server.url, workers=1, progress=False)
    assert not (tmp_path / MARKER_NAME).exists()


def test_download_http_error(server: ArchiveServer, tmp_path: Path) -> None:
    server.fail_with = 404
    with pytest.raises(OSError, match="HTTP 404"):
        download_leaf_photos(tmp_path, server.url, workers=1, progress=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def _zip_with(member: zipfile.ZipInfo | str, content: bytes = b"payload") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("Plant leaves/0001_0001.JPG", _jpeg_bytes((1, 2, 3)))
        bundle.writestr(member, content)
    return buffer.getvalue()


def _symlink_member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    ("member", "message"),
    [
        ("../escaped.txt", "outside the extraction folder"),
        ("Plant leaves/../../escaped.txt", "outside the extraction folder"),
        ("/tmp/escaped-absolute.txt", "outside the extraction folder"),
        ("C:/escaped.txt", "outside the extraction folder"),
        (_symlink_member("Plant leaves/link"), "symbolic link"),
    ],
)
def test_escaping_members_rejected(
    server: ArchiveServer, tmp_path: Path, member: zipfile.ZipInfo | str, message: str
) -> None:
    server.payload = _zip_with(member, b"/etc/passwd" if isinstance(member, zipfile.ZipInfo) else b"payload")
    root = tmp_path / "deep" / "root"
    with pytest.raises(ValueError, match=message):
        download_leaf_photos(root, server.url, workers=1, progress=False)
    # Nothing was extracted, not even the harmless member listed first.
    assert sorted(path.name for path in root.iterdir()) == ["hb74ynkjcn-1.zip"]
    assert not (tmp_path / "deep" / "escaped.txt").exists()
    assert not (tmp_path / "escaped.txt").exists()


def test_nested_escaping_member_rejected(tmp_path: Path) -> None:
    inner = _zip_with("../../outside.txt")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("inner.zip", inner)
    archive = tmp_path / "outer.zip"
    archive.write_bytes(buffer.getvalue())
    root = tmp_path / "root"
    written = extract_zip(archive, root)
    with pytest.raises(ValueError, match="outside the extraction folder"):
        _extract_nested(written, depth=1)
    assert not (tmp_path / "outside.txt").exists()
    assert not (root / "inner").exists()


def test_member_through_symlink_on_disk_rejected(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    archive = tmp_path / "a.zip"
    archive.write_bytes(_zip_with("link/file.txt"))
    with pytest.raises(ValueError, match="would be written outside"):
        extract_zip(archive, root)
    assert list(outside.iterdir()) == []
