"""ASQ303: `commit()` inside `async with session.begin():` commits the debit, and the credit after it fails with
`InvalidRequestError`, so the money is gone; with `flush()` instead, the block commits both."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from flake8_async_sqla.core.rule import all_rules

from proofs import add_rows, create_schema, lint, serve
from runtime_app import session_app

RULE = all_rules()["ASQ303"]
CLOSED_TRANSACTION = "Can't operate on closed transaction inside context manager"


async def balances(example, url: str) -> dict[int, int]:
    """What a second session finds committed."""
    engine = create_async_engine(url)
    try:
        async with AsyncSession(engine) as second:
            return dict((await second.execute(select(example.Account.id, example.Account.balance))).all())
    finally:
        await engine.dispose()


async def transfer_request(example, url: str) -> dict:
    """A request that moves 30 from account 1 (holding 100) to account 2 (holding 0)."""
    await create_schema(example, url)
    await add_rows(url, example.Account(id=1, balance=100), example.Account(id=2, balance=0))
    async with serve(session_app(url, lambda session: example.transfer(session, 1, 2, 30))) as client:
        return (await client.get("/run")).json()


def test_bad_example_is_reported_commits_half_and_fails(load_example, database_url, tmp_path) -> None:
    assert "ASQ303" in lint(RULE.invalid[0], tmp_path)
    example = load_example(RULE.invalid[0])
    with pytest.raises(InvalidRequestError, match=CLOSED_TRANSACTION):  # raised by the `get` after the commit
        asyncio.run(transfer_request(example, database_url))
    assert asyncio.run(balances(example, database_url)) == {1: 70, 2: 0}


def test_use_instead_is_clean_and_commits_both(load_example, database_url, tmp_path) -> None:
    assert "ASQ303" not in lint(RULE.valid[0], tmp_path)
    example = load_example(RULE.valid[0])
    assert asyncio.run(transfer_request(example, database_url)) == {"result": "None"}
    assert asyncio.run(balances(example, database_url)) == {1: 70, 2: 30}
