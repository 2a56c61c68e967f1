"""ASQ203: a session never closed keeps its connection checked out after the request, until the pool runs dry;
the `async with` version gives it back at the end of every request."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from flake8_async_sqla.core.rule import all_rules

from proofs import (
    add_rows,
    collector_paused,
    create_schema,
    lint,
    new_threads_joined,
    raised_chain,
    serve,
    server_connection_states,
)

RULE = all_rules()["ASQ203"]
POOL_SIZE = 2
POOL_EXHAUSTED = f"TimeoutError: QueuePool limit of size {POOL_SIZE} overflow 0 reached, connection timed out, timeout 0.10"
NOT_CHECKED_IN = "The garbage collector is trying to clean up non-checked-in connection"


def factory_app(url: str, count_active_users) -> FastAPI:
    """An app whose `GET /run` answers `count_active_users(factory)` with the app's session factory, on a pool of
    `POOL_SIZE` connections that waits 0.1 s for a free one (the default, 5 + 10 waiting 30 s, runs dry later)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with AsyncExitStack() as stack:
            app.state.engine = create_async_engine(url, pool_size=POOL_SIZE, max_overflow=0, pool_timeout=0.1)
            stack.push_async_callback(app.state.engine.dispose)
            app.state.sessionmaker = async_sessionmaker(app.state.engine, expire_on_commit=False)
            yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/run")
    async def run():
        return {"active": await count_active_users(app.state.sessionmaker)}

    return app


def scenario(example, url: str, backend: str) -> tuple[list, list[int], list[str], list[str], int]:
    """Serve `POOL_SIZE + 1` requests. Returns what each request gave (its JSON or the errors it raised), the
    connections checked out after each, the server's view of them after the last (PostgreSQL), the warnings the
    garbage collector then gives, and the connections still checked out after it ran."""

    async def run():
        await create_schema(example, url)
        await add_rows(url, example.User(id=1, email="ann@example.com"), example.User(id=2, email="bob@example.com"))
        app = factory_app(url, example.count_active_users)
        outcomes, checked_out = [], []
        with new_threads_joined():
            async with serve(app) as client:
                with collector_paused() as warned:
                    for _ in range(POOL_SIZE + 1):
                        try:
                            outcomes.append((await client.get("/run")).json())
                        except Exception as error:
                            outcomes.append(raised_chain(error))
                        checked_out.append(app.state.engine.pool.checkedout())
                    states = await server_connection_states(url) if backend == "postgresql" else []
                left_checked_out = app.state.engine.pool.checkedout()
        return outcomes, checked_out, states, warned, left_checked_out

    return asyncio.run(run())


def test_bad_example_is_reported_and_keeps_a_connection_per_request(load_example, database_url, backend, tmp_path) -> None:
    assert "ASQ203" in lint(RULE.invalid[0], tmp_path)
    outcomes, checked_out, states, warned, left_checked_out = scenario(load_example(RULE.invalid[0]), database_url, backend)
    assert outcomes[:POOL_SIZE] == [{"active": 2}] * POOL_SIZE
    assert outcomes[POOL_SIZE].startswith(POOL_EXHAUSTED)  # the next request finds no free connection
    assert checked_out == [1, 2, 2]
    if backend == "postgresql":
        assert states == ["idle in transaction"] * POOL_SIZE  # each still inside the transaction its SELECT began
    assert len(warned) == POOL_SIZE and all(NOT_CHECKED_IN in w and "which will be terminated" in w for w in warned)
    assert left_checked_out == 0


def test_use_instead_is_clean_and_gives_the_connection_back(load_example, database_url, backend, tmp_path) -> None:
    assert "ASQ203" not in lint(RULE.valid[0], tmp_path)
    outcomes, checked_out, states, warned, left_checked_out = scenario(load_example(RULE.valid[0]), database_url, backend)
    assert outcomes == [{"active": 2}] * (POOL_SIZE + 1)
    assert checked_out == [0] * (POOL_SIZE + 1)
    if backend == "postgresql":
        assert states == ["idle"]  # one pooled connection, reused by every request
    assert warned == []
    assert left_checked_out == 0
