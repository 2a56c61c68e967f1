"""Which files `check` reads, and the same answer for one file at a time (an editor's buffer)."""

from __future__ import annotations

from pathlib import Path

from flake8_async_sqla.config import load_settings
from flake8_async_sqla.discovery import Discovery

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
