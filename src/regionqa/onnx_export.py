"""Build time: export all-MiniLM-L6-v2 to ONNX for the query encoder (onnx_encoder.py), installed only when it matches.

torch, transformers and onnx are available at build time, never on the query path. The export
is installed only when its vectors equal sentence-transformers' on probe texts (cosine >=
EXPORT_MIN_COSINE). int8 is never used: it moves vectors (min cosine 0.97 measured), which
would make it another model.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from pathlib import Path

from .embedding import MODEL_NAME, WEIGHTS_SHA256, encode, quiet_offline_hugging_face, tokenizer_json, verified_model_dir
from .errors import ModelError
from .integrity import file_sha256, file_stamp, write_record
from .onnx_encoder import ONNX_FORMAT, OnnxEncoder, OnnxFiles, onnx_files, verified_export, verify_onnx

ONNX_OPSET = 17
EXPORT_MIN_COSINE = 0.9999
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


def _export_raw(folder: Path, target: Path) -> None:
    """torch.onnx.export of transformers' BertModel with eager attention (so that it can be fused)."""
    quiet_offline_hugging_face()
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


def _min_cosine(model: Path, tokenizer_text: str) -> float:
    """The least cosine between these ONNX files' vectors and sentence-transformers' on the probes."""
    texts = list(_PROBES)
    return float((OnnxEncoder(model, tokenizer_text)(texts) * encode(texts)).sum(axis=1).min())


class KnownExports:
    """Index folders whose export this process made or fully verified, the newest last: another
    index folder built by the same process (tests, BEIR evaluations) gets a hard link or copy
    instead of a new export."""

    KEPT = 4

    def __init__(self) -> None:
        self._folders: list[Path] = []

    def remember(self, index_dir: Path) -> None:
        """Note a folder whose export is verified (moved to the newest place if already known)."""
        here = Path(index_dir).resolve()
        self._folders = [p for p in self._folders if p != here][-(self.KEPT - 1) :] + [here]

    def newest_first(self) -> list[Path]:
        """The known folders, the most recent first."""
        return list(reversed(self._folders))

    def clear(self) -> None:
        """Forget every folder: the next export that fails its check is made anew."""
        self._folders = []


@cache
def known_exports() -> KnownExports:
    """The exports this process knows of, shared by its builds unless a caller holds its own."""
    return KnownExports()


def export_onnx(index_dir: Path, notify: Callable[[str], None] | None = None, known: KnownExports | None = None) -> Path:
    """Make sure `index_dir/models` holds a valid ONNX query encoder (full hash); export it if not.

    Needs torch (a build has it). Each file is written under a temporary name and moved in with
    os.replace (weights, then graph, then the record, which commits them: a reader that comes
    in between sees a mismatch and falls back). Nothing is installed unless its vectors match
    sentence-transformers'. Raises ModelError when no export matches.
    """
    known = known_exports() if known is None else known
    try:
        model = verify_onnx(index_dir, full=True)
    except ModelError:
        model = _link_known_export(index_dir, known) or _export(index_dir, notify)
    known.remember(index_dir)
    return model


def _link_known_export(index_dir: Path, known: KnownExports) -> Path | None:
    """Install a verified export this process already made elsewhere (hard link, else copy)."""
    target = onnx_files(index_dir)
    for other in known.newest_first():
        if other == Path(index_dir).resolve():
            continue
        try:
            _, record = verified_export(other, full=True)
        except ModelError:
            continue
        source = onnx_files(other)
        linked = _link_or_copy(source, target)
        files = {key: {**record["files"][key], "stamp": file_stamp(getattr(target, key))} for key in ("model", "data")}
        write_record(target.record, {**record, "files": files, "copied_from": str(source.model)})
        try:
            # Hard links are the files just hashed in full: the stamps just recorded are their check
            # (the graph is hashed anyway). A copy is new bytes: it is hashed in full.
            return verify_onnx(index_dir, full=not linked)
        except ModelError:
            return None
    return None


def _link_or_copy(source: OnnxFiles, target: OnnxFiles) -> bool:
    """Weights, then graph, of `source` moved in as `target`'s: a hard link where it can be, else a
    copy. True when both are hard links."""
    import secrets
    import shutil

    target.model.parent.mkdir(parents=True, exist_ok=True)
    linked = True
    for key in ("data", "model"):
        final = getattr(target, key)
        temporary = final.with_name(f".{final.name}.{secrets.token_hex(4)}.tmp")
        try:
            os.link(getattr(source, key), temporary)
        except OSError:
            shutil.copyfile(getattr(source, key), temporary)
            linked = False
        os.replace(temporary, final)
    return linked


def _export(index_dir: Path, notify: Callable[[str], None] | None) -> Path:
    """Export, fuse, re-save as graph + weights, check against sentence-transformers, install."""
    import secrets
    import shutil

    model_folder = verified_model_dir()
    files = onnx_files(index_dir)
    files.model.parent.mkdir(parents=True, exist_ok=True)
    for stale in files.model.parent.glob(".export-*"):  # left by an interrupted build
        shutil.rmtree(stale, ignore_errors=True)
    if notify:
        notify(f"exporting the ONNX query encoder to {files.model.parent} (once)…")
    tokenizer_text, tokenizer_sha256 = tokenizer_json()
    work = files.model.parent / f".export-{secrets.token_hex(4)}"
    try:
        work.mkdir()
        candidates = _candidates(model_folder, work)
        model, is_fused, cosine = _first_matching(candidates, work, files, tokenizer_text)
        data = model.with_name(files.data.name)
        hashes = {"model": file_sha256(model), "data": file_sha256(data)}
        os.replace(data, files.data)
        os.replace(model, files.model)
        write_record(files.record, _record(files, hashes, tokenizer_sha256, is_fused, cosine))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return files.model


def _candidates(model_folder: Path, work: Path) -> list[tuple[Path, bool]]:
    """(single-file ONNX, is fused) to try in turn: the fused export first, when the optimizer can fuse it."""
    raw, fused = work / "raw.onnx", work / "fused.onnx"
    _export_raw(model_folder, raw)
    candidates: list[tuple[Path, bool]] = [(raw, False)]
    try:
        _fuse(model_folder, raw, fused)
        candidates.insert(0, (fused, True))
    except Exception:  # an optimizer that cannot fuse this graph: the plain export still serves
        pass
    return candidates


def _first_matching(candidates: list[tuple[Path, bool]], work: Path, files: OnnxFiles, tokenizer_text: str) -> tuple[Path, bool, float]:
    """(graph in its final layout, is fused, min cosine) of the first candidate whose vectors match; ModelError if none does."""
    cosines = []
    for number, (candidate, is_fused) in enumerate(candidates):
        model = _install_layout(candidate, work / f"install-{number}", files)
        cosine = _min_cosine(model, tokenizer_text)
        cosines.append(round(cosine, 8))
        if cosine >= EXPORT_MIN_COSINE:
            return model, is_fused, cosine
    raise ModelError(
        f"the ONNX export's vectors differ from sentence-transformers' (min cosine {max(cosines):.6f}); queries keep using sentence-transformers"
    )


def _record(files: OnnxFiles, hashes: dict[str, str], tokenizer_sha256: str, is_fused: bool, cosine: float) -> dict:
    """The record of an installed export: what it is, the hashes and stamps verify_onnx checks, how it was made."""
    import time

    import onnxruntime
    import torch

    return {
        "format": ONNX_FORMAT,
        "model": MODEL_NAME,
        "weights_sha256": WEIGHTS_SHA256,
        "tokenizer_sha256": tokenizer_sha256,
        "files": {
            key: {"name": path.name, "sha256": hashes[key], "size": path.stat().st_size, "stamp": file_stamp(path)}
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


def prepare_query_encoder(index_dir: Path, notify: Callable[[str], None] | None = None) -> str | None:
    """For builds: make sure the ONNX query encoder is there and valid (full hash), exporting it
    when it is not. A failure is returned (and passed to `notify` as a warning), never raised:
    the index is right either way, and queries then use sentence-transformers."""
    try:
        export_onnx(index_dir, notify)
        return None
    except Exception as error:  # never fail a build over the query accelerator
        detail = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
        message = f"the ONNX query encoder could not be exported ({detail}); `ask` will use sentence-transformers (slower start)"
        if notify:
            notify(f"warning: {message}")
        return message
