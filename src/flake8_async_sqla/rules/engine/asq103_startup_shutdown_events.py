from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass

from flake8_async_sqla.core import names
from flake8_async_sqla.core.edits import (
    Edit, SourceText, add_keyword, bound_names, import_edit, indent_unit, indented, spans_lines_in_a_string, statement_lines,
)
from flake8_async_sqla.core.model import SemanticModel
from flake8_async_sqla.core.syntax import call_method, dotted
from flake8_async_sqla.core.roles import SERVING_ROLES
from flake8_async_sqla.core.rule import UNSAFE, AutoFix, Report, Rule, register, report

LIST_ADDERS = {"append", "extend", "insert"}
EVENTS = ("startup", "shutdown")
# What may hold an existing lifespan's `yield` statement, for the handlers to be merged around it: a `yield`
# inside a loop, a condition or an exception handler is too odd a shape to edit.
TRY_STATEMENTS = (ast.Try, *((ast.TryStar,) if hasattr(ast, "TryStar") else ()))
YIELD_HOLDERS = (ast.With, ast.AsyncWith, *TRY_STATEMENTS)


@register
class StartupShutdownEvents(Rule):
    """
    ## What it does
    Finds startup/shutdown event handlers on a FastAPI or Starlette app or router:
    `@app.on_event("startup")`, `app.router.add_event_handler("shutdown", f)` (and
    `app.add_event_handler` on the versions that still have it), `FastAPI(on_startup=[...])`,
    `APIRouter(on_shutdown=[...])` and `app.router.on_startup.append(f)`. The receiver must
    be a real app or router (created here, imported from another module, a local
    `app = FastAPI()` or a parameter annotated `FastAPI`), not just any object with an
    `on_event` method. An unannotated parameter counts when some call of the project hands
    it an app (`register_events(app)` where `app = FastAPI()`), or when its function
    includes a router in it or does two things an app does (adds a middleware or an
    exception handler, mounts, registers an event or a route, stores on its `state`).
    Empty handler lists (`on_startup=[]`) are fine.

    ## Why is this bad?
    Startup and shutdown events are deprecated in FastAPI and gone from Starlette 1.0.
    Once the app has a `lifespan`, FastAPI silently ignores them, so an engine created in
    a startup handler next to a lifespan is never created, and one disposed in a shutdown
    handler is never disposed. Split in two functions, the setup and the teardown share
    state only through globals, and nothing ties the teardown to a setup that succeeded.

    ## Use instead
    One `lifespan` async context manager passed to `FastAPI(lifespan=...)`: create the
    engine before its `yield`, and register its disposal on an `AsyncExitStack` so that
    it runs whatever happens.

    ## Known false alarms
    Every handler is reported, whatever it does and whether or not the app has a lifespan: a
    library's `install(app: FastAPI)` that registers handlers to serve apps without one is
    reported too, and so is a handler list held in a variable (`on_startup=hooks`) even when
    it is empty, as only a literal `[]`, `()` or `None` is exempt. An unannotated parameter of
    another framework's object that both mounts and registers a `"startup"` event is taken for
    an app. Silence a deliberate one
    with `# noqa: ASQ103`, or the module with `per-file-ignores`; scripts are not reported
    (application and example files only).

    ## Fix safety
    The fix is unsafe: it folds a module's `@app.on_event("startup")` and
    `@app.on_event("shutdown")` handlers into a `lifespan`, so that the startup handlers
    are called before its `yield`, in order, and the shutdown handlers after it, in order,
    also when the app fails (they did not). An app without a lifespan gets a new one,
    passed to `FastAPI(lifespan=...)`, with the shutdown handlers registered on an
    `AsyncExitStack`. Once the app has a lifespan, FastAPI ignores every other event
    handler: ones that other modules or included routers register on it stop running, so
    check there are none. An app that has a lifespan already never ran the handlers: the
    fix merges them into it and they start running, after its own setup and before its
    own teardown; through its `AsyncExitStack` when the `yield` is inside one, else in the
    `finally:` around the `yield` (added when there is none). Only done when the app is
    created by `FastAPI(...)` at the top level of the same module, every event handler
    registered on it there is a decorated top-level function without parameters or other
    decorators, and an existing lifespan is an `@asynccontextmanager` function of the
    same module with one `yield` statement (under `with`, `async with` and `try:` only)
    that does not mention the handlers. Teardown code after its `yield` outside a
    `finally:` is left to ASQ104's fix first: the handlers join the `finally:` it makes.

    ## References
    - [FastAPI: Lifespan Events](https://fastapi.tiangolo.com/advanced/events/)
    - [FastAPI: Alternative Events (deprecated)](https://fastapi.tiangolo.com/advanced/events/#alternative-events-deprecated)
    - [Starlette: Lifespan](https://www.starlette.io/lifespan/)
    """

    code = "ASQ103"
    name = "startup-shutdown-events"
    phase = 1
    roles = SERVING_ROLES
    fix = AutoFix(UNSAFE, "fold the module's startup and shutdown handlers into a `lifespan`")
    message = "{what} is a deprecated startup/shutdown event, skipped once the app has a lifespan: move the setup and teardown into the app's `lifespan`"
    invalid = (
        '''\
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

app = FastAPI()
engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_pre_ping=True)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


@app.on_event("shutdown")  # error: ASQ103
async def dispose_engine() -> None:
    await engine.dispose()
''',
        '''\
from fastapi import APIRouter, FastAPI

from .db import connect_cache, close_cache

router = APIRouter(on_startup=[connect_cache])  # error: ASQ103


def create_app() -> FastAPI:
    app = FastAPI()
    app.router.add_event_handler("shutdown", close_cache)  # error: ASQ103
    app.include_router(router)
    return app
''',
    )
    valid = (
        '''\
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with AsyncExitStack() as stack:
        engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_pre_ping=True)
        stack.push_async_callback(engine.dispose)
        app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        yield


app = FastAPI(lifespan=lifespan)
''',
        '''\
import socketio

sio = socketio.AsyncServer(async_mode="asgi")


@sio.on_event("connect")
async def greet(sid, environ):
    await sio.emit("hello", to=sid)
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        fold = functools.cache(lambda app: _fold(model, app))
        for call, scope in model.method_calls(names.EVENT_HANDLER_METHODS | LIST_ADDERS):
            receiver, name = call_method(call)  # type: ignore[misc]
            if name in names.EVENT_HANDLER_METHODS and model.is_app(receiver, scope):
                found = report(call, what=f"`{_shown(receiver)}.{name}({_event(call)})`")
                lifespan = fold(receiver.id) if isinstance(receiver, ast.Name) and scope.kind == "module" else None
                yield found.with_fix(lifespan.edits) if lifespan is not None and call in lifespan.decorators else found
            elif (
                name in LIST_ADDERS
                and isinstance(receiver, ast.Attribute)
                and receiver.attr in names.EVENT_HANDLER_LISTS
                and model.is_app(receiver.value, scope)
            ):
                yield report(call, what=f"`{_shown(receiver)}.{name}(...)`")
        for scope in model.scopes:
            for call in scope.calls:
                handlers = [kw for kw in call.keywords if kw.arg in names.EVENT_HANDLER_LISTS and not _empty(kw.value)]
                if handlers and names.fastapi_api(model.qualname(call.func)) in names.APP_CLASSES:
                    for kw in handlers:
                        yield report(kw, what=f"`{_shown(call.func)}({kw.arg}=...)`")


@dataclass(frozen=True)
class LifespanFold:
    """A module's event handlers on one app, folded into a new lifespan."""

    model: SemanticModel
    app: ast.Assign  # `app = FastAPI(...)`
    handlers: tuple[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef], ...]  # (event, handler), in order
    decorators: tuple[ast.Call, ...]

    def edits(self, source: SourceText) -> list[Edit] | None:
        edits = _decorators_removed(source, self.decorators)
        app_lines = statement_lines(source, self.app)
        factory: ast.Call = self.app.value  # type: ignore[assignment]
        new_keyword = add_keyword(source, factory, "lifespan=lifespan")
        if edits is None or app_lines is None or new_keyword is None:
            return None
        above = source.text[: app_lines[0]].splitlines()[-2:]
        blank_lines = "\n" * (2 - sum(1 for line in above if not line.strip())) if len(above) == 2 else ""
        edits.append(source.insert(app_lines[0], blank_lines + self._lifespan(source.segment(factory.func))))
        edits += new_keyword
        bound = bound_names(self.model.tree)
        missing = [name for name in ("AsyncExitStack", "asynccontextmanager") if self._needs(name)]
        if any(name in bound for name in missing):
            return None  # a name of the module's own is in the way
        if missing:
            edits.append(import_edit(source, self.model.tree, "contextlib", ", ".join(missing)))
        return edits

    def _needs(self, name: str) -> bool:
        if name == "AsyncExitStack" and not any(event == "shutdown" for event, _ in self.handlers):
            return False
        return self.model.imports.get(name) != f"contextlib.{name}"

    def _lifespan(self, app_class: str) -> str:
        calls = [_call(handler) for event, handler in self.handlers if event == "startup"]
        callbacks = _registrations("stack", self.handlers)
        body = [*calls, *callbacks, "yield"]
        lines = ["@asynccontextmanager", f"async def lifespan(app: {app_class}):"]
        if callbacks:
            lines.append("    async with AsyncExitStack() as stack:")
            lines += [f"        {line}" for line in body]
        else:
            lines += [f"    {line}" for line in body]
        return "\n".join(lines) + "\n\n\n"


@dataclass(frozen=True)
class LifespanMerge:
    """A module's event handlers on one app, merged into the lifespan the app has, a function of the module:
    the startup handlers called before its `yield`, the shutdown handlers after it whatever happens (on its
    AsyncExitStack, else in a `finally:`)."""

    handlers: tuple[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef], ...]  # (event, handler), in order
    decorators: tuple[ast.Call, ...]
    lifespan: ast.AsyncFunctionDef
    point: ast.Expr  # the lifespan's `yield` statement
    stack: str | None  # the name of the AsyncExitStack entered around the `yield`, if one is
    finally_body: list[ast.stmt] | None  # the `finally:` of a `try:` whose body holds the `yield`

    def edits(self, source: SourceText) -> list[Edit] | None:
        edits = _decorators_removed(source, self.decorators)
        point = statement_lines(source, self.point)
        if edits is None or point is None:
            return None
        indent = source.indentation(point[0])
        shutdown = [handler for event, handler in self.handlers if event == "shutdown"]
        before = [_call(handler) for event, handler in self.handlers if event == "startup"]
        yielding = source.text[point[0] : point[1]].rstrip("\r\n") + "\n"
        if self.stack is not None:
            before += _registrations(self.stack, self.handlers)
        elif shutdown and self.finally_body is not None:
            first = statement_lines(source, self.finally_body[0])
            if first is None:
                return None
            cleanup_indent = source.indentation(first[0])
            edits.append(source.insert(first[0], "".join(f"{cleanup_indent}{_call(handler)}\n" for handler in shutdown)))
        elif shutdown:
            if spans_lines_in_a_string([self.point]):
                return None
            unit = indent_unit(source, self.lifespan)
            cleanup = "".join(f"{indent}{unit}{_call(handler)}\n" for handler in shutdown)
            yielding = f"{indent}try:\n{indented(yielding, unit)}{indent}finally:\n{cleanup}"
        edits.append(source.edit(*point, "".join(f"{indent}{line}\n" for line in before) + yielding))
        return edits


def _fold(model: SemanticModel, app_name: str) -> LifespanFold | LifespanMerge | None:
    """The fold of the module's event handlers on `app_name` into a lifespan, when the app is created here and
    every handler registered on it is a decorated top-level function that can be called as it is: into a new
    lifespan when the app has none, else into its own when that is a plain one of the module (`_merge`)."""
    creations = [
        statement for statement in model.tree.body
        if isinstance(statement, ast.Assign) and [dotted(t) for t in statement.targets] == [[app_name]]
    ]
    if len(creations) != 1 or not isinstance(factory := creations[0].value, ast.Call):
        return None
    if names.fastapi_api(model.qualname(factory.func)) != "FastAPI" or any(
        kw.arg is None or kw.arg in names.EVENT_HANDLER_LISTS for kw in factory.keywords
    ):
        return None
    given = next((kw.value for kw in factory.keywords if kw.arg == "lifespan"), None)
    if given is None and "lifespan" in bound_names(model.tree):
        return None
    handlers, decorators = [], []
    for node in ast.walk(model.tree):
        chain = dotted(node.value) if isinstance(node, ast.Attribute) else None
        if not chain or chain[0] != app_name or node.attr not in names.EVENT_HANDLER_METHODS | names.EVENT_HANDLER_LISTS:  # type: ignore[attr-defined]
            continue
        call = model.parents.get(node)
        handler = model.parents.get(call)
        if not (
            len(chain) == 1 and node.attr == "on_event" and isinstance(call, ast.Call) and call.func is node  # type: ignore[attr-defined]
            and len(call.args) == 1 and not call.keywords and _literal(call.args[0]) in EVENTS
            and isinstance(handler, (ast.FunctionDef, ast.AsyncFunctionDef)) and handler.decorator_list == [call]
            and handler in model.tree.body and not _takes_arguments(handler)
        ):
            return None  # registered some other way: folding the rest would drop it
        handlers.append((_literal(call.args[0]), handler))
        decorators.append(call)
    handlers.sort(key=lambda item: item[1].lineno)
    if not handlers:
        return None
    if given is not None:
        return _merge(model, given, tuple(handlers), tuple(decorators))  # type: ignore[arg-type]
    return LifespanFold(model, creations[0], tuple(handlers), tuple(decorators))  # type: ignore[arg-type]


def _merge(
    model: SemanticModel, given: ast.expr, handlers: tuple[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef], ...],
    decorators: tuple[ast.Call, ...],
) -> LifespanMerge | None:
    """The merge of the handlers into the app's lifespan `given`, when it names the one definition of its name in
    the module: an `@asynccontextmanager` `async def` with one `yield` statement, inside nothing but `with`,
    `async with` and `try:` bodies, that does not mention the handlers (it may call them already)."""
    if not isinstance(given, ast.Name):
        return None
    bindings = [
        node for node in ast.walk(model.tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == given.id
        or isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)) and node.id == given.id
        or isinstance(node, ast.alias) and (node.asname or node.name) == given.id
    ]
    lifespan = bindings[0] if len(bindings) == 1 else None
    if not (
        isinstance(lifespan, ast.AsyncFunctionDef) and lifespan in model.tree.body and len(lifespan.decorator_list) == 1
        and model.qualname(lifespan.decorator_list[0]) == "contextlib.asynccontextmanager"
    ):
        return None
    yields = [node for node in ast.walk(lifespan) if isinstance(node, (ast.Yield, ast.YieldFrom))]
    point = model.parents.get(yields[0]) if len(yields) == 1 and isinstance(yields[0], ast.Yield) else None
    if not isinstance(point, ast.Expr) or {handler.name for _, handler in handlers} & bound_names(lifespan):
        return None
    stack, child, holder = None, point, model.parents.get(point)
    while holder is not lifespan:
        if not isinstance(holder, YIELD_HOLDERS) or child not in holder.body:
            return None
        if stack is None and isinstance(holder, ast.AsyncWith):
            stack = next((item.optional_vars.id for item in holder.items if _enters_exit_stack(model, item)), None)
        child, holder = holder, model.parents.get(holder)
    parent = model.parents.get(point)
    finally_body = parent.finalbody if isinstance(parent, TRY_STATEMENTS) and parent.finalbody else None
    after_the_yield = parent.body[parent.body.index(point) + 1 :]  # type: ignore[union-attr]
    if after_the_yield and stack is None and finally_body is None and any(event == "shutdown" for event, _ in handlers):
        # Teardown outside a `finally:` is ASQ104's to fix first; the handlers then join the `finally:` it makes.
        return None
    return LifespanMerge(handlers, decorators, lifespan, point, stack, finally_body)


def _enters_exit_stack(model: SemanticModel, item: ast.withitem) -> bool:
    """`AsyncExitStack() as <name>`."""
    call = item.context_expr
    return (
        isinstance(call, ast.Call) and isinstance(item.optional_vars, ast.Name)
        and model.qualname(call.func) == "contextlib.AsyncExitStack"
    )


def _call(handler: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    return f"await {handler.name}()" if isinstance(handler, ast.AsyncFunctionDef) else f"{handler.name}()"


def _registrations(stack: str, handlers: tuple[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef], ...]) -> list[str]:
    """The shutdown handlers registered on the AsyncExitStack `stack`. The stack runs its callbacks last in, first
    out: registered in reverse, they run in their own order."""
    return [
        f"{stack}.push_async_callback({handler.name})" if isinstance(handler, ast.AsyncFunctionDef) else f"{stack}.callback({handler.name})"
        for event, handler in reversed(handlers)
        if event == "shutdown"
    ]


def _decorators_removed(source: SourceText, decorators: tuple[ast.Call, ...]) -> list[Edit] | None:
    """Edits removing the `@app.on_event(...)` lines; None when one shares its line with other code."""
    edits = []
    for decorator in decorators:
        lines = _decorator_line(source, decorator)
        if lines is None:
            return None
        edits.append(source.edit(*lines, ""))
    return edits


def _literal(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _takes_arguments(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    arguments = function.args
    return bool(arguments.posonlyargs or arguments.args or arguments.vararg or arguments.kwonlyargs or arguments.kwarg)


def _decorator_line(source: SourceText, decorator: ast.expr) -> tuple[int, int] | None:
    """The offsets of the decorator's lines (from its `@` to past its last line break), when it has them to itself."""
    start, end = source.start(decorator), source.end(decorator)
    line_start = source.line_starts[source.line_number(start) - 1]
    if source.text[line_start:start].strip() != "@":
        return None
    rest = source.text[end : source.line_end(end)].strip()
    if rest and not rest.startswith("#"):
        return None
    last = source.line_number(end)
    return line_start, source.line_starts[last] if last < len(source.line_starts) else len(source.text)


def _shown(node: ast.AST) -> str:
    parts = dotted(node)
    return ".".join(parts) if parts is not None else "..."


def _event(call: ast.Call) -> str:
    first = call.args[0] if call.args else None
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return f'"{first.value}"' + (", ..." if len(call.args) > 1 else "")
    return "..."


def _empty(value: ast.AST) -> bool:
    """`None`, `[]` or `()`: no handler at all."""
    if isinstance(value, ast.Constant):
        return value.value is None
    return isinstance(value, (ast.List, ast.Tuple)) and not value.elts
