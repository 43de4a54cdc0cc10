"""Read the passage: the span reader trained here (training/, MODEL_CARD.md), run with onnxruntime.

The reader is all-MiniLM-L6-v2 fine-tuned on SQuAD 2.0 questions to give every word piece of
"[CLS] question [SEP] passage [SEP]" a start and an end logit; a span's score is its start
logit plus its end logit, and [CLS]'s own pair is the no-answer score. It reads the best
sentences of the retrieved passages (with their neighbours), each window in a call of its own
(Reader.read says why), and its scores become features of the one scorer (scoring.py), beside
the typed candidates.
Loaded only when a question is answered; torch is never imported.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAX_WORD_PIECES = 192  # the window the reader was trained on (training/train_reader.py --max-length)
STRIDE = 64  # word pieces shared by consecutive windows of a long passage
MAX_ANSWER_PIECES = 30  # the longest span the reader may propose
MAX_QUESTION_PIECES = 64  # the most of a question the reader reads (questions of SQuAD are far shorter)
NO_READING = -12.0  # the reader's margin for a span no window holds whole: below any span it reads


OUTPUTS = ["start_logits", "end_logits"]


def window_feed(pieces: list) -> dict[str, np.ndarray]:
    """The reader's inputs for these windows, padded to the longest (one window: no padding at all)."""
    width = max(len(piece.ids) for piece in pieces)
    feed = {name: np.zeros((len(pieces), width), dtype=np.int64) for name in ("input_ids", "attention_mask", "token_type_ids")}
    for row, piece in enumerate(pieces):
        feed["input_ids"][row, : len(piece.ids)] = piece.ids
        feed["attention_mask"][row, : len(piece.ids)] = 1
        feed["token_type_ids"][row, : len(piece.ids)] = piece.type_ids
    return feed


def reader_margin(margin: float | None) -> float:
    """A candidate's reader score less the reader's best, as a feature: NO_READING when it was not read whole."""
    return NO_READING if margin is None else max(margin, NO_READING)


@dataclass(frozen=True)
class Passage:
    """A piece of a source's text for the reader: `text` starts at character `start` of `source`."""

    source: str
    start: int
    text: str


@dataclass(frozen=True)
class ReaderSpan:
    """A span the reader proposes, in the characters of its source, with its score."""

    source: str
    start: int
    end: int
    score: float  # start logit + end logit


@dataclass
class _Window:
    source: str
    offsets: np.ndarray  # (pieces, 2) character offsets into the source; -1 for question and special pieces
    start_logits: np.ndarray
    end_logits: np.ndarray
    _context: tuple | None = None

    def context(self) -> tuple[list[int], list[int], list[float], list[float]]:
        """The passage's pieces as plain lists (starts, ends, start logits, end logits), for bisect: a
        candidate's score is looked up for every candidate, and numpy per lookup cost more than the reading."""
        if self._context is None:
            inside = self.offsets[:, 0] >= 0
            self._context = (
                self.offsets[inside, 0].tolist(),
                self.offsets[inside, 1].tolist(),
                self.start_logits[inside].tolist(),
                self.end_logits[inside].tolist(),
            )
        return self._context


@dataclass
class Reading:
    """What the reader made of one question's passages: its spans and the score of any given span."""

    windows: list[_Window] = field(default_factory=list)

    @property
    def null_score(self) -> float:
        """The no-answer score: [CLS]'s start + end logit, the lowest over the windows (as in training)."""
        return min((float(w.start_logits[0] + w.end_logits[0]) for w in self.windows), default=0.0)

    def best_spans(self, limit: int = 5) -> list[ReaderSpan]:
        """The highest-scoring spans over all windows, best first, each span once."""
        spans: dict[tuple[str, int, int], float] = {}
        for window in self.windows:
            for score, first, last in _top_spans(window, limit):
                key = (window.source, int(window.offsets[first, 0]), int(window.offsets[last, 1]))
                spans[key] = max(score, spans.get(key, -np.inf))
        ranked = sorted(spans.items(), key=lambda item: -item[1])[:limit]
        return [ReaderSpan(source, start, end, score) for (source, start, end), score in ranked]

    def span_score(self, source: str, start: int, end: int) -> float | None:
        """The reader's score of exactly this span (its first piece's start logit plus its last piece's
        end logit), the best over the windows that hold it whole; None when no window does."""
        best = None
        for window in self.windows:
            if window.source != source:
                continue
            starts, ends, start_logits, end_logits = window.context()
            first = bisect_right(ends, start)  # the first piece that ends after the span starts
            last = bisect_left(starts, end) - 1  # the last piece that starts before it ends
            if first > last or starts[first] > start or ends[last] < end:
                continue  # the window cuts the span
            score = start_logits[first] + end_logits[last]
            best = score if best is None else max(best, score)
        return best


def _top_spans(window: _Window, limit: int) -> list[tuple[float, int, int]]:
    """(score, first piece, last piece) of the window's best spans of at most MAX_ANSWER_PIECES pieces."""
    context = window.offsets[:, 0] >= 0
    n = len(context)
    index = np.arange(n)
    length = index[None, :] - index[:, None]
    valid = (length >= 0) & (length < MAX_ANSWER_PIECES) & context[:, None] & context[None, :]
    if not valid.any():
        return []
    scores = np.where(valid, window.start_logits[:, None] + window.end_logits[None, :], -np.inf)
    flat = scores.ravel()
    count = min(limit, int(valid.sum()))
    top = np.argpartition(-flat, count - 1)[:count]
    return [(float(flat[i]), *divmod(int(i), n)) for i in sorted(top, key=lambda i: -flat[i])]


class Reader:
    """The span reader: an onnxruntime session and its word-piece tokenizer."""

    def __init__(self, model: Path, tokenizer_file: Path, threads: int | None = None):
        from concurrent.futures import ThreadPoolExecutor

        import onnxruntime as ort
        from tokenizers import Tokenizer

        from ..onnx_encoder import cpu_count, session_options

        # All graph optimisations, as the reader was measured with (training/export_reader.py): on the int8 reader they
        # start in 54 ms instead of 91 and read two windows in 15.4 ms instead of 19.1 (basic passes only).
        options = session_options(ort, threads, optimization="ALL")
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        # The session first, then the tokenizer: onnxruntime builds a session without the GIL, while tokenizers
        # holds it to parse its JSON (~25 ms). A first question loads the reader in a thread beside the query
        # encoder, which parses its tokenizer first: in this order each parse runs beside the other's session.
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        tokenizer.enable_truncation(MAX_WORD_PIECES, stride=STRIDE, strategy="only_second")
        tokenizer.no_padding()
        self.tokenizer = tokenizer
        self.workers = threads or cpu_count()
        # Windows read side by side, one per core: onnxruntime's own threads barely help a window of ~70 word
        # pieces (its sleeping workers wake for every operator: 17.2 ms for three windows with one thread or
        # two), while two windows read at once on this one session take 11.5 ms, with the same logits
        # (onnxruntime releases the GIL in run). The pool starts its threads when first used.
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="regionqa-reader") if self.workers > 1 else None
        self._plain = None  # made when a long question first needs cutting (_cut)
        # Time spent reading, per calling thread (a server's requests share one reader): `ask` takes the
        # difference around its own question as the reader's share of its timings.
        self._spent = threading.local()

    def read(self, question: str, passages: list[Passage]) -> Reading:
        """Every window of every passage, each read in a call of its own.

        One padded batch was the first design, but the int8 reader quantises its activations with one
        scale per call, taken over every row of the batch, padding included: a window's logits then
        moved by up to 2.2 with the windows read beside it, so an answer hung on what else was
        retrieved. A window alone depends only on the question and its own text. The calls, one
        after the other with no padding to compute, cost what the batch cost (a median 25.9 ms a
        question both ways, stop 20); read side by side, one per core (the pool), they take 0.68x
        as long (benchmarks/bench_reader_batching.py: 9.8 against 14.4 ms over 126 readings).
        """
        if not passages:
            return Reading()
        started = time.perf_counter()
        passages_read, windows = zip(*self.encode_windows(question, passages))
        spread = self._pool.map if self._pool is not None and len(windows) > 1 else map
        reading = Reading(windows=list(spread(self._read_window, passages_read, windows)))
        self._spent.seconds = self.seconds + time.perf_counter() - started
        return reading

    @property
    def seconds(self) -> float:
        """Seconds this thread has spent in `read`, over all its questions."""
        return getattr(self._spent, "seconds", 0.0)

    def encode_windows(self, question: str, passages: list[Passage]) -> list[tuple[Passage, object]]:
        """Each passage's windows ("[CLS] question [SEP] piece of passage [SEP]", `tokenizers` Encodings), in order."""
        encodings = self.tokenizer.encode_batch([(self._cut(question), passage.text) for passage in passages])
        return [(passage, piece) for passage, encoding in zip(passages, encodings) for piece in [encoding, *encoding.overflowing]]

    def _read_window(self, passage: Passage, piece: object) -> _Window:
        """One window read alone; its pieces' offsets moved into the source's characters."""
        start_logits, end_logits = self.session.run(OUTPUTS, window_feed([piece]))
        offsets = np.full((len(piece.ids), 2), -1, dtype=np.int64)
        for i, (sequence, (first, last)) in enumerate(zip(piece.sequence_ids, piece.offsets)):
            if sequence == 1:
                offsets[i] = (passage.start + first, passage.start + last)
        return _Window(passage.source, offsets, start_logits[0], end_logits[0])

    def _cut(self, question: str) -> str:
        """The question cut to MAX_QUESTION_PIECES word pieces: a window must keep room for the passage
        (a longer question makes the tokenizer fail, as it cannot truncate the passage far enough)."""
        if len(question) <= 100:
            return question  # a word piece is at least a character: always room for the passage
        if self._plain is None:  # a tokenizer without truncation (truncating the second text fails on one)
            from tokenizers import Tokenizer

            self._plain = Tokenizer.from_str(self.tokenizer.to_str())
            self._plain.no_truncation()
        pieces = self._plain.encode(question, add_special_tokens=False)
        if len(pieces.ids) <= MAX_QUESTION_PIECES:
            return question
        return question[: pieces.offsets[MAX_QUESTION_PIECES - 1][1]]


READER_FOLDER = Path(__file__).resolve().parent.parent / "reader_model"  # shipped in the package, see its MODEL_CARD.md
MODEL_FILE = "reader-int8.onnx"
TOKENIZER_FILE = "tokenizer.json"


def stamps_file(index_dir: Path) -> Path:
    """Where an index folder remembers the reader's files already hashed (beside its ONNX query encoder)."""
    from ..onnx_encoder import ONNX_FOLDER

    return Path(index_dir) / ONNX_FOLDER / "reader-stamps.json"


def load_reader(folder: Path | None = None, stamps: Path | None = None, full_check: bool = False) -> Reader:
    """The shipped reader after checking its files' sha256 (integrity.READER_FILES); ModelError says why it cannot be used.

    `stamps` is where the check remembers files already hashed (the index's models folder), so
    that a cold `ask` pays a stat() instead of hashing 23 MB (~30 ms)."""
    from ..errors import ModelError
    from ..integrity import READER_FILES, check_stamped

    folder = folder or READER_FOLDER
    check_stamped(folder, READER_FILES, stamps, "regionqa", full=full_check)
    try:
        return Reader(folder / MODEL_FILE, folder / TOKENIZER_FILE)
    except ImportError as error:
        raise ModelError(f"onnxruntime or tokenizers cannot be imported ({error})") from None
    except Exception as error:  # onnxruntime raises its own exception types for files it cannot load
        raise ModelError(f"onnxruntime cannot load the reader {folder / MODEL_FILE} ({str(error).splitlines()[0][:200]})") from None
