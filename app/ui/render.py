"""What the UI shows, as escaped HTML/markdown strings. Pure functions.

Document text is untrusted: a PDF may contain ``<script>`` or a markdown image pointing at a
remote server. Everything that comes from a document or the model is escaped here, and only the
markup built here (citation links, highlights) is live.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from app.answer.claims import NOT_FOUND_NOTE
from app.answer.prompting import MARKER, Source
from app.answer.quote import QUOTE_LEAD
from ingest.registry import DocumentPage
from ingest.results import counted, plain_outcome

# Every character markdown gives meaning to, so model text is shown as text.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def escape_markdown(text: str) -> str:
    """Text safe inside Gradio's markdown renderer: no HTML, no links, no images."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=True))


def marker_link(number: int) -> str:
    """``[n]`` as a link to source n (the page's script opens the page viewer on a click and
    previews the passage on hover)."""
    return f"[\\[{number}\\]](#source-{number})"


def answer_markdown(text: str, source_numbers: set[int]) -> str:
    """The answer for the chat, escaped, with each valid ``[n]`` a link to source n."""
    out, last = [], 0
    for match in MARKER.finditer(text):
        out.append(escape_markdown(text[last : match.start()]))
        numbers = [int(n) for n in re.split(r"\s*[,;]\s*", match.group(1))]
        out.append("".join(marker_link(n) for n in numbers if n in source_numbers))
        last = match.end()
    out.append(escape_markdown(text[last:]))
    # A statement the claim check found in no source: visibly not a cited fact.
    return "".join(out).replace(escape_markdown(NOT_FOUND_NOTE),
                                "⚠️ *not found in your documents*")


def quote_markdown(quote: Any, source_numbers: set[int]) -> str:
    """The quote (``app.answer.quote.Quote``) as a block quote above the answer, escaped, with
    its marker a link to the source."""
    link = f" {marker_link(quote.source)}" if quote.source in source_numbers else ""
    return f"> *{escape_markdown(QUOTE_LEAD)}* \u201c{escape_markdown(quote.text)}\u201d{link}"


def highlighted_html(text: str, query: str) -> str:
    """Escaped passage with the query's matched words in <mark>."""
    from app.highlight import marked_spans

    return "".join(f"<mark>{html.escape(piece)}</mark>" if hit else html.escape(piece)
                   for piece, hit in marked_spans(text, query))


def passage_html(text: str, query: str, evidence: Sequence[tuple[int, int]] = ()) -> str:
    """The passage with the question's words marked and the spans that support the answer's
    statements shaded (``lr-evidence``)."""
    out, last = [], 0
    for start, end in sorted(evidence):
        if start < last:
            continue
        out.append(highlighted_html(text[last:start], query))
        out.append(f"<span class='lr-evidence'>{highlighted_html(text[start:end], query)}</span>")
        last = end
    out.append(highlighted_html(text[last:], query))
    return "".join(out)


def sources_html(sources: Sequence[Source], query: str, cited: set[int],
                 evidence: dict[int, list[tuple[int, int]]] | None = None,
                 closest_only: bool = False) -> str:
    """The source cards in rank order. ``evidence``: per source number, the spans that support a
    statement of the answer. ``closest_only``: nothing answered, these are only the nearest."""
    if not sources:
        return "<p class='lr-empty'>No sources for this answer.</p>"
    evidence = evidence or {}
    cards = []
    if closest_only:
        cards.append("<p class='lr-note'>Closest passages (none answers the question):</p>")
    elif cited or evidence:
        cards.append("<p class='lr-note'>In rank order. <span class='lr-key-cited'>Framed</span>:"
                     " cited in the answer. <span class='lr-evidence'>Shaded</span>: the sentences"
                     " that support it.</p>")
    for s in sources:
        mark = " lr-cited" if s.number in cited else ""
        title = s.title.strip()
        named = (f"<span class='lr-title'>{html.escape(title)}</span> "
                 f"<span class='lr-file'>{html.escape(s.file)}</span>"
                 if title and title not in (s.file, s.file.rsplit(".", 1)[0])
                 else f"<span class='lr-title'>{html.escape(s.file)}</span>")
        cards.append(
            f"<div class='lr-source{mark}' id='source-{s.number}'>"
            f"<div class='lr-source-head'><b>[{s.number}]</b> {named} "
            f"<span class='lr-page'>p.{s.page + 1}</span> "
            f"<span class='lr-score' title='similarity {s.similarity:.2f}'>"
            f"{relevance_words(s.similarity)}</span>"
            f"{' <b class=lr-cited-tag>cited</b>' if mark else ''}</div>"
            f"<div class='lr-passage'>{passage_html(s.text, query, evidence.get(s.number, ()))}"
            "</div></div>"
        )
    return "\n".join(cards)


# The passage's similarity to the question (MiniLM cosine) in words a reader uses; the number is
# in the tooltip. The bands are for reading only: what decides a refusal is the threshold (0.30).
RELEVANCE_BANDS = ((0.6, "close match"), (0.45, "related"), (-1.0, "loosely related"))


def relevance_words(similarity: float) -> str:
    return next(words for floor, words in RELEVANCE_BANDS if similarity >= floor)


def answer_progress(phase: str, elapsed_s: float) -> str:
    """The line under the chat while an answer is on its way; never empty."""
    return f"⏳ {escape_markdown(phase)} · {elapsed_s:.0f} s"


def context_line(prompt_tokens: int, num_ctx: int) -> str:
    return f"{prompt_tokens:,} / {num_ctx:,} tokens"


def status_markdown(backend: str, model: str, gpu: str, documents: int, chunks: int,
                    last_context: str, problem: str = "") -> str:
    parts = [f"**LLM** {escape_markdown(backend)}: {escape_markdown(model)}",
             f"**GPU** {escape_markdown(gpu)}",
             f"**Index** {documents} documents, {chunks:,} chunks"]
    if last_context:
        parts.append(f"**Context of last answer** {escape_markdown(last_context)}")
    return " · ".join(parts) + (f"\n\n{problem}" if problem else "")


def banner(llm_problem: str, documents: int) -> str:
    """A warning line when the app cannot answer yet; empty when all is well."""
    if llm_problem:
        return f"⚠️ The language model is not available: {escape_markdown(llm_problem)}"
    if documents == 0:
        return ("⚠️ No documents indexed yet: add PDFs in the **Library** tab "
                "(or drop them into the watch folder).")
    return ""


def documents_rows(documents: Sequence[Any]) -> list[list[Any]]:
    """Rows for the library table of indexed documents (plain text cells in the Dataframe)."""
    return [[d.title, d.name, d.pages, d.chunks, "; ".join(d.problems or ()), _when(d.updated_at),
             d.doc_id[:12]] for d in documents]


DOCUMENT_COLUMNS = ["title", "file", "pages", "passages", "problems", "indexed", "id"]


def failed_rows(documents: Sequence[Any]) -> list[list[Any]]:
    """Rows for the table of files that could not be read, each with its one-line reason."""
    return [[d.name, d.error or "could not be read", _when(d.updated_at), d.doc_id[:12]]
            for d in documents]


FAILED_COLUMNS = ["file", "why it could not be read", "tried", "id"]
LIBRARY_PER_PAGE = 50


def _when(timestamp: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def count_line(documents: int, failed: int, passages: int) -> str:
    """'98 documents · 2 files could not be read · 12,345 passages' (the failed part only when
    there are failed files: they are not documents)."""
    parts = [counted(documents, "document")]
    if failed:
        parts.append(f"{counted(failed, 'file')} could not be read")
    parts.append(counted(passages, "passage"))
    return " · ".join(parts)


def page_line(page: DocumentPage, query: str) -> str:
    """'page 2 of 7', with how many documents match when a search is on (markdown, escaped)."""
    line = f"page {page.number + 1} of {page.pages}"
    if query.strip():
        line += f" · {counted(page.matching, 'document')} matching " \
                f"“{escape_markdown(query.strip())}”"
    return line


def document_label(document: Any) -> str:
    """How a document is named to the user (plain text): its title and file, or just the file
    when the title only repeats the file name."""
    name, title = document.name, (document.title or "").strip()
    if not title or title in (name, name.rsplit(".", 1)[0]):
        return name
    return f"{title} ({name})"


# Reasons ingest appends when the same bad bytes come back (pipeline.py): CLI words for "this
# file failed before", which the upload report says plainly.
_FAILED_BEFORE_SUFFIXES = (" (unchanged content)", " (unchanged; --retry-failed to try again)")


def outcome_words(result: Any) -> str:
    """What happened to one file (an ``ingest.results.FileResult``), in plain words; a file that
    failed before says where to try it again."""
    words = plain_outcome(result)
    for suffix in _FAILED_BEFORE_SUFFIXES:
        if result.failed and words.endswith(suffix):
            return words[: -len(suffix)] + " (it failed before too: use Retry under " \
                                           "“Files that could not be read”)"
    return words


def upload_line(name: str, result: Any) -> str:
    """One file of the upload report: ✓ or ✗, its name, what happened (markdown, escaped)."""
    return f"- {'✗' if result.failed else '✓'} {escape_markdown(name)} — " \
           f"{escape_markdown(outcome_words(result))}"


def upload_summary(results: Sequence[Any], rejected: int) -> str:
    """The report's first line: '3 files: 2 added · 1 could not be read'."""
    added = sum(1 for r in results if r.outcome == "indexed")
    failed = sum(1 for r in results if r.failed) + rejected
    known = len(results) + rejected - added - failed
    parts = [f"{added:,} added"] if added else []
    parts += [f"{known:,} already in your library"] if known else []
    parts += [f"{failed:,} could not be read"] if failed else []
    return f"**{counted(len(results) + rejected, 'file')}**: " + " · ".join(parts)
