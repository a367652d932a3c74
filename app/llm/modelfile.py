"""Ollama Modelfiles: parsed here so the embedded backend runs with the same parameters and system
prompt that Ollama would. One file configures a model wherever it runs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ingest.errors import LocalragError

# Ollama's documented PARAMETER names and their value types.
PARAMETER_TYPES: dict[str, type] = {
    "num_ctx": int,
    "num_gpu": int,
    "num_thread": int,
    "num_predict": int,
    "num_batch": int,
    "repeat_last_n": int,
    "repeat_penalty": float,
    "temperature": float,
    "seed": int,
    "stop": str,
    "top_k": int,
    "top_p": float,
    "min_p": float,
    "mirostat": int,
    "mirostat_eta": float,
    "mirostat_tau": float,
    "tfs_z": float,
}
INSTRUCTIONS = {"FROM", "PARAMETER", "TEMPLATE", "SYSTEM", "ADAPTER", "LICENSE", "MESSAGE"}


class ModelfileError(LocalragError):
    """A Modelfile that Ollama would refuse."""


@dataclass
class Modelfile:
    path: Path | None
    base: str
    parameters: dict[str, int | float] = field(default_factory=dict)
    stop: list[str] = field(default_factory=list)
    system: str = ""
    template: str = ""

    def int_parameter(self, name: str, default: int) -> int:
        return int(self.parameters.get(name, default))

    def float_parameter(self, name: str, default: float) -> float:
        return float(self.parameters.get(name, default))

    def base_path(self) -> Path | None:
        """FROM as a local file (relative paths resolve against the Modelfile's folder, as in
        Ollama); None when FROM names a library model such as ``llama3.2:3b``."""
        if not re.search(r"\.gguf$|^[./~]|/", self.base):
            return None
        path = Path(self.base).expanduser()
        if not path.is_absolute() and self.path is not None:
            path = self.path.parent / path
        return path


def _value(raw: str) -> str:
    raw = raw.strip()
    if raw.startswith('"""'):
        return raw[3:-3] if raw.endswith('"""') and len(raw) >= 6 else raw[3:]
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1]
    return raw


def _statements(text: str) -> list[tuple[int, str, str]]:
    """(line number, INSTRUCTION, argument) with triple-quoted arguments spanning lines."""
    statements = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        number = i + 1
        i += 1
        if not line or line.startswith("#"):
            continue
        instruction, _, argument = line.partition(" ")
        argument = argument.strip()
        if argument.startswith('"""') and not (len(argument) >= 6 and argument.endswith('"""')):
            parts = [argument]
            while i < len(lines):
                parts.append(lines[i])
                i += 1
                if lines[i - 1].rstrip().endswith('"""'):
                    break
            else:
                raise ModelfileError(f"line {number}: unterminated \"\"\" block")
            argument = "\n".join(parts).rstrip()
        statements.append((number, instruction.upper(), argument))
    return statements


def parse_modelfile(text: str, path: Path | None = None) -> Modelfile:
    """Parse a Modelfile, refusing what Ollama would refuse (unknown instruction or parameter,
    a value of the wrong type, no FROM)."""
    base = None
    result = Modelfile(path, "")
    for number, instruction, argument in _statements(text):
        if instruction not in INSTRUCTIONS:
            raise ModelfileError(f"line {number}: unknown instruction {instruction}")
        if instruction == "FROM":
            base = _value(argument)
        elif instruction == "PARAMETER":
            name, _, raw = argument.partition(" ")
            kind = PARAMETER_TYPES.get(name)
            if kind is None:
                raise ModelfileError(
                    f"line {number}: unknown parameter {name!r} (known: {', '.join(PARAMETER_TYPES)})"
                )
            value = _value(raw)
            if kind is str:
                result.stop.append(value)
                continue
            try:
                result.parameters[name] = kind(value)
            except ValueError:
                raise ModelfileError(
                    f"line {number}: {name} needs a {kind.__name__}, got {value!r}"
                ) from None
        elif instruction == "SYSTEM":
            result.system = _value(argument).strip()
        elif instruction == "TEMPLATE":
            result.template = _value(argument)
    if not base:
        raise ModelfileError("no FROM line")
    result.base = base
    return result


def read_modelfile(path: Path) -> Modelfile:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelfileError(f"Modelfile not found: {path}") from None
    try:
        return parse_modelfile(text, path)
    except ModelfileError as err:
        raise ModelfileError(f"{path}: {err}") from None
