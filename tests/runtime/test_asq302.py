"""ASQ302: a session opened and closed without a commit discards its write, although the request returns the
new row's id; with the write in a `begin()` block the row is saved."""

from __future__ import annotations

import asyncio

from flake8_async_sqla.core.rule import all_rules

from proofs import count_rows, create_schema, lint, run_request
from runtime_app import session_app

RULE = all_rules()["ASQ302"]


def sign_up(example, url: str) -> tuple[dict, int]:
    """A request that records a signup through the app's engine; its response, and the signups a separate
    session then finds."""

    async def run():
        await create_schema(example, url)
        # The request session's bind is the app's engine, which the example opens its own session on.
        response = await run_request(session_app(url, lambda session: example.record_signup(session.bind, "ann@example.com")))
        return response, await count_rows(url, example.Signup)

    return asyncio.run(run())


def test_bad_example_is_reported_and_its_write_is_discarded(load_example, database_url, tmp_path) -> None:
    assert "ASQ302" in lint(RULE.invalid[0], tmp_path)
    response, saved = sign_up(load_example(RULE.invalid[0]), database_url)
    assert response == {"result": "1"}  # the request succeeds, with the id the flush gave the row...
    assert saved == 0  # ...which closing the session rolled back


def test_use_instead_is_clean_and_saves_the_row(load_example, database_url, tmp_path) -> None:
    assert "ASQ302" not in lint(RULE.valid[0], tmp_path)
    response, saved = sign_up(load_example(RULE.valid[0]), database_url)
    assert response == {"result": "1"}
    assert saved == 1
