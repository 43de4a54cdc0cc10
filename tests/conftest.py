"""Shared fixtures: isolated data folders for every test, one real article index per session.

Every test gets REGIONQA_INDEX_DIR / REGIONQA_CORPUS_DIR pointing into its own tmp_path, so no
test can touch the repository's index/ or corpus/. The end-to-end tests share one index built
with the real models (loaded once per session); tests that change an index work on a copy.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

# Models ship as packages; nothing may be fetched from the network, whatever the caller's shell says.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from regionqa.config import CONFIG_ENV, CORPUS_DIR_ENV, DATA_DIR_ENV, INDEX_DIR_ENV  # noqa: E402

# Property tests share 2 cores with other work: no per-example deadline, or load makes them flaky.
hypothesis_settings.register_profile("regionqa", deadline=None)
hypothesis_settings.load_profile("regionqa")

REPO = Path(__file__).resolve().parent.parent
ARTICLE = REPO / "corpus" / "azerbaijan-central-asia.txt"
ARTICLE_NAME = ARTICLE.name
SCHEMA_PATH = REPO / "schemas" / "ask.schema.json"
# The read-only shared material (sample questions, SciFact): beside the checkout, or where REGIONQA_SHARED_DIR
# points, so that a clone anywhere runs every test.
SHARED = Path(os.environ.get("REGIONQA_SHARED_DIR") or REPO.parent / "shared")
SAMPLE_QA = SHARED / "eval" / "sample_qa.jsonl"


@dataclass(frozen=True)
class Dirs:
    corpus_dir: Path
    index_dir: Path

    def source_text(self, name: str) -> str:
        """A source's text as regionqa reads it (bytes decoded, no newline translation)."""
        return (self.corpus_dir / name).read_bytes().decode("utf-8-sig")


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dirs:
    """Point the index and corpus at this test's tmp_path (neither exists yet), and the per-user
    data folder and config file too, so that no test can touch the real ones in the home folder."""
    dirs = Dirs(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    monkeypatch.setenv(INDEX_DIR_ENV, str(dirs.index_dir))
    monkeypatch.setenv(CORPUS_DIR_ENV, str(dirs.corpus_dir))
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "user-data"))
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "user-config" / "config.toml"))  # not there: the defaults
    return dirs


@pytest.fixture(scope="session")
def article_index(tmp_path_factory: pytest.TempPathFactory) -> Dirs:
    """The article indexed once with the real spaCy and embedding models. Treat as read-only."""
    from regionqa import indexing
    from regionqa.config import Settings

    root = tmp_path_factory.mktemp("article")
    dirs = Dirs(corpus_dir=root / "corpus", index_dir=root / "index")
    dirs.corpus_dir.mkdir()
    shutil.copyfile(ARTICLE, dirs.corpus_dir / ARTICLE_NAME)
    report = indexing.build(Settings(corpus_dir=dirs.corpus_dir, index_dir=dirs.index_dir))
    assert report.added == [ARTICLE_NAME] and report.chunks_total > 0, report
    return dirs


@pytest.fixture
def article_env(article_index: Dirs, monkeypatch: pytest.MonkeyPatch) -> Dirs:
    """Use the shared article index through the environment variables (read-only commands only)."""
    monkeypatch.setenv(INDEX_DIR_ENV, str(article_index.index_dir))
    monkeypatch.setenv(CORPUS_DIR_ENV, str(article_index.corpus_dir))
    return article_index


@pytest.fixture
def index_copy(article_index: Dirs, isolated_dirs: Dirs) -> Dirs:
    """A private copy of the article index and corpus, at this test's isolated paths, free to change."""
    shutil.copytree(article_index.corpus_dir, isolated_dirs.corpus_dir)
    shutil.copytree(article_index.index_dir, isolated_dirs.index_dir, ignore=shutil.ignore_patterns(".lock"))
    return isolated_dirs


class CLI:
    """Runs the real `regionqa` Typer app in-process and checks that nothing crashed."""

    def __init__(self) -> None:
        from typer.testing import CliRunner

        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, exit_code: int | None = 0):
        from regionqa.cli import app

        result = self.runner.invoke(app, list(args), input=input)
        # A bug surfaces as an exception caught by the runner; a deliberate exit is a SystemExit.
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"regionqa {' '.join(args)[:200]} raised {result.exception!r}\n{result.output}") from result.exception
        assert "Traceback" not in result.output, result.output
        if exit_code is not None:
            assert result.exit_code == exit_code, (
                f"exit {result.exit_code}, wanted {exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def json(self, *args: str, input: str | None = None):
        result = self(*args, "--json", input=input)
        return json.loads(result.stdout)


def assert_one_line_error(result, *words: str) -> None:
    """A refused command: nothing on stdout, one "error: ..." line on stderr that holds every word."""
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)


@pytest.fixture(scope="session")
def cli() -> CLI:
    return CLI()


@pytest.fixture(scope="session")
def ask_schema() -> dict:
    from jsonschema import Draft202012Validator

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return schema


SMALL_NAME = "zarvonsk-port.txt"
SMALL_TEXT = (
    "The Zarvonsk Maritime Gateway is a fictional deep-water port on the eastern shore of Lake Quellmar.\n"
    "Its annual cargo capacity reached 42 million tons in 2031 after the third berth opened.\n"
    "The gateway is run by the Quellmar Harbour Authority under director Elvira Tamsk.\n"
)
SMALL_QUESTION = "What is the annual cargo capacity of the Zarvonsk Maritime Gateway?"


@pytest.fixture(scope="session")
def small_index(article_index: Dirs, tmp_path_factory: pytest.TempPathFactory) -> Dirs:
    """A three-sentence source indexed with the real models: rebuilt in a second, for tests that
    break an index and rebuild it. (After article_index, so that its ONNX export is linked, not redone.)"""
    from regionqa import indexing
    from regionqa.config import Settings

    root = tmp_path_factory.mktemp("small")
    dirs = Dirs(corpus_dir=root / "corpus", index_dir=root / "index")
    dirs.corpus_dir.mkdir()
    (dirs.corpus_dir / SMALL_NAME).write_text(SMALL_TEXT, encoding="utf-8")
    indexing.build(Settings(corpus_dir=dirs.corpus_dir, index_dir=dirs.index_dir))
    return dirs


@pytest.fixture
def small_copy(small_index: Dirs, isolated_dirs: Dirs) -> Dirs:
    """A private copy of small_index at this test's isolated paths. The 90 MB ONNX query encoder is
    hard-linked (it is only ever replaced, never written in place); everything else is copied."""

    def copy(source: str, target: str) -> None:
        if Path(source).parent.name == "models" and not source.endswith(".json"):
            os.link(source, target)
        else:
            shutil.copy2(source, target)

    shutil.copytree(small_index.corpus_dir, isolated_dirs.corpus_dir)
    shutil.copytree(small_index.index_dir, isolated_dirs.index_dir, ignore=shutil.ignore_patterns(".lock"), copy_function=copy)
    return isolated_dirs
