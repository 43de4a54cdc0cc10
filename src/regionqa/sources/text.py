"""Plain text files: bytes to text in whatever encoding they were saved in, binary and undecidable bytes refused.

UTF-8 (with or without BOM) and UTF-16 with a BOM are read as they say. Other bytes go to
charset-normalizer, which tells legacy encodings apart by how the decoded text reads: Cyrillic
(Windows-1251, KOI8-R, ISO-8859-5), Turkish (Windows-1254), Greek, and UTF-16 without a BOM.
Western text keeps Windows-1252 (Latin-1 for its five undefined bytes), as before detection:
many single-byte code pages give clean-looking Latin text, and charset-normalizer often names
Windows-1250 for French or Spanish, where "naïve" or "señor" would come out wrong.
"""

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
_UNDEFINED_IN_CP1252 = re.compile("[\x81\x8d\x8f\x90\x9d]")
# charset-normalizer's "chaos" (its mess ratio: odd letter mixes, symbols inside words) above which
# a decoding is not trusted. Russian text read as Windows-1252 scores 1.1-2.7, the right decoding 0.
MAX_CHAOS = 0.2
# How much of a language charset-normalizer must recognise in a non-Western reading (its "coherence",
# 0-1) to trust it: 0.5-0.7 for a sentence of Russian or Turkish, 0 for a few words, which are refused.
MIN_COHERENCE = 0.2
MIN_UTF16_CHARS = 20  # UTF-16 without a BOM in which no language is recognised must be at least this long
# How much messier than the best decoding Windows-1252 may read and still be taken: Turkish
# Windows-1254 text read as Windows-1252 scored 0.14 against 0.0, Western text 0.0 both ways.
WESTERN_TOLERANCE = 0.01


def decode(raw: bytes, label: str, declared: str | None = None) -> str:
    """Bytes to text: a BOM, else UTF-8, else the `declared` encoding (an HTML page's <meta charset>)
    when it decodes the bytes, else the encoding charset-normalizer finds; binary, and bytes whose
    encoding cannot be told with confidence, are refused (SourceError), never read as mojibake."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as error:
            raise SourceError(f"{label}: invalid UTF-16 text ({error.reason}); re-save it as UTF-8") from None
    if b"\x00" not in raw:  # NUL bytes are valid UTF-8, but text holds them only as UTF-16 or UTF-32
        try:
            return not_binary(raw.decode("utf-8-sig"), label)
        except UnicodeDecodeError:
            pass
    if declared:
        try:
            return not_binary(raw.decode(declared), label)
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong or unknown declaration: the bytes say what they are
    return not_binary(_detected(raw, label), label)


def _binary(label: str) -> SourceError:
    return SourceError(f"{label}: looks like a binary file, not text; convert it to .txt first")


def not_binary(text: str, label: str) -> str:
    """The text, unless control characters show it is binary data: text holds them only by
    accident, so more than 1% of the start is not text (Latin-1 decodes any byte)."""
    start = text[:BINARY_SAMPLE_CHARS]
    if "\x00" in start or (len(start) >= BINARY_MIN_CHARS and len(_BINARY_CONTROL.findall(start)) > 0.01 * len(start)):
        raise _binary(label)
    return text


def _detected(raw: bytes, label: str) -> str:
    """Bytes that are not UTF-8, decoded in the legacy encoding charset-normalizer finds (see the module docstring)."""
    from charset_normalizer import from_bytes
    from charset_normalizer.constant import IANA_SUPPORTED
    from charset_normalizer.md import mess_ratio
    from charset_normalizer.utils import is_multi_byte_encoding

    results = from_bytes(raw)
    if b"\x00" in raw:  # only UTF-16 or UTF-32 text holds NUL bytes
        best = results.best()
        # A few bytes with a NUL read as UTF-16 too ("\x00\x01binary" as four CJK signs): text is longer.
        if best is not None and best.encoding.startswith(("utf_16", "utf_32")) and best.chaos <= MAX_CHAOS:
            text = str(best)
            if len(text) >= MIN_UTF16_CHARS or best.coherence >= MIN_COHERENCE:
                return text
        raise _binary(label)
    first = results.best()
    if first is not None and first.coherence < MIN_COHERENCE and is_multi_byte_encoding(first.encoding):
        # Short KOI8-R text decodes cleanly as Shift-JIS, and charset-normalizer stops there: when no
        # language is seen in that reading, the single-byte code pages are tried too.
        multi_byte = [name for name in IANA_SUPPORTED if is_multi_byte_encoding(name) and not name.startswith("utf")]
        results = from_bytes(raw, cp_exclusion=multi_byte) or results
    best = results.best()  # charset-normalizer's ranking: the least chaos, then the most coherence
    western = raw.decode("cp1252", errors="regionqa-latin1")
    # The five bytes Windows-1252 leaves undefined (kept as Latin-1 controls) are not held against it:
    # one stray byte in a Western file must not send it to Windows-1251, which defines them.
    western_chaos = mess_ratio(_UNDEFINED_IN_CP1252.sub("", western[:BINARY_SAMPLE_CHARS]), maximum_threshold=1.0)
    if western_chaos <= MAX_CHAOS and (best is None or western_chaos <= best.chaos + WESTERN_TOLERANCE):
        return western
    if best is not None and best.chaos <= MAX_CHAOS and best.coherence >= MIN_COHERENCE:
        return str(best)
    not_binary(western, label)
    raise SourceError(f"{label}: the text's encoding cannot be told with confidence (too short, or mixed); re-save it as UTF-8")
