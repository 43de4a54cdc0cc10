"""schemas/*.json, generated from the models of contract.py: `python -m regionqa.schemas schemas` (`make schemas`).

tests/test_schemas.py fails when a committed file is not the generated one, and validates the
real output of every command against its file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema

from .contract import (
    AddReportOut,
    AskOut,
    BeirOut,
    BuildReportOut,
    DoctorOut,
    EntityOut,
    FactOut,
    HistoryEntryOut,
    QAReportOut,
    StatusOut,
)

SCHEMA_BASE = "https://regionqa.local/schemas/"

# file name -> (the shape, the schema's title, its description when the shape is a list)
SCHEMAS: dict[str, tuple[Any, str, str | None]] = {
    "ask.schema.json": (AskOut, "regionqa ask --json", None),
    "entities.schema.json": (
        list[EntityOut],
        "regionqa entities --json",
        "The named entities of the corpus (after --label/--source), most frequent first: one object per distinct (text, label).",
    ),
    "facts.schema.json": (
        list[FactOut],
        "regionqa facts --json",
        "The figures of the corpus (after --label/--source) in source order, with normalised values; the same objects as "
        "the `facts` of `ask --json`. source_text[start:end] == text.",
    ),
    "history.schema.json": (
        list[HistoryEntryOut],
        "regionqa history --json",
        "Past questions asked from the command line, newest first (after --search/--limit), each with the ask --json it printed.",
    ),
    "index-build.schema.json": (BuildReportOut, "regionqa index build --json (and index remove --json)", None),
    "index-add.schema.json": (AddReportOut, "regionqa index add --json", None),
    "index-status.schema.json": (StatusOut, "regionqa index status --json", None),
    "doctor.schema.json": (DoctorOut, "regionqa doctor --json", None),
    "eval-qa.schema.json": (QAReportOut, "regionqa eval QA_FILE --json", None),
    "eval-beir.schema.json": (BeirOut, "regionqa eval --beir DIR --json", None),
}


class _Schema(GenerateJsonSchema):
    """Pydantic's JSON Schema without the titles it makes up from field names ("Chunk Id")."""

    def field_title_should_be_set(self, schema) -> bool:
        return False


def json_schema(name: str) -> dict:
    """The JSON Schema (draft 2020-12) of the output that `name` in SCHEMAS describes."""
    shape, title, description = SCHEMAS[name]
    body = TypeAdapter(shape).json_schema(by_alias=True, mode="serialization", schema_generator=_Schema)
    body.pop("title", None)
    description = description or " ".join(body.pop("description").split())
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_BASE + name,
        "title": title,
        "description": description,
        **body,
    }


def schema_text(name: str) -> str:
    """The file text of a schema, as committed in schemas/."""
    return json.dumps(json_schema(name), indent=2, ensure_ascii=False) + "\n"


def write_schemas(folder: Path) -> list[Path]:
    """Write every schema into `folder`; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCHEMAS:
        path = folder / name
        path.write_text(schema_text(name), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # python -m regionqa.schemas schemas/
    for path in write_schemas(Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")):
        print(path)
