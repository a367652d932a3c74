"""Commands that read or write the index: ingest, docs, remove, reindex, status."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import click

from app.cli.common import report_repair as _report_repair
from app.cli.common import settings_of as _settings
from app.cli.common import user_errors
from app.cli.writer import as_writer, exclusive_writer


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--retry-failed", is_flag=True, help="Try files again that failed before unchanged.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait for another writer to finish instead of exiting.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per file.")
@click.pass_context
@user_errors
def ingest(ctx: click.Context, paths: tuple[Path, ...], retry_failed: bool, wait: bool,
           as_json: bool) -> None:
    """Index PDF files and folders (recursively).

    Unchanged files are skipped without reading them; a file with the same content as one
    already indexed is not embedded again; an edited file replaces its old chunks. While
    `localrag watch` or `serve` runs, the files are handed to it (it owns the index).

    \b
    Examples:
      localrag ingest report.pdf
      localrag ingest ~/papers ~/contracts/2024
      localrag ingest --retry-failed ~/papers
    """
    from app.cli.progress import TerminalProgress
    from app.components import open_ingestor
    from app.owner.api import ingest_via_owner

    settings = _settings(ctx)
    started = time.monotonic()
    progress = TerminalProgress(live=None if not as_json else False)

    def local() -> list[Any]:
        ingestor = open_ingestor(settings)
        try:
            _report_repair(ingestor.repair())
            return ingestor.ingest(paths, progress=progress, retry_failed=retry_failed)
        finally:
            ingestor.close()

    results = as_writer(settings, wait, local,
                         lambda owner: ingest_via_owner(owner, paths, retry_failed, progress))
    progress.finish()
    if as_json:
        for r in results:
            click.echo(json.dumps({"path": r.path, "outcome": r.outcome, "doc_id": r.doc_id,
                                   "pages": r.pages, "chunks": r.chunks, "problems": r.problems,
                                   "reason": r.reason}))
    else:
        _print_summary(results, time.monotonic() - started)
    if any(r.failed for r in results):
        ctx.exit(1)


def _print_summary(results: list[Any], seconds: float) -> None:
    counts = Counter(r.outcome for r in results)
    new = [r for r in results if r.outcome == "indexed"]
    click.echo(f"{len(results)} files in {seconds:.1f}s")
    order = ("indexed", "unchanged", "renamed", "duplicate", "failed")
    for outcome in order:
        if counts[outcome]:
            extra = ""
            if outcome == "indexed":
                extra = (f"  ({sum(r.pages for r in new)} pages, "
                         f"{sum(r.chunks for r in new)} chunks)")
            click.echo(f"  {outcome:<10} {counts[outcome]:>5}{extra}")
    for r in results:
        if r.outcome in ("renamed", "duplicate"):
            click.echo(f"  {r.outcome}: {r.path}: {r.reason}")
    failed = [r for r in results if r.failed]
    if failed:
        click.echo("failed:")
        for r in failed:
            click.echo(f"  {r.path}: {r.reason}")
    noted = [r for r in results if r.problems and r.outcome == "indexed"]
    if noted:
        click.echo("problems:")
        for r in noted:
            for problem in r.problems:
                click.echo(f"  {r.path}: {problem}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per document.")
@click.pass_context
@user_errors
def docs(ctx: click.Context, as_json: bool) -> None:
    """List indexed documents: file, pages, chunks, status, when, problems.

    \b
    Examples:
      localrag docs
      localrag docs --json | jq .file
    """
    from app.components import open_registry

    documents = open_registry(_settings(ctx)).documents()
    if as_json:
        for d in documents:
            click.echo(json.dumps({"id": d.doc_id, "file": d.name, "paths": d.paths,
                                   "pages": d.pages, "chunks": d.chunks, "status": d.status,
                                   "updated_at": d.updated_at, "problems": d.problems,
                                   "error": d.error}))
        return
    if not documents:
        click.echo("No documents indexed yet. Add some with: localrag ingest PATH")
        return
    width = min(max(len(d.name) for d in documents), 48)
    click.echo(f"{'ID':<12} {'FILE':<{width}} {'PAGES':>5} {'CHUNKS':>6} {'STATUS':<8} {'WHEN':<16}"
               " PROBLEMS")
    for d in documents:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(d.updated_at))
        notes = "; ".join(d.problems) if d.status != "failed" else (d.error or "")
        name = d.name if len(d.name) <= width else d.name[: width - 1] + "…"
        click.echo(f"{d.doc_id[:12]:<12} {name:<{width}} {d.pages:>5} {d.chunks:>6} "
                   f"{d.status:<8} {when:<16} {notes}")


@click.command()
@click.argument("ref")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait for another writer to finish instead of exiting.")
@click.pass_context
@user_errors
def remove(ctx: click.Context, ref: str, wait: bool) -> None:
    """Delete one document and all its chunks, by path, file name or id.

    \b
    Examples:
      localrag remove ~/papers/old.pdf
      localrag remove "annual report.pdf"
      localrag remove 3f2a9c1b07de
    """
    from app.components import open_ingestor
    from app.owner.api import remove_via_owner

    settings = _settings(ctx)

    def local() -> tuple[str, int]:
        ingestor = open_ingestor(settings)
        try:
            _report_repair(ingestor.repair())
            doc = ingestor.remove(ref)
        finally:
            ingestor.close()
        return doc.name, doc.chunks

    def handed(owner: Any) -> tuple[str, int]:
        removed = remove_via_owner(owner, ref)
        return removed["name"], removed["chunks"]

    name, chunks = as_writer(settings, wait, local, handed)
    click.echo(f"removed {name} ({chunks} chunks)")


@click.command()
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait for another writer to finish instead of exiting.")
@click.pass_context
@user_errors
def reindex(ctx: click.Context, wait: bool) -> None:
    """Rebuild the whole index from the files it knows, with the current settings.

    Needed after changing the embedding model; also applies new chunk settings to old files.
    Files that no longer exist are dropped.

    \b
    Example:
      LOCALRAG_EMBEDDING_MODEL=/models/my-model localrag reindex
    """
    from app.cli.progress import TerminalProgress
    from app.components import open_ingestor, open_registry
    from ingest.store import drop_collection, open_client

    settings = _settings(ctx)
    started = time.monotonic()
    with exclusive_writer(settings, wait, "reindex"):
        registry = open_registry(settings)
        paths = [Path(p) for p in registry.all_paths()]
        drop_collection(open_client(settings.index_dir, settings.chroma_url))
        registry.clear()
        registry.close()
        progress = TerminalProgress()
        existing = [p for p in paths if p.exists()]
        ingestor = open_ingestor(settings)
        try:
            results = ingestor.ingest(existing, progress=progress, retry_failed=True)
        finally:
            ingestor.close()
        progress.finish()
    if len(existing) < len(paths):
        click.echo(f"dropped {len(paths) - len(existing)} files that no longer exist")
    _print_summary(results, time.monotonic() - started)
    if any(r.failed for r in results):
        ctx.exit(1)


@click.command()
@click.pass_context
@user_errors
def status(ctx: click.Context) -> None:
    """Show where the index lives and what it holds.

    \b
    Example:
      localrag status
    """
    from app.components import open_registry

    settings = _settings(ctx)
    registry = open_registry(settings)
    documents = registry.documents()
    by_status = Counter(d.status for d in documents)
    click.echo(f"data directory: {settings.data_dir.resolve()}")
    click.echo(f"embedding model: {settings.embedding_model} "
               f"(precision {settings.embedding_precision})")
    click.echo(f"chunking: {settings.chunk_size} characters, {settings.chunk_overlap} overlap")
    click.echo(f"documents: {by_status.get('indexed', 0)} indexed, "
               f"{by_status.get('failed', 0)} failed; chunks: {registry.indexed_chunk_total()}")
    if not documents:
        click.echo("No documents indexed yet. Add some with: localrag ingest PATH")


def register_library_commands(group: click.Group) -> None:
    for command in (ingest, docs, remove, reindex, status):
        group.add_command(command)
