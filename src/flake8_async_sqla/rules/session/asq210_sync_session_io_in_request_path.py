from __future__ import annotations

from collections.abc import Iterator

from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.roles import SERVING_ROLES
from flake8_async_sqla.core.rule import Report, Rule, register, report

# What counts as database I/O on a synchronous session (its methods, helpers and repositories handed it) is
# ASQ208's, so both rules agree; ASQ208 takes the `async def` functions, this rule the plain `def` ones.
from flake8_async_sqla.rules.session.asq208_sync_session_io_in_async_function import blocking_session


@register
class SyncSessionIoInRequestPath(Rule):
    """
    ## What it does
    Finds a plain `def` route handler or FastAPI dependency that does database I/O through a
    synchronous `Session`: a call of one of its I/O methods (`execute`, `scalars`, `get`,
    `query`, `exec`, `commit`, ...), a `with session.begin():` block, or a call that hands the
    session to a synchronous helper or repository method that does the I/O (the same
    calls ASQ208 reports in an `async def`). One finding per function, on its first such
    call, with the number of calls.

    Not reported: the dependency that opens and hands out the session itself (ASQ107
    reports it), `async def` functions (ASQ208 reports them), test functions, code that
    does not serve requests (scripts, tests, migrations), and a helper that declares
    `db: Session = Depends(get_db)` but is never named in `Depends()`: routes call it and hand
    it their session, and those routes are reported.

    ## Why is this bad?
    It is the read and write path the migration has to move: as long as a route does its
    queries on a synchronous session, it holds one of FastAPI's worker threads (40 by default)
    for as long as the database takes, and it cannot take the `AsyncSession` the new
    dependency hands out. `check --phase 2` measures how many such routes and dependencies
    are left.

    ## Use instead
    Make the function `async def`, take the session as `AsyncSession` from the yield
    dependency (`SessionDep = Annotated[AsyncSession, Depends(get_db)]`), and `await` each
    call: `await db.scalars(select(User))`, and the helpers it hands the session to become
    `async def` too.

    ## Known false alarms
    An application that is meant to stay synchronous is reported on every such route: it is
    migration work, not a defect; select the rule out (`ignore = ["ASQ210"]`) there. A session
    handed to a function the project does not define is assumed to be queried there, as in
    ASQ208.

    ## Fix safety
    No automatic fix: the session's kind comes from the dependency, and every helper it
    reaches changes with it.

    ## References
    - [SQLAlchemy: Asynchronous I/O (asyncio)](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html)
    - [FastAPI: Concurrency and async / await](https://fastapi.tiangolo.com/async/)
    - [FastAPI: SQL (Relational) Databases](https://fastapi.tiangolo.com/tutorial/sql-databases/)
    """

    code = "ASQ210"
    name = "sync-session-io-in-request-path"
    phase = 2
    roles = SERVING_ROLES
    message = (
        "{kind} `{function}` does database I/O on sync session `{session}` ({calls}): make it `async def`, take an "
        "`AsyncSession` from the session dependency and await each call"
    )
    invalid = (
        '''\
from typing import Annotated

from fastapi import Depends, FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import get_db
from app.models import User

app = FastAPI()
SessionDep = Annotated[Session, Depends(get_db)]


@app.get("/users")
def list_users(db: SessionDep):
    return db.scalars(select(User)).all()  # error: ASQ210


def current_user(db: SessionDep, token: str) -> User:
    return db.get(User, int(token))  # error: ASQ210


@app.get("/me")
def me(user: Annotated[User, Depends(current_user)]) -> User:
    return user
''',
    )
    valid = (
        '''\
from typing import Annotated

from fastapi import Depends, FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import get_db
from app.models import User

app = FastAPI()
SessionDep = Annotated[AsyncSession, Depends(get_db)]


@app.get("/users")
async def list_users(db: SessionDep):
    return (await db.scalars(select(User))).all()
''',
        '''\
from typing import Annotated

from fastapi import Depends, FastAPI
from sqlalchemy.orm import Session

from app.db import get_db

app = FastAPI()


@app.get("/version")
def version(db: Annotated[Session, Depends(get_db)]) -> dict:
    # Takes the session but does no I/O with it.
    return {"version": "1.0"}
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        if "sync" not in model.session_kinds():
            return
        for scope in model.scopes:
            if scope.kind != "function" or scope.is_async or model.is_test(scope) or _hands_out_session(model, scope):
                continue
            found = [(call, session) for call in scope.calls if (session := blocking_session(model, call, scope))]
            if not found:
                continue
            route = model.is_route_handler(scope)
            # A dependency FastAPI calls: a helper that only declares `db = Depends(get_db)` but is called
            # directly (its caller hands it the session) is judged at that caller.
            if route or model.is_named_dependency(scope):
                first, session = min(found, key=lambda item: (item[0].lineno, item[0].col_offset))
                calls = f"{len(found)} call{'s' if len(found) > 1 else ''}"
                yield report(first, kind="route" if route else "dependency", function=scope.name, session=session, calls=calls)


def _hands_out_session(model: SemanticModel, scope: Scope) -> bool:
    """A dependency that yields or returns the session: ASQ107's, where it opens one."""
    return any(
        (value := getattr(node, "value", None)) is not None and model.session_binding(value, scope) is not None
        for node in [*scope.yields, *scope.returns]
    )

