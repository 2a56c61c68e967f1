from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from app.core.config import get_settings

settings = get_settings()
engine = create_engine(
    settings.db_url, pool_size=settings.db_pool_size, pool_recycle=settings.db_pool_recycle, future=True
)
SessionLocal = sessionmaker(bind=engine, autoflush=False)
