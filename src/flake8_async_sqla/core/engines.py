"""Engine lifecycle facts of one file: where an engine bound to a name goes (disposed, handed on to other
code, kept on an app's `state`), which `.dispose` calls may reach an engine kept on an app's state, and
what the file says about SQLite savepoints.

The project index (core/project.py) reduces these facts over the files of the project.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from flake8_async_sqla.core import names
from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.syntax import all_args, assigned_names, dotted, engine_url, keyword, literal_str
from flake8_async_sqla.core.urls import url_scheme

# `engine.sync_engine.dispose()` and `engine.pool.dispose()` close the engine's pooled connections too.
ENGINE_PARTS = {"sync_engine", "pool"}
# Where reading an engine only looks at it: `if engine is None`, `not engine`, a bare expression,
# `f"{engine}"`, `async with engine` (which raises TypeError: an engine is no context manager).
INSPECTING_PARENTS = (
    ast.Compare, ast.UnaryOp, ast.If, ast.While, ast.Assert, ast.Expr, ast.FormattedValue, ast.withitem,
)
# How many assignments back a `.dispose` receiver is followed (`engine = app.state.engine`).
MAX_ORIGIN_DEPTH = 4
# DBAPI connection attributes whose value makes `sqlite3` leave transactions to SQLAlchemy.
SQLITE_TRANSACTION_SETTINGS = {("isolation_level", None), ("autocommit", False)}


@dataclass
class EngineFate:
    """What code does with an engine: disposes it (or registers its `dispose`), hands it to code that may
    keep or dispose it, or keeps it on an app's `state` under these attribute names."""

    disposed: bool = False
    handed_on: bool = False
    state_attributes: set[str] = field(default_factory=set)


def binding_uses(model: SemanticModel, name: str, scope: Scope) -> list[ast.Name]:
    """Loads of `name` that read its binding in `scope` (a function, or the module): in `scope` and in the
    functions nested in it that do not bind the name themselves (`global name` reads the module's)."""
    uses = []
    for load in model.name_loads.get(name, ()):
        current: Scope | None = model.scope_of[load]
        while current is not None and current is not scope and not model.binds_itself(name, current):
            current = current.parent
        if current is scope:
            uses.append(load)
    return uses


def module_uses(model: SemanticModel, qualname: str) -> list[ast.expr]:
    """Expressions of this file that read the module-level name `qualname`: the name itself in its own
    module, a name imported as it, or `module.name` through an imported module or package."""
    module, _, name = qualname.rpartition(".")
    uses: list[ast.expr] = []
    if module == model.module:
        uses += binding_uses(model, name, model.module_scope)
    for local, imported in model.imports.items():
        if imported == qualname:
            uses += binding_uses(model, local, model.module_scope)
        elif qualname.startswith(imported + "."):
            rest = qualname[len(imported) + 1 :].split(".")
            for load in binding_uses(model, local, model.module_scope):
                node: ast.expr | None = load
                for part in rest:
                    parent = model.parents.get(node)  # type: ignore[arg-type]
                    node = parent if isinstance(parent, ast.Attribute) and parent.attr == part else None
                    if node is None:
                        break
                if node is not None:
                    uses.append(node)
    return uses


def engine_fate(model: SemanticModel, uses: list[ast.expr]) -> EngineFate:
    """What the expressions `uses`, each reading the same engine, do with it."""
    fate = EngineFate()
    for use in uses:
        parent = model.parents.get(use)
        if isinstance(parent, ast.Attribute):
            method = parent.attr
            if method in ENGINE_PARTS:
                outer = model.parents.get(parent)
                method = outer.attr if isinstance(outer, ast.Attribute) else ""
            # `engine.dispose()`, `stack.push_async_callback(engine.dispose)`; `engine.connect()` keeps it here.
            fate.disposed |= method == "dispose"
        elif isinstance(parent, ast.Call) and use is parent.func:
            continue
        elif isinstance(parent, (ast.Call, ast.keyword)):
            call = parent if isinstance(parent, ast.Call) else model.parents.get(parent)
            lent = isinstance(call, ast.Call) and (_borrows_engine(model, call) or model.lends(call, use))
            fate.handed_on |= not lent
        elif isinstance(parent, (ast.Assign, ast.AnnAssign)) and use is parent.value:
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            for target in targets:
                kept_on = _state_attribute(target)
                if kept_on is None:
                    fate.handed_on = True  # another name, a container, an object's attribute
                else:
                    fate.state_attributes.add(kept_on)
        elif not isinstance(parent, INSPECTING_PARENTS):
            fate.handed_on = True  # returned, yielded, put in a container, ...
    return fate


def state_disposals(model: SemanticModel) -> tuple[frozenset[str], bool]:
    """What this file's `.dispose` calls may dispose of an engine kept on an app's state: the attributes
    they reach (`request.app.state.engine.dispose()`, `engine = app.state.engine` before
    `engine.dispose()`), and whether one disposes something untraced (a parameter, `self.engine`, a
    call's result), which may be such an engine too."""
    cached = getattr(model, "_state_disposals", None)
    if cached is not None:
        return cached
    attributes: set[str] = set()
    untraced = False
    for scope in model.scopes:
        for attribute in scope.attributes:
            if attribute.attr != "dispose" or not isinstance(attribute.ctx, ast.Load):
                continue
            receiver = attribute.value
            if isinstance(receiver, ast.Attribute) and receiver.attr in ENGINE_PARTS:
                receiver = receiver.value
            for origin in _origins(model, receiver, scope):
                kept_on = _state_attribute(origin)
                if kept_on is not None:
                    attributes.add(kept_on)
                elif not _traced(model, origin, scope):
                    untraced = True
    result = (frozenset(attributes), untraced)
    model._state_disposals = result  # type: ignore[attr-defined]
    return result


def _borrows_engine(model: SemanticModel, call: ast.Call) -> bool:
    """A call that uses an engine without keeping or disposing it: SQLAlchemy's own API
    (`async_sessionmaker(engine)`, `inspect(engine)`), `metadata.create_all(engine)`, or
    `factory.configure(bind=engine)` on a session factory."""
    func = call.func.value if isinstance(call.func, ast.Subscript) else call.func  # `async_sessionmaker[AsyncSession](engine)`
    if model.api(func) is not None:
        return True
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr in names.METADATA_BIND_METHODS:
        return True
    return func.attr == "configure" and model.factory_of(func.value, model.scope_of[call]) is not None


def _state_attribute(node: ast.AST) -> str | None:
    """`attr` for `<x>.state.attr` or `getattr(<x>.state, "attr", ...)`: an engine kept on an app's state."""
    if isinstance(node, ast.Call) and dotted(node.func) == ["getattr"] and len(node.args) >= 2:
        holder, attr = node.args[0], node.args[1]
        if isinstance(attr, ast.Constant) and isinstance(attr.value, str):
            node = ast.Attribute(value=holder, attr=attr.value, ctx=ast.Load())
    if not isinstance(node, ast.Attribute):
        return None
    holder_parts = dotted(node.value)
    return node.attr if holder_parts is not None and holder_parts[-1] == "state" else None


def _origins(model: SemanticModel, node: ast.expr, scope: Scope) -> list[ast.expr]:
    """The values a `.dispose` receiver may hold: a local name followed back through its assignments."""
    found: list[ast.expr] = []
    pending = [(node, 0)]
    while pending:
        expr, depth = pending.pop()
        values = _local_values(expr, scope) if isinstance(expr, ast.Name) and depth < MAX_ORIGIN_DEPTH else None
        if values:
            pending.extend((value, depth + 1) for value in values)
        else:
            found.append(expr)
    return found


def _local_values(name: ast.Name, scope: Scope) -> list[ast.expr] | None:
    """The values assigned to `name` in the nearest function around `scope` that binds it; None when a
    parameter binds it or no function does."""
    current: Scope | None = scope
    while current is not None and current.kind in ("function", "lambda"):
        if name.id not in current.global_names:
            if any(arg.arg == name.id for arg in all_args(current.node)):
                return None
            values = [
                assign.value  # type: ignore[attr-defined]
                for assign in current.assigns
                if name.id in assigned_names(assign) and getattr(assign, "value", None) is not None
            ]
            if values:
                return values
        current = current.parent
    return None


def _traced(model: SemanticModel, origin: ast.expr, scope: Scope) -> bool:
    """Whether a disposed value is known not to be an engine kept on an app's state: a fresh engine, or a
    module-level name or an attribute of one (`engine`, `db.engine`), whose own uses are followed."""
    if isinstance(origin, ast.Call):
        return model.engine_factory(origin) is not None
    parts = dotted(origin)
    return parts is not None and model.qualname(origin) is not None and not model.binds_locally(parts[0], scope)


def wrapped_in_async_engine(model: SemanticModel, call: ast.Call) -> bool:
    """`AsyncEngine(create_engine("postgresql+asyncpg://..."))`: the sync factory builds the async engine's core."""
    parent = model.parents.get(call)
    return isinstance(parent, ast.Call) and call in parent.args and model.api(parent.func) == "AsyncEngine"


@dataclass(frozen=True)
class SqliteFacts:
    """What a module says about SQLite savepoints, kept by the project index after the module's model is
    let go: for each engine it creates, whether its URL is written as a stdlib-driver SQLite URL; and
    whether it installs the documented workaround (a `"begin"` listener, `isolation_level = None` or
    `autocommit = False` on a DBAPI connection, `connect_args={"autocommit": ...}`)."""

    sqlite_engines: tuple[bool, ...] = ()
    begin_workaround: bool = False


def sqlite_facts(model: SemanticModel) -> SqliteFacts:
    engines = tuple(
        url is not None and url_scheme(model, url, scope) in names.SQLITE_STDLIB_SCHEMES
        for call, scope, factory in model.engine_calls()  # a configured wrapper counts, with a URL of unknown dialect
        for url in [engine_url(call) if factory in names.URL_ENGINE_FACTORIES else None]
    )
    return SqliteFacts(engines, _installs_begin_workaround(model))


def _installs_begin_workaround(model: SemanticModel) -> bool:
    for scope in model.scopes:
        for call in scope.calls:
            api = model.api(call.func)
            if api in names.EVENT_REGISTRATIONS:
                identifier = call.args[1] if len(call.args) > 1 else keyword(call, "identifier")
                if literal_str(identifier) == "begin":
                    return True
            elif api in names.ENGINE_FACTORIES:
                connect_args = keyword(call, "connect_args")
                if isinstance(connect_args, ast.Dict) and "autocommit" in map(literal_str, connect_args.keys):
                    return True
        for assign in scope.assigns:
            if isinstance(assign, ast.Assign) and isinstance(assign.value, ast.Constant):
                settings = {(target.attr, assign.value.value) for target in assign.targets if isinstance(target, ast.Attribute)}
                if settings & SQLITE_TRANSACTION_SETTINGS:
                    return True
    return False
