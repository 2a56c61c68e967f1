"""Helpers of the runtime proofs: schema, seed rows, serving an app in-process, linting a snippet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType


async def create_schema(module: ModuleType, url: str) -> None:
    """Create the tables of every mapped class the example declares."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.orm import DeclarativeBase

    engine = create_async_engine(url)
    try:
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, DeclarativeBase) and value.__dict__.get("metadata"):
                async with engine.begin() as connection:
                    await connection.run_sync(value.metadata.create_all)
    finally:
        await engine.dispose()


@asynccontextmanager
async def serve(app) -> AsyncIterator:
    """The app with its lifespan running, and an HTTP client talking to it in-process."""
    import httpx

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def lint(source: str, tmp_path: Path) -> list[str]:
    import ast

    from flake8_async_sqla.core.checker import check_tree
    from flake8_async_sqla.core.project import ProjectIndex

    path = tmp_path / "linted_example.py"
    path.write_text(source, encoding="utf-8")
    return [f.code for f in check_tree(ast.parse(source), str(path), source, index=ProjectIndex())]


async def add_rows(url: str, *rows) -> None:
    """Insert rows (mapped objects) in their own committed transaction."""
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    engine = create_async_engine(url)
    try:
        async with AsyncSession(engine) as session, session.begin():
            session.add_all(rows)
    finally:
        await engine.dispose()


def raised_chain(error: BaseException) -> str:
    """The error and everything it wraps, as text, so one assertion fits both backends."""
    parts = []
    seen = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return "\n".join(parts)
