"""ASQ401: `session.query(...)` on an AsyncSession raises AttributeError; the select() version finds the user."""

from __future__ import annotations

import asyncio

from flake8_async_sqla.core.rule import all_rules

from proofs import add_rows, create_schema, fixed, lint, run_request
from runtime_app import session_app

RULE = all_rules()["ASQ401"]


def find_request(example, url: str) -> dict | str:
    async def email_of(session):
        return (await example.find_user(session, "ann@example.com")).email

    async def run():
        await create_schema(example, url)
        await add_rows(url, example.User(email="ann@example.com"))
        return await run_request(session_app(url, email_of))

    return asyncio.run(run())


def test_bad_example_is_reported_and_raises_attribute_error(load_example, database_url, tmp_path) -> None:
    assert "ASQ401" in lint(RULE.invalid[0], tmp_path)
    outcome = find_request(load_example(RULE.invalid[0]), database_url)
    assert outcome.startswith("AttributeError: 'AsyncSession' object has no attribute 'query'")


def test_use_instead_is_clean_and_finds_the_user(load_example, database_url, tmp_path) -> None:
    assert "ASQ401" not in lint(RULE.valid[0], tmp_path)
    assert find_request(load_example(RULE.valid[0]), database_url) == {"result": "'ann@example.com'"}


def test_fixed_example_is_clean_and_finds_the_user(load_example, database_url, tmp_path) -> None:
    repaired = fixed(RULE.invalid[0], tmp_path)
    assert "ASQ401" not in lint(repaired, tmp_path)
    assert find_request(load_example(repaired), database_url) == {"result": "'ann@example.com'"}
