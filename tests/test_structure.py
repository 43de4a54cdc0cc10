"""The shape of the package, held by tests: one job a module, small functions, and imports that
only run down the data flow (sources -> nlp -> chunking/embedding -> store -> search -> answer ->
indexing/engine -> evaluation -> render/server/cli).

A new module must be given its step in STEPS: that is where a newcomer learns where it belongs.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "regionqa"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60

# The steps of the data flow, lowest first. A module may import modules of its own step or of a
# lower one, never of a higher one. Packages (store, answer, sources, evaluate) are one step each.
STEPS: list[set[str]] = [
    {"errors", "models", "lexicon", "version", "integrity"},  # shared records, vocabulary and checks
    {"sources", "fetch", "figures", "dates"},  # reading documents; parsing figures and dates out of strings
    {"nlp", "chunking", "embedding", "onnx_encoder", "onnx_export", "graph"},  # analysing and embedding text
    {"store"},  # the index on disk
    {"search"},  # retrieval
    {"answer"},  # the short answer
    {"config", "batches"},  # settings; the build's analyse/embed/store loop
    {
        "indexing",
        "distributed",
        "corpus",
        "engine",
        "live",
        "watch",
    },  # building the index (here or on Ray, and keeping it built), managing the corpus, answering questions
    {"evaluate", "doctor"},  # measuring and checking
    {
        "contract",
        "schemas",
        "render",
        "report",
        "progress",
        "server",
        "server_guard",
        "server_web",
        "mcp_server",
        "cli",
        "cli_common",
        "cli_index",
        "cli_user",
        "__init__",
        "__main__",
    },  # what users see
]


def _modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def _step_name(path: Path) -> str:
    """The step a file belongs to: its top-level module or package under regionqa/."""
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py") if len(relative.parts) > 1 or relative.name != "__init__.py" else "__init__"


def _step_of(name: str) -> int:
    for level, names in enumerate(STEPS):
        if name in names:
            return level
    raise AssertionError(f"regionqa/{name} is in no step of tests/test_structure.py STEPS; give it the step of the data flow it serves")


def _imported_steps(path: Path) -> set[str]:
    """The regionqa steps (top-level modules or packages) a file imports, TYPE_CHECKING imports included."""
    relative = path.relative_to(PACKAGE)
    depth = len(relative.parts) - 1  # 0 for regionqa/x.py, 1 for regionqa/store/x.py
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            up = node.level - 1 - depth  # how far above regionqa/ the import starts: 0 = regionqa itself
            if node.level - 1 < depth:  # a sibling inside the same package
                continue
            assert up == 0, f"{relative}: relative import above the package"
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "regionqa":
            found.add(node.module.split(".")[1] if "." in node.module else "__init__")
    return found - {_step_name(path)}


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_are_small_and_import_only_downwards(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.name} has {lines} lines; split it by job (at most {MAX_MODULE_LINES})"
    own = _step_of(_step_name(path))
    for name in _imported_steps(path):
        assert _step_of(name) <= own, f"{path.relative_to(PACKAGE)} imports {name}, a later step of the data flow"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_functions_are_short(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{path.name}:{node.lineno} {node.name} is {length} lines (at most {MAX_FUNCTION_LINES})"


def _calls(path: Path) -> list[tuple[str, int]]:
    """(dotted name, line) of every call in a file: "print", "os.environ.get", "db.execute"."""

    def dotted(node: ast.AST) -> str:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute):
            return f"{dotted(node.value)}.{node.attr}"
        return "?"

    tree = ast.parse(path.read_text(encoding="utf-8"))
    # A module's `if __name__ == "__main__":` block is a small command of its own: it may print.
    scripts = [
        range(node.lineno, node.end_lineno + 1)
        for node in tree.body
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare) and getattr(node.test.left, "id", "") == "__name__"
    ]
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    return [(dotted(node.func), node.lineno) for node in calls if not any(node.lineno in lines for lines in scripts)]


def test_only_the_store_runs_sql() -> None:
    for path in _modules():
        if _step_name(path) == "store":
            continue
        source = path.read_text(encoding="utf-8")
        assert "import sqlite3" not in source, f"{path.name} imports sqlite3; go through regionqa.store"
        executes = [line for name, line in _calls(path) if name.endswith((".execute", ".executemany", ".executescript"))]
        assert not executes, f"{path.name} runs SQL at lines {executes}; add a Store or IndexWriter method instead"


def test_library_code_never_prints_and_reads_the_environment_in_one_place() -> None:
    for path in _modules():
        for name, line in _calls(path):
            assert name != "print", f"{path.name}:{line} prints; report through a callback or a return value"
            if _step_name(path) != "config":
                assert name not in ("os.environ.get", "os.getenv"), f"{path.name}:{line} reads the environment; add it to config.Settings"


def test_ruff_finds_nothing() -> None:
    """Lint (pyflakes, import order, bugbear, complexity <= 12) and format, as configured in pyproject.toml."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is not installed; it is in the [test] extra: pip install -e '.[test]'"
    root = PACKAGE.parent.parent
    for command in ([ruff, "check", "--output-format", "concise", "."], [ruff, "format", "--check", "."]):
        done = subprocess.run(command, cwd=root, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
