"""The ONNX query encoder: the same vectors as sentence-transformers, a safe fallback, no torch on `ask`.

One index of the article is built here (module scope) with the real models; the build exports
the ONNX encoder into its `models/` folder. Tests that damage files work on copies. Nothing
here measures time: the speed is measured by benchmarks/bench_cold_ask.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from regionqa import embedding
from regionqa.config import ENCODER_ENV, Settings
from regionqa.engine import open_encoder
from regionqa.errors import ModelError
from regionqa.onnx_encoder import OnnxEncoder, _batches, load_onnx_encoder, onnx_files, open_query_encoder, verify_onnx
from regionqa.onnx_export import EXPORT_MIN_COSINE, KnownExports, known_exports, prepare_query_encoder

ARTICLE = Path(__file__).resolve().parent.parent / "corpus" / "azerbaijan-central-asia.txt"
QUESTION = "How much cargo can the Alat port handle now?"
# Not on the query path: the index-time models, and what only `serve`, web pages and PDF/DOCX need.
# rich: `ask --json` on a built index renders nothing and draws no build progress (about 20 ms of imports).
FORBIDDEN = (
    "torch",
    "sentence_transformers",
    "transformers",
    "spacy",
    "thinc",
    "fastapi",
    "uvicorn",
    "trafilatura",
    "pypdf",
    "docx",
    "rich",
)


def command_encoder(index_dir: Path, notify=None):
    """The query encoder a command opens on an index folder: REGIONQA_ENCODER as config.Settings
    reads it, opened and checked by engine.open_encoder as the engine opens it."""
    return open_encoder(replace(Settings.from_environment(), index_dir=index_dir), notify)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    """(corpus_dir, index_dir) of the article, built once by indexing.build (which exports the ONNX encoder)."""
    from regionqa import indexing

    root = tmp_path_factory.mktemp("onnx")
    corpus, index = root / "corpus", root / "index"
    corpus.mkdir()
    shutil.copyfile(ARTICLE, corpus / ARTICLE.name)
    report = indexing.build(Settings(corpus_dir=corpus, index_dir=index))
    assert report.chunks_total > 0
    return corpus, index


@pytest.fixture(scope="module")
def onnx_encoder(built) -> OnnxEncoder:
    return load_onnx_encoder(built[1], full_check=True)


def article_texts() -> list[str]:
    """A few hundred texts of varied length: sentences, fragments, and runs of 2 to 24 sentences
    (many beyond 256 word pieces, where both encoders must cut at the same place)."""
    text = ARTICLE.read_text(encoding="utf-8")
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]
    texts = list(sentences)
    texts += [" ".join(s.split()[: max(1, len(s.split()) // 3)]) for s in sentences]
    for size in (2, 4, 8, 16, 24):
        texts += [" ".join(sentences[i : i + size]) for i in range(0, len(sentences), 2)]
    texts += ["", "a", "  Spaces,\ttabs\nand new lines  ", "Ümlaut café naïve – “quotes” ≈ 60%", "x " * 400]
    return texts


def test_export_is_recorded_and_fp32(built) -> None:
    files = onnx_files(built[1])
    record = json.loads(files.record.read_text(encoding="utf-8"))
    assert files.model.is_file() and files.data.is_file()
    assert record["weights_sha256"] == embedding.WEIGHTS_SHA256
    assert record["precision"] == "fp32" and record["min_cosine_vs_sentence_transformers"] >= EXPORT_MIN_COSINE
    assert files.data.stat().st_size > 80_000_000  # fp32 weights (int8 would be ~23 MB)


def test_onnx_vectors_equal_sentence_transformers(onnx_encoder) -> None:
    texts = article_texts()
    pieces = [embedding.count_word_pieces(t) for t in texts]
    assert len(texts) >= 300 and sum(p > embedding.MAX_WORD_PIECES for p in pieces) >= 40, (
        "the sample must include texts beyond 256 word pieces"
    )
    onnx_encoder._cache.clear()
    fast = onnx_encoder(texts)
    reference = embedding.encode(texts)
    assert fast.dtype == np.float32 and fast.shape == reference.shape == (len(texts), embedding.DIMENSION)
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    cosines = (fast * reference).sum(axis=1)
    worst = int(cosines.argmin())
    assert cosines.min() >= 0.9999, f"min cosine {cosines.min():.7f} on {texts[worst][:80]!r}"


def test_same_word_pieces_as_sentence_transformers(onnx_encoder) -> None:
    texts = article_texts()[::5]
    model = embedding.load_sentence_transformer()
    expected = model.tokenize(texts)["input_ids"].tolist()
    for text, ids in zip(texts, expected):
        ours = onnx_encoder.tokenizer.encode(text).ids
        assert ours == [i for i in ids if i != 0], text[:80]


def test_batching_and_cache_do_not_change_vectors(onnx_encoder) -> None:
    texts = article_texts()[:40]
    onnx_encoder._cache.clear()
    one_by_one = np.vstack([onnx_encoder([t], batch_size=1) for t in texts])
    onnx_encoder._cache.clear()
    together = onnx_encoder(texts, batch_size=32)
    cached = onnx_encoder(list(reversed(texts)))[::-1]
    assert np.allclose(one_by_one, together, atol=1e-5)
    assert np.array_equal(cached, together)
    assert onnx_encoder([]).shape == (0, embedding.DIMENSION)


def test_batches_cover_every_text_once() -> None:
    lengths = {i: n for i, n in enumerate([60, 41, 38, 35, 33, 4, 11, 22, 256, 3, 3, 3])}
    order = sorted(lengths, key=lambda i: -lengths[i])
    batches = _batches(order, lengths, batch_size=4)
    assert sorted(i for b in batches for i in b) == sorted(lengths)
    assert all(1 <= len(b) <= 4 for b in batches)
    for batch in batches:  # padding stays within the slack, unless the batch is a single text
        assert len(batch) == 1 or lengths[batch[0]] * len(batch) <= 1.25 * sum(lengths[i] for i in batch)


def test_engine_answers_the_same_with_either_encoder(built) -> None:
    from regionqa import engine as engine_mod

    settings = Settings(corpus_dir=built[0], index_dir=built[1])
    fast = engine_mod.Engine(settings)
    slow = engine_mod.Engine(settings, encoder=embedding.encode)
    assert isinstance(fast.encoder, OnnxEncoder)
    for question in (QUESTION, "Who is the President of Kazakhstan?", "How long is the Baku-Tbilisi-Kars railway capacity now?"):
        a, b = fast.ask(question), slow.ask(question)
        assert [h.chunk.id for h in a.passages] == [h.chunk.id for h in b.passages]
        assert (a.answer.text if a.answer else None) == (b.answer.text if b.answer else None)
    fast.close()
    slow.close()


# ---------------------------------------------------------------- fallback and refusal


def copy_index(built, target: Path) -> Path:
    shutil.copytree(built[1], target, ignore=shutil.ignore_patterns(".lock"))
    return target


def test_fallback_when_the_onnx_file_is_missing(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv(ENCODER_ENV, raising=False)
    notices: list[str] = []
    encoder = command_encoder(tmp_path / "no-index", notify=notices.append)
    assert encoder is embedding.encode
    assert len(notices) == 1 and "\n" not in notices[0] and "regionqa index build" in notices[0]
    assert capsys.readouterr().err == ""  # the notice goes to `notify`: library code never prints
    monkeypatch.setenv(ENCODER_ENV, "onnx")
    with pytest.raises(ModelError, match="regionqa index build"):
        command_encoder(tmp_path / "no-index")


def test_forced_torch_path(built, monkeypatch, capsys) -> None:
    monkeypatch.setenv(ENCODER_ENV, "torch")
    notices: list[str] = []
    assert command_encoder(built[1], notify=notices.append) is embedding.encode
    assert notices == [] and capsys.readouterr().err == ""
    monkeypatch.setenv(ENCODER_ENV, "fast please")
    with pytest.raises(ModelError, match="REGIONQA_ENCODER"):
        command_encoder(built[1])


def test_the_encoder_choice_is_a_checked_parameter(built, monkeypatch) -> None:
    monkeypatch.setenv(ENCODER_ENV, "torch")  # read only by config.Settings, never by open_query_encoder
    assert isinstance(open_query_encoder(built[1]), OnnxEncoder)
    assert open_query_encoder(built[1], "torch") is embedding.encode
    with pytest.raises(ModelError, match="'gpu' is not one of: auto, onnx, torch"):
        open_query_encoder(built[1], "gpu")
    monkeypatch.setenv(ENCODER_ENV, " ONNX ")
    assert Settings.from_environment().encoder == "onnx"
    monkeypatch.setenv(ENCODER_ENV, "")
    assert Settings.from_environment().encoder == "auto"


def flip_byte(path: Path, offset: int) -> None:
    with path.open("r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x01]))


@pytest.mark.parametrize("damage", ["flip-data", "flip-graph", "truncate", "delete-data", "bad-record"])
def test_a_damaged_onnx_export_is_refused(built, tmp_path: Path, monkeypatch, damage: str) -> None:
    """Decision: a damaged export is never used. `ask` falls back to sentence-transformers with a
    one-line notice (REGIONQA_ENCODER=auto), or stops with ModelError (REGIONQA_ENCODER=onnx);
    the next `regionqa index build` replaces it."""
    index = copy_index(built, tmp_path / "index")
    files = onnx_files(index)
    if damage == "flip-data":
        flip_byte(files.data, files.data.stat().st_size // 2)
    elif damage == "flip-graph":
        flip_byte(files.model, files.model.stat().st_size // 2)
    elif damage == "truncate":
        with files.data.open("r+b") as handle:
            handle.truncate(files.data.stat().st_size - 4096)
    elif damage == "delete-data":
        files.data.unlink()
    else:
        files.record.write_text("{not json", encoding="utf-8")
    monkeypatch.delenv(ENCODER_ENV, raising=False)
    notices: list[str] = []
    assert command_encoder(index, notify=notices.append) is embedding.encode
    assert len(notices) == 1 and "regionqa index build" in notices[0]
    monkeypatch.setenv(ENCODER_ENV, "onnx")
    with pytest.raises(ModelError):
        command_encoder(index)
    # A build repairs it (here from the export this process already verified: a link, not a re-export).
    monkeypatch.delenv(ENCODER_ENV)
    assert prepare_query_encoder(index) is None
    assert isinstance(command_encoder(index), OnnxEncoder)


def test_tampering_that_restores_mtime_is_caught_by_the_full_check(built, tmp_path: Path) -> None:
    """The per-query check trusts an unchanged (size, mtime_ns, inode) stamp; builds hash in full."""
    index = copy_index(built, tmp_path / "index")
    files = onnx_files(index)
    verify_onnx(index)  # a copy: new inodes, so this hashes and refreshes the stamps
    record = json.loads(files.record.read_text(encoding="utf-8"))
    assert record["files"]["data"]["stamp"]["inode"] == files.data.stat().st_ino
    before = files.data.stat()
    flip_byte(files.data, 1000)
    os.utime(files.data, ns=(before.st_atime_ns, before.st_mtime_ns))
    verify_onnx(index)  # the documented blind spot of the cheap check
    with pytest.raises(ModelError, match="sha256"):
        verify_onnx(index, full=True)


def test_a_build_reexports_a_damaged_file(built, tmp_path: Path) -> None:
    index = copy_index(built, tmp_path / "index")
    files = onnx_files(index)
    flip_byte(files.data, 5000)
    known_exports().clear()  # no verified export to link: a real export runs
    assert prepare_query_encoder(index) is None
    verify_onnx(index, full=True)
    assert ".export-" not in " ".join(p.name for p in files.model.parent.iterdir())


def test_a_failed_export_is_returned_and_notified_never_raised_or_printed(tmp_path: Path, capsys, monkeypatch) -> None:
    from regionqa import onnx_export

    def broken(index_dir, notify=None, known=None):
        raise RuntimeError("no torch here")

    monkeypatch.setattr(onnx_export, "export_onnx", broken)
    notices: list[str] = []
    message = prepare_query_encoder(tmp_path / "index", notify=notices.append)
    assert message is not None and "no torch here" in message and "sentence-transformers" in message
    assert notices == [f"warning: {message}"] and capsys.readouterr().err == ""
    assert prepare_query_encoder(tmp_path / "index") == message


def test_known_exports_keep_the_four_newest(tmp_path: Path) -> None:
    known = KnownExports()
    folders = [tmp_path / f"index-{n}" for n in range(6)]
    for folder in folders:
        known.remember(folder)
    known.remember(folders[3])  # known again: moves to the newest place, not a second entry
    assert known.newest_first() == [folders[n].resolve() for n in (3, 5, 4, 2)]
    known.clear()
    assert known.newest_first() == []
    assert known_exports() is known_exports()  # one per process, unless a caller holds its own


# ---------------------------------------------------------------- the ask process


def test_ask_imports_no_torch(built) -> None:
    """A whole `regionqa ask --json` in a fresh interpreter: answers through ONNX, never imports torch & co. (nor Rich)."""
    corpus, index = built
    code = (
        "import json, sys\n"
        "from regionqa.cli import app\n"
        f"sys.argv = ['regionqa', '--index-dir', {str(index)!r}, '--corpus-dir', {str(corpus)!r}, 'ask', '--json', {QUESTION!r}]\n"
        "try:\n    app()\nexcept SystemExit as stop:\n    code = stop.code or 0\nelse:\n    code = 0\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "sys.stderr.write('LOADED=' + json.dumps(loaded) + '\\n')\n"
        "sys.exit(code)\n"
    )
    env = {**os.environ, "REGIONQA_ENCODER": "onnx", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stderr.rsplit("LOADED=", 1)[1])
    assert loaded == [], f"the ask path imported {loaded}"
    assert json.loads(done.stdout)["question"] == QUESTION
