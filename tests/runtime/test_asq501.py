"""ASQ501: a lazy relationship read under asyncio fails; the eager-loading version works."""

from __future__ import annotations

import asyncio

from flake8_async_sqla.core.rule import all_rules

from proofs import add_rows, create_schema, fixed, lint, refused_cursor_ignored, run_request
from runtime_app import session_app

RULE = all_rules()["ASQ501"]


def scenario(example, url: str) -> dict | str:
    """The response, or the chain of errors the request raised."""

    async def run():
        await create_schema(example, url)
        await add_rows(url, example.User(id=1, addresses=[example.Address(), example.Address()]))
        with refused_cursor_ignored():
            return await run_request(session_app(url, lambda session: example.address_count(session, 1)))

    return asyncio.run(run())


def test_bad_example_is_reported_and_fails_with_missing_greenlet(load_example, database_url, tmp_path) -> None:
    assert "ASQ501" in lint(RULE.invalid[0], tmp_path)
    outcome = scenario(load_example(RULE.invalid[0]), database_url)
    assert "greenlet_spawn has not been called" in outcome


def test_use_instead_is_clean_and_works(load_example, database_url, tmp_path) -> None:
    assert "ASQ501" not in lint(RULE.valid[0], tmp_path)
    assert scenario(load_example(RULE.valid[0]), database_url) == {"result": "2"}


def test_a_select_that_loads_lazily_fails_and_its_fixed_version_works(load_example, database_url, tmp_path) -> None:
    bad = RULE.invalid[2]  # the object comes from a select() in the same function: the fix loads the relationship there
    assert "ASQ501" in lint(bad, tmp_path)
    assert "greenlet_spawn has not been called" in scenario(load_example(bad), database_url)


def test_fixed_example_is_clean_and_works(load_example, database_url, tmp_path) -> None:
    repaired = fixed(RULE.invalid[2], tmp_path)
    assert "selectinload(User.addresses)" in repaired
    assert "ASQ501" not in lint(repaired, tmp_path)
    assert scenario(load_example(repaired), database_url) == {"result": "2"}
