"""The owner's local API in process: announcement, token, progress stream, relative paths."""

from __future__ import annotations

import os

import pytest
from pdfgen import prose, write_pdf


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []

    def start(self, files: int, total_bytes: int) -> None:
        self.events.append(f"start {files}")

    def parsed(self, path: str, pages: int) -> None:
        self.events.append(f"parsed {os.path.basename(path)}")

    def embedded(self, chunks: int) -> None:
        self.events.append("embedded")

    def done(self, result) -> None:
        self.events.append(f"done {os.path.basename(result.path)}")


def test_handed_over_ingest_and_remove(tmp_path, monkeypatch, embedder):
    from app.owner.api import (
        Owner,
        find_owner,
        ingest_via_owner,
        remove_via_owner,
        start_owner_api,
    )
    from app.owner.library import Library
    from ingest.errors import DocumentNotFound, LocalragError
    from ingest.settings import Settings

    settings = Settings(data_dir=tmp_path / "data")
    write_pdf(tmp_path / "papers" / "one.pdf", [prose("first paper")])
    with Library(settings, embedder=embedder) as library:
        api = start_owner_api(library)
        try:
            owner = find_owner(settings.owner_path)
            assert owner == api.owner and owner.pid == os.getpid()
            assert settings.owner_path.stat().st_mode & 0o777 == 0o600

            with pytest.raises(LocalragError, match="wrong token"):
                ingest_via_owner(Owner(owner.pid, owner.port, "guess"), [tmp_path], False)

            monkeypatch.chdir(tmp_path / "papers")  # relative paths mean the client's folder
            progress = Recorder()
            results = ingest_via_owner(owner, ["one.pdf", "missing.pdf"], False, progress)
            assert [(os.path.basename(r.path), r.outcome) for r in results] == [
                ("missing.pdf", "failed"), ("one.pdf", "indexed")]
            assert results[0].reason == "no such file or folder"
            assert progress.events[0] == "start 1" and progress.events[-1] == "done one.pdf"
            assert "embedded" in progress.events

            with pytest.raises(DocumentNotFound):
                remove_via_owner(owner, "other.pdf")
            assert remove_via_owner(owner, "one.pdf")["name"] == "one.pdf"
            assert library.documents() == []
        finally:
            api.stop()
        assert not settings.owner_path.exists() and find_owner(settings.owner_path) is None
