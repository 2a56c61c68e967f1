from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.syntax import dotted
from flake8_async_sqla.core.roles import SERVING_ROLES
from flake8_async_sqla.core.rule import Report, Rule, register, report


@register
class SyncSessionFactoryServesApp(Rule):
    """
    ## What it does
    Finds the place where a synchronous engine and session factory start serving the app: a
    FastAPI dependency (named in `Depends(...)` here or in another module of the project)
    that yields or returns a synchronous `Session`, one opened from a `sessionmaker`, from
    `Session(engine)` on a `create_engine(...)` engine (SQLModel's `Session` too), taken from
    a `scoped_session` registry or a module-level session. The finding points at the
    expression that opens the session (`SessionLocal()`, `Session(engine)`), else at the
    value the dependency hands out.

    This is the first step of moving an application onto SQLAlchemy's asyncio model, and
    what `check --phase 1` measures: as long as the dependency hands out a synchronous
    session, the app is not on an async engine and session factory, whatever its routes do.
    An `async def` dependency that hands out a synchronous session is reported too. A function
    of the same shape that no `Depends(...)` of the project names is not: nothing in the app
    takes its session (the plan still lists it among the session dependencies to move).

    ## Why is this bad?
    Every route that takes this dependency does its database I/O on a blocking driver. In a
    plain `def` route FastAPI runs it in a worker thread (40 by default), so concurrency is
    capped by the thread pool and the connection pool together; in an `async def` route it
    stalls the event loop. Nothing in the rest of the migration (the `AsyncSession`
    dependency, `await`ed reads, explicit `async with session.begin():` writes) can start
    before the engine and the session factory are async.

    ## Use instead
    Create one async engine (`create_async_engine` with an async driver: `asyncpg`,
    `psycopg` 3, `aiosqlite`, `aiomysql`) and one `async_sessionmaker(engine,
    expire_on_commit=False)` in the app's `lifespan`, dispose the engine there, and make the
    dependency an `async def` that yields an `AsyncSession` from `async with factory() as
    session:`.

    ## Known false alarms
    An application that is meant to stay synchronous (a small internal tool on plain `def`
    routes) is reported on every such dependency: it is a migration step, not a defect.
    Select the rule out (`ignore = ["ASQ107"]`) where the app stays synchronous. Only files
    that serve requests are checked (application and example code, not tests, migrations or
    scripts).

    ## Fix safety
    No automatic fix: the driver, the URL, the engine's home and every route and helper that
    uses the session change with it (phases 1 and 2 of the plan).

    ## References
    - [SQLAlchemy: Asynchronous I/O (asyncio)](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html)
    - [SQLAlchemy: Using AsyncSession with concurrent tasks](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#using-asyncsession-with-concurrent-tasks)
    - [FastAPI: SQL (Relational) Databases](https://fastapi.tiangolo.com/tutorial/sql-databases/)
    """

    code = "ASQ107"
    name = "sync-session-factory-serves-app"
    phase = 1
    roles = SERVING_ROLES
    message = (
        "{opened} opens the synchronous session that dependency `{dependency}` hands to the app: create an async "
        "engine and `async_sessionmaker(expire_on_commit=False)` in the lifespan and yield an `AsyncSession` from it"
    )
    invalid = (
        '''\
from typing import Annotated

from fastapi import Depends, FastAPI
from sqlalchemy.orm import Session, sessionmaker

from app.db import engine  # create_engine("postgresql+psycopg2://app@db/app")

SessionLocal = sessionmaker(engine, expire_on_commit=False)
app = FastAPI()


def get_db():
    with SessionLocal() as db:  # error: ASQ107
        yield db


@app.get("/health")
def health(db: Annotated[Session, Depends(get_db)]) -> dict:
    return {"ok": True}
''',
        '''\
from fastapi import Depends, FastAPI
from sqlmodel import Session

from app.db import engine  # sqlmodel.create_engine("sqlite:///app.db")

app = FastAPI()


def get_session():
    with Session(engine) as session:  # error: ASQ107
        yield session


@app.get("/ping")
def ping(session: Session = Depends(get_session)) -> str:
    return "pong"
''',
    )
    valid = (
        '''\
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession

app = FastAPI()


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as db:
        yield db


@app.get("/health")
async def health(db: Annotated[AsyncSession, Depends(get_db)]) -> dict:
    return {"ok": True}
''',
        '''\
from sqlalchemy.orm import sessionmaker

from app.db import engine  # create_engine("postgresql+psycopg2://app@db/app")

SessionLocal = sessionmaker(engine, expire_on_commit=False)


def nightly_report():
    # A sync session in a job no route depends on: not the app's request path.
    with SessionLocal() as db:
        yield db
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        if "sync" not in model.session_kinds():
            return  # a synchronous session the dependency binds is among the file's
        for scope in model.scopes:
            if scope.kind != "function" or model.is_route_handler(scope):
                continue
            handed = [found for node in [*scope.yields, *scope.returns] if (found := _sync_handout(model, node, scope))]
            if handed and model.is_dependency(scope):
                opened = handed[0]
                yield report(opened, opened=f"`{_shown(opened)}`", dependency=scope.name)


def _sync_handout(model: SemanticModel, node: ast.AST, scope: Scope) -> ast.AST | None:
    """For a `yield`/`return` of a synchronous session: the expression that opened it, else the value handed out."""
    value = getattr(node, "value", None)
    if value is None:
        return None
    binding = model.session_binding(value, scope)
    if binding is None:
        symbol = model.classify_value(value, scope)
        return value if symbol is not None and symbol.kind == "session" and symbol.flavour == "sync" else None
    if binding.kind != "sync":
        return None
    if binding.origin == "created":
        opened = binding.node.context_expr if isinstance(binding.node, ast.withitem) else getattr(binding.node, "value", None)
        if isinstance(opened, ast.expr):
            return opened
    return value


def _shown(node: ast.AST) -> str:
    """The expression as written (`SessionLocal()`, `Session(engine)`), shortened when it is long."""
    text = ast.unparse(node)
    if len(text) <= 40:
        return text
    parts = dotted(node.func) if isinstance(node, ast.Call) else None
    return f"{'.'.join(parts)}(…)" if parts else text[:37] + "…"
