from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.model import SemanticModel, call_method, dotted
from flake8_async_sqla.core.roles import SERVING_ROLES
from flake8_async_sqla.core.rule import Report, Rule, register, report

LIST_ADDERS = {"append", "extend", "insert"}


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
    No automatic fix: merging handlers into a lifespan means moving code between functions.

    ## References
    - [FastAPI: Lifespan Events](https://fastapi.tiangolo.com/advanced/events/)
    - [FastAPI: Alternative Events (deprecated)](https://fastapi.tiangolo.com/advanced/events/#alternative-events-deprecated)
    - [Starlette: Lifespan](https://www.starlette.io/lifespan/)
    """

    code = "ASQ103"
    name = "startup-shutdown-events"
    phase = 1
    roles = SERVING_ROLES
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
        for call, scope in model.method_calls(names.EVENT_HANDLER_METHODS | LIST_ADDERS):
            receiver, name = call_method(call)  # type: ignore[misc]
            if name in names.EVENT_HANDLER_METHODS and model.is_app(receiver, scope):
                yield report(call, what=f"`{_shown(receiver)}.{name}({_event(call)})`")
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
