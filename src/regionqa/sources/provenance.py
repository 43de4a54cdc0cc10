"""What a source says about itself: title, author, dates, URL, as the strings `Source.meta` keeps."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

# A date as far as it is known: "2024-03-05", "2024-03" or "2024".
_ISO_DATE = re.compile(r"\d{4}(?:-\d{2}(?:-\d{2})?)?")


def metadata_date(value: object) -> str | None:
    """A date or datetime, or a string that starts with an ISO date ("2024-03-05T10:00:00Z", "2024"),
    as "YYYY-MM-DD" (or "YYYY-MM" / "YYYY" when that is all it says); None when it is no date."""
    if isinstance(value, dt.datetime | dt.date):
        return (value.date() if isinstance(value, dt.datetime) else value).isoformat()
    if not isinstance(value, str):
        return None
    match = _ISO_DATE.match(value.strip())
    if match is None:
        return None
    text = match.group(0)
    try:
        dt.date.fromisoformat(text + "-01-01"[len(text) - 4 :])  # a real month and day
    except ValueError:
        return None
    return text


def clean_meta(values: dict[str, object]) -> dict[str, str]:
    """The known values as one-line strings, dates in ISO form; empty ones left out."""
    meta: dict[str, str] = {}
    for key, value in values.items():
        text = metadata_date(value) if key in ("date", "modified") else (" ".join(str(value).split()) if value is not None else "")
        if text:
            meta[key] = text
    return meta


# Where the files fetched from the web came from: {file name: URL} beside them, in web/<host>/ (hidden,
# so no build reads it as a source). The page is kept as it was served, so the URL cannot go inside it.
ORIGINS_FILE = ".origins.json"


def origin_url(path: Path) -> str | None:
    """The URL a file of the corpus was fetched from, when `index add URL` recorded one."""
    try:
        return json.loads((path.parent / ORIGINS_FILE).read_text(encoding="utf-8")).get(path.name)
    except (OSError, ValueError, AttributeError):
        return None


def record_origin(path: Path, url: str) -> None:
    """Remember that the corpus file `path` was fetched from `url` (written whole, then renamed)."""
    origins_file = path.parent / ORIGINS_FILE
    try:
        origins = json.loads(origins_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        origins = {}
    if not isinstance(origins, dict):
        origins = {}
    origins[path.name] = url
    temporary = origins_file.with_name(f"{ORIGINS_FILE}.part")
    temporary.write_text(json.dumps(origins, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    temporary.replace(origins_file)
