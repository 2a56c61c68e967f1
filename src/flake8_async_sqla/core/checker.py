"""Runs the enabled rules over one file's semantic model; the one entry point adapters call."""

from __future__ import annotations

import ast
import contextlib
import functools
import gc
from collections.abc import Collection, Iterable, Iterator

from flake8_async_sqla import PROJECT_URL
from flake8_async_sqla.core import names
from flake8_async_sqla.core.edits import SourceText
from flake8_async_sqla.core.model import SemanticModel
from flake8_async_sqla.core.resolver import module_path
from flake8_async_sqla.core.options import DEFAULT_OPTIONS, AnalysisOptions
from flake8_async_sqla.core.project import ProjectIndex
from flake8_async_sqla.core.roles import RolePolicy
from flake8_async_sqla.core import rule as rule_registry
from flake8_async_sqla.core.rule import Finding, Rule, all_rules

INTERNAL_ERROR = "ASQ000"
ISSUES_URL = f"{PROJECT_URL}/issues"

# A file that mentions none of these cannot hold a finding, so it costs a few substring searches (a quarter of
# what one regex of them all costs: it tries each at every character).
RELEVANT_WORDS = ("sqlalchemy", "sqlmodel", "fastapi", "starlette", "Session", "session", "Engine", "engine")


def is_relevant(source: str, options: AnalysisOptions = DEFAULT_OPTIONS) -> bool:
    if any(word in source for word in RELEVANT_WORDS):
        return True
    wrappers = {name.rpartition(".")[2] for option in AnalysisOptions.names() for name in getattr(options, option)}
    return any(name in source for name in wrappers)


def needs_tree(codes: Collection[str] | None, source: str, options: AnalysisOptions = DEFAULT_OPTIONS) -> bool:
    """Whether `check_tree` with `codes` may find anything in `source` (else it would return no finding)."""
    if codes is not None and not codes:
        return False
    if any(codes is None or code in codes for code in rule_registry.PROJECT_RULES):
        return True
    return is_relevant(source, options)


def codes_for_role(role: str, policy: RolePolicy, codes: Collection[str] | None = None) -> frozenset[str]:
    """The codes in `codes` (default: all) to report in a file of `role`: none where `policy` does not report
    the role, and only the rules that declare it."""
    if not policy.reports(role):
        return frozenset()
    return _codes_declaring(role, None if codes is None else frozenset(codes), tuple(rule_registry.PROJECT_RULES.values()))


@functools.lru_cache(maxsize=64)
def _codes_declaring(role: str, codes: frozenset[str] | None, project_rules: tuple[type[Rule], ...]) -> frozenset[str]:
    # `project_rules` only keys the cache: the answer changes with the project's rules.
    return frozenset(code for code, rule in all_rules().items() if (codes is None or code in codes) and role in rule.roles)


def check_tree(
    tree: ast.Module,
    path: str,
    source: str | None = None,
    codes: Collection[str] | None = None,
    index: ProjectIndex | None = None,
    fixes: bool = False,
) -> list[Finding]:
    """Findings of the rules in `codes` (default: all) for one parsed file, sorted by position; with `fixes`,
    each carries its fix's edits (which need `source`)."""
    if codes is not None and not codes:
        return []
    project_rules = [rule for code, rule in rule_registry.PROJECT_RULES.items() if codes is None or code in codes]
    if project_rules and source is not None:
        # Project rules match text, not database facts: every file is theirs, related to the database or not.
        from flake8_async_sqla.core.project_rules import find_all

        found = find_all(project_rules, tree, source, fixes)  # type: ignore[arg-type]
        return sorted(found + check_tree(tree, path, source, frozenset(codes or all_rules()) - set(rule_registry.PROJECT_RULES), index, fixes))
    if source is not None and not is_relevant(source, index.options if index is not None else DEFAULT_OPTIONS):
        return []
    if index is not None:
        index.refresh()
    with collector_paused():
        # What the file's code reads of the project while it is modelled and checked counts as its module's.
        with index.reading(path) if index is not None else contextlib.nullcontext():
            try:
                model = build_model(tree, path, index)
            except (RecursionError, MemoryError) as error:
                return [_internal_error("the semantic model", 1, error)]
            findings = check_model(model, codes, SourceText(source) if fixes and source is not None else None)
        if index is not None:
            try:
                index.release(path)
            except Exception as error:  # noqa: BLE001 - the findings stand; the index keeps the whole model
                findings.append(_internal_error("the project index", 1, error))
        return findings


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Analysing one file allocates many long-lived objects and frees few: collections during it
    rescan the project index's models for nothing (a fifth of the time), so they wait until after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build_model(tree: ast.Module, path: str, index: ProjectIndex | None = None) -> SemanticModel:
    """The file's model, registered with the index so other files see the same one; a model the
    index already built for this unchanged file (as another file's import) is reused."""
    existing = index.cached_model(path) if index is not None else None
    if existing is not None:
        return existing
    model = SemanticModel(tree, path, index=index)
    if index is not None:
        index.register(model)
    return model


def check_model(model: SemanticModel, codes: Collection[str] | None = None, source: SourceText | None = None) -> list[Finding]:
    """The findings of the rules in `codes`; with the file's `source`, each with its fix's edits."""
    if not may_concern_the_database(model):
        return []
    rules = [rule() for code, rule in all_rules().items() if (codes is None or code in codes) and code not in rule_registry.PROJECT_RULES]
    return sorted(_run(rules, model, source))


def may_concern_the_database(model: SemanticModel) -> bool:
    """Whether the file imports SQLAlchemy, SQLModel, FastAPI or Starlette, a configured wrapper's module, or
    a module of its own project (which may hand out sessions, engines and apps): the rules know those only
    by such names, so a file importing none of them (most of a standard library) cannot hold a finding."""
    index = model.index
    # A configured wrapper may be named by its trailing part only: any module but the stdlib may hold it.
    wrappers = any(getattr(model.options, option) for option in AnalysisOptions.names())
    for imported in model.imports.values():
        root = imported.partition(".")[0]
        if root in names.SQLALCHEMY_ROOTS or root in names.FASTAPI_ROOTS or not root:
            return True
        if root in names.EXTERNAL_ROOTS:
            continue
        if wrappers or index is None or module_path(index, imported, model.path) is not None:
            return True
    return False


def _run(rules: Iterable[Rule], model: SemanticModel, source: SourceText | None) -> Iterable[Finding]:
    for rule in rules:
        last_line = 1
        try:
            for found in rule.check(model):
                node = found.node
                last_line = getattr(node, "lineno", last_line)
                col = getattr(node, "col_offset", 0)
                if found.fix is not None and rule.fix is None:
                    raise TypeError(f"{rule.code} reports a fix but declares none")
                edits = tuple(found.fix(source) or ()) if source is not None and found.fix is not None else ()
                yield Finding(
                    last_line,
                    col,
                    rule.code,
                    rule.format(found.fields),
                    getattr(node, "end_lineno", None) or last_line,
                    getattr(node, "end_col_offset", None) or col,
                    _context(model, node),
                    found.fields,
                    edits,
                )
        except Exception as error:  # noqa: BLE001 - one rule's bug must not end the run
            yield _internal_error(rule.code, last_line, error)


def _context(model: SemanticModel, node: ast.AST) -> str:
    """The enclosing function or class, so a baseline entry survives edits elsewhere in the file."""
    for ancestor in (node, *model.ancestors(node)):
        scope = model.scope_of.get(ancestor)
        if scope is not None and scope.node is ancestor and scope.kind in ("function", "class"):
            return scope.qualname[len(model.module) + 1 :]
    return ""


def _internal_error(where: str, line: int, error: BaseException) -> Finding:
    message = (
        f"{INTERNAL_ERROR} internal error in {where}: {type(error).__name__}: {error}; "
        f"please report it at {ISSUES_URL}"
    )
    return Finding(line, 0, INTERNAL_ERROR, message)
