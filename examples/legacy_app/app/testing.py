"""Test support: the test suite runs the API against an in-memory SQLite database, each
test in a transaction that is rolled back at the end (tests/conftest.py overrides `get_db`
with `rollback_session`)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import StaticPool

from .models import Base

test_engine = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)


async def create_schema() -> None:
    async with test_engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)


@asynccontextmanager
async def rollback_session() -> AsyncIterator[AsyncSession]:
    """A session whose work happens in a savepoint of an outer transaction that is rolled
    back afterwards, so that every test starts from the same data."""
    async with test_engine.connect() as connection:
        outer = await connection.begin()
        session = AsyncSession(bind=connection, expire_on_commit=False)
        await session.begin_nested()  # error: ASQ305
        try:
            yield session
        finally:
            await session.close()
            await outer.rollback()
