"""One-file caches of decoded or generated leaf data, keyed by a manifest of their inputs."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from ._leafdata import LeafData

__all__ = ["load_cache", "save_cache"]

logger = logging.getLogger(__name__)

# Version of the cache file layout. Changing it invalidates every existing cache file.
CACHE_FORMAT = 1


def _manifest_text(manifest: dict[str, Any]) -> str:
    return json.dumps({"cache_format": CACHE_FORMAT, **manifest}, sort_keys=True, separators=(",", ":"))


def load_cache(path: Path, manifest: dict[str, Any]) -> LeafData | None:
    """Load the leaf data cached at ``path`` if it was built from exactly ``manifest``.

    Returns None when the file is missing, was built from another manifest, or cannot be
    read. An unreadable file is logged as a warning and is rebuilt by the caller.
    """
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload["manifest"] != _manifest_text(manifest):
            logger.info("Cache %s was built from other inputs; rebuilding it", path)
            return None
        return LeafData(
            images=payload["images"],
            species=payload["species"],
            health=payload["health"],
            files=tuple(payload["files"]),
            skipped=tuple((path_text, reason) for path_text, reason in payload["skipped"]),
            source=payload["source"],
        )
    except Exception as error:  # noqa: BLE001 - any damage to the file means: rebuild it.
        # A damaged file can fail in the zip reader, the unpickler or LeafData's checks, each
        # with its own exception type.
        logger.warning("Cache file %s is unreadable (%s: %s); rebuilding it", path, type(error).__name__, error)
        return None


def save_cache(path: Path, manifest: dict[str, Any], data: LeafData) -> None:
    """Write ``data`` and its manifest to ``path`` atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "manifest": _manifest_text(manifest),
        "images": data.images.cpu().contiguous(),
        "species": data.species.cpu(),
        "health": data.health.cpu(),
        "files": list(data.files),
        "skipped": [[path_text, reason] for path_text, reason in data.skipped],
        "source": data.source,
    }
    handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        torch.save(payload, temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    logger.info("Cached %d leaf images in %s", len(data), path)
