"""Properties that hold for any program: determinism, findings move with the code, renames change nothing."""

from __future__ import annotations

import ast
import keyword

from hypothesis import given, settings
from hypothesis import strategies as st

from flake8_async_sqla.core.checker import check_tree
from flake8_async_sqla.core.sessions import UNANNOTATED_SESSION_NAMES
from flake8_async_sqla.core.parsing import parse
from flake8_async_sqla.core.project import ProjectIndex
from flake8_async_sqla.core.rule import all_rules

from harness import FIXTURES, expected

PROGRAMS = [snippet for rule in all_rules().values() for snippet in rule.invalid + rule.valid] + [
    path.read_text(encoding="utf-8") for path in sorted(FIXTURES.glob("*.py"))
]


def positions(source: str) -> list[tuple[int, int, str]]:
    findings = check_tree(ast.parse(source), "/virtual/program.py", source, index=ProjectIndex())
    return [(f.line, f.col, f.code) for f in findings]


def local_names(tree: ast.Module) -> list[str]:
    """Parameters and names assigned inside functions: renaming them consistently keeps the meaning.

    Names a `global`/`nonlocal` statement shares with another scope are left out: renaming
    them in one function only would change what the program means.
    """
    found: set[str] = set()
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.update(a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg))
            found.update(
                n.id for n in ast.walk(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
            )
    shared = {name for n in ast.walk(tree) if isinstance(n, (ast.Global, ast.Nonlocal)) for name in n.names}
    # A parameter some call passes by keyword (`record_audit(..., db=db)`) is part of its function's
    # interface: renaming it without the keyword would break the call.
    keywords = {k.arg for k in ast.walk(tree) if isinstance(k, ast.keyword) and k.arg}
    # An unannotated `session` parameter is known by its name alone (UNANNOTATED_SESSION_NAMES): by design.
    named = UNANNOTATED_SESSION_NAMES | {"self", "cls"}
    return sorted(found - shared - keywords - names_bound_outside_functions(tree) - named)


def names_bound_outside_functions(tree: ast.Module) -> set[str]:
    """Names a module or class body binds (`name: Mapped[str]` in a model, `db = SessionLocal()`): the
    renaming reaches every `Name`, so renaming one of these would rename a column or a global too."""
    found: set[str] = set()
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                found.add(child.id)
            pending.append(child)
    return found


class Rename(ast.NodeTransformer):
    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if node.id == self.old:
            node.id = self.new
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        self.generic_visit(node)
        if node.arg == self.old:
            node.arg = self.new
        return node


identifiers = st.from_regex(r"[a-z][a-z0-9_]{2,12}", fullmatch=True).filter(lambda s: not keyword.iskeyword(s))


@settings(max_examples=60, deadline=None)
@given(program=st.sampled_from(PROGRAMS), padding=st.lists(st.sampled_from(["", "# a comment", "   "]), max_size=8))
def test_findings_move_with_inserted_lines(program: str, padding: list[str]) -> None:
    before = positions(program)
    shifted = "".join(line + "\n" for line in padding) + program
    assert positions(shifted) == [(line + len(padding), col, code) for line, col, code in before]


@settings(max_examples=80, deadline=None)
@given(program=st.sampled_from(PROGRAMS), data=st.data(), new_name=identifiers)
def test_consistent_rename_of_a_local_keeps_the_reported_lines(program: str, data, new_name: str) -> None:
    tree = ast.parse(program)
    candidates = local_names(tree)
    if not candidates or new_name in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | set(candidates):
        return
    old = data.draw(st.sampled_from(candidates))
    normal = ast.unparse(tree)
    renamed = ast.unparse(Rename(old, new_name).visit(ast.parse(normal)))
    keep = [(line, code) for line, _, code in positions(normal)]
    assert [(line, code) for line, _, code in positions(renamed)] == keep


@settings(max_examples=30, deadline=None)
@given(program=st.sampled_from(PROGRAMS))
def test_runs_are_deterministic(program: str) -> None:
    assert positions(program) == positions(program)


PACKAGES = sorted(path for path in FIXTURES.iterdir() if path.is_dir() and not path.name.startswith((".", "__")))


def package_findings(files: list) -> set[tuple[str, int, str]]:
    index = ProjectIndex()
    found = set()
    for path in files:
        source = path.read_text(encoding="utf-8")
        found.update((str(path), f.line, f.code) for f in check_tree(parse(source, str(path)), str(path), source, index=index))
    return found


@settings(max_examples=25, deadline=None)
@given(package=st.sampled_from(PACKAGES), data=st.data())
def test_findings_do_not_depend_on_the_order_files_are_checked_in(package, data) -> None:
    files = sorted(package.rglob("*.py"))
    shuffled = data.draw(st.permutations(files))
    assert package_findings(shuffled) == package_findings(files)


CYCLE = FIXTURES / "cycle_pkg"


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_effects_solved_over_a_cycle_across_modules_do_not_depend_on_the_order_files_are_checked_in(data) -> None:
    """Functions that call each other across modules (`walk.visit` -> `expand.expand` -> `walk.visit`, the query in a
    third module) get the same effects whichever end of the cycle a checked module asks about first: `api` asks
    `walk.visit`, `api_nodes` asks `expand.expand` (dropping a recursive ask found nothing for half of the orders)."""
    files = sorted(CYCLE.rglob("*.py"))
    shuffled = data.draw(st.permutations(files))
    assert package_findings(shuffled) == package_findings(files) == expected(files)
