"""Scanned pages: triage, the real Tesseract engine through the parse worker, the OCR cache and
the word boxes the page viewer shades. PDFs are generated (tests/pdfgen.py); a scanned page is a
picture of a generated text page, so what OCR should read is known."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from pdfgen import SCANNED, prose, write_pdf, write_scanned

from ingest.ocr import OcrOptions
from ingest.triage import CID, EMPTY, GARBAGE, IMAGE, triage

FACT = "The Skerry Point lighthouse was automated in 1987 by the harbour board."
needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None,
                                     reason="tesseract-ocr is not installed (make setup-test)")


# -- triage (pure) -----------------------------------------------------------------------------
def _no_image() -> float:
    return 0.0


def _full_page_image() -> float:
    return 1.0


@pytest.mark.parametrize(("text", "coverage", "expected"), [
    ("", _no_image, EMPTY),
    ("  \n 12 \n", _no_image, EMPTY),                                     # a page number alone
    ("(cid:12)(cid:7)(cid:3) (cid:44)(cid:2) " * 40, _no_image, CID),
    ("Total (cid:3) revenue " + "(cid:12) " * 30, _no_image, CID),
    ("~§¦ÿ¤ ¬¨¸ ©®¯ ±²³ ´µ¶ " * 30 + "ab12 cd34 ef56", _no_image, GARBAGE),
    ("ljk^^ \\\\ ~~ ## ;; " * 60, _no_image, GARBAGE),
    ("SCANNED BY OFFICE FAX 0171 555 0100", _full_page_image, IMAGE),  # stray words on a scan
    (prose("harbour"), _no_image, None),
    (prose("harbour"), _full_page_image, None),      # a scan with the scanner's OCR layer: kept
    ("Revenue 12,345 13,001 9.5% 2023 2022\n" * 20, _no_image, None),  # a table of numbers
    ("Die Kommission prüfte das Programm während der Frühjahrssitzung eingehend. " * 5,
     _no_image, None),
    ("Figure 3: the harbour at low tide, seen from the north pier.", _no_image, None),
])
def test_triage_picks_only_pages_without_real_text(text, coverage, expected):
    assert triage(text, coverage) == expected


def test_triage_measures_the_image_only_for_pages_with_few_words():
    def not_called() -> float:
        raise AssertionError("image coverage measured for a page full of text")

    assert triage(prose("harbour"), not_called) is None


# -- word boxes (pure) -------------------------------------------------------------------------
def test_ocr_word_boxes_cover_the_matching_words_line_by_line():
    from app.ui.page_image import ocr_word_boxes

    line1 = [("Intro", .1, .10, .2, .12, 90), ("The", .1, .20, .14, .22, 95),
             ("Skerry", .15, .20, .25, .22, 95), ("Point", .26, .20, .32, .22, 95)]
    line2 = [("lighthouse", .1, .23, .25, .25, 92), ("was", .26, .23, .3, .25, 96),
             ("automated.", .31, .23, .45, .25, 96), ("Other", .1, .40, .2, .42, 90)]
    boxes = ocr_word_boxes(line1 + line2, "The Skerry Point lighthouse was automated.")
    assert [tuple(round(v, 3) for v in box) for box in boxes] == [(.1, .20, .22, .02),
                                                                   (.1, .23, .35, .02)]
    assert ocr_word_boxes(line1 + line2, "nothing of this is on the page at all") == []


# -- the real engine -----------------------------------------------------------------------------
def _counting_tesseract(folder: Path, slow_call: int | None = None) -> tuple[str, Path]:
    """A tesseract that logs each page it reads (to count engine calls across processes) and,
    on its ``slow_call``-th page, hangs."""
    real = shutil.which("tesseract")
    log = folder / "tesseract-calls.log"
    script = folder / "tesseract"
    hang = f'[ "$n" = "{slow_call}" ] && exec sleep 60\n' if slow_call else ""
    script.write_text(
        "#!/bin/sh\n"
        'case "$*" in *--list-langs*|*--version*) exec ' + real + ' "$@";; esac\n'
        f'echo "$*" >> {log}\n'
        f'n=$(wc -l < {log})\n'
        + hang +
        f'exec {real} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script), log


def _calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _ocr_ingestor(data_dir: Path, embedder, tesseract_cmd: str = "tesseract",
                  timeout_s: float = 60.0, chunk_size: int = 1000, cache: Path | None = None):
    from ingest.pipeline import Ingestor
    from ingest.registry import Registry
    from ingest.store import VectorStore, open_client

    cache = cache or data_dir / "ocr-cache.sqlite3"
    options = OcrOptions(cache_path=str(cache), timeout_s=timeout_s,
                         tesseract_cmd=tesseract_cmd)
    store = VectorStore(open_client(data_dir / "index"), embedder)
    return Ingestor(Registry(data_dir / "registry.sqlite3"), store, embedder,
                    chunk_size=chunk_size, chunk_overlap=150, embed_batch_size=32, ocr=options)


@needs_tesseract
def test_a_scanned_pdf_is_indexed_and_its_fact_found_on_page_2(tmp_path, embedder):
    from app.retrieval import Retriever

    pdf = write_scanned(tmp_path / "scan.pdf", [prose("budget", 6), FACT + " " + prose("lamps", 3)])
    command, calls = _counting_tesseract(tmp_path)
    ingestor = _ocr_ingestor(tmp_path / "data", embedder, command)
    [result] = ingestor.ingest([pdf])
    assert result.outcome == "indexed", result.reason
    assert result.problems[0].startswith("2 of 2 pages read by OCR (confidence ")
    assert _calls(calls) == 2
    metadatas = ingestor.store.collection.get(include=["metadatas"])["metadatas"]
    assert {m["page"] for m in metadatas} == {0, 1}
    assert all(m["ocr_confidence"] > 80 for m in metadatas)
    hits = Retriever(ingestor.store, ingestor.registry, embedder).search(
        "When was the Skerry Point lighthouse automated?", 4)
    assert hits[0].page == 1 and "1987" in hits[0].text

    # A re-index with other chunk settings (a fresh index, the same OCR cache), a rename and a
    # duplicate never OCR again.
    again = _ocr_ingestor(tmp_path / "data2", embedder, command, chunk_size=400,
                          cache=tmp_path / "data" / "ocr-cache.sqlite3")
    [rebuilt] = again.ingest([pdf])
    assert rebuilt.outcome == "indexed" and rebuilt.chunks >= result.chunks
    shutil.copy(pdf, tmp_path / "copy.pdf")
    pdf.rename(tmp_path / "renamed.pdf")
    outcomes = {Path(r.path).name: r.outcome for r in ingestor.ingest(
        [tmp_path / "renamed.pdf", tmp_path / "copy.pdf"])}
    assert outcomes == {"renamed.pdf": "renamed", "copy.pdf": "duplicate"}
    assert _calls(calls) == 2
    ingestor.close()
    again.close()


@needs_tesseract
def test_a_mixed_pdf_ocrs_only_its_image_page_and_the_viewer_shades_the_ocr_words(
        tmp_path, embedder):
    from app.ui.page_image import page_view
    from ingest.ocr_cache import page_words

    pages = [prose("budget", 6), "Opening remarks. " + FACT + " " + prose("lamps", 4),
             prose("roads", 6)]
    pdf = write_scanned(tmp_path / "mixed.pdf", pages, scanned=[1])
    command, calls = _counting_tesseract(tmp_path)
    ingestor = _ocr_ingestor(tmp_path / "data", embedder, command)
    [result] = ingestor.ingest([pdf])
    ingestor.close()
    assert result.outcome == "indexed" and _calls(calls) == 1
    assert result.problems[0].startswith("1 of 3 pages read by OCR (confidence ")
    metadatas = ingestor.store.collection.get(include=["metadatas"])["metadatas"]
    assert {m["page"] for m in metadatas if "ocr_confidence" in m} == {1}
    assert {m["page"] for m in metadatas} == {0, 1, 2}

    words = page_words(tmp_path / "data" / "ocr-cache.sqlite3", pdf, 1)
    assert words and page_words(tmp_path / "data" / "ocr-cache.sqlite3", pdf, 0) == []
    assert page_view(pdf, 1, [FACT]).boxes == []  # no text layer: the text search finds nothing
    boxes = page_view(pdf, 1, [FACT], ocr_words=words).boxes
    # Where the same sentence lies on the original text page, found by pypdfium2's text search.
    expected = page_view(write_pdf(tmp_path / "text.pdf", pages), 1, [FACT]).boxes
    assert boxes and expected
    top = min(b[1] for b in boxes)
    bottom = max(b[1] + b[3] for b in boxes)
    assert abs(top - min(b[1] for b in expected)) < 0.01
    assert abs(bottom - max(b[1] + b[3] for b in expected)) < 0.01
    assert min(b[0] for b in boxes) == pytest.approx(min(b[0] for b in expected), abs=0.01)
    assert page_view(pdf, 1, ["words that are not on this page at all"], ocr_words=words).boxes == []

    from app.ui.viewer import render_view

    source = {"number": 1, "file": pdf.name, "title": "", "path": str(pdf), "page": 1,
              "text": FACT, "marks": [FACT]}
    shown, _ = render_view(source, 1, 100, tmp_path / "data" / "ocr-cache.sqlite3")
    assert "lr-shade" in shown and "could not be located" not in shown
    assert "could not be located" in render_view(source, 1, 100)[0]  # without the OCR words


@needs_tesseract
def test_a_page_that_hangs_the_engine_is_reported_and_the_others_indexed(tmp_path, embedder):
    pages = [prose("budget", 4), FACT, prose("roads", 4)]
    pdf = write_scanned(tmp_path / "hang.pdf", pages)
    command, calls = _counting_tesseract(tmp_path, slow_call=2)
    ingestor = _ocr_ingestor(tmp_path / "data", embedder, command, timeout_s=15)
    [result] = ingestor.ingest([pdf])
    ingestor.close()
    assert result.outcome == "indexed", result.reason
    assert "OCR took longer than 15 s on page 2: not indexed" in result.problems
    assert result.problems[0].startswith("2 of 3 pages read by OCR")
    metadatas = ingestor.store.collection.get(include=["metadatas"])["metadatas"]
    assert {m["page"] for m in metadatas} == {0, 2}


def test_without_the_engine_scans_keep_the_old_behaviour_and_say_how_to_install(
        tmp_path, embedder):
    hint = "OCR not available: install tesseract-ocr (apt-get install tesseract-ocr " \
           "tesseract-ocr-eng)"
    write_pdf(tmp_path / "docs" / "scanned.pdf", [SCANNED, SCANNED])
    write_pdf(tmp_path / "docs" / "partly.pdf", [prose("text"), SCANNED])
    write_pdf(tmp_path / "docs" / "text.pdf", [prose("text"), prose("more")])
    ingestor = _ocr_ingestor(tmp_path / "data", embedder, str(tmp_path / "no" / "tesseract"))
    results = {Path(r.path).name: r for r in ingestor.ingest([tmp_path / "docs"])}
    ingestor.close()
    assert results["scanned.pdf"].reason == f"no text on any of its 2 pages: scanned? {hint}"
    assert results["partly.pdf"].outcome == "indexed"
    assert results["partly.pdf"].problems == (f"1 of 2 pages have no text: scanned? {hint}",)
    assert results["text.pdf"].outcome == "indexed" and results["text.pdf"].problems == ()


def test_a_missing_python_binding_is_reported_too(monkeypatch):
    import builtins

    from ingest.errors import LocalragError
    from ingest.ocr import check_engine

    real_import = builtins.__import__

    def no_pytesseract(name, *args, **kwargs):
        if name == "pytesseract":
            raise ImportError("No module named 'pytesseract'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pytesseract)
    with pytest.raises(LocalragError, match="OCR not available: install pytesseract"):
        check_engine()


def test_ocr_switched_off_says_so(tmp_path):
    from ingest.errors import NoTextLayer
    from ingest.parsing import parse_document

    data = write_scanned(tmp_path / "scan.pdf", [prose("budget", 3)]).read_bytes()
    with pytest.raises(NoTextLayer, match="OCR is off"):
        parse_document(data, "scan", 1000, 150, OcrOptions(enabled=False))


def test_image_coverage_tells_a_scan_from_a_text_page(tmp_path):
    import pypdfium2 as pdfium

    from ingest.ocr_pages import image_coverage

    pdf = write_scanned(tmp_path / "mixed.pdf", [prose("budget", 3), prose("roads", 3)],
                        scanned=[1])
    document = pdfium.PdfDocument(str(pdf))
    try:
        assert image_coverage(document[0]) == 0.0
        assert image_coverage(document[1]) > 0.95
    finally:
        document.close()


@needs_tesseract
def test_a_scan_with_a_few_stray_words_in_its_text_layer_is_ocrd(tmp_path):
    import io

    from pdfgen import pdf_bytes
    from pypdf import PdfReader, PdfWriter

    from ingest.parsing import parse_document

    writer = PdfWriter(clone_from=write_scanned(tmp_path / "scan.pdf", [FACT]))
    stamp = PdfReader(io.BytesIO(pdf_bytes(["\n" * 60 + "Scanned by the office fax 0171 555 0100"])))
    writer.pages[0].merge_page(stamp.pages[0])
    out = io.BytesIO()
    writer.write(out)
    assert triage(PdfReader(out).pages[0].extract_text(), _full_page_image) == IMAGE
    _, _, chunks, _, problems, ocr_pages = parse_document(out.getvalue(), "fax", 1000, 150,
                                                          OcrOptions())
    assert list(ocr_pages) == [0] and problems[0].startswith("1 of 1 pages read by OCR")
    assert "1987" in chunks[0].text and "lighthouse" in chunks[0].text


@needs_tesseract
def test_ask_answers_from_a_scanned_page_and_cites_page_2(tmp_path, test_gguf, shared_embedder):
    from app.components import open_chain, open_ingestor
    from ingest.settings import Settings

    write_scanned(tmp_path / "docs" / "lighthouse log.pdf",
                  [prose("budget", 6), FACT + " " + prose("lamps", 3), prose("roads", 6)],
                  scanned=[1])
    settings = Settings(data_dir=tmp_path / "data", llm_backend="llamacpp",
                        gguf=str(test_gguf("qwen2.5-0.5b")), top_k=3)  # OCR on by default
    ingestor = open_ingestor(settings, shared_embedder)
    [result] = ingestor.ingest([tmp_path / "docs"])
    ingestor.close()
    assert result.problems[0].startswith("1 of 3 pages read by OCR")
    answer = list(open_chain(settings, embedder=shared_embedder).stream(
        "In which year was the Skerry Point lighthouse automated?"))[-1].answer
    assert "1987" in answer.text and not answer.refused
    assert ("lighthouse log.pdf", 1) in [(s.file, s.page) for s in answer.cited]


def test_problems_name_the_ocr_pages_their_confidence_and_the_low_ones(tmp_path, monkeypatch):
    from ingest import parsing

    def fake_ocr(data, texts, options, on_page=None):
        return parsing.OcrOutcome(texts={0: prose("budget", 3), 1: prose("roads", 3)},
                                   confidence={0: 95.0, 1: 41.0}, timed_out=[2])

    monkeypatch.setattr(parsing, "run_ocr", fake_ocr)
    data = write_pdf(tmp_path / "scan.pdf", [SCANNED, SCANNED, "(cid:3)(cid:4) " * 30,
                                             prose("text", 3)]).read_bytes()
    _, _, chunks, empty, problems, ocr_pages = parsing.parse_document(data, "scan", 1000, 150,
                                                                      OcrOptions())
    assert problems == ["2 of 4 pages read by OCR (confidence 68 %)",
                        "OCR took longer than 60 s on page 3: not indexed",
                        "low OCR confidence (under 60 %) on page 2: check the scan"]
    assert ocr_pages == {0: 95.0, 1: 41.0} and empty == [2]
    assert {c.page for c in chunks} == {0, 1, 3}


# -- parallel OCR, its progress, huge pages (issue 15, second round) -----------------------------
# Not "budget": every page of prose() says it.
TOPICS = ["lamps", "roads", "harbour", "schools", "rivers", "bridges"]


def _timed_tesseract(folder: Path) -> tuple[str, Path]:
    """A tesseract that logs when each page read starts and ends (nanoseconds), to see how
    many engines ran at once."""
    real = shutil.which("tesseract")
    log = folder / "tesseract-times.log"
    script = folder / "tesseract"
    script.write_text(
        "#!/bin/sh\n"
        'case "$*" in *--list-langs*|*--version*) exec ' + real + ' "$@";; esac\n'
        f'echo "start $(date +%s%N)" >> {log}\n'
        f'{real} "$@"; status=$?\n'
        f'echo "end $(date +%s%N)" >> {log}\n'
        'exit $status\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script), log


def _most_at_once(log: Path) -> int:
    events = sorted((int(t), 1 if kind == "start" else -1)
                    for kind, t in (line.split() for line in log.read_text().splitlines()))
    running = most = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


@needs_tesseract
@pytest.mark.parametrize("workers", [1, 2])
def test_scanned_pages_are_read_side_by_side_in_page_order_with_few_renders_alive(
        tmp_path, monkeypatch, workers):
    import weakref

    from pdfgen import scanned_pdf_bytes

    from ingest import ocr
    from ingest.ocr_pages import run_ocr

    data = scanned_pdf_bytes([prose(topic, 4) for topic in TOPICS])
    alive: set[int] = set()
    peak = [0]
    real_render = ocr.render_page

    def tracked_render(page, dpi):
        image = real_render(page, dpi)
        alive.add(id(image))
        weakref.finalize(image, alive.discard, id(image))
        peak[0] = max(peak[0], len(alive))
        return image

    monkeypatch.setattr(ocr, "render_page", tracked_render)
    command, times = _timed_tesseract(tmp_path)
    events: list[tuple[int, int]] = []
    outcome = run_ocr(data, [""] * len(TOPICS),
                      OcrOptions(tesseract_cmd=command, workers=workers),
                      lambda done, total: events.append((done, total)))
    assert sorted(outcome.texts) == list(range(len(TOPICS)))
    for number, topic in enumerate(TOPICS):  # each page's text is that page's, not a neighbour's
        assert f"the {topic} programme" in outcome.texts[number]
        assert all(other not in outcome.texts[number] for other in TOPICS if other != topic)
    assert all(c > 80 for c in outcome.confidence.values())
    assert _most_at_once(times) == workers
    assert peak[0] <= workers + 1  # renders never run ahead of the engines
    assert events == [(n, len(TOPICS)) for n in range(len(TOPICS) + 1)]


@needs_tesseract
def test_the_engine_runs_single_threaded_without_capping_this_process(tmp_path, monkeypatch):
    """OMP_THREAD_LIMIT=1 reaches the tesseract process only: set in this process's own
    environment it capped torch (imported later) at one thread, halving embedding speed."""
    from pdfgen import scanned_pdf_bytes

    from ingest.ocr_pages import run_ocr

    monkeypatch.delenv("OMP_THREAD_LIMIT", raising=False)
    seen = tmp_path / "limits.log"
    script = tmp_path / "tesseract"
    real = shutil.which("tesseract")
    script.write_text("#!/bin/sh\n"
                      'case "$*" in *--list-langs*|*--version*) exec ' + real + ' "$@";; esac\n'
                      f'echo "limit=$OMP_THREAD_LIMIT" >> {seen}\n'
                      f'exec {real} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    outcome = run_ocr(scanned_pdf_bytes([prose("threads", 4)]), [""],
                      OcrOptions(tesseract_cmd=str(script), workers=1))
    assert "the threads programme" in outcome.texts[0]
    assert seen.read_text().split() == ["limit=1"]  # the page's recognition
    assert "OMP_THREAD_LIMIT" not in os.environ


@needs_tesseract
def test_ocr_progress_crosses_from_the_parse_worker_to_the_terminal_line(tmp_path, embedder):
    import io
    import re

    from app.cli.progress import TerminalProgress

    class Recording(TerminalProgress):
        def __init__(self, stream, live):
            super().__init__(stream, live)
            self.ocr_events: list[tuple[str, int, int]] = []

        def ocr(self, path, done, total):
            self.ocr_events.append((Path(path).name, done, total))
            super().ocr(path, done, total)

    pdf = write_scanned(tmp_path / "docs" / "minutes.pdf",
                        [prose(topic, 5) for topic in TOPICS[:3]])
    write_pdf(tmp_path / "docs" / "notes.pdf", [prose("text", 6)])  # no OCR, no OCR events
    ingestor = _ocr_ingestor(tmp_path / "data", embedder)  # parses in its spawned worker
    assert ingestor.parser.use_worker
    live, log = Recording(io.StringIO(), live=True), Recording(io.StringIO(), live=False)
    ingestor.ingest([pdf], progress=live)
    ingestor.close()
    assert live.ocr_events == [("minutes.pdf", n, 3) for n in range(4)]
    shown = live.stream.getvalue()
    assert "OCR 0/3 pages  minutes.pdf" in shown
    assert re.search(r"OCR [12]/3 pages, [0-9.]+ pages/s, ~\d+s left  minutes\.pdf", shown)
    assert "OCR" not in live.line()  # gone once the document's OCR is done

    again = _ocr_ingestor(tmp_path / "data2", embedder, cache=tmp_path / "data" / "ocr-cache.sqlite3")
    again.ingest([tmp_path / "docs"], progress=log)
    again.close()
    assert log.ocr_events == [("minutes.pdf", n, 3) for n in range(4)]  # cached pages count too
    assert re.search(r"^OCR minutes\.pdf: OCR 3/3 pages, [0-9.]+ pages/s after \d+s$",
                     log.stream.getvalue(), re.MULTILINE)


@pytest.mark.parametrize(("width", "height", "dpi"), [
    (612, 792, 200), (612, 792, 600), (7344, 9504, 200), (14400, 14400, 300), (3, 90000, 200),
])
def test_render_scale_keeps_every_page_under_the_pixel_cap(width, height, dpi):
    import math

    from ingest.ocr import MAX_PIXELS, render_scale

    scale = render_scale(width, height, dpi)
    pixels = math.ceil(width * scale) * math.ceil(height * scale)
    assert pixels <= MAX_PIXELS
    if width * height * (dpi / 72) ** 2 <= MAX_PIXELS:
        assert scale == dpi / 72  # pages that fit are rendered at the resolution asked for
    else:
        assert pixels > 0.99 * MAX_PIXELS  # shrunk just enough


@needs_tesseract
def test_a_poster_sized_scan_is_rendered_under_the_cap_and_read_with_its_words_in_place(tmp_path):
    import io

    import pypdfium2 as pdfium
    from pdfgen import scanned_pdf_bytes
    from pypdf import PdfReader, PdfWriter

    from ingest.ocr import MAX_PIXELS, ocr_page, render_page
    from ingest.ocr_cache import page_words
    from ingest.parsing import parse_document

    letter = scanned_pdf_bytes([FACT + " " + prose("lamps", 3)])
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(letter)))
    writer.pages[0].scale_by(12)  # 102 x 132 inches: 539 M pixels at 200 dpi
    poster = tmp_path / "poster.pdf"
    with poster.open("wb") as handle:
        writer.write(handle)
    document = pdfium.PdfDocument(str(poster))
    try:
        assert document[0].get_size() == (612 * 12, 792 * 12)
        width, height = render_page(document[0], 200).size
    finally:
        document.close()
    assert 0.99 * MAX_PIXELS < width * height <= MAX_PIXELS

    cache = tmp_path / "ocr-cache.sqlite3"
    _, _, chunks, _, problems, ocr_pages = parse_document(
        poster.read_bytes(), "poster", 1000, 150, OcrOptions(cache_path=str(cache)))
    assert list(ocr_pages) == [0] and problems[0].startswith("1 of 1 pages read by OCR")
    assert "automated in 1987" in chunks[0].text
    # The boxes are fractions of the page: where the same words lie on the letter-size page.
    letter_doc = pdfium.PdfDocument(letter)
    try:
        on_letter = {w[0]: w[1:5] for w in ocr_page(render_page(letter_doc[0], 200)).words}
    finally:
        letter_doc.close()
    on_poster = {w[0]: w[1:5] for w in page_words(cache, poster, 0)}
    for word in ("Skerry", "lighthouse", "1987", "harbour"):
        assert on_poster[word] == pytest.approx(on_letter[word], abs=0.005), word
