import os
from functools import lru_cache

from pydantic import BaseModel


class Settings(BaseModel):
    db_url: str = os.environ.get("APP_DB_URL", "postgresql://app:app@localhost/app")
    db_pool_size: int = 5
    db_pool_recycle: int = 1800


@lru_cache
def get_settings() -> Settings:
    return Settings()
