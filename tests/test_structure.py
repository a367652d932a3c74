"""Architecture rules that keep the layers honest."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_ingest_never_imports_app():
    offenders = [p.name for p in (REPO / "ingest").glob("*.py") if "app" in _imports(p)]
    assert offenders == []


def test_heavy_libraries_are_not_imported_at_module_level():
    heavy = {"torch", "sentence_transformers", "chromadb", "pypdf", "langchain", "gradio"}
    for package in ("ingest", "app"):
        for path in (REPO / package).glob("*.py"):
            top = {n.split(".")[0] for n in _top_level_imports(path)}
            assert not top & heavy, (path.name, top & heavy)


def _top_level_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names
