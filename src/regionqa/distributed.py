"""Analyse and embed sources on a Ray cluster (`regionqa index build --ray ADDRESS`), for corpora that outgrow one machine.

The driver (this process) reads and hashes the sources, decides what changed and writes the
generation exactly as a local build does (`indexing`: the same lock, manifest and atomic CURRENT
switch). Only the work in between runs on the cluster, as two Ray Data stages over actor pools:

    changed sources --> [analyse: spaCy + chunking]  --> [embed: MiniLM]  --> back to the driver, in order
                         _Analyser actors                 _Embedder actors      batches.store_batch

Each actor loads its model once, in its constructor, and keeps it for every batch it is given.
Ray Data restarts an actor that dies (a killed worker, a lost node) and retries its batch, so a
build survives that with the same index. A cluster that goes away altogether fails the build
with one line (RayClusterError, exit 1) and the previous generation keeps answering, as with any
failed build. Rows travel as pickles of the project's own dataclasses: what comes back is what
`batches.store_batch` stores in a local build, in the same order, so the two indexes are equal
row for row (tests/test_ray.py).

Ray is an optional extra (`pip install 'regionqa[ray]'`) and is imported only here.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import RegionQAError

if TYPE_CHECKING:
    from .batches import BuildModels, Progress
    from .chunking import ChunkSettings
    from .models import Source
    from .store import IndexWriter

RAY_MISSING = "--ray needs Ray, which is not installed; install it with: pip install 'regionqa[ray]'"

# Sources per analysis batch and source pieces per embedding batch. An abstract is 2-4 chunks, so
# an embedding batch is about 50-100 texts: large enough to batch well on the encoder, small
# enough that a retried batch repeats little work.
ANALYSE_BATCH_SOURCES = 16
EMBED_BATCH_PIECES = 16

# How much of a cluster's CPUs go to embedding: MiniLM takes about two thirds of a local build's time
# (spaCy the rest), so the pools are sized in that ratio.
EMBED_SHARE = 2 / 3


# How long the driver process may take to leave the cluster after its last row (then it is terminated).
DRIVER_EXIT_SECONDS = 60


class RayClusterError(RegionQAError):
    """The Ray cluster could not be reached, or went away during the build."""


def require_ray() -> None:
    """Raise the one-line install hint when Ray is missing, without importing it (that takes seconds)."""
    from importlib.util import find_spec

    if find_spec("ray") is None:
        raise RegionQAError(RAY_MISSING)


def connect(address: str) -> None:
    """Join (or, for "local", start) the Ray cluster that a build runs on.

    "local" starts a cluster in this process with this machine's CPUs, no dashboard and no usage
    statistics (traffic stays on this machine); "auto" joins the cluster named by RAY_ADDRESS (or
    the one started on this machine by `ray start`); anything else is a cluster address
    ("ray://head:10001" or "head:6379").
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Ray's C++ core logs to this process's stderr; its notices (how it found its IP address, how
    # Ray Data passes actor arguments) are not the user's to act on. Failures still raise here.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    try:
        import ray
    except ImportError:
        raise RegionQAError(RAY_MISSING) from None
    if ray.is_initialized():
        return
    options = {"logging_level": logging.ERROR, "log_to_driver": False}
    try:
        if address == "local":
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise RayClusterError(
            f"could not join the Ray cluster at {address!r}: {_first_line(error)}; start it with `ray start --head` or check RAY_ADDRESS"
        ) from None


def index_sources(
    writer: IndexWriter, sources: list[Source], chunking: ChunkSettings, progress: Progress | None, models: BuildModels
) -> int:
    """`batches.index_sources` on a Ray cluster: analyse, chunk and embed there, store here; returns the chunks embedded.

    The Ray driver runs in a child process that sends the results back through a pipe. When a
    cluster dies, Ray's core ends its driver process at once, with no exception to catch; in a
    child, that is an end of the pipe here, which this process reports in one line
    (RayClusterError) while the build's unfinished generation is removed as after any failure.
    """
    import multiprocessing

    from . import batches

    context = multiprocessing.get_context("spawn")  # not fork: this process may hold threads and open files
    receiver, sender = context.Pipe(duplex=False)
    driver = context.Process(target=_drive, args=(sender, sources, chunking, models), name="regionqa-ray-driver", daemon=True)
    driver.start()
    sender.close()  # the child holds the only sending end: its death is an EOF here
    if progress:
        progress("analysed", 0, len(sources))
    analysed = chunked = embedded = 0
    try:
        for index, first, last, analysis, chunks, texts, vectors in _received(receiver, driver):
            batches.store_batch(writer, [(sources[index], first, analysis, chunks)], texts, vectors)
            analysed += last
            chunked += len(chunks)
            embedded += len(texts)
            if progress:
                progress("analysed", analysed, len(sources))
                progress("chunked", chunked, -1)
                progress("embedded", embedded, -1)
            batches.reached("embedded")
        driver.join(DRIVER_EXIT_SECONDS)  # it stops its local cluster, if it started one, on its way out
    finally:
        receiver.close()
        if driver.is_alive():  # the build failed or was interrupted here
            driver.terminate()
        driver.join()
    return embedded


def _received(receiver, driver) -> Iterator[tuple]:
    """The rows the driver process sends, until it says it is done; its death or its error raise RayClusterError."""
    while True:
        try:
            kind, *message = receiver.recv()
        except EOFError:
            driver.join()
            raise RayClusterError(
                f"the Ray cluster went away during the build (its driver process ended with code {driver.exitcode}); "
                "the previous index is unchanged. Check the cluster (`ray status`) and build again"
            ) from None
        if kind == "done":
            return
        if kind == "error":
            raise RayClusterError(message[0])
        yield message


def _drive(sender, sources: list[Source], chunking: ChunkSettings, models: BuildModels) -> None:
    """The Ray driver (a child process): join the cluster, run the pipeline, send every row to the parent."""
    try:
        connect(models.ray_address or "local")
        import ray

        try:
            for row in _pipeline(sources, chunking, models):
                sender.send(("row", *row))
        except ray.exceptions.RayError as error:
            sender.send(
                (
                    "error",
                    f"the Ray build failed: {_first_line(error)}; the previous index is unchanged. "
                    "Check the cluster (`ray status`) and build again",
                )
            )
            return
        sender.send(("done",))
    except RegionQAError as error:
        sender.send(("error", str(error)))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the parent reports it
        pass
    finally:
        sender.close()


def _pipeline(sources: list[Source], chunking: ChunkSettings, models: BuildModels) -> Iterator[tuple]:
    """(source index, first piece?, last piece?, analysis, chunks, texts, vectors) for every piece, in source order."""
    import ray
    import ray.data

    for name in ("ray", "ray.data"):  # set up by ray.init; Ray Data reports each execution at INFO
        logging.getLogger(name).setLevel(logging.ERROR)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # stored in source order: the same row ids as a local build
    context.enable_progress_bars = False  # the driver draws regionqa's own bars

    analysers, embedders = pool_sizes(ray.cluster_resources().get("CPU", 1))
    rows = [{"index": i, "source": pickle.dumps(source)} for i, source in enumerate(sources)]
    dataset = (
        ray.data.from_items(rows)
        .map_batches(
            _Analyser,
            fn_constructor_kwargs={"models": models, "chunking": chunking},
            batch_size=ANALYSE_BATCH_SOURCES,
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=analysers),
            num_cpus=1,
        )
        .map_batches(
            _Embedder,
            fn_constructor_kwargs={"models": models},
            batch_size=EMBED_BATCH_PIECES,
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=embedders),
            num_cpus=1,
        )
    )
    for row in dataset.iter_rows():
        yield row["index"], *pickle.loads(row["piece"])


def pool_sizes(cpus: float) -> tuple[int, int]:
    """(analysis actors, embedding actors) for a cluster of `cpus` CPUs, one CPU each, at least one of each."""
    cpus = max(int(cpus), 2)
    embedders = max(1, round(cpus * EMBED_SHARE))
    return max(1, cpus - embedders), embedders


class _Analyser:
    """A Ray actor: spaCy and the word-piece counter, loaded once; analyses and chunks a batch of sources."""

    def __init__(self, models: BuildModels, chunking: ChunkSettings):
        from .models import Source

        self.models = models
        self.chunking = chunking
        # Load the pipeline now, not on the first batch, so that a batch's time is its own work.
        list(models.analyse([Source(name="warm-up", text="Warm up.", content_hash="")]))
        models.count_tokens("warm up")

    def __call__(self, batch: dict) -> dict:
        from . import batches
        from .chunking import chunk_source, index_text

        indexes = list(batch["index"])
        sources = [pickle.loads(blob) for blob in batch["source"]]
        position = {id(source): index for index, source in zip(indexes, sources)}
        out_index, out_piece = [], []
        for source, offset, last, analysis in batches.analysed_pieces(sources, self.models.analyse):
            chunks = chunk_source(source.name, source.text, analysis.sentences, self.models.count_tokens, self.chunking)
            texts = [index_text(source.text, chunk) for chunk in chunks]
            out_index.append(position[id(source)])
            # The source itself stays on the driver: only what was found in it travels back.
            out_piece.append(pickle.dumps((offset == 0, last, analysis, chunks, texts)))
        return {"index": out_index, "piece": out_piece}


class _Embedder:
    """A Ray actor: the sentence encoder, loaded once; embeds the chunks of a batch of analysed pieces."""

    def __init__(self, models: BuildModels):
        self.models = models
        models.encode(["warm up"])

    def __call__(self, batch: dict) -> dict:
        from . import batches

        pieces = [pickle.loads(blob) for blob in batch["piece"]]
        texts = [text for *_, piece_texts in pieces for text in piece_texts]
        vectors = batches.embed_in_steps(texts, self.models.encode)
        out, start = [], 0
        for first, last, analysis, chunks, piece_texts in pieces:
            out.append(pickle.dumps((first, last, analysis, chunks, piece_texts, vectors[start : start + len(piece_texts)])))
            start += len(piece_texts)
        return {"index": list(batch["index"]), "piece": out}


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]
