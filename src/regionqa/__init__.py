"""regionqa: answer questions from your documents, offline, with the passage and offsets behind every answer.

The Python API, for a notebook or a script (the `regionqa` command calls the same functions)::

    import regionqa

    regionqa.add(["notes/brief.txt"])           # copy into the corpus folder and index it
    with regionqa.open_engine() as engine:      # the index of ./corpus, or the per-user one; built on first use
        result = engine.ask("How much cargo can the Alat port handle now?")
        print(result.answer.text, result.answer.source, result.answer.location)
        for hit in result.passages:
            print(hit.rank, hit.chunk.source, hit.location, hit.chunk.text[:80])
    regionqa.remove("brief.txt")

Every function takes an optional `Settings` (folders, chunking, retrieval); without one the folders
come from the environment and the current directory, as for the command line. Heavy libraries are
imported on first use, so `import regionqa` stays instant.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .version import __version__

if TYPE_CHECKING:
    from .batches import Progress
    from .config import Settings
    from .corpus import AddReport, Status
    from .engine import Engine
    from .indexing import BuildReport

__all__ = ["Engine", "Settings", "open_engine", "build", "add", "remove", "status", "__version__"]


def _settings(settings: Settings | None) -> Settings:
    from .config import Settings, seed_user_corpus

    settings = settings or Settings.from_environment()
    seed_user_corpus(settings)  # outside a checkout: the per-user corpus starts with the article
    return settings


def open_engine(settings: Settings | None = None, build_if_missing: bool = True) -> Engine:
    """An `Engine` over the index, built first when there is none (and `build_if_missing`).

    Use it as a context manager, or call `close()`. Raises IndexStateError when the index is
    missing (and not to be built), corrupt or built with other models.
    """
    from .engine import open_engine as open_index

    return open_index(_settings(settings), build_if_missing=build_if_missing)


def build(settings: Settings | None = None, full: bool = False, progress: Progress | None = None) -> BuildReport:
    """Bring the index up to date with the corpus folder (only new or changed sources are embedded)."""
    from .indexing import build as build_index

    return build_index(_settings(settings), full=full, progress=progress)


def add(paths: Sequence[str | Path], settings: Settings | None = None, progress: Progress | None = None) -> AddReport:
    """Copy files, folders or web pages (http(s) URLs) into the corpus folder and index them."""
    from .corpus import add as add_sources

    return add_sources(_settings(settings), paths, progress=progress)


def remove(name: str, settings: Settings | None = None, progress: Progress | None = None) -> BuildReport:
    """Delete a source (its name as `status()` lists it) from the corpus folder and the index."""
    from .corpus import remove as remove_source

    return remove_source(_settings(settings), name, progress=progress)


def status(settings: Settings | None = None) -> Status:
    """What is indexed, with which models, and what the corpus has that the index lacks."""
    from .corpus import status as index_status

    return index_status(_settings(settings))


def __getattr__(name: str):
    """`regionqa.Engine` and `regionqa.Settings`, imported when first asked for."""
    if name == "Engine":
        from .engine import Engine

        return Engine
    if name == "Settings":
        from .config import Settings

        return Settings
    raise AttributeError(f"module 'regionqa' has no attribute {name!r}")
