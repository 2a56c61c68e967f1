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


# ------------------------------------------------------------------ rule files (rule-dirs) and test-rules

RULE_FILE = """\
id: legacy-helper
code: ASQ905
phase: 2
message: legacy helper
rule:
  pattern: legacy($$$)
"""


def flake8(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flake8", *args], cwd=cwd, capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def rule_file_project(tmp_path: Path, *files: tuple[str, str]) -> Path:
    """A project reading its rules from `lint/asq`, with the rule `files` (name, text) and one module."""
    (tmp_path / "pyproject.toml").write_text('[tool.flake8-async-sqla]\nrule-dirs = ["lint/asq"]\n')
    (tmp_path / "lint" / "asq").mkdir(parents=True)
    for name, text in files:
        (tmp_path / "lint" / "asq" / name).write_text(text)
    (tmp_path / "a.py").write_text("legacy()\n")
    return tmp_path


def test_rule_files_are_read_from_subfolders_and_a_severity_off_rule_is_left_out(demo: Path) -> None:
    assert {"ASQ910", "ASQ911"} <= {code for _, _, code in expected(demo)}  # the markers the check test compares
    assert run_cli("rule", "ASQ912", cwd=demo).returncode == 2
    shown = run_cli("rule", "ASQ910", cwd=demo).stdout
    assert "lint/asq/threadpool.yml" in shown and "Rewrite the function on the request's AsyncSession" in shown


def test_the_cache_is_invalidated_when_a_rule_file_changes(demo: Path) -> None:
    assert "ASQ910" in run_cli("check", cwd=demo).stdout
    rule_file = demo / "lint" / "asq" / "threadpool.yml"
    rule_file.write_text(rule_file.read_text().replace("severity: warning", "severity: off"))
    assert "ASQ910" not in run_cli("check", cwd=demo).stdout


def test_an_unsafe_fix_of_a_rule_file_applies_with_unsafe_fixes_only(demo: Path) -> None:
    run_cli("check", "--fix", cwd=demo)
    assert "order.total_price()" in (demo / "app" / "handlers.py").read_text()
    run_cli("check", "--fix", "--unsafe-fixes", cwd=demo)
    assert "return user, pdf, order.total  # error: ASQ911" in (demo / "app" / "handlers.py").read_text()


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("id: x\nmessage: a: b\n", "not a YAML rule file: line 2, column 11: mapping values are not allowed"),
        (RULE_FILE.replace("pattern", "patern"), "project rule ASQ905: invalid `rule`: unknown field `patern`"),
        (RULE_FILE + "files: ['app/**']\n", "project rule ASQ905: unknown key 'files'; known keys in a rule file: id,"),
        (RULE_FILE.replace("code: ASQ905\n", ""), "project rule legacy-helper: `code` must be a code of the project range"),
        (RULE_FILE.replace("legacy-helper", "legacy_helper"), "project rule ASQ905: `name` (`id` in a rule file) must be kebab-case"),
        (RULE_FILE + "language: rust\n", "project rule ASQ905: `language` must be python"),
        (RULE_FILE + "severity: fatal\n", "project rule ASQ905: `severity` must be one of hint, info, warning, error, off"),
        (RULE_FILE + "valid: legacy\n", "project rule ASQ905: `valid` must be a list of code snippets"),
        (RULE_FILE + "---\n" + RULE_FILE, "project rule ASQ905: declared more than once"),
        ("- a rule\n- another\n", "project rule #1: expected a mapping of keys"),
    ],
    ids=["yaml", "rule", "key", "code", "id", "language", "severity", "examples", "twice", "list"],
)
def test_a_malformed_rule_file_is_a_configuration_error(tmp_path: Path, text: str, complaint: str) -> None:
    project = rule_file_project(tmp_path, ("legacy.yml", text))
    for result in (run_cli("check", cwd=project), flake8(project, "a.py"), run_cli("test-rules", cwd=project)):
        assert result.returncode in (1, 2) and "Traceback" not in result.stderr
        assert f"{project / 'lint' / 'asq' / 'legacy.yml'}: " in result.stderr and complaint in result.stderr, result.stderr
    assert run_cli("check", cwd=project).returncode == 2


def test_a_rule_file_repeating_a_table_code_names_both_files(tmp_path: Path) -> None:
    project = rule_file_project(tmp_path, ("legacy.yml", RULE_FILE))
    config = project / "pyproject.toml"
    config.write_text(config.read_text() + '[[tool.flake8-async-sqla.rules]]\ncode = "ASQ905"\nmessage = "m"\nphase = 1\nrule = { pattern = "x" }\n')
    result = run_cli("check", cwd=project)
    assert result.returncode == 2
    assert f"{project / 'lint' / 'asq' / 'legacy.yml'}: project rule ASQ905: declared more than once (also in {config})" in result.stderr


def test_a_missing_rule_folder_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.flake8-async-sqla]\nrule-dirs = ["lint/asq"]\n')
    (tmp_path / "a.py").write_text("x = 1\n")
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 2 and f"rule-dirs: no such folder: {tmp_path / 'lint' / 'asq'}" in result.stderr
    assert "no such folder" in flake8(tmp_path, "a.py").stderr


def test_rule_files_without_pyyaml_ask_for_the_extra(tmp_path: Path) -> None:
    project = rule_file_project(tmp_path, ("legacy.yml", RULE_FILE))
    probe = "import sys; sys.modules['yaml'] = None; from flake8_async_sqla.cli import main; sys.exit(main(['check']))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=project, capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "needs PyYAML: pip install 'flake8-async-sqla[rule-dirs]'" in result.stderr


def test_a_run_without_rule_files_imports_no_yaml(demo: Path) -> None:
    config = demo / "pyproject.toml"
    config.write_text(config.read_text().replace('rule-dirs = ["lint/asq"]', "rule-dirs = []"))
    probe = "import sys; from flake8_async_sqla.cli import main; main(['check']); print('yaml' in sys.modules, file=sys.stderr)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=demo, capture_output=True, text=True, check=False)
    assert result.stderr.strip() == "False"


def test_test_rules_passes_the_demo_rules(demo: Path) -> None:
    result = run_cli("test-rules", cwd=demo)
    assert result.returncode == 0, result.stdout
    assert "ASQ910 sync-session-in-threadpool (lint/asq/threadpool.yml): ok (1 invalid, 2 valid)" in result.stdout
    assert "ASQ903 fetch-all-renamed (pyproject.toml): ok (1 invalid, 2 valid)" in result.stdout
    assert "ASQ902 database-singleton (pyproject.toml): no examples" in result.stdout
    assert result.stdout.endswith("5 project rules: 4 passed, 0 failed, 1 without examples\n")
    only = run_cli("test-rules", "asq911", cwd=demo)
    assert only.returncode == 0 and only.stdout.startswith("ASQ911 ") and "ASQ901" not in only.stdout
    assert run_cli("test-rules", "ASQ999", cwd=demo).returncode == 2


def test_test_rules_reports_each_failing_example(tmp_path: Path) -> None:
    failing = RULE_FILE + (
        "fix: legacy_v2()\n"
        "invalid:\n  - x = legacy(1)\n  - x = modern(1)\n"
        "valid:\n  - x = legacy\n  - y = legacy()\n  - 'def ('\n"
    )
    looping = RULE_FILE.replace("ASQ905", "ASQ906").replace("legacy-helper", "looping") + "fix: legacy(legacy())\ninvalid: [legacy()]\n"
    project = rule_file_project(tmp_path, ("legacy.yml", failing), ("looping.yml", looping))
    result = run_cli("test-rules", cwd=project)
    assert result.returncode == 1
    assert "ASQ905 legacy-helper (lint/asq/legacy.yml): FAILED (3 of 5 examples)" in result.stdout
    assert "  invalid example 2: not reported, but it is an `invalid` example\n    | x = modern(1)\n" in result.stdout
    assert "  valid example 2: reported on line 1, but it is a `valid` example\n    | y = legacy()\n" in result.stdout
    assert "  valid example 3: not Python: " in result.stdout
    assert "invalid example 1: still reported after its fix was applied 10 times" in result.stdout
    assert result.stdout.endswith("2 project rules: 0 passed, 2 failed\n")


def test_test_rules_without_project_rules(tmp_path: Path) -> None:
    result = run_cli("test-rules", cwd=tmp_path)
    assert result.returncode == 0 and "no project rules to test" in result.stderr


def test_flake8_reports_advisory_project_rules_only_when_selected(tmp_path: Path) -> None:
    """As the built-in advisory rules: off by default under flake8, on when selected; `check` reports them as warnings."""
    (tmp_path / "pyproject.toml").write_text(
        '[[tool.flake8-async-sqla.rules]]\ncode = "ASQ920"\nmessage = "advisory"\nphase = "advisory"\nrule = { pattern = "legacy($$$)" }\n'
        '[[tool.flake8-async-sqla.rules]]\ncode = "ASQ921"\nmessage = "phase 2"\nphase = 2\nrule = { pattern = "old($$$)" }\n'
    )
    (tmp_path / "a.py").write_text("legacy()\nold()\n")
    codes = lambda *args: {code for _, _, code in reported(flake8(tmp_path, *args, "a.py").stdout)}  # noqa: E731
    assert codes() == {"ASQ921"}
    assert codes("--extend-select", "ASQ920") == codes("--select", "ASQ") == codes("--extend-select", "ASQ9") == {"ASQ920", "ASQ921"}
    (tmp_path / ".flake8").write_text("[flake8]\nextend-select = ASQ920\n")
    assert codes() == {"ASQ920", "ASQ921"}
    check = run_cli("check", "--select", "ASQ920", cwd=tmp_path)
    assert check.returncode == 0 and "a.py:1:1: ASQ920 advisory" in check.stdout
