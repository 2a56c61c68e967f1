"""Database setup, as it grew over the years."""

import os

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql+asyncpg://shop:shop@localhost/shop")
READ_REPLICA_URL = os.environ.get("READ_REPLICA_URL", "postgresql+asyncpg://shop:shop@replica/shop")
REPORTING_DATABASE_URL = os.environ.get("REPORTING_DATABASE_URL", "postgresql+psycopg2://shop:shop@replica/shop")

engine = create_async_engine(DATABASE_URL, pool_size=10, max_overflow=5)
SessionLocal = async_sessionmaker(engine)  # error: ASQ205

# Background jobs share this one so that they do not "waste" a connection each.
db_session = SessionLocal()  # error: ASQ202
