"""Project rules (`[[tool.flake8-async-sqla.rules]]`, ASQ9xx) through the command and flake8, as users run them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import run_cli

DEMO = Path(__file__).parent / "project_rules"
MARKER = re.compile(r"#\s*error:\s*(ASQ9\d\d)")


def expected(root: Path) -> set[tuple[str, int, str]]:
    """The `# error: ASQ9xx` markers of the application files (the reported role)."""
    found = set()
    for path in sorted((root / "app").glob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            found.update((f"app/{path.name}", number, code) for code in MARKER.findall(line))
    return found


def reported(output: str) -> set[tuple[str, int, str]]:
    return {(m.group(1), int(m.group(2)), m.group(3)) for m in re.finditer(r"^(\S+?):(\d+):\d+: (ASQ\d{3}) ", output, re.M)}


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    shutil.copytree(DEMO, tmp_path / "demo")
    return tmp_path / "demo"


def test_check_reports_the_project_rules_with_noqa_roles_and_per_file_ignores(demo: Path) -> None:
    result = run_cli("check", cwd=demo)
    assert result.returncode == 1, result.stderr
    assert reported(result.stdout) == expected(demo)


def test_flake8_reads_the_rules_from_pyproject(demo: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flake8", "--select", "ASQ", "app/handlers.py"], cwd=demo, capture_output=True, text=True,
        check=False, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert reported(result.stdout) == {finding for finding in expected(demo) if finding[0] == "app/handlers.py"}, result.stderr


def test_select_ignore_and_baseline_apply(demo: Path) -> None:
    assert {code for _, _, code in reported(run_cli("check", "--select", "ASQ903", cwd=demo).stdout)} == {"ASQ903"}
    assert "ASQ901" not in run_cli("check", "--ignore", "ASQ901", cwd=demo).stdout
    assert run_cli("check", "--write-baseline", "baseline.json", cwd=demo).returncode == 0
    assert run_cli("check", "--baseline", "baseline.json", cwd=demo).returncode == 0


def test_the_fix_renames_the_call_keeping_comments(demo: Path) -> None:
    assert run_cli("check", "--fix", cwd=demo).returncode == 1  # the findings without a fix remain
    text = (demo / "app" / "handlers.py").read_text()
    assert "rows = user_service.list_all(limit=10, offset=0)  # error: ASQ903" in text
    assert "user_repo.fetch_all()" in text  # the constraint leaves other objects alone
    assert "ASQ903" not in run_cli("check", "--output-format", "json", cwd=demo).stdout.replace("# error: ASQ903", "")


def test_rule_shows_a_project_rule(demo: Path) -> None:
    result = run_cli("rule", "ASQ902", cwd=demo)
    assert result.returncode == 0 and "database-singleton" in result.stdout and "Phase: 1" in result.stdout


def test_the_cache_is_invalidated_when_the_rules_change(demo: Path) -> None:
    assert "ASQ903" in run_cli("check", cwd=demo).stdout
    config = demo / "pyproject.toml"
    config.write_text(config.read_text().replace('code = "ASQ903"', 'code = "ASQ904"'))
    again = run_cli("check", cwd=demo).stdout
    assert "ASQ904" in again and "ASQ903 " not in again


@pytest.mark.parametrize(
    ("table", "complaint"),
    [
        ('code = "ASQ105"\nmessage = "m"\nphase = 2\nrule = { pattern = "x" }', "project range ASQ900-ASQ999"),
        ('code = "ASQ905"\nmessage = "m"\nphase = 7\nrule = { pattern = "x" }', "project rule ASQ905: `phase`"),
        ('code = "ASQ905"\nmessage = "m"\nphase = 2\nrule = { patern = "x" }', "project rule ASQ905: invalid `rule`: unknown field `patern`"),
        ('code = "ASQ905"\nmessage = "m"\nphase = 2\nrule = { pattern = "x", inside = { kind = "nope" } }', "Kind `nope` is invalid"),
        ('code = "ASQ905"\nmessage = "m"\nphase = 2\nrule = { pattern = "x" }\nseverity = "error"', "unknown key 'severity'"),
    ],
)
def test_a_malformed_rule_is_a_configuration_error(tmp_path: Path, table: str, complaint: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[[tool.flake8-async-sqla.rules]]\n{table}\n")
    (tmp_path / "a.py").write_text("x = 1\n")
    for result in (run_cli("check", cwd=tmp_path), subprocess.run(
        [sys.executable, "-m", "flake8", "a.py"], cwd=tmp_path, capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )):
        assert result.returncode in (1, 2) and "Traceback" not in result.stderr
        assert str(tmp_path / "pyproject.toml") in result.stderr and complaint in result.stderr
    assert run_cli("check", cwd=tmp_path).returncode == 2


def test_a_warm_run_with_project_rules_loads_no_analysis_code(demo: Path) -> None:
    cold = run_cli("check", cwd=demo)
    probe = (
        "import sys; from flake8_async_sqla.cli import main; code = main(['check']); sys.stdout.flush(); "
        "print(sorted(m for m in sys.modules if m.startswith(('flake8_async_sqla.core.model', "
        "'flake8_async_sqla.core.checker', 'flake8_async_sqla.rules.'))), file=sys.stderr)"
    )
    warm = subprocess.run([sys.executable, "-c", probe], cwd=demo, capture_output=True, text=True, check=False)
    assert warm.stderr.strip() == "[]" and warm.stdout == cold.stdout
