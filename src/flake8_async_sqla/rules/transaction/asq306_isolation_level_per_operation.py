from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.syntax import call_method, dotted, keyword, literal_str
from flake8_async_sqla.core.per_request import how_reached
from flake8_async_sqla.core.rule import ADVISORY, Report, Rule, register, report


@register
class IsolationLevelPerOperation(Rule):
    """
    ## What it does
    Finds the transaction isolation level set on one connection at a time in request
    code: `conn.execution_options(isolation_level=...)` on a connection
    (`engine.connect()`, `engine.begin()`, `await session.connection()`, a parameter
    annotated `AsyncConnection`), and
    `session.connection(execution_options={"isolation_level": ...})` on a session. Request
    code is a route handler, a dependency, what they call in the same module, and any
    function that uses a session it was handed (a parameter, a dependency, `self.session`).
    Engine-level configuration is fine anywhere: `create_async_engine(...,
    isolation_level=...)`, and `engine.execution_options(isolation_level=...)`, which
    makes a configured copy of the engine sharing its pool.

    ## Why is this bad?
    The level applies to one pooled connection: it costs extra round trips on every
    request (set on checkout, reset when the connection goes back to the pool), and it
    only works before the transaction starts. `session.connection(execution_options=...)`
    after the session's first statement is ignored with only a warning; on a connection
    that has already begun, `execution_options(isolation_level=...)` raises
    `InvalidRequestError`. Which level a unit of work runs under ends up scattered across
    handlers instead of being declared once.

    ## Use instead
    Configure the level once: on the engine, or on a copy of it made at startup
    (`serializable = engine.execution_options(isolation_level="SERIALIZABLE")`) with its
    own `async_sessionmaker`, and give the handlers that need it a dependency for that
    factory.

    ## Known false alarms
    Any function that works on a session it is handed counts as request code, also in a
    script or a maintenance job, and a level set on any connection there is reported, even
    one it opens itself for statements that cannot run in a transaction
    (`isolation_level="AUTOCOMMIT"` for `VACUUM` or `CREATE INDEX CONCURRENTLY`). Silence a
    deliberate one with `# noqa: ASQ306`, or the maintenance modules with
    `per-file-ignores`; migrations are not reported by default.

    ## Fix safety
    No automatic fix: the dedicated engine and session factory belong in the app's setup.

    ## References
    - [SQLAlchemy: Setting Transaction Isolation Levels including DBAPI Autocommit](https://docs.sqlalchemy.org/en/20/core/connections.html#setting-transaction-isolation-levels-including-dbapi-autocommit)
    - [SQLAlchemy: Setting Isolation for a Sessionmaker / Engine Wide](https://docs.sqlalchemy.org/en/20/orm/session_transaction.html#setting-isolation-for-a-sessionmaker-engine-wide)
    - [SQLAlchemy: Session.connection()](https://docs.sqlalchemy.org/en/20/orm/session_api.html#sqlalchemy.orm.Session.connection)
    """

    code = "ASQ306"
    name = "isolation-level-per-operation"
    phase = ADVISORY
    message = "isolation level set per operation on {what} in {where}: configure it once on the engine, or on an `engine.execution_options(isolation_level=...)` copy with its own session factory"
    invalid = (
        '''\
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

router = APIRouter()


@router.post("/transfers")
async def transfer(payload: TransferIn, session: Annotated[AsyncSession, Depends(get_session)]) -> None:
    await session.connection(execution_options={"isolation_level": "SERIALIZABLE"})  # error: ASQ306
    async with session.begin():
        await move_funds(session, payload)
''',
    )
    valid = (
        '''\
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://bank@db/bank", pool_pre_ping=True)
serializable_factory = async_sessionmaker(
    engine.execution_options(isolation_level="SERIALIZABLE"), expire_on_commit=False
)


async def get_serializable_session() -> AsyncIterator[AsyncSession]:
    async with serializable_factory() as session:
        yield session


router = APIRouter()


@router.post("/transfers")
async def transfer(payload: TransferIn, session: Annotated[AsyncSession, Depends(get_serializable_session)]) -> None:
    async with session.begin():
        await move_funds(session, payload)
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for call, scope in model.method_calls(["execution_options", "connection"]):
            function = scope.function_scope
            if function is None:
                continue
            what = _isolation_target(model, call, scope)
            where = _request_role(model, function) if what is not None else None
            if where is not None:
                yield report(call, what=what, where=where)


def _isolation_target(model: SemanticModel, call: ast.Call, scope: Scope) -> str | None:
    """`session.connection(execution_options={"isolation_level": ...})` or `conn.execution_options(isolation_level=...)`:
    the receiver as written."""
    method = call_method(call)
    if method is None:
        return None
    receiver, name = method
    if name == "execution_options" and keyword(call, "isolation_level") is not None and model.is_connection(receiver, scope):
        written = dotted(receiver)
        return f"connection `{'.'.join(written)}`" if written else "a connection"
    if name == "connection" and model.session_binding(receiver, scope) is not None:
        options = keyword(call, "execution_options")
        if isinstance(options, ast.Dict) and any(literal_str(key) == "isolation_level" for key in options.keys if key is not None):
            return f"session `{'.'.join(dotted(receiver) or ['session'])}`"
    return None


def _request_role(model: SemanticModel, function: Scope) -> str | None:
    """How `function` is request code, as a phrase, or None when it is not known to be."""
    root = model.per_request_functions().get(function)
    if root is not None:
        return how_reached(model, function, root).removeprefix("in ")
    handed = [*model.sessions(function).values()]
    if function.klass is not None:
        handed.extend(model.class_session_attributes(function.klass).values())
    if any(binding.borrowed for binding in handed):
        return f"`{function.name}`, which works on a session it is handed"
    return None
