"""ASQ207: a background task given the request's session depends on when FastAPI runs the session dependency's
exit code. With the default `scope="request"` (FastAPI 0.118.0 and later) the task runs first and works; with
`scope="function"` (0.121.0 and later, and every yield dependency from 0.106.0 to 0.117.x) the session is closed
before the task, whose query then silently checks out a connection that nothing gives back. A task that opens
its own session works under both."""

from __future__ import annotations

import asyncio

import fastapi
import pytest

from flake8_async_sqla.core.rule import all_rules

from proofs import add_rows, collector_paused, create_schema, lint, new_threads_joined, serve, server_connection_states

RULE = all_rules()["ASQ207"]
REQUEST_SCOPED = "Depends(get_session)"
FUNCTION_SCOPED = 'Depends(get_session, scope="function")'
RECEIPT = ("ann@example.com", "Receipt for order 1")
NOT_CHECKED_IN = "The garbage collector is trying to clean up non-checked-in connection"
FASTAPI_VERSION = tuple(int(part) for part in fastapi.__version__.split(".")[:2])
requires_exit_after_tasks = pytest.mark.skipif(
    FASTAPI_VERSION < (0, 118), reason="from FastAPI 0.106.0 to 0.117.x a yield dependency exits before the background tasks"
)
requires_dependency_scopes = pytest.mark.skipif(FASTAPI_VERSION < (0, 121), reason="Depends(scope=...) is new in FastAPI 0.121.0")


def scenario(example, url: str, backend: str) -> tuple[dict, list, int, list[str], list[str], int]:
    """Ask for order 1's receipt by email. Returns the response, the mail sent, the connections checked out once
    the request (background tasks included) is done, the server's view of the connections then (PostgreSQL),
    the warnings the garbage collector gives, and the connections still checked out after it ran."""

    async def run():
        await create_schema(example, url)
        await add_rows(url, example.Order(id=1, customer_email="ann@example.com"))
        with new_threads_joined():
            async with serve(example.app) as client:
                with collector_paused() as warned:
                    # The ASGI transport returns once the app is done: after the background tasks and the dependency's exit.
                    response = (await client.post("/orders/1/receipt")).json()
                    checked_out = example.engine.pool.checkedout()
                    states = await server_connection_states(url) if backend == "postgresql" else []
                left_checked_out = example.engine.pool.checkedout()
        return response, list(example.outbox), checked_out, states, warned, left_checked_out

    return asyncio.run(run())


@requires_exit_after_tasks
def test_bad_example_is_reported_and_works_while_the_dependency_exits_after_the_task(
    load_example, database_url, backend, tmp_path
) -> None:
    assert "ASQ207" in lint(RULE.invalid[0], tmp_path)
    response, sent, checked_out, states, warned, left_checked_out = scenario(load_example(RULE.invalid[0]), database_url, backend)
    assert response == {"queued": True}
    # No failure on these versions: the task ran on the request's session before the dependency's exit code,
    # which then gave the task's connection back (had the task run after it, the connection would be left out).
    assert sent == [RECEIPT]
    assert checked_out == 0
    if backend == "postgresql":
        assert states == ["idle"]
    assert warned == []
    assert left_checked_out == 0


@requires_dependency_scopes
def test_bad_example_with_function_scope_leaves_a_connection_checked_out(load_example, database_url, backend, tmp_path) -> None:
    assert RULE.invalid[0].count(REQUEST_SCOPED) == 1
    source = RULE.invalid[0].replace(REQUEST_SCOPED, FUNCTION_SCOPED)
    assert "ASQ207" in lint(source, tmp_path)
    response, sent, checked_out, states, warned, left_checked_out = scenario(load_example(source), database_url, backend)
    assert response == {"queued": True}
    # The dependency closed the session before the task ran; closing only resets an AsyncSession, so the task's
    # query began a new transaction on a fresh connection, and nothing closes the session again.
    assert sent == [RECEIPT]
    assert checked_out == 1
    if backend == "postgresql":
        assert states == ["idle in transaction"]
    assert len(warned) == 1 and NOT_CHECKED_IN in warned[0] and "which will be terminated" in warned[0]
    assert left_checked_out == 0


def test_use_instead_is_clean_and_gives_the_connection_back(load_example, database_url, backend, tmp_path) -> None:
    """The task owns its session, so no dependency's scope is involved."""
    assert "ASQ207" not in lint(RULE.valid[0], tmp_path)
    response, sent, checked_out, states, warned, left_checked_out = scenario(load_example(RULE.valid[0]), database_url, backend)
    assert response == {"queued": True}
    assert sent == [RECEIPT]
    assert checked_out == 0
    if backend == "postgresql":
        assert states == ["idle"]
    assert warned == []
    assert left_checked_out == 0
