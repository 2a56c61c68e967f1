"""Tests, migrations, scripts and examples: not production work, listed apart with what each needs after the
migration. Read from their text (they are not analysed), with the names the application's inventory knows."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flake8_async_sqla.core.roles import EXAMPLE, MIGRATION, SCRIPT, TEST

DATABASE_WORDS = re.compile(r"\b(?:Session|session|engine|sessionmaker|sqlalchemy|sqlmodel|alembic)\b")
SYNC_ENGINE = re.compile(r"\b(?:create_engine|engine_from_config)\s*\(")
ASYNC_ALEMBIC = re.compile(r"\b(?:async_engine_from_config|run_sync)\b")


@dataclass(frozen=True)
class AppNames:
    """The application's module-level engines, session factories and session dependencies, by name."""

    engines: tuple[str, ...]
    factories: tuple[str, ...]
    dependencies: tuple[str, ...]


@dataclass(frozen=True)
class SupportFile:
    path: str
    role: str
    needs: str


def support_needs(path: str, role: str, text: str, app: AppNames) -> SupportFile | None:
    """What the file needs once the app is on the async engine; None when it does not touch the database."""
    if role == MIGRATION and "/versions/" in f"/{path}":
        return SupportFile(path, role, "a revision: runs on Alembic's connection, nothing to change")
    if not DATABASE_WORDS.search(text):
        return None
    imported = [name for name in (*app.engines, *app.factories) if _imports(text, name)]
    needs: list[str] = []
    if role == TEST:
        if "dependency_overrides" in text:
            shown = next((f"`{d}`" for d in app.dependencies if d in text), "the session dependency")
            needs.append(f"its `dependency_overrides` of {shown} must yield an `AsyncSession`")
        if SYNC_ENGINE.search(text) or "sessionmaker(" in text:
            needs.append("an async engine fixture (`create_async_engine`, e.g. on `sqlite+aiosqlite`) with an `AsyncSession` fixture, and async tests (`pytest-asyncio` or `anyio`)")
        if "TestClient" in text:
            needs.append("`TestClient` keeps working (used as `with TestClient(app)` it runs the lifespan); async tests use `httpx.AsyncClient(transport=ASGITransport(app))`")
    elif role == MIGRATION:
        if ASYNC_ALEMBIC.search(text):
            needs.append("already runs migrations on an async engine: nothing to change")
        elif SYNC_ENGINE.search(text):
            needs.append("Alembic's own sync engine: keep a sync URL of its own (`postgresql+psycopg2://` or `postgresql+psycopg://`), or switch env.py to the async template (`async_engine_from_config` and `connection.run_sync(do_run_migrations)`)")
    elif role == SCRIPT:
        if SYNC_ENGINE.search(text) and not imported:
            needs.append("creates its own sync engine: it can stay as it is, outside the app")
    elif role == EXAMPLE:
        needs.append("shows the app's patterns: update it with phase 2 so it does not teach the old ones")
    if imported:
        names = ", ".join(f"`{n}`" for n in imported)
        needs.append(
            f"imports the app's {names}: after phase 1 the engine and factory live in the lifespan (`app.state`); "
            "create and dispose its own (`create_async_engine` inside `asyncio.run(main())`) or keep a sync engine of its own"
        )
    if not needs:
        needs.append("uses the database through the app's code: follows it, nothing of its own to change")
    return SupportFile(path, role, "; ".join(needs))


def _imports(text: str, name: str) -> bool:
    """Whether the text imports `name`: on the import's line, or within its parentheses over several lines."""
    return re.search(
        rf"^\s*(?:from\s+\S+\s+)?import\b(?:\s*\([^)]*?|[^\n]*)\b{re.escape(name)}\b", text, re.MULTILINE
    ) is not None
