"""Nightly maintenance, run by cron on the worker host: `python -m app.jobs`. The job runs in
a process of its own, so it creates (and disposes) its own engine from the app's settings."""

import asyncio
import logging
from datetime import datetime, timedelta, timezone

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from .db import DATABASE_URL, ENGINE_OPTIONS
from .models import User

logger = logging.getLogger(__name__)


async def deactivate_dormant_users(sessionmaker: async_sessionmaker[AsyncSession], dormant_for: timedelta) -> int:
    cutoff = datetime.now(timezone.utc) - dormant_for
    async with sessionmaker.begin() as session:
        result = await session.execute(
            update(User).where(User.is_active, User.last_login_at < cutoff).values(is_active=False)
        )
    return result.rowcount


async def main() -> None:
    engine = create_async_engine(DATABASE_URL, **ENGINE_OPTIONS)
    try:
        sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        deactivated = await deactivate_dormant_users(sessionmaker, timedelta(days=730))
    finally:
        await engine.dispose()
    logger.info("deactivated %d dormant users", deactivated)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
