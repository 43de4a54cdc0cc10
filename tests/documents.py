"""Test documents made at test time (PDF, DOCX) and a local HTTP server, so that no binary fixture
is kept in the repository and no test touches the internet."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def make_pdf(pages: list[list[str]]) -> bytes:
    """A minimal valid PDF: one page per list, one line of Helvetica text per string (cp1252 characters)."""

    def literal(line: str) -> bytes:
        return b"(" + line.encode("cp1252").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"

    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"(pages)", font]
    kids = []
    for lines in pages:
        # 11-point text from the top left, 14 points between lines (T* moves to the next line).
        stream = b"BT /F1 11 Tf 14 TL 56 780 Td " + b"".join(literal(line) + b" Tj T* " for line in lines) + b"ET"
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>"
        objects.append(page % len(objects))
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def encrypt_pdf(data: bytes, user_password: str, owner_password: str | None = None, algorithm: str = "AES-128") -> bytes:
    """The same PDF encrypted by pypdf."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(path: Path, blocks: list[str | list[list[str]]]) -> Path:
    """A Word document written by python-docx: a string is a paragraph ("# " makes it a heading),
    a list of rows is a table."""
    import docx

    document = docx.Document()
    for block in blocks:
        if isinstance(block, str):
            if block.startswith("# "):
                document.add_heading(block[2:], level=1)
            else:
                document.add_paragraph(block)
        else:
            table = document.add_table(rows=len(block), cols=len(block[0]))
            for r, row in enumerate(block):
                for c, value in enumerate(row):
                    table.cell(r, c).text = value
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(path))
    return path


# ---------------------------------------------------------------- a local web server


@dataclass(frozen=True)
class Reply:
    """What the server answers for a path: status, headers and body (sent without Content-Length
    when `length` is False, so the client reads until the connection closes)."""

    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    length: bool = True
    delay: float = 0.0


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 and an ephemeral port, answering from a dict of routes."""

    def __init__(self, routes: dict[str, Reply]):
        self.routes = routes
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server API)
                server.requests.append(self.path)
                reply = server.routes.get(self.path, Reply(b"not found", "text/plain", 404))
                if reply.delay:
                    threading.Event().wait(reply.delay)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                if reply.length:
                    self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading (a size cap): expected

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path


@contextmanager
def serving(routes: dict[str, Reply] | Callable[[LocalServer], dict[str, Reply]]) -> Iterator[LocalServer]:
    """Run a LocalServer for the duration of a with-block; routes may be built from the server (for its URL)."""
    server = LocalServer({})
    server.routes = routes(server) if callable(routes) else routes
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


# ---------------------------------------------------------------- scans, tables, slides, books, email

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def render_page(lines: list[str], dpi: int = 300, width_inches: float = 6.5):
    """A clean scan: black text lines on a white page at `dpi`, as Pillow draws them in DejaVu Sans 12 pt."""
    from PIL import Image, ImageDraw, ImageFont

    size = round(12 * dpi / 72)  # 12 points
    font = ImageFont.truetype(FONT, size)
    image = Image.new("L", (round(width_inches * dpi), round((len(lines) * 1.6 + 2) * size)), 255)
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        draw.text((size, size + round(number * 1.6 * size)), line, font=font, fill=0)
    return image


def make_png(lines: list[str]) -> bytes:
    out = io.BytesIO()
    render_page(lines).save(out, "PNG", dpi=(300, 300))
    return out.getvalue()


def make_scanned_pdf(pages: list[list[str]]) -> bytes:
    """A PDF of page images without a text layer, as a scanner makes it."""
    images = [render_page(lines).convert("RGB") for lines in pages]
    out = io.BytesIO()
    images[0].save(out, "PDF", resolution=300, save_all=True, append_images=images[1:])
    return out.getvalue()


def mix_pdfs(*parts: tuple[bytes, int]) -> bytes:
    """One PDF of pages taken from others: (pdf bytes, page index) in order."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for data, index in parts:
        writer.add_page(PdfReader(io.BytesIO(data)).pages[index])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_xlsx(path: Path, sheets: dict[str, list[list[object]]], title: str = "") -> Path:
    """An Excel workbook written by openpyxl, one sheet per item (rows of values)."""
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.properties.title = title
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def make_pptx(path: Path, slides: list[tuple[str, list[str]]], title: str = "", author: str = "") -> Path:
    """A deck written by python-pptx: one (title, bullet lines) per slide."""
    from pptx import Presentation

    deck = Presentation()
    for heading, lines in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = heading
        body = slide.placeholders[1].text_frame
        body.text = lines[0] if lines else ""
        for line in lines[1:]:
            body.add_paragraph().text = line
    deck.core_properties.title = title
    deck.core_properties.author = author
    path.parent.mkdir(parents=True, exist_ok=True)
    deck.save(str(path))
    return path


def make_epub(path: Path, chapters: list[tuple[str, list[str]]], title: str, author: str, date: str) -> Path:
    """A book written by ebooklib: one (chapter title, paragraphs) per chapter, with a table of contents."""
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("regionqa-test-book")
    book.set_title(title)
    book.set_language("en")
    book.add_author(author)
    book.add_metadata("DC", "date", date)
    items = []
    for number, (heading, paragraphs) in enumerate(chapters, start=1):
        item = epub.EpubHtml(title=heading, file_name=f"chapter{number}.xhtml", lang="en")
        item.content = f"<html><body><h1>{heading}</h1>" + "".join(f"<p>{p}</p>" for p in paragraphs) + "</body></html>"
        book.add_item(item)
        items.append(item)
    book.toc = items
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    path.parent.mkdir(parents=True, exist_ok=True)
    epub.write_epub(str(path), book)
    return path


def make_email(
    subject: str, sender: str, to: str, date: str, body: str, html: bool = False, attachments: list[tuple[str, bytes]] = ()
) -> bytes:
    """An RFC 5322 message built with the standard library's email package."""
    from email.message import EmailMessage

    message = EmailMessage()
    message["Subject"], message["From"], message["To"], message["Date"] = subject, sender, to, date
    if html:
        message.set_content(body, subtype="html")
    else:
        message.set_content(body)
    for file_name, data in attachments:
        maintype, subtype = ("application", "pdf") if file_name.endswith(".pdf") else ("application", "octet-stream")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=file_name)
    return bytes(message)


def make_mbox(path: Path, messages: list[bytes]) -> Path:
    """An mbox file written by the standard library's mailbox module."""
    import mailbox

    path.parent.mkdir(parents=True, exist_ok=True)
    box = mailbox.mbox(path)
    try:
        for message in messages:
            box.add(message)
        box.flush()
    finally:
        box.close()
    return path
