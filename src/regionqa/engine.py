"""Questions against an opened index: the `Engine`, the checks of what is asked, and the listings of entities and facts."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from . import store as store_mod
from .config import ENCODER_ENV, MAX_TOP_K, Settings
from .dates import date_bounds
from .errors import BadInputError
from .models import Fact, Hit, Result
from .sources.names import file_part, is_utf8, matches_globs, printable
from .sources.provenance import metadata_date

if TYPE_CHECKING:
    from concurrent.futures import Future

    from .answer.reader import Reader
    from .batches import Progress
    from .embedding import Encoder

MAX_QUESTION_CHARS = 2000


def check_question(question: str) -> str:
    """A cleaned question, or BadInputError saying what is wrong with it."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in question)
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise BadInputError('the question is empty; ask something, e.g. regionqa ask "Who is the President of Azerbaijan?"')
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise BadInputError(f"the question is {len(cleaned):,} characters long; ask in at most {MAX_QUESTION_CHARS:,}")
    return cleaned


def check_top_k(top_k: int) -> int:
    if not 1 <= top_k <= MAX_TOP_K:
        raise BadInputError(f"--top-k must be between 1 and {MAX_TOP_K}; got {top_k}")
    return top_k


def open_encoder(settings: Settings, notify: Callable[[str], None] | None = None) -> Encoder:
    """The query encoder that settings pick for their index folder: `settings.encoder` (a command's
    REGIONQA_ENCODER), checked by open_query_encoder and named as REGIONQA_ENCODER when it is not a choice."""
    from .onnx_encoder import open_query_encoder

    return open_query_encoder(settings.index_dir, settings.encoder, notify=notify, setting=ENCODER_ENV)


@dataclass
class _Model:
    """A model of the engine, loaded once: in a thread of its own when `start`ed early, else where first needed."""

    load: Callable[[], object]
    value: object | None = None
    loading: Future | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        with self.lock:
            if self.value is None and self.loading is None:
                from concurrent.futures import ThreadPoolExecutor

                loader = ThreadPoolExecutor(1, thread_name_prefix="regionqa-load")
                self.loading = loader.submit(self.load)
                loader.shutdown(wait=False)  # its thread ends with the load

    def get(self):
        if self.value is not None:  # loaded: no lock on the path of every later question
            return self.value
        with self.lock:  # a second first caller waits for the one load
            if self.value is None:
                try:
                    self.value = self.loading.result() if self.loading is not None else self.load()  # the load's error is raised here
                except Exception:
                    self.loading = None  # a failed load is tried again by the next caller (an interrupted wait keeps it)
                    raise
                self.loading = None
            return self.value


class Engine:
    """An opened index plus the query encoder: answers many questions in one process."""

    def __init__(
        self,
        settings: Settings,
        encoder: Encoder | None = None,
        notify: Callable[[str], None] | None = None,
        models_of: Engine | None = None,
    ):
        self.settings = settings
        self.notify = notify  # where notes go (the fallback to the slow query encoder); None: nowhere
        if models_of is not None:
            # The models are the same for every generation of a folder: a LiveEngine's next engine shares them,
            # loaded or still loading (live.py).
            self._encoder, self._reader = models_of._encoder, models_of._reader
        else:
            self._encoder = _Model(lambda: open_encoder(settings, notify), encoder)
            self._reader = _Model(lambda: _load_reader(settings))
        # The build's modules (indexing, batches, every source reader) are not imported on the question path.
        self.store = store_mod.open_store(settings.index_dir, store_mod.manifest_for(settings.chunking))

    def start_loading_reader(self) -> None:
        """Start loading the span reader in a thread of its own, unless it is loaded, loading or switched off.

        `ask` starts it before it loads the query encoder in this thread, and waits for it once the passages
        are found and their sentences ranked (embedded): onnxruntime releases the GIL while it builds a
        session (about 50 ms each here), so on a first question the two sessions build on two cores at once. Starting the loads earlier,
        while the index opens, was slower: the loading thread's imports then contend with the index's for
        the import lock and the GIL.
        """
        if self.settings.wants_reader():
            self._reader.start()

    @property
    def encoder(self) -> Encoder:
        """The query encoder, picked once per engine (ONNX when the index has a valid export,
        else sentence-transformers), and only when a question needs it: listings never load it."""
        return self._encoder.get()

    @property
    def reader(self) -> Reader | None:
        """The span reader (loaded by the first question, see start_loading_reader); None when the settings switch it off."""
        return self._reader.get() if self.settings.wants_reader() else None

    @property
    def loaded_reader(self) -> Reader | None:
        """The span reader if it was loaded already, else None (nothing is loaded)."""
        return self._reader.value

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def ask(self, question: str, top_k: int = 5, sources: SourceFilter | None = None) -> Result:
        """Answer a question from the index, or only from the sources `sources` picks."""
        from .answer import answer_question
        from .search import retrieve

        question = check_question(question)
        top_k = check_top_k(top_k)
        among = self.chunks_of(sources) if sources else None
        self.start_loading_reader()  # a first question: the reader loads while the encoder loads, the passages are found and ranked
        encode = self.encoder
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        vector = encode([question])[0]
        t1 = time.perf_counter()
        hits = retrieve(self.store, question, vector, max(top_k, 5), self.settings.retrieval, among)
        t2 = time.perf_counter()
        loaded = self.loaded_reader  # None on a first question: the answerer waits for it once the sentences are ranked
        read_before = loaded.seconds if loaded else 0.0
        answer, facts, message = answer_question(self.store, question, hits, encode, lambda: self.reader)
        t3 = time.perf_counter()
        timings.update(encode=t1 - t0, retrieve=t2 - t1, answer=t3 - t2)
        reader = self.loaded_reader if self.settings.wants_reader() else None
        if reader:
            timings["read"] = reader.seconds - read_before  # the reader's part of "answer"
        passages = self._cited(hits[:top_k])
        if answer is not None:
            store = self.store
            answer = replace(answer, location=store.location(answer.source, answer.start), meta=store.source_meta(answer.source))
        return Result(question=question, answer=answer, passages=passages, facts=facts, message=message, timings=timings)

    def chunks_of(self, sources: SourceFilter) -> list[int]:
        """The chunk ids of the indexed sources the filter picks; BadInputError when it picks none."""
        names = [name for name, meta in self.store.all_source_meta().items() if sources.matches(name, meta)]
        if not names:
            raise BadInputError(f"no indexed source matches {sources}; see the sources and their dates with: regionqa index status")
        return self.store.chunk_ids_of(names)

    def search(self, question: str, top_k: int = 5) -> list[Hit]:
        """The passages `ask` would show for a question, with their citations, without answering it."""
        from .search import retrieve

        question = check_question(question)
        top_k = check_top_k(top_k)
        vector = self.encoder([question])[0]
        return self._cited(retrieve(self.store, question, vector, max(top_k, 5), self.settings.retrieval)[:top_k])

    def _cited(self, hits: list[Hit]) -> list[Hit]:
        """Hits with citations a person can follow: "p. 3" in a PDF, "line 11" in a text."""
        store = self.store
        return [
            replace(h, location=store.location(h.chunk.source, h.chunk.start, h.chunk.end), meta=store.source_meta(h.chunk.source))
            for h in hits
        ]


@dataclass(frozen=True)
class SourceFilter:
    """The sources a question is asked of: names matching a glob (`ask --source`), dated from `since`
    to `until` (ISO dates, "2024", "2024-03" or "2024-03-05", both ends included).

    A source's date is its `meta["date"]` (a page's publication date, a document's creation date, a
    message's Date); with `since` or `until`, a source without a date is left out. A date known
    only to the month or year matches when that month or year overlaps the range.
    """

    globs: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None

    def __post_init__(self) -> None:
        for option, value in (("--since", self.since), ("--until", self.until)):
            if value is not None and metadata_date(value) != value:
                raise BadInputError(f"{option} {value!r} is not a date; give YYYY-MM-DD, YYYY-MM or YYYY, e.g. {option} 2024-03-01")
        for glob in self.globs:
            if not is_utf8(glob):
                raise BadInputError(
                    f"--source {printable(glob)!r} is not valid UTF-8 text; see the source names with: regionqa index status"
                )
        if self.since and self.until and date_bounds(self.since)[0] > date_bounds(self.until)[1]:
            raise BadInputError(f"--since {self.since} is after --until {self.until}; give the earlier date to --since")

    def __bool__(self) -> bool:
        return bool(self.globs or self.since or self.until)

    def __str__(self) -> str:
        parts = [f"--source {glob}" for glob in self.globs]
        parts += [f"{option} {value}" for option, value in (("--since", self.since), ("--until", self.until)) if value]
        return " ".join(parts)

    def matches(self, name: str, meta: dict[str, str]) -> bool:
        """Whether a source passes: its name (or the file it is part of, for "mail.eml#report.pdf")
        matches a glob, as `index add --include` matches, and its date is in the range."""
        if self.globs and not (matches_globs(name, self.globs) or matches_globs(file_part(name), self.globs)):
            return False
        if self.since or self.until:
            date = metadata_date(meta.get("date"))
            if date is None:
                return False
            first, last = date_bounds(date)
            if (self.since and last < date_bounds(self.since)[0]) or (self.until and first > date_bounds(self.until)[1]):
                return False
        return True


def open_engine(
    settings: Settings,
    build_if_missing: bool = False,
    notify: Callable[[str], None] | None = None,
    progress: Progress | None = None,
) -> Engine:
    """Open the index for questions, building it first (reporting to `progress`) when there is none and that is wanted."""
    if build_if_missing and store_mod.current_generation(settings.index_dir) is None:
        from .indexing import build

        # Under the build lock (re-entrant: the build takes it again): a first build running elsewhere is
        # "busy" (exit 5), not a generation without CURRENT, and one that published meanwhile is used.
        lock = store_mod.lock_index(settings.index_dir)
        try:
            if store_mod.current_generation(settings.index_dir) is None:
                store_mod.check_not_orphaned(settings.index_dir)
                if notify:
                    notify(f"no index in {settings.index_dir} yet: building it from {settings.corpus_dir} (once)…")
                build(settings, progress=progress, notify=notify)
        finally:
            lock.release()
    return Engine(settings, notify=notify)


def _load_reader(settings: Settings) -> Reader:
    from .answer.reader import load_reader, stamps_file

    return load_reader(settings.reader_dir, stamps_file(settings.index_dir))


@dataclass(frozen=True)
class EntityCount:
    text: str
    label: str
    count: int
    sources: list[str]


def _check_filters(label: str | None, source: str | None) -> None:
    """BadInputError for a --label or --source that holds bytes that are not UTF-8 (from the shell):
    no stored name can match it, and SQLite cannot even take it as a parameter."""
    hints = {"--label": "labels are words such as PERSON, ORG, GPE, MONEY", "--source": "see the source names with: regionqa index status"}
    for option, value in (("--label", label), ("--source", source)):
        if value is not None and not is_utf8(value):
            raise BadInputError(f"{option} {printable(value)!r} is not valid UTF-8 text; {hints[option]}")


def list_entities(engine: Engine, label: str | None = None, source: str | None = None) -> list[EntityCount]:
    """Every named entity with its label, how often it occurs and where, most frequent first."""
    _check_filters(label, source)
    grouped: dict[tuple[str, str], list[str]] = {}
    for text, entity_label, source_name, _, _ in engine.store.all_entities(label, source):
        grouped.setdefault((text, entity_label), []).append(source_name)
    rows = [EntityCount(text, lab, len(names), sorted(set(names))) for (text, lab), names in grouped.items()]
    return sorted(rows, key=lambda r: (-r.count, r.label, r.text))


def entity_graph(engine: Engine, label: str | None = None, source: str | None = None):
    """The co-occurrence network (a networkx Graph) of the entities `list_entities` lists with the
    same filters: linked when they share a sentence, weighted by how many they share."""
    from .graph import cooccurrence_graph

    _check_filters(label, source)
    mentions = engine.store.all_entities(label, source)
    sentences = {name: [(s.start, s.end) for s in engine.store.sentences(name, 0, 2**62)] for name in sorted({m.source for m in mentions})}
    return cooccurrence_graph(mentions, sentences)


def list_facts(engine: Engine, label: str | None = None, source: str | None = None) -> list[Fact]:
    """Every figure (money, quantities, percentages, counts, dates) with its sentence and value."""
    _check_filters(label, source)
    facts = []
    for source_name, figure in engine.store.all_figures(label, source):
        sentence = engine.store.sentences(source_name, figure.start, figure.end)
        facts.append(
            Fact(
                source=source_name,
                start=figure.start,
                end=figure.end,
                text=figure.text,
                label=figure.label,
                sentence=sentence[0].text if sentence else "",
                value=figure.value,
                value_max=figure.value_max,
                unit=figure.unit,
                date=figure.date,
            )
        )
    return facts
