"""Runtime proofs: rule examples executed against real SQLAlchemy asyncio with real drivers.

SQLite through aiosqlite always; PostgreSQL through asyncpg when ASQ_TEST_POSTGRES_URL
names a server (`.ci/postgres.sh` starts a throwaway one, and `.ci/run` does so).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BACKENDS = ("sqlite", "postgresql")
NO_POSTGRES = "no PostgreSQL server: set ASQ_TEST_POSTGRES_URL (`.ci/postgres.sh` starts a throwaway one)"


def _admin_url() -> str | None:
    return os.environ.get("ASQ_TEST_POSTGRES_URL")


async def _postgres(statement: str) -> None:
    import asyncpg

    admin = _admin_url()
    assert admin is not None
    connection = await asyncpg.connect(admin.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and not _admin_url():
        pytest.skip(NO_POSTGRES)
    return request.param


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
        return
    name = f"asq_{uuid.uuid4().hex[:12]}"
    asyncio.run(_postgres(f'CREATE DATABASE "{name}"'))
    admin = _admin_url() or ""
    try:
        yield admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def load_example(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Import a rule's example as a module of its own, with DATABASE_URL pointing at the test database."""
    monkeypatch.setenv("DATABASE_URL", database_url)

    def load(source: str) -> ModuleType:
        name = f"asq_example_{uuid.uuid4().hex[:8]}"
        path = tmp_path / f"{name}.py"
        path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    return load
