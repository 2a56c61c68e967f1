"""ASQ502: with the default lazy loader an unloaded read fails only where it happens (MissingGreenlet);
declared `lazy="raise"` it fails the same way on every path, and the eager-loading query works."""

from __future__ import annotations

import asyncio

from flake8_async_sqla.core.rule import all_rules

from sqlalchemy.orm import selectinload

from proofs import add_rows, create_schema, fixed, lint, refused_cursor_ignored, run_request
from runtime_app import session_app

RULE = all_rules()["ASQ502"]


def book_count(example, url: str, load, seed: bool = True) -> dict | str:
    """Serve a request that loads author 1 (with two books, stored first when `seed`) with `load(session)`
    and counts the books; its JSON, or the chain of what it raised."""

    async def count(session) -> int:
        author = await load(session)
        return len(author.books)

    async def run():
        if seed:
            await create_schema(example, url)
            await add_rows(url, example.Author(id=1), example.Book(id=1, author_id=1), example.Book(id=2, author_id=1))
        with refused_cursor_ignored():
            return await run_request(session_app(url, count))

    return asyncio.run(run())


def test_bad_example_is_reported_and_the_unloaded_read_fails_with_missing_greenlet(load_example, database_url, tmp_path) -> None:
    assert "ASQ502" in lint(RULE.invalid[0], tmp_path)
    example = load_example(RULE.invalid[0])
    outcome = book_count(example, database_url, lambda session: example.author_page(session, 1))
    assert "greenlet_spawn has not been called" in outcome


def test_use_instead_is_clean_works_when_loaded_and_fails_loudly_when_not(load_example, database_url, tmp_path) -> None:
    assert "ASQ502" not in lint(RULE.valid[0], tmp_path)
    example = load_example(RULE.valid[0])
    assert book_count(example, database_url, lambda session: example.author_page(session, 1)) == {"result": "2"}
    outcome = book_count(example, database_url, lambda session: session.get_one(example.Author, 1), seed=False)
    assert outcome.startswith("InvalidRequestError: 'Author.books' is not available due to lazy='raise'")


def test_fixed_example_is_clean_works_when_loaded_and_fails_loudly_when_not(load_example, database_url, tmp_path) -> None:
    repaired = fixed(RULE.invalid[0], tmp_path)
    assert "ASQ502" not in lint(repaired, tmp_path)
    example = load_example(repaired)
    loaded = book_count(
        example, database_url, lambda session: session.get_one(example.Author, 1, options=[selectinload(example.Author.books)])
    )
    assert loaded == {"result": "2"}
    outcome = book_count(example, database_url, lambda session: example.author_page(session, 1), seed=False)
    assert outcome.startswith("InvalidRequestError: 'Author.books' is not available due to lazy='raise'")
