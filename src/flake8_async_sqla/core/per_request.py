"""Facts about code that runs per request, shared by the rules that flag work redone on every request."""

from __future__ import annotations

import ast

from flake8_async_sqla.core.model import Scope, SemanticModel, dotted


def local_name(model: SemanticModel, scope: Scope) -> str:
    """`Service.method` / `handler.helper`: the qualified name without the module."""
    return scope.qualname.removeprefix(model.module + ".")


def how_reached(model: SemanticModel, function: Scope, root: Scope) -> str:
    """The message phrase for where per-request work sits: in the handler, or in what it calls."""
    role = "route handler" if model.is_route_handler(root) else "dependency"
    if function is root:
        return f"in {role} `{local_name(model, root)}`"
    return f"in `{local_name(model, function)}`, called from {role} `{local_name(model, root)}`"


def is_memoised(model: SemanticModel, call: ast.Call, function: Scope) -> bool:
    """The engine is stored where it outlives the call (a global, an attribute, an item of a module-level
    dict) under a check that it is not there yet: `if x is None: x = ...`, or `if x: return x` before it."""
    store = model.parents.get(call)
    alternative = store if isinstance(store, ast.BoolOp) and isinstance(store.op, ast.Or) else None
    if alternative is not None:  # `x = x or create_engine(...)`
        store = model.parents.get(alternative)
    if not isinstance(store, (ast.Assign, ast.AnnAssign)):
        return False
    targets = store.targets if isinstance(store, ast.Assign) else [store.target]
    kept = [target for target in targets if _outlives_call(model, target, function)]
    if alternative is not None:
        return any(_same(alternative.values[0], target) for target in kept)
    if not kept:
        kept = _kept_later(model, store, targets, function)
        if not kept:
            return False
    child: ast.AST = store
    for ancestor in model.ancestors(store):
        if ancestor is function.node:
            break
        if isinstance(ancestor, ast.If) and child in ancestor.body and any(_tests_unset(ancestor.test, t) for t in targets):
            return True
        child = ancestor
    return any(
        isinstance(statement, ast.If)
        and statement.lineno < store.lineno
        and isinstance(statement.body[-1], ast.Return)
        and any(_tests_set(statement.test, target) for target in kept)
        for statement in function.node.body  # type: ignore[attr-defined]
    )


def _kept_later(model: SemanticModel, store: ast.Assign | ast.AnnAssign, targets: list[ast.expr], function: Scope) -> list[ast.expr]:
    """For a local name assigned the engine, the names among `targets` that a later statement of the same block
    stores where it outlives the call (`engine = create_engine(url)` then `cache[url] = engine`)."""
    block = next((body for body in _bodies(model.parents.get(store)) if store in body), [])
    kept = []
    for statement in block[block.index(store) + 1 :] if store in block else []:
        if isinstance(statement, ast.Assign) and any(_same(statement.value, t) for t in targets):
            if any(_outlives_call(model, other, function) for other in statement.targets):
                kept.extend(t for t in targets if _same(statement.value, t))
    return kept


def _bodies(node: ast.AST | None) -> list[list[ast.stmt]]:
    return [getattr(node, field) for field in ("body", "orelse", "finalbody") if isinstance(getattr(node, field, None), list)]


def _outlives_call(model: SemanticModel, target: ast.AST, function: Scope) -> bool:
    if isinstance(target, ast.Name):
        return target.id in function.global_names
    if isinstance(target, ast.Subscript):
        container = target.value
        if isinstance(container, ast.Name):
            return container.id in model.local_defs and not model.binds_locally(container.id, function)
        return isinstance(container, ast.Attribute)
    return isinstance(target, ast.Attribute)


def _tests_unset(test: ast.AST, target: ast.AST) -> bool:
    """`x is None`, `not x`, `not hasattr(obj, "x")`, `key not in cache`, or one of them in an `or`."""
    pending = [test]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            pending.extend(node.values)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not) and _tests_set(node.operand, target):
            return True
        elif isinstance(node, ast.Compare) and _compares(node, target, ast.Is, ast.NotIn):
            return True
    return False


def _tests_set(test: ast.AST, target: ast.AST) -> bool:
    """`x`, `x is not None`, `hasattr(obj, "x")`, `key in cache`."""
    if isinstance(test, ast.Compare):
        return _compares(test, target, ast.IsNot, ast.In)
    if isinstance(test, ast.Call) and dotted(test.func) == ["hasattr"] and len(test.args) == 2:
        owner, attr = test.args
        stored = dotted(target)
        return stored is not None and isinstance(attr, ast.Constant) and dotted(owner) == stored[:-1] and attr.value == stored[-1]
    return _same(test, target)


def _compares(test: ast.Compare, target: ast.AST, against_none: type, membership: type) -> bool:
    """`target <against_none> None` for a name or attribute, `key <membership> cache` for `cache[key]`."""
    if len(test.ops) != 1:
        return False
    op, right = test.ops[0], test.comparators[0]
    if isinstance(op, against_none):
        return isinstance(right, ast.Constant) and right.value is None and _same(test.left, target)
    if isinstance(op, membership) and isinstance(target, ast.Subscript):
        return _same(right, target.value) and _same(test.left, target.slice)
    return False


def _same(left: ast.AST, right: ast.AST) -> bool:
    """The same name, attribute chain or constant."""
    if isinstance(left, ast.Constant) and isinstance(right, ast.Constant):
        return left.value == right.value
    return dotted(left) is not None and dotted(left) == dotted(right)
