"""The config file: where it is, what it may set, and that options and environment variables win over it."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CLI, Dirs, assert_one_line_error
from regionqa.config import CONFIG_ENV, CONFIG_KEYS, INDEX_DIR_ENV, Settings, config_path, read_config


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "conf" / "config.toml"
    path.parent.mkdir()
    monkeypatch.setenv(CONFIG_ENV, str(path))
    return path


def test_the_config_file_is_the_per_user_one_unless_the_environment_names_another(tmp_path: Path) -> None:
    assert config_path({CONFIG_ENV: str(tmp_path / "mine.toml")}) == tmp_path / "mine.toml"
    default = config_path({})
    assert default.name == "config.toml" and default.parent.name == "regionqa"  # platformdirs' folder


def test_config_path_prints_the_file_even_when_it_is_broken(cli: CLI, config_file: Path) -> None:
    config_file.write_text("this is = = not toml", encoding="utf-8")
    assert cli("config", "path").stdout.strip() == str(config_file)
    assert_one_line_error(cli("config", "show", exit_code=2), str(config_file), "not valid TOML")


def test_show_gives_the_file_values_and_the_defaults_for_the_rest(cli: CLI, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(INDEX_DIR_ENV)
    config_file.write_text('top_k = 7\nhistory = false\nindex_dir = "idx"\nreader = "OFF"\n', encoding="utf-8")
    shown = cli.json("config", "show")
    assert shown["config_file"] == str(config_file) and shown["exists"] is True
    values = shown["settings"]
    assert set(values) == set(CONFIG_KEYS)
    assert values["top_k"] == 7 and values["history"] is False and values["reader"] == "off"
    assert values["index_dir"] == str(config_file.parent / "idx"), "a relative folder is relative to the config file"
    assert values["encoder"] == "auto", "a key the file does not set keeps its default"
    text = cli("config", "show").stdout
    assert text.splitlines()[0] == f"# read from {config_file}"
    assert "top_k = 7" in text and "history = false" in text


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("topk = 3\n", ["unknown key 'topk'", "top_k"]),
        ('top_k = "five"\n', ["top_k must be a whole number"]),
        ("top_k = true\n", ["top_k must be a whole number; got true"]),
        ("top_k = 0\n", ["top_k must be between 1 and 100"]),
        ('history = "no"\n', ["history must be true or false"]),
        ("[index]\ndir = 'x'\n", ["unknown key 'index'"]),
        ('reader = "maybe"\n', ["reader must be one of: on, off; got 'maybe'"]),  # not blamed on REGIONQA_READER, exit 4
        ('encoder = "gpu"\n', ["encoder must be one of: auto, onnx, torch"]),
        ('index_dir = ""\n', ["index_dir is empty"]),  # not the config file's own folder
        ('corpus_dir = "  "\n', ["corpus_dir is empty"]),
    ],
    ids=["unknown", "string", "bool", "range", "history", "table", "reader", "encoder", "empty index_dir", "blank corpus_dir"],
)
def test_a_bad_config_file_is_a_one_line_error_naming_the_file(cli: CLI, config_file: Path, content: str, words: list[str]) -> None:
    config_file.write_text(content, encoding="utf-8")
    assert_one_line_error(cli("ask", "Who is the President of Kazakhstan?", exit_code=2), str(config_file), *words)


def test_options_beat_the_environment_which_beats_the_file(tmp_path: Path, config_file: Path) -> None:
    config_file.write_text(f'index_dir = "{tmp_path / "from-file"}"\nencoder = "torch"\n', encoding="utf-8")
    environ = {CONFIG_ENV: str(config_file), "REGIONQA_DATA_DIR": str(tmp_path / "data")}
    assert Settings.from_environment(environ=environ, cwd=tmp_path).index_dir == tmp_path / "from-file"
    assert Settings.from_environment(environ=environ, cwd=tmp_path).encoder == "torch"
    environ |= {INDEX_DIR_ENV: str(tmp_path / "from-env"), "REGIONQA_ENCODER": "onnx"}
    assert Settings.from_environment(environ=environ, cwd=tmp_path).index_dir == tmp_path / "from-env"
    assert Settings.from_environment(environ=environ, cwd=tmp_path).encoder == "onnx"
    given = Settings.from_environment(index_dir=tmp_path / "from-option", environ=environ, cwd=tmp_path)
    assert given.index_dir == tmp_path / "from-option"


def test_no_file_means_the_defaults(tmp_path: Path) -> None:
    assert read_config(tmp_path / "absent.toml") == {}
    settings = Settings.from_environment(
        environ={CONFIG_ENV: str(tmp_path / "absent.toml"), "REGIONQA_DATA_DIR": str(tmp_path)}, cwd=tmp_path
    )
    assert (settings.top_k, settings.history, settings.config_file) == (5, True, None)


def test_top_k_from_the_file_sets_the_passages_and_the_option_overrides_it(cli: CLI, article_env: Dirs, config_file: Path) -> None:
    config_file.write_text("top_k = 2\n", encoding="utf-8")
    question = "How much cargo can the Alat port handle now?"
    assert len(cli.json("ask", question)["passages"]) == 2
    assert len(cli.json("ask", "--top-k", "4", question)["passages"]) == 4


def test_the_index_folder_can_come_from_the_file(cli: CLI, article_index: Dirs, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(INDEX_DIR_ENV)
    config_file.write_text(f"index_dir = '{article_index.index_dir}'\n", encoding="utf-8")
    assert cli.json("index", "status")["index_dir"] == str(article_index.index_dir)
