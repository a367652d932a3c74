"""Creating an Ollama model from one of the project's Modelfiles, through Ollama's API."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from app.llm.modelfile import Modelfile

log = logging.getLogger(__name__)


def create_request(modelfile: Modelfile) -> dict[str, Any]:
    """The /api/create fields for ``modelfile`` (without the blob upload of a local FROM)."""
    parameters: dict[str, Any] = dict(modelfile.parameters)
    if modelfile.stop:
        parameters["stop"] = list(modelfile.stop)
    request: dict[str, Any] = {"parameters": parameters}
    if modelfile.system:
        request["system"] = modelfile.system
    if modelfile.template:
        request["template"] = modelfile.template
    return request


def create_model(url: str, name: str, modelfile: Modelfile,
                 on_status: Callable[[str], None] = lambda _: None) -> tuple[bool, str]:
    """(created, message). An unreachable Ollama is not an error here: the caller prints the
    ``ollama create`` command to run where Ollama is."""
    import ollama

    from app.llm.backends import ensure_gguf

    client = ollama.Client(host=url, timeout=600)
    try:
        client.list()
    except Exception as err:
        return False, (f"Ollama is not reachable at {url} ({type(err).__name__}); "
                       "where Ollama runs, create the model with:")
    request = create_request(modelfile)
    local = modelfile.base_path()
    if local is not None:
        path = ensure_gguf(local, on_status)
        on_status(f"uploading {path.name} to Ollama ...")
        request["files"] = {path.name: client.create_blob(path)}
    else:
        request["from_"] = modelfile.base
    client.create(model=name, stream=False, **request)
    return True, f"created {name} in Ollama at {url}"
