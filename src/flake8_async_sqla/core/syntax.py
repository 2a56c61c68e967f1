"""Syntax alone: what a node says without any name resolved, and the functions a scope defines. The lowest
layer of the core: the semantic model, the framework facts and the rules build on it."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from flake8_async_sqla.core.model import Scope

FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef)
LOOP_NODES = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
WITH_NODES = (ast.With, ast.AsyncWith)
TRY_NODES = (ast.Try, getattr(ast, "TryStar", ast.Try))  # `try: ... except*` is Python 3.11+
# A memo has no entry for the key yet (None is an answer: `qualname` of a node that names nothing).
UNRESOLVED = object()
COLLECTION_TYPES = {"list", "List", "set", "Set", "Sequence", "Collection", "MutableSequence", "MutableSet"}


def dotted(node: ast.AST) -> list[str] | None:
    """`a.b.c` as ["a", "b", "c"]; None for anything but names and attributes."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    parts.reverse()
    return parts


def literal_str(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bool)) or (
        isinstance(node, ast.Constant) and node.value is None
    ):
        return str(node.value)
    return None


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def call_method(node: ast.AST) -> tuple[ast.expr, str] | None:
    """For `recv.meth(...)`, (recv, "meth")."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.value, node.func.attr
    return None


def expire_on_commit_setting(call: ast.Call) -> bool | None:
    """Whether sessions a factory (or session) call makes expire their objects on commit: True, the
    default, unless `expire_on_commit=` says otherwise; None when computed or maybe in `**options`."""
    for kw in call.keywords:
        if kw.arg is None:
            return None
        if kw.arg == "expire_on_commit":
            return kw.value.value if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, bool) else None
    return True


def engine_url(call: ast.Call) -> ast.expr | None:
    """The URL argument of `create_engine(url, ...)` / `create_async_engine(url, ...)`."""
    return call.args[0] if call.args else keyword(call, "url")


def assigned_names(assign: ast.AST) -> list[str]:
    """The plain names an assignment binds (`a = ...`, `a, b = ...`, `a: T = ...`, `a := ...`, `a += ...`)."""
    if isinstance(assign, ast.Assign):
        targets = assign.targets
    elif isinstance(assign, (ast.AnnAssign, ast.NamedExpr, ast.AugAssign)):
        targets = [assign.target]
    else:
        return []
    result = []
    for target in targets:
        if isinstance(target, ast.Name):
            result.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            result.extend(e.id for e in target.elts if isinstance(e, ast.Name))
    return result


def all_args(node: ast.AST) -> list[ast.arg]:
    """Every parameter of a function or lambda: positional-only, positional, keyword-only, `*args`, `**kwargs`."""
    args = node.args  # type: ignore[attr-defined]
    result = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    if args.vararg:
        result.append(args.vararg)
    if args.kwarg:
        result.append(args.kwarg)
    return result


def statements_in(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every statement of a block, nested blocks and handlers included, bodies of functions and classes defined there excluded."""
    pending: list[ast.AST] = list(body)
    while pending:
        node = pending.pop()
        yield node
        if not isinstance(node, (*FUNCTION_NODES, ast.ClassDef)):
            pending.extend(c for c in ast.iter_child_nodes(node) if isinstance(c, (ast.stmt, ast.ExceptHandler, ast.match_case)))


def statement_blocks(node: ast.AST | None) -> list[list[ast.stmt]]:
    """The statement lists of a compound statement: its body, `else` and `finally` blocks."""
    return [getattr(node, field) for field in ("body", "orelse", "finalbody") if isinstance(getattr(node, field, None), list)]


def nested_def(scope: Scope, name: str) -> ast.AST | None:
    """The function (or method) named `name` defined directly in `scope`, if any."""
    for child in scope.children:
        if child.name == name and child.kind == "function":
            return child.node
    return None


def self_attribute_stored(target: ast.AST | None) -> str | None:
    """The attribute a store into `target` keeps a value in: `x` for `self.x`, `x[...]` for `self.x[key]`."""
    container = target.value if isinstance(target, ast.Subscript) else target
    if isinstance(container, ast.Attribute) and isinstance(container.value, ast.Name) and container.value.id == "self":
        return f"{container.attr}[...]" if container is not target else container.attr
    return None


def names_an_engine(call: ast.Call) -> bool:
    """Whether a call's function is named like an engine factory (`make_engine`, `create_db_engine`): the
    project functions worth asking whether they return a new engine (asking of every call would cost lookups)."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return "ngine" in name and "engine" in name.lower()
