from __future__ import annotations

from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.model import SemanticModel
from flake8_async_sqla.core.rule import Report, Rule, register, report


@register
class ScopedSessionRegistry(Rule):
    """
    ## What it does
    Finds `scoped_session(...)` and `async_scoped_session(...)` calls: a registry that
    hands out one implicit session per thread, or per whatever `scopefunc` returns.

    ## Why is this bad?
    The registry hides which session a function uses and when it ends. Under asyncio the
    scope is whatever `scopefunc` returns (often `asyncio.current_task`), so a session
    leaks unless every code path calls `await registry.remove()`, background tasks and
    `gather`ed coroutines silently get sessions of their own or share one, and tests
    have to patch a global. SQLAlchemy's documentation recommends against
    `async_scoped_session` and for passing `AsyncSession` objects explicitly; FastAPI's
    dependency system already gives each request its own session.

    ## Use instead
    Open one session per request in a `yield` dependency and pass it down explicitly, as
    a parameter (an `Annotated[AsyncSession, Depends(get_session)]` alias keeps that
    short).

    ## Known false alarms
    Every registry is reported, wherever it is used: a `scoped_session` kept on purpose for
    synchronous code that runs in threads (a worker, a job queue, a WSGI part of the
    project) and calls `remove()` after each unit of work is reported too, and so is one in
    a script, since this rule reports in scripts as well. Silence it with `# noqa: ASQ206`
    on the line of the call, or the worker's modules with `per-file-ignores`.

    ## Fix safety
    No automatic fix: every use of the registry has to receive the session instead.

    ## References
    - [SQLAlchemy: Using asyncio scoped session](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#using-asyncio-scoped-session)
    - [SQLAlchemy: Contextual/Thread-local Sessions](https://docs.sqlalchemy.org/en/20/orm/contextual.html)
    - [FastAPI: Dependencies with yield](https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/)
    """

    code = "ASQ206"
    name = "scoped-session-registry"
    phase = 4
    message = "{registry}() keeps an implicit session per scope in a global registry: open the session in a yield dependency and pass it explicitly"
    invalid = (
        '''\
from asyncio import current_task

from sqlalchemy.ext.asyncio import async_scoped_session, async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_pre_ping=True)
Session = async_scoped_session(  # error: ASQ206
    async_sessionmaker(engine, expire_on_commit=False), scopefunc=current_task
)
''',
    )
    valid = (
        '''\
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_pre_ping=True)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


async def get_session():
    async with SessionLocal() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(get_session)]
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for call, _, registry in model.api_calls():  # also `async_scoped_session[AsyncSession](...)`
            if registry in names.SCOPED_REGISTRIES:
                yield report(call, registry=registry)
