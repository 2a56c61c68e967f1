"""ASQ303: `commit()` inside `async with session.begin():` commits the debit, and the credit after it fails with
`InvalidRequestError`, so the money is gone; with `flush()` instead, the block commits both."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from flake8_async_sqla.core.rule import all_rules

from proofs import add_rows, committed_rows, create_schema, fixed, lint, run_request
from runtime_app import session_app

RULE = all_rules()["ASQ303"]
CLOSED_TRANSACTION = "InvalidRequestError: Can't operate on closed transaction inside context manager"


def transfer_request(example, url: str) -> tuple[dict | str, dict[int, int]]:
    """A request that moves 30 from account 1 (holding 100) to account 2 (holding 0): its outcome, and the
    balances a separate session then finds."""

    async def run():
        await create_schema(example, url)
        await add_rows(url, example.Account(id=1, balance=100), example.Account(id=2, balance=0))
        outcome = await run_request(session_app(url, lambda session: example.transfer(session, 1, 2, 30)))
        return outcome, dict(await committed_rows(url, select(example.Account.id, example.Account.balance)))

    return asyncio.run(run())


def test_bad_example_is_reported_commits_half_and_fails(load_example, database_url, tmp_path) -> None:
    assert "ASQ303" in lint(RULE.invalid[0], tmp_path)
    outcome, balances = transfer_request(load_example(RULE.invalid[0]), database_url)
    assert outcome.startswith(CLOSED_TRANSACTION)  # raised by the `get` after the commit
    assert balances == {1: 70, 2: 0}


def test_use_instead_is_clean_and_commits_both(load_example, database_url, tmp_path) -> None:
    assert "ASQ303" not in lint(RULE.valid[0], tmp_path)
    outcome, balances = transfer_request(load_example(RULE.valid[0]), database_url)
    assert outcome == {"result": "None"}
    assert balances == {1: 70, 2: 30}


def rename_request(example, url: str) -> tuple[dict | str, list[tuple]]:
    """A request that renames user 1 (`invalid[2]`): its outcome, and the names a separate session then finds."""

    async def run():
        await create_schema(example, url)
        await add_rows(url, example.User(id=1, name="ann"))
        outcome = await run_request(session_app(url, lambda session: example.rename(session, 1, "bob")))
        return outcome, await committed_rows(url, select(example.User.name))

    return asyncio.run(run())


RENAME_MODELS = """\
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
"""


def test_a_commit_ending_the_block_commits(load_example, database_url, tmp_path) -> None:
    outcome, names = rename_request(load_example(RULE.invalid[2] + "\n\n" + RENAME_MODELS), database_url)
    assert outcome == {"result": "None"}
    assert names == [("bob",)]


def test_fixed_example_commits_the_same_on_leaving_the_block(load_example, database_url, tmp_path) -> None:
    """The fix is safe: without the commit that ends the block, the block commits the same work on exit."""
    repaired = fixed(RULE.invalid[2] + "\n\n" + RENAME_MODELS, tmp_path)
    assert "ASQ303" not in lint(repaired, tmp_path)
    outcome, names = rename_request(load_example(repaired), database_url)
    assert outcome == {"result": "None"}
    assert names == [("bob",)]
