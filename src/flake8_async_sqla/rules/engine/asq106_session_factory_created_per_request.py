from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.roles import SERVING_ROLES
from flake8_async_sqla.core.rule import Report, Rule, register, report

# The per-request reach and the memoisation patterns are ASQ101's, so both rules agree on them.
from flake8_async_sqla.core.per_request import how_reached


@register
class SessionFactoryCreatedPerRequest(Rule):
    """
    ## What it does
    Finds `async_sessionmaker(...)` and `sessionmaker(...)` called where they run on
    every request: in a route handler, in a FastAPI dependency, or in a function or
    method of the same module that one of them calls (the same reach as ASQ101).
    Module level, the lifespan and what it calls, `@lru_cache`d factories and memoised
    globals (`if _factory is None: _factory = async_sessionmaker(...)`) are fine.

    ## Why is this bad?
    A session factory is the application's one place of session configuration (`bind`,
    `expire_on_commit`, `class_`, `join_transaction_mode`). Rebuilt wherever a request
    needs a session, it is configured again, and sooner or later differently, so
    endpoints drift apart and the factory the app configured at startup is bypassed. A
    `sessionmaker` also creates a new `Session` subclass on every call: one class per
    request for the garbage collector. And it usually means the engine or bind is looked
    up per request too.

    ## Use instead
    Create one `async_sessionmaker(engine, expire_on_commit=False)` at startup (in the
    lifespan, next to the engine, or at module level) and open sessions from it in a
    `yield` dependency.

    ## Known false alarms
    It shares ASQ101's memoising shapes, so a factory cached under `try:` /
    `except KeyError:` or by a caching decorator other than `functools`' is reported, and so
    is a factory built per request on purpose because its `bind` depends on the request (one
    database per tenant); one factory called as `factory(bind=engine)` avoids that. Silence
    a deliberate one with `# noqa: ASQ106`; scripts are not reported (application and
    example files only).

    ## Fix safety
    No automatic fix: the factory's arguments may depend on the request.

    ## References
    - [SQLAlchemy: Using a sessionmaker](https://docs.sqlalchemy.org/en/20/orm/session_basics.html#using-a-sessionmaker)
    - [SQLAlchemy: async_sessionmaker](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#sqlalchemy.ext.asyncio.async_sessionmaker)
    - [FastAPI: Dependencies with yield](https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/)
    """

    code = "ASQ106"
    name = "session-factory-created-per-request"
    phase = 1
    roles = SERVING_ROLES
    message = "{factory}() {where} builds a session factory on every request: create it once at startup (module level or the lifespan) and reuse it"
    invalid = (
        '''\
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

router = APIRouter()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    factory = async_sessionmaker(request.app.state.engine, expire_on_commit=False)  # error: ASQ106
    async with factory() as session:
        yield session


@router.get("/users/{user_id}")
async def read_user(user_id: int, session: Annotated[AsyncSession, Depends(get_session)]): ...
''',
    )
    valid = (
        '''\
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with AsyncExitStack() as stack:
        engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_pre_ping=True)
        stack.push_async_callback(engine.dispose)
        app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        yield


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


app = FastAPI(lifespan=lifespan)


@app.get("/users/{user_id}")
async def read_user(user_id: int, session: Annotated[AsyncSession, Depends(get_session)]): ...
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        if not any(api in names.SESSION_FACTORY_CLASSES for _, _, api in model.api_calls()):
            return  # no factory is created in this file: which functions run per request does not matter
        for function, root in model.per_request_functions().items():
            for call, factory in _factory_calls(model, function):
                if not model.is_memoised(call, function):
                    yield report(call, factory=factory, where=how_reached(model, function, root))


def _factory_calls(model: SemanticModel, function: Scope) -> Iterator[tuple[ast.Call, str]]:
    """`async_sessionmaker(...)` / `sessionmaker(...)` calls in a function (lambdas in it included), with
    the class called; `async_sessionmaker[AsyncSession](...)` too."""
    pending = [function]
    while pending:
        scope = pending.pop()
        for call in scope.calls:
            factory = model.api(call.func.value if isinstance(call.func, ast.Subscript) else call.func)
            if factory in names.SESSION_FACTORY_CLASSES:
                yield call, factory
        pending.extend(child for child in scope.children if child.kind == "lambda")
