"""Where the corpus and index live: options, environment variables, a checkout, the per-user data folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ARTICLE, ARTICLE_NAME, CLI, Dirs
from regionqa.config import CORPUS_DIR_ENV, DATA_DIR_ENV, INDEX_DIR_ENV, STARTER_SOURCE, Folders, resolve_dirs, seed_corpus, user_data_dir

DATA = Path("/data/regionqa")


@pytest.mark.parametrize(
    ("corpus", "index", "checkout", "expected"),
    [
        (None, None, False, Folders(DATA / "corpus", DATA / "index", user_data=True)),
        (None, None, True, Folders(Path("corpus"), Path("index"))),
        (Path("/docs"), None, False, Folders(Path("/docs"), Path("index"))),
        (Path("/docs"), Path("/idx"), True, Folders(Path("/docs"), Path("/idx"))),
        (None, Path("/idx"), False, Folders(DATA / "corpus", Path("/idx"), user_data=True)),
        (None, Path("/idx"), True, Folders(Path("corpus"), Path("/idx"))),
    ],
    ids=["outside", "checkout", "corpus given", "both given", "index given outside", "index given in checkout"],
)
def test_resolve_dirs(tmp_path: Path, corpus: Path | None, index: Path | None, checkout: bool, expected: Folders) -> None:
    if checkout:
        (tmp_path / "corpus").mkdir()
    assert resolve_dirs(corpus, index, tmp_path, DATA) == expected


def test_a_file_named_corpus_is_not_a_checkout(tmp_path: Path) -> None:
    (tmp_path / "corpus").write_text("not a folder", encoding="utf-8")
    assert resolve_dirs(None, None, tmp_path, DATA).user_data


def test_user_data_dir_follows_the_environment_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "mine"))
    assert user_data_dir() == tmp_path / "mine"
    monkeypatch.delenv(DATA_DIR_ENV)
    assert user_data_dir().name == "regionqa"  # platformdirs' folder; only its name is looked at


def test_the_packaged_article_is_the_corpus_article() -> None:
    from importlib import resources

    assert STARTER_SOURCE == ARTICLE_NAME
    assert resources.files("regionqa").joinpath("data", STARTER_SOURCE).read_bytes() == ARTICLE.read_bytes()


def test_seed_corpus_creates_the_folder_with_the_article_once(tmp_path: Path) -> None:
    corpus = tmp_path / "user" / "corpus"
    assert seed_corpus(corpus)
    assert [p.name for p in corpus.iterdir()] == [ARTICLE_NAME]
    assert (corpus / ARTICLE_NAME).read_bytes() == ARTICLE.read_bytes()
    (corpus / ARTICLE_NAME).unlink()  # the user emptied it: that is their choice
    assert not seed_corpus(corpus)
    assert list(corpus.iterdir()) == []
    assert [p.name for p in corpus.parent.iterdir()] == ["corpus"], "no temporary folder is left behind"


def test_help_shows_the_environment_variables(cli: CLI) -> None:
    out = cli("--help").stdout
    for name in (INDEX_DIR_ENV, CORPUS_DIR_ENV, DATA_DIR_ENV, "--quiet", "--version"):
        assert name in out


def test_shell_completion_script() -> None:
    """Typer's completion, through the installed console script (its name is what completes)."""
    regionqa = str(Path(sys.executable).with_name("regionqa"))
    # The script `--show-completion bash` prints, asked for by name: --show-completion itself detects the
    # shell from the parent processes, and a suite run under nohup or CI may have no shell among them.
    env = {**os.environ, "_REGIONQA_COMPLETE": "source_bash"}
    done = subprocess.run([regionqa], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "_REGIONQA_COMPLETE=complete_bash" in done.stdout and "complete -o default -F _regionqa_completion regionqa" in done.stdout


def test_in_a_checkout_the_relative_folders_are_used(cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(INDEX_DIR_ENV)
    monkeypatch.delenv(CORPUS_DIR_ENV)
    (tmp_path / "work" / "corpus").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work")
    status = cli.json("index", "status")
    assert status["index_dir"] == "index" and status["generation"] is None
    assert not (tmp_path / "user-data").exists()


def test_outside_a_checkout_the_per_user_folder_is_seeded_and_used(
    cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, article_index: Dirs
) -> None:
    """`pip install regionqa` then a command in any folder: the article is the corpus, indexed once."""
    monkeypatch.delenv(INDEX_DIR_ENV)
    monkeypatch.delenv(CORPUS_DIR_ENV)
    data = tmp_path / "user-data"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    first = cli("entities", "--json")
    assert str(data / "corpus") in first.stderr and "started with the article" in first.stderr
    assert "no index" in first.stderr
    assert (data / "corpus" / ARTICLE_NAME).read_bytes() == ARTICLE.read_bytes()
    assert (data / "index" / "CURRENT").is_file()
    rows = json.loads(first.stdout)
    assert any(row["text"] == "Azerbaijan" for row in rows)
    second = cli("entities", "--json")
    assert second.stderr == "" and json.loads(second.stdout) == rows, "seeded and built once"
    assert list((tmp_path / "elsewhere").iterdir()) == [], "nothing is written to the current folder"
    assert cli.json("index", "status")["index_dir"] == str(data / "index")


def test_options_win_over_the_environment(cli: CLI, tmp_path: Path, isolated_dirs: Dirs) -> None:
    status = cli.json("--index-dir", str(tmp_path / "other-index"), "index", "status")
    assert status["index_dir"] == str(tmp_path / "other-index")
