from __future__ import annotations

from collections.abc import Iterator

from flake8_async_sqla.core.model import SemanticModel, dotted
from flake8_async_sqla.core.rule import Report, Rule, register, report


@register
class LegacyQueryApi(Rule):
    """
    ## What it does
    Finds `session.query(...)`, and so every `Query` chain built from it
    (`session.query(User).filter_by(...).first()`), on an expression known to hold a
    session: a session parameter or dependency (also through an `Annotated` alias), a
    session opened from a factory (also `sessionmaker(engine)()`, a project function that
    returns a factory, or a `with` of the project's context manager, unit-of-work class or
    a method of an injected object that opens one), an ORM object's `object_session(obj)`,
    a repository's `self.session` (also set in a base class of another module, or declared
    at class level, as a class-based view's `db: Session = Depends(get_db)`), a module-level
    session or `scoped_session` registry of any module of the project (`Session.query(...)`),
    or a session other code keeps on `request.state` (a middleware), in a worker's
    `ctx["db"]` (its startup) or in a container on `self`. On an `AsyncSession` it is an error;
    on a synchronous `Session` it is the 1.x API. `query` on anything else (Flask-SQLAlchemy's
    `Model.query`, a search client) is not reported.

    ## Why is this bad?
    `AsyncSession` has no `query()` method: the call raises `AttributeError` as soon as the
    code runs, typically right after a migration from sync sessions. On a sync `Session`,
    `Query` is the legacy 1.x API: it does not exist on `AsyncSession`, so every use is one
    more thing to rewrite before the code can move to asyncio, and SQLAlchemy 2.0
    documents `select()` as the one way to build ORM queries.

    ## Use instead
    Build the statement with `select()` and run it with `session.scalars(stmt)` /
    `session.execute(stmt)` (awaited on an `AsyncSession`); `session.get(Model, pk)` for a
    lookup by primary key.

    ## Known false alarms
    Every `query()` on a known session is reported, also in code that stays on a synchronous
    `Session` on purpose (scripts, jobs, code shared with a 1.x codebase) and on a `Session`
    subclass with a `query()` of its own made by `sessionmaker(class_=...)`. A sync session
    known only through `session-types`, `session-factories` or `session-dependencies` is
    taken to be an `AsyncSession`, so its `query()` is reported as an `AttributeError`. A
    session kept by other code is known by its place alone: anything read as
    `<x>.state.db` (or `ctx["db"]` on a parameter) is taken for the session a middleware
    (or a worker's startup) of the project keeps under that name. A function annotated to
    return a `Session` is taken to return one. Silence legacy modules with
    `per-file-ignores` until they move, or one line with `# noqa: ASQ401`.

    ## Fix safety
    No automatic fix: `Query` methods (`filter_by`, `first`, `count`, `update`) map onto
    `select()` and result methods case by case.

    ## References
    - [SQLAlchemy: ORM Querying Guide](https://docs.sqlalchemy.org/en/20/orm/queryguide/index.html)
    - [SQLAlchemy 2.0 Migration: ORM Query Unified with Core Select](https://docs.sqlalchemy.org/en/20/changelog/migration_20.html#orm-query-unified-with-core-select)
    - [SQLAlchemy: Legacy Query API](https://docs.sqlalchemy.org/en/20/orm/queryguide/query.html)
    """

    code = "ASQ401"
    runtime_proof = "tests/runtime/test_asq401.py"
    observed = {
        "SQLite (aiosqlite)": "`session.query(User)` raises `AttributeError: 'AsyncSession' object has no attribute "
        "'query'` before any SQL is sent; the `select()` version returns the user.",
        "PostgreSQL (asyncpg)": "the same `AttributeError`; the `select()` version returns the user.",
    }
    name = "legacy-query-api"
    phase = 2
    message = "`{session}.query()` {problem}: build the statement with select() and run it with `{run}`"
    invalid = (
        '''\
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(unique=True)


async def find_user(session: AsyncSession, email: str):
    return session.query(User).filter_by(email=email).first()  # error: ASQ401
''',
    )
    valid = (
        '''\
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(unique=True)


async def find_user(session: AsyncSession, email: str):
    return await session.scalar(select(User).where(User.email == email))
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for scope in model.scopes:
            for call, (binding, method) in model.session_calls(scope).items():
                if method != "query":
                    continue
                session = ".".join(dotted(call.func.value) or [binding.name])  # type: ignore[attr-defined]
                if binding.kind == "async":
                    problem, run = "does not exist on AsyncSession (AttributeError)", f"await {session}.scalars(stmt)"
                else:
                    problem, run = "is the legacy 1.x Query API", f"{session}.scalars(stmt)"
                yield report(call, session=session, problem=problem, run=run)
