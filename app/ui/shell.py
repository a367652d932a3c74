"""The parts of the page every tab updates: the warning banner and the status line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Shell:
    """Gradio components shared by the pages (created once, passed to each page)."""

    banner: Any
    status: Any
