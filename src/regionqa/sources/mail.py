"""Email: .eml messages and .mbox mailboxes, read with the standard library's `email` and `mailbox`.

A message's text is its Subject, From, To and Date lines and then its body (the plain-text part,
else the HTML part read as an HTML file is); those headers are its metadata too. Its attachments
are sources of their own, named after the message: "mail.eml#report.pdf", and the n-th message
of a mailbox is "archive.mbox#n" (its attachments "archive.mbox#n#report.pdf").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SourceError
from .html import html_to_text
from .names import error_summary
from .provenance import clean_meta
from .text import not_binary

EML_SUFFIX = ".eml"
MBOX_SUFFIX = ".mbox"
HEADERS = ("Subject", "From", "To", "Date")
# More undecodable characters than this share of a message's text: binary data, not a message in
# an unknown encoding (in which only the accented letters, a few percent of a text, would be lost).
GARBLED_SHARE = 0.1


@dataclass(frozen=True)
class Message:
    """What a message holds: its text (headers, then body), its metadata and its attachments (file name, bytes)."""

    text: str
    meta: dict[str, str]
    attachments: list[tuple[str, bytes]] = field(default_factory=list)


def _header(message, key: str) -> str:
    """A header as one line ("" when it is missing, or so malformed that policy.default cannot parse it)."""
    try:
        value = message.get(key)
    except Exception:  # the email package parses headers lazily and raises many kinds of error
        return ""
    return " ".join(str(value or "").split())


def _date(value: str) -> str | None:
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(value).date().isoformat() if value else None
    except (TypeError, ValueError, IndexError):
        return None


def _body(message) -> str:
    """The readable body: the text/plain part, else the text/html part as its text."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = part.get_content()
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    text = html_to_text(content) if part.get_content_subtype() == "html" else content
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


def _unique(name: str, taken: set[str]) -> str:
    """An attachment's file name, numbered when the message has two of that name: "report (2).pdf"."""
    stem, suffix = Path(name).stem, Path(name).suffix
    candidate, number = name, 1
    while candidate.lower() in taken:
        number += 1
        candidate = f"{stem} ({number}){suffix}"
    taken.add(candidate.lower())
    return candidate


def _not_garbage(text: str, name: str) -> str:
    """A message's text, unless it is binary data: the email parser reads any bytes as a message, and
    its lenient decoding turns them into control characters or U+FFFD, which would be indexed as words."""
    if text.count("\ufffd") > GARBLED_SHARE * len(text):
        raise SourceError(f"{name}: looks like a binary file, not an email message; export the message as .eml again")
    return not_binary(text, name)


def parse_message(raw: bytes, name: str) -> Message:
    """A message's text, metadata and attachments; SourceError when it has no text at all."""
    from email import policy
    from email.parser import BytesParser

    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        values = {key: _header(message, key) for key in HEADERS}
        body = _body(message)
        attachments: list[tuple[str, bytes]] = []
        taken: set[str] = set()
        for part in message.iter_attachments():
            file_name = part.get_filename()
            payload = part.get_payload(decode=True)
            if file_name and isinstance(payload, bytes):
                # A name is one path part, with no "#" (which would read as another part of the name).
                clean = Path(file_name.replace("\\", "/")).name.replace("#", "_").strip()
                if clean:
                    attachments.append((_unique(clean, taken), payload))
    except SourceError:
        raise
    except Exception as error:  # the email package is lenient, but a broken MIME structure can still raise
        raise SourceError(f"{name}: not a readable email message ({error_summary(error)})") from None
    if not body.strip() and not attachments:
        raise SourceError(f"{name}: the message has no text and no attachment")
    header_lines = [f"{key}: {values[key]}" for key in HEADERS if values[key]]
    text = _not_garbage("\n".join(header_lines) + ("\n\n" + body if body.strip() else ""), name)
    meta = clean_meta(
        {
            "title": values["Subject"],
            "subject": values["Subject"],
            "from": values["From"],
            "to": values["To"],
            "date": _date(values["Date"]),
        }
    )
    return Message(text=text, meta=meta, attachments=attachments)


def mbox_messages(path: Path, name: str) -> Iterator[tuple[int, bytes]]:
    """(number from 1, bytes) of each message of an mbox file, in the order they are stored."""
    import mailbox

    try:
        box = mailbox.mbox(path, create=False)
        keys = list(box.keys())
    except (OSError, mailbox.Error) as error:
        raise SourceError(f"{name}: not a readable mbox file ({error_summary(error)})") from None
    if not keys:
        raise SourceError(f'{name}: no message found; an mbox file holds messages that each start with a "From " line')
    try:
        for number, key in enumerate(keys, start=1):
            yield number, box.get_bytes(key)
    finally:
        box.close()
