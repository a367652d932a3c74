"""Files uploaded through the UI: checked by content, size-limited, saved under safe names."""

from __future__ import annotations

import hashlib
import re
import shutil
import unicodedata
from pathlib import Path

from ingest.errors import LocalragError

MAX_NAME = 120


def sha256_of(path: Path) -> str:
    """The file's checksum, read in blocks so a large upload never sits in memory at once."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class UploadRejected(LocalragError):
    """An upload that is not stored (not a PDF, too large)."""


def safe_name(name: str) -> str:
    """A file name with no directory parts, control characters or leading dots; keeps unicode
    letters so a user recognises the file; always ends in .pdf."""
    name = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    name = re.sub(r"[\x00-\x1f\x7f<>:\"|?*]", "_", name).strip().lstrip(".")
    stem = re.sub(r"\.pdf$", "", name, flags=re.I).strip() or "document"
    return stem[:MAX_NAME] + ".pdf"


def store_upload(temp_file: Path, original_name: str, uploads_dir: Path, max_bytes: int) -> Path:
    """Copy an upload into ``uploads_dir``. The same content under the same name is reused;
    another document with the same name gets a numbered name, never overwritten."""
    size = temp_file.stat().st_size
    if size > max_bytes:
        raise UploadRejected(f"{original_name}: {size / 1e6:,.1f} MB is over the upload limit of "
                             f"{max_bytes / 1e6:,.0f} MB")
    with temp_file.open("rb") as handle:
        if not handle.read(1024).lstrip().startswith(b"%PDF-"):
            raise UploadRejected(f"{original_name}: not a PDF (its content does not start with %PDF-)")
    uploads_dir.mkdir(parents=True, exist_ok=True)
    name = safe_name(original_name)
    target = uploads_dir / name
    number = 1
    while target.exists():
        if target.stat().st_size == size and sha256_of(target) == sha256_of(temp_file):
            return target
        number += 1
        target = uploads_dir / f"{name[:-4]} ({number}).pdf"
    partial = target.with_name(f".{target.name}.part")
    shutil.copyfile(temp_file, partial)
    partial.replace(target)
    return target
