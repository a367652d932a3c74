"""What the UI renders and accepts: escaping, citation links, uploads, exposure, page images."""

from __future__ import annotations

import click
import pytest
from pdfgen import pdf_bytes, prose, write_pdf

from app.answer.prompting import Source
from app.cli.serve import check_exposure
from app.ui.page_image import page_view
from app.ui.render import answer_markdown, escape_markdown, sources_html
from app.ui.uploads import UploadRejected, safe_name, store_upload

HOSTILE = ("<script>alert(1)</script> ![x](http://203.0.113.9/p.png) [go](javascript:alert(2)) "
           "<img src=x onerror=alert(3)>")


def test_answer_markdown_escapes_everything_but_its_own_citation_links():
    rendered = answer_markdown(f"It holds 412 [1]. {HOSTILE} [7]", {1, 2})
    assert "[\\[1\\]](#source-1)" in rendered
    assert "#source-7" not in rendered  # a marker pointing nowhere is not a link
    assert "<script>" not in rendered and "<img" not in rendered
    assert "&lt;script&gt;" in rendered
    assert "](http" not in rendered and "](javascript" not in rendered  # no live link or image
    assert "\\!\\[x\\]" in rendered


def test_sources_html_escapes_passages_and_names():
    source = Source(1, "<b>evil</b>.pdf", 0, HIGHLIGHT_TEXT := f"lanterns {HOSTILE}")
    html = sources_html([source], "lanterns", cited={1})
    assert "<script>" not in html and "<img" not in html and "<b>evil" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<mark>lanterns</mark>" in html and "lr-cited" in html
    assert HIGHLIGHT_TEXT.startswith("lanterns")
    assert escape_markdown("a*b_c") == "a\\*b\\_c"


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd.pdf", "passwd.pdf"),
    ("..\\..\\boot.ini", "boot.ini.pdf"),
    (".hidden.pdf", "hidden.pdf"),
    ("rapport annuel été 2024.PDF", "rapport annuel été 2024.pdf"),
    ("a\x00b<c>.pdf", "a_b_c_.pdf"),
    ("x" * 300 + ".pdf", "x" * 120 + ".pdf"),
])
def test_safe_names(name, expected):
    assert safe_name(name) == expected


def test_uploads_are_checked_by_content_and_never_overwrite(tmp_path):
    uploads = tmp_path / "uploads"
    fake = tmp_path / "invoice.pdf"
    fake.write_bytes(b"MZ\x90\x00 not a pdf")
    with pytest.raises(UploadRejected, match="not a PDF"):
        store_upload(fake, "invoice.pdf", uploads, 10_000_000)
    first, second = tmp_path / "a.pdf", tmp_path / "b.pdf"
    first.write_bytes(pdf_bytes(["first document"]))
    second.write_bytes(pdf_bytes(["second document, different"]))
    stored_first = store_upload(first, "report.pdf", uploads, 10_000_000)
    stored_second = store_upload(second, "report.pdf", uploads, 10_000_000)
    assert stored_first.name == "report.pdf" and stored_second.name == "report (2).pdf"
    assert stored_first.read_bytes() == first.read_bytes()  # not overwritten
    assert store_upload(first, "report.pdf", uploads, 10_000_000) == stored_first  # same content
    with pytest.raises(UploadRejected, match="over the upload limit"):
        store_upload(first, "big.pdf", uploads, 100)
    assert sorted(p.name for p in uploads.iterdir()) == ["report (2).pdf", "report.pdf"]


def test_exposure_needs_a_password_or_an_explicit_flag():
    check_exposure("127.0.0.1", "", False)
    check_exposure("0.0.0.0", "me:secret", False)
    check_exposure("0.0.0.0", "", True)
    with pytest.raises(click.ClickException, match="LOCALRAG_UI_AUTH=user:password"):
        check_exposure("0.0.0.0", "", False)


def test_page_view_finds_the_passage_on_the_page(tmp_path):
    import io

    from PIL import Image

    pdf = write_pdf(tmp_path / "doc.pdf", [prose("intro"), prose("middle"),
                                           "The Skerry Point lighthouse was automated in 1987. "
                                           + prose("lamps", 3)])
    view = page_view(pdf, 2, ["The Skerry Point lighthouse was automated in 1987."], scale=2.0)
    assert (view.page_index, view.page_count) == (2, 3)
    assert Image.open(io.BytesIO(view.png)).size[0] >= 1200  # 612 pt at 2x: readable when zoomed
    assert view.boxes, "the passage was not found on its page"
    for left, top, width, height in view.boxes:  # fractions of the page, on the page
        assert 0 <= left < 1 and 0 <= top < 1 and 0 < width <= 1 and 0 < height < 0.2
    assert page_view(pdf, 2, ["words that are not on this page at all"]).boxes == []
    assert page_view(pdf, 1, ["The Skerry Point lighthouse was automated in 1987."]).boxes == []
    assert page_view(pdf, 7).page_index == 2 and page_view(pdf, -1).page_index == 0  # clamped


def test_the_quote_is_escaped_and_links_its_source():
    from app.answer.quote import Quote
    from app.ui.render import quote_markdown

    quote = Quote(2, "Lanterns <script>alert(1)</script> ![x](http://evil/x.png) were lit.", 0, 10)
    rendered = quote_markdown(quote, {1, 2})
    assert rendered.startswith("> *From your documents:* \u201c")
    assert "<script>" not in rendered and "](http" not in rendered
    assert rendered.endswith("[\\[2\\]](#source-2)")
    assert "#source-2" not in quote_markdown(quote, {1})  # no link to a source not shown


def test_source_cards_show_title_and_file_relevance_in_words_and_a_legend():
    titled = Source(1, "covid_630.pdf", 2, "text", similarity=0.71, title="Bats and <coronaviruses>")
    plain = Source(2, "notes.pdf", 0, "text", similarity=0.40, title="notes")
    html = sources_html([titled, plain], "bats", cited={1})
    assert "Bats and &lt;coronaviruses&gt;</span> <span class='lr-file'>covid_630.pdf" in html
    assert "<span class='lr-title'>notes.pdf</span>" in html  # a title that is the file name
    assert "close match" in html and "loosely related" in html and "similarity 0.71" in html
    assert html.index("source-1") < html.index("source-2")  # rank order
    assert "cited in the answer" in html and html.count("lr-cited-tag") == 1
    refused = sources_html([titled], "bats", cited=set(), closest_only=True)
    assert "none answers the question" in refused and "cited in the answer" not in refused
