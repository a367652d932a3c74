"""Writes small, real PDFs for tests: text pages (Helvetica), image-only pages, metadata.

Hand-built rather than through a PDF library so tests control every byte (truncation, bad
objects) and so the suite needs nothing beyond pypdf, which the app already uses.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

SCANNED = None  # a page given as None has no text layer, only a drawn grey rectangle


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _content(text: str | None) -> bytes:
    if text is None:
        return b"0.6 g 72 72 468 648 re f"
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines.extend(textwrap.wrap(paragraph, 95) or [""])
    ops = ["BT", "/F1 10 Tf", "12 TL", "60 750 Td"]
    for line in lines:
        ops.append(f"({_escape(line)}) Tj T*")
    ops.append("ET")
    return "\n".join(ops).encode("latin-1", errors="replace")


def pdf_bytes(pages: Sequence[str | None], title: str | None = None) -> bytes:
    """A valid PDF with one page per entry (``None`` = image-only page)."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below, once the page tree's number is known
    pages_obj = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids = []
    for text in pages:
        stream = _content(text)
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(add(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
            % (pages_obj, font, content)
        ))
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
    objects[pages_obj - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    info = add(b"<< /Title (%s) >>" % _escape(title).encode("latin-1")) if title else None

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    trailer = b"<< /Size %d /Root %d 0 R" % (len(objects) + 1, catalog)
    if info:
        trailer += b" /Info %d 0 R" % info
    out += b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def write_pdf(path: Path, pages: Sequence[str | None], title: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pdf_bytes(pages, title))
    return path


def write_encrypted(path: Path, pages: Sequence[str], user_password: str) -> Path:
    """AES-encrypted copy; an empty user password opens without asking, like many filings."""
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes(pages))))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-128")
    with path.open("wb") as handle:
        writer.write(handle)
    return path


def prose(topic: str, sentences: int = 12) -> str:
    """Readable filler about ``topic`` so chunks have realistic length and vocabulary."""
    base = [
        f"The committee reviewed the {topic} programme in detail during the spring session.",
        f"Several members noted that the {topic} budget had grown faster than expected.",
        f"Field reports on {topic} were collected from twelve regional offices.",
        f"An external auditor confirmed that the {topic} accounts were complete.",
        f"The next review of {topic} is planned after the summer recess.",
        f"Public feedback on {topic} was mostly positive, with some concerns about cost.",
    ]
    return " ".join(base[i % len(base)] for i in range(sentences))


def scanned_pdf_bytes(pages: Sequence[str | None], scanned: Sequence[int] | None = None,
                      dpi: int = 200, title: str | None = None) -> bytes:
    """Like ``pdf_bytes``, but the pages numbered in ``scanned`` (all by default) are pictures
    of themselves, as a scanner makes them: one grey image per page, no text layer."""
    import io

    import pypdfium2 as pdfium
    from pypdf import PdfReader, PdfWriter

    text_pdf = pdf_bytes(pages, title)
    scanned = range(len(pages)) if scanned is None else scanned
    document = pdfium.PdfDocument(text_pdf)
    images = [document[n].render(scale=dpi / 72, grayscale=True).to_pil() for n in scanned]
    document.close()
    image_pdf = io.BytesIO()
    if images:
        images[0].save(image_pdf, "PDF", save_all=True, append_images=images[1:], resolution=dpi)
    text_reader = PdfReader(io.BytesIO(text_pdf))
    image_pages = iter(PdfReader(image_pdf).pages) if images else iter(())
    writer = PdfWriter()
    for number, page in enumerate(text_reader.pages):
        writer.add_page(next(image_pages) if number in scanned else page)
    if title:
        writer.add_metadata({"/Title": title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def write_scanned(path: Path, pages: Sequence[str | None], scanned: Sequence[int] | None = None,
                  dpi: int = 200, title: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(scanned_pdf_bytes(pages, scanned, dpi, title))
    return path
