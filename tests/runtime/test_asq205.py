"""ASQ205: a session factory that expires on commit makes the post-commit read fail; expire_on_commit=False works."""

from __future__ import annotations

import asyncio
import gc
import warnings

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from flake8_async_sqla.core.rule import all_rules

from proofs import create_schema, lint, raised_chain, serve

RULE = all_rules()["ASQ205"]


def scenario(example, url: str) -> tuple[dict | str, int, list[str]]:
    """Sign a user up. Returns the response (or the chain of errors the request raised), the users then
    in the database, and the warnings given by the request and when it is freed."""

    async def run():
        await create_schema(example, url)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                async with serve(example.app) as client:
                    outcome = (await client.post("/users", params={"email": "ann@example.com"})).json()
            except Exception as error:  # kept as text, so the failed request's frames are freed here
                outcome = raised_chain(error)
            gc.collect()
        engine = create_async_engine(url)
        try:
            async with AsyncSession(engine) as session:
                saved = await session.scalar(select(func.count()).select_from(example.User))
        finally:
            await engine.dispose()
        return outcome, saved, [f"{w.category.__name__}: {w.message}" for w in caught]

    return asyncio.run(run())


def test_bad_example_is_reported_and_the_read_after_commit_fails(load_example, database_url, backend, tmp_path) -> None:
    assert "ASQ205" in lint(RULE.invalid[0], tmp_path)
    outcome, saved, warned = scenario(load_example(RULE.invalid[0]), database_url)
    assert "MissingGreenlet: greenlet_spawn has not been called" in outcome
    assert saved == 1  # the request failed, yet its write was committed
    # SQLAlchemy's aiosqlite adapter creates the reload's cursor coroutine before refusing to await it.
    assert warned == (["RuntimeWarning: coroutine 'Connection.cursor' was never awaited"] if backend == "sqlite" else [])


def test_use_instead_is_clean_and_works(load_example, database_url, tmp_path) -> None:
    assert "ASQ205" not in lint(RULE.valid[0], tmp_path)
    outcome, saved, warned = scenario(load_example(RULE.valid[0]), database_url)
    assert outcome == {"id": 1, "email": "ann@example.com"}
    assert saved == 1
    assert warned == []
