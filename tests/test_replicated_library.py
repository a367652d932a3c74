"""The replicated-library builder of the scale benchmarks, on a small size: what it makes must
be a library the app can use (registry and store agree, copies are found by search)."""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import make_ingestor
from indexcheck import check_index
from pdfgen import prose, write_pdf

sys.path.insert(0, str(Path(__file__).parent / "bench"))

from replicated_library import build_replicated  # noqa: E402


def test_a_replicated_library_is_consistent_and_searchable(tmp_path, embedder):
    from app.components import open_retriever
    from ingest.registry import INDEXED, Registry
    from ingest.settings import Settings

    source = tmp_path / "source"
    ingestor = make_ingestor(source, embedder)
    ingestor.ingest([write_pdf(tmp_path / "docs" / f"{name}.pdf", [prose(name), prose(name)])
                     for name in ("lighthouse", "orchard", "tunnel")])
    ingestor.close()
    original_chunks = sum(d.chunks for d in Registry(source / "registry.sqlite3").documents())

    target = tmp_path / "large"
    count = build_replicated(source, target, chunks_wanted=0, embedder=embedder,
                             documents_wanted=10)
    documents = Registry(target / "registry.sqlite3").documents(INDEXED)
    assert len(documents) >= 10 and len({d.doc_id for d in documents}) == len(documents)
    assert count > 3 * original_chunks
    assert len({d.paths[0] for d in documents}) == len(documents)  # each copy its own path
    check_index(target)  # every document's chunks once, keyword rows agree with the vectors
    assert Registry(target / "registry.sqlite3").term_counts_current()

    by_chunks = build_replicated(source, tmp_path / "by-chunks", chunks_wanted=40,
                                 embedder=embedder)
    assert by_chunks >= 40

    retriever = open_retriever(Settings(data_dir=target), embedder)
    hits = retriever.search("orchard", 4)
    assert hits and all("orchard" in h.text.lower() for h in hits)
    assert len({h.doc_id for h in hits}) > 1  # the copies, not one document's chunks only


def test_a_replicated_library_with_real_files_grows_and_reingests_as_unchanged(tmp_path, embedder):
    from ingest.chunking import CONTEXT_RECIPE
    from ingest.registry import INDEXED, Registry

    source = tmp_path / "source"
    ingestor = make_ingestor(source, embedder)
    ingestor.ingest([write_pdf(tmp_path / "docs" / f"{name}.pdf", [prose(name)])
                     for name in ("harbour", "meadow")])
    ingestor.close()
    target, files = tmp_path / "large", tmp_path / "files"
    rounds: list[tuple[int, int]] = []
    first = build_replicated(source, target, 0, embedder, documents_wanted=3, files_dir=files,
                             report=lambda documents, chunks: rounds.append((documents, chunks)))
    grown = build_replicated(source, target, 0, embedder, documents_wanted=7, files_dir=files)
    registry = Registry(target / "registry.sqlite3")
    documents = registry.documents(INDEXED)
    assert len(documents) >= 7 and len({d.doc_id for d in documents}) == len(documents)
    assert grown > first and rounds == [(2, 2), (3, first)]  # a report after each round
    on_disk = sorted(str(p) for p in files.rglob("*.pdf"))
    assert sorted(p for d in documents for p in d.paths) == on_disk  # every copy a real file
    assert registry.meta("context_recipe") == CONTEXT_RECIPE  # nothing to rebuild at open
    registry.close()
    check_index(target)

    again = make_ingestor(target, embedder)
    try:
        results = again.ingest([files])
    finally:
        again.close()
    assert len(results) == len(on_disk)
    assert {r.outcome for r in results} == {"unchanged"}  # recorded as ingest records files
