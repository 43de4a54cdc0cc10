"""Scans: text recognised by Tesseract in images (.png, .jpg, .tif) and in PDF pages without a text layer.

Images go through pytesseract, a PDF through ocrmypdf, which adds a text layer to the pages that
have none and leaves the others alone, so page citations keep working. OCR takes seconds a page
and `load_corpus` reads every file at every build, so what Tesseract read is kept, by the sha256
of the file's bytes, in the folder the program names with `ocr_cache` (the per-user data folder's
ocr-cache/, set by indexing and corpus from their settings); outside one, OCR runs every time.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from ..errors import SourceError
from .names import error_summary
from .pdf import reflow

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
INSTALL_TESSERACT = "install Tesseract (Debian/Ubuntu: sudo apt-get install tesseract-ocr; macOS: brew install tesseract)"
OCR_LANGUAGE = "eng"  # the language data the tesseract-ocr package installs
CACHE_FOLDER = "ocr-cache"  # under the per-user data folder
_CACHE: ContextVar[Path | None] = ContextVar("regionqa_ocr_cache", default=None)


@contextmanager
def ocr_cache(folder: Path) -> Iterator[None]:
    """Keep what OCR reads in `folder` while the block runs (one folder per thread or task)."""
    token = _CACHE.set(folder)
    try:
        yield
    finally:
        _CACHE.reset(token)


def tesseract_installed() -> bool:
    return shutil.which("tesseract") is not None


def _cached(kind: str, raw: bytes, recognise: Callable[[], list[str]]) -> list[str]:
    """The page texts OCR gave for these bytes, recognised once and then read from the cache."""
    folder = _CACHE.get()
    if folder is None:
        return recognise()
    path = folder / f"{kind}-{OCR_LANGUAGE}-{hashlib.sha256(raw).hexdigest()}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    pages = recognise()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.part")
        temporary.write_text(json.dumps(pages, ensure_ascii=False), encoding="utf-8")
        temporary.replace(path)
    except OSError:
        pass  # a read-only data folder: OCR runs again next time, nothing is lost
    return pages


def image_pages(raw: bytes, name: str) -> list[str]:
    """The text Tesseract reads in each frame of an image (a multi-page TIFF has several)."""
    if not tesseract_installed():
        raise SourceError(f"{name}: an image is read by OCR; {INSTALL_TESSERACT}")
    from PIL import Image, ImageSequence, UnidentifiedImageError

    def recognise() -> list[str]:
        import pytesseract

        try:
            with Image.open(io.BytesIO(raw)) as image:
                return [
                    reflow(pytesseract.image_to_string(frame.convert("RGB"), lang=OCR_LANGUAGE)) for frame in ImageSequence.Iterator(image)
                ]
        except (UnidentifiedImageError, OSError, SyntaxError) as error:  # Pillow reports a cut or bad file in these
            raise SourceError(f"{name}: not a readable image ({error_summary(error)}); re-save it as PNG or JPEG") from None
        except pytesseract.TesseractError as error:
            raise SourceError(f"{name}: Tesseract could not read the image ({error_summary(error)})") from None

    return _cached("image", raw, recognise)


def ocr_pdf_pages(raw: bytes, name: str) -> list[str]:
    """The text of every page of a PDF after ocrmypdf gave text layers to the pages without one."""
    from .pdf import pdf_pages

    def recognise() -> list[str]:
        import ocrmypdf

        logging.getLogger("ocrmypdf").setLevel(logging.ERROR)  # progress and notes would flood stderr
        with tempfile.TemporaryDirectory(prefix="regionqa-ocr-") as folder:
            source, target = Path(folder) / "in.pdf", Path(folder) / "out.pdf"
            source.write_bytes(raw)
            try:
                ocrmypdf.ocr(
                    source, target, language=OCR_LANGUAGE, skip_text=True, output_type="pdf", optimize=0, progress_bar=False, jobs=1
                )
            except ocrmypdf.exceptions.ExitCodeException as error:
                raise SourceError(f"{name}: OCR of the scanned pages failed ({error_summary(error)}); re-export the PDF") from None
            return pdf_pages(target.read_bytes(), name)[0]

    return _cached("pdf", raw, recognise)
