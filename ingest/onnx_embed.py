"""The embedding model run by ONNX Runtime instead of torch: exported once per machine from the
sentence-transformers folder, optionally with int8 weights (dynamic quantisation: int8 matrix
products on VNNI CPUs). The same tokenizer, truncation (the model's max_seq_length), mean pooling
and L2 normalisation as the model's own modules; measured against torch in
docs/BENCHMARKS.md (issue 17).

The export needs the `onnx` package (a dependency) and torch. It is derived from the installed
weights alone, so it is cached per user (``export_dir``: ~/.cache/localrag/embeddings), keyed by
the weights' hash: it runs once per model and machine (about 20 s), whatever the data directory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def export_dir() -> Path:
    """Where exported models are kept: $XDG_CACHE_HOME/localrag/embeddings (~/.cache/...)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "localrag" / "embeddings"


def weights_digest(model_dir: Path) -> str:
    """sha256 of the model's weight files (what the export is made of), 16 hex digits."""
    digest = hashlib.sha256()
    for path in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin")):
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def exported_model(model_dir: Path, cache_dir: Path, quantized: bool) -> Path:
    """The ONNX file of ``model_dir`` (int8 when ``quantized``), exported on first use."""
    name = f"{model_dir.name}-{weights_digest(model_dir)}{'-int8' if quantized else ''}.onnx"
    target = cache_dir / name
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Written under a temporary name and renamed: a second process exporting at the same time
    # (ingest and serve) never reads half a file.
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".export-") as work:
        fp32 = Path(work) / "model.onnx"
        _export(model_dir, fp32)
        if quantized:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            int8 = Path(work) / "model-int8.onnx"
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
            fp32 = int8
        os.replace(fp32, target)
    log.info("exported the embedding model to %s", target)
    return target


def _export(model_dir: Path, target: Path) -> None:
    try:
        import onnx  # noqa: F401  (torch.onnx.export writes through it)
    except ImportError as err:
        from ingest.errors import LocalragError

        raise LocalragError("the onnx embedding path needs the onnx package: pip install onnx "
                            "(or set LOCALRAG_EMBEDDING_PATH=torch)") from err
    import warnings

    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    transformer = AutoModel.from_pretrained(str(model_dir)).eval()

    class LastHidden(torch.nn.Module):
        """Named inputs: the model's positional argument order changes between versions."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    sample = tokenizer(["a sample", "another, longer sample text"], padding=True,
                       return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")}
    # The tracer warns about shape checks that are constant for an encoder (no causal mask, no
    # cache); the exported graph is checked against torch's vectors (tests/test_ingest.py).
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(LastHidden(), tuple(sample[name] for name in INPUTS), str(target),
                          input_names=list(INPUTS), output_names=["last_hidden_state"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)


class OnnxEncoder:
    """Texts to normalised float32 vectors with an exported model."""

    def __init__(self, model_dir: Path, cache_dir: Path, quantized: bool) -> None:
        import onnxruntime
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        config = json.loads((model_dir / "sentence_bert_config.json").read_text()) \
            if (model_dir / "sentence_bert_config.json").is_file() else {}
        self.max_seq_length = int(config.get("max_seq_length", 256))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        # Idle threads sleep instead of spinning: ingest parses in another process at the same
        # time, and spinning threads took the core it needed (as llama.cpp's OpenMP threads do).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            str(exported_model(model_dir, cache_dir, quantized)), options,
            providers=["CPUExecutionProvider"])
        self.dimension = int(self.encode(["dimension"], 1).shape[1])

    def encode(self, texts: list[str], batch_size: int) -> Any:
        import numpy

        # Longest first, as sentence-transformers does: batches of similar length pad little.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out: Any = None
        for start in range(0, len(order), batch_size):
            ids = order[start:start + batch_size]
            batch = self.tokenizer([texts[i] for i in ids], padding=True, truncation=True,
                                   max_length=self.max_seq_length, return_tensors="np")
            feed = {name: batch[name].astype("int64") for name in INPUTS}
            hidden = self.session.run(None, feed)[0]
            mask = batch["attention_mask"][..., None].astype("float32")
            pooled = (hidden * mask).sum(axis=1) / numpy.maximum(mask.sum(axis=1), 1e-9)
            if out is None:
                out = numpy.zeros((len(texts), pooled.shape[1]), dtype="float32")
            out[ids] = pooled
        return out
