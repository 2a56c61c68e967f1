"""The command-line conventions ruff and flake8 users expect, through the real command in a subprocess."""

from __future__ import annotations

import os
import pty
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from flake8_async_sqla.config import target_of
from harness import ENGINE_IN_HANDLER, ROOT, run_cli

# A phase-4 finding (ASQ202), a warning under --phase 1..3.
MODULE_SESSION = "from sqlalchemy.orm import sessionmaker\n\nSessionLocal = sessionmaker()\nsession = SessionLocal()\n"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "routes.py").write_text(ENGINE_IN_HANDLER)
    (tmp_path / "app" / "db.py").write_text(MODULE_SESSION)
    return tmp_path


def check(
    project: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = run_cli("check", *args, cwd=project, stdin=stdin, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def reported(output: str) -> list[tuple[str, str]]:
    """(path, code) of each finding line."""
    return sorted((line.split(":")[0], line.split()[1]) for line in output.splitlines() if ": ASQ" in line)


def test_exit_zero_even_with_findings_and_files_that_do_not_parse(project: Path) -> None:
    assert check(project).returncode == 1
    (project / "app" / "broken.py").write_text("def broken(:\n")
    result = check(project, "--exit-zero")
    assert result.returncode == 0 and len(reported(result.stdout)) == 2 and "app/broken.py: error:" in result.stderr


def test_exclude_options_on_the_command_line(project: Path) -> None:
    (project / "build").mkdir()
    (project / "build" / "generated.py").write_text(MODULE_SESSION)
    assert [path for path, _ in reported(check(project).stdout)] == ["app/db.py", "app/routes.py"]
    assert [path for path, _ in reported(check(project, "--extend-exclude", "app/db.py,nothing").stdout)] == ["app/routes.py"]
    # --exclude replaces the configured list and its defaults: build/ is checked again.
    replaced = check(project, "--exclude", "app/routes.py")
    assert [path for path, _ in reported(replaced.stdout)] == ["app/db.py", "build/generated.py"]


def test_extend_ignore_adds_to_the_configured_ignore(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.flake8-async-sqla]\nignore = ["ASQ101"]\n')
    assert reported(check(project).stdout) == [("app/db.py", "ASQ202")]
    assert reported(check(project, "--extend-ignore", "ASQ2").stdout) == []
    assert check(project, "--extend-ignore", "E501").returncode == 2


def test_respect_gitignore_can_be_switched_either_way(project: Path) -> None:
    (project / "generated").mkdir()
    (project / "generated" / "models.py").write_text(MODULE_SESSION)
    (project / ".gitignore").write_text("generated/\n")
    paths = lambda result: [path for path, _ in reported(result.stdout)]  # noqa: E731
    assert "generated/models.py" not in paths(check(project))
    assert "generated/models.py" in paths(check(project, "--no-respect-gitignore"))
    (project / "pyproject.toml").write_text("[tool.flake8-async-sqla]\nrespect-gitignore = false\n")
    assert "generated/models.py" in paths(check(project))
    assert "generated/models.py" not in paths(check(project, "--respect-gitignore"))


def test_show_settings_prints_the_effective_settings_and_runs_nothing(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[project]\nrequires-python = ">=3.10"\n\n[tool.flake8-async-sqla]\nignore = ["ASQ6"]\n'
    )
    result = check(project, "--show-settings", "--phase", "2", "--extend-exclude", "legacy")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert f"# configuration: {project / 'pyproject.toml'}" in lines
    for line in ('ignore = ["ASQ6"]', "phase = 2", 'extend-exclude = ["legacy"]', 'target-version = "py310"'):
        assert line in lines
    assert "ASQ601" not in lines[-1] and lines[-1].startswith("# rules enabled: ASQ101, ")
    assert not (project / ".asq_cache").exists()


def test_show_files_lists_what_would_be_checked(project: Path) -> None:
    (project / ".venv").mkdir()
    (project / ".venv" / "site.py").write_text("")
    result = check(project, "--show-files")
    assert (result.returncode, result.stdout.splitlines()) == (0, ["app/db.py", "app/routes.py"])
    assert not (project / ".asq_cache").exists()


def test_standard_input_is_checked_as_the_named_file(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.flake8-async-sqla]\nper-file-ignores = { "app/db.py" = ["ASQ2"] }\n')
    named = check(project, "-", "--stdin-filename", "app/routes.py", stdin=ENGINE_IN_HANDLER)
    assert named.returncode == 1 and reported(named.stdout) == [("app/routes.py", "ASQ101")]
    assert "app/routes.py:9:12: ASQ101" in named.stdout  # the buffer's text, not the file's
    # The configuration applies to the name: per-file ignores, and the role (test code is not reported).
    assert check(project, "-", "--stdin-filename", "app/db.py", stdin=MODULE_SESSION).returncode == 0
    assert check(project, "-", "--stdin-filename", "tests/test_db.py", stdin=MODULE_SESSION).returncode == 0
    assert reported(check(project, "-", stdin=ENGINE_IN_HANDLER).stdout) == [("-", "ASQ101")]
    assert not (project / ".asq_cache").exists()


def test_standard_input_errors(project: Path) -> None:
    broken = check(project, "-", "--stdin-filename", "app/new.py", stdin="def broken(:\n")
    assert broken.returncode == 2 and "app/new.py: error: parse failed" in broken.stderr
    mixed = check(project, "-", "app", stdin="")
    assert mixed.returncode == 2 and "cannot be combined" in mixed.stderr
    unread = check(project, "app", "--stdin-filename", "app/x.py")
    assert unread.returncode == 2 and "pass - as the path" in unread.stderr


def test_a_text_run_ends_with_a_summary(project: Path) -> None:
    assert check(project).stdout.splitlines()[-1] == "Found 2 findings."
    assert check(project, "--phase", "1").stdout.splitlines()[-1] == "Found 2 findings (1 warning)."
    assert check(project, "--select", "ASQ3").stdout == "All checks passed!\n"
    (project / "app" / "broken.py").write_text("def broken(:\n")
    assert check(project).stdout.splitlines()[-1] == "Found 2 findings. 1 file could not be checked."
    # --quiet prints the failing findings and nothing else; other formats carry no summary.
    quiet = check(project, "--quiet", "--phase", "1").stdout
    assert reported(quiet) == [("app/routes.py", "ASQ101")] and len(quiet.splitlines()) == 1
    assert check(project, "--output-format", "json").stdout.rstrip().endswith("]")


def test_quiet_says_nothing_but_the_findings(project: Path) -> None:
    (project / "app" / "routes.py").write_text("x = 1\n")
    assert check(project, "--write-baseline", "baseline.json", "--quiet").stderr == ""
    (project / "app" / "db.py").write_text("x = 1\n")
    result = check(project, "--baseline", "baseline.json", "--quiet")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def on_a_terminal(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """The output of `check` run with its standard output on a pseudo-terminal."""
    controller, terminal = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "flake8_async_sqla", "check", *args], cwd=project, stdout=terminal,
        stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})},
    ):
        os.close(terminal)
        output = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed: the process has ended
                break
            if not chunk:
                break
            output += chunk
    os.close(controller)
    return output.decode()


def test_colour_on_a_terminal_only(project: Path) -> None:
    coloured = on_a_terminal(project, env={"NO_COLOR": ""})  # NO_COLOR set but empty counts as unset
    assert "\x1b[1;31mASQ101\x1b[0m" in coloured
    assert ANSI.sub("", coloured).replace("\r\n", "\n") == check(project).stdout
    assert not ANSI.search(on_a_terminal(project, env={"NO_COLOR": "1"}))
    assert not ANSI.search(on_a_terminal(project, "--no-color"))
    assert not ANSI.search(check(project).stdout)


def test_target_version_comes_from_requires_python(project: Path) -> None:
    (project / "app" / "matcher.py").write_text("def kind(x):\n    match x:\n        case 1:\n            return 'one'\n")
    (project / "pyproject.toml").write_text('[project]\nrequires-python = ">=3.9"\n')
    too_new = check(project)
    assert too_new.returncode == 2
    assert "app/matcher.py: error: syntax newer than the target Python 3.9: line " in too_new.stderr
    assert check(project, "--target-version", "py310").returncode == 1  # parsed: only the findings fail
    (project / "pyproject.toml").write_text('[project]\nrequires-python = ">=3.10"\n')
    assert check(project).returncode == 1
    (project / "pyproject.toml").write_text('[tool.flake8-async-sqla]\ntarget-version = "py2"\n')
    assert "target version must be one of py37" in check(project).stderr


def test_syntax_newer_than_the_running_python_is_read_for_a_newer_target(project: Path) -> None:
    (project / "app" / "generic.py").write_text("type Pair[T] = tuple[T, T]\n")
    (project / "pyproject.toml").write_text('[project]\nrequires-python = ">=3.12"\n')
    assert check(project).returncode == 1
    (project / "pyproject.toml").write_text('[tool.flake8-async-sqla]\ntarget-version = "py311"\n')
    assert check(project).returncode == 2


@pytest.mark.parametrize(
    ("requires_python", "target"),
    [(">=3.10", "py310"), (">=3.8,<4", "py38"), ("~=3.11", "py311"), ("==3.12.*", "py312"), (">3.9", "py39"),
     (">=3.6", "py37"), ("<4", None), ("", None), (3.10, None)],
)
def test_target_of_requires_python(requires_python: object, target: str | None) -> None:
    assert target_of(requires_python) == target


def test_rule_without_a_code_prints_usage_and_exits_2() -> None:
    result = run_cli("rule")
    assert result.returncode == 2 and result.stderr.startswith("usage: flake8-async-sqla rule")
    assert "Traceback" not in result.stderr


def test_jobs_zero_means_every_core_and_negative_is_an_error(project: Path) -> None:
    for number in range(4):
        (project / "app" / f"copy{number}.py").write_text(ENGINE_IN_HANDLER)
    assert check(project, "-j", "0", "--no-cache").stdout == check(project, "-j", "1", "--no-cache").stdout
    negative = check(project, "-j", "-2")
    assert negative.returncode == 2 and "-2 is negative" in negative.stderr


def test_the_readme_flake8_command_shows_syntax_errors(tmp_path: Path) -> None:
    """`flake8 --select ASQ` alone would skip a file that does not parse without a word (E999 not selected)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = re.search(r"\.venv/bin/flake8 (.+) examples/legacy_app", readme)
    assert command is not None
    (tmp_path / "broken.py").write_text("def broken(:\n")
    result = subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", *shlex.split(command.group(1)), "broken.py"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    assert "broken.py:1:" in result.stdout and "E999" in result.stdout
