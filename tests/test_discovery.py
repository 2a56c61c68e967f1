"""Which files `check` reads, and the same answer for one file at a time (an editor's buffer)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from flake8_async_sqla.config import load_settings
from flake8_async_sqla.discovery import Discovery, PatternSpec, any_pattern, discover

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


# A clock for the stamps of a test's tree: a day ago, one second a step, as a file system with fine stamps would set
# them (a walk stored trusts only stamps older than the clock's coarsest grain).
DAY_AGO = time.time_ns() - 86_400 * 10**9
OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["add", "remove", "ignore", "unignore", "venv", "folder"]),
        st.sampled_from(["", "app", "app/sub", "tools"]),
        st.sampled_from(["a.py", "b.py", "notes.txt", "sub", "pyvenv.cfg"]),
    ),
    max_size=6,
)


def _touch(path: Path, step: int) -> None:
    os.utime(path, ns=(DAY_AGO + step * 10**9,) * 2)


def _apply(root: Path, operation: tuple[str, str, str], step: int) -> None:
    """One change to the tree, with the stamps it changes set as a file system would (the folder whose entries
    changed, the file written)."""
    kind, folder_name, name = operation
    folder = root / folder_name
    if not folder.is_dir():
        return
    changed: list[Path] = []
    target = folder / name
    if kind == "add" and not target.exists():
        target.write_text("")
        changed += [target, folder]
    elif kind == "remove" and target.is_file():
        target.unlink()
        changed.append(folder)
    elif kind in ("ignore", "unignore"):
        ignore = folder / ".gitignore"
        existed = ignore.exists()
        lines = set(ignore.read_text().splitlines()) if existed else set()
        lines = lines | {name} if kind == "ignore" else lines - {name}
        ignore.write_text("".join(f"{line}\n" for line in sorted(lines)))
        changed += [ignore] if existed else [ignore, folder]
    elif kind == "venv" and not (folder / "pyvenv.cfg").exists() and folder != root:
        (folder / "pyvenv.cfg").write_text("")
        changed += [folder / "pyvenv.cfg", folder]
    elif kind == "folder" and not target.exists() and name == "sub":
        target.mkdir()
        (target / "c.py").write_text("")
        changed += [target / "c.py", target, folder]
    for path in changed:
        _touch(path, step)


@settings(max_examples=60, deadline=None)
@given(operations=OPERATIONS)
@example(operations=[("venv", "tools", "a.py"), ("remove", "tools", "pyvenv.cfg")])  # a virtualenv no longer
def test_a_stored_walk_gives_the_files_a_new_walk_gives(tmp_path_factory: pytest.TempPathFactory, operations: list) -> None:
    """After any changes to the tree (files added and removed, .gitignore files written, a folder made a virtualenv),
    the files a walk stored answer as a new walk does, or a new walk is made."""
    root = tmp_path_factory.mktemp("project")
    cache = tmp_path_factory.mktemp("cache")
    (root / "pyproject.toml").write_text("")
    for name in ("app/a.py", "app/sub/b.py", "tools/a.py", "main.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")
    for path in (root, *root.rglob("*")):
        _touch(path, 0)
    settings_ = load_settings(None, root)
    assert discover(settings_, [root], cache) == list(Discovery(settings_).files([root]))
    for step, operation in enumerate(operations, start=1):
        _apply(root, operation, step)
        assert discover(settings_, [root], cache) == list(Discovery(settings_).files([root])), operation


def _routes_project(tmp_path: Path) -> Path:
    """A project of one module, `app/routes.py`, stamped a day ago."""
    root = tmp_path / "project"
    (root / "app").mkdir(parents=True)
    (root / "pyproject.toml").write_text("")
    (root / "app" / "routes.py").write_text("")
    for path in (root, *root.rglob("*")):
        _touch(path, 0)
    return root


def test_a_stored_walk_stands_while_nothing_it_read_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file's content is not the walk's concern: edited, the stored walk stands, and no folder is walked. A folder
    changed too recently to tell (its stamp within the clock's grain of the walk) is walked again."""
    root, cache = _routes_project(tmp_path), tmp_path / "cache"
    settings_ = load_settings(None, root)
    assert discover(settings_, [root], cache) == [root / "app" / "routes.py"]
    (root / "app" / "routes.py").write_text("x = 1\n")
    walks: list[list[Path]] = []
    monkeypatch.setattr(Discovery, "files", lambda self, paths: walks.append(paths) or iter([]))
    assert discover(settings_, [root], cache) == [root / "app" / "routes.py"] and walks == []
    (root / "app").touch()  # now: within the grain of the walk stored next
    monkeypatch.undo()
    assert discover(settings_, [root], cache) == [root / "app" / "routes.py"]
    monkeypatch.setattr(Discovery, "files", lambda self, paths: walks.append(paths) or iter([]))
    assert discover(settings_, [root], cache) == [] and walks == [[root]]


def test_a_folder_changed_while_the_walk_ran_is_walked_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder whose entries change after the walk listed them, in a walk that took long: its stamp is newer than
    the walk's start, so the walk stored is not trusted, though the stamp is older than the record itself."""
    root, cache = _routes_project(tmp_path), tmp_path / "cache"
    settings_ = load_settings(None, root)
    now = time.time_ns()
    note_folder = Discovery._note_folder

    def listed_then_changed(self: Discovery, folder: str) -> bool:
        listed = any(Path(noted) == root / "app" for noted in self.folders)  # noted first as its parent's entry
        if Path(folder) == root / "app" and listed and not (root / "app" / "jobs.py").exists():
            (root / "app" / "jobs.py").write_text("")  # after the walk listed the folder
            os.utime(root / "app", ns=(now - 30 * 10**9,) * 2)  # 30 s into a walk that started a minute ago
        return note_folder(self, folder)

    monkeypatch.setattr(Discovery, "_note_folder", listed_then_changed)
    monkeypatch.setattr(time, "time_ns", lambda: now - 60 * 10**9)
    assert discover(settings_, [root], cache) == [root / "app" / "routes.py"]
    monkeypatch.undo()
    assert discover(settings_, [root], cache) == [root / "app" / "jobs.py", root / "app" / "routes.py"]
