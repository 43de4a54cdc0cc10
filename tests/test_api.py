"""The public Python API: the README's example, run as written, and what it promises."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, Dirs

BRIEF = "The Zarvonsk Maritime Gateway, a fictional port, handled 42 million tons of cargo in 2031.\n"


def readme_example() -> str:
    """The ```python block under "### From Python" in README.md."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### From Python") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs(index_copy: Dirs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the example's relative notes/brief.txt; the folders come from the environment
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "brief.txt").write_text(BRIEF, encoding="utf-8")
    printed = io.StringIO()
    namespace: dict = {}
    with contextlib.redirect_stdout(printed):
        exec(compile(readme_example(), "README.md", "exec"), namespace)
    assert namespace["result"].answer.text == "25 million tons"
    assert printed.getvalue().startswith("25 million tons azerbaijan-central-asia.txt line ")
    assert not (index_copy.corpus_dir / "brief.txt").exists(), "remove() deleted the added file"
    assert namespace["report"].added == [] and namespace["report"].removed == []  # build() after remove(): nothing to do


def test_the_brief_is_answerable_between_add_and_remove(index_copy: Dirs, tmp_path: Path) -> None:
    import regionqa

    (tmp_path / "brief.txt").write_text(BRIEF, encoding="utf-8")
    added = regionqa.add([tmp_path / "brief.txt"])
    assert added.copied == ["brief.txt"] and added.build.added == ["brief.txt"]
    with regionqa.open_engine() as engine:
        result = engine.ask("How much cargo did the Zarvonsk Maritime Gateway handle in 2031?")
    assert result.answer is not None and result.answer.source == "brief.txt" and "42 million tons" in result.answer.text
    assert [row.name for row in regionqa.status().sources] == ["azerbaijan-central-asia.txt", "brief.txt"]
    assert regionqa.remove("brief.txt").removed == ["brief.txt"]


def test_import_regionqa_loads_nothing_heavy() -> None:
    code = "import sys, regionqa; regionqa.Settings; print(sorted(m for m in ('torch', 'spacy', 'numpy', 'faiss', 'pydantic') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"
