"""Commands that query the index without the LLM: search, and eval (which may add answers)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from app.cli.common import settings_of as _settings
from app.cli.common import user_errors
from app.cli.writer import writer_lock


def _render_marked(text: str, query: str, color: bool) -> str:
    from app.highlight import marked_spans

    if color:
        return "".join(click.style(piece, bold=True, fg="yellow") if hit else piece
                       for piece, hit in marked_spans(text, query))
    return "".join(f"[{piece}]" if hit else piece for piece, hit in marked_spans(text, query))


@click.command()
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
    from app.highlight import snippet

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


@click.command("eval")
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
@click.option("--spread", type=int, default=0,
              help="Only N questions, spread over the documents (one per document in turn).")
@click.option("--absent", "absent_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With --answers: also ask these questions the documents do not answer "
                   "(rows marked absent); a refusal is the right answer.")
@click.pass_context
@user_errors
def eval_command(ctx: click.Context, questions: Path, docs_dir: Path | None, top_k: int | None,
                 limit: int, out: Path | None, compare_baseline: bool, answers: bool,
                 spread: int, absent_file: Path | None) -> None:
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
      localrag eval ../shared/eval/covidqa/questions_dev.jsonl --answers --spread 40 \\
          --absent tests/eval/absent_covidqa.jsonl

    With --answers each answer is scored against the gold answer: token recall, containment
    and F1 (SQuAD normalisation), numbers within 1 %, citation precision (markers on a gold
    page), the claim check's verdicts, refusal rates (false refusals on answerable questions,
    refusals of absent ones), time to the sources, to the first token and in all
    (answers.jsonl beside the results).
    """
    from app.cli.progress import TerminalProgress
    from app.components import eval_settings, open_embedder, open_ingestor, open_retriever
    from app.eval.retrieval import (
        Ranked,
        TutorialPipeline,
        evaluate,
        load_questions,
        spread_sample,
    )
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
    rows = spread_sample(rows, spread) if spread else rows
    try:
        absent_rows = [q for q in load_questions(absent_file) if q.absent] if absent_file else []
    except ValueError as err:
        raise click.ClickException(str(err)) from err
    if absent_file and not absent_rows:
        raise click.ClickException(f"{absent_file}: no rows marked \"absent\": true")
    isolated = eval_settings(settings, docs_dir)
    embedder = open_embedder(settings)
    with writer_lock(isolated, wait=True):
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
        from app.eval.answers import interleave

        _eval_answers(isolated, embedder, interleave(rows, absent_rows),
                      out.with_name(out.stem + ".answers.jsonl"))


def _eval_answers(isolated: Any, embedder: Any, rows: list[Any], out: Path) -> None:
    from app.components import open_chain
    from app.eval.answers import ANSWER_METRICS, evaluate_answers

    chain = open_chain(isolated, on_status=lambda m: click.echo(m, err=True), embedder=embedder)
    click.echo(f"answering with {chain.llm.name}: {Path(chain.llm.model).name}", err=True)
    with out.open("w", encoding="utf-8") as handle:
        _, summary = evaluate_answers(
            rows, chain.answer, on_record=lambda r: handle.write(json.dumps(r) + "\n"))
    summary["model"] = chain.llm.model
    out.with_suffix(".summary.json").write_text(json.dumps(summary, indent=1))
    click.echo(f"answers: {summary['answered']} questions ({summary['answerable']} answerable, "
               f"{summary['absent']} absent), model {Path(chain.llm.model).name}")
    for name in (*ANSWER_METRICS, "citation_precision"):
        if summary[name]["mean"] is not None:
            click.echo(f"  {name:<18} {summary[name]['mean']:.3f}  (n={summary[name]['n']})")
    for name in ("refusal_rate", "false_refusal_rate", "absent_refusal_rate"):
        if summary[name] is not None:
            click.echo(f"  {name:<18} {summary[name]:.3f}")
    claims = summary["claims"]
    click.echo(f"  claims checked     {claims['checked']}: {claims['supported']} supported, "
               f"{claims['moved']} moved, {claims['cited by the check']} cited by the check, "
               f"{claims['unsupported']} marked not found")
    for name in ("sources_ms", "first_token_ms", "total_ms"):
        if summary[name]:
            click.echo(f"  {name:<18} p50 {summary[name]['p50']:.0f} ms, "
                       f"p95 {summary[name]['p95']:.0f} ms")
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


def register_search_commands(group: click.Group) -> None:
    for command in (search, eval_command):
        group.add_command(command)
