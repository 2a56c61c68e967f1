from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass

from flake8_async_sqla.core import names
from flake8_async_sqla.core.edits import Edit, SourceText, add_keyword, bound_names, import_edit, statement_lines
from flake8_async_sqla.core.model import SemanticModel, call_method, dotted
from flake8_async_sqla.core.roles import SERVING_ROLES
from flake8_async_sqla.core.rule import UNSAFE, AutoFix, Report, Rule, register, report

LIST_ADDERS = {"append", "extend", "insert"}
EVENTS = ("startup", "shutdown")


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
    `@app.on_event("shutdown")` handlers into a new `lifespan` passed to
    `FastAPI(lifespan=...)`: the startup handlers are called before its `yield`, in order,
    and the shutdown handlers registered on an `AsyncExitStack`, so they run in order
    after it, also when the app fails (they did not). Once the app has a lifespan,
    FastAPI ignores every other event handler: ones that other modules or included
    routers register on it stop running, so check there are none. Only done when the app
    is created by `FastAPI(...)` at the top level of the same module without a lifespan,
    and every event handler registered on it there is a decorated top-level function
    without parameters or other decorators.

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
        edits = []
        for decorator in self.decorators:
            lines = _decorator_line(source, decorator)
            if lines is None:
                return None
            edits.append(source.edit(*lines, ""))
        app_lines = statement_lines(source, self.app)
        factory: ast.Call = self.app.value  # type: ignore[assignment]
        new_keyword = add_keyword(source, factory, "lifespan=lifespan")
        if app_lines is None or new_keyword is None:
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
        calls = [
            f"await {handler.name}()" if isinstance(handler, ast.AsyncFunctionDef) else f"{handler.name}()"
            for event, handler in self.handlers
            if event == "startup"
        ]
        # The stack runs its callbacks last in, first out: registered in reverse, they run in their own order.
        callbacks = [
            f"stack.push_async_callback({handler.name})" if isinstance(handler, ast.AsyncFunctionDef) else f"stack.callback({handler.name})"
            for event, handler in reversed(self.handlers)
            if event == "shutdown"
        ]
        body = [*calls, *callbacks, "yield"]
        lines = ["@asynccontextmanager", f"async def lifespan(app: {app_class}):"]
        if callbacks:
            lines.append("    async with AsyncExitStack() as stack:")
            lines += [f"        {line}" for line in body]
        else:
            lines += [f"    {line}" for line in body]
        return "\n".join(lines) + "\n\n\n"


def _fold(model: SemanticModel, app_name: str) -> LifespanFold | None:
    """The fold of the module's event handlers on `app_name` into a lifespan, when the app is created here without
    one and every handler registered on it is a decorated top-level function that can be called as it is."""
    if "lifespan" in bound_names(model.tree):
        return None
    creations = [
        statement for statement in model.tree.body
        if isinstance(statement, ast.Assign) and [dotted(t) for t in statement.targets] == [[app_name]]
    ]
    if len(creations) != 1 or not isinstance(factory := creations[0].value, ast.Call):
        return None
    if names.fastapi_api(model.qualname(factory.func)) != "FastAPI" or any(
        kw.arg is None or kw.arg == "lifespan" or kw.arg in names.EVENT_HANDLER_LISTS for kw in factory.keywords
    ):
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
    return LifespanFold(model, creations[0], tuple(handlers), tuple(decorators)) if handlers else None  # type: ignore[arg-type]


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
