"""ASQ101: an engine per request leaves one open connection behind per request; the lifespan engine keeps one pool."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import warnings

from sqlalchemy.engine import make_url

from flake8_async_sqla.core.rule import all_rules

from proofs import add_rows, create_schema, lint, serve

RULE = all_rules()["ASQ101"]
REQUESTS = 5


async def open_connections(backend: str, url: str) -> int:
    """Connections open on the test database, as the server (PostgreSQL) or the operating system (SQLite's file) sees them."""
    if backend == "postgresql":
        import asyncpg

        monitor = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            return await monitor.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await monitor.close()
    database = os.path.realpath(make_url(url).database)
    opened = 0
    for descriptor in os.listdir("/proc/self/fd"):
        try:
            opened += os.readlink(f"/proc/self/fd/{descriptor}") == database
        except OSError:  # closed while listing
            continue
    return opened


def scenario(example, url: str, backend: str) -> tuple[int, int]:
    """Serve `REQUESTS` requests; return the connections open afterwards and the connections that the
    garbage collector then finds were never closed."""

    async def run():
        await create_schema(example, url)
        await add_rows(url, example.User(id=1, email="ann@example.com"))
        async with serve(example.app) as client:
            # Abandoned engines are freed only when the cycle collector happens to run; pausing it
            # shows how many connections pile up between two collections.
            gc.collect()
            gc.disable()
            threads_before = set(threading.enumerate())
            try:
                for _ in range(REQUESTS):
                    response = await client.get("/users/1")
                    assert response.json() == {"id": 1, "email": "ann@example.com"}
                still_open = await open_connections(backend, url)
            finally:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", ResourceWarning)
                    gc.enable()  # the next allocation may already collect
                    gc.collect()
        never_closed = [w for w in caught if issubclass(w.category, ResourceWarning) and "connection" in str(w.message).lower()]
        if never_closed:
            # aiosqlite closes a collected connection in its worker thread, which then reports back to this
            # event loop: let those threads (all started by the abandoned engines) finish while it is open.
            for thread in set(threading.enumerate()) - threads_before:
                thread.join(timeout=2)
        return still_open, len(never_closed)

    return asyncio.run(run())


def test_bad_example_is_reported_and_leaves_a_connection_per_request(load_example, database_url, backend, tmp_path) -> None:
    assert "ASQ101" in lint(RULE.invalid[0], tmp_path)
    still_open, never_closed = scenario(load_example(RULE.invalid[0]), database_url, backend)
    assert still_open == REQUESTS
    assert never_closed == REQUESTS


def test_use_instead_is_clean_and_keeps_one_pool(load_example, database_url, backend, tmp_path) -> None:
    assert "ASQ101" not in lint(RULE.valid[0], tmp_path)
    still_open, never_closed = scenario(load_example(RULE.valid[0]), database_url, backend)
    assert still_open == 1
    assert never_closed == 0
