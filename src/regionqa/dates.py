"""Normalise dates to ISO 8601: "March 2024" -> "2024-03", "15 May 2024" -> "2024-05-15", "2025-2027" -> "2025/2027".

A date keeps the precision its text gives (a year, a month or a day); a period is an ISO interval
("the first quarter of 2024" -> "2024-01/2024-03"). A relative date ("last year", "in May of this
year", "next month") is read against a reference date, the source's own date; with none, it stays
unnormalised: no guess from today's date. Pure functions, used at index time (the DATE figures of
nlp.py) and by date filters (`date_bounds`). dateparser is imported only when a text needs it.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime
from functools import cache, lru_cache

from .lexicon import YEAR, YEAR_WORD, words

_YEARS_ONLY = re.compile(rf"({YEAR})(?:\s*(?:[–-]|to|and|through|until)\s*({YEAR}))?")
_DECADE = re.compile(r"\b\d{3}0[’']?s\b")  # "the 1990s": a decade, not a year
_PRECISION = {"day": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}  # dateparser's period -> ISO form
_MONTHS = frozenset(name.lower() for name in (*calendar.month_name, *calendar.month_abbr) if name)
_FISCAL_YEAR = re.compile(rf"({YEAR})/(\d\d|{YEAR})")
_DOTTED_DAY = re.compile(rf"(\d{{1,2}})\.(\d{{1,2}})\.({YEAR})")
# Between the ends of a range: a dash or a word; a bare hyphen only between a day and a day ("15-17 May").
_RANGE = re.compile(r"\s*[–—]\s*|\s+(?:-|to|until|through|till)\s+|(?<=\b\d)-(?=\d\b)|(?<=\b\d\d)-(?=\d{1,2}\b)")
# A number of days, weeks, ... is a duration ("26 years"), unless "ago" makes it a date.
_DURATION = re.compile(r"\b(?:\d+|[a-z]+)\s+(?:days?|weeks?|months|years|decades?|centur(?:y|ies))\b")


@cache
def _rules() -> tuple[re.Pattern, dict[str, tuple[int, int]], dict[str, int], frozenset[str]]:
    """The date word lists of lexicon.json, compiled once: fillers, periods, relative years, cue words."""
    fillers = "|".join(map(re.escape, sorted(words()["date_fillers"], key=len, reverse=True)))
    periods = {name: (first, last) for name, (first, last) in words()["date_periods"].items()}
    return (
        re.compile(rf"(?i)^(?:(?:{fillers})\b[\s-]*)+"),
        periods,
        words()["relative_years"],
        _MONTHS | frozenset(words()["date_cues"]),
    )


def iso_date(text: str, reference: date | None = None) -> str | None:
    """The ISO 8601 form of a date text, at its own precision; None when it is no date or cannot be resolved.

    Args:
        text: a DATE span as spaCy tags it ("March 2024", "the end of 2023", "May of this year").
        reference: the date the text was written (the source's date), for relative dates.

    >>> iso_date("15 May 2024"), iso_date("2025-2027"), iso_date("last year", date(2024, 6, 10)), iso_date("last year")
    ('2024-05-15', '2025/2027', '2023', None)
    """
    fillers, _, relative_years, cues = _rules()
    cleaned = fillers.sub("", " ".join(text.split())).strip(" .,")
    if not cleaned or _DECADE.search(cleaned):
        return None
    lowered = cleaned.lower()
    for name, offset in relative_years.items():  # "May of this year" -> "May 2024", "last year" -> "2023"
        if lowered.endswith(name) and reference is not None:
            cleaned = f"{cleaned[: -len(name)].removesuffix(' ').removesuffix(' of')} {reference.year + offset}".strip()
            lowered = cleaned.lower()
    if (fixed := _fixed_form(cleaned)) is not None:
        return fixed or None
    if not YEAR_WORD.search(cleaned) and reference is None:
        return None  # relative ("next month", "15 May"): nothing to read it against
    if _DURATION.search(lowered) and "ago" not in lowered:
        return None  # "26 years", "the past five years": a span of time, not a date
    if not (set(re.findall(r"[a-z]+", lowered)) & cues or re.search(r"\d", cleaned)):
        return None  # "a year", "annual": no date, which dateparser would read as "... ago"
    return _range(cleaned, reference) or _parse(cleaned, reference)


def _fixed_form(text: str) -> str | None:
    """The forms read without dateparser: years and year ranges, fiscal years, parts of a year, dotted days.

    None when the text has none of these forms; "" when it has one that is no valid date ("31.02.2024").
    """
    if years := _YEARS_ONLY.fullmatch(text):
        first, last = years.group(1), years.group(2)
        return first if last in (None, first) else f"{first}/{last}"
    if fiscal := _FISCAL_YEAR.fullmatch(text):  # "2024/25" -> "2024/2025"
        first, last = fiscal.group(1), fiscal.group(2)
        last = last if len(last) == 4 else first[:2] + last
        return f"{first}/{last}" if int(last) == int(first) + 1 else ""
    for name, (first, last) in _rules()[1].items():  # "first quarter of 2024" -> "2024-01/2024-03"
        if match := re.fullmatch(rf"{re.escape(name)}(?: of)? ({YEAR})", text.lower()):
            return f"{match.group(1)}-{first:02d}/{match.group(1)}-{last:02d}"
    if dotted := _DOTTED_DAY.fullmatch(text):  # "01.02.2024" is 1 February: no one writes month first with dots
        try:
            return date(int(dotted.group(3)), int(dotted.group(2)), int(dotted.group(1))).isoformat()
        except ValueError:
            return ""
    return None


def _range(text: str, reference: date | None) -> str | None:
    """A range of dates as an ISO interval: "15-17 May 2024", "March to May 2024", "May 2023 – March 2024".

    The first end borrows what it leaves out from the second ("15" + "May 2024"); None when either end is no date.
    """
    parts = _RANGE.split(text, maxsplit=1)
    if len(parts) != 2:
        return None
    first_text, last_text = parts
    # The second end names its month and year: "17, 2024" (of "May 15-17, 2024") is no date of its own.
    whole = YEAR_WORD.search(last_text) and _MONTHS & set(re.findall(r"[a-z]+", last_text.lower()))
    last = _parse(last_text, reference) if whole else None
    if last is None:
        return None
    tail = last_text.split()
    for borrowed in [[], *(tail[-k:] for k in range(len(tail) - 1, 0, -1))]:
        candidate = " ".join([first_text, *borrowed])
        if YEAR_WORD.search(candidate) and (first := _parse(candidate, reference)) is not None:
            return f"{first}/{last}" if first < last else None
    return None


def _parse(text: str, reference: date | None) -> str | None:
    """One date through dateparser, at the precision it found (a week or a time of day: None)."""
    parsed = _parser(reference).get_date_data(text)
    form = _PRECISION.get(parsed.period or "")
    if parsed.date_obj is None or form is None:
        return None
    return parsed.date_obj.strftime(form)


@lru_cache(maxsize=16)  # one parser per reference date; a build reads sources of a few dates at a time
def _parser(reference: date | None):
    from dateparser.date import DateDataParser

    # The first of the month for "March 2024"; a relative date counts from the reference, never from today.
    settings = {"PREFER_DAY_OF_MONTH": "first", "RETURN_AS_TIMEZONE_AWARE": False}
    if reference is not None:
        settings["RELATIVE_BASE"] = datetime(reference.year, reference.month, reference.day)
    return DateDataParser(languages=["en"], settings=settings)


def date_bounds(iso: str) -> tuple[date, date]:
    """The first and last day an ISO date or interval covers: "2024-03" -> (2024-03-01, 2024-03-31).

    For date filters (`--since`, `--until`): a figure falls in a window when its bounds overlap it.
    Raises ValueError for a string that is not one of the forms `iso_date` writes.
    """
    first, _, last = iso.partition("/")
    return _first_day(first), _last_day(last or first)


def _first_day(iso: str) -> date:
    parts = [int(part) for part in iso.split("-")]
    return date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)


def _last_day(iso: str) -> date:
    parts = [int(part) for part in iso.split("-")]
    year, month = parts[0], parts[1] if len(parts) > 1 else 12
    return date(year, month, parts[2] if len(parts) > 2 else calendar.monthrange(year, month)[1])


def reference_date(value: object) -> date | None:
    """A source's own date from its metadata ("2024-06-10", "2024-06-10T08:00:00Z"); None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None
