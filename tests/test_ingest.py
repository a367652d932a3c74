"""Ingestion end to end: generated PDFs, the real MiniLM model, a real Chroma in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import SHARED_EVAL, make_ingestor, stored
from pdfgen import SCANNED, prose, write_encrypted, write_pdf

from ingest.errors import DocumentNotFound, IndexMismatch
from ingest.registry import INDEXED


def _library(folder: Path) -> dict[str, Path]:
    return {
        "water": write_pdf(folder / "water.pdf", [prose("water"), prose("drainage")], "Water"),
        "roads": write_pdf(folder / "roads.pdf", [prose("roads"), prose("bridges"), prose("tolls")]),
        "parks": write_pdf(folder / "sub" / "parks.pdf", [prose("parks")]),
    }


def _outcomes(results) -> dict[str, str]:
    return {Path(r.path).name: r.outcome for r in results}


def test_ingest_folder_then_reingest_embeds_nothing_and_duplicates_nothing(tmp_path, ingestor,
                                                                           embedder):
    files = _library(tmp_path / "docs")
    first = ingestor.ingest([tmp_path / "docs"])
    assert _outcomes(first) == {"water.pdf": "indexed", "roads.pdf": "indexed",
                                "parks.pdf": "indexed"}
    total = sum(r.chunks for r in first)
    assert ingestor.store.count() == total == embedder.texts
    embedded_before = embedder.texts

    again = ingestor.ingest([tmp_path / "docs", files["water"]])
    assert set(_outcomes(again).values()) == {"unchanged"}
    assert embedder.texts == embedded_before
    assert ingestor.store.count() == total
    ids = stored(ingestor)["ids"]
    assert len(ids) == len(set(ids))


def test_touched_but_identical_file_is_hashed_not_embedded(tmp_path, ingestor, embedder):
    pdf = write_pdf(tmp_path / "a.pdf", [prose("touch")])
    ingestor.ingest([pdf])
    before = embedder.texts
    os.utime(pdf, (1, 1))
    assert _outcomes(ingestor.ingest([pdf])) == {"a.pdf": "unchanged"}
    assert embedder.texts == before


def test_chunks_cite_the_page_their_text_is_on(tmp_path, ingestor):
    pages = [f"Marker{n}zq appears only on this page. " + prose(f"topic{n}", 4) for n in range(5)]
    pdf = write_pdf(tmp_path / "pages.pdf", pages)
    ingestor.ingest([pdf])
    got = stored(ingestor)
    seen_pages = set()
    for text, meta in zip(got["documents"], got["metadatas"], strict=True):
        markers = {n for n in range(5) if f"Marker{n}zq" in text}
        assert markers <= {meta["page"]}
        seen_pages |= markers
        assert meta["end"] - meta["start"] == len(text)
    assert seen_pages == set(range(5))


def test_same_content_under_a_second_name_is_not_embedded_again(tmp_path, ingestor, embedder):
    original = write_pdf(tmp_path / "report.pdf", [prose("budget")])
    ingestor.ingest([original])
    before, count = embedder.texts, ingestor.store.count()
    copy = tmp_path / "copy of report (final).pdf"
    copy.write_bytes(original.read_bytes())
    [result] = ingestor.ingest([copy])
    assert result.outcome == "duplicate"
    assert embedder.texts == before and ingestor.store.count() == count
    [doc] = ingestor.registry.documents()
    assert set(doc.paths) == {str(original), str(copy)}


def test_changed_file_replaces_its_old_chunks(tmp_path, ingestor):
    pdf = write_pdf(tmp_path / "notes.pdf", ["Zebraword is the old secret. " + prose("old", 20)])
    [old] = ingestor.ingest([pdf])
    write_pdf(pdf, ["Giraffeword is the new secret. " + prose("new", 6)])
    [new] = ingestor.ingest([pdf])
    assert new.outcome == "indexed" and new.doc_id != old.doc_id
    got = stored(ingestor)
    assert {m["doc_id"] for m in got["metadatas"]} == {new.doc_id}
    assert len(got["ids"]) == new.chunks
    assert not any("Zebraword" in t for t in got["documents"])
    assert ingestor.registry.document(old.doc_id) is None


def test_renamed_file_keeps_its_vectors(tmp_path, ingestor, embedder):
    pdf = write_pdf(tmp_path / "before.pdf", [prose("rename")])
    [first] = ingestor.ingest([pdf])
    before = embedder.texts
    moved = pdf.rename(tmp_path / "after — ünïcode.pdf")
    [result] = ingestor.ingest([moved])
    assert result.outcome == "renamed"
    assert embedder.texts == before
    assert ingestor.registry.document(first.doc_id).paths == (str(moved),)


def test_remove_deletes_every_chunk_by_name_path_or_id(tmp_path, ingestor):
    files = _library(tmp_path)
    results = {Path(r.path).name: r for r in ingestor.ingest([tmp_path])}
    ingestor.remove("water.pdf")
    ingestor.remove(str(files["roads"]))
    ingestor.remove(results["parks.pdf"].doc_id[:12])
    assert ingestor.store.count() == 0
    assert ingestor.registry.documents() == []
    with pytest.raises(DocumentNotFound, match="no indexed document matches"):
        ingestor.remove("water.pdf")


def test_remove_of_ambiguous_name_names_the_candidates(tmp_path, ingestor):
    write_pdf(tmp_path / "a" / "same.pdf", [prose("one")])
    write_pdf(tmp_path / "b" / "same.pdf", [prose("two")])
    ingestor.ingest([tmp_path])
    with pytest.raises(DocumentNotFound, match="matches 2 documents"):
        ingestor.remove("same.pdf")
    assert len(ingestor.registry.documents(INDEXED)) == 2


def _bad_inputs(folder: Path) -> dict[str, str]:
    """File name -> expected start of its failure reason."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.pdf").write_text("These are plain text notes, not a PDF.\n")
    (folder / "empty.pdf").write_bytes(b"")
    good = write_pdf(folder / "tmp-source.pdf", [prose("truncated", 40)] * 3).read_bytes()
    (folder / "truncated.pdf").write_bytes(good[: len(good) // 2])
    (folder / "tmp-source.pdf").unlink()
    (folder / "garbage.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(3000) + b"\n%%EOF\n")
    (folder / "zero-pages.pdf").write_bytes(write_pdf(folder / "z.pdf", []).read_bytes())
    (folder / "z.pdf").unlink()
    write_encrypted(folder / "locked.pdf", [prose("secret")], user_password="hunter2")
    write_pdf(folder / "scanned.pdf", [SCANNED, SCANNED, SCANNED])
    return {
        "notes.pdf": "not a PDF",
        "empty.pdf": "empty file",
        "truncated.pdf": "truncated PDF",
        "garbage.pdf": "damaged PDF",
        "zero-pages.pdf": "the PDF has no pages",
        "locked.pdf": "password-protected",
        "scanned.pdf": "no text on any of its 3 pages: scanned? OCR not available",
    }


def test_bad_inputs_fail_with_one_line_reasons_and_good_files_still_index(tmp_path, ingestor):
    expected = _bad_inputs(tmp_path / "bad")
    good = _library(tmp_path / "good")
    results = ingestor.ingest([tmp_path / "bad", tmp_path / "good"])
    by_name = {Path(r.path).name: r for r in results}
    for name, reason in expected.items():
        result = by_name[name]
        assert result.outcome == "failed", name
        assert result.reason.startswith(reason), (name, result.reason)
        assert "\n" not in result.reason
    assert all(by_name[p.name].outcome == "indexed" for p in good.values())
    assert ingestor.store.count() == sum(by_name[p.name].chunks for p in good.values())
    # A failure is remembered: an unchanged bad file is not parsed again, and says so.
    again = {Path(r.path).name: r for r in ingestor.ingest([tmp_path / "bad"])}
    assert "unchanged" in again["notes.pdf"].reason


def test_a_touched_bad_file_is_not_parsed_again_and_keeps_its_reason(tmp_path, ingestor):
    from ingest.registry import FAILED

    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4 truncated")
    first = ingestor.ingest([bad])[0]
    st = bad.stat()
    os.utime(bad, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched, same bytes
    touched = ingestor.ingest([bad])[0]
    assert touched.failed and touched.reason == f"{first.reason} (unchanged content)"
    again = ingestor.ingest([bad])[0]  # the new mtime was recorded: not even read now
    assert "unchanged; --retry-failed" in again.reason
    assert [d.error for d in ingestor.registry.documents(FAILED)] == [first.reason]


def test_missing_path_and_non_pdf_files_in_folders(tmp_path, ingestor):
    folder = tmp_path / "mixed"
    write_pdf(folder / "real.pdf", [prose("real")])
    (folder / "readme.txt").write_text("not a pdf")
    (folder / "~$lock.pdf").write_text("office lock file")
    (folder / "download.pdf.part").write_bytes(b"%PDF-1.4 partial")
    results = ingestor.ingest([folder, tmp_path / "does-not-exist.pdf"])
    assert _outcomes(results) == {"real.pdf": "indexed", "does-not-exist.pdf": "failed"}
    assert [r.reason for r in results if r.failed] == ["no such file or folder"]


def test_partly_scanned_pdf_is_indexed_with_a_problem_and_no_empty_chunks(tmp_path, ingestor):
    pdf = write_pdf(tmp_path / "mixed.pdf", [prose("text"), SCANNED, SCANNED, prose("more")])
    [result] = ingestor.ingest([pdf])
    assert result.outcome == "indexed"
    assert result.problems == ("2 of 4 pages have no text: scanned? OCR not available",)
    assert {m["page"] for m in stored(ingestor)["metadatas"]} == {0, 3}


def test_encrypted_pdf_with_empty_password_is_indexed(tmp_path, ingestor):
    pdf = write_encrypted(tmp_path / "aes.pdf", ["Quokkaword in an encrypted file. " + prose("x")],
                          user_password="")
    [result] = ingestor.ingest([pdf])
    assert result.outcome == "indexed"
    assert any("Quokkaword" in t for t in stored(ingestor)["documents"])


@pytest.mark.parametrize("name", [
    "with spaces and (brackets).pdf",
    "ünïcödé — 日本語.pdf",
    "x" * 240 + ".pdf",
    "semi;colon'quote\"$dollar.pdf",
])
def test_odd_file_names(tmp_path, ingestor, name):
    pdf = write_pdf(tmp_path / name, [prose("names")])
    [result] = ingestor.ingest([pdf])
    assert result.outcome == "indexed"
    assert ingestor.registry.find(name)[0].paths == (str(pdf),)


def test_opening_an_index_with_another_embedding_model_is_refused(tmp_path, ingestor):
    from ingest.embed import Embedder
    from ingest.store import VectorStore, open_client

    ingestor.ingest([write_pdf(tmp_path / "a.pdf", [prose("model")])])
    other = Embedder(str(tmp_path / "some-other-model"))
    with pytest.raises(IndexMismatch, match="built with embedding model 'all-MiniLM-L6-v2'"):
        VectorStore(open_client(tmp_path / "data" / "index"), other)


def test_repair_removes_half_indexed_documents_and_orphans(tmp_path, ingestor, embedder):
    from ingest.store import chunk_id

    pdf = write_pdf(tmp_path / "a.pdf", [prose("repair")])
    [done] = ingestor.ingest([pdf])
    # What a killed writer leaves: a document begun but never finished, with some vectors written,
    # and vectors whose registry row never got written.
    ingestor.registry.begin_document("f" * 64, "half", 10, 1)
    vectors = embedder.embed(["half written", "orphan"])
    meta = {"page": 0, "index": 0, "start": 0, "end": 4}
    ingestor.store.add([chunk_id("f" * 64, 0), chunk_id("e" * 64, 0)], vectors,
                       ["half written", "orphan"],
                       [{**meta, "doc_id": "f" * 64}, {**meta, "doc_id": "e" * 64}])
    report = ingestor.repair()
    assert report.removed_incomplete == ["half"] and report.removed_orphan_chunks == 1
    assert ingestor.store.doc_chunk_counts() == {done.doc_id: done.chunks}
    assert ingestor.repair().empty


def test_a_new_ingestor_on_the_same_folder_sees_the_same_index(tmp_path, ingestor, embedder):
    ingestor.ingest([write_pdf(tmp_path / "a.pdf", [prose("persist")])])
    reopened = make_ingestor(tmp_path / "data", embedder)
    assert reopened.store.count() == ingestor.store.count() > 0
    assert _outcomes(reopened.ingest([tmp_path / "a.pdf"])) == {"a.pdf": "unchanged"}


def test_large_pdf_streams_pages(tmp_path, ingestor):
    pages = [f"Page {n} entry: item code Q{n:04d}." if n % 50 == 0 else SCANNED for n in range(1200)]
    pdf = write_pdf(tmp_path / "huge.pdf", pages)
    [result] = ingestor.ingest([pdf])
    assert result.outcome == "indexed" and result.pages == 1200
    assert result.chunks == 24
    assert result.problems == ("1176 of 1200 pages have no text: scanned? OCR not available",)


MSFT = SHARED_EVAL / "docugami_sec10q" / "pdfs"


@pytest.mark.skipif(not MSFT.is_dir(), reason="shared evaluation data not present")
@pytest.mark.parametrize("name", ["2023 Q1 MSFT.pdf", "2023 Q2 MSFT.pdf"])
def test_filings_beyond_pypdf_default_limits_are_read(name):
    from ingest.parsing import parse_document

    data = (MSFT / name).read_bytes()
    _, pages, chunks, empty, *_ = parse_document(data, name, 1000, 150)
    assert pages > 70 and len(empty) < 5
    assert any("Microsoft" in c.text for c in chunks)


def test_a_crashed_parse_worker_costs_one_file_only(tmp_path, ingestor):
    import signal
    import threading
    import time

    big = write_pdf(tmp_path / "a-big.pdf", [prose(f"long {n}", 6) for n in range(1500)])
    write_pdf(tmp_path / "b-small.pdf", [prose("small")])

    def kill_worker_while_parsing() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pool = ingestor.parser._pool
            if pool is not None and pool._processes:
                time.sleep(0.5)
                for pid in list(pool._processes):
                    os.kill(pid, signal.SIGKILL)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_worker_while_parsing)
    killer.start()
    results = {Path(r.path).name: r for r in ingestor.ingest([tmp_path])}
    killer.join()
    assert results["a-big.pdf"].outcome == "failed"
    assert results["a-big.pdf"].reason.startswith("the PDF reader crashed on this file")
    assert results["b-small.pdf"].outcome == "indexed"
    assert big.exists()
    ingestor.close()


def test_an_index_records_its_embedding_precision_and_refuses_another(tmp_path, ingestor):
    from ingest.embed import Embedder, default_precision
    from ingest.store import VectorStore, open_client

    DEFAULT_PRECISION = default_precision()  # noqa: N806 (this machine's, bf16 where native)
    ingestor.ingest([write_pdf(tmp_path / "a.pdf", [prose("precision")])])
    index = tmp_path / "data" / "index"
    recorded = VectorStore(open_client(index), Embedder("all-MiniLM-L6-v2")).collection.metadata
    assert recorded["embedding_precision"] == DEFAULT_PRECISION  # a new index, precision auto
    other = "fp32" if DEFAULT_PRECISION == "int8" else "int8"
    with pytest.raises(IndexMismatch, match=f"built with embedding precision '{DEFAULT_PRECISION}'"
                                            f" but '{other}' is configured.*localrag reindex"):
        VectorStore(open_client(index), Embedder("all-MiniLM-L6-v2", precision=other))
    follows = Embedder("all-MiniLM-L6-v2", precision="auto")
    VectorStore(open_client(index), follows)
    assert follows.precision == DEFAULT_PRECISION


def test_an_index_from_before_the_precision_record_is_embedded_as_fp32(tmp_path):
    from ingest.embed import Embedder
    from ingest.store import COLLECTION, VectorStore, _embedding_function, open_client

    index = tmp_path / "index"
    # What earlier versions created: the model recorded, the numeric path not (it was fp32).
    open_client(index).get_or_create_collection(
        COLLECTION, embedding_function=_embedding_function(Embedder("all-MiniLM-L6-v2")),
        configuration={"hnsw": {"space": "cosine"}},
        metadata={"embedding_model": "all-MiniLM-L6-v2"})
    follows = Embedder("all-MiniLM-L6-v2", precision="auto")
    VectorStore(open_client(index), follows)
    assert follows.precision == "fp32"
    with pytest.raises(IndexMismatch, match="precision 'fp32' but 'int8'"):
        VectorStore(open_client(index), Embedder("all-MiniLM-L6-v2", precision="int8"))


def test_the_onnx_paths_match_torch_and_int8_stays_close(tmp_path):
    import numpy

    from ingest.embed import Embedder

    texts = [prose(f"topic {i}") for i in range(6)] + ["short", "Cash flows 2019 2018 1,577",
                                                      "word " * 400]  # over 256 tokens: cut
    cache = tmp_path / "exports"
    torch32 = Embedder("all-MiniLM-L6-v2", precision="fp32", runtime="torch")
    onnx32 = Embedder("all-MiniLM-L6-v2", precision="fp32", runtime="onnx", cache_dir=cache)
    int8 = Embedder("all-MiniLM-L6-v2", precision="int8", cache_dir=cache)
    reference, same, near = (e.embed(texts) for e in (torch32, onnx32, int8))
    assert (torch32.runtime, onnx32.runtime, int8.runtime) == ("torch", "onnx", "onnx")
    for vectors in (same, near):
        assert vectors.dtype == numpy.float32 and vectors.shape == (len(texts), 384)
        assert numpy.allclose(numpy.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert (reference * same).sum(axis=1).min() > 0.99999  # the same vectors, another runtime
    cosines = (reference * near).sum(axis=1)
    assert cosines.min() > 0.8 and cosines.mean() < 0.999  # close, and really another path
    assert len(list(cache.glob("*.onnx"))) == 2  # exported once each, kept for the next process
    assert Embedder("all-MiniLM-L6-v2", cache_dir=cache).embed([]).shape == (0, 384)


def test_bf16_embeds_close_to_fp32_and_an_index_keeps_it(tmp_path):
    import numpy

    from ingest.embed import Embedder
    from ingest.store import VectorStore, open_client

    texts = [prose(f"topic {i}") for i in range(4)] + ["Cash flows 2019 2018 1,577", "short"]
    fp32 = Embedder("all-MiniLM-L6-v2", precision="fp32")
    bf16 = Embedder("all-MiniLM-L6-v2", precision="bf16")
    reference, near = fp32.embed(texts), bf16.embed(texts)
    assert bf16.runtime == "torch" and near.dtype == numpy.float32
    assert numpy.allclose(numpy.linalg.norm(near, axis=1), 1, atol=1e-5)
    cosines = (reference * near).sum(axis=1)
    assert cosines.min() > 0.999  # bfloat16 products: close to fp32's vectors ...
    assert numpy.abs(reference - near).max() > 1e-5  # ... but not the same: another path

    index = tmp_path / "index"
    store = VectorStore(open_client(index), bf16)
    store.add(["c1"], near[:1], [texts[0]], [{"doc_id": "d", "page": 1, "index": 0}])
    assert store.collection.metadata["embedding_precision"] == "bf16"
    with pytest.raises(IndexMismatch, match="precision 'bf16' but 'fp32'"):
        VectorStore(open_client(index), Embedder("all-MiniLM-L6-v2", precision="fp32"))
    follows = Embedder("all-MiniLM-L6-v2", precision="auto")
    VectorStore(open_client(index), follows)
    assert follows.precision == "bf16"
    assert (follows.embed(texts[:1]) * near[:1]).sum() > 0.99999  # queries on the index's path


def test_bf16_is_the_default_only_where_the_cpu_has_bfloat16_products():
    from ingest.embed import default_precision, native_bf16

    sapphire = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_vnni avx512_bf16 amx_tile\n"
    skylake = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_vnni\n"
    named = "model name\t: avx512_bf16 lookalike\nflags\t\t: fpu sse2\n"  # not a flags line
    assert native_bf16(sapphire) and default_precision(sapphire) == "bf16"
    assert not native_bf16(skylake) and default_precision(skylake) == "fp32"
    assert not native_bf16(named) and default_precision("") == "fp32"
    assert default_precision("flags : amx_bf16 amx_tile\n") == "bf16"


def test_a_clean_close_lets_the_next_writer_skip_counting_the_store(tmp_path, embedder,
                                                                    monkeypatch):
    from conftest import make_ingestor

    from ingest.pipeline import CLOSED_CLEAN
    from ingest.store import VectorStore, chunk_id

    data = tmp_path / "data"
    first = make_ingestor(data, embedder)
    [done] = first.ingest([write_pdf(tmp_path / "a.pdf", [prose("clean close")])])
    assert first.registry.meta(CLOSED_CLEAN) == ""  # open: nothing vouched for
    first.close()
    assert first.registry.meta(CLOSED_CLEAN) == str(done.chunks)

    counted = []
    real_count = VectorStore.count
    monkeypatch.setattr(VectorStore, "count", lambda self: counted.append(1) or real_count(self))
    second = make_ingestor(data, embedder)
    assert second.repair().empty and not counted  # trusted: the store is not counted
    # A writer killed while open (no close) leaves the record cleared: the next one counts, and
    # finds what that writer left behind (vectors without a registry row).
    vectors = embedder.embed(["orphan"])
    second.store.add([chunk_id("e" * 64, 0)], vectors, ["orphan"],
                     [{"page": 0, "index": 0, "start": 0, "end": 6, "doc_id": "e" * 64}])
    third = make_ingestor(data, embedder)
    report = third.repair()
    assert counted and report.removed_orphan_chunks == 1
    third.close()
