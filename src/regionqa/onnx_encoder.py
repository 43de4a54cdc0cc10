"""The fast query encoder: all-MiniLM-L6-v2 through onnxruntime, its files, their check, and the choice of encoder.

`regionqa ask` must start in well under a second, and torch alone takes ~2 s to import
(sentence-transformers ~7 s). So the same all-MiniLM-L6-v2 is exported once to ONNX (fp32,
attention fused by onnxruntime's BERT optimizer; see onnx_export.py) and questions are encoded
with onnxruntime and the model's own fast tokenizer: no torch, no transformers on the query path.
The export happens during `regionqa index build` and is installed only when its vectors equal
sentence-transformers' on probe texts, so an index's chunk vectors (sentence-transformers) and
its query vectors (ONNX) come from one model.

  <index_dir>/models/all-MiniLM-L6-v2-<weights sha256[:12]>.onnx        the graph (~20 KB)
  <index_dir>/models/all-MiniLM-L6-v2-<weights sha256[:12]>.onnx.data   its weights (~90 MB)
  <index_dir>/models/all-MiniLM-L6-v2-<weights sha256[:12]>.json        record: hashes, stamps

The weights are kept as ONNX external data because onnxruntime then maps them into memory
instead of parsing and copying a 90 MB protobuf: opening the session took 0.05-0.17 s
(depending on the machine's load) instead of 0.25-0.5 s for one 90 MB file. The files derive
from the model, not from the index's contents, so they live beside the generations (which
builds replace) and outlive them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .embedding import DIMENSION, MAX_WORD_PIECES, MODEL_NAME, WEIGHTS_SHA256, Encoder, encode, tokenizer_json
from .errors import ModelError
from .integrity import file_sha256, file_stamp, write_record

# "auto" (default): ONNX when its files are valid, else sentence-transformers with a notice;
# "onnx": ONNX or an error (ModelError); "torch": always sentence-transformers (the slow path).
ENCODER_CHOICES = ("auto", "onnx", "torch")
ONNX_FOLDER = "models"
ONNX_FORMAT = 1  # bump when the export recipe changes: older exports are then replaced
FAST_PATH_HINT = "regionqa index build"


class OnnxFiles(NamedTuple):
    model: Path  # the graph; names `data` as its external data, relative to its own folder
    data: Path
    record: Path


def onnx_files(index_dir: Path) -> OnnxFiles:
    """Where the ONNX query encoder of an index folder lives."""
    stem = f"{MODEL_NAME.rsplit('/', 1)[-1]}-{WEIGHTS_SHA256[:12]}"
    folder = Path(index_dir) / ONNX_FOLDER
    return OnnxFiles(folder / f"{stem}.onnx", folder / f"{stem}.onnx.data", folder / f"{stem}.json")


def read_record(path: Path) -> dict:
    """The record of an ONNX export; ModelError when it is missing, unreadable or for another model."""
    import json

    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"the record {path.name} of the ONNX query encoder is missing") from None
    except (OSError, ValueError) as error:
        raise ModelError(f"the record {path.name} of the ONNX query encoder is unreadable ({error})") from None
    valid = (
        isinstance(record, dict)
        and record.get("format") == ONNX_FORMAT
        and record.get("weights_sha256") == WEIGHTS_SHA256
        and all(isinstance(record.get("files", {}).get(key), dict) for key in ("model", "data"))
    )
    if not valid:
        raise ModelError(f"{path.name} was written for another model or export format")
    return record


def verify_onnx(index_dir: Path, full: bool = False) -> Path:
    """Check the ONNX query encoder's files against their record; the model path, or ModelError.

    Why not a sha256 of everything on every query: hashing the 90 MB of weights costs
    0.08-0.3 s, a third to half of the whole `ask` budget, and onnxruntime maps the weights into
    memory, so the bytes it computes with could not be the bytes hashed anyway. Instead the
    record holds, for each file, its sha256 (of the bytes the build wrote and checked against
    sentence-transformers) and a stamp (size, mtime_ns, inode) taken after the atomic rename.
    Writing to a file changes its mtime_ns; replacing it, or copying the index elsewhere,
    changes its inode. So an unchanged stamp means the weights are the bytes that were hashed,
    for the price of one stat(). The graph (~20 KB; it names the weights file) is hashed every
    time: that costs microseconds. A changed size is refused at once; any other changed stamp
    gets a full hash, and on a match the record's stamp is refreshed (best effort: a read-only
    index just hashes on every query), so a copied index pays once. `full=True` always hashes:
    every build does, so media corruption that keeps the stamp is caught at the next build.
    What the stamp cannot catch is someone who rewrites the weights and then restores their
    mtime with utime(2); but whoever can do that can rewrite the record too, which a hash on
    every query would not stop either.
    """
    return verified_export(index_dir, full)[0]


def verified_export(index_dir: Path, full: bool = False) -> tuple[Path, dict]:
    """verify_onnx, returning the record (as read before any stamp refresh) as well."""
    files = onnx_files(index_dir)
    if not files.model.is_file():
        raise ModelError(f"no ONNX query encoder in {files.model.parent}")
    record = read_record(files.record)
    changed: dict[str, dict] = {}
    for key in ("model", "data"):
        path, expected = getattr(files, key), record["files"][key]
        try:
            stamp = file_stamp(path)
        except FileNotFoundError:
            raise ModelError(f"{path.name} is missing") from None
        if stamp["size"] != expected.get("size"):
            raise ModelError(
                f"{path.name} has {stamp['size']:,} bytes, its record says {expected.get('size')!r}: it was changed or truncated"
            )
        if full or key == "model" or stamp != expected.get("stamp"):
            if file_sha256(path) != expected.get("sha256"):
                raise ModelError(f"{path.name} does not match the sha256 in its record: it was changed or corrupted")
            if stamp != expected.get("stamp"):
                changed[key] = stamp
    if changed:
        files_record = {key: {**value, "stamp": changed.get(key, value.get("stamp"))} for key, value in record["files"].items()}
        try:
            write_record(files.record, {**record, "files": files_record})
        except OSError:
            pass
    return files.model, record


class OnnxEncoder:
    """all-MiniLM-L6-v2 through onnxruntime: the same word pieces (cut at 256), then mean pooling
    over the attention mask and L2 normalisation, exactly as sentence-transformers computes them."""

    CACHE_SIZE = 4096  # vectors kept (1.5 KB each)

    def __init__(self, model: Path, tokenizer_text: str, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_str(tokenizer_text)
        # PITFALL: the model folder's tokenizer.json truncates and pads to 128. sentence-
        # transformers cuts at 256 and pads each batch to its longest text; __call__ pads.
        tokenizer.enable_truncation(max_length=MAX_WORD_PIECES)
        tokenizer.no_padding()
        self.tokenizer = tokenizer
        self.session = ort.InferenceSession(str(model), session_options(ort, threads), providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        # Vectors of texts already seen: the question is encoded for retrieval and again with the
        # candidate sentences, and `ask --batch` meets the same sentences again and again.
        self._cache: dict[str, np.ndarray] = {}

    def __call__(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Normalised float32 embeddings, shape (len(texts), 384)."""
        texts = list(texts)
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        todo = []
        for index, text in enumerate(texts):
            cached = self._cache.get(text)
            if cached is None:
                todo.append(index)
            else:
                out[index] = cached
        if todo:
            encodings = self.tokenizer.encode_batch([texts[i] for i in todo])
            lengths = {index: len(encoding.ids) for index, encoding in zip(todo, encodings)}
            pieces = {index: encoding.ids for index, encoding in zip(todo, encodings)}
            for chosen in _batches(sorted(todo, key=lambda i: -lengths[i]), lengths, batch_size):
                out[chosen] = self._run([pieces[i] for i in chosen])
            if len(self._cache) + len(todo) > self.CACHE_SIZE:
                self._cache.clear()
            self._cache.update((texts[i], out[i].copy()) for i in todo)
        return out

    def _run(self, pieces: list[list[int]]) -> np.ndarray:
        """One padded batch through the model, mean-pooled over real tokens, L2-normalised."""
        width = max(len(p) for p in pieces)
        ids = np.zeros((len(pieces), width), dtype=np.int64)
        mask = np.zeros((len(pieces), width), dtype=np.int64)
        for row, piece in enumerate(pieces):
            ids[row, : len(piece)] = piece
            mask[row, : len(piece)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feed)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


def session_options(ort, threads: int | None = None, optimization: str = "BASIC"):
    """onnxruntime session options for a small shared machine (the query encoder's and the reader's)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or cpu_count()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle worker threads sleep instead of spinning: on a small shared machine a spinning
    # thread takes the core the Python code (answer scoring, rendering) needs next.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # The query encoder's export is already optimised (fused attention, see onnx_export.export_onnx):
    # the extended and layout passes found nothing more to gain there and took ~40 ms of every cold start.
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, f"ORT_ENABLE_{optimization}")
    return options


def _batches(order: list[int], lengths: dict[int, int], batch_size: int, slack: float = 1.25) -> list[list[int]]:
    """Split indices sorted by decreasing length into batches whose padded size stays within
    `slack` times their real tokens: the model's cost is per padded token, and on 2 cores one
    long sentence padding 31 short ones doubles it (19 answer sentences: 1140 vs 530 tokens)."""
    batches: list[list[int]] = []
    current: list[int] = []
    real = 0
    for index in order:
        if current and (len(current) >= batch_size or lengths[current[0]] * (len(current) + 1) > slack * (real + lengths[index])):
            batches.append(current)
            current, real = [], 0
        current.append(index)
        real += lengths[index]
    if current:
        batches.append(current)
    return batches


def cpu_count() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def load_onnx_encoder(index_dir: Path, full_check: bool = False) -> OnnxEncoder:
    """The verified ONNX query encoder of an index folder; ModelError says why it cannot be used."""
    model, record = verified_export(index_dir, full=full_check)
    tokenizer_text, _ = tokenizer_json(record.get("tokenizer_sha256"))
    try:
        return OnnxEncoder(model, tokenizer_text)
    except ImportError as error:
        raise ModelError(f"onnxruntime or tokenizers cannot be imported ({error})") from None
    except Exception as error:  # onnxruntime raises its own exception types for files it cannot load
        raise ModelError(f"onnxruntime cannot load {model.name} ({str(error).splitlines()[0][:200]})") from None


# ---------------------------------------------------------------- which encoder answers questions


def check_encoder(choice: str, setting: str = "encoder") -> str:
    """The encoder choice itself when it is one of ENCODER_CHOICES, else ModelError naming `setting`."""
    if choice not in ENCODER_CHOICES:
        raise ModelError(f"{setting}={choice!r} is not one of: {', '.join(ENCODER_CHOICES)}")
    return choice


def open_query_encoder(
    index_dir: Path, encoder: str = "auto", notify: Callable[[str], None] | None = None, setting: str = "encoder"
) -> Encoder:
    """The encoder for questions (list[str] -> normalised float32 array, one row per text).

    The index folder's ONNX export when it is present and verified; otherwise (auto) the
    sentence-transformers `encode` (the same vectors, ~7 s slower to start), after a one-line
    notice through `notify` saying how to get the fast path. A tampered or corrupted ONNX file
    is refused the same way: its answer would be wrong, a slow answer isn't. encoder="torch"
    forces sentence-transformers; encoder="onnx" turns a missing or invalid ONNX export into a
    ModelError (exit code 4) instead of the fallback. An `encoder` not in ENCODER_CHOICES is a
    ModelError that names `setting`, where the choice came from (REGIONQA_ENCODER for a command).
    """
    if check_encoder(encoder, setting) == "torch":
        return encode
    try:
        return load_onnx_encoder(index_dir)
    except ModelError as error:
        if encoder == "onnx":
            raise ModelError(f"the ONNX query encoder cannot be used ({error}); run: {FAST_PATH_HINT}") from None
        if notify:
            notify(f"note: {error}; using sentence-transformers (slow start); for the fast path run: {FAST_PATH_HINT}")
        return encode
