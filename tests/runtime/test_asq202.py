"""ASQ202: one failed flush on a module-level session breaks every later request; a session per request does not."""

from __future__ import annotations

import asyncio

import httpx

from flake8_async_sqla.core.rule import all_rules

from proofs import create_schema, lint, outcome_of, serve

RULE = all_rules()["ASQ202"]
# Four sign-ups from different users; the second repeats the first's email.
EMAILS = ["ann@example.com", "ann@example.com", "bob@example.com", "eve@example.com"]


def scenario(example, url: str) -> list[str]:
    """Sign each email up in its own request; what each request gave: its status code or the error it raised."""

    async def run():
        await create_schema(example, url)
        outcomes = []
        async with serve(example.app) as client:
            try:
                for email in EMAILS:
                    outcome = await outcome_of(client.post("/users", params={"email": email}))
                    outcomes.append(str(outcome.status_code) if isinstance(outcome, httpx.Response) else outcome.partition(":")[0])
            finally:
                # Hand the global session's connection back before the lifespan disposes the engine.
                module_session = getattr(example, "session", None)
                if module_session is not None:
                    await module_session.close()
        return outcomes

    return asyncio.run(run())


def test_bad_example_is_reported_and_one_failed_flush_breaks_later_requests(load_example, database_url, tmp_path) -> None:
    assert "ASQ202" in lint(RULE.invalid[0], tmp_path)
    outcomes = scenario(load_example(RULE.invalid[0]), database_url)
    assert outcomes == ["200", "IntegrityError", "PendingRollbackError", "PendingRollbackError"]


def test_use_instead_is_clean_and_only_the_duplicate_fails(load_example, database_url, tmp_path) -> None:
    assert "ASQ202" not in lint(RULE.valid[0], tmp_path)
    outcomes = scenario(load_example(RULE.valid[0]), database_url)
    assert outcomes == ["200", "IntegrityError", "200", "200"]
