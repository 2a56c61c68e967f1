"""Hostile inputs: each gives findings or one clear per-file diagnostic, through the plugin, flake8 and `check`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flake8_async_sqla.adapters.flake8 import AsyncSqlaPlugin
from flake8_async_sqla.core.parsing import ParseFailure, check_syntax, parse

from harness import ENGINE_IN_HANDLER


def nested_functions(levels: int) -> str:
    lines = ["import sqlalchemy"]
    lines += ["    " * i + f"def level{i}(session):" for i in range(levels)]
    lines.append("    " * levels + "return session")
    return "\n".join(lines) + "\n"


# name -> (content, what `check` must say: a finding code, or a fragment of the per-file diagnostic)
CASES: dict[str, tuple[bytes, str]] = {
    "syntax_error.py": (b"import sqlalchemy\ndef broken(:\n", "parse failed under Python"),
    "null_bytes.py": (b"import sqlalchemy\x00\n", "null bytes"),
    "invalid_utf8.py": (b"import sqlalchemy\nx = '\xff\xfe'\n", "cannot decode"),
    "invalid_utf8_cookie.py": (b"# -*- coding: utf-8 -*-\nimport sqlalchemy\nx = '\xff'\n", "cannot decode"),
    "latin1_cookie.py": ("# -*- coding: latin-1 -*-\n# café\n".encode("latin-1") + ENGINE_IN_HANDLER.encode(), "ASQ101"),
    "utf8_bom.py": (b"\xef\xbb\xbf" + ENGINE_IN_HANDLER.encode(), "ASQ101"),
    "crlf.py": (ENGINE_IN_HANDLER.replace("\n", "\r\n").encode(), "ASQ101"),
    "mixed_endings.py": (ENGINE_IN_HANDLER.replace("\n", "\r\n", 3).encode(), "ASQ101"),
    "tabs.py": (ENGINE_IN_HANDLER.replace("    ", "\t").encode(), "ASQ101"),
    "empty.py": (b"", ""),
    "one_megabyte_line.py": (b"import sqlalchemy\nx = '" + b"a" * 1_000_000 + b"'\n", ""),
    "deep_sum.py": (b"import sqlalchemy\nx = " + b"+".join([b"session"] * 5000) + b"\n", ""),
    "deep_chain.py": (b"import sqlalchemy\ny = engine" + b".b" * 3000 + b"\n", ""),
    "nested_90.py": (nested_functions(90).encode(), ""),
    "match_walrus_async_comprehension.py": (
        b"import sqlalchemy\n\nasync def f(rows, session):\n    match rows:\n        case [first, *_]:\n"
        b"            pass\n    if (n := len(rows)) > 1:\n        pass\n    return [r async for r in session.stream(rows)]\n",
        "",
    ),
    "binary.py": (bytes(range(256)) * 4, "null bytes"),
}
# Syntax newer than the running Python is read on older interpreters too (core.newer_syntax).
CASES["pep695.py"] = (b"import sqlalchemy\ntype Alias = list[int]\ndef f[T](x: T) -> T:\n    return x\n", "")
CASES["pep701.py"] = (b"import sqlalchemy\nd = {}\nx = f\"{d[\"k\"]}\"\n", "")
CASES["pep701_broken.py"] = (b"import sqlalchemy\nd = {}\nx = f\"{d[\"k\"]\"\n", "parse failed under Python 3.")


@pytest.fixture
def hostile_tree(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("")
    for name, (content, _) in CASES.items():
        (tmp_path / name).write_bytes(content)
    (tmp_path / "loop").mkdir()
    (tmp_path / "loop" / "back").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "dangling.py").symlink_to(tmp_path / "vanished.py")
    return tmp_path


@pytest.mark.parametrize("name", sorted(CASES))
def test_plugin_never_raises(name: str, tmp_path: Path) -> None:
    content, expected = CASES[name]
    path = tmp_path / name
    path.write_bytes(content)
    try:
        tree = parse(content, str(path))
    except ParseFailure:
        return  # flake8 reports its own E999 for these and never calls plugins
    lines = content.decode("utf-8", errors="replace").splitlines(keepends=True)
    codes = [message.split()[0] for _, _, message, _ in AsyncSqlaPlugin(tree, str(path), lines).run()]
    assert codes == ([expected] if expected.startswith("ASQ") else [])


def test_flake8_run_is_never_killed_by_the_plugin(hostile_tree: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", "--select", "ASQ", "--jobs", "1",
         *[name for name in sorted(CASES) if not name.startswith("deep_")]],
        cwd=hostile_tree, capture_output=True, text=True, check=False,
    )
    assert "flake8_async_sqla" not in result.stderr, result.stderr
    assert result.returncode in (0, 1), result.stderr
    reported = {line.split(":")[0] for line in result.stdout.splitlines()}
    assert reported == {name for name, (_, expected) in CASES.items() if expected == "ASQ101"}


@pytest.mark.parametrize("name", ["deep_sum.py", "deep_chain.py"])
def test_deep_files_never_fail_in_the_plugin_under_flake8(hostile_tree: Path, name: str) -> None:
    """flake8 itself cannot build these trees under Python 3.11's limits; the plugin never adds a failure."""
    result = subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", "--select", "ASQ", name],
        cwd=hostile_tree, capture_output=True, text=True, check=False,
    )
    assert "flake8_async_sqla" not in result.stderr


def test_check_reports_each_file_and_goes_on(hostile_tree: Path) -> None:
    if os.geteuid() != 0:
        unreadable = hostile_tree / "unreadable.py"
        unreadable.write_text("import sqlalchemy\n")
        unreadable.chmod(0)
    result = subprocess.run(
        [sys.executable, "-m", "flake8_async_sqla", "check", "--no-cache", "."],
        cwd=hostile_tree, capture_output=True, text=True, check=False, timeout=120,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2
    for name, (_, expected) in CASES.items():
        if expected.startswith("ASQ"):
            assert any(line.startswith(f"{name}:") and expected in line for line in result.stdout.splitlines()), name
        elif expected:
            assert any(line.startswith(f"{name}: error: ") and expected in line for line in result.stderr.splitlines()), name
        else:
            assert name not in result.stdout + result.stderr, name
    assert "dangling.py: error: cannot read" in result.stderr


def test_check_names_a_file_that_vanished_after_discovery(tmp_path: Path) -> None:
    from flake8_async_sqla.config import Settings
    from flake8_async_sqla.runner import run

    present = tmp_path / "present.py"
    present.write_text(ENGINE_IN_HANDLER)
    outcome = run(Settings(root=tmp_path), [present, tmp_path / "vanished.py"], jobs=1, cache_folder=None)
    assert [r.finding.code for r in outcome.results] == ["ASQ101"]
    assert [(Path(error.path).name, error.problem.split(":")[0]) for error in outcome.errors] == [("vanished.py", "cannot read")]


# What only the compiler rejects (the parser accepts it, so `parse` does), and what it only warns about.
COMPILER_ONLY = {
    "return_outside.py": b"return 1\n",
    "await_outside.py": b"await thing\n",
    "nonlocal_at_module.py": b"nonlocal x\n",
    "repeated_argument.py": b"def f(a, a):\n    pass\n",
    "late_future.py": b"x = 1\nfrom __future__ import annotations\n",
    "is_literal.py": b"x = 1\nprint(x is 1)\n",
    "invalid_escape.py": b"path = '\\d+'\n",
}


def _failure(judge, content: bytes) -> str | None:
    try:
        judge(content, "module.py")
    except ParseFailure as failure:
        return f"{failure} @ {failure.line}"
    return None


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the parser's own, on an invalid escape
@pytest.mark.parametrize("content", [content for content, _ in CASES.values()] + list(COMPILER_ONLY.values()))
def test_the_syntax_check_fails_exactly_where_parsing_does(content: bytes) -> None:
    assert _failure(check_syntax, content) == _failure(parse, content)


def test_test_files_are_checked_for_syntax_errors_alone(tmp_path: Path) -> None:
    """A test file's checks report nothing by default, so `check` only asks whether it parses: what the parser
    rejects is reported as for any file, what only the compiler rejects or warns about is not."""
    (tmp_path / "pyproject.toml").write_text("")
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_broken.py").write_bytes(b"def test_broken(:\n    pass\n")
    for name, content in COMPILER_ONLY.items():
        (tests / f"test_{name}").write_bytes(content)
    result = subprocess.run(
        [sys.executable, "-m", "flake8_async_sqla", "check", "--no-cache", "."],
        cwd=tmp_path, capture_output=True, text=True, check=False, timeout=120,
    )
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr, result.stderr
    assert result.returncode == 2
    reported = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(reported) == 1 and reported[0].startswith(f"tests{os.sep}test_broken.py: error: parse failed"), result.stderr
