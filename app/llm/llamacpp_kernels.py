"""How llama.cpp runs on this CPU: its OpenMP threads, and whether it repacks the weights.

Repacked weights (llama.cpp's "extra buffer types") generate faster but read the prompt slower
here, so they are off unless ``llm_repack`` asks for them; a build with AMX kernels never uses
them, because those crash on some Xeons (docs/BENCHMARKS.md "Weight repacking").
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from ingest.settings import Settings


def llama_cpp_env(threads: int) -> None:
    """Before llama_cpp is imported: OpenMP workers that spin while waiting make latency swing
    3-10x when anything else runs on these 2 cores."""
    if threads > 1:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def has_amx_kernels(llama_cpp) -> bool:
    """Whether this llama.cpp build repacks weights for AMX. Its AMX matrix multiply crashes the
    process on some Xeons (llama.cpp #20824, no fix upstream; every answer here segfaulted on a
    Sapphire Rapids-class CPU), so `make setup` builds llama.cpp without it."""
    return b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info()


def repacking(settings: Settings, llama_cpp) -> str:
    """Whether the weights are repacked ("on"), and if not why not."""
    if not settings.llm_repack:
        return "off"
    if has_amx_kernels(llama_cpp):
        return ("off: this llama.cpp build has AMX kernels, which crash on some CPUs; "
                "`make setup-llama` rebuilds it without them")
    return "on"


@contextmanager
def without_extra_buffers(llama_cpp) -> Iterator[None]:
    """Load a model with llama.cpp's extra buffer types (AMX, CPU repacking) off.
    llama-cpp-python exposes no argument for it, so its default model parameters are patched
    while the model loads."""
    low_level = llama_cpp.llama_cpp
    defaults = low_level.llama_model_default_params

    def no_extra_buffers():
        params = defaults()
        params.use_extra_bufts = False
        return params

    low_level.llama_model_default_params = no_extra_buffers
    try:
        yield
    finally:
        low_level.llama_model_default_params = defaults
