"""Keeping the index built: watch the corpus folder and bring the index up to date as files are added,
changed or removed (`regionqa index watch`).

Every rebuild is `indexing.build`, incremental, so it takes the same lock and publishes a new generation
with the same atomic switch as `regionqa index build`; only the changed sources are analysed and
embedded. A burst of changes (a folder copied in, an editor saving twice) is one rebuild: watchfiles
gathers changes until the folder has been quiet for `quiet_ms`. The models are loaded before the first
change, so that a change is answerable within seconds, not after a model load.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import indexing
from .errors import IndexBusyError, RegionQAError
from .models import Source
from .sources import SUPPORTED_SUFFIXES

if TYPE_CHECKING:
    import threading

    from .batches import BuildModels
    from .config import Settings
    from .indexing import BuildReport

QUIET_MS = 300  # a burst ends when nothing changed for this long (a file written in pieces is one change)
LONGEST_BURST_MS = 3000  # ... or at the latest after this long, so that a folder that never rests still gets indexed
BUSY_RETRY_S = 0.5  # another build holds the lock: try again this often
BUSY_GIVE_UP_S = 120.0


@dataclass(frozen=True)
class WatchEvent:
    """One rebuild: the paths that changed (relative to the corpus folder; empty for the catch-up build
    at the start), and the build's report, or the one-line reason it could not run."""

    changed: list[str]
    report: BuildReport | None = None
    error: str | None = None


def corpus_filter(corpus_dir: Path, index_dir: Path):
    """watchfiles' default filter (editor swap files, .git, __pycache__), plus: hidden files (a temporary
    copy by `index add`), files of a suffix regionqa does not read, and anything in an index folder that
    happens to lie inside the corpus folder (its own writes must not trigger builds)."""
    from watchfiles import DefaultFilter

    index_root = index_dir.resolve()

    class CorpusFilter(DefaultFilter):
        def __call__(self, change, path: str) -> bool:
            candidate = Path(path)
            if candidate.name.startswith((".", "~$")) or index_root in (candidate, *candidate.parents):
                return False
            if candidate.suffix and candidate.suffix.lower() not in SUPPORTED_SUFFIXES and not candidate.is_dir():
                return False
            return super().__call__(change, path)

    return CorpusFilter()


def warm_up(models: BuildModels) -> None:
    """Load the build's models now (spaCy, the embedding model) instead of at the first change."""
    sample = "Warming up the models."
    list(models.analyse([Source(name="warm-up.txt", text=sample, content_hash="0" * 64)]))
    models.encode([sample])
    models.count_tokens(sample)


def rebuild(settings: Settings, changed: list[str], models: BuildModels, notify: Callable[[str], None] | None = None) -> WatchEvent:
    """One incremental build of the corpus; a build already running is waited for, any other error reported."""
    waited = 0.0
    while True:
        try:
            return WatchEvent(changed, indexing.build(settings, models=models, notify=notify))
        except IndexBusyError as error:
            if waited >= BUSY_GIVE_UP_S:
                return WatchEvent(changed, error=" ".join(str(error).splitlines()))
            time.sleep(BUSY_RETRY_S)
            waited += BUSY_RETRY_S
        except RegionQAError as error:  # no readable source left, a broken index: say so and keep watching
            return WatchEvent(changed, error=" ".join(str(error).splitlines()))


def watch(
    settings: Settings,
    models: BuildModels | None = None,
    notify: Callable[[str], None] | None = None,
    stop_event: threading.Event | None = None,
    on_ready: Callable[[], None] | None = None,
) -> Iterator[WatchEvent]:
    """Bring the index up to date with the corpus folder now, then again after every burst of changes,
    yielding one WatchEvent per build, until `stop_event` is set (or Ctrl-C: KeyboardInterrupt).
    `on_ready` is called once the folder is being watched."""
    from watchfiles import watch as watch_folder

    corpus = settings.corpus_dir
    if not corpus.is_dir():
        from .errors import BadInputError

        if corpus.exists():
            raise BadInputError(f"{corpus} is a file, not a folder; pass the folder that holds it (regionqa index watch FOLDER)")
        raise BadInputError(f"the corpus folder {corpus} does not exist; create it or pass the folder to watch")
    if notify:
        notify(f"loading the models; then watching {corpus} (index: {settings.index_dir})")
    models = models or indexing.real_models(settings)
    warm_up(models)
    changes = watch_folder(
        corpus,
        watch_filter=corpus_filter(corpus, settings.index_dir),
        debounce=LONGEST_BURST_MS,
        step=QUIET_MS,
        stop_event=stop_event,
        raise_interrupt=True,
        rust_timeout=500,  # how often stop_event is looked at
        yield_on_timeout=True,  # an empty set at each timeout: the first one says the watcher is running
    )
    # Watching first (the first, empty, batch), then catching up: whatever changed before the catch-up
    # build read the folder is in it; a file written during it is seen by the next build.
    next(changes, None)
    yield rebuild(settings, [], models, notify)
    if on_ready:
        on_ready()
    for batch in changes:
        if batch:
            yield rebuild(settings, sorted({_relative(path, corpus) for _, path in batch}), models, notify)


def _relative(path: str, corpus: Path) -> str:
    try:
        return Path(path).resolve().relative_to(corpus.resolve()).as_posix()
    except ValueError:
        return path
