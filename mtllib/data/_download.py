"""Download and safe extraction of the leaf photo release archive."""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import shutil
import stat
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from ._leafdata import LeafData
from ._photos import load_leaf_photos

__all__ = ["LEAF_PHOTOS_URL", "download_leaf_photos"]

logger = logging.getLogger(__name__)

# Mendeley Data's zip of version 1 of dataset hb74ynkjcn (Chouhan et al. 2019, CC BY 4.0).
# NOTE: this URL follows Mendeley Data's usual pattern for release zips but could not be
# checked from the build machine, which has no internet access.
LEAF_PHOTOS_URL = "https://prod-dcd-datasets-cache-zipfiles.s3.eu-west-1.amazonaws.com/hb74ynkjcn-1.zip"

# Hidden, so the photo loader ignores it. Written once the archive has been extracted.
MARKER_NAME = ".mtllib-download.json"
# Nested archives deeper than this are left as they are.
MAX_NESTING = 3
_CHUNK_BYTES = 1 << 20
_CONTENT_RANGE_PATTERN = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def _archive_name(url: str) -> str:
    name = PurePosixPath(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name
    return name if name.lower().endswith(".zip") else (name or "leaf-photos") + ".zip"


def _total_from_content_range(header: str | None) -> int | None:
    if not header:
        return None
    match = re.search(r"/(\d+)\s*$", header)
    return int(match.group(1)) if match else None


def fetch(url: str, target: Path, *, timeout: float = 60.0, progress: bool = True) -> Path:
    """Download ``url`` to ``target``, resuming from ``target.part`` if an earlier try left one.

    A partial file is continued with an HTTP Range request. When the server ignores the
    range (status 200) or responds with another range, the download restarts from the first
    byte. The ``.part`` file is renamed to ``target`` only once its size matches the size the
    server announced. Raises OSError when the transfer fails or ends early; call again to
    resume.
    """
    part = target.with_name(target.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "mtllib"}
    if offset:
        headers["Range"] = f"bytes={offset}-"

    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            total = _total_from_content_range(error.headers.get("Content-Range"))
            if total == offset:
                logger.info("%s is already complete (%d bytes)", part, offset)
                part.replace(target)
                return target
            logger.warning("Server rejected resuming %s at byte %d; restarting the download", url, offset)
            part.unlink()
            return fetch(url, target, timeout=timeout, progress=progress)
        raise OSError(f"downloading {url} failed: HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as error:
        raise OSError(f"downloading {url} failed: {error}; call again to resume") from error

    with response:
        mode = "wb"
        if offset and response.status == 206:
            match = _CONTENT_RANGE_PATTERN.match(response.headers.get("Content-Range", ""))
            if match and int(match.group(1)) == offset:
                mode = "ab"
                logger.info("Resuming %s at byte %d", url, offset)
            else:
                logger.warning("Server responded to the resume request for %s with another range; restarting", url)
                response.close()
                part.unlink()
                return fetch(url, target, timeout=timeout, progress=progress)
        elif offset:
            logger.info("Server ignored the Range request for %s; restarting from the first byte", url)
        if mode == "wb":
            offset = 0

        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        received = offset
        try:
            with open(part, mode) as file, tqdm(
                total=total, initial=offset, unit="B", unit_scale=True, desc=target.name, disable=not progress
            ) as bar:
                while chunk := response.read(_CHUNK_BYTES):
                    file.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as error:
            raise OSError(
                f"downloading {url} failed after {received} bytes: {error}; call again to resume"
            ) from error

    if total is not None and received != total:
        raise OSError(f"download of {url} ended after {received} of {total} bytes; call again to resume")
    part.replace(target)
    return target


def _member_path(info: zipfile.ZipInfo, archive: Path) -> PurePosixPath:
    """Check that a zip member stays inside the extraction folder and return its relative path."""
    name = info.filename
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ValueError(f"{archive}: member {name!r} is a symbolic link; symbolic links are not extracted")
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or re.match(r"^[A-Za-z]:", name) or ".." in path.parts:
        raise ValueError(f"{archive}: member {name!r} would be written outside the extraction folder")
    return path


def extract_zip(archive: Path, destination: Path) -> list[Path]:
    """Extract ``archive`` into ``destination`` and return the files written.

    Every member is checked before anything is written: absolute paths, ``..`` components
    and symbolic links raise ValueError naming the member. A member whose resolved path would
    leave ``destination`` (through a symbolic link already on disk) raises ValueError too.
    """
    base = destination.resolve()
    with zipfile.ZipFile(archive) as bundle:
        members = []
        for info in bundle.infolist():
            target = destination.joinpath(*_member_path(info, archive).parts)
            if not target.resolve().is_relative_to(base):
                raise ValueError(f"{archive}: member {info.filename!r} would be written outside {destination}")
            members.append((info, target))

        # Members cannot be symbolic links, so the checks above still hold while writing.
        destination.mkdir(parents=True, exist_ok=True)
        written = []
        for info, target in members:
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(info) as source, open(target, "wb") as sink:
                shutil.copyfileobj(source, sink, _CHUNK_BYTES)
            written.append(target)
    return written


def _extract_nested(files: list[Path], depth: int) -> None:
    """Extract zip files found among ``files`` next to themselves, then delete them."""
    for path in files:
        if path.suffix.lower() != ".zip" or not zipfile.is_zipfile(path):
            continue
        if depth >= MAX_NESTING:
            logger.warning("Not extracting %s: archives nested deeper than %d levels", path, MAX_NESTING)
            continue
        folder = path.with_suffix("")
        logger.info("Extracting nested archive %s", path)
        inner = extract_zip(path, folder)
        path.unlink()
        _extract_nested(inner, depth + 1)


def download_leaf_photos(
    root: str | os.PathLike[str],
    url: str = LEAF_PHOTOS_URL,
    *,
    image_size: int = 64,
    cache_dir: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
    keep_archive: bool = True,
    workers: int | None = None,
    progress: bool = True,
) -> LeafData:
    """Download the leaf photo archive into ``root``, extract it and load it with :func:`load_leaf_photos`.

    The archive is saved as ``root/<name>.zip``. An interrupted download leaves
    ``<name>.zip.part``, which the next call resumes with an HTTP Range request. The archive
    is extracted into ``root`` after every member has been checked (no absolute paths, no
    ``..``, no symbolic links), and zip files inside it are extracted into folders next to
    them and deleted. Once extraction finishes, a marker file in ``root`` records the URL,
    and later calls with the same URL skip the download and extraction. With
    ``keep_archive=False`` the outer archive is deleted after extraction.

    ``image_size``, ``cache_dir``, ``workers`` and ``progress`` are passed to the loader. To
    load photos that are already on disk without a marker, call :func:`load_leaf_photos`.
    """
    root_path = Path(root).expanduser()
    root_path.mkdir(parents=True, exist_ok=True)
    marker = root_path / MARKER_NAME

    done = False
    if marker.is_file():
        try:
            done = json.loads(marker.read_text()).get("url") == url
        except (OSError, ValueError, AttributeError):
            done = False
    if done:
        logger.info("Leaf photos from %s are already extracted in %s", url, root_path)
    else:
        archive = root_path / _archive_name(url)
        if not archive.is_file():
            fetch(url, archive, timeout=timeout, progress=progress)
        if not zipfile.is_zipfile(archive):
            raise ValueError(
                f"{archive} is not a zip archive (the server may have sent an error page); "
                "delete it and call again, or pass another url"
            )
        logger.info("Extracting %s into %s", archive, root_path)
        written = extract_zip(archive, root_path)
        _extract_nested(written, depth=1)
        marker.write_text(json.dumps({"url": url, "archive": archive.name}))
        if not keep_archive:
            archive.unlink()

    return load_leaf_photos(root_path, image_size, cache_dir, workers=workers, progress=progress)
