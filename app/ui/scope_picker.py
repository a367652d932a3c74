"""What the "Ask only within" picker offers and how the chosen scope reads above the chat. Pure
functions over the library's documents.

A pick is a document id, or ``folder:`` and a folder's path (every document under it). The
picker never lists the whole library: with 10,000 documents it offers the folders and the
documents matching what the user typed, at most ``SHOWN_CHOICES``, plus what is already chosen."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

from app.owner.scope import FOLDER_PICK
from app.ui.render import document_label, escape_markdown

SHOWN_CHOICES = 50


def folders_of(documents: Sequence[Any]) -> Counter[str]:
    """Each folder that holds documents, with how many (a document counts under every folder
    above it, so a parent folder can be picked as a whole)."""
    above: dict[str, tuple[str, ...]] = {}  # a file's folder and those above it, worked out once

    def folders(path: str) -> tuple[str, ...]:
        folder = os.path.dirname(path)
        if folder not in above:
            above[folder] = tuple(str(p) for p in (PurePath(folder), *PurePath(folder).parents)
                                  if str(p) != p.anchor)
        return above[folder]

    counts: Counter[str] = Counter()
    for doc in documents:
        if len(doc.paths) == 1:
            counts.update(folders(doc.paths[0]))
        else:
            counts.update({f for path in doc.paths for f in folders(path)})
    return counts


def pick_label(pick: str, documents: Sequence[Any]) -> str:
    if pick.startswith(FOLDER_PICK):
        return f"folder {pick[len(FOLDER_PICK):]}"
    doc = next((d for d in documents if d.doc_id == pick), None)
    return document_label(doc) if doc is not None else f"a removed document ({pick[:8]})"


def scope_choices(documents: Sequence[Any], typed: str, picks: Sequence[str]
                  ) -> list[tuple[str, str]]:
    """(label, pick) for the picker: what is chosen, then folders and documents whose name,
    title or folder contains ``typed`` (case-insensitive), at most ``SHOWN_CHOICES``."""
    typed = typed.strip().lower()
    indexed = [d for d in documents if d.status == "indexed"]
    chosen = [(pick_label(p, indexed), p) for p in picks]
    offered: list[tuple[str, str]] = []
    folders = folders_of(indexed)
    # The folders that tell documents apart: the one holding every document is no choice.
    for folder, count in sorted(folders.items()):
        if count < len(indexed) and (not typed or typed in folder.lower()):
            offered.append((f"folder {folder} ({count} documents)", FOLDER_PICK + folder))
    seen = set(picks)
    offered = [c for c in offered if c[1] not in seen]
    for doc in indexed:
        if len(offered) >= SHOWN_CHOICES:
            break
        label = document_label(doc)
        if doc.doc_id not in seen and (not typed or typed in label.lower()):
            offered.append((label, doc.doc_id))
    return chosen + offered[:SHOWN_CHOICES]


def scope_summary(picks: Sequence[str], documents: Sequence[Any], searched: int | None) -> str:
    """The line above the chat: what its questions search. ``searched``: how many documents the
    scope holds (None: the whole library)."""
    if not picks:  # no count: the library changes under an open page
        return "Searching your whole library."
    names = ", ".join(pick_label(p, documents) for p in picks[:4])
    more = f" and {len(picks) - 4} more" if len(picks) > 4 else ""
    count = "" if searched is None else \
        f" ({searched:,} document{'' if searched == 1 else 's'})"
    warning = " ⚠️ none of them is in the library now." if searched == 0 else ""
    return f"**Searching only in:** {escape_markdown(names + more)}{count}.{warning}"
