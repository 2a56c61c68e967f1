import os

from pydantic import BaseModel


class Settings(BaseModel):
    DATABASE_URL: str = os.environ.get("DATABASE_URL", "postgresql+asyncpg://app:app@localhost/app")
    DB_ECHO: bool = False
    DB_POOL_SIZE: int = 20
    DB_TIMEOUT: float = 10.0


settings = Settings()
