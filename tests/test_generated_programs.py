"""Generated programs (hypothesmith): the plugin and `check` never raise and always agree with themselves."""

from __future__ import annotations

import ast
import tempfile
from pathlib import Path

import hypothesmith
import pytest
from hypothesis import HealthCheck, given, settings

from flake8_async_sqla.adapters.flake8 import AsyncSqlaPlugin
from flake8_async_sqla.config import Settings
from flake8_async_sqla.runner import analyse

# The compiler warns about odd generated code ("'str' object is not callable"); that is the point of it.
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")

# Generated programs rarely mention the database; this prefix makes every one relevant, so
# the rules (not only the relevance gate) see them.
PREFIX = "from sqlalchemy.ext.asyncio import AsyncSession\nfrom fastapi import FastAPI\n"


def plugin_findings(source: str) -> list[tuple[int, int, str]]:
    tree = ast.parse(source)
    plugin = AsyncSqlaPlugin(tree, "/virtual/generated.py", source.splitlines(keepends=True))
    return [(line, col, message) for line, col, message, _ in plugin.run()]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(program=hypothesmith.from_grammar())
def test_plugin_never_raises_and_is_deterministic(program: str) -> None:
    source = PREFIX + program
    try:
        ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return  # flake8 reports what cannot be parsed and never calls plugins on it
    first = plugin_findings(source)
    assert plugin_findings(source) == first
    assert not any("ASQ000" in message for _, _, message in first), first


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(program=hypothesmith.from_node())
def test_check_never_raises_on_generated_modules(program: str) -> None:
    source = PREFIX + program
    codes = frozenset(Settings().selected_codes())
    with tempfile.TemporaryDirectory() as folder:  # `check` reads each file it analyses
        path = Path(folder, "generated.py")
        path.write_text(source, encoding="utf-8")
        outcome = analyse(str(path), codes, Settings().analysis_options(), Settings().role_policy())
        again = analyse(str(path), codes, Settings().analysis_options(), Settings().role_policy())
    assert outcome.findings == again.findings
    assert all(f.code != "ASQ000" for f in outcome.findings), outcome.findings
