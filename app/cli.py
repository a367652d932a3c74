"""The ``localrag`` command."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from app.offline import apply_offline_env

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def _settings(ctx: click.Context) -> Any:
    return ctx.obj["settings"]


def user_errors(func: F) -> F:
    """Turn the project's errors (and bad settings) into one-line messages with exit code 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ingest.errors import LocalragError

        try:
            return func(*args, **kwargs)
        except LocalragError as err:
            raise click.ClickException(str(err)) from err
        except OSError as err:
            raise click.ClickException(f"{err.strerror or err}: {err.filename or ''}".strip()) from err
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as err:
            if logging.getLogger().isEnabledFor(logging.DEBUG):
                raise
            raise click.ClickException(
                f"unexpected error: {type(err).__name__}: {err} (run with -vv for details)"
            ) from err

    return wrapper  # type: ignore[return-value]


@click.group()
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="localrag")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """Chat with your PDFs, offline. Answers cite the file and page.

    \b
    Examples:
      localrag ingest ~/Documents/reports
      localrag docs
      localrag remove "annual report.pdf"
    """
    apply_offline_env()
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from pydantic import ValidationError

    from ingest.settings import Settings

    try:
        settings = Settings()
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise click.ClickException(f"invalid setting {where}: {first['msg']}") from err
    ctx.ensure_object(dict)["settings"] = settings


def _writer_lock(settings: Any, wait: bool) -> Any:
    from ingest.lock import WriterLock

    def announce(message: str) -> None:
        click.echo(message + " …", err=True)

    timeout = settings.lock_timeout_s if wait else 0.0
    return WriterLock(settings.lock_path, timeout_s=timeout, on_wait=announce)


def _report_repair(report: Any) -> None:
    if report.empty:
        return
    for name in report.removed_incomplete:
        click.echo(f"repaired: removed half-indexed {name} (an earlier run was interrupted)", err=True)
    if report.removed_orphan_chunks:
        click.echo(f"repaired: removed {report.removed_orphan_chunks} orphaned chunks", err=True)
    for name in report.dropped_damaged:
        click.echo(f"repaired: {name} had missing vectors; ingest it again", err=True)


@cli.command()
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
    already indexed is not embedded again; an edited file replaces its old chunks.

    \b
    Examples:
      localrag ingest report.pdf
      localrag ingest ~/papers ~/contracts/2024
      localrag ingest --retry-failed ~/papers
    """
    from app.components import open_ingestor
    from app.progress import TerminalProgress

    settings = _settings(ctx)
    started = time.monotonic()
    with _writer_lock(settings, wait):
        ingestor = open_ingestor(settings)
        try:
            _report_repair(ingestor.repair())
            progress = TerminalProgress(live=None if not as_json else False)
            results = ingestor.ingest(paths, progress=progress, retry_failed=retry_failed)
            progress.finish()
        finally:
            ingestor.close()
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


@cli.command()
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


@cli.command()
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

    settings = _settings(ctx)
    with _writer_lock(settings, wait):
        ingestor = open_ingestor(settings)
        _report_repair(ingestor.repair())
        doc = ingestor.remove(ref)
    click.echo(f"removed {doc.name} ({doc.chunks} chunks)")


@cli.command()
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
    from app.components import open_ingestor, open_registry
    from app.progress import TerminalProgress
    from ingest.store import drop_collection, open_client

    settings = _settings(ctx)
    started = time.monotonic()
    with _writer_lock(settings, wait):
        registry = open_registry(settings)
        paths = [Path(p) for p in registry.all_paths()]
        drop_collection(open_client(settings.index_dir))
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


@cli.command()
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
    click.echo(f"embedding model: {settings.embedding_model}")
    click.echo(f"chunking: {settings.chunk_size} characters, {settings.chunk_overlap} overlap")
    click.echo(f"documents: {by_status.get('indexed', 0)} indexed, "
               f"{by_status.get('failed', 0)} failed; chunks: {registry.indexed_chunk_total()}")
    if not documents:
        click.echo("No documents indexed yet. Add some with: localrag ingest PATH")


def main() -> None:
    cli(obj={})


if __name__ == "__main__":
    main()
