"""ORM objects in async code: which names hold instances of which mapped class, and what was loaded.

A small abstract interpreter over one function's assignments: `select(User)` is a
statement of `User`, `.options(selectinload(User.items))` records an eager load,
`await session.scalars(stmt)` makes a result, `.first()` an object, `.all()` a list,
`for u in users` an object again. Anything it does not understand is unknown, and
unknown values never produce findings.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from flake8_async_sqla.core import names
from flake8_async_sqla.core.model import Scope, SemanticModel, call_method, keyword

Position = tuple[int, int]
EVERYTHING = "*"

SINGLE_FROM_RESULT = {"scalar_one", "scalar", "scalar_one_or_none"}
SINGLE_FROM_SCALARS = {"first", "one", "one_or_none"}
LIST_FROM_SCALARS = {"all", "fetchall"}
PASS_THROUGH = {"unique"}


@dataclass(frozen=True)
class OrmValue:
    kind: str  # "statement", "result", "scalars", "object", "objects"
    model: str  # qualname of the mapped class
    loaded: frozenset[str] = frozenset()  # relationship paths loaded eagerly ("*": all)

    def but(self, kind: str) -> OrmValue:
        return OrmValue(kind, self.model, self.loaded)


@dataclass
class OrmFacts:
    model: SemanticModel
    scope: Scope
    bindings: dict[str, list[tuple[Position, OrmValue | None]]] = field(default_factory=dict)
    refreshed: dict[str, list[tuple[Position, frozenset[str]]]] = field(default_factory=dict)

    def value_at(self, node: ast.AST, position: Position, depth: int = 0) -> OrmValue | None:
        """What `node` evaluates to at `position` (None when unknown)."""
        if depth > 50:
            return None
        if isinstance(node, ast.Await):
            return self._awaited(node.value, position, depth)
        if isinstance(node, ast.Name):
            latest = None
            for at, value in self.bindings.get(node.id, ()):
                if at <= position:
                    latest = value
            return latest
        if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Slice):
            inner = self.value_at(node.value, position, depth + 1)
            return inner.but("object") if inner is not None and inner.kind == "objects" else None
        if not isinstance(node, ast.Call):
            return None
        api = self.model.api(node.func)
        if api == "select" and node.args:
            mapped = self.model.qualname(node.args[0])
            if self.model.model_relationships(mapped) is not None:
                return OrmValue("statement", mapped or "")
            return None
        if isinstance(node.func, ast.Name) and node.func.id == "list" and node.args and "list" not in self.model.imports:
            inner = self.value_at(node.args[0], position, depth + 1)
            return inner.but("objects") if inner is not None and inner.kind in ("scalars", "objects") else None
        method = call_method(node)
        if method is None:
            return None
        receiver = self.value_at(method[0], position, depth + 1)
        if receiver is None:
            return None
        name = method[1]
        if receiver.kind == "statement":
            if name == "options":
                return OrmValue("statement", receiver.model, receiver.loaded | self._loaded_by(node.args))
            return receiver
        if name in PASS_THROUGH:
            return receiver
        if receiver.kind == "result":
            if name == "scalars":
                return receiver.but("scalars")
            if name in SINGLE_FROM_RESULT:
                return receiver.but("object")
        if receiver.kind == "scalars":
            if name in SINGLE_FROM_SCALARS:
                return receiver.but("object")
            if name in LIST_FROM_SCALARS:
                return receiver.but("objects")
        return None

    def _awaited(self, node: ast.AST, position: Position, depth: int) -> OrmValue | None:
        """`await session.execute(stmt)` and friends, on an AsyncSession."""
        if not isinstance(node, ast.Call):
            return None
        found = self.model.session_method_call(node, self.scope)
        if found is None or found[0].kind != "async":
            return self.value_at(node, position, depth + 1) if call_method(node) else None
        method = found[1]
        if method == "get" and node.args:
            mapped = self.model.qualname(node.args[0])
            if self.model.model_relationships(mapped) is None:
                return None
            options = keyword(node, "options")
            elements = options.elts if isinstance(options, (ast.List, ast.Tuple)) else []
            return OrmValue("object", mapped or "", self._loaded_by(elements))
        if not node.args:
            return None
        statement = self.value_at(node.args[0], position, depth + 1)
        if statement is None or statement.kind != "statement":
            return None
        if method in ("execute", "stream"):
            return statement.but("result")
        if method in ("scalars", "stream_scalars"):
            return statement.but("scalars")
        if method == "scalar":
            return statement.but("object")
        return None

    def _loaded_by(self, options: list[ast.expr]) -> frozenset[str]:
        """Relationship paths that loader options load eagerly (or make raise)."""
        loaded: set[str] = set()
        for option in options:
            chain: list[ast.Call] = []
            node: ast.AST = option
            while isinstance(node, ast.Call):
                chain.append(node)
                node = node.func.value if isinstance(node.func, ast.Attribute) else node.func
            path: list[str] = []
            for call in reversed(chain):
                loader = call.func.attr if isinstance(call.func, ast.Attribute) else self.model.api(call.func)
                if loader not in names.NON_LAZY_OPTIONS or not call.args:
                    continue
                target = call.args[0]
                if isinstance(target, ast.Constant) and target.value == EVERYTHING:
                    loaded.add(EVERYTHING)
                    continue
                if not isinstance(target, ast.Attribute):
                    continue
                path.append(target.attr)
                if loader != "defaultload":
                    loaded.add(".".join(path))
        return frozenset(loaded)

    def refreshed_before(self, name: str, relationship: str, position: Position) -> bool:
        return any(at <= position and relationship in attrs for at, attrs in self.refreshed.get(name, ()))


def orm_facts(model: SemanticModel, scope: Scope) -> OrmFacts:
    """ORM facts of one scope, computed once and kept on the scope."""
    cached = getattr(scope, "_orm_facts", None)
    if cached is not None:
        return cached
    facts = OrmFacts(model, scope)
    scope._orm_facts = facts  # type: ignore[attr-defined]
    events: list[tuple[Position, ast.AST]] = [(_end(node), node) for node in scope.assigns]
    events += [(_end(loop.iter), loop) for loop in scope.loops if isinstance(loop, (ast.For, ast.AsyncFor))]
    events += [
        (_end(generator.iter), generator)
        for loop in scope.loops
        if isinstance(loop, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp))
        for generator in loop.generators
    ]
    for position, node in sorted(events, key=lambda event: event[0]):
        _bind(facts, node, position)
    for call in scope.calls:
        found = model.session_method_call(call, scope)
        if found is None or found[1] != "refresh" or not call.args or not isinstance(call.args[0], ast.Name):
            continue
        attrs = call.args[1] if len(call.args) > 1 else keyword(call, "attribute_names")
        if isinstance(attrs, (ast.List, ast.Tuple)):
            names_ = frozenset(e.value for e in attrs.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
            facts.refreshed.setdefault(call.args[0].id, []).append(((call.lineno, call.col_offset), names_))
    return facts


def _bind(facts: OrmFacts, node: ast.AST, position: Position) -> None:
    if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
        iterated = facts.value_at(node.iter, position)
        element = iterated.but("object") if iterated is not None and iterated.kind in ("objects", "scalars") else None
        if isinstance(node.target, ast.Name):
            facts.bindings.setdefault(node.target.id, []).append((position, element))
        return
    value = getattr(node, "value", None)
    target = getattr(node, "target", None)
    targets = node.targets if isinstance(node, ast.Assign) else [target] if target is not None else []
    result = facts.value_at(value, position) if value is not None else None
    for target in targets:
        if isinstance(target, ast.Name):
            facts.bindings.setdefault(target.id, []).append((position, result))


def _end(node: ast.AST) -> Position:
    return (getattr(node, "end_lineno", 0) or 0, getattr(node, "end_col_offset", 0) or 0)
