"""The progress bars of index builds: a build Progress callback that draws on a Rich console."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

# The stages a build reports through its progress(stage, done, total) callback (see batches.Progress).
PROGRESS_STAGES = {
    "analysed": ("analysing sources", "sources"),
    "embedded": ("embedding chunks", "chunks"),
    "exporting": ("preparing the query encoder", ""),
}


class _BuildProgress:
    """A build Progress callback drawing one Rich bar per stage: sources analysed, then chunks
    embedded (its total grows as sources are cut into chunks), with rate, time left and elapsed."""

    def __init__(self, console: Console):
        from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, TextColumn
        from rich.text import Text

        class StatsColumn(ProgressColumn):
            """done/total, rate, time left and time elapsed; each only once it is known.

            The rate is the average since the stage began, not Rich's recent speed: sources come
            out of spaCy in bursts, so the recent speed swings between zero and hundreds a second."""

            def render(self, task) -> Text:
                text = Text()
                elapsed = (task.finished_time if task.finished else task.elapsed) or 0.0
                if task.total is not None:
                    text.append(f"{int(task.completed):,}/{int(task.total):,}", "progress.download")
                unit = task.fields.get("unit")
                if unit and task.completed and elapsed >= 1:
                    rate = task.completed / elapsed
                    text.append(f"  {rate:,.1f} {unit}/s", "progress.data.speed")
                    if task.total is not None and not task.finished:
                        text.append(f"  {_clock((task.total - task.completed) / rate)} left", "progress.remaining")
                text.append(f"  {_clock(elapsed)} elapsed", "progress.elapsed")
                return text

        self.progress = Progress(
            SpinnerColumn(finished_text=Text("✓", style="green")), TextColumn("{task.description:<27}"), BarColumn(bar_width=30), StatsColumn(),
            console=console, transient=True,
        )  # fmt: skip
        self.tasks: dict[str, object] = {}
        self.chunks = 0  # chunks cut so far: the total of the embedding bar
        self.started = False
        # A build reports "embedded" from its embedding thread and the rest from the main one:
        # one report at a time, so that a bar is added once and its total never goes backwards.
        self._lock = threading.Lock()

    def _task(self, stage: str, total: float | None):
        if stage not in self.tasks:
            description, unit = PROGRESS_STAGES.get(stage, (stage, ""))
            self.tasks[stage] = self.progress.add_task(description, total=total, unit=unit)
        return self.tasks[stage]

    def __call__(self, stage: str, done: int, total: int) -> None:
        with self._lock:
            self._report(stage, done, total)

    def _report(self, stage: str, done: int, total: int) -> None:
        if not self.started:  # on the first report: a command that builds nothing draws nothing
            self.progress.start()
            self.started = True
        if stage == "chunked":  # the embedding bar appears (its clock starting) as soon as there is work for it
            self.chunks = done
            self.progress.update(self._task("embedded", done), total=done)
            return
        if stage == "embedded":
            self.progress.update(self._task(stage, self.chunks), completed=done, total=max(self.chunks, done))
        elif stage == "exporting":
            task = self._task(stage, None)  # no count: a pulsing bar, then done
            if done:
                self.progress.update(task, total=1, completed=1)
        else:
            self.progress.update(self._task(stage, total if total >= 0 else None), completed=done, total=total if total >= 0 else None)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


@contextmanager
def build_progress(console: Console, enabled: bool = True) -> Iterator[_BuildProgress | None]:
    """`with build_progress(console) as progress:` gives a build Progress callback drawing bars
    on `console` when it is a terminal and `enabled`, else None (the build then reports nothing)."""
    if not (enabled and console.is_terminal):
        yield None
        return
    display = _BuildProgress(console)
    try:
        yield display
    finally:
        if display.started:
            display.progress.stop()  # transient: the bars are erased
