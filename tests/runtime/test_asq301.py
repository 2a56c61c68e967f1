"""ASQ301: a service that commits the request's session commits half of the request's work, which a later
failure cannot roll back; with one `begin()` block around the unit of work, the failure leaves nothing behind."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from flake8_async_sqla.core.rule import all_rules

from proofs import add_rows, committed_values, create_schema, lint, run_request
from runtime_app import session_app

RULE = all_rules()["ASQ301"]


def failed_sign_up(example, url: str) -> list[str]:
    """Ann signs up with workspace "acme", which Bob already owns, so the request's second write fails.
    Returns the emails a separate session then finds."""

    async def run():
        await create_schema(example, url)
        # Bob gets id 1 from the key generator, so that the inserts to come do not collide with explicit keys.
        await add_rows(url, example.User(email="bob@example.com"), example.Workspace(slug="acme", owner_id=1))
        outcome = await run_request(session_app(url, lambda session: example.sign_up(session, "ann@example.com", "acme")))
        assert outcome.startswith("IntegrityError: ") and "workspaces" in outcome  # the slug is taken
        return await committed_values(url, select(example.User.email).order_by(example.User.email))

    return asyncio.run(run())


def test_bad_example_is_reported_and_leaves_half_the_request_committed(load_example, database_url, tmp_path) -> None:
    assert "ASQ301" in lint(RULE.invalid[0], tmp_path)
    assert failed_sign_up(load_example(RULE.invalid[0]), database_url) == ["ann@example.com", "bob@example.com"]


def test_use_instead_is_clean_and_rolls_the_whole_request_back(load_example, database_url, tmp_path) -> None:
    assert "ASQ301" not in lint(RULE.valid[0], tmp_path)
    assert failed_sign_up(load_example(RULE.valid[0]), database_url) == ["bob@example.com"]
