import io

from app.cli.progress import TerminalProgress
from ingest.results import FileResult


def test_live_line_shows_files_rates_and_eta():
    stream = io.StringIO()
    progress = TerminalProgress(stream, live=True)
    progress.start(files=4, total_bytes=4000)
    progress.parsed("/x/first.pdf", pages=10)
    progress.embedded(25)
    progress.done(FileResult("/x/first.pdf", "indexed", pages=10, chunks=25, size=1000))
    line = progress.line()
    assert line.startswith("[1/4 files]")
    assert "pages/s" in line and "chunks/s" in line and "ETA" in line
    assert stream.getvalue().startswith("\r\x1b[K")


def test_without_a_terminal_each_file_gets_a_log_line():
    stream = io.StringIO()
    progress = TerminalProgress(stream, live=False)
    progress.start(files=2, total_bytes=2000)
    progress.done(FileResult("/x/a.pdf", "indexed", pages=3, chunks=7, size=1000))
    progress.done(FileResult("/x/b.pdf", "failed", reason="not a PDF", size=1000))
    assert stream.getvalue().splitlines() == [
        "[1/2] indexed /x/a.pdf: 3 pages, 7 chunks",
        "[2/2] failed /x/b.pdf: not a PDF",
    ]
