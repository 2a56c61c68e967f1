"""Database settings. The engine and the session factory are created once per process, in
the app's lifespan (main.py); requests get their session from `SessionDep` (deps.py)."""

import os

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql+asyncpg://shop:shop@localhost/shop")
ENGINE_OPTIONS = {"pool_size": 10, "max_overflow": 5, "pool_pre_ping": True}
