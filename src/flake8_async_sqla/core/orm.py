"""ORM objects in async code: which names hold instances of which mapped class, and what was loaded.

A small abstract interpreter over one function's bindings: `select(User)` is a
statement of `User`, `.options(selectinload(User.items))` records an eager load,
`await session.scalars(stmt)` makes a result, `.first()` an object, `.all()` a list,
`for u in users` an object again, and `user.items`, once loaded, the related objects.
Later loads (`await session.refresh(user, ["items"])`, `await user.awaitable_attrs.items`,
assigning `user.items = ...`) rebind the name with more loaded. Anything it does not
understand is unknown, and unknown values never produce findings.

It also follows the session's unit of work: `User(...)` is a new object, `session.add(user)`
puts it in the session, and a flush or commit makes it persistent. A commit (also the end of
`async with session.begin():`) of a session whose factory expires on commit expires every
object the session holds, until `await session.refresh(obj)`. Such a commit inside a branch
or loop body counts only to the end of that body.
"""

from __future__ import annotations

import ast
from bisect import bisect_right
from dataclasses import dataclass, field, replace

from flake8_async_sqla.core import names
from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.sessions import SessionBinding
from flake8_async_sqla.core.syntax import TRY_NODES, assigned_names, call_method, keyword

Position = tuple[int, int]
EVERYTHING = "*"

SINGLE_FROM_RESULT = {"scalar_one", "scalar", "scalar_one_or_none"}
SINGLE_FROM_SCALARS = {"first", "one", "one_or_none"}
LIST_FROM_SCALARS = {"all", "fetchall", "fetchmany"}
PASS_THROUGH = {"unique"}
# Builtins that copy an iterable of objects into a list or tuple.
COPIES = {"list", "tuple", "sorted"}
# Statement methods that keep the selected entity; any other (`.subquery()`, `.with_only_columns()`) is unknown.
STATEMENT_REFINEMENTS = {
    "where", "filter", "filter_by", "join", "outerjoin", "join_from", "outerjoin_from", "select_from",
    "order_by", "group_by", "having", "limit", "offset", "fetch", "slice", "distinct",
    "execution_options", "with_for_update", "params", "correlate", "prefix_with", "suffix_with",
}
# Loader options whose effect is read here; any other option (a variable, `*loaders`, a helper) may load anything.
LOADER_OPTIONS = names.NON_LAZY_OPTIONS | {
    "lazyload", "load_only", "defer", "undefer", "undefer_group", "with_expression", "selectin_polymorphic",
    "with_loader_criteria", "Load",
}
# Options that name a relationship and so extend the option's path.
PATH_OPTIONS = names.NON_LAZY_OPTIONS | {"lazyload"}
# Options after which reading the relationship raises or gives nothing instead of loading.
SILENCING_OPTIONS = {"raiseload", "noload"}
# `lazy=` strategies that load the related objects with their parent, so their values can be followed.
EAGER_STRATEGIES = {"selectin", "joined", "subquery", "immediate", "False"}
# `User.items.of_type(Admin)` / `User.items.and_(...)` in a loader option still names `items`.
OPTION_TARGET_WRAPPERS = {"of_type", "and_"}
AWAITABLE_ATTRS = "awaitable_attrs"  # the AsyncAttrs accessor: `await obj.awaitable_attrs.rel` loads `rel`
# "related" is a loaded relationship's value: an object or a collection of them. A "new" object
# (constructed here, not flushed yet) loads nothing: it has no row yet.
ENTITY_KINDS = {"object", "related"}
# Session methods that put objects into the session, take one out (a deleted object leaves it at the
# commit, unexpired), and flush them.
SESSION_ADDS = {"add", "add_all"}
SESSION_REMOVALS = {"delete", "expunge"}
SESSION_FLUSHES = {"flush", "commit"}
# Blocks that may not run, or run again: a commit in one expires objects only until the block ends.
CONDITIONAL_BLOCKS = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.ExceptHandler, ast.match_case)
ITERABLE_KINDS = {"objects", "scalars", "related"}


@dataclass(frozen=True)
class OrmValue:
    kind: str  # "statement", "result", "scalars", "object", "objects", "related"
    model: str  # qualname of the mapped class
    loaded: frozenset[str] = frozenset()  # relationship paths loaded eagerly ("*": all)
    # Paths whose access does no I/O although nothing was loaded into them (raiseload, assigned).
    io_free: frozenset[str] = frozenset()
    single_entity_exec: bool = False  # a SQLModel select of one entity: `session.exec()` gives its objects
    session: str | None = None  # the session (as named here) whose identity map holds the objects
    # Where the commit that expired them is (then reading a mapped attribute reloads it), else None.
    expired_by: Position | None = None
    refreshed: frozenset[str] = frozenset()  # attributes reloaded since they expired ("*": any may be)

    def but(self, kind: str) -> OrmValue:
        return replace(self, kind=kind)

    def plus(self, loaded: frozenset[str] = frozenset(), io_free: frozenset[str] = frozenset()) -> OrmValue:
        return replace(self, loaded=self.loaded | loaded, io_free=self.io_free | io_free)

    def settles(self, attr: str) -> bool:
        """Whether reading relationship `attr` does no implicit I/O."""
        return not {attr, EVERYTHING}.isdisjoint(self.loaded | self.io_free)

    def reads_expired(self, attr: str) -> bool:
        """Whether reading mapped attribute `attr` reloads the expired object (implicit I/O)."""
        return self.expired_by is not None and {attr, EVERYTHING}.isdisjoint(self.refreshed)

    def below(self, attr: str, model: str) -> OrmValue:
        """The loaded value of relationship `attr`: the paths under it become its own."""
        return OrmValue(
            "related", model, _paths_below(self.loaded, attr), _paths_below(self.io_free, attr),
            session=self.session, expired_by=self.expired_by if self.reads_expired(attr) else None,
        )


def _paths_below(paths: frozenset[str], attr: str) -> frozenset[str]:
    prefix = attr + "."
    # A wildcard reaches every level (verified for `selectinload("*")`).
    return frozenset(path[len(prefix):] for path in paths if path.startswith(prefix)) | (paths & {EVERYTHING})


Binding = tuple[Position, "Position | None", "OrmValue | None"]  # (from, until, value)


@dataclass
class OrmFacts:
    model: SemanticModel
    scope: Scope
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    _owners: dict[ast.Attribute, OrmValue | None] = field(default_factory=dict)
    # False when no call of the scope starts an ORM value (see `_orm_roots`): every value is unknown.
    makes_values: bool = True

    def bind(self, name: str, position: Position, value: OrmValue | None, until: Position | None = None) -> None:
        self.bindings.setdefault(name, []).append((position, until, value))

    def binding_at(self, name: str, position: Position) -> Binding | None:
        """The binding of `name` in force at `position` (bindings are appended in source order)."""
        bindings = self.bindings.get(name, [])
        index = bisect_right(bindings, position, key=lambda binding: binding[0])
        while index > 0:
            index -= 1
            until = bindings[index][1]
            if until is None or position <= until:  # skip comprehension variables out of their comprehension
                return bindings[index]
        return None

    def owner(self, attribute: ast.Attribute) -> OrmValue | None:
        """What `attribute` is read from where it is read (`order` in `order.items`); memoised, as the
        lazy-load and expired-read rules ask about the same reads."""
        if attribute not in self._owners:
            self._owners[attribute] = self.value_at(attribute.value, (attribute.lineno, attribute.col_offset))
        return self._owners[attribute]

    def value_at(self, node: ast.AST, position: Position, depth: int = 0) -> OrmValue | None:
        """What `node` evaluates to at `position` (None when unknown)."""
        if depth > 50 or not self.makes_values:
            return None
        if isinstance(node, ast.Await):
            return self._awaited(node.value, position, depth)
        if isinstance(node, ast.Name):
            binding = self.binding_at(node.id, position)
            return binding[2] if binding is not None else None
        if isinstance(node, ast.Attribute):
            return self.related(self.value_at(node.value, position, depth + 1), node.attr)
        if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Slice):
            inner = self.value_at(node.value, position, depth + 1)
            return inner.but("object") if inner is not None and inner.kind in ("objects", "related") else None
        if not isinstance(node, ast.Call):
            return None
        api = self.model.api(node.func)
        if api == "select" and node.args:
            mapped = self.model.qualname(node.args[0])
            if self.model.model_relationships(mapped) is None:
                return None
            # SQLModel's select() of one entity is a SelectOfScalar, which `session.exec()` unwraps.
            from_sqlmodel = (self.model.qualname(node.func) or "").startswith("sqlmodel.")
            return OrmValue("statement", mapped or "", single_entity_exec=from_sqlmodel and len(node.args) == 1)
        if isinstance(node.func, ast.Name) and node.func.id in COPIES and node.args and not self._shadowed(node.func.id):
            inner = self.value_at(node.args[0], position, depth + 1)
            return inner.but("objects") if inner is not None and inner.kind in ITERABLE_KINDS else None
        constructed = self.model.qualname(node.func)
        if self.model.is_mapped_class(constructed):
            return OrmValue("new", constructed or "", io_free=self._set_by_constructor(node, constructed or ""))
        method = call_method(node)
        if method is None:
            return None
        receiver = self.value_at(method[0], position, depth + 1)
        if receiver is None:
            return None
        name = method[1]
        if receiver.kind == "statement":
            if name == "options":
                return receiver.plus(*self._loaded_by(node.args))
            return receiver if name in STATEMENT_REFINEMENTS else None
        if name in PASS_THROUGH and receiver.kind in ("result", "scalars"):
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

    def related(self, owner: OrmValue | None, attr: str, awaited: bool = False) -> OrmValue | None:
        """The value of relationship `attr` of `owner` when it is loaded (or awaited), else None."""
        if owner is None or owner.kind not in ENTITY_KINDS:
            return None
        relationship = (self.model.model_relationships(owner.model) or {}).get(attr)
        if relationship is None or relationship.target is None:
            return None
        eager = attr in owner.loaded or EVERYTHING in owner.loaded or relationship.lazy in EAGER_STRATEGIES
        if not (eager or awaited):
            return None
        value = owner.below(attr, relationship.target)
        back = (self.model.model_relationships(relationship.target) or {}).get(relationship.back_populates or "")
        if relationship.back_populates and (back is None or back.collection is not True):
            # A many-to-one back to `owner` is answered from the identity map, without I/O.
            value = value.plus(io_free=frozenset([relationship.back_populates]))
        return value

    def _awaited(self, node: ast.AST, position: Position, depth: int) -> OrmValue | None:
        """`await session.execute(stmt)` and friends on an AsyncSession, and `await obj.awaitable_attrs.rel`."""
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == AWAITABLE_ATTRS:
            return self.related(self.value_at(node.value.value, position, depth + 1), node.attr, awaited=True)
        if not isinstance(node, ast.Call):
            return None
        found = self.model.session_method_call(node, self.scope)
        if found is None or found[0].kind != "async":
            return self.value_at(node, position, depth + 1) if call_method(node) else None
        loaded = self._loaded_through(node, found[1], position, depth)
        return replace(loaded, session=found[0].name) if loaded is not None else None

    def _loaded_through(self, node: ast.Call, method: str, position: Position, depth: int) -> OrmValue | None:
        """What `await session.<method>(...)` gives: an object, a result, or scalars of a statement."""
        if method in ("get", "get_one") and node.args:
            mapped = self.model.qualname(node.args[0])
            if self.model.model_relationships(mapped) is None:
                return None
            options = keyword(node, "options")
            if options is None or isinstance(options, ast.Constant) and options.value is None:
                elements: list[ast.expr] = []
            else:
                elements = list(options.elts) if isinstance(options, (ast.List, ast.Tuple)) else [options]
            return OrmValue("object", mapped or "").plus(*self._loaded_by(elements))
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
        if method == "exec":
            return statement.but("scalars" if statement.single_entity_exec else "result")
        return None

    def _set_by_constructor(self, call: ast.Call, mapped: str) -> frozenset[str]:
        """Attributes a constructor call sets (its keywords), so that reading them loads nothing; any, when
        it takes positional or `**` arguments or the class has an `__init__` of its own."""
        if call.args or any(kw.arg is None for kw in call.keywords) or any(
            summary is not None and summary.defines_init for _, summary in self.model.class_lineage(mapped)
        ):
            return frozenset([EVERYTHING])
        return frozenset(kw.arg for kw in call.keywords if kw.arg is not None)

    def _loaded_by(self, options: list[ast.expr]) -> tuple[frozenset[str], frozenset[str]]:
        """(eagerly loaded, I/O-free) relationship paths that loader options set."""
        loaded: set[str] = set()
        io_free: set[str] = set()
        pending = [(option, "") for option in options]  # (option, path prefix for `.options()` under a path)
        while pending:
            option, prefix = pending.pop()
            chain: list[ast.Call] = []
            node: ast.AST = option
            while isinstance(node, ast.Call):
                chain.append(node)
                node = node.func.value if isinstance(node.func, ast.Attribute) else node.func
            chain.reverse()
            if not chain or self.model.api(chain[0].func) not in LOADER_OPTIONS:
                io_free.add(prefix + EVERYTHING)  # an option this cannot read may load anything
                continue
            path = prefix
            for call in chain:
                loader = call.func.attr if isinstance(call.func, ast.Attribute) else self.model.api(call.func)
                if loader == "options":
                    pending.extend((sub, path) for sub in call.args)
                    continue
                if loader not in PATH_OPTIONS or not call.args:
                    continue
                attr = _option_attribute(call.args[0])
                if attr is None:  # a target this cannot read
                    io_free.add(path + EVERYTHING)
                    break
                if attr == EVERYTHING:
                    if loader in names.EAGER_LOADERS:
                        loaded.add(path + EVERYTHING)
                    elif loader in SILENCING_OPTIONS:
                        io_free.add(path + EVERYTHING)
                    break
                if loader in names.EAGER_LOADERS:
                    loaded.add(path + attr)
                elif loader in SILENCING_OPTIONS:
                    io_free.add(path + attr)
                path += attr + "."
        return frozenset(loaded), frozenset(io_free)

    def _shadowed(self, builtin: str) -> bool:
        return builtin in self.model.imports or builtin in self.model.local_defs

    def mark(self, owner: ast.AST, attrs: frozenset[str], position: Position, loaded: bool) -> None:
        """Record that relationships `attrs` of the object `owner` (`order`, `order.customer`) no longer load lazily.

        An element (`orders[0]`) marks its whole list: precision over recall.
        """
        found = _object_path(owner)
        binding = self.binding_at(found[0], position) if found else None
        if found is None or binding is None or binding[2] is None:
            return
        paths = frozenset(".".join([*found[1], attr]) for attr in attrs)
        value = binding[2].plus(loaded=paths) if loaded else binding[2].plus(io_free=paths)
        if not found[1]:  # loaded or set on the object itself: reading them reloads nothing, expired or not
            value = replace(value, refreshed=value.refreshed | attrs)
        self.bind(found[0], position, value, binding[1])

    def forget(self, argument: ast.AST, position: Position) -> None:
        """An ORM object handed to awaited code may come back with anything loaded: its name becomes unknown."""
        found = _object_path(argument)
        if found is None or self.binding_at(found[0], position) is None:
            return
        if isinstance(argument, ast.Name) or self.value_at(argument, position) is not None:
            self.bind(found[0], position, None)

    def add(self, added: ast.AST, session: str, position: Position) -> None:
        """`session.add(obj)`: a new object (named `obj`) is now in the session."""
        binding = self.binding_at(added.id, position) if isinstance(added, ast.Name) else None
        value = binding[2] if binding is not None else None
        if binding is not None and value is not None and value.kind == "new" and value.session is None:
            self.bind(added.id, position, replace(value, session=session), binding[1])

    def remove(self, removed: ast.AST, session: str, position: Position) -> None:
        """`await session.delete(obj)` / `session.expunge(obj)`: `obj` leaves the session (a commit keeps its state)."""
        binding = self.binding_at(removed.id, position) if isinstance(removed, ast.Name) else None
        value = binding[2] if binding is not None else None
        if binding is not None and value is not None and value.session == session:
            self.bind(removed.id, position, replace(value, session=None), binding[1])

    def release(self, session: str, position: Position) -> None:
        """The objects of the session named `session` no longer belong to whatever that name holds next."""
        for name in list(self.bindings):
            binding = self.binding_at(name, position)
            if binding is not None and binding[2] is not None and binding[2].session == session:
                self.bind(name, position, replace(binding[2], session=None), binding[1])

    def flush(self, session: SessionBinding, position: Position, until: Position | None, commit: Position | None) -> None:
        """A flush or commit (at `commit`) of `session`, in force until `until`: its new objects get rows, and
        a commit expires everything it holds when its factory expires on commit."""
        expires = commit is not None and session.expires_on_commit is True
        for name in list(self.bindings):
            binding = self.binding_at(name, position)
            value = binding[2] if binding is not None else None
            if binding is None or value is None or value.session != session.name:
                continue
            settled = value
            if value.kind == "new":
                # A many-to-one of a new object reads its (maybe unset) key, or the identity map: no report.
                single = [n for n, rel in (self.model.model_relationships(value.model) or {}).items() if rel.collection is not True]
                settled = replace(value, kind="object", io_free=value.io_free | frozenset(single))
            if expires:
                settled = replace(settled, expired_by=commit, refreshed=frozenset())
            if settled != value:
                self.bind(name, position, settled, _earlier(binding[1], until))

    def surely_committed(self, node: ast.AST, value: OrmValue) -> bool:
        """Whether the commit that expired `value` has run whenever `node` runs: not so in an `except`
        handler of the `try` whose body holds the commit (the commit may have failed there)."""
        commit = value.expired_by
        for ancestor in self.model.ancestors(node):
            if ancestor is self.scope.node:
                return True
            handled = self.model.parents.get(ancestor)
            if isinstance(ancestor, ast.ExceptHandler) and isinstance(handled, TRY_NODES) and commit is not None:
                if _start(handled.body[0]) <= commit <= _end(handled.body[-1]):
                    return False
        return True

    def refresh(self, target: ast.AST, position: Position, attrs: frozenset[str] | None) -> None:
        """`await session.refresh(obj)` reloads `obj`'s columns (`attrs`: only those attributes)."""
        binding = self.binding_at(target.id, position) if isinstance(target, ast.Name) else None
        value = binding[2] if binding is not None else None
        if binding is None or value is None or value.expired_by is None:
            return
        if attrs is None:
            fresh = replace(value, expired_by=None, refreshed=frozenset())
        else:
            fresh = replace(value, refreshed=value.refreshed | attrs)
        self.bind(target.id, position, fresh, binding[1])


def _object_path(node: ast.AST) -> tuple[str, list[str]] | None:
    """`order.items[0].product` as ("order", ["items", "product"]); None unless it starts at a name."""
    attrs: list[str] = []
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Attribute):
            attrs.append(node.attr)
        node = node.value
    return (node.id, attrs[::-1]) if isinstance(node, ast.Name) else None


def _option_attribute(target: ast.AST) -> str | None:
    """The relationship a loader option names (`User.items`, `User.items.of_type(X)`), "*", or None."""
    while isinstance(target, ast.Call) and isinstance(target.func, ast.Attribute) and target.func.attr in OPTION_TARGET_WRAPPERS:
        target = target.func.value
    if isinstance(target, ast.Constant) and target.value == EVERYTHING:
        return EVERYTHING
    return target.attr if isinstance(target, ast.Attribute) else None


def orm_facts(model: SemanticModel, scope: Scope) -> OrmFacts:
    """ORM facts of one scope, computed once and kept on the scope."""
    cached = getattr(scope, "_orm_facts", None)
    if cached is not None:
        return cached
    facts = OrmFacts(model, scope)
    scope._orm_facts = facts  # type: ignore[attr-defined]
    facts.makes_values = bool(_orm_roots(model, scope))
    if not facts.makes_values:
        return facts  # no binding to follow
    events: list[tuple[Position, ast.AST]] = [(_end(node), node) for node in scope.assigns]
    events += [(_end(loop.iter), loop) for loop in scope.loops if isinstance(loop, (ast.For, ast.AsyncFor))]
    # A comprehension's variables are bound over the whole comprehension, whose element comes first.
    events += [
        (_start(loop), generator)
        for loop in scope.loops
        if isinstance(loop, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp))
        for generator in loop.generators
    ]
    events += [(_end(item.context_expr), item) for node in scope.withs for item in node.items]  # type: ignore[attr-defined]
    events += [
        (_end(call), call)
        for call in scope.calls
        if isinstance(model.parents.get(call), ast.Await)
        or isinstance(call.func, ast.Attribute) and call.func.attr in SESSION_ADDS | SESSION_REMOVALS
    ]
    events += [
        (_end(attribute), attribute)
        for attribute in scope.attributes
        if isinstance(attribute.value, ast.Attribute)
        and attribute.value.attr == AWAITABLE_ATTRS
        and isinstance(model.parents.get(attribute), ast.Await)
    ]
    events += [(_end(node), node) for node in scope.withs]  # last: the block's own statements end there too
    for position, node in sorted(events, key=lambda event: event[0]):
        _apply(facts, node, position)
    return facts


def _orm_roots(model: SemanticModel, scope: Scope) -> list[str]:
    """The classes whose objects the scope's calls start: every object starts at a `select(X)`, a
    `session.get(X, ...)` / `get_one(X, ...)`, or a mapped class's constructor whose new object is
    assigned to a name added to a session (only a flush makes it an object). Memoised on the scope."""
    cached = getattr(scope, "_orm_roots", None)
    if cached is not None:
        return cached
    roots = []
    added: set[str] = set()
    for call in _root_calls(model).get(scope, ()):
        func = call.func
        if isinstance(func, ast.Attribute):  # the method name tells most calls apart without resolving them
            starts = func.attr in ("get", "get_one") or func.attr == "select" and model.api(func) == "select"
            if func.attr in SESSION_ADDS and call.args:
                elements = call.args[0].elts if isinstance(call.args[0], (ast.List, ast.Tuple)) else call.args[:1]
                added.update(element.id for element in elements if isinstance(element, ast.Name))
        else:
            starts = True  # `select(X)`
        if starts and call.args:
            roots.append(model.qualname(call.args[0]))
    for assign in scope.assigns if added else ():
        value = getattr(assign, "value", None)
        if isinstance(value, ast.Call) and not added.isdisjoint(assigned_names(assign)):
            constructed = model.qualname(value.func)
            if model.is_mapped_class(constructed):
                roots.append(constructed)
    scope._orm_roots = [root for root in roots if root]  # type: ignore[attr-defined]
    return scope._orm_roots  # type: ignore[attr-defined]


def _root_calls(model: SemanticModel) -> dict[Scope, list[ast.Call]]:
    """The calls of the file that may start an ORM object or add one to a session, by scope: `x.get(...)`,
    `x.get_one(...)`, `x.select(...)`, `x.add(...)`, `x.add_all(...)` and SQLAlchemy's `select(...)`. Found
    once per file from the calls it groups already, not by testing every call of every scope."""
    cached = getattr(model, "_orm_root_calls", None)
    if cached is not None:
        return cached
    by_scope: dict[Scope, list[ast.Call]] = {}
    for call, scope in model.method_calls(("get", "get_one", "select", *SESSION_ADDS)):
        by_scope.setdefault(scope, []).append(call)
    for call, scope, api in model.api_calls():
        if api == "select" and isinstance(call.func, ast.Name):
            by_scope.setdefault(scope, []).append(call)
    model._orm_root_calls = by_scope  # type: ignore[attr-defined]
    return by_scope


def lazy_relationship_names(model: SemanticModel, scope: Scope) -> set[str]:
    """The names of the lazily loading relationships of every class whose objects the scope may hold: those
    its calls start, and those reached through their relationships. Reading an attribute by another name
    loads nothing lazily."""
    found: set[str] = set()
    for root in set(_orm_roots(model, scope)):
        found |= model.lazy_relationships_reached(root)
    return found


def may_expire_objects(model: SemanticModel, scope: Scope) -> bool:
    """Whether the scope commits (a `commit()` call, or the end of a `with x.begin():` block): without a
    commit no object of the scope is expired."""
    committing = getattr(model, "_committing_scopes", None)
    if committing is None:  # found once per file, from its few `x.commit()` calls rather than every call of every scope
        committing = {where for _, where in model.method_calls(("commit",))}
        committing.update(where for where in model.scopes if where.withs and _begins_block(where))
        model._committing_scopes = committing  # type: ignore[attr-defined]
    return scope in committing


def _begins_block(scope: Scope) -> bool:
    """Whether a `with` statement of the scope opens a `x.begin()` block."""
    contexts = [item.context_expr for node in scope.withs for item in node.items]  # type: ignore[attr-defined]
    return any(isinstance(context, ast.Call) and getattr(context.func, "attr", None) == "begin" for context in contexts)


def _apply(facts: OrmFacts, node: ast.AST, position: Position) -> None:
    """Update the bindings with one event: an assignment, a loop, a `with`, or an awaited call or load."""
    if isinstance(node, (ast.For, ast.AsyncFor)):
        _bind_target(facts, node.target, position, _element(facts.value_at(node.iter, position)))
    elif isinstance(node, ast.comprehension):
        comprehension = facts.model.parents[node]
        _bind_target(facts, node.target, position, _element(facts.value_at(node.iter, position)), _end(comprehension))
    elif isinstance(node, ast.withitem):
        if node.optional_vars is not None:
            _bind_target(facts, node.optional_vars, position, None)
    elif isinstance(node, ast.Call):
        _call(facts, node, position)
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        _block_exit(facts, node, position)
    elif isinstance(node, ast.Attribute):  # `await obj.awaitable_attrs.rel`, given as its `rel` attribute
        facts.mark(node.value.value, frozenset([node.attr]), position, loaded=True)  # type: ignore[attr-defined]
    elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)):
        value = facts.value_at(node.value, position) if node.value is not None else None
        for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
            _bind_target(facts, target, position, value)
    elif isinstance(node, ast.AugAssign):
        _bind_target(facts, node.target, position, None)


def _call(facts: OrmFacts, call: ast.Call, position: Position) -> None:
    """`session.add(obj)` puts `obj` in the session, `await session.flush()` / `commit()` settle what it holds,
    `await session.refresh(obj, ["rel"])` loads `rel`; `await helper(obj)` may load anything on `obj`."""
    found = facts.model.session_method_call(call, facts.scope)
    awaited = isinstance(facts.model.parents.get(call), ast.Await)
    if found is None:
        if awaited:
            for argument in [*call.args, *(kw.value for kw in call.keywords)]:
                facts.forget(argument, position)
        return
    session, method = found
    if method in SESSION_ADDS and not awaited and session.kind == "async" and call.args:
        added = call.args[0]
        for obj in added.elts if method == "add_all" and isinstance(added, (ast.List, ast.Tuple)) else [added]:
            facts.add(obj, session.name, position)
    elif method in SESSION_REMOVALS and call.args:
        facts.remove(call.args[0], session.name, position)
    elif method in SESSION_FLUSHES and awaited and session.kind == "async":
        commit = _start(call) if method == "commit" else None
        facts.flush(session, position, _branch_end(facts.model, call, facts.scope), commit)
    elif method == "refresh" and awaited and call.args:
        _refresh(facts, call, position)


def _refresh(facts: OrmFacts, call: ast.Call, position: Position) -> None:
    attrs = call.args[1] if len(call.args) > 1 else keyword(call, "attribute_names")
    if attrs is None or isinstance(attrs, ast.Constant) and attrs.value is None:
        facts.refresh(call.args[0], position, None)  # columns reloaded; lazy relationships stay lazy
        return
    refreshed = _strings(attrs)
    if refreshed is not None:
        facts.mark(call.args[0], refreshed, position, loaded=True)
    else:  # attribute names this cannot read: any of them may be loaded now
        facts.mark(call.args[0], frozenset([EVERYTHING]), position, loaded=False)
    facts.refresh(call.args[0], position, refreshed if refreshed is not None else frozenset([EVERYTHING]))


def _block_exit(facts: OrmFacts, block: ast.With | ast.AsyncWith, position: Position) -> None:
    """The end of `async with session.begin():` commits."""
    for item in block.items:
        method = call_method(item.context_expr)
        session = facts.model.session_binding(method[0], facts.scope) if method is not None and method[1] == "begin" else None
        if session is not None and session.kind == "async":
            facts.flush(session, position, _branch_end(facts.model, block, facts.scope), position)


def _branch_end(model: SemanticModel, node: ast.AST, scope: Scope) -> Position | None:
    """The end of the innermost branch or loop body around `node` in its function (None: none)."""
    child = node
    for ancestor in model.ancestors(node):
        if ancestor is scope.node:
            return None
        if isinstance(ancestor, CONDITIONAL_BLOCKS):
            for block in (ancestor.body, getattr(ancestor, "orelse", [])):
                if any(statement is child for statement in block):
                    return _end(block[-1])
            return _end(ancestor)
        child = ancestor
    return None


def _earlier(first: Position | None, second: Position | None) -> Position | None:
    """The earlier of two limits, None meaning none."""
    return second if first is None else first if second is None else min(first, second)


def _strings(node: ast.AST) -> frozenset[str] | None:
    """A literal list or tuple of strings; None for anything else."""
    if not isinstance(node, (ast.List, ast.Tuple)):
        return None
    strings = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return frozenset(strings) if len(strings) == len(node.elts) else None


def _bind_target(
    facts: OrmFacts, target: ast.AST, position: Position, value: OrmValue | None, until: Position | None = None
) -> None:
    if isinstance(target, ast.Name):
        if target.id in facts.model.sessions(facts.scope):
            facts.release(target.id, position)  # a new session under the name: the old one's objects are not its
        facts.bind(target.id, position, value, until)
    elif isinstance(target, ast.Attribute):  # `order.customer = customer`: set, so reading it loads nothing
        facts.mark(target.value, frozenset([target.attr]), position, loaded=False)
    elif isinstance(target, (ast.Tuple, ast.List, ast.Starred)):
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                facts.bind(node.id, position, None, until)


def _element(iterated: OrmValue | None) -> OrmValue | None:
    return iterated.but("object") if iterated is not None and iterated.kind in ITERABLE_KINDS else None


def _start(node: ast.AST) -> Position:
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def _end(node: ast.AST) -> Position:
    return (getattr(node, "end_lineno", 0) or 0, getattr(node, "end_col_offset", 0) or 0)


def describe(node: ast.AST) -> str:
    """Short source text of an object expression (`order`, `orders[0]`, `(await session.get(...))`), without recursion."""
    opening: list[str] = []
    closing: list[str] = []
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call, ast.Await)) and len(closing) < 12:
        if isinstance(node, ast.Attribute):
            closing.append("." + node.attr)
        elif isinstance(node, ast.Subscript):
            index = node.slice
            closing.append(f"[{index.value}]" if isinstance(index, ast.Constant) and isinstance(index.value, int) else "[...]")
        elif isinstance(node, ast.Call):
            closing.append("(...)" if node.args or node.keywords else "()")
            node = node.func
            continue
        else:
            opening.append("(await ")
            closing.append(")")
        node = node.value
    head = node.id if isinstance(node, ast.Name) else "..."
    return "".join(opening) + head + "".join(reversed(closing))
