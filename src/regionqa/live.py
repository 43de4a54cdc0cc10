"""A live index: the `Engine` of the generation CURRENT names now, switched between requests.

`regionqa serve` (and any long-running reader, such as an MCP server) holds one `LiveEngine`.
Each request borrows the engine of the current generation with `use()`:

    live = LiveEngine(settings)
    with live.use() as engine:      # the current generation's Engine, kept open while borrowed
        result = engine.ask("Who is the President of Azerbaijan?")

When a build publishes a new generation (store/generations.py: CURRENT is replaced by one atomic
rename), the next `use()` sees CURRENT's new stat, opens the new generation and lends that from
then on. A request that borrowed the old engine keeps it to its end, even if the next build deletes
the old generation's folder (an opened Store reads on: its SQLite file stays open, its vectors are
in memory); the old engine is closed when its last borrower gives it back. So no request fails or
mixes two generations, and every `use()` that starts after a switch gets the new generation.

If the new generation cannot be opened (a build killed mid-way leaves CURRENT on the previous one,
so this means a damaged index), the current engine goes on answering, the failure is reported
through `notify`, and the same CURRENT is not tried again until it changes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from . import store as store_mod
from .config import Settings
from .engine import Engine
from .errors import RegionQAError

Stamp = tuple[int, int, int, int]  # CURRENT's (device, inode, size, mtime in ns): a new rename changes the inode


def current_stamp(settings: Settings) -> Stamp | None:
    """CURRENT's identity on disk, one stat() (a few microseconds); None when there is no index."""
    try:
        stat = os.stat(settings.index_dir / store_mod.CURRENT_FILE)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


@dataclass
class _Lent:
    """An engine and how many requests are using it."""

    engine: Engine
    borrowers: int = 0
    retired: bool = False  # superseded by a newer generation: close it when the last borrower is done


class LiveEngine:
    """The Engine of the current index generation, switched when CURRENT changes; thread-safe.

    Args:
        settings: the index folder and query settings (as for `Engine`).
        engine: an Engine already opened on that folder (the CLI's `open_engine`), else one is opened now.
        notify: where each switch, or a failed one, is reported (one line); None: nowhere.
        open_engine: how an engine is opened (tests inject a failing one); it gets the settings and the
            previous engine, whose query encoder and reader the new one shares.

    Raises:
        RegionQAError: the first engine cannot be opened (no index, a damaged one).
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine | None = None,
        notify: Callable[[str], None] | None = None,
        open_engine: Callable[[Settings, Engine], Engine] | None = None,
    ) -> None:
        self.settings = settings
        self.notify = notify
        self._open = open_engine or _open_sharing_models
        self._lock = threading.Lock()  # guards _current and the borrower counts (held for microseconds)
        self._switching = threading.Lock()  # one thread opens a new generation; the others go on meanwhile
        stamp = current_stamp(settings)  # before opening: a build that publishes meanwhile is seen on the first use()
        self._current = _Lent(engine or Engine(settings, notify=notify))
        if engine is not None and engine.store.generation != _current_folder(settings):
            stamp = None  # an engine opened before the latest build: switch on the first use()
        self._stamp = stamp  # the CURRENT the current engine (or the last failed attempt) was opened from
        self.switches = 0  # generations switched to since start (for tests and benchmarks)
        self._closed = False

    @contextmanager
    def use(self) -> Iterator[Engine]:
        """Borrow the engine of the current generation for one request (switching first if CURRENT changed)."""
        self._switch_if_changed()
        with self._lock:
            if self._closed:
                raise RegionQAError("the index is closed (the server is stopping)")
            lent = self._current
            lent.borrowers += 1
        try:
            yield lent.engine
        finally:
            self._give_back(lent)

    @property
    def generation(self) -> str:
        """The name of the generation that answers now (without checking CURRENT)."""
        return self._current.engine.store.generation.name

    def close(self) -> None:
        """Close the current engine now, or when its borrowers are done; `use()` is refused from now on."""
        with self._lock:
            self._closed = True
            lent = self._current
            lent.retired = True
            idle = lent.borrowers == 0
        if idle:
            lent.engine.close()

    def _give_back(self, lent: _Lent) -> None:
        with self._lock:
            lent.borrowers -= 1
            done = lent.retired and lent.borrowers == 0
        if done:
            lent.engine.close()

    def _switch_if_changed(self) -> None:
        stamp = current_stamp(self.settings)
        if stamp is None or stamp == self._stamp:
            return
        # One thread opens the new generation; requests arriving meanwhile use the current engine
        # rather than queue behind the open (it reads and hashes the generation's files).
        if not self._switching.acquire(blocking=False):
            return
        try:
            if stamp != self._stamp:
                self._switch(stamp)
        finally:
            self._switching.release()

    def _switch(self, stamp: Stamp) -> None:
        old = self._current
        self._stamp = stamp
        if old.engine.store.generation == _current_folder(self.settings):
            return  # CURRENT rewritten with the same name (a build with nothing to do writes no new one, but be safe)
        try:
            engine = self._open(self.settings, old.engine)
        except RegionQAError as error:
            if self.notify:
                self.notify(f"the new index generation cannot be opened ({error}); still answering from {old.engine.store.generation.name}")
            return
        with self._lock:
            if self._closed:
                engine.close()
                return
            self._current = _Lent(engine)
            old.retired = True
            idle = old.borrowers == 0
            self.switches += 1
        if idle:
            old.engine.close()
        if self.notify:
            self.notify(f"now answering from {engine.store.generation.name}")


def _current_folder(settings: Settings):
    try:
        return store_mod.current_generation(settings.index_dir)
    except RegionQAError:
        return None


def _open_sharing_models(settings: Settings, previous: Engine) -> Engine:
    """An Engine on the current generation that reuses the previous one's query encoder and reader.

    Both depend on the models alone, which every generation of one folder shares (open_store refuses
    a generation built with another embedding model), so a switch costs opening the store, not
    loading the models again.
    """
    return Engine(settings, notify=previous.notify, models_of=previous)
