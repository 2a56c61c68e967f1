"""The core's layers (STYLE.md §11): syntax and names at the bottom, the framework and ORM facts and the per-file
model above them, the project index on top; a lower layer never imports a higher one at run time, no modules import
each other around a circle, and the model reaches the project only through the resolver interface, which the index
implements."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from flake8_async_sqla.core.project import ProjectIndex
from flake8_async_sqla.core.resolver import Resolver

CORE = Path(__file__).parent.parent / "src" / "flake8_async_sqla" / "core"
# Each layer with the modules in it, lowest first.
LAYERS = [
    {"syntax", "names", "options", "layout", "summaries", "resolver", "newer_syntax", "parsing", "roles", "edits", "project_text"},
    {"framework", "mapping", "urls", "manifests"},
    {"model", "sessions", "functions", "effects", "orm", "engines", "per_request"},
    {"project", "project_records", "project_questions", "module_facts"},
    {"checker", "rule", "project_rules"},
]


def runtime_imports(path: Path) -> set[str]:
    """The core modules a module imports when it runs (not those imported only for type checking)."""
    found: set[str] = set()
    pending: list[ast.stmt] = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "flake8_async_sqla.core":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("flake8_async_sqla.core."):
            found.add(node.module.split(".")[2])  # type: ignore[union-attr]
        pending.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt))
    return found


@pytest.mark.parametrize("layer", range(len(LAYERS)))
def test_no_layer_imports_a_higher_one(layer: int) -> None:
    higher = set().union(*LAYERS[layer + 1 :])
    for module in sorted(LAYERS[layer]):
        assert not runtime_imports(CORE / f"{module}.py") & higher, module


def test_no_core_modules_import_each_other_around_a_circle() -> None:
    """Within a layer too: the model's parts are its bases, and the effects' probes read the model only through the
    object they are handed."""
    imports = {module: runtime_imports(CORE / f"{module}.py") - {module} for module in set().union(*LAYERS)}
    finished: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        for imported in sorted(imports[module]):
            assert imported not in path, " -> ".join([*path[path.index(imported):], imported])
            if imported not in finished:
                visit(imported, [*path, imported])
        finished.add(module)

    for module in sorted(imports):
        visit(module, [module])


def test_every_core_module_has_its_layer() -> None:
    assert {path.stem for path in CORE.glob("*.py")} - {"__init__"} == set().union(*LAYERS)


def test_the_project_index_implements_the_resolver_interface() -> None:
    members = [name for name, value in vars(Resolver).items() if callable(value) and not name.startswith("_")]
    for name in members:
        declared = inspect.signature(getattr(Resolver, name))
        implemented = inspect.signature(getattr(ProjectIndex, name))
        assert list(declared.parameters) == list(implemented.parameters), name
    index = ProjectIndex()
    assert all(hasattr(index, attribute) for attribute in Resolver.__annotations__)
