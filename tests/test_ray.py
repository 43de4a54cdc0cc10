"""`index build --ray` / `index add --ray` on a real local Ray cluster, against the local build of the same corpus.

Each Ray command runs as the real `regionqa` in a subprocess inside a private network namespace
that has only loopback (`unshare --net`, as root), so that the cluster Ray starts binds nothing
outside this machine; usage statistics are off (distributed.connect). The corpus is the article
plus the first SciFact abstracts from ../shared (read there, never copied into the repository).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ARTICLE, SAMPLE_QA, SHARED, Dirs, assert_one_line_error

SCIFACT = SHARED / "bench" / "scifact" / "corpus.jsonl"
ABSTRACTS = 200
LAUNCHER = Path(__file__).with_name("ray_launcher.py")


def in_private_network(command: list[str]) -> list[str]:
    """`command` inside a new network namespace whose only interface, loopback, is up."""
    return ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *command]


def run_ray(dirs: Dirs, *args: str, launcher: str | None = None, timeout: int = 400) -> subprocess.CompletedProcess:
    """The real `regionqa` (or tests/ray_launcher.py with a fault) on `dirs`, in a private network."""
    program = [sys.executable, str(LAUNCHER), launcher] if launcher else [sys.executable, "-m", "regionqa"]
    command = [*program, "--corpus-dir", str(dirs.corpus_dir), "--index-dir", str(dirs.index_dir), *args]
    return subprocess.run(in_private_network(command), capture_output=True, text=True, timeout=timeout)


def write_corpus(folder: Path, abstracts: int) -> None:
    """The article and the first `abstracts` SciFact abstracts (as one JSONL source of records)."""
    folder.mkdir(parents=True)
    shutil.copy(ARTICLE, folder / ARTICLE.name)
    write_abstracts(folder / "scifact.jsonl", range(abstracts))


def write_abstracts(path: Path, numbers: range) -> None:
    """The SciFact abstracts at these positions of its corpus, as a JSONL source of records."""
    with SCIFACT.open(encoding="utf-8") as lines, path.open("w", encoding="utf-8") as out:
        for number, line in zip(range(numbers.stop), lines):
            if number < numbers.start:
                continue
            record = json.loads(line)
            out.write(json.dumps({"id": record["_id"], "title": record["title"], "text": record["text"]}) + "\n")


def generation(index_dir: Path) -> Path:
    return index_dir / (index_dir / "CURRENT").read_text().strip()


def generations(index_dir: Path) -> list[str]:
    """CURRENT's target and every generation folder (not the lock file, which a build leaves behind)."""
    return [(index_dir / "CURRENT").read_text().strip(), *sorted(p.name for p in index_dir.glob("gen-*"))]


def index_rows(index_dir: Path) -> tuple[dict[str, list[tuple]], np.ndarray]:
    """Every row of every table of the current generation (the chunk vectors apart), and the vectors."""
    db = sqlite3.connect(generation(index_dir) / "meta.sqlite")
    try:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'chunks_fts_%'")]
        rows = {table: db.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall() for table in tables}
        columns = [row[1] for row in db.execute("PRAGMA table_info(chunks)")]
    finally:
        db.close()
    at = columns.index("vector")
    vectors = np.array([np.frombuffer(row[at], dtype=np.float32) for row in rows["chunks"]])
    rows["chunks"] = [row[:at] + row[at + 1 :] for row in rows["chunks"]]
    return rows, vectors


def assert_same_index(built: Path, expected: Path) -> None:
    """The same sources, chunks, entities, figures and phrases row for row; vectors within cosine 0.99999."""
    rows, vectors = index_rows(built)
    expected_rows, expected_vectors = index_rows(expected)
    assert rows.keys() == expected_rows.keys()
    for table in expected_rows:
        assert len(rows[table]) == len(expected_rows[table]), table
        assert rows[table] == expected_rows[table], table
    assert vectors.shape == expected_vectors.shape
    cosines = (vectors * expected_vectors).sum(axis=1) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(expected_vectors, axis=1))
    assert cosines.min() >= 0.99999


@pytest.fixture(scope="module")
def corpus_dirs(tmp_path_factory: pytest.TempPathFactory) -> Dirs:
    if not SCIFACT.is_file():
        pytest.skip(f"{SCIFACT} is not available (set REGIONQA_SHARED_DIR to the shared folder)")
    root = tmp_path_factory.mktemp("ray")
    dirs = Dirs(corpus_dir=root / "corpus", index_dir=root / "local-index")
    write_corpus(dirs.corpus_dir, ABSTRACTS)
    return dirs


@pytest.fixture(scope="module")
def local_index(corpus_dirs: Dirs) -> Dirs:
    """The corpus built here, without Ray: what a Ray build must equal."""
    from regionqa import indexing
    from regionqa.config import Settings

    indexing.build(Settings(corpus_dir=corpus_dirs.corpus_dir, index_dir=corpus_dirs.index_dir))
    return corpus_dirs


@pytest.fixture(scope="module")
def ray_index(local_index: Dirs) -> tuple[Dirs, dict]:
    dirs = Dirs(corpus_dir=local_index.corpus_dir, index_dir=local_index.index_dir.with_name("ray-index"))
    result = run_ray(dirs, "index", "build", "--ray", "local", "--json")
    assert result.returncode == 0, result.stderr
    return dirs, json.loads(result.stdout)


def test_ray_build_equals_the_local_build(local_index: Dirs, ray_index: tuple[Dirs, dict]) -> None:
    dirs, report = ray_index
    assert len(report["added"]) == ABSTRACTS + 1 and report["chunks_embedded"] == report["chunks_total"]
    assert_same_index(dirs.index_dir, local_index.index_dir)


def test_ray_index_gives_the_same_answers(local_index: Dirs, ray_index: tuple[Dirs, dict]) -> None:
    from regionqa.config import Settings
    from regionqa.engine import Engine

    questions = [json.loads(line)["question"] for line in SAMPLE_QA.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(questions) >= 10
    answers = []
    for dirs in (local_index, ray_index[0]):
        engine = Engine(Settings(corpus_dir=dirs.corpus_dir, index_dir=dirs.index_dir))
        try:
            results = [engine.ask(question) for question in questions]
        finally:
            engine.close()
        answers.append([(r.answer.text, r.answer.source, r.answer.location) if r.answer else None for r in results])
        answers.append([[(hit.chunk.source, hit.chunk.start) for hit in r.passages] for r in results])
    local_answers, local_passages, ray_answers, ray_passages = answers
    assert ray_answers == local_answers
    assert ray_passages == local_passages
    assert sum(answer is not None for answer in ray_answers) >= len(questions) // 2  # the comparison is of real answers


def test_a_killed_ray_worker_is_retried_and_the_index_is_the_same(local_index: Dirs, tmp_path: Path) -> None:
    dirs = Dirs(corpus_dir=local_index.corpus_dir, index_dir=tmp_path / "killed-worker-index")
    result = run_ray(dirs, "index", "build", "--ray", "local", launcher="kill-worker")
    assert "ray_launcher: killing" in result.stderr and "_Embedder" in result.stderr  # a worker really was killed
    assert result.returncode == 0, result.stderr
    assert_same_index(dirs.index_dir, local_index.index_dir)


def test_a_cluster_gone_mid_build_fails_in_one_line_and_keeps_the_index(local_index: Dirs, tmp_path: Path) -> None:
    from regionqa.config import Settings
    from regionqa.engine import Engine

    dirs = Dirs(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    shutil.copytree(local_index.corpus_dir, dirs.corpus_dir)
    shutil.copytree(local_index.index_dir, dirs.index_dir, ignore=shutil.ignore_patterns(".lock"))
    before = generations(dirs.index_dir)
    # 64 new sources: several batches, so that the cluster dies with work still to do.
    write_abstracts(dirs.corpus_dir / "more.jsonl", range(ABSTRACTS, ABSTRACTS + 64))

    result = run_ray(dirs, "index", "build", "--ray", "local", launcher="kill-cluster")

    assert result.returncode == 1, result.stderr
    messages = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(messages) == 1 and "the Ray cluster went away during the build" in messages[0]
    assert "Traceback" not in result.stderr
    assert generations(dirs.index_dir) == before  # the unfinished generation is gone
    engine = Engine(Settings(corpus_dir=dirs.corpus_dir, index_dir=dirs.index_dir))
    try:
        assert len(engine.store.source_rows()) == ABSTRACTS + 1  # the previous index answers, as it was
        assert engine.ask("How much cargo can the Alat port handle?").answer is not None
    finally:
        engine.close()


def test_index_add_on_ray_sends_only_the_new_source(local_index: Dirs, tmp_path: Path) -> None:
    dirs = Dirs(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    shutil.copytree(local_index.corpus_dir, dirs.corpus_dir)
    shutil.copytree(local_index.index_dir, dirs.index_dir, ignore=shutil.ignore_patterns(".lock"))
    new = tmp_path / "ferry.txt"
    new.write_text("The Zarvonsk ferry carries 900 cars a day between the two ports.\n", encoding="utf-8")

    result = run_ray(dirs, "index", "add", "--ray", "local", str(new), "--json")

    assert result.returncode == 0, result.stderr
    build = json.loads(result.stdout)["build"]
    assert build["added"] == ["ferry.txt"] and build["changed"] == [] and build["removed"] == []
    assert build["chunks_embedded"] == 1
    assert len(build["unchanged"]) == ABSTRACTS + 1


def test_ray_option_without_ray_says_what_to_install(cli, small_copy: Dirs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: find_spec then finds nothing
    before = generations(small_copy.index_dir)
    result = cli("index", "build", "--ray", "local", exit_code=1)
    assert_one_line_error(result, "pip install 'regionqa[ray]'")
    assert generations(small_copy.index_dir) == before


def test_nothing_but_the_ray_build_imports_ray() -> None:
    """--help, the query path, the server and the local build never load Ray, installed or not."""
    code = (
        "import sys\n"
        "import regionqa.cli, regionqa.cli_index, regionqa.engine, regionqa.indexing, regionqa.batches, regionqa.server, regionqa.corpus\n"
        "print(sorted(name for name in sys.modules if name == 'ray' or name.startswith('ray.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
