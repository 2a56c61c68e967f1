"""ASQ205: a session factory that expires on commit makes the post-commit read fail; expire_on_commit=False works."""

from __future__ import annotations

import asyncio
import warnings

from flake8_async_sqla.core.rule import all_rules

from proofs import REFUSED_CURSOR, count_rows, create_schema, fixed, lint, run_request

RULE = all_rules()["ASQ205"]


def scenario(example, url: str) -> tuple[dict | str, int, list[str]]:
    """Sign a user up. Returns the response (or the chain of errors the request raised), the users then
    in the database, and the warnings given by the request and when it is freed."""

    async def run():
        await create_schema(example, url)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outcome = await run_request(example.app, "/users", method="POST", params={"email": "ann@example.com"})
        return outcome, await count_rows(url, example.User), [f"{w.category.__name__}: {w.message}" for w in caught]

    return asyncio.run(run())


def test_bad_example_is_reported_and_the_read_after_commit_fails(load_example, database_url, backend, tmp_path) -> None:
    assert "ASQ205" in lint(RULE.invalid[0], tmp_path)
    outcome, saved, warned = scenario(load_example(RULE.invalid[0]), database_url)
    assert "MissingGreenlet: greenlet_spawn has not been called" in outcome
    assert saved == 1  # the request failed, yet its write was committed
    assert warned == ([f"RuntimeWarning: {REFUSED_CURSOR}"] if backend == "sqlite" else [])  # the reload's cursor


def test_use_instead_is_clean_and_works(load_example, database_url, tmp_path) -> None:
    assert "ASQ205" not in lint(RULE.valid[0], tmp_path)
    outcome, saved, warned = scenario(load_example(RULE.valid[0]), database_url)
    assert outcome == {"id": 1, "email": "ann@example.com"}
    assert saved == 1
    assert warned == []


def test_fixed_example_is_clean_and_works(load_example, database_url, tmp_path) -> None:
    repaired = fixed(RULE.invalid[0], tmp_path)
    assert "ASQ205" not in lint(repaired, tmp_path)
    outcome, saved, warned = scenario(load_example(repaired), database_url)
    assert outcome == {"id": 1, "email": "ann@example.com"}
    assert saved == 1
    assert warned == []
