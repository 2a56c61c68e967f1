"""Test support: the test suite runs the API against an in-memory SQLite database, each
test in a transaction that is rolled back at the end (tests/conftest.py overrides
`get_sessionmaker` with `rollback_sessionmaker`)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

from .models import Base

test_engine = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)


# The sqlite3 driver emits BEGIN itself and would leave SAVEPOINTs outside the transaction:
# let SQLAlchemy emit it instead (the SQLAlchemy SQLite dialect's documented recipe).
@event.listens_for(test_engine.sync_engine, "connect")
def disable_driver_transactions(dbapi_connection, connection_record) -> None:
    dbapi_connection.isolation_level = None


@event.listens_for(test_engine.sync_engine, "begin")
def emit_begin(connection) -> None:
    connection.exec_driver_sql("BEGIN")


async def create_schema() -> None:
    async with test_engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)


@asynccontextmanager
async def rollback_sessionmaker() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory bound to one connection whose outer transaction is rolled back after
    the test: the sessions' own transactions become savepoints inside it."""
    async with test_engine.connect() as connection:
        outer = await connection.begin()
        try:
            yield async_sessionmaker(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")
        finally:
            await outer.rollback()
