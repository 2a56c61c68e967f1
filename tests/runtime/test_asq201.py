"""ASQ201: tasks sharing one session fail once they write, and reads only appear to work; one after another works."""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest
from sqlalchemy import select
from sqlalchemy.exc import SAWarning

from flake8_async_sqla.core.rule import all_rules

from proofs import create_schema, lint, raised_chain, serve
from runtime_app import session_app

RULE = all_rules()["ASQ201"]
# What SQLAlchemy warns when it collects a connection that a failed request never returned to the pool.
LEAKED_CONNECTION = "The garbage collector is trying to clean up non-checked-in connection"
EMAILS = ["ann@example.com", "bob@example.com", "eve@example.com"]


class RequestFailed(Exception):
    """The request raised; the message is the whole chain of what it raised."""


def scenario(example, url: str, call):
    async def run():
        await create_schema(example, url)
        threads_before = set(threading.enumerate())
        try:
            async with serve(session_app(url, call)) as client:
                return (await client.get("/run")).json()
        except Exception as error:  # kept as text: the error's frames hold the failed request's session
            failure = raised_chain(error)
        await settle(threads_before)
        raise RequestFailed(failure)

    return asyncio.run(run())


async def settle(threads_before: set[threading.Thread]) -> None:
    """Let what a failed request leaves behind end while the event loop still runs: the tasks that
    `gather` does not cancel, and the connection that the failed close left checked out (aiosqlite
    closes a collected connection in its worker thread, which then reports back to this loop)."""
    stray = asyncio.all_tasks() - {asyncio.current_task()}
    if stray:
        await asyncio.wait(stray)
    del stray  # finished tasks keep their results, which hold the connection
    gc.collect()
    for thread in set(threading.enumerate()) - threads_before:
        thread.join(timeout=2)


def test_bad_example_is_reported_and_concurrent_flushes_fail(load_example, database_url, tmp_path) -> None:
    assert "ASQ201" in lint(RULE.invalid[0], tmp_path)
    example = load_example(RULE.invalid[0])
    with pytest.raises(RequestFailed) as raised, pytest.warns(SAWarning) as warned:
        scenario(example, database_url, lambda session: example.import_users(session, EMAILS))
    assert "InvalidRequestError: Session is already flushing" in str(raised.value)
    assert "IllegalStateChangeError" in str(raised.value)  # the request's session cannot even be closed cleanly
    warnings = [str(w.message) for w in warned]
    assert any("not currently supported within the execution stage of the flush" in w for w in warnings)
    assert any(LEAKED_CONNECTION in w for w in warnings)


def test_concurrent_reads_fail_on_a_fresh_session_and_only_appear_to_work_later(load_example, database_url, tmp_path) -> None:
    assert "ASQ201" in lint(RULE.invalid[1], tmp_path)
    example = load_example(RULE.invalid[1])
    with (
        pytest.raises(RequestFailed, match="This session is provisioning a new connection; concurrent operations are not permitted"),
        pytest.warns(SAWarning, match=LEAKED_CONNECTION),
    ):
        scenario(example, database_url, example.load_dashboard)

    async def after_a_first_statement(session):
        await session.execute(select(1))
        return await example.load_dashboard(session)

    # The driver adapters queue the statements on the session's one connection: no error, no concurrency.
    assert scenario(example, database_url, after_a_first_statement) == {"result": "(0, 0)"}


def test_use_instead_is_clean_and_works(load_example, database_url, tmp_path) -> None:
    assert "ASQ201" not in lint(RULE.valid[0], tmp_path)
    example = load_example(RULE.valid[0])
    assert scenario(example, database_url, lambda session: example.import_users(session, EMAILS)) == {"result": "[1, 2, 3]"}
