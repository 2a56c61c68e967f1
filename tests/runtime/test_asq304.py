"""ASQ304: after a swallowed IntegrityError the request's next statement raises PendingRollbackError; with the
insert in a `begin_nested()` savepoint, the request goes on."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from flake8_async_sqla.core.rule import all_rules

from proofs import add_rows, create_schema, lint, run_request
from runtime_app import session_app

RULE = all_rules()["ASQ304"]
TAKEN = "taken@example.com"


def register_or_find(example, url: str) -> dict | str:
    """A request that registers an email already taken and, when `register` gives up, returns the existing id."""

    async def sign_up(session):
        user = await example.register(session, TAKEN)
        return user.id if user else await session.scalar(select(example.User.id).where(example.User.email == TAKEN))

    async def run():
        await create_schema(example, url)
        await add_rows(url, example.User(email=TAKEN))
        return await run_request(session_app(url, sign_up))

    return asyncio.run(run())


def test_bad_example_is_reported_and_the_next_statement_fails(load_example, database_url, tmp_path) -> None:
    assert "ASQ304" in lint(RULE.invalid[0], tmp_path)
    outcome = register_or_find(load_example(RULE.invalid[0]), database_url)
    assert outcome.startswith(
        "PendingRollbackError: This Session's transaction has been rolled back due to a previous exception during flush"
    )


def test_use_instead_is_clean_and_the_request_goes_on(load_example, database_url, tmp_path) -> None:
    assert "ASQ304" not in lint(RULE.valid[0], tmp_path)
    assert register_or_find(load_example(RULE.valid[0]), database_url) == {"result": "1"}
