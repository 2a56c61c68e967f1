"""Helpers of the runtime proofs: schema and seed rows, serving an app in-process, running a request or a job
to its outcome, reading back what was committed, linting a snippet."""

from __future__ import annotations

import ast
import asyncio
import gc
import threading
import warnings
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.exc import SAWarning
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from flake8_async_sqla.core.checker import check_tree
from flake8_async_sqla.core.project import ProjectIndex

# SQLAlchemy's aiosqlite adapter creates a lazy load's cursor coroutine before refusing to run it (MissingGreenlet),
# and Python warns when that coroutine is freed.
REFUSED_CURSOR = "coroutine 'Connection.cursor' was never awaited"


async def create_schema(module: ModuleType, url: str) -> None:
    """Create the tables of every mapped class the example declares."""
    engine = create_async_engine(url)
    try:
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, DeclarativeBase) and value.__dict__.get("metadata"):
                async with engine.begin() as connection:
                    await connection.run_sync(value.metadata.create_all)
    finally:
        await engine.dispose()


@asynccontextmanager
async def separate_session(url: str) -> AsyncIterator[AsyncSession]:
    """A session on an engine of its own, as another process would open one: it sees only what was committed."""
    engine = create_async_engine(url)
    try:
        async with AsyncSession(engine) as session:
            yield session
    finally:
        await engine.dispose()


async def add_rows(url: str, *rows) -> None:
    """Insert rows (mapped objects) in their own committed transaction."""
    async with separate_session(url) as session, session.begin():
        session.add_all(rows)


async def committed_rows(url: str, statement) -> list[tuple]:
    """The rows of `statement`, as a separate session finds them once the code under test is done."""
    async with separate_session(url) as session:
        return [tuple(row) for row in await session.execute(statement)]


async def committed_values(url: str, statement) -> list:
    """The first column of `committed_rows`."""
    return [row[0] for row in await committed_rows(url, statement)]


async def count_rows(url: str, model: type) -> int:
    """How many rows of the model's table a separate session finds."""
    (count,) = await committed_values(url, select(func.count()).select_from(model))
    return count


@asynccontextmanager
async def serve(app) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, and an HTTP client talking to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def outcome_of(awaitable: Awaitable) -> Any:
    """What `awaitable` returns or, when it raises, the chain of what it raised as text (see `raised_chain`).

    The error is not kept: its frames hold what the failure left behind (the session, its connection, the
    driver's pending coroutines). They are freed here, inside the running event loop, together with the tasks
    the failure left running (`gather` does not cancel them). Freed later, after the loop has closed, they warn
    in another test or even crash a later `ast.parse` (`SystemError: AST constructor recursion depth mismatch`).
    """
    try:
        outcome = await awaitable
    except Exception as error:
        outcome = raised_chain(error)
    stray = asyncio.all_tasks() - {asyncio.current_task()}
    if stray:
        await asyncio.wait(stray, timeout=2)
    del stray  # finished tasks keep their results, which may hold a connection
    gc.collect()
    return outcome


async def run_request(app, path: str = "/run", *, method: str = "GET", params: dict | None = None) -> Any:
    """Serve `app` for one request: the response's JSON, or the chain of what the request raised as text,
    once everything the request left behind is freed (see `outcome_of`)."""

    async def request() -> Any:
        async with serve(app) as client:
            return (await client.request(method, path, params=params)).json()

    threads_before = set(threading.enumerate())
    outcome = await outcome_of(request())
    # The app's engines are disposed by now: a thread still running is aiosqlite closing a connection the garbage
    # collector found checked out, which reports back to this event loop, so it must end while the loop runs.
    for thread in set(threading.enumerate()) - threads_before:
        thread.join(timeout=2)
    return outcome


@contextmanager
def refused_cursor_ignored() -> Iterator[None]:
    """Silence the `REFUSED_CURSOR` warning, for proofs about the MissingGreenlet error itself."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", REFUSED_CURSOR, RuntimeWarning)
        yield


def raised_chain(error: BaseException) -> str:
    """The error and everything it wraps, as text, so one assertion fits both backends."""
    parts = []
    seen = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def lint(source: str, tmp_path: Path) -> list[str]:
    """The codes the checker reports on `source`."""
    path = tmp_path / "linted_example.py"
    path.write_text(source, encoding="utf-8")
    return [f.code for f in check_tree(ast.parse(source), str(path), source, index=ProjectIndex())]


async def server_connection_states(url: str) -> list[str]:
    """The states (`idle`, `idle in transaction`, ...) of the other connections to a PostgreSQL test database,
    as the server lists them, sorted."""
    import asyncpg

    monitor = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await monitor.fetch(
            "SELECT state FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() ORDER BY state"
        )
    finally:
        await monitor.close()
    return [row["state"] for row in rows]


@contextmanager
def collector_paused() -> Iterator[list[str]]:
    """Pause the cycle collector, so that what a request leaves for it (an unclosed session and the connection it
    holds) piles up as it does between two collections; on exit, collect and fill the yielded list with the
    `SAWarning`s given meanwhile (`The garbage collector is trying to clean up non-checked-in connection ...`)."""
    gc.collect()
    gc.disable()
    warned: list[str] = []
    try:
        yield warned
    finally:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SAWarning)
            gc.enable()
            gc.collect()
        warned.extend(str(w.message) for w in caught if issubclass(w.category, SAWarning))


@contextmanager
def new_threads_joined() -> Iterator[None]:
    """On exit, wait for the threads started within: aiosqlite closes a collected connection in its worker thread,
    which reports back to the event loop, so it must end while the loop runs. Wrap the whole serving of the app:
    a connection still pooled keeps its thread running until the engine is disposed."""
    threads_before = set(threading.enumerate())
    try:
        yield
    finally:
        for thread in set(threading.enumerate()) - threads_before:
            thread.join(timeout=2)


def fixed(source: str, tmp_path: Path) -> str:
    """`source` as `check --fix --unsafe-fixes` writes it (as an application module of a project of its own)."""
    from flake8_async_sqla.config import Settings
    from flake8_async_sqla.fix.passes import applicable, fix_file, rechecker

    project = tmp_path / "fixed_project"
    (project / "app").mkdir(parents=True, exist_ok=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'fixed'\n")
    path = project / "app" / "example.py"
    path.write_text(source, encoding="utf-8")
    recheck = rechecker(Settings(root=project))
    return fix_file(str(path), recheck(str(path), source), recheck, applicable(unsafe=True)).text
