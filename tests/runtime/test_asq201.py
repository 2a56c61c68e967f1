"""ASQ201: tasks sharing one session fail once they write, and reads only appear to work; one after another works."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.exc import SAWarning

from flake8_async_sqla.core.rule import all_rules

from proofs import create_schema, lint, run_request
from runtime_app import session_app

RULE = all_rules()["ASQ201"]
# What SQLAlchemy warns when it collects a connection that a failed request never returned to the pool.
LEAKED_CONNECTION = "The garbage collector is trying to clean up non-checked-in connection"
EMAILS = ["ann@example.com", "bob@example.com", "eve@example.com"]


def scenario(example, url: str, call):
    """The outcome of a request that awaits `call(session)`: its JSON, or the chain of what it raised."""

    async def run():
        await create_schema(example, url)
        return await run_request(session_app(url, call))

    return asyncio.run(run())


def test_bad_example_is_reported_and_concurrent_flushes_fail(load_example, database_url, tmp_path) -> None:
    assert "ASQ201" in lint(RULE.invalid[0], tmp_path)
    example = load_example(RULE.invalid[0])
    with pytest.warns(SAWarning) as warned:
        outcome = scenario(example, database_url, lambda session: example.import_users(session, EMAILS))
    assert "InvalidRequestError: Session is already flushing" in outcome
    assert "IllegalStateChangeError" in outcome  # the request's session cannot even be closed cleanly
    warnings = [str(w.message) for w in warned]
    assert any("not currently supported within the execution stage of the flush" in w for w in warnings)
    assert any(LEAKED_CONNECTION in w for w in warnings)


def test_concurrent_reads_fail_on_a_fresh_session_and_only_appear_to_work_later(load_example, database_url, tmp_path) -> None:
    assert "ASQ201" in lint(RULE.invalid[1], tmp_path)
    example = load_example(RULE.invalid[1])
    with pytest.warns(SAWarning, match=LEAKED_CONNECTION):
        outcome = scenario(example, database_url, example.load_dashboard)
    assert "This session is provisioning a new connection; concurrent operations are not permitted" in outcome

    async def after_a_first_statement(session):
        await session.execute(select(1))
        return await example.load_dashboard(session)

    # The driver adapters queue the statements on the session's one connection: no error, no concurrency.
    assert scenario(example, database_url, after_a_first_statement) == {"result": "(0, 0)"}


def test_use_instead_is_clean_and_works(load_example, database_url, tmp_path) -> None:
    assert "ASQ201" not in lint(RULE.valid[0], tmp_path)
    example = load_example(RULE.valid[0])
    assert scenario(example, database_url, lambda session: example.import_users(session, EMAILS)) == {"result": "[1, 2, 3]"}
