from __future__ import annotations

from collections.abc import Iterator

from flake8_async_sqla.core.model import SemanticModel
from flake8_async_sqla.core.syntax import dotted
from flake8_async_sqla.core.roles import SERVING_ROLES
from flake8_async_sqla.core.rule import Report, Rule, register, report


@register
class HandlerCommitsRequestSession(Rule):
    """
    ## What it does
    Finds `commit()` called by a route handler on the session its own dependency handed
    it (`session: AsyncSession = Depends(get_session)`, an `Annotated` alias of it, or a
    configured session dependency), outside a `begin()` block of that session. The
    handler owns this unit of work, so this is no ownership problem (ASQ301 is about
    helpers committing sessions they were handed); it is the write path that the
    migration's phase 3 frames in an explicit transaction. A commit inside a `begin()`
    block is ASQ303's finding.

    ## Why is this bad?
    A trailing `commit()` leaves the transaction implicit: it starts on the first
    statement (autobegin), and whatever the handler does between its writes and the
    commit decides what is persisted. An early `return` or a raised `HTTPException`
    before the commit silently discards the writes (the session is closed without
    committing), a second commit in a branch commits half of the work, and reviewers
    cannot see where the unit of work begins. An `async with session.begin():` block
    says it in one place: everything inside commits together when the block ends, and
    rolls back together when it raises.

    ## Use instead
    Wrap the handler's writes in `async with session.begin():` (sync sessions: `with
    session.begin():`), or let the session dependency run the transaction (yield the
    session from inside `async with factory.begin() as session:`) and drop the commit.

    ## Known false alarms
    A handler whose dependency hands out a session that is already inside a transaction
    the dependency commits (a yield inside `begin()`) gets its commit reported too: there
    the commit ends the dependency's transaction early, which is worse. A handler that
    commits several times on purpose (progress that must survive a later failure) is
    better served by one `begin()` block per step; silence a deliberate one with
    `# noqa: ASQ307`.

    ## Fix safety
    No automatic fix: which statements belong in the transaction is the handler's decision.

    ## References
    - [SQLAlchemy: Managing Transactions](https://docs.sqlalchemy.org/en/20/orm/session_transaction.html)
    - [SQLAlchemy: Framing out a begin / commit / rollback block](https://docs.sqlalchemy.org/en/20/orm/session_basics.html#framing-out-a-begin-commit-rollback-block)
    - [FastAPI: Dependencies with yield](https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/)
    """

    code = "ASQ307"
    name = "handler-commits-request-session"
    phase = 3
    roles = SERVING_ROLES
    message = "`{session}.commit()` in route handler `{handler}` ends the request session's implicit transaction: wrap the writes in `{block}` instead"
    invalid = (
        '''\
from typing import Annotated, AsyncIterator

from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import factory  # async_sessionmaker(engine, expire_on_commit=False)
from app.models import Note

app = FastAPI()


async def get_session() -> AsyncIterator[AsyncSession]:
    async with factory() as session:
        yield session


@app.post("/notes")
async def create_note(text: str, session: Annotated[AsyncSession, Depends(get_session)]) -> dict:
    note = Note(text=text)
    session.add(note)
    await session.commit()  # error: ASQ307
    return {"id": note.id}
''',
    )
    valid = (
        '''\
from typing import Annotated, AsyncIterator

from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import factory  # async_sessionmaker(engine, expire_on_commit=False)
from app.models import Note

app = FastAPI()


async def get_session() -> AsyncIterator[AsyncSession]:
    async with factory() as session:
        yield session


@app.post("/notes")
async def create_note(text: str, session: Annotated[AsyncSession, Depends(get_session)]) -> dict:
    async with session.begin():
        note = Note(text=text)
        session.add(note)
    return {"id": note.id}
''',
        '''\
from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import get_session
from app.models import Note

app = FastAPI()


async def save_note(session: AsyncSession, text: str) -> None:
    session.add(Note(text=text))
    await session.flush()


@app.post("/notes")
async def create_note(text: str, session: AsyncSession = Depends(get_session)) -> None:
    async with session.begin():
        await save_note(session, text)
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for handler in model.route_handlers():
            for call, (binding, method) in model.session_calls(handler).items():
                if method != "commit" or binding.origin != "dependency":
                    continue
                if any(model.transaction_blocks_around(call, binding, handler)):
                    continue  # ASQ303's finding
                session = ".".join(dotted(call.func.value) or [binding.name])  # type: ignore[attr-defined]
                yield report(call, session=session, handler=handler.name, block=binding.begin_statement(session))
