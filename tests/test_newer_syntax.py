"""Files written for a newer Python than the one running the tool are read through a position-keeping rewrite."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import hypothesmith
import pytest
from hypothesis import HealthCheck, given, settings

from flake8_async_sqla.core.newer_syntax import downgrade
from flake8_async_sqla.core.parsing import ParseFailure, parse

NEWER = '''\
from sqlalchemy.ext.asyncio import AsyncSession

type Pair[T] = tuple[T, T]


class Repository[ModelType: object]:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def save[T](
        self, obj: T,
    ) -> T:
        self.session.add(obj)
        await self.session.commit()
        return obj


def first[T](items: list[T]) -> T:
    try:
        return items[0]
    except IndexError, KeyError:
        raise
    label = t"first of {items}"
    return label
'''


def test_each_construct_is_rewritten_in_place() -> None:
    rewritten = downgrade(NEWER)
    assert rewritten is not None
    ast.parse(rewritten)
    before, after = NEWER.splitlines(), rewritten.splitlines()
    assert len(before) == len(after)
    for old, new in zip(before, after):
        if "except" in old:
            assert new == "    except(IndexError, KeyError):"
        else:
            assert len(old) == len(new), (old, new)
    assert after[2] == "Pair         = tuple[T, T]"
    assert after[5] == "class Repository                   :"
    assert after[9] == "    async def save   ("
    assert 'f"first of {items}"' in after[22]


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="this Python parses PEP 695 itself")
def test_parse_reads_newer_files_with_their_positions() -> None:
    tree = parse(NEWER.encode(), "newer.py")
    commit = next(
        node for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "commit"
    )
    assert (commit.lineno, commit.col_offset) == (14, 14)


def test_a_real_syntax_error_still_fails_with_its_reason() -> None:
    with pytest.raises(ParseFailure, match="parse failed under Python"):
        parse(b"def broken(:\n    pass\n", "broken.py")
    assert downgrade("x = 1\n") is None
    assert downgrade("def f(:\n") is None


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="this Python parses PEP 695 itself")
def test_check_reports_in_newer_files(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "repository.py").write_text(NEWER)
    result = subprocess.run(
        [sys.executable, "-m", "flake8_async_sqla", "check", "--no-cache", "."],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    assert "error: parse" not in result.stderr, result.stderr
    assert "repository.py:14:15: ASQ301 " in result.stdout


@pytest.mark.filterwarnings("ignore::SyntaxWarning")
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(program=hypothesmith.from_grammar())
def test_code_the_running_python_parses_is_never_changed_in_meaning(program: str) -> None:
    try:
        original = ast.dump(ast.parse(program))
    except (SyntaxError, ValueError):
        return
    rewritten = downgrade(program)
    assert rewritten is None or ast.dump(ast.parse(rewritten)) == original
