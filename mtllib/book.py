"""Keep the book's notebooks runnable on Colab: one setup cell, one repository URL.

The repository URL lives in ``_config.yml`` (``repository.url``), which also drives the
book's launch buttons. Every notebook under ``chapters/`` starts with a setup cell that
installs ``mtllib`` from that URL when it runs on Colab and does nothing elsewhere.
``python -m mtllib.book`` rewrites those cells after the URL changes, and
``python -m mtllib.book --check`` lists the notebooks that are out of date.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat

__all__ = ["SETUP_TAG", "colab_setup_source", "repository_url", "sync_notebooks"]

SETUP_TAG = "colab-setup"
NOTEBOOK_VERSION = 4


def repository_url(config_path: Path) -> str:
    """Read ``repository.url`` from the book's ``_config.yml``."""
    import yaml

    config = yaml.safe_load(Path(config_path).read_text())
    url = (config.get("repository") or {}).get("url")
    if not url:
        raise ValueError(f"{config_path} has no repository.url; set it to the book's Git repository")
    return str(url).rstrip("/")


def colab_setup_source(url: str) -> str:
    """Return the source of the setup cell for the repository at ``url``."""
    return (
        "# On Colab, install mtllib from the book's repository; elsewhere this cell does nothing.\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "mtllib @ git+{url}"], check=True)'
    )


def _setup_cell(url: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(colab_setup_source(url))
    cell.metadata["tags"] = [SETUP_TAG, "hide-cell"]
    return cell


def sync_notebooks(root: Path, check: bool = False) -> list[Path]:
    """Give every notebook under ``root/chapters`` the current setup cell as its first cell.

    Returns:
        The notebooks that were (or, with ``check``, would be) changed.
    """
    root = Path(root)
    url = repository_url(root / "_config.yml")
    expected = colab_setup_source(url)
    changed = []
    for path in sorted((root / "chapters").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts or "_build" in path.parts:
            continue
        notebook = nbformat.read(path, as_version=NOTEBOOK_VERSION)
        first = notebook.cells[0] if notebook.cells else None
        if first is not None and SETUP_TAG in first.metadata.get("tags", []):
            if first.source == expected:
                continue
            notebook.cells[0] = _setup_cell(url)
        else:
            notebook.cells.insert(0, _setup_cell(url))
        changed.append(path)
        if not check:
            nbformat.write(notebook, path)
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the setup cells, or with ``--check`` report the stale ones and return 1."""
    parser = argparse.ArgumentParser(prog="python -m mtllib.book", description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=".", help="the book's root folder, holding _config.yml (default .)")
    parser.add_argument("--check", action="store_true", help="only list notebooks whose setup cell is out of date")
    args = parser.parse_args(argv)
    changed = sync_notebooks(Path(args.root), check=args.check)
    for path in changed:
        print(f"{'out of date' if args.check else 'updated'}: {path}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
