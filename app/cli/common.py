"""Helpers shared by the command modules."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def settings_of(ctx: click.Context) -> Any:
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


def report_repair(report: Any) -> None:
    """What the start-up repair of an interrupted run did, one line each, on stderr."""
    if report.counted_terms:
        click.echo("updated: the keyword index now keeps how many passages hold each word "
                   "(counted once; searches of large libraries no longer count them)", err=True)
    if report.empty:
        return
    for name in report.removed_incomplete:
        click.echo(f"repaired: removed half-indexed {name} (an earlier run was interrupted)", err=True)
    if report.removed_orphan_chunks:
        click.echo(f"repaired: removed {report.removed_orphan_chunks} orphaned chunks", err=True)
    if report.rebuilt_lexical and report.new_context:
        click.echo(f"updated: the keyword index of {len(report.rebuilt_lexical)} documents now "
                   "knows their page headings, statements and filing periods (nothing embedded "
                   "again; `localrag reindex` also cuts their tables between rows)", err=True)
    elif report.rebuilt_lexical:
        click.echo(f"repaired: rebuilt the keyword index of {len(report.rebuilt_lexical)} documents",
                   err=True)
    for name in report.dropped_damaged:
        click.echo(f"repaired: {name} had missing vectors; ingest it again", err=True)
