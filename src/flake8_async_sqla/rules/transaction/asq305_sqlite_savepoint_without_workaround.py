from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core.engines import sqlite_facts
from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.syntax import call_method, dotted
from flake8_async_sqla.core.rule import ADVISORY, Report, Rule, register, report


@register
class SqliteSavepointWithoutWorkaround(Rule):
    """
    ## What it does
    Finds `begin_nested()` on a session or connection when every engine the file can see
    (in the file itself and in the project modules it imports, directly or through other
    modules) is SQLite on the stdlib driver (`sqlite://`, `sqlite+pysqlite://`,
    `sqlite+aiosqlite://`, written as a literal, an f-string or a module constant of any
    project module), and
    none of those modules applies the documented workaround: a `"begin"` event listener
    that emits `BEGIN` (with a `"connect"` listener setting
    `dbapi_connection.isolation_level = None`; on `engine.sync_engine` for aiosqlite), or
    the Python 3.12 `autocommit=False` connect argument or attribute. A URL read from
    settings or the environment, or a mix of SQLite and other engines, is not judged, and
    neither is a workaround installed only in a module the file does not import.

    ## Why is this bad?
    The `sqlite3` module (and aiosqlite, built on it) controls transactions itself: it
    does not emit `BEGIN` for a `SELECT` or before a `SAVEPOINT`. A savepoint opened that
    way does not join the session's transaction, so a rollback of the transaction keeps
    the work of a released savepoint, and a rollback to the savepoint may undo nothing.
    Tests on SQLite then pass for code whose partial rollbacks would misbehave, or the
    other way round.

    ## Use instead
    Install the listeners from the SQLAlchemy SQLite dialect docs next to the engine:
    `@event.listens_for(engine.sync_engine, "connect")` setting
    `dbapi_connection.isolation_level = None`, and
    `@event.listens_for(engine.sync_engine, "begin")` running
    `conn.exec_driver_sql("BEGIN")` (pass `engine` itself for a sync engine). On Python
    3.12+, `connect_args={"autocommit": False}` does the same.

    ## Known false alarms
    Only the file and the project modules it imports are read: a workaround installed in a
    module the file does not import, or given through a variable (`connect_args=ARGS`), is
    not seen, and a file that imports only a development SQLite engine while the production
    engine lives in a module it does not import is judged SQLite-only. Silence it with
    `# noqa: ASQ305`, or the file with `per-file-ignores`; test files are not reported by
    default.

    ## Fix safety
    No automatic fix: the listeners belong where the engine is created.

    ## References
    - [SQLAlchemy: Serializable isolation / Savepoints / Transactional DDL (pysqlite)](https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl)
    - [SQLAlchemy: Serializable isolation / Savepoints / Transactional DDL (aiosqlite)](https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl-asyncio-version)
    - [SQLAlchemy: Enabling non-legacy SQLite transactional modes](https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#enabling-non-legacy-sqlite-transactional-modes-with-the-sqlite3-or-aiosqlite-driver)
    - [Python: sqlite3 transaction control](https://docs.python.org/3/library/sqlite3.html#sqlite3-controlling-transactions)
    """

    code = "ASQ305"
    name = "sqlite-savepoint-without-workaround"
    phase = ADVISORY
    message = "`{call}` on SQLite, whose driver emits BEGIN itself, so the SAVEPOINT does not join the transaction: add the documented \"connect\" (`isolation_level = None`) and \"begin\" (emit `BEGIN`) listeners on the engine (`engine.sync_engine` for aiosqlite)"
    invalid = (
        '''\
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

engine = create_async_engine("sqlite+aiosqlite:///./app.db")


async def add_tags(session: AsyncSession, tags: list[Tag]) -> None:
    async with session.begin():
        for tag in tags:
            try:
                async with session.begin_nested():  # error: ASQ305
                    session.add(tag)
            except IntegrityError:
                pass
''',
    )
    valid = (
        '''\
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

engine = create_async_engine("sqlite+aiosqlite:///./app.db")


@event.listens_for(engine.sync_engine, "connect")
def do_connect(dbapi_connection, connection_record):
    dbapi_connection.isolation_level = None  # let SQLAlchemy emit BEGIN


@event.listens_for(engine.sync_engine, "begin")
def do_begin(conn):
    conn.exec_driver_sql("BEGIN")


async def add_tags(session: AsyncSession, tags: list[Tag]) -> None:
    async with session.begin():
        for tag in tags:
            try:
                async with session.begin_nested():
                    session.add(tag)
            except IntegrityError:
                pass
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        savepoints = [call for call, scope in model.method_calls(["begin_nested"]) if _opens_savepoint(model, call, scope)]
        if not savepoints:
            return
        visible = [sqlite_facts(model)]
        if model.index is not None:  # and the project modules it imports, as the index keeps them
            visible += [facts for path in model.visible_paths()[1:] if (facts := model.index.sqlite_facts(path)) is not None]
        engines = [is_sqlite for facts in visible for is_sqlite in facts.sqlite_engines]
        if not engines or not all(engines) or any(facts.begin_workaround for facts in visible):
            return
        for call in savepoints:
            yield report(call, call=".".join(dotted(call.func) or ["begin_nested"]) + "()")


def _opens_savepoint(model: SemanticModel, call: ast.Call, scope: Scope) -> bool:
    method = call_method(call)
    if method is None or method[1] != "begin_nested":
        return False
    return model.session_binding(method[0], scope) is not None or model.is_connection(method[0], scope)
