from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.engines import EngineFate, binding_uses, engine_fate
from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.syntax import keyword, literal_str
from flake8_async_sqla.core.rule import Report, Rule, register, report


@register
class EngineNeverDisposed(Rule):
    """
    ## What it does
    Finds an engine (`create_async_engine`, `create_engine`, their `*_from_config`
    variants, or a configured engine factory) bound to a name that no code of the project
    disposes: a module-level engine that neither its module nor any module importing it
    disposes, or an engine created in a function (the lifespan, a script's `main`) that
    the function does not dispose. `async with engine:` is no disposal: an engine is not
    a context manager, so it raises `TypeError`. A module-level engine is only judged
    when the program around it is in view: its module builds the app or has a
    `if __name__ == "__main__":` block, or another module of the project imports it.

    A disposal is `engine.dispose()` (also `engine.sync_engine.dispose()`), or
    `engine.dispose` handed on as a callback: `stack.push_async_callback(engine.dispose)`,
    `atexit.register(engine.dispose)`, a shutdown handler. An engine kept on the app's
    state (`app.state.engine = engine`) counts as disposed when code of the project
    disposes `app.state.engine` or something it cannot trace. An engine returned, yielded,
    passed to code other than SQLAlchemy's own API, or stored elsewhere may be disposed
    by its new owner and is not reported, and neither is one with `poolclass=NullPool`,
    which keeps no connections open. Engines created per request are ASQ101's.

    ## Why is this bad?
    An engine owns a pool of open database connections, and only `dispose()` closes
    them. Without it they stay open until the process exits or the garbage collector
    reclaims the engine: the server sees its connections dropped instead of closed, and
    under asyncio the driver's connections are collected after the event loop has ended
    (aiosqlite warns `ResourceWarning: ... was deleted before being closed`, asyncpg
    `ResourceWarning: unclosed connection`). An engine the lifespan creates and never
    disposes leaks its pool each time the app starts, in every test that runs the app.

    ## Use instead
    Dispose the engine where its life ends: in the app's `lifespan`, register
    `stack.push_async_callback(engine.dispose)` on an `AsyncExitStack` right after
    creating it (or `await engine.dispose()` in a `finally:`); in a script, dispose it
    before the event loop ends.

    ## Known false alarms
    Only a disposal or a `poolclass=NullPool` written where the rule looks counts: a
    `poolclass` given through a variable or `**options`, or a disposal made by code outside
    the project, leaves the engine reported. A wrapper listed under `engine-factories` is
    taken to create a new engine on every call, so binding a cached `get_engine()` in the
    lifespan without disposing it is reported. An engine in a script whose process ends
    right after its work is reported too. Silence a deliberate one with `# noqa: ASQ102` on
    the engine's line, or a folder of scripts with `per-file-ignores`.

    ## Fix safety
    No automatic fix: where the engine's life ends depends on the application.

    ## References
    - [SQLAlchemy: Engine Disposal](https://docs.sqlalchemy.org/en/20/core/connections.html#engine-disposal)
    - [SQLAlchemy: Using asyncio engines (dispose)](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#synopsis-core)
    - [FastAPI: Lifespan Events](https://fastapi.tiangolo.com/advanced/events/)
    """

    code = "ASQ102"
    name = "engine-never-disposed"
    phase = 1
    message = "engine `{engine}` from {factory}() is never disposed, so its pooled connections stay open: call `{release}` on shutdown (in the lifespan's exit stack or a `finally:`)"
    invalid = (
        '''\
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine


@asynccontextmanager
async def lifespan(app: FastAPI):
    engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_pre_ping=True)  # error: ASQ102
    app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    yield


app = FastAPI(lifespan=lifespan)
''',
        '''\
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_pre_ping=True)  # error: ASQ102
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

app = FastAPI()
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
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_pre_ping=True)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def lifespan(app: FastAPI):
    try:
        yield
    finally:
        await engine.dispose()


app = FastAPI(lifespan=lifespan)
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        bound = [
            (call, scope, factory, target.id)
            for call, scope, factory in model.engine_calls()
            if scope.kind in ("module", "function") and isinstance(target := model.assignment_target(call), ast.Name)
        ]
        if not bound:
            return
        per_request = model.per_request_functions()  # ASQ101's
        for call, scope, factory, name in bound:
            if scope in per_request or _keeps_no_connections(model, call):
                continue
            fate = _fate(model, name, scope)
            if fate is not None and not (fate.disposed or fate.handed_on):
                flavour = names.ENGINE_FACTORIES.get(factory, "async")
                release = f"await {name}.dispose()" if flavour == "async" else f"{name}.dispose()"
                yield report(call, engine=name, factory=factory, release=release)


def _keeps_no_connections(model: SemanticModel, call: ast.Call) -> bool:
    """`poolclass=NullPool`: every connection is closed when it is returned, so there is nothing to dispose."""
    poolclass = keyword(call, "poolclass")
    return poolclass is not None and model.api(poolclass) == "NullPool"


def _fate(model: SemanticModel, name: str, scope: Scope) -> EngineFate | None:
    """What the code that can see the engine does with it; None when that cannot be known."""
    if scope.kind == "function" and name in scope.nonlocal_names:
        return None
    if scope.kind == "module" or name in scope.global_names:
        # A module-level engine may be disposed by any module importing it, and by code outside the
        # project when nothing in it imports the module and the module does not start the program.
        index = model.index
        if index is None or not (_starts_program(model) or index.is_imported(model)):
            return None
        return index.module_engine_fate(f"{model.module}.{name}", model)
    fate = engine_fate(model, binding_uses(model, name, scope))
    if fate.state_attributes and (model.index is None or model.index.disposes_state(model, fate.state_attributes)):
        fate.disposed = True
    return fate


def _starts_program(model: SemanticModel) -> bool:
    """The module is where the program starts: it builds the app (`app = FastAPI(...)`) or runs code under
    `if __name__ == "__main__":`. A module of routers or a lifespan is mounted by the app's module."""
    for statement in model.tree.body:
        value = getattr(statement, "value", None)
        if isinstance(value, ast.Call) and names.fastapi_api(model.qualname(value.func)) in names.APPLICATION_CLASSES:
            return True
        if isinstance(statement, ast.If) and _is_main_guard(statement.test):
            return True
    return False


def _is_main_guard(test: ast.expr) -> bool:
    """`__name__ == "__main__"` (either way round)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = (test.left, test.comparators[0])
    return any(isinstance(side, ast.Name) and side.id == "__name__" for side in sides) and any(
        literal_str(side) == "__main__" for side in sides
    )
