"""ASQ504: FastAPI serializing an ORM object whose response model names an unloaded relationship lazy-loads it
outside the greenlet (a 500 from ResponseValidationError wrapping MissingGreenlet); the selectinload version
answers with the items."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from flake8_async_sqla.core.rule import all_rules

from proofs import add_rows, create_schema, lint, refused_cursor_ignored, run_request

RULE = all_rules()["ASQ504"]


def read_order(example, url: str) -> dict | str:
    """GET /orders/1 through an app that mounts the example's router, for order 1 with two items: the response,
    or the chain of what the request raised."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = create_async_engine(url)
        app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    app.include_router(example.router)

    async def run():
        await create_schema(example, url)
        await add_rows(url, example.Order(id=1, items=[example.OrderItem(sku="A-1"), example.OrderItem(sku="B-2")]))
        with refused_cursor_ignored():
            return await run_request(app, "/orders/1")

    return asyncio.run(run())


def test_bad_example_is_reported_and_serialization_fails_with_missing_greenlet(load_example, database_url, tmp_path) -> None:
    assert "ASQ504" in lint(RULE.invalid[0], tmp_path)
    outcome = read_order(load_example(RULE.invalid[0]), database_url)
    assert "ResponseValidationError" in outcome
    assert "greenlet_spawn has not been called" in outcome


def test_use_instead_is_clean_and_answers_with_the_items(load_example, database_url, tmp_path) -> None:
    assert "ASQ504" not in lint(RULE.valid[0], tmp_path)
    assert read_order(load_example(RULE.valid[0]), database_url) == {"id": 1, "items": [{"sku": "A-1"}, {"sku": "B-2"}]}
