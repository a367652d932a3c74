"""Architecture rules that keep the layers honest.

Inside ``app`` imports run downward only:
cli -> ui, api -> owner -> components -> answer, eval -> retrieval, llm -> ingest.
A module may import its own package freely, a package on a lower floor, and never one on its own
floor or above. ``ingest`` never imports ``app``.
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Floor of each top-level part of app (a package or a module); higher floors import lower ones.
FLOORS = {
    "app.cli": 6,
    "app.ui": 5,
    "app.api": 5,
    "app.owner": 4,
    "app.components": 3,
    "app.answer": 2,
    "app.eval": 2,
    "app.retrieval": 1,
    "app.highlight": 1,
    "app.llm": 1,
    "app.offline": 0,
    "ingest": -1,
}
MAX_LINES = 400
LONG_MODULE_NOTE = "Over 400 lines because"


def _python_files(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def _module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported_modules(path: Path) -> set[str]:
    """Every absolute import in the file, at module level or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _part(module: str) -> str | None:
    """The FLOORS key a module belongs to (its package, or the module itself)."""
    for key in sorted(FLOORS, key=len, reverse=True):
        if module == key or module.startswith(key + "."):
            return key
    return None


def layering_violations(files: list[Path], root: Path = REPO) -> list[str]:
    """``importer -> imported`` for each import of a part on the importer's floor or above."""
    found = []
    for path in files:
        source = _part(_module_name(path, root))
        if source is None:
            continue
        for module in sorted(_imported_modules(path)):
            target = _part(module)
            if target is None or target == source:
                continue
            if FLOORS[target] >= FLOORS[source]:
                found.append(f"{_module_name(path, root)} -> {module}")
    return found


def test_every_part_of_app_has_a_floor():
    parts = {".".join(_module_name(p).split(".")[:2])
             for p in _python_files("app") if _module_name(p) != "app"}
    assert sorted(p for p in parts if _part(p) is None) == []


def test_app_imports_run_downward_only():
    assert layering_violations(_python_files("app") + _python_files("ingest")) == []


@pytest.mark.parametrize(("importer", "line"), [
    ("app/answer/chain.py", "from app.components import open_chain"),   # up a floor
    ("app/answer/chain.py", "from app.eval.metrics import token_f1"),   # same floor
    ("app/llm/backends.py", "import app.retrieval"),
    ("app/owner/library.py", "from app.ui import state"),
    ("ingest/store.py", "from app.retrieval import Retriever"),         # ingest never imports app
])
def test_an_import_against_the_direction_is_caught(tmp_path, importer, line):
    fake = tmp_path / importer
    fake.parent.mkdir(parents=True)
    fake.write_text(f"def f():\n    {line}\n")
    assert layering_violations([fake], root=tmp_path) != []


def test_an_import_down_the_floors_is_allowed(tmp_path):
    fake = tmp_path / "app/ui/chat_page.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("from app.answer.chain import RagChain\nfrom app.ui.render import banner\n"
                    "from ingest.errors import LocalragError\nimport gradio\n")
    assert layering_violations([fake], root=tmp_path) == []


def test_ingest_never_imports_app():
    offenders = [str(p.relative_to(REPO)) for p in _python_files("ingest")
                 if any(m.split(".")[0] == "app" for m in _imported_modules(p))]
    assert offenders == []


def test_each_package_says_what_it_owns_and_may_import():
    for init in (REPO / "app").rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "import" in doc, f"{init.relative_to(REPO)} needs a docstring: what it owns and imports"


def test_long_modules_say_why():
    for package in ("app", "ingest"):
        for path in _python_files(package):
            text = path.read_text()
            if text.count("\n") > MAX_LINES:
                doc = ast.get_docstring(ast.parse(text)) or ""
                assert LONG_MODULE_NOTE in doc, f"{path.relative_to(REPO)}: split it or say why"


def test_heavy_libraries_are_not_imported_at_module_level():
    heavy = {"torch", "sentence_transformers", "chromadb", "pypdf", "langchain", "gradio"}
    for package in ("ingest", "app"):
        for path in _python_files(package):
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
