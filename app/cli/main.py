"""The ``localrag`` command group: settings and logging for every command, then the commands."""

from __future__ import annotations

import logging
import sys

import click

from app.cli.library_commands import register_library_commands
from app.cli.llm_commands import register_llm_commands
from app.cli.search_commands import register_search_commands
from app.cli.serve import register_serve_commands
from app.cli.watch import register_watch_commands
from app.offline import apply_offline_env


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


def main() -> None:
    cli(obj={})


register_library_commands(cli)
register_search_commands(cli)
register_llm_commands(cli)
register_watch_commands(cli)
register_serve_commands(cli)
