"""ASQ503: reading an attribute after the commit of an expiring session fails with MissingGreenlet, both after
`await session.commit()` and after an `async with session.begin():` block; refreshing, or a session that
does not expire on commit, works."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from flake8_async_sqla.core.rule import all_rules

from proofs import add_rows, create_schema, lint, outcome_of, refused_cursor_ignored

RULE = all_rules()["ASQ503"]


def run_job(example, url: str, job):
    """What `job(engine)` returns, or the chain of what it raised, against a database holding user 1 (for the
    rename examples)."""

    async def run():
        await create_schema(example, url)
        if hasattr(example, "User"):
            await add_rows(url, example.User(id=1, name="ann"))
        engine = create_async_engine(url)
        try:
            with refused_cursor_ignored():
                return await outcome_of(job(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.mark.parametrize("which", [0, 1])
def test_bad_examples_are_reported_and_the_read_fails_with_missing_greenlet(which, load_example, database_url, tmp_path) -> None:
    assert "ASQ503" in lint(RULE.invalid[which], tmp_path)
    example = load_example(RULE.invalid[which])
    job = (lambda engine: example.rename_user(engine, 1, "bea")) if which == 0 else (lambda engine: example.add_member(engine, 7, "bea@example.com"))
    assert "greenlet_spawn has not been called" in run_job(example, database_url, job)


def test_use_instead_is_clean_and_works(load_example, database_url, tmp_path) -> None:
    assert "ASQ503" not in lint(RULE.valid[0], tmp_path)
    assert "ASQ503" not in lint(RULE.valid[1], tmp_path)
    refreshed = load_example(RULE.valid[0])
    assert run_job(refreshed, database_url, lambda engine: refreshed.rename_user(engine, 1, "bea")) == "bea"
    unexpired = load_example(RULE.valid[1])
    assert run_job(unexpired, database_url, lambda engine: unexpired.add_member(engine, 7, "bea@example.com")) == 1
