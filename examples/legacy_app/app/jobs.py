"""Nightly maintenance, run by cron on the worker host: `python -m app.jobs`."""

import asyncio
import logging
from datetime import datetime, timedelta, timezone

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from .models import User

logger = logging.getLogger(__name__)

# Copied from the old synchronous cron scripts: the worker host has no environment file.
JOBS_DATABASE_URL = "postgresql+psycopg2://shop:shop@db.internal/shop"


async def deactivate_dormant_users(engine: AsyncEngine, dormant_for: timedelta) -> int:
    cutoff = datetime.now(timezone.utc) - dormant_for
    async with AsyncSession(engine) as session:
        result = await session.execute(  # error: ASQ302
            update(User).where(User.is_active, User.last_login_at < cutoff).values(is_active=False)
        )
    return result.rowcount


async def main() -> None:
    engine = create_async_engine(JOBS_DATABASE_URL)  # error: ASQ105, ASQ601
    deactivated = await deactivate_dormant_users(engine, timedelta(days=730))
    logger.info("deactivated %d dormant users", deactivated)
    await engine.dispose()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
