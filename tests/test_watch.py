"""The watch folder in process: real inotify events in tmp folders, the real model, real Chroma.

Every check is on the index (registry, vectors, keyword rows, search), polled with a deadline.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from indexcheck import check_index
from pdfgen import pdf_bytes, prose, write_pdf

STABLE_S = 0.5


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def expected_chunks(path: Path) -> int:
    from ingest.parsing import parse_document

    return len(parse_document(path.read_bytes(), path.stem, 600, 100)[2])


class Rig:
    """A Library over ``data`` with a watcher on ``inbox``: what `localrag watch` runs."""

    def __init__(self, root: Path, embedder: Any) -> None:
        from ingest.settings import Settings

        self.root = root
        self.inbox = root / "inbox"
        self.inbox.mkdir(exist_ok=True)
        self.settings = Settings(data_dir=root / "data")
        self.embedder = embedder
        self.library: Any = None
        self.watching: Any = None
        self.activity: list[str] = []

    def start(self) -> Rig:
        from app.owner.library import Library
        from app.owner.watch_folder import start_watcher

        self.library = Library(self.settings, embedder=self.embedder)
        self.library.on_activity(self.activity.append)
        self.watching = start_watcher(self.library, [self.inbox], STABLE_S)
        return self

    def stop(self) -> None:
        if self.watching is not None:
            self.watching.stop()
            self.library.close()
            self.watching = None

    def indexed(self) -> dict[str, Any]:
        """Indexed documents by path."""
        return {path: doc for doc in self.library.documents() if doc.status == "indexed"
                for path in doc.paths}

    def doc_ids(self) -> set[str]:
        return {doc.doc_id for doc in self.library.documents()}

    def wait_indexed(self, *paths: Path) -> dict[str, Any]:
        wanted = [str(p) for p in paths]
        return wait_until(lambda: (docs := self.indexed()) and all(p in docs for p in wanted)
                          and docs, f"{[p.name for p in paths]} indexed")


@pytest.fixture
def rig(tmp_path: Path, embedder) -> Iterator[Rig]:
    rig = Rig(tmp_path, embedder)
    yield rig
    rig.stop()


def test_new_modified_renamed_and_deleted_files_follow_the_folder(rig):
    rig.start()
    first = write_pdf(rig.inbox / "orchard.pdf", [prose("apple orchard"), prose("pear harvest")])
    docs = rig.wait_indexed(first)
    old_id = docs[str(first)].doc_id
    assert docs[str(first)].chunks == expected_chunks(first)
    assert rig.library.search("apple orchard programme", 4)[0].path == str(first)

    write_pdf(first, [prose("banana plantation")])  # edited in place
    docs = wait_until(lambda: (d := rig.indexed()).get(str(first)) and
                      d[str(first)].doc_id != old_id and old_id not in rig.doc_ids() and d,
                      "the edited file re-indexed and its old content gone")
    assert docs[str(first)].chunks == expected_chunks(first)
    # No stale chunks: whatever the old words find now comes from the new text.
    assert all("banana" in h.text for h in rig.library.search("apple orchard", 10))
    new_id = docs[str(first)].doc_id

    embedded = rig.embedder.texts
    (rig.inbox / "archive").mkdir()
    moved = rig.inbox / "archive" / "plantation.pdf"
    os.rename(first, moved)
    docs = wait_until(lambda: (d := rig.indexed()).get(str(moved)) and str(first) not in d and d,
                      "the moved file's path updated")
    assert docs[str(moved)].doc_id == new_id and docs[str(moved)].paths == (str(moved),)
    assert rig.embedder.texts == embedded  # nothing embedded again

    moved.unlink()
    wait_until(lambda: not rig.library.documents(), "the deleted file's document removed")
    rig.stop()
    assert check_index(rig.settings.data_dir) == {}


def test_slow_copy_is_read_once_complete(rig):
    rig.start()
    data = pdf_bytes([prose(f"slow copy part {n}") for n in range(3)])
    target = rig.inbox / "slow.pdf"
    pieces = 10  # over 1 s in all, each pause well under the 0.5 s stability window
    step = len(data) // pieces + 1
    with target.open("wb") as handle:
        for start in range(0, len(data), step):
            handle.write(data[start:start + step])
            handle.flush()
            os.fsync(handle.fileno())
            assert rig.library.documents() == [], "read before the copy finished"
            time.sleep(0.1)
    docs = rig.wait_indexed(target)
    assert docs[str(target)].chunks == expected_chunks(target) and docs[str(target)].pages == 3
    assert [d.status for d in rig.library.documents()] == ["indexed"]  # no half-written failure


def test_burst_of_fifty_files_is_indexed_once_each(rig):
    rig.start()
    files = [write_pdf(rig.inbox / f"memo-{n:02d}.pdf", [prose(f"memo number {n}", 5)])
             for n in range(50)]
    docs = wait_until(lambda: len(d := rig.indexed()) == 50 and d, "fifty files indexed", 150)
    for path in files:
        assert docs[str(path)].chunks == expected_chunks(path), path.name
    assert len(rig.doc_ids()) == 50
    lines = [line for line in rig.activity
             if line.startswith("watch: memo-") and ".pdf: added: " in line]
    assert sorted(lines) == sorted(set(lines)) and len(lines) == 50  # one progress line per file
    rig.stop()
    counts = check_index(rig.settings.data_dir)
    assert sorted(counts.values()) == sorted(expected_chunks(p) for p in files)


def test_non_pdfs_temporary_files_and_a_bad_pdf(rig):
    rig.start()
    (rig.inbox / "notes.txt").write_text("not a pdf")
    for name in ("report.pdf.part", "report.pdf.crdownload", "~$report.pdf", ".report.pdf"):
        write_pdf(rig.inbox / name, [prose("partial download")])
    write_pdf(rig.inbox / ".cache" / "hidden.pdf", [prose("hidden folder")])
    bad = rig.inbox / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 truncated")
    good = write_pdf(rig.inbox / "good.pdf", [prose("good file")])
    wait_until(lambda: {d.status for d in rig.library.documents()} == {"indexed", "failed"},
               "the good file indexed and the bad one failed")
    assert sorted(rig.library.paths()) == sorted([str(bad), str(good)])
    failed = [d for d in rig.library.documents() if d.status == "failed"]
    assert len(failed) == 1 and failed[0].error
    when = failed[0].updated_at

    with (rig.inbox / "notes.txt").open("a") as handle:  # more events on an ignored file
        handle.write("more")
    bad.read_bytes()  # reading it (as the pipeline does) is not a change
    barrier = write_pdf(rig.inbox / "later.pdf", [prose("later file")])
    rig.wait_indexed(barrier)
    assert [d.updated_at for d in rig.library.documents() if d.status == "failed"] == [when]
    assert sum("notes.txt" in line for line in rig.activity) == 1  # logged once
    assert sum("broken.pdf" in line for line in rig.activity) == 1  # reported once

    bad.write_bytes(b"%PDF-1.4 still truncated, but different")  # changed: tried again
    wait_until(lambda: [d.doc_id for d in rig.library.documents() if d.status == "failed"]
               not in ([], [failed[0].doc_id]) and failed[0].doc_id not in rig.doc_ids(),
               "the changed bad file tried again, its old record dropped")


def test_restart_applies_the_changes_made_while_stopped(rig):
    rig.start()
    keep = write_pdf(rig.inbox / "keep.pdf", [prose("kept")])
    edit = write_pdf(rig.inbox / "edit.pdf", [prose("first draft")])
    gone = write_pdf(rig.inbox / "gone.pdf", [prose("deleted later")])
    move = write_pdf(rig.inbox / "move.pdf", [prose("moved later")])
    before = rig.wait_indexed(keep, edit, gone, move)
    rig.stop()

    new = write_pdf(rig.inbox / "new.pdf", [prose("added while stopped")])
    write_pdf(edit, [prose("second draft"), prose("appendix")])
    gone.unlink()
    moved = rig.inbox / "sub" / "moved.pdf"
    moved.parent.mkdir()
    os.rename(move, moved)
    embedded = rig.embedder.texts

    rig.start()
    wanted = {str(keep), str(edit), str(new), str(moved)}
    docs = wait_until(lambda: set(d := rig.indexed()) == wanted
                      and len(rig.library.documents()) == 4 and d, "the folder reconciled")
    assert docs[str(keep)].doc_id == before[str(keep)].doc_id
    assert docs[str(moved)].doc_id == before[str(move)].doc_id  # renamed, not embedded again
    assert docs[str(edit)].doc_id != before[str(edit)].doc_id
    assert before[str(gone)].doc_id not in rig.doc_ids()
    assert rig.embedder.texts - embedded == expected_chunks(new) + expected_chunks(edit)
    rig.stop()
    assert len(check_index(rig.settings.data_dir)) == 4


def test_documents_ingested_from_elsewhere_are_never_removed(rig, tmp_path):
    from app.owner.library import Library

    outside = tmp_path / "elsewhere"
    kept = write_pdf(outside / "contract.pdf", [prose("contract terms")])
    lost = write_pdf(outside / "letter.pdf", [prose("letter text")])
    with Library(rig.settings, embedder=rig.embedder) as library:
        assert [r.outcome for r in library.ingest([outside])] == ["indexed", "indexed"]
    copy = rig.inbox / "contract.pdf"
    copy.write_bytes(kept.read_bytes())
    lost.unlink()  # gone from disk, but not from a watched folder: not the watcher's business

    rig.start()
    docs = rig.wait_indexed(copy)
    assert set(docs[str(copy)].paths) == {str(kept), str(copy)}  # same content: one document
    copy.unlink()
    wait_until(lambda: str(copy) not in rig.library.paths(), "the deleted copy's path dropped")
    rig.stop()
    rig.start()  # and a restart's reconciliation leaves them alone too
    rig.wait_indexed(write_pdf(rig.inbox / "barrier.pdf", [prose("barrier")]))
    assert sorted(rig.library.paths()) == sorted([str(kept), str(lost), str(rig.inbox / "barrier.pdf")])
    assert {d.status for d in rig.library.documents()} == {"indexed"}


def test_watch_dirs_setting_takes_several_folders(monkeypatch, tmp_path):
    from ingest.settings import Settings

    monkeypatch.setenv("LOCALRAG_WATCH_DIRS", f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b c'}")
    assert Settings().watch_folders == [tmp_path / "a", tmp_path / "b c"]
    monkeypatch.setenv("LOCALRAG_WATCH_DIRS", '["x"]')
    assert Settings().watch_folders == [Path("x")]
    monkeypatch.delenv("LOCALRAG_WATCH_DIRS")
    assert Settings().watch_folders == [Settings().data_dir / "inbox"]
