"""Saved chats: every answered question of the browser app kept in the data directory (SQLite),
so a chat survives a reload or a restart and reopens with its sources.

A chat is a title, its scope (the documents its questions are limited to, empty for the whole
library) and its turns; a turn is what the page showed (the answer's markdown and sources panel)
and what a reader needs later (the plain answer with its markers and the sources' file and page,
for the history the chain reads and for the Markdown export)."""

from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from app.answer.prompting import MARKER

TITLE_CHARS = 60
SCHEMA = """
CREATE TABLE IF NOT EXISTS chats (
    chat_id TEXT PRIMARY KEY, title TEXT NOT NULL, scope TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS turns (
    chat_id TEXT NOT NULL REFERENCES chats(chat_id) ON DELETE CASCADE, seq INTEGER NOT NULL,
    question TEXT NOT NULL, answer TEXT NOT NULL, shown TEXT NOT NULL, sources_html TEXT NOT NULL,
    sources TEXT NOT NULL, plain TEXT NOT NULL, asked_at REAL NOT NULL,
    PRIMARY KEY (chat_id, seq));
CREATE INDEX IF NOT EXISTS chats_by_update ON chats(updated_at DESC);
"""


@dataclass(frozen=True)
class Turn:
    """One question and its answer. ``answer``: plain text with ``[n]`` markers (the quote above
    it when one was shown); ``shown``: the chat's markdown; ``sources``: the source payload
    (number, file, path, page, title, text, marks) the page viewer and the export read;
    ``plain``: the answer as the chain reads it in the history (no quote, no markers)."""

    question: str
    answer: str
    shown: str
    sources_html: str
    sources: list[dict[str, Any]]
    plain: str = ""
    asked_at: float = 0.0


@dataclass(frozen=True)
class Chat:
    chat_id: str
    title: str
    scope: list[str]
    created_at: float
    updated_at: float
    turns: list[Turn] = field(default_factory=list)


def title_of(question: str) -> str:
    """A chat's title from its first question: one line, at most ``TITLE_CHARS`` characters."""
    line = " ".join(question.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


class ChatStore:
    """The chats of one data directory. Each call opens its own connection: Gradio runs
    callbacks on worker threads, and a chat write is one short transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys = ON")
        try:
            with db:
                yield db
        finally:
            db.close()

    def create(self, title: str, scope: Sequence[str] = ()) -> str:
        chat_id = uuid.uuid4().hex[:16]
        now = time.time()
        with self._db() as db:
            db.execute("INSERT INTO chats VALUES (?, ?, ?, ?, ?)",
                       (chat_id, title_of(title) or "New chat", json.dumps(list(scope)), now, now))
        return chat_id

    def add_turn(self, chat_id: str, turn: Turn) -> None:
        now = time.time()
        with self._db() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM turns WHERE chat_id=?",
                             (chat_id,)).fetchone()[0]
            db.execute("INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (chat_id, seq, turn.question, turn.answer, turn.shown, turn.sources_html,
                        json.dumps(turn.sources), turn.plain, turn.asked_at or now))
            db.execute("UPDATE chats SET updated_at=? WHERE chat_id=?", (now, chat_id))

    def drop_last_turn(self, chat_id: str) -> Turn | None:
        """Remove the chat's last turn (regenerate, edit the last question) and return it."""
        chat = self.get(chat_id)
        if chat is None or not chat.turns:
            return None
        with self._db() as db:
            db.execute("DELETE FROM turns WHERE chat_id=? AND seq=(SELECT MAX(seq) FROM turns "
                       "WHERE chat_id=?)", (chat_id, chat_id))
        return chat.turns[-1]

    def set_scope(self, chat_id: str, scope: Sequence[str]) -> None:
        with self._db() as db:
            db.execute("UPDATE chats SET scope=? WHERE chat_id=?", (json.dumps(list(scope)), chat_id))

    def rename(self, chat_id: str, title: str) -> None:
        title = title_of(title)
        if not title:
            raise ValueError("a chat needs a title")
        with self._db() as db:
            db.execute("UPDATE chats SET title=? WHERE chat_id=?", (title, chat_id))

    def delete(self, chat_id: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM chats WHERE chat_id=?", (chat_id,))

    def recent(self, limit: int = 200) -> list[Chat]:
        """The newest chats first, without their turns."""
        with self._db() as db:
            rows = db.execute("SELECT * FROM chats ORDER BY updated_at DESC LIMIT ?",
                              (limit,)).fetchall()
        return [_chat(row) for row in rows]

    def get(self, chat_id: str) -> Chat | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM chats WHERE chat_id=?", (chat_id,)).fetchone()
            if row is None:
                return None
            turns = db.execute("SELECT * FROM turns WHERE chat_id=? ORDER BY seq",
                               (chat_id,)).fetchall()
        return _chat(row, [Turn(t["question"], t["answer"], t["shown"], t["sources_html"],
                                json.loads(t["sources"]), t["plain"], t["asked_at"])
                           for t in turns])


def _chat(row: sqlite3.Row, turns: list[Turn] | None = None) -> Chat:
    return Chat(row["chat_id"], row["title"], json.loads(row["scope"]), row["created_at"],
                row["updated_at"], turns or [])


def chat_label(chat: Chat, now: float | None = None) -> str:
    """The chat list's line: its title and when it was last used."""
    when = datetime.fromtimestamp(chat.updated_at)
    today = datetime.fromtimestamp(now if now is not None else time.time()).date()
    stamp = when.strftime("%H:%M") if when.date() == today else when.strftime("%Y-%m-%d")
    return f"{chat.title} · {stamp}"


def resolve_markers(text: str, sources: Sequence[dict[str, Any]]) -> str:
    """``[n]`` markers as the file and page they point to ("[report.pdf p.3]"); a marker with
    no such source is dropped, as the page drops it."""
    by_number = {s["number"]: s for s in sources}

    def named(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*[,;]\s*", match.group(1))]
        found = [by_number[n] for n in numbers if n in by_number]
        return "".join(f"[{s['file']} p.{s['page'] + 1}]" for s in found)

    return MARKER.sub(named, text)


def chat_markdown(chat: Chat, scope_labels: Sequence[str] = ()) -> str:
    """The chat as a Markdown document: each question, its answer with the citations resolved
    to file and page, and the sources it was given. ``scope_labels``: the names of the chat's
    scope picks, which are stored as document ids (the ids are written when none are given)."""
    lines = [f"# {chat.title}", "",
             f"Exported from localrag on {datetime.now():%Y-%m-%d %H:%M}."]
    if chat.scope:
        lines.append(f"Questions limited to: {', '.join(scope_labels or chat.scope)}.")
    for turn in chat.turns:
        lines += ["", f"## {turn.question}", "", resolve_markers(turn.answer, turn.sources)]
        if turn.sources:
            lines += ["", "Sources:"]
            lines += [f"- [{s['number']}] {s['file']}, page {s['page'] + 1}"
                      + (f" ({s['title']})" if s.get("title") else "") for s in turn.sources]
    return "\n".join(lines) + "\n"


def export_name(chat: Chat) -> str:
    """A file name for the export, from the title (letters, digits and dashes only)."""
    stem = re.sub(r"[^\w]+", "-", chat.title, flags=re.UNICODE).strip("-")[:50] or "chat"
    return f"{stem}.md"
