"""`make setup-gpu` (run by `make start` and `make test`): llama.cpp is rebuilt with CUDA only
where an NVIDIA GPU answers and the CUDA toolkit is installed, once. No GPU can exist on these
machines, so `nvidia-smi`, `nvcc` and the venv's python/pip are stand-ins on PATH at the command
level; the Makefile's own recipe runs unchanged through the real `make` and `sh`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shim(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


@pytest.fixture
def machine(tmp_path):
    """A venv whose pip records what it is asked, and a folder for the GPU tools."""
    venv, tools = tmp_path / "venv", tmp_path / "tools"
    (venv / "bin").mkdir(parents=True)
    tools.mkdir()
    log = tmp_path / "pip.log"
    # python: "does llama.cpp offload?" answers from OFFLOADS; the version question 0.3.36.
    shim(venv / "bin" / "python", 'case "$*" in *supports_gpu_offload*) [ "$OFFLOADS" = 1 ];;'
         ' *version*) echo 0.3.36;; esac\n')
    shim(venv / "bin" / "pip", f'echo "CMAKE_ARGS=$CMAKE_ARGS PATH=$PATH ARGS=$*" >> {log}\n')

    def run(gpu: bool, nvcc: bool, offloads: bool = False) -> tuple[str, str]:
        for name in ("nvidia-smi", "nvcc"):
            (tools / name).unlink(missing_ok=True)
        if gpu:
            shim(tools / "nvidia-smi", 'echo "GPU 0: NVIDIA H200"\n')
        if nvcc:
            shim(tools / "nvcc", "exit 0\n")
        env = {"PATH": f"{tools}:/usr/bin:/bin", "OFFLOADS": "1" if offloads else "0",
               "HOME": os.environ.get("HOME", "/tmp")}
        done = subprocess.run([shutil.which("make") or "make", "--no-print-directory", "-C",
                               str(REPO), "setup-gpu", f"VENV={venv}",
                               f"CUDA_HOME={tools / 'no-cuda'}"], env=env,
                              capture_output=True, text=True, timeout=60, check=True)
        return done.stdout, log.read_text() if log.exists() else ""

    return run


def test_a_gpu_with_the_toolkit_rebuilds_llama_cpp_with_cuda_from_source(machine):
    out, pip = machine(gpu=True, nvcc=True)
    assert "building llama.cpp 0.3.36 with CUDA" in out
    assert "CMAKE_ARGS=-DGGML_CUDA=on" in pip
    assert "--no-binary llama-cpp-python" in pip and "llama-cpp-python==0.3.36" in pip
    assert "/tools:" in pip.split("PATH=")[1]  # nvcc's folder is on the build's PATH


def test_the_toolkit_in_its_usual_place_off_path_is_found(machine, tmp_path):
    cuda = tmp_path / "cuda"
    (cuda / "bin").mkdir(parents=True)
    shim(cuda / "bin" / "nvcc", "exit 0\n")
    shim(tmp_path / "tools" / "nvidia-smi", 'echo "GPU 0"\n')
    done = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "setup-gpu",
                           f"VENV={tmp_path / 'venv'}", f"CUDA_HOME={cuda}"],
                          env={"PATH": f"{tmp_path / 'tools'}:/usr/bin:/bin", "OFFLOADS": "0"},
                          capture_output=True, text=True, timeout=60, check=True)
    assert "building llama.cpp" in done.stdout
    assert f"PATH={cuda}/bin:" in (tmp_path / "pip.log").read_text()


def test_a_cuda_build_is_left_alone(machine):
    out, pip = machine(gpu=True, nvcc=True, offloads=True)
    assert "already offloads" in out and pip == ""


@pytest.mark.parametrize("gpu, nvcc", [(False, False), (False, True), (True, False)])
def test_without_a_gpu_or_the_toolkit_nothing_changes(machine, gpu, nvcc):
    out, pip = machine(gpu=gpu, nvcc=nvcc)
    assert out == "" and pip == ""


def test_a_gpu_whose_driver_does_not_answer_changes_nothing(machine, tmp_path):
    machine(gpu=False, nvcc=True)
    shim(tmp_path / "tools" / "nvidia-smi", "exit 9\n")  # installed, no driver loaded
    env_path = f"{tmp_path / 'tools'}:/usr/bin:/bin"
    done = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "setup-gpu",
                           f"VENV={tmp_path / 'venv'}", f"CUDA_HOME={tmp_path / 'no-cuda'}"],
                          env={"PATH": env_path},
                          capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout == "" and not (tmp_path / "pip.log").exists()
