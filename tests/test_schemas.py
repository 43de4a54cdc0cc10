"""Every --json output, produced by the real CLI on the article index, against its JSON Schema in schemas/;
the schemas are those generated (regionqa.schemas) from regionqa.contract, and the cold path's plain JSON equals the models'."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from conftest import CLI, CORPUS_DIR_ENV, INDEX_DIR_ENV, REPO, Dirs
from test_beir import write_beir

SCHEMAS = REPO / "schemas"
QA_LINES = [
    {
        "id": "q1",
        "question": "How much cargo can the Alat port handle now?",
        "answers": ["25 million tons"],
        "evidence": "from 15 to 25 million tons",
    },
    {"id": "q2", "question": "What is the boiling point of mercury on Mars?", "answers": [], "evidence": None},
]


def load_schemas() -> dict[str, dict]:
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(SCHEMAS.glob("*.schema.json"))}


@pytest.fixture(scope="module")
def registry() -> Registry:
    """All schemas by their $id, so that one can $ref another (index-add refers to index-build)."""
    return Registry().with_resources((schema["$id"], Resource.from_contents(schema)) for schema in load_schemas().values())


def run_ask(cli: CLI, dirs: Dirs, tmp_path: Path):
    return cli("ask", "--json", QA_LINES[0]["question"])


def run_entities(cli, dirs, tmp_path):
    return cli("entities", "--json")


def run_facts(cli, dirs, tmp_path):
    return cli("facts", "--json")


def run_status(cli, dirs, tmp_path):
    return cli("index", "status", "--json")


def run_build(cli, dirs, tmp_path):
    return cli("index", "build", "--json")


def new_file(tmp_path: Path) -> Path:
    path = tmp_path / "incoming" / "port.txt"
    path.parent.mkdir()
    path.write_text("The Zarvonsk port handled 42 million tons of cargo in 2031.\n", encoding="utf-8")
    return path


def run_add(cli, dirs, tmp_path):
    return cli("index", "add", "--json", str(new_file(tmp_path)))


def run_remove(cli, dirs, tmp_path):
    cli("index", "add", str(new_file(tmp_path)))
    return cli("index", "remove", "--json", "port.txt")


def run_eval_qa(cli, dirs, tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in QA_LINES), encoding="utf-8")
    return cli("eval", "--json", str(path))


def run_eval_beir(cli, dirs, tmp_path):
    return cli("--index-dir", str(tmp_path / "beir-index"), "eval", "--json", "--beir", str(write_beir(tmp_path / "tiny")))


def run_history(cli, dirs, tmp_path):
    for line in QA_LINES[:2]:
        cli("ask", line["question"])
    return cli("history", "--json")


def run_doctor(cli, dirs, tmp_path):
    return cli("doctor", "--json", exit_code=None)


# (schema, how to run the command, whether it changes the index: then it runs on a private copy)
CASES: list[tuple[str, Callable, bool]] = [
    ("ask.schema.json", run_ask, False),
    ("entities.schema.json", run_entities, False),
    ("facts.schema.json", run_facts, False),
    ("index-status.schema.json", run_status, False),
    ("index-build.schema.json", run_build, True),
    ("index-add.schema.json", run_add, True),
    ("index-build.schema.json", run_remove, True),
    ("eval-qa.schema.json", run_eval_qa, False),
    ("eval-beir.schema.json", run_eval_beir, False),
    ("doctor.schema.json", run_doctor, False),
    ("history.schema.json", run_history, False),
]


@pytest.mark.parametrize(("schema_name", "run", "writes"), CASES, ids=[case[1].__name__.removeprefix("run_") for case in CASES])
def test_json_output_follows_its_schema(
    cli: CLI,
    article_index: Dirs,
    isolated_dirs: Dirs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    registry: Registry,
    schema_name: str,
    run,
    writes: bool,
) -> None:
    if writes:
        shutil.copytree(article_index.corpus_dir, isolated_dirs.corpus_dir)
        shutil.copytree(article_index.index_dir, isolated_dirs.index_dir, ignore=shutil.ignore_patterns(".lock"))
        dirs = isolated_dirs
    else:
        dirs = article_index
    monkeypatch.setenv(INDEX_DIR_ENV, str(dirs.index_dir))
    monkeypatch.setenv(CORPUS_DIR_ENV, str(dirs.corpus_dir))
    result = run(cli, dirs, tmp_path)
    data = json.loads(result.stdout)
    validator = Draft202012Validator(load_schemas()[schema_name], registry=registry)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]
    assert errors == [], errors


def test_every_schema_is_valid_and_checked_against_a_command() -> None:
    schemas = load_schemas()
    for name, schema in schemas.items():
        Draft202012Validator.check_schema(schema)
        assert schema["$id"].endswith("/" + name), name
    assert set(schemas) == {case[0] for case in CASES}, "a schema without a test, or a test without a schema"


# ---------------------------------------------------------------- the schemas are generated from the contract


def test_the_committed_schemas_are_the_generated_ones(tmp_path: Path) -> None:
    from regionqa import schemas

    assert set(load_schemas()) == set(schemas.SCHEMAS), "run: make schemas"
    for name in schemas.SCHEMAS:
        committed = (SCHEMAS / name).read_text(encoding="utf-8")
        assert committed == schemas.schema_text(name), f"schemas/{name} differs from the contract; run: make schemas"
    written = schemas.write_schemas(tmp_path / "out")
    assert sorted(path.name for path in written) == sorted(schemas.SCHEMAS)
    assert all(path.read_text(encoding="utf-8") == schemas.schema_text(path.name) for path in written)


def validator_of(name: str, registry: Registry) -> Draft202012Validator:
    return Draft202012Validator(load_schemas()[name], registry=registry)


def an_answer() -> dict:
    return {
        "question": "How much?",
        "answer": {"text": "25 t", "score": 0.8, "source": "a.txt", "start": 3, "end": 7, "sentence": "It 25 t.", "label": "QUANTITY",
                   "location": "line 1", "meta": {}},
        "message": None,
        "passages": [{"rank": 1, "score": 0.5, "source": "a.txt", "chunk_id": 0, "start": 0, "end": 8, "text": "It 25 t.", "location": "p. 2",
                      "meta": {"title": "A report", "date": "2024-03"}}],
        "facts": [],
    }  # fmt: skip


def edited(data: dict, path: tuple, value: object = KeyError) -> dict:
    """A deep copy of `data` with the item at `path` set to `value` (KeyError: removed)."""
    copy = json.loads(json.dumps(data))
    *parents, last = path
    target = copy
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return copy


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("answer", "location"), "page 3"),
        (("answer", "location"), "pp. 0–1"),
        (("answer", "location"), "slide 0"),
        (("answer", "meta"), KeyError),
        (("passages", 0, "meta"), {"date": 2024}),
        (("answer", "start"), -1),
        (("answer", "score"), 1.5),
        (("answer", "text"), ""),
        (("answer", "extra"), 1),
        (("answer", "label"), KeyError),
        (("message",), KeyError),
        (("passages", 0, "rank"), 0),
        (("passages", 0, "chunk_id"), "7"),
        (("question",), ""),
        (("timings",), {}),
    ],
)
def test_the_ask_schema_refuses_what_the_contract_does_not_allow(registry: Registry, path: tuple, value: object) -> None:
    validator = validator_of("ask.schema.json", registry)
    assert validator.is_valid(an_answer())
    assert not validator.is_valid(edited(an_answer(), path, value))
    assert validator.is_valid(edited(an_answer(), ("answer",), None)), "no answer is null"


def test_the_other_schemas_refuse_what_the_contract_does_not_allow(registry: Registry) -> None:
    check = {"name": "index", "status": "OK", "detail": "fine", "fix": None}
    doctor = validator_of("doctor.schema.json", registry)
    assert doctor.is_valid({"ok": True, "checks": [check]})
    assert not doctor.is_valid({"ok": True, "checks": []})
    assert not doctor.is_valid({"ok": True, "checks": [{**check, "status": "MAYBE"}]})
    entities = validator_of("entities.schema.json", registry)
    assert entities.is_valid([{"text": "Baku", "label": "GPE", "count": 2, "sources": ["a.txt"]}])
    assert not entities.is_valid([{"text": "Baku", "label": "GPE", "count": 0, "sources": ["a.txt"]}])
    assert not entities.is_valid([{"text": "Baku", "label": "GPE", "count": 2, "sources": ["a.txt", "a.txt"]}])
    qa = validator_of("eval-qa.schema.json", registry)
    report = {
        "questions": 1, "answerable": 0, "exact_match": 0.0, "f1": 0.0, "evidence_recall": {"@1": 0.0}, "mrr": 0.0,
        "abstention_rate": 0.0, "unanswerable_abstained": None, "latency_ms": {"p50": 1.0, "max": 1.0, "mean": 1.0}, "rows": [],
    }  # fmt: skip
    assert qa.is_valid(report)
    assert not qa.is_valid({**report, "evidence_recall": {"top1": 0.0}})
    assert not qa.is_valid({**report, "questions": 0})
    status = validator_of("index-status.schema.json", registry)
    empty = {"index_dir": "i", "generation": None, "manifest": None, "sources": [], "stale": {"added": [], "changed": [], "removed": []}}
    assert status.is_valid({**empty, "problem": None})
    assert not status.is_valid(empty), "problem is null, not missing"
    assert not status.is_valid({**empty, "problem": None, "sources": [{"name": "a.txt", "content_hash": "x", "chunks": 1}]})


# ---------------------------------------------------------------- the models give the JSON the library's data holds


def test_the_plain_json_of_the_cold_commands_is_the_models_dump(article_index: Dirs) -> None:
    """render.result_json / fact_json / entity_json (the cold path, without pydantic) == contract's AskOut / FactOut / EntityOut."""
    from regionqa import contract, render
    from regionqa import engine as engine_mod
    from regionqa.config import Settings

    engine = engine_mod.Engine(Settings(corpus_dir=article_index.corpus_dir, index_dir=article_index.index_dir))
    try:
        results = [engine.ask(item["question"]) for item in QA_LINES] + [engine.ask("Who is the President of Kazakhstan?", 2)]
        entities, facts = engine_mod.list_entities(engine, None, None), engine_mod.list_facts(engine, None, None)
    finally:
        engine.close()
    assert any(result.answer is None for result in results) and any(result.answer is not None for result in results)
    assert entities and facts
    for result in [*results, *fake_results()]:
        assert render.dumps(render.result_json(result)) == render.dumps(contract.AskOut.of(result).dump())
    assert [render.dumps(render.entity_json(row)) for row in entities] == [
        render.dumps(contract.EntityOut.of(row).dump()) for row in entities
    ]
    assert [render.dumps(render.fact_json(fact)) for fact in facts] == [render.dumps(contract.FactOut.of(fact).dump()) for fact in facts]


def fake_results() -> list:
    """Results the article may not give: a location left to the fallback, an integer value, a message, no passages."""
    from regionqa.models import Answer, Chunk, Fact, Hit, Result

    answer = Answer("a.txt", 3, 7, "25 t", 1, "It 25 t.", 0, "QUANTITY")
    hit = Hit(Chunk("a.txt", 0, 8, "It 25 t.", 4), 0.123456789, 1, dense_score=0.5)
    fact = Fact("a.txt", 3, 7, "25 t", "QUANTITY", "It 25 t.", value=25, value_max=None, unit="t", score=0.4)
    return [Result("How much?", answer, [hit], [fact], timings={"ask": 1.0}), Result("Why?", None, [], [], message="nothing says")]


def test_the_models_of_reports_dump_what_their_dataclasses_hold() -> None:
    """The key order and values of build, add, status, eval and doctor JSON are those of the dataclasses (as printed before)."""
    from dataclasses import asdict

    from regionqa import contract, render
    from regionqa.corpus import AddReport, Stale, Status
    from regionqa.doctor import Check
    from regionqa.evaluate import QAReport
    from regionqa.indexing import BuildReport
    from regionqa.models import IndexedSource
    from regionqa.store import Manifest

    build = BuildReport(
        added=["a.txt"], unchanged=["b.txt"], errors=["c.pdf: broken"], chunks_embedded=3, chunks_total=9, seconds=1.25, generation="g"
    )
    manifest = {
        "schema_version": 2, "embedding_model": "m", "embedding_sha256": "0" * 64, "dimension": 384, "spacy_model": "s",
        "chunking": {"max_tokens": 128, "overlap_sentences": 1}, "sources": 1, "chunks": 9, "created": "now",
        "files": {"meta.sqlite": {"sha256": "1" * 64, "size": 10}}, "vector_index": "flat", "added_later": [1, 2],
    }  # fmt: skip
    sources = [{"name": "a.txt", "content_hash": "2" * 64, "chunks": 9}]
    stale = {"added": [], "changed": ["a.txt"], "removed": []}
    rows = [
        {
            "id": "q1",
            "question": "?",
            "gold": ["x"],
            "prediction": None,
            "score": None,
            "em": 0.0,
            "f1": 0.0,
            "evidence_rank": 2,
            "latency_ms": 3.5,
        }
    ]
    cases = [
        (contract.BuildReportOut, build),
        (contract.BuildReportOut, BuildReport()),
        (contract.AddReportOut, AddReport(copied=["a.txt"], build=build)),
        (contract.AddReportOut, AddReport(skipped=["a.txt: already there"])),
        (
            contract.QAReportOut,
            QAReport(1, 1, 0.0, 0.0, {"@1": 0.0, "@3": 1.0}, 0.5, 1.0, None, {"p50": 3.5, "max": 3.5, "mean": 3.5}, rows),
        ),
        (contract.CheckOut, Check("index", "WARN", "stale", "regionqa index build")),
    ]
    for model, data in cases:
        assert render.dumps(model.of(data).dump()) == render.dumps(asdict(data)), model.__name__
    # A status holds typed rows; its JSON is the shape `index status --json` always printed.
    known = {key: value for key, value in manifest.items() if key != "added_later"}
    statuses = [
        Status("index", "g", Manifest(**known), [IndexedSource(**row) for row in sources], Stale(**stale)),
        Status("index", None, None, [], Stale(**stale), problem="broken"),
    ]
    for status in statuses:
        expected = {"index_dir": "index", "generation": status.generation, "manifest": known if status.manifest else None}
        expected |= {"sources": sources if status.sources else [], "stale": stale, "problem": status.problem}
        assert render.dumps(contract.StatusOut.of(status.as_dict()).dump()) == render.dumps(expected)
    checks = [Check("python", "OK", "3.11"), Check("index", "FAIL", "missing", "regionqa index build")]
    assert contract.DoctorOut.of_checks(checks, False).dump() == {"ok": False, "checks": [asdict(check) for check in checks]}


def test_the_cold_commands_do_not_import_pydantic(article_index: Dirs) -> None:
    """pydantic costs about 0.1 s of a 0.5 s cold `ask`: the cold commands print through render's plain functions."""
    import subprocess
    import sys

    dirs = ["--index-dir", str(article_index.index_dir), "--corpus-dir", str(article_index.corpus_dir)]
    for command in (["ask", "--json", QA_LINES[0]["question"]], ["entities", "--json"], ["facts", "--json"]):
        code = (
            "import sys\nfrom regionqa.cli import app\n"
            f"sys.argv = ['regionqa', *{dirs!r}, *{command!r}]\n"
            "try:\n    app()\nexcept SystemExit as stop:\n    assert not stop.code, stop.code\n"
            "sys.stderr.write('PYDANTIC=' + str('pydantic' in sys.modules) + '\\n')\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert done.stderr.rsplit("PYDANTIC=", 1)[1].strip() == "False", command
