"""Answers as reports to keep: Markdown, HTML or CSV, written from the `ask --json` objects (render.result_json),
so that a report holds exactly what `--json` holds: the answer with its citation (source, page or line,
character offsets), the passages behind it and the facts.

Document text is escaped in every format: HTML with `html.escape`, Markdown so that no character of a
document becomes markup (or raw HTML, which Markdown viewers pass through).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REPORT_FORMATS = ("md", "html", "csv")
CSV_COLUMNS = (
    "question", "kind", "rank", "text", "score", "label", "value", "value_max", "unit",
    "source", "location", "start", "end", "sentence", "message",
)  # fmt: skip

# Markdown's punctuation that makes markup anywhere in a line, and what makes it at a line's start
# (a heading, a list item, "1." or "1)", a rule); `<` and `&` become entities (no raw HTML, no entities).
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]|~>])")
_MARKDOWN_LINE_START = re.compile(r"^(\s*)([#+=-]|\d+[.)])", re.MULTILINE)


def md_escape(text: str) -> str:
    """Document text as literal Markdown: markup characters backslash-escaped, `<` and `&` as entities, lines kept
    ("*x* <b>" -> "\\*x\\* &lt;b\\>"; a line's leading "1." -> "1\\.", "- " -> "\\- ")."""
    text = _MARKDOWN_INLINE.sub(r"\\\1", text.replace("&", "&amp;").replace("<", "&lt;"))
    return _MARKDOWN_LINE_START.sub(lambda m: m.group(1) + m.group(2)[:-1] + "\\" + m.group(2)[-1], text)


def citation(span: dict) -> str:
    """Where a span is: "notes.txt, line 11, chars 120–180"."""
    return f"{span['source']}, {span['location']}, chars {span['start']}–{span['end']}"


def markdown_report(results: Iterable[dict], title: str) -> str:
    """One section per question: the answer and its citation, the passages as quotes, the facts as a table."""
    lines = [f"# {md_escape(title)}", ""]
    for result in results:
        lines += [f"## {md_escape(result['question'])}", ""]
        if result.get("error"):
            lines += [f"**Not answered:** {md_escape(result['error'])}", ""]
            continue
        answer = result["answer"]
        if answer:
            lines += [f"**Answer:** {md_escape(answer['text'])} (confidence {answer['score']:.2f})", ""]
            lines += [_md_quote(answer["sentence"]), "", f"— {md_escape(citation(answer))}", ""]
        else:
            lines += [f"**No answer:** {md_escape(result['message'] or 'the corpus does not say')}", ""]
        lines += ["### Passages", ""]
        for passage in result["passages"]:
            lines += [
                f"{passage['rank']}. {md_escape(citation(passage))} (score {passage['score']:.3f})",
                "",
                _md_quote(passage["text"]),
                "",
            ]
        if result["facts"]:
            lines += ["### Facts", "", "| fact | label | value | unit | where |", "|---|---|---|---|---|"]
            for fact in result["facts"]:
                cells = _fact_cells(fact)
                lines.append("| " + " | ".join(md_escape(str(cell)) for cell in cells) + " |")
            lines.append("")
    return "\n".join(lines)


def _md_quote(text: str) -> str:
    return "\n".join("> " + md_escape(line) for line in text.splitlines() or [""])


def _fact_cells(fact: dict) -> tuple[str, ...]:
    """A fact's row in a report's facts table: fact, label, value, unit, where."""
    return (fact["text"], fact["label"], _value(fact), fact["unit"] or "", f"{fact['source']}, chars {fact['start']}–{fact['end']}")


def _value(fact: dict) -> str:
    if fact["value"] is None:
        return ""
    return f"{fact['value']:g}" if fact["value_max"] is None else f"{fact['value']:g}–{fact['value_max']:g}"


HTML_STYLE = (
    "body{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:1.5}"
    "blockquote{border-left:3px solid #ccc;margin:0.5em 0;padding-left:1em;white-space:pre-wrap}"
    "mark{background:#cfc}.where{color:#555;font-size:90%}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
)


def html_report(results: Iterable[dict], title: str) -> str:
    """A standalone HTML page; every piece of document text is escaped, the answer marked in its passage."""
    from html import escape

    parts = [
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>',
        f"<style>{HTML_STYLE}</style></head><body>",
    ]
    parts.append(f"<h1>{escape(title)}</h1>")
    for result in results:
        parts.append(f"<section><h2>{escape(result['question'])}</h2>")
        if result.get("error"):
            parts.append(f"<p><strong>Not answered:</strong> {escape(result['error'])}</p></section>")
            continue
        answer = result["answer"]
        if answer:
            parts.append(f"<p><strong>Answer:</strong> {escape(answer['text'])} (confidence {answer['score']:.2f})</p>")
            parts.append(f"<blockquote>{escape(answer['sentence'])}</blockquote><p class=where>— {escape(citation(answer))}</p>")
        else:
            parts.append(f"<p><strong>No answer:</strong> {escape(result['message'] or 'the corpus does not say')}</p>")
        parts.append("<h3>Passages</h3><ol>")
        for passage in result["passages"]:
            parts.append(f"<li><p class=where>{escape(citation(passage))} (score {passage['score']:.3f})</p>")
            parts.append(f"<blockquote>{_marked(passage, answer)}</blockquote></li>")
        parts.append("</ol>")
        if result["facts"]:
            parts.append("<h3>Facts</h3><table><tr><th>fact</th><th>label</th><th>value</th><th>unit</th><th>where</th></tr>")
            for fact in result["facts"]:
                cells = _fact_cells(fact)
                parts.append("<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in cells) + "</tr>")
            parts.append("</table>")
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _marked(passage: dict, answer: dict | None) -> str:
    """The passage escaped, with the answer inside <mark> when the passage holds it."""
    from html import escape

    text = passage["text"]
    if answer and answer["source"] == passage["source"] and passage["start"] <= answer["start"] and answer["end"] <= passage["end"]:
        a, b = answer["start"] - passage["start"], answer["end"] - passage["start"]
        return f"{escape(text[:a])}<mark>{escape(text[a:b])}</mark>{escape(text[b:])}"
    return escape(text)


def csv_report(results: Iterable[dict]) -> str:
    """One row per answer, passage and fact (`kind`), each with its question and citation; a header first."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for result in results:
        question = result["question"]
        if result.get("error") or not result["answer"]:
            writer.writerow({"question": question, "kind": "no answer", "message": result.get("error") or result.get("message")})
        else:
            writer.writerow({"question": question, "kind": "answer", **result["answer"]})
        for passage in result.get("passages", []):
            writer.writerow({"question": question, "kind": "passage", **passage})
        for fact in result.get("facts", []):
            writer.writerow({"question": question, "kind": "fact", **fact, "score": None})
    return out.getvalue()


def write_report(report_format: str, results: list[dict], title: str) -> str:
    """The report in `report_format` (one of REPORT_FORMATS)."""
    if report_format == "md":
        return markdown_report(results, title)
    if report_format == "html":
        return html_report(results, title)
    return csv_report(results)
