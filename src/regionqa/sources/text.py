"""Plain text files: bytes to text (UTF-8 with or without BOM, UTF-16 with BOM, Windows-1252, Latin-1), binary refused."""

from __future__ import annotations

import codecs
import re

from ..errors import SourceError

TEXT_SUFFIXES = {".txt", ".md"}

BINARY_SAMPLE_CHARS = 65_536
BINARY_MIN_CHARS = 200  # a short note with one stray control character (a DOS Ctrl-Z) is still text
# C0 controls other than tab, line ends, form feed and escape (coloured logs); DEL; the C1 controls.
_BINARY_CONTROL = re.compile(r"[\x01-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
codecs.register_error("regionqa-latin1", lambda error: (error.object[error.start : error.end].decode("latin-1"), error.end))


def decode(raw: bytes, label: str) -> str:
    """Bytes to text: UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252 or Latin-1;
    binary is refused."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as error:
            raise SourceError(f"{label}: invalid UTF-16 text ({error.reason}); re-save it as UTF-8") from None
    binary = SourceError(f"{label}: looks like a binary file, not text; convert it to .txt first")
    if b"\x00" in raw:
        raise binary
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Legacy Western files: Windows-1252 (Latin-1 plus “curly quotes” and dashes in 0x80-0x9f),
        # else Latin-1, which maps every byte, so they still come through readable.
        # The five bytes Windows-1252 leaves undefined keep their Latin-1 meaning.
        text = raw.decode("cp1252", errors="regionqa-latin1")
    # Without a NUL, binary data still shows itself by control characters (Latin-1 decodes any
    # byte), which text holds only by accident: more than 1% of the start is not text.
    start = text[:BINARY_SAMPLE_CHARS]
    if len(start) >= BINARY_MIN_CHARS and len(_BINARY_CONTROL.findall(start)) > 0.01 * len(start):
        raise binary
    return text
