"""Reading PDFs page by page with pypdf, turning every failure into a one-line reason."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from ingest.errors import PasswordProtected, UnreadablePdf
from ingest.models import Page

log = logging.getLogger(__name__)

# Real filings hold arrays beyond pypdf 7.1's default of 100,000 elements (two docugami MSFT
# 10-Qs raise LimitReachedError); 1M elements suffices for them and still bounds memory.
RAISED_LIMITS = {
    "array_maximum_element_count": 1_000_000,
    "dictionary_maximum_element_count": 1_000_000,
    "stream_parsing_work_maximum_count": 20_000_000,
}
_HEADER_SEARCH_BYTES = 1024
_EOF_SEARCH_BYTES = 8192


@dataclass(frozen=True)
class RawDocument:
    """Title and raw page texts of one PDF, before cleaning."""

    title: str
    pages: list[Page]
    unreadable_pages: tuple[int, ...] = ()


def check_signature(data: bytes) -> None:
    """Raise ``UnreadablePdf`` unless the bytes start like a PDF and end with an EOF marker."""
    if not data:
        raise UnreadablePdf("empty file (0 bytes)")
    head = data[:_HEADER_SEARCH_BYTES]
    if b"%PDF-" not in head:
        preview = head[:16].decode("latin-1").encode("unicode_escape").decode("ascii")
        raise UnreadablePdf(f"not a PDF (starts with {preview!r})")
    if b"%%EOF" not in data[-_EOF_SEARCH_BYTES:]:
        raise UnreadablePdf(
            "truncated PDF (no end-of-file marker): is it still being copied, or damaged?"
        )


def _open(data: bytes):  # -> pypdf.PdfReader, imported lazily
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # Many filings are AES-encrypted with an empty user password: they open freely.
            if reader.decrypt("") == PasswordType.NOT_DECRYPTED:
                raise PasswordProtected("password-protected: open it and save a copy without one")
        return reader
    except FileNotDecryptedError as err:
        raise PasswordProtected("password-protected: open it and save a copy without one") from err
    except DependencyError as err:
        raise UnreadablePdf(f"encrypted with a method this install cannot open ({err})") from err
    except PdfReadError as err:
        raise UnreadablePdf(f"damaged PDF: {err}") from err


def document_title(reader, fallback: str) -> str:
    """The PDF's own title when it has a meaningful one, else ``fallback`` (the file's stem)."""
    try:
        title = (reader.metadata or {}).get("/Title")
    except Exception:  # metadata of damaged files raises anything; the file name is a fine title
        title = None
    title = str(title).strip() if title else ""
    letters = sum(ch.isalpha() for ch in title)
    # Filings often carry an accession number ("0000320193-22-000070") as their title.
    if letters < 4 or title.lower().startswith(("microsoft word", "untitled")):
        return fallback
    return title


def _extract(reader, fallback_title: str) -> RawDocument:
    from pypdf.errors import LimitReachedError

    pages, unreadable = [], []
    for number, page in enumerate(reader.pages):
        try:
            text = page.extract_text() or ""
        except LimitReachedError:
            raise
        except Exception as err:  # one bad page must not cost the rest of the document
            log.warning("page unreadable page=%d error=%s: %s", number, type(err).__name__, err)
            unreadable.append(number)
            text = ""
        pages.append(Page(number, text))
    return RawDocument(document_title(reader, fallback_title), pages, tuple(unreadable))


def read_pdf(data: bytes, fallback_title: str) -> RawDocument:
    """Read the raw text of every page (0-based numbers, as pypdf numbers pages).

    Raises:
        UnreadablePdf: not a PDF, truncated, damaged, without pages, or password-protected.
    """
    from pypdf import apply_configuration
    from pypdf.errors import LimitReachedError, PyPdfError

    check_signature(data)
    try:
        try:
            reader = _open(data)
            if len(reader.pages) == 0:
                raise UnreadablePdf("the PDF has no pages")
            return _extract(reader, fallback_title)
        except LimitReachedError as err:
            log.info("pypdf limit reached (%s): retrying with raised limits", err)
        with apply_configuration(**RAISED_LIMITS):
            return _extract(_open(data), fallback_title)
    except UnreadablePdf:
        raise
    except LimitReachedError as err:
        raise UnreadablePdf(f"too complex to read safely ({err})") from err
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as err:
        raise UnreadablePdf(f"damaged PDF: {type(err).__name__}: {err}") from err
    except RecursionError as err:
        raise UnreadablePdf("damaged PDF: object structure nests too deeply") from err
