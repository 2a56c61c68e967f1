"""Which files `check` reads, and the same answer for one file at a time (an editor's buffer)."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from flake8_async_sqla.config import load_settings
from flake8_async_sqla.discovery import Discovery, PatternSpec, any_pattern

FILES = [
    "app/__init__.py", "app/routes.py", "app/gen_schema.py", "app/build/__init__.py", "app/build/steps.py",
    "legacy/old.py", "scratch/notes.py", "build/lib/app.py", ".venv/lib/site.py", "env/bin/tool.py",
]


def test_a_file_is_left_out_exactly_when_the_walk_leaves_it_out(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.flake8-async-sqla]\nextend-exclude = ["legacy/", "gen_*.py"]\n')
    (tmp_path / ".gitignore").write_text("scratch/\n")
    for name in FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    (tmp_path / "env" / "pyvenv.cfg").write_text("")  # a virtualenv by any name
    discovery = Discovery(load_settings(None, tmp_path))
    walked = {path.relative_to(tmp_path).as_posix() for path in discovery.files([tmp_path])}
    assert walked == {"app/__init__.py", "app/routes.py", "app/build/__init__.py", "app/build/steps.py"}
    assert {name for name in FILES if not discovery.leaves_out(tmp_path / name)} == walked
    assert not discovery.leaves_out(tmp_path.parent / "elsewhere.py")  # outside the project: not its to leave out




def _valid(line: str) -> bool:
    import pathspec

    try:
        pathspec.GitIgnoreSpec.from_lines([line])
    except (ValueError, re.error):  # pathspec refuses it (`!` alone, a range like `[1-.]`)
        return False
    return True


# Pattern and path characters that gitignore, pathspec's translation and regexes give a meaning to.
PATTERN_TEXT = st.text(alphabet="ab.*?/![]^\\-# ()|P<>{}+1", max_size=8).filter(_valid)
PATH = st.lists(st.text(alphabet="ab.*?[]()|-1 ", min_size=1, max_size=4), min_size=1, max_size=4).map("/".join)
# A .gitignore as projects write it (GitHub's Python template, abridged).
TYPICAL = [
    "__pycache__/", "*.py[cod]", "*$py.class", "*.so", ".Python", "build/", "develop-eggs/", "dist/", "*.egg-info/",
    ".installed.cfg", "*.egg", "MANIFEST", "pip-log.txt", "htmlcov/", ".tox/", ".coverage", ".coverage.*", ".cache",
    "nosetests.xml", "coverage.xml", "*.cover", ".hypothesis/", "docs/_build/", "target/", ".ipynb_checkpoints",
    "/site", ".env", ".venv", "env/", "venv/", "!venv/keep.py", "local_settings.py", "db.sqlite3", "instance/", "#x",
]


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(PATTERN_TEXT, max_size=12), paths=st.lists(PATH.map(lambda p: p.strip("/")), min_size=1, max_size=6), folder=st.booleans())
def test_patterns_match_a_path_as_pathspec_does(lines: list[str], paths: list[str], folder: bool) -> None:
    import pathspec

    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    ours = PatternSpec(lines)
    for path in paths:
        path += "/" if folder else ""
        assert ours.match_file(path) == spec.match_file(path), (lines, path)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.one_of(PATTERN_TEXT, st.sampled_from(TYPICAL)), max_size=12), path=PATH)
def test_the_joined_regex_matches_wherever_a_pattern_does(lines: list[str], path: str) -> None:
    import pathspec

    regexes = [pattern.regex for pattern in pathspec.GitIgnoreSpec.from_lines(lines).patterns if pattern.include is not None]
    joined = any_pattern(regexes)
    assert joined is not None  # pathspec's regexes can all be joined
    if any(regex.search(path) for regex in regexes):
        assert joined.search(path) is not None


def test_a_typical_gitignore_is_decided_by_the_joined_regex_for_a_path_it_does_not_name() -> None:
    ours = PatternSpec(TYPICAL)
    assert ours.any_pattern is not None and ours.any_pattern.search("app/routes.py") is None
    assert not ours.match_file("app/routes.py")
    assert ours.match_file("app/__pycache__/") and ours.match_file("app/x.pyc") and not ours.match_file("venv/keep.py")


def test_regexes_are_joined_as_written() -> None:
    # A class may hold what would elsewhere name a group or end one; an alternation outside groups keeps its reach.
    joined = any_pattern([re.compile(r"^x[(?P<a>|)]y$"), re.compile(r"^(?P<a>b)c|d"), re.compile(r"^(?:.+/)?e(?P<a>/)")])
    assert joined is not None
    assert joined.search("x(y") and joined.search("x|y") and joined.search("bc") and joined.search("zzd") and joined.search("f/e/")
    assert not joined.search("xy") and not joined.search("zbc") and not joined.search("e")
    # A reference to a group, or flags set inside a pattern: not joined (pathspec then decides every path).
    assert any_pattern([re.compile(r"^(a)\1")]) is None and any_pattern([re.compile(r"(?i)^a")]) is None
    assert any_pattern([re.compile(r"^a", re.IGNORECASE)]) is None
    assert any_pattern([]) is not None and not any_pattern([]).search("a")


def test_a_gitignore_pattern_pathspec_cannot_translate_is_left_out(tmp_path: Path) -> None:
    """`[1-.]` is a range pathspec's regex refuses (git matches nothing with it): the walk goes on without that
    pattern, and the others still apply."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / ".gitignore").write_text("[1-.]\nscratch.py\n")
    (tmp_path / "app.py").write_text("")
    (tmp_path / "scratch.py").write_text("")
    discovery = Discovery(load_settings(None, tmp_path))
    assert [path.name for path in discovery.files([tmp_path])] == ["app.py"]
    assert PatternSpec(["[1-.]", "*.py"]).match_file("app.py")
