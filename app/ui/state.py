"""What every browser session shares (the library and the answering chain), and the Settings
tab's saved values."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.answer.chain import RagChain
from app.owner.library import Library
from app.ui.chats import ChatStore
from app.ui.render import banner, status_markdown
from ingest.errors import LocalragError
from ingest.settings import Settings

log = logging.getLogger(__name__)
UI_SETTINGS = ("llm_backend", "gguf", "ollama_model", "top_k", "temperature")


@dataclass
class AppState:
    """What all browser sessions share: the library (index owner) and the answering chain."""

    settings: Settings
    library: Library
    chain: RagChain | None = None
    llm_problem: str = ""
    chats: ChatStore = field(init=False)
    _llm_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.chats = ChatStore(self.settings.chats_path)

    def open_chain(self, on_status: Any = lambda _: None) -> None:
        from app.components import open_chain

        with self._llm_lock:
            try:
                # Searches go through the library: the owner's own client sees its writes.
                self.chain = open_chain(self.settings, on_status, retriever=self.library)
            except LocalragError as err:
                self.chain, self.llm_problem = None, str(err)
                log.warning("LLM not available: %s", err)
                return
            self.llm_problem = ""

    def gpu_line(self) -> str:
        if self.chain is None:
            return "-"
        details = self.chain.llm.details
        if "gpu_offload_supported" in details:
            if not details["gpu_offload_supported"]:
                return "CPU only (llama.cpp built without GPU support)"
            return f"{details.get('gpu_layers', 0)} layers offloaded"
        return f"num_gpu {details.get('num_gpu')}"

    def status_text(self, last_context: str = "") -> str:
        llm = self.chain.llm if self.chain else None
        return status_markdown(llm.name if llm else "none", Path(llm.model).name if llm else "-",
                               self.gpu_line(), self.library.document_count(),
                               self.library.chunk_total(), last_context)

    def banner_text(self) -> str:
        return banner(self.llm_problem, self.library.document_count())


def load_ui_settings(settings: Settings) -> Settings:
    """Apply what the Settings tab saved last time."""
    path = settings.ui_settings_path
    if not path.exists():
        return settings
    try:
        saved = {k: v for k, v in json.loads(path.read_text()).items() if k in UI_SETTINGS}
        return Settings(**{**settings.model_dump(), **saved})
    except (ValueError, TypeError) as err:
        log.warning("ignoring %s: %s", path, err)
        return settings


def save_ui_settings(settings: Settings) -> None:
    values = {k: getattr(settings, k) for k in UI_SETTINGS}
    settings.ui_settings_path.parent.mkdir(parents=True, exist_ok=True)
    settings.ui_settings_path.write_text(json.dumps(values, indent=1))
