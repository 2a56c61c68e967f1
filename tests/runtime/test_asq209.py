"""ASQ209: `session.delete(user)` without `await` deletes nothing (and Python warns); the awaited version deletes."""

from __future__ import annotations

import asyncio
import warnings

import pytest
from sqlalchemy import select

from flake8_async_sqla.core.rule import all_rules

from proofs import add_rows, committed_values, create_schema, fixed, lint, run_request
from runtime_app import session_app

RULE = all_rules()["ASQ209"]
NEVER_AWAITED = "coroutine 'AsyncSession.delete' was never awaited"


def delete_request(example, url: str) -> tuple[dict, list[int]]:
    """The response to a request that deletes user 1, and the user ids a separate session then finds
    (the warning comes from the coroutine's finalizer, which runs before the request's outcome is returned)."""

    async def run():
        await create_schema(example, url)
        await add_rows(url, example.User(id=1, email="ann@example.com"), example.User(id=2, email="bob@example.com"))
        response = await run_request(session_app(url, lambda session: example.delete_user(session, 1)))
        return response, await committed_values(url, select(example.User.id).order_by(example.User.id))

    return asyncio.run(run())


def test_bad_example_is_reported_and_deletes_nothing(load_example, database_url, tmp_path) -> None:
    assert "ASQ209" in lint(RULE.invalid[0], tmp_path)
    with pytest.warns(RuntimeWarning, match=NEVER_AWAITED):
        response, user_ids = delete_request(load_example(RULE.invalid[0]), database_url)
    assert response == {"result": "None"}  # the request succeeds...
    assert user_ids == [1, 2]  # ...and the committed transaction holds no DELETE


def test_use_instead_is_clean_and_deletes(load_example, database_url, tmp_path) -> None:
    assert "ASQ209" not in lint(RULE.valid[0], tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response, user_ids = delete_request(load_example(RULE.valid[0]), database_url)
    assert not [w for w in caught if NEVER_AWAITED in str(w.message)]
    assert response == {"result": "None"}
    assert user_ids == [2]


def test_fixed_example_is_clean_and_deletes(load_example, database_url, tmp_path) -> None:
    repaired = fixed(RULE.invalid[0], tmp_path)
    assert "ASQ209" not in lint(repaired, tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response, user_ids = delete_request(load_example(repaired), database_url)
    assert not [w for w in caught if NEVER_AWAITED in str(w.message)]
    assert response == {"result": "None"}
    assert user_ids == [2]
