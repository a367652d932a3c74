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
