"""Bad sources through the real CLI: each gets one line naming the file (and the line, for JSONL),
the other sources of the same run are indexed, and a run where nothing can be read exits 2.
Also: path tricks in `index add`/`index remove`, and a large file indexed with bounded memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from conftest import CLI, SMALL_NAME, Dirs, assert_one_line_error

LATIN1_TEXT = "Café Zürich façade: the Quellmar ferry carries 300 passengers across the lake.\n"
UTF16_TEXT = "Ilham Aliyev — “Central Asia” summit: the Tervel canal carries barges to Bakı.\n"
# 100,000 levels: an HTML5 parser's time grows with the square of the depth (~20 s here), so such
# a page is read without a tree (sources.html.too_deep).
DEEP_HTML = (
    "<html><body>"
    + "<div>" * 100_000
    + "<p>The Oskemen dry port opened in 2030.</p>"
    + "</div>" * 100_000
    + "<script>alert('x')</script></body></html>"
)
GOOD_JSONL = json.dumps({"id": "r1", "text": "The Misla bridge spans the Quell river."}) + "\n"
# Two good records around a broken line: the good ones are indexed, the bad line is named.
PARTIAL_JSONL = (
    json.dumps({"id": "ok", "text": "The Oskemen ferry runs twice a week."})
    + "\n"
    + '{"id": "r2", "text": "cut short\n'
    + json.dumps({"id": "r3", "text": "The Tervel canal freezes in January."})
    + "\n"
)
PARTIAL_JSONL_PROBLEM = {"records.jsonl line 2": ["not valid JSON", "line skipped", "other records are read"]}


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def make_unreadable(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """chmod 000; as root (where that does not stop reads) reading the file is made to fail instead."""
    path.chmod(0)
    if running_as_root():
        real = Path.read_bytes

        def read_bytes(self: Path) -> bytes:
            if self.name == path.name:
                raise PermissionError(13, "Permission denied", str(self))
            return real(self)

        monkeypatch.setattr(Path, "read_bytes", read_bytes)


def bad_files(folder: Path) -> dict[str, list[str]]:
    """Write one file of every bad kind into `folder`; returns {file name: words its error must contain}."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "blank.md").write_bytes(b"  \n\t\r\n  ")
    (folder / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00")
    (folder / "scripts.html").write_text(
        "<html><head><script>var a = 1;</script></head><body><script>run()</script><style>p{}</style></body></html>", encoding="utf-8"
    )
    (folder / "locked.txt").write_text("A perfectly good text nobody may read.\n", encoding="utf-8")
    os.symlink(folder / "loop-b.txt", folder / "loop-a.txt")  # two file links pointing at each other
    os.symlink(folder / "loop-a.txt", folder / "loop-b.txt")
    (folder / "sub").mkdir()
    os.symlink(folder, folder / "sub" / "back-to-the-top")  # a folder loop: not followed at all
    # Square brackets in names and messages are text, not terminal markup ("[/b]" crashed Rich).
    (folder / "notes[x].txt").write_bytes(b" ")
    (folder / "markup.jsonl").write_text(json.dumps({"id": "[/b]", "text": "Bold."}) + "\n", encoding="utf-8")
    with (folder / "huge.txt").open("wb") as handle:  # sparse: 401 MB that take no disk space
        handle.truncate(401_000_000)
    (folder / "no-nul.txt").write_bytes(bytes(range(1, 256)) * 40)  # binary without a NUL byte
    (folder / "late-nul.txt").write_bytes(b"Plain words at first. " * 1000 + b"\x00\x01\x02")
    with open(os.fsencode(folder) + b"/caf\xe9.txt", "wb") as handle:  # a Latin-1 file name
        handle.write(b"A note about the Misla bridge, saved under an old file name.\n")
    return {
        "caf\ufffd.txt": ["file name is not valid UTF-8", "rename"],
        "no-nul.txt": ["binary"],
        "late-nul.txt": ["binary"],
        "huge.txt": ["401 MB", "at most 400 MB"],
        "notes[x].txt": ["no text"],
        "markup.jsonl": ["line 1", "'[/b]'"],
        "empty.txt": ["no text"],
        "blank.md": ["no text"],
        "image.txt": ["binary"],
        "scripts.html": ["no text"],
        "locked.txt": ["cannot read", "Permission denied"],
        "loop-a.txt": ["cannot read"],
        "loop-b.txt": ["cannot read"],
    }


def good_files(folder: Path) -> list[str]:
    """Files that must be indexed, whatever is next to them: legacy encodings, deep HTML, good JSONL."""
    (folder / "latin1.txt").write_bytes(LATIN1_TEXT.encode("latin-1"))
    (folder / "utf16.txt").write_bytes(UTF16_TEXT.encode("utf-16"))  # with a byte order mark
    (folder / "deep.html").write_text(DEEP_HTML, encoding="utf-8")
    (folder / "good.jsonl").write_text(GOOD_JSONL, encoding="utf-8")
    (folder / "records.jsonl").write_text(PARTIAL_JSONL, encoding="utf-8")
    return ["deep.html", "good.jsonl#r1", "latin1.txt", "records.jsonl#ok", "records.jsonl#r3", "utf16.txt"]


def one_line_each(lines: list[str], expected: dict[str, list[str]], prefix: str = "") -> None:
    for name, words in expected.items():
        matching = [line for line in lines if line.startswith(f"{prefix}{name}")]
        assert len(matching) == 1, (name, lines)
        assert "\n" not in matching[0]
        for word in words:
            assert word in matching[0], (name, word, matching[0])


def indexed_texts(dirs: Dirs) -> dict[str, str]:
    from regionqa import indexing
    from regionqa import store as store_mod
    from regionqa.config import Settings

    store = store_mod.open_store(dirs.index_dir, indexing.expected_manifest(Settings(corpus_dir=dirs.corpus_dir, index_dir=dirs.index_dir)))
    try:
        return dict(store.db.execute("SELECT name, text FROM sources"))
    finally:
        store.close()


def test_a_build_indexes_the_good_sources_and_names_each_bad_one(cli: CLI, small_copy: Dirs, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = bad_files(small_copy.corpus_dir)
    make_unreadable(small_copy.corpus_dir / "locked.txt", monkeypatch)
    good = good_files(small_copy.corpus_dir)
    report = cli.json("index", "build")
    assert sorted(report["added"]) == good and report["unchanged"] == [SMALL_NAME]
    expected |= PARTIAL_JSONL_PROBLEM
    one_line_each(report["errors"], expected)
    assert len(report["errors"]) == len(expected)
    texts = indexed_texts(small_copy)
    assert texts["latin1.txt"] == LATIN1_TEXT and texts["utf16.txt"] == UTF16_TEXT
    assert texts["deep.html"] == "The Oskemen dry port opened in 2030." and "alert" not in texts["deep.html"]
    passages = cli.json("ask", "How many passengers does the Quellmar ferry carry?")["passages"]
    assert any(p["source"] == "latin1.txt" and "Café Zürich" in p["text"] for p in passages)
    # The human output of the next (empty) build lists the same files, one "skipped:" line each.
    human = cli("index", "build")
    one_line_each([line for line in human.stderr.splitlines() if line.startswith("skipped: ")], expected, prefix="skipped: ")


def test_index_add_of_a_folder_copies_the_good_files_and_names_each_bad_one(
    cli: CLI, small_copy: Dirs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "incoming"
    expected = bad_files(folder)
    make_unreadable(folder / "locked.txt", monkeypatch)
    good_files(folder)
    result = cli("index", "add", "--json", str(folder))
    report = json.loads(result.stdout)
    assert sorted(report["copied"]) == [
        "incoming/deep.html",
        "incoming/good.jsonl",
        "incoming/latin1.txt",
        "incoming/records.jsonl",
        "incoming/utf16.txt",
    ]
    one_line_each([line.removeprefix(f"{folder}/") for line in report["errors"]], expected)
    assert sorted(report["build"]["added"]) == [f"incoming/{name}" for name in good_files(folder)]
    # The bad line of the copied JSONL file is named once, by the build.
    one_line_each([line.removeprefix("incoming/") for line in report["build"]["errors"]], PARTIAL_JSONL_PROBLEM)
    for name in expected:
        assert not (small_copy.corpus_dir / "incoming" / name).exists(), f"{name} was copied into the corpus"


def test_index_add_with_only_bad_files_exits_2_naming_each(cli: CLI, small_copy: Dirs, tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "image.txt").write_bytes(b"\x00\x01binary")
    (tmp_path / "bad.jsonl").write_text('{"id": "a", "text": "  "}\n{oops\n', encoding="utf-8")  # no good record
    status = cli.json("index", "status")
    result = cli(
        "index",
        "add",
        str(tmp_path / "empty.txt"),
        str(tmp_path / "image.txt"),
        str(tmp_path / "bad.jsonl"),
        str(tmp_path / "gone.txt"),
        exit_code=2,
    )
    assert result.stderr.startswith("error: nothing was added") and result.stderr.count("\n") == 1
    for words in (
        ["empty.txt", "no text"],
        ["image.txt", "binary"],
        ["bad.jsonl line 1", "no text", "and 1 more bad line"],
        ["gone.txt", "no such file"],
    ):
        assert all(word in result.stderr for word in words), (words, result.stderr)
    assert cli.json("index", "status") == status


def test_a_build_with_no_readable_source_exits_2_naming_the_files(cli: CLI, isolated_dirs: Dirs) -> None:
    isolated_dirs.corpus_dir.mkdir()
    (isolated_dirs.corpus_dir / "empty.txt").write_bytes(b"")
    (isolated_dirs.corpus_dir / "image.txt").write_bytes(b"\x00\x01binary")
    result = cli("index", "build", exit_code=2)
    assert result.stderr.startswith("error: no readable source") and result.stderr.count("\n") == 1
    assert "empty.txt: the file has no text" in result.stderr and "image.txt: looks like a binary file" in result.stderr
    assert not (isolated_dirs.index_dir / "CURRENT").exists()


# ---------------------------------------------------------------- path tricks


def snapshot(root: Path, skip: tuple[Path, ...]) -> dict[str, str]:
    """Every file below root (outside `skip`) with a hash of its content."""
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if not any(path.is_relative_to(s) for s in skip) and path.is_file() and not path.is_symlink():
                files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


@pytest.fixture
def outside(small_copy: Dirs, tmp_path: Path) -> Path:
    """Files beside the corpus folder that no command may touch, and links to them from inside it."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("A file outside the corpus.\n", encoding="utf-8")
    (tmp_path / "x.txt").write_text("Another file outside the corpus, called x.\n", encoding="utf-8")
    os.symlink(folder, small_copy.corpus_dir / "linked-folder")
    os.symlink(folder / "secret.txt", small_copy.corpus_dir / "linked-file.txt")
    return folder


@pytest.mark.parametrize(
    "name",
    [
        "/etc/passwd",
        "../x.txt",
        "sub/../../x.txt",
        "..",
        ".",
        "",
        "linked-folder/secret.txt",
        "./../outside/secret.txt",
        f"{Path.cwd()}/x.txt",
        "x\x00.txt",
    ],
)
def test_index_remove_refuses_names_outside_the_corpus(cli: CLI, small_copy: Dirs, outside: Path, tmp_path: Path, name: str) -> None:
    before = snapshot(tmp_path, skip=(small_copy.index_dir,))
    result = cli("index", "remove", name, exit_code=2)
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "not a source name" in result.stderr or "not in the corpus" in result.stderr
    assert snapshot(tmp_path, skip=(small_copy.index_dir,)) == before


def test_index_remove_of_a_symlink_removes_the_link_not_its_target(cli: CLI, small_copy: Dirs, outside: Path) -> None:
    cli.json("index", "build")
    assert "linked-file.txt" in indexed_texts(small_copy)
    report = cli.json("index", "remove", "linked-file.txt")
    assert report["removed"] == ["linked-file.txt"]
    assert not (small_copy.corpus_dir / "linked-file.txt").is_symlink()
    assert (outside / "secret.txt").read_text(encoding="utf-8") == "A file outside the corpus.\n"


def test_a_file_name_with_a_hash_sign_can_be_removed(cli: CLI, small_copy: Dirs) -> None:
    (small_copy.corpus_dir / "notes#2.txt").write_text("Second notes about the Misla bridge.\n", encoding="utf-8")
    assert cli.json("index", "build")["added"] == ["notes#2.txt"]
    assert cli.json("index", "remove", "notes#2.txt")["removed"] == ["notes#2.txt"]


def test_index_add_names_sources_inside_the_corpus_whatever_the_path(
    cli: CLI, small_copy: Dirs, outside: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work" / "deeper"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "notes.md").write_text("Notes kept elsewhere about the Quell river.\n", encoding="utf-8")
    before = snapshot(tmp_path, skip=(small_copy.index_dir, small_copy.corpus_dir))
    report = cli.json("index", "add", "../../x.txt", str(outside / ".." / "elsewhere" / "."), "../../elsewhere/../x.txt")
    assert sorted(report["copied"]) == ["elsewhere/notes.md", "x.txt"]
    names = [s["name"] for s in cli.json("index", "status")["sources"]]
    assert all(".." not in name.split("/") and not name.startswith("/") for name in names)
    assert (small_copy.corpus_dir / "x.txt").is_file() and (small_copy.corpus_dir / "elsewhere" / "notes.md").is_file()
    assert snapshot(tmp_path, skip=(small_copy.index_dir, small_copy.corpus_dir)) == before


def test_index_add_of_the_root_folder_is_refused_at_once(cli: CLI, small_copy: Dirs) -> None:
    """`index add /` would name every file of the machine "/..." (outside the corpus): refused before any walk."""
    before = snapshot(small_copy.corpus_dir, skip=())
    result = cli("index", "add", "/", exit_code=2)
    assert result.stderr.startswith("error: nothing was added: /: the root folder cannot be added") and result.stderr.count("\n") == 1
    assert snapshot(small_copy.corpus_dir, skip=()) == before


@pytest.mark.parametrize("name", ["/etc/evil.txt", "../evil.txt", "sub/../../evil.txt", ""])
def test_a_copy_never_lands_outside_the_corpus(small_copy: Dirs, tmp_path: Path, name: str) -> None:
    """The last guard of `index add`: whatever name a folder walk or a URL produced, a file is only
    ever written inside the corpus folder."""
    from regionqa import corpus as corpus_mod

    file = tmp_path / "evil.txt"
    file.write_text("A note that must stay where it is.\n", encoding="utf-8")
    before = snapshot(tmp_path, skip=(small_copy.index_dir,))
    report = corpus_mod.AddReport()
    corpus_mod._add_file(file, name, str(file), small_copy.corpus_dir, {}, report)
    assert report.copied == [] and len(report.errors) == 1 and "is not a source name" in report.errors[0]
    assert snapshot(tmp_path, skip=(small_copy.index_dir,)) == before


def test_removing_the_last_source_is_refused_and_keeps_it(cli: CLI, small_copy: Dirs) -> None:
    status = cli.json("index", "status")
    result = cli("index", "remove", SMALL_NAME, exit_code=2)
    assert result.stderr.startswith(f"error: {SMALL_NAME} is the last readable source") and result.stderr.count("\n") == 1
    assert "regionqa index add" in result.stderr
    assert (small_copy.corpus_dir / SMALL_NAME).is_file()
    assert cli.json("index", "status") == status


def test_index_remove_leaves_a_file_that_is_no_source_in_place(cli: CLI, small_copy: Dirs) -> None:
    """A file of a kind regionqa never reads, lying in the corpus folder, is the user's: not deleted."""
    (small_copy.corpus_dir / "data.xyz").write_bytes(b"a file of the user's")
    status = cli.json("index", "status")
    assert_one_line_error(cli("index", "remove", "data.xyz", exit_code=2), "'data.xyz' is not a source", "left in place")
    assert (small_copy.corpus_dir / "data.xyz").read_bytes() == b"a file of the user's"
    assert cli.json("index", "status") == status


@pytest.mark.parametrize("command", [("index", "build"), ("ask", "Who?"), ("index", "status")])
def test_an_index_dir_that_is_a_file_is_a_one_line_error(cli: CLI, small_copy: Dirs, tmp_path: Path, command: tuple[str, ...]) -> None:
    (tmp_path / "a-file").write_text("not a folder\n", encoding="utf-8")
    result = cli("--index-dir", str(tmp_path / "a-file"), *command, exit_code=None)
    assert result.exit_code in (2, 3) and "is a file, not an index folder" in result.output
    assert (tmp_path / "a-file").read_text(encoding="utf-8") == "not a folder\n"


def test_removing_a_file_deleted_by_hand_drops_it_from_the_index(cli: CLI, small_copy: Dirs) -> None:
    (small_copy.corpus_dir / "extra.txt").write_text("An extra note about the Misla bridge.\n", encoding="utf-8")
    cli.json("index", "build")
    (small_copy.corpus_dir / "extra.txt").unlink()
    assert cli.json("index", "remove", "extra.txt")["removed"] == ["extra.txt"]
    assert "extra.txt" not in indexed_texts(small_copy)


# ---------------------------------------------------------------- a large file


def _line_analyser(calls: list[int]):
    """A stand-in for spaCy: one sentence per line; records how much text each call is given."""
    from regionqa.models import Analysis, Span

    def analyse(pieces):
        calls.append(sum(len(p.text) for p in pieces))
        for piece in pieces:
            sentences = [Span(m.start(), m.end(), m.group(), "SENTENCE") for m in re.finditer(r"[^\n]+", piece.text)]
            yield piece, Analysis(sentences, [], [], [])

    return analyse


def write_large_file(path: Path, size: int) -> int:
    """A text of about `size` bytes, one numbered sentence a line; returns its line count."""
    line = "Line {}: Azerbaijan shipped {} million tons through the port of Baku, and trade grew.\n"
    written = count = 0
    with path.open("w", encoding="utf-8") as handle:
        while written < size:
            text = line.format(count, count % 97)
            handle.write(text)
            written += len(text)
            count += 1
    return count


def test_a_5_mb_file_is_indexed_piece_by_piece() -> None:
    """A 5 MB file is analysed (and so chunked and embedded) in pieces of at most PIECE_CHARS, so
    memory holds one piece's spaCy documents and chunks, never the whole file's; its offsets still
    point into the whole text. Fake models: the real ones take minutes a megabyte on two cores.
    The memory itself is measured on 100 MB by the slow test below (in a fresh process)."""
    from fakes import count_words, fake_encode
    from regionqa import batches, indexing
    from regionqa import store as store_mod
    from regionqa.config import Settings

    calls: list[int] = []
    models = batches.BuildModels(encode=fake_encode, count_tokens=count_words, analyse=_line_analyser(calls), export_query_encoder=False)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index")
        settings.corpus_dir.mkdir()
        lines = write_large_file(settings.corpus_dir / "big.txt", 5_000_000)
        (settings.corpus_dir / "small.txt").write_text("Kazakhstan joined the EAEU.\n", encoding="utf-8")
        report = indexing.build(settings, models=models)
        assert sorted(report.added) == ["big.txt", "small.txt"] and report.chunks_total > 5000
        assert len(calls) >= 5 and max(calls) <= batches.PIECE_CHARS, calls
        text = (settings.corpus_dir / "big.txt").read_text(encoding="utf-8")
        store = store_mod.open_store(settings.index_dir, indexing.expected_manifest(settings))
        try:
            assert store.source_text("big.txt") == text
            assert store.db.execute("SELECT count(*) FROM sentences WHERE source = 'big.txt'").fetchone()[0] == lines
            # What was embedded for each chunk (its context, then its text) ends with the text at its offsets.
            rows = store.db.execute(
                'SELECT c.start, c."end", f.text FROM chunks c JOIN chunks_fts f ON f.rowid = c.id WHERE c.source = ?', ("big.txt",)
            ).fetchall()
            assert all(embedded.endswith(text[start:end]) for start, end, embedded in rows)
            assert min(r[0] for r in rows) == 0 and max(r[1] for r in rows) == len(text) - 1
        finally:
            store.close()


LARGE_RUN = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from fakes import blank_pipeline, fake_models
    from regionqa import batches
    from regionqa import corpus as corpus_mod
    from regionqa import indexing
    from regionqa.config import Settings
    root = Path(sys.argv[1])
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index")
    blank_pipeline()
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = indexing.build(settings, models=fake_models())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(report.chunks_total, (peak - baseline) * 1024)
    """
)


@pytest.mark.slow
def test_a_100_mb_file_is_indexed_with_bounded_memory(tmp_path: Path) -> None:
    """100 MB through spaCy (blank English with the rule layers) and the whole build, in a fresh
    process: the growth of its peak memory stays a small multiple of the file size."""
    size = 100_000_000
    (tmp_path / "corpus").mkdir()
    write_large_file(tmp_path / "corpus" / "big.txt", size)
    done = subprocess.run(
        [sys.executable, "-c", LARGE_RUN, str(tmp_path), str(Path(__file__).parent)], capture_output=True, text=True, timeout=3600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    chunks, growth = map(int, done.stdout.split())
    assert chunks > 100_000
    # Measured: 1.2 GB (12x): the text a few times over, every vector three times while the FAISS
    # file is written, and spaCy's vocabulary, which keeps every distinct word (here a new number on
    # every line). Analysing the file whole kept ~39x the text in spaCy documents alone (5 MB: 195 MB).
    assert growth < 15 * size, f"peak memory grew by {growth / 1e6:.0f} MB for a {size / 1e6:.0f} MB file"
