"""The ``localrag`` command."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from app.cli_common import report_repair as _report_repair
from app.cli_common import settings_of as _settings
from app.cli_common import user_errors
from app.cli_llm import register_llm_commands
from app.cli_serve import register_serve_commands
from app.cli_watch import register_watch_commands
from app.offline import apply_offline_env

log = logging.getLogger(__name__)


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


def _claim_writer(settings: Any, wait: bool) -> tuple[Any, Any]:
    """(held writer lock, None), or (None, owner) when a running `watch`/`serve` owns the index:
    its lock is never released while it runs, so the work is handed to it instead."""
    from app.owner_api import find_owner

    lock = _writer_lock(settings, wait)
    found: list[Any] = []

    def owner_running() -> bool:
        found[:] = [o for o in (find_owner(settings.owner_path),) if o is not None]
        return bool(found)

    if lock.acquire(stop_waiting=owner_running):
        return lock, None
    return None, found[0]


def _as_writer(settings: Any, wait: bool, local: Any, handed: Any) -> Any:
    """Run ``local()`` holding the writer lock, or ``handed(owner)`` where an owner runs."""
    from app.owner_api import OwnerUnavailable

    lock, owner = _claim_writer(settings, wait)
    if owner is not None:
        try:
            return handed(owner)
        except OwnerUnavailable as err:  # raised before the owner did anything
            click.echo(f"{err}; waiting for the writer lock instead", err=True)
            lock = _writer_lock(settings, wait)
            lock.acquire()
    try:
        return local()
    finally:
        lock.release()


@contextmanager
def _exclusive_writer(settings: Any, wait: bool, command: str) -> Iterator[None]:
    """The writer lock for work an owner process cannot take over (a rebuild)."""
    lock, owner = _claim_writer(settings, wait)
    if owner is not None:
        raise click.ClickException(f"localrag (pid {owner.pid}) owns the index (watch or serve): "
                                   f"stop it, then run {command}")
    try:
        yield
    finally:
        lock.release()


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
    already indexed is not embedded again; an edited file replaces its old chunks. While
    `localrag watch` or `serve` runs, the files are handed to it (it owns the index).

    \b
    Examples:
      localrag ingest report.pdf
      localrag ingest ~/papers ~/contracts/2024
      localrag ingest --retry-failed ~/papers
    """
    from app.components import open_ingestor
    from app.owner_api import ingest_via_owner
    from app.progress import TerminalProgress

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

    results = _as_writer(settings, wait, local,
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
    from app.owner_api import remove_via_owner

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

    name, chunks = _as_writer(settings, wait, local, handed)
    click.echo(f"removed {name} ({chunks} chunks)")


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
    with _exclusive_writer(settings, wait, "reindex"):
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


def _render_marked(text: str, query: str, color: bool) -> str:
    from app.retrieval import marked_spans

    if color:
        return "".join(click.style(piece, bold=True, fg="yellow") if hit else piece
                       for piece, hit in marked_spans(text, query))
    return "".join(f"[{piece}]" if hit else piece for piece, hit in marked_spans(text, query))


@cli.command()
@click.argument("query")
@click.option("-k", "--top-k", type=click.IntRange(1, 50), default=None,
              help="How many passages (default: the top_k setting).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per passage.")
@click.pass_context
@user_errors
def search(ctx: click.Context, query: str, top_k: int | None, as_json: bool) -> None:
    """Find the passages that best match a question (keyword and meaning), best first.

    Matched words are marked. Pages are shown from 1, as printed on paper; --json gives
    pypdf's 0-based page numbers in "page" and the 1-based ones in "page_label".

    \b
    Examples:
      localrag search "termination notice period"
      localrag search -k 10 --json "invoice INV-2291" | jq .file
    """
    from app.components import open_retriever
    from app.retrieval import snippet

    settings = _settings(ctx)
    retriever = open_retriever(settings)
    hits = retriever.search(query, top_k or settings.top_k)
    if as_json:
        for rank, h in enumerate(hits, start=1):
            click.echo(json.dumps({"rank": rank, "file": h.file, "path": h.path, "page": h.page,
                                   "page_label": h.page + 1, "score": round(h.score, 6),
                                   "start": h.start, "end": h.end, "text": h.text,
                                   "doc_id": h.doc_id}))
        return
    if not hits:
        click.echo("No matching passages. Is anything indexed? See `localrag docs`.")
        return
    color = sys.stdout.isatty()
    for rank, h in enumerate(hits, start=1):
        click.echo(f"{rank}. {h.file} p.{h.page + 1}  (score {h.score:.4f})")
        click.echo("   " + _render_marked(snippet(h.text, query), query, color))


@cli.command("eval")
@click.argument("questions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--docs", "docs_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of the questions' PDFs (default: the questions file's folder).")
@click.option("-k", "--top-k", type=click.IntRange(1, 50), default=None,
              help="k of hit@k and recall@k (default: the top_k setting); 10 is always added.")
@click.option("--limit", type=int, default=0, help="Only the first N questions.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Per-question JSON lines (default: results.jsonl beside the eval index).")
@click.option("--compare-baseline", is_flag=True,
              help="Also run the LangChain tutorial pipeline on the same documents and questions.")
@click.option("--answers", is_flag=True,
              help="Also answer every question with the LLM and score the answers.")
@click.pass_context
@user_errors
def eval_command(ctx: click.Context, questions: Path, docs_dir: Path | None, top_k: int | None,
                 limit: int, out: Path | None, compare_baseline: bool, answers: bool) -> None:
    """Measure retrieval on a questions file with gold pages.

    The documents are indexed into an isolated index under data/eval/ (reused while they and the
    chunk settings are unchanged); every question is searched and scored on hit@k, recall@k and
    MRR@10 with 95 % bootstrap intervals, at page level, or document level where the gold has no
    page. Rows marked context_dependent are recorded, not scored.

    \b
    Examples:
      localrag eval ../shared/eval/covidqa/questions_dev.jsonl
      localrag eval ../shared/eval/docugami_sec10q/questions_dev.jsonl --compare-baseline
      localrag eval my_questions.jsonl --docs ~/papers -k 5 --out results.jsonl
      localrag eval ../shared/eval/covidqa/questions_dev.jsonl --answers --limit 30

    With --answers each answer is scored against the gold answer: token recall, containment
    and F1 (SQuAD normalisation), numbers within 1 %, refusal rate, time to first token and
    total latency (answers.jsonl beside the results).
    """
    from app.components import eval_settings, open_embedder, open_ingestor, open_retriever
    from app.evaluate import Ranked, TutorialPipeline, evaluate, load_questions
    from app.progress import TerminalProgress
    from ingest.embed import resolve_model_path

    settings = _settings(ctx)
    k = top_k or settings.top_k
    ks = sorted({k, 10})
    docs_dir = docs_dir or questions.parent
    try:
        rows = load_questions(questions)
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    rows = rows[:limit] if limit else rows
    isolated = eval_settings(settings, docs_dir)
    embedder = open_embedder(settings)
    with _writer_lock(isolated, wait=True):
        ingestor = open_ingestor(isolated, embedder)
        try:
            ingestor.repair()
            progress = TerminalProgress()
            results = ingestor.ingest([docs_dir], progress=progress)
            progress.finish()
        finally:
            ingestor.close()
    failed = [r for r in results if r.failed]
    click.echo(f"index: {isolated.data_dir} ({sum(r.chunks for r in results)} chunks, "
               f"{len(failed)} files failed)", err=True)
    retriever = open_retriever(isolated, embedder)

    def ours(question: str) -> list[Any]:
        return [Ranked(h.file, h.page, h.score) for h in retriever.search(question, max(ks))]

    out = out or isolated.data_dir / "results.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        records, summary = evaluate(
            rows, ours, ks, on_record=lambda r: handle.write(json.dumps(r) + "\n"))
    summaries = {"localrag": summary}
    if compare_baseline:
        tutorial = TutorialPipeline(docs_dir, isolated.data_dir / "tutorial",
                                    str(resolve_model_path(settings.embedding_model)))
        click.echo("building the tutorial pipeline's index …", err=True)
        tutorial.build()
        _, summaries["tutorial"] = evaluate(rows, lambda q: tutorial.retrieve(q, max(ks)), ks)
        summaries["tutorial"]["failed_files"] = tutorial.failed
    summary_path = out.with_suffix(".summary.json")
    summary_path.write_text(json.dumps(summaries, indent=1))
    _print_eval(summaries, ks, questions)
    click.echo(f"per-question results: {out}\nsummary: {summary_path}")
    if answers:
        _eval_answers(isolated, embedder, rows, out.with_name(out.stem + ".answers.jsonl"))


def _eval_answers(isolated: Any, embedder: Any, rows: list[Any], out: Path) -> None:
    from app.components import open_chain
    from app.evaluate_answers import ANSWER_METRICS, evaluate_answers

    chain = open_chain(isolated, on_status=lambda m: click.echo(m, err=True), embedder=embedder)
    click.echo(f"answering with {chain.llm.name}: {Path(chain.llm.model).name}", err=True)
    with out.open("w", encoding="utf-8") as handle:
        _, summary = evaluate_answers(
            rows, chain.answer, on_record=lambda r: handle.write(json.dumps(r) + "\n"))
    summary["model"] = chain.llm.model
    out.with_suffix(".summary.json").write_text(json.dumps(summary, indent=1))
    click.echo(f"answers: {summary['answered']} questions, model {Path(chain.llm.model).name}")
    for name in ANSWER_METRICS:
        if summary[name]["mean"] is not None:
            click.echo(f"  {name:<14} {summary[name]['mean']:.3f}  (n={summary[name]['n']})")
    click.echo(f"  refusal rate   {summary['refusal_rate']:.3f}; cited {summary['cited_rate']:.3f}")
    for name in ("first_token_ms", "total_ms"):
        if summary[name]:
            click.echo(f"  {name:<14} p50 {summary[name]['p50']:.0f} ms, p95 {summary[name]['p95']:.0f} ms")
    click.echo(f"per-question answers: {out}")


def _print_eval(summaries: dict[str, Any], ks: list[int], questions: Path) -> None:
    names = [f"hit@{k}" for k in ks] + [f"recall@{k}" for k in ks] + ["mrr@10"]
    first = next(iter(summaries.values()))
    click.echo(f"{questions}: {first['scored']} scored of {first['questions']} questions")
    header = f"{'metric':<10}" + "".join(f"{name:>26}" for name in summaries)
    click.echo(header)
    for name in names:
        cells = ""
        for summary in summaries.values():
            m = summary[name]
            cells += f"{m['mean']:>10.3f} [{m['ci95'][0]:.3f}, {m['ci95'][1]:.3f}]"
        click.echo(f"{name:<10}{cells}")
    for label, summary in summaries.items():
        if "latency_ms" in summary:
            lat = summary["latency_ms"]
            click.echo(f"{label} latency: p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms")
        if summary.get("failed_files"):
            click.echo(f"{label} lost {len(summary['failed_files'])} files: "
                       + "; ".join(summary["failed_files"]))


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


register_llm_commands(cli)
register_watch_commands(cli)
register_serve_commands(cli)


if __name__ == "__main__":
    main()
