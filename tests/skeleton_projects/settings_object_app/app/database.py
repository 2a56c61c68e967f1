from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.config import settings


def connect_args() -> dict[str, object]:
    return {"timeout": settings.DB_TIMEOUT}


engine = create_async_engine(
    str(settings.DATABASE_URL), echo=settings.DB_ECHO, pool_size=settings.DB_POOL_SIZE, connect_args=connect_args()
)
async_session = async_sessionmaker(engine, expire_on_commit=False)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with async_session() as session:
        yield session
