from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core.edits import Edit, SourceText, add_keyword
from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.syntax import call_method, expire_on_commit_setting, keyword
from flake8_async_sqla.core.rule import SAFE, AutoFix, Report, Rule, register, report


@register
class SessionFactoryExpiresOnCommit(Rule):
    """
    ## What it does
    Finds `async_sessionmaker(...)`, and `sessionmaker(class_=AsyncSession, ...)`, called
    without `expire_on_commit=False` (or with `expire_on_commit=True`). A later
    `factory.configure(expire_on_commit=False)` on the same name counts as setting it; a
    value the linter cannot read (a variable, `**options`) is left alone.

    ## Why is this bad?
    By default a session expires every object it holds when it commits, so the next
    attribute read reloads the row. Under asyncio that reload is implicit I/O outside an
    `await`: it raises `MissingGreenlet`, typically when the route handler builds its
    response from the object it just committed (or FastAPI serialises it). The commit
    has already succeeded, so the client gets an error for a write that was saved.
    SQLAlchemy's asyncio guide recommends `expire_on_commit=False` for every
    `AsyncSession`.

    ## Use instead
    Pass `expire_on_commit=False` to the factory, and `await session.refresh(obj)` where
    you do want fresh values after a commit.

    ## Known false alarms
    Only a `configure(expire_on_commit=False)` on the factory's own name in its own module
    counts: one made in another module (`Factory.configure(...)` after
    `from app.db import Factory`, or `db.Factory.configure(...)`) is not seen, nor is the
    setting passed to each session instead (`Factory(expire_on_commit=False)`). A factory
    whose code never reads an object after a commit is reported too: the rule judges the
    factory, not its uses. Silence it with `# noqa: ASQ205` on the factory's line.

    ## Fix safety
    The fix is safe: it passes `expire_on_commit=False` to the factory (or turns an
    explicit `True` into `False`). Objects then keep the values they had when committed;
    the reload it removes could not run under asyncio anyway (it raised `MissingGreenlet`),
    so no working code relied on it. Where fresh values are wanted after a commit (a
    server default, a trigger), add `await session.refresh(obj)`.

    ## References
    - [SQLAlchemy: Preventing Implicit IO when Using AsyncSession](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#asyncio-orm-avoid-lazyloads)
    - [SQLAlchemy: async_sessionmaker](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#sqlalchemy.ext.asyncio.async_sessionmaker)
    - [SQLAlchemy: Session.commit and expire_on_commit](https://docs.sqlalchemy.org/en/20/orm/session_basics.html#committing)
    """

    code = "ASQ205"
    runtime_proof = "tests/runtime/test_asq205.py"
    observed = {
        "SQLite (aiosqlite)": "reading `user.id` after the commit raises `MissingGreenlet` (greenlet_spawn has not been "
        "called), plus `RuntimeWarning: coroutine 'Connection.cursor' was never awaited`, although the row was committed; "
        "with `expire_on_commit=False` the request returns the new user.",
        "PostgreSQL (asyncpg)": "reading `user.id` after the commit raises `MissingGreenlet` although the row was committed; "
        "with `expire_on_commit=False` the request returns the new user.",
    }
    name = "session-factory-expires-on-commit"
    phase = 2
    fix = AutoFix(SAFE, "pass `expire_on_commit=False` to the factory")
    message = "{factory} expires loaded objects on commit, so reading one afterwards is implicit I/O (MissingGreenlet): pass expire_on_commit=False"
    invalid = (
        '''\
import os
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(unique=True)


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with AsyncExitStack() as stack:
        engine = create_async_engine(os.environ["DATABASE_URL"], pool_pre_ping=True)
        stack.push_async_callback(engine.dispose)
        app.state.sessionmaker = async_sessionmaker(engine)  # error: ASQ205
        yield


app = FastAPI(lifespan=lifespan)


async def get_session(request: Request):
    async with request.app.state.sessionmaker() as session:
        yield session


@app.post("/users")
async def create_user(email: str, session: Annotated[AsyncSession, Depends(get_session)]):
    user = User(email=email)
    async with session.begin():
        session.add(user)
    return {"id": user.id, "email": user.email}
''',
    )
    valid = (
        '''\
import os
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(unique=True)


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with AsyncExitStack() as stack:
        engine = create_async_engine(os.environ["DATABASE_URL"], pool_pre_ping=True)
        stack.push_async_callback(engine.dispose)
        app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        yield


app = FastAPI(lifespan=lifespan)


async def get_session(request: Request):
    async with request.app.state.sessionmaker() as session:
        yield session


@app.post("/users")
async def create_user(email: str, session: Annotated[AsyncSession, Depends(get_session)]):
    user = User(email=email)
    async with session.begin():
        session.add(user)
    return {"id": user.id, "email": user.email}
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for call, scope, api in model.api_calls():  # also `async_sessionmaker[AsyncSession](...)`
            factory = _async_session_factory(model, call, api)
            # Left alone unless it surely expires: `expire_on_commit=False`, or a value that is computed or may be in `**options`.
            if factory is None or expire_on_commit_setting(call) is not True:
                continue
            target = model.assignment_target(call)
            name = target.id if isinstance(target, ast.Name) else None
            if name is not None and _configured_later(model, name, scope, call):
                continue
            yield report(call, factory=factory).with_fix(lambda source, call=call: _keep_on_commit(source, call))


def _keep_on_commit(source: SourceText, call: ast.Call) -> list[Edit] | None:
    """`expire_on_commit=False` in the factory call: the `True` given replaced, or the keyword added."""
    given = keyword(call, "expire_on_commit")
    if given is not None:
        return [source.replace(given, "False")]
    return add_keyword(source, call, "expire_on_commit=False")


def _async_session_factory(model: SemanticModel, call: ast.Call, api: str) -> str | None:
    """How the call of SQLAlchemy's `api` is shown when it builds a factory of `AsyncSession`s, else None."""
    if api == "async_sessionmaker":
        return "async_sessionmaker()"
    class_ = keyword(call, "class_")
    if api == "sessionmaker" and class_ is not None and model.api(class_) == "AsyncSession":
        return "sessionmaker(class_=AsyncSession)"
    return None


def _configured_later(model: SemanticModel, name: str, scope: Scope, call: ast.Call) -> bool:
    """`name.configure(expire_on_commit=False)` after the call in the same scope, or, for a module-level
    factory, in any function that does not bind `name` itself."""
    for where in model.scopes:
        if where is not scope and (scope.kind != "module" or where.kind == "class" or model.binds_locally(name, where)):
            continue
        for candidate in where.calls:
            method = call_method(candidate)
            if (
                method is not None
                and method[1] == "configure"
                and isinstance(method[0], ast.Name)
                and method[0].id == name
                and expire_on_commit_setting(candidate) is not True  # passes anything but True, or may in `**options`
                and (where is not scope or (candidate.lineno, candidate.col_offset) > (call.lineno, call.col_offset))
            ):
                return True
    return False
