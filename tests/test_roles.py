"""Code roles: which files are application, script, example, test or migration, and what each run reports there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flake8_async_sqla.core.roles import RolePolicy, classify, parse_roles

# A session committed by a helper that was handed it (ASQ301, all roles) and a module-level session (ASQ202,
# serving roles only): the same file in every role.
HELPER_COMMITS = '''\
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

factory = async_sessionmaker(expire_on_commit=False)
shared = factory()


async def save(session: AsyncSession, row: object) -> None:
    session.add(row)
    await session.commit()
'''


@pytest.mark.parametrize(
    ("relative", "source", "role"),
    [
        ("app/db.py", "", "application"),
        ("tests/test_db.py", "", "test"),
        ("app/tests/helpers.py", "", "test"),
        ("src/pkg/conftest.py", "", "test"),
        ("app/db_test.py", "", "test"),
        ("testing/factories.py", "", "test"),
        ("app/fixtures/users.py", "", "test"),
        ("app/testing_support.py", "import pytest\n\n@pytest.fixture\ndef db(): ...\n", "test"),
        ("alembic/versions/0001_init.py", "", "migration"),
        ("alembic/env.py", "", "migration"),
        ("src/app/db/migrations/versions/abc.py", "", "migration"),
        ("alembic_tenants/versions/abc.py", "", "migration"),
        ("db/upgrade_0042.py", "from alembic import op\n", "migration"),
        # An application module that runs migrations at startup is application code.
        ("app/startup.py", "from alembic.config import Config\nfrom alembic import command\n", "application"),
        # A data job in a folder named `migrations` that Alembic does not run.
        ("src/app/migrations/backfill_job.py", "", "application"),
        ("scripts/seed.py", "", "script"),
        ("manage.py", "", "script"),
        ("docs/tutorial/app.py", "", "example"),
        ("examples/shop/main.py", "", "example"),
        ("app/latest.py", "", "application"),
        ("app/contest.py", "", "application"),
    ],
)
def test_classify(relative: str, source: str, role: str) -> None:
    assert classify(relative, source) == role


def test_role_paths_override_the_heuristics(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    policy = RolePolicy(parse_roles(["application"], "test"), (("application", ("tests/support/**",)), ("test", ("qa/**",))))
    assert policy.role_of(str(tmp_path / "tests" / "support" / "factories.py")) == "application"
    assert policy.role_of(str(tmp_path / "qa" / "smoke.py")) == "test"
    assert policy.role_of(str(tmp_path / "tests" / "test_x.py")) == "test"


def test_a_project_checked_out_under_a_tests_folder_is_application_code(tmp_path: Path) -> None:
    project = tmp_path / "tests" / "checkout"
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text("")
    assert RolePolicy().role_of(str(project / "app" / "db.py")) == "application"


def test_unknown_roles_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown role 'tests'"):
        parse_roles(["tests"], "report-roles")
    assert parse_roles(["all"], "x") == {"application", "script", "example", "test", "migration"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    for relative in ("app/db.py", "tests/test_db.py", "alembic/versions/0001_init.py", "scripts/backfill.py"):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(HELPER_COMMITS)
    return tmp_path


def check(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flake8_async_sqla", "check", "--no-cache", "--output-format", "json", *args],
        cwd=project, capture_output=True, text=True, check=False,
    )


def reported(result: subprocess.CompletedProcess[str]) -> set[tuple[str, str, str]]:
    return {(item["path"], item["code"], item["role"]) for item in json.loads(result.stdout)}


def test_tests_and_migrations_are_not_reported_by_default(project: Path) -> None:
    assert reported(check(project)) == {
        ("app/db.py", "ASQ202", "application"),
        ("app/db.py", "ASQ301", "application"),
        # A script's one unit of work may keep its session globally (ASQ202 is for serving code).
        ("scripts/backfill.py", "ASQ301", "script"),
    }


def test_report_roles_from_the_command_line_and_the_configuration(project: Path) -> None:
    everything = reported(check(project, "--report-roles", "all"))
    assert ("tests/test_db.py", "ASQ301", "test") in everything
    assert ("alembic/versions/0001_init.py", "ASQ301", "migration") in everything
    assert ("tests/test_db.py", "ASQ202", "test") not in everything  # a rule reports only in its own roles
    (project / "pyproject.toml").write_text('[tool.flake8-async-sqla]\nreport-roles = ["test"]\n')
    assert {path for path, _, _ in reported(check(project))} == {"tests/test_db.py"}
    (project / "pyproject.toml").write_text('[tool.flake8-async-sqla]\nreport-roles = ["tests"]\n')
    refused = check(project)
    assert refused.returncode == 2 and "unknown role 'tests'" in refused.stderr


def test_role_paths_in_the_configuration(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.flake8-async-sqla.role-paths]\napplication = ["tests/**"]\n')
    assert ("tests/test_db.py", "ASQ301", "application") in reported(check(project))


def test_verbose_says_each_reported_files_role(project: Path) -> None:
    result = check(project, "-v")
    assert "roles: 1 application, 1 migration, 1 script, 1 test" in result.stderr
    assert "  app/db.py: application" in result.stderr
    assert "  scripts/backfill.py: script" in result.stderr


def test_flake8_reports_by_role(project: Path) -> None:
    def flake8(*args: str) -> set[str]:
        result = subprocess.run(
            [sys.executable, "-m", "flake8", "--isolated", "--select", "ASQ", *args, "."],
            cwd=project, capture_output=True, text=True, check=False,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return {line.split(":")[0].removeprefix("./") for line in result.stdout.splitlines()}

    assert flake8() == {"app/db.py", "scripts/backfill.py"}
    assert "tests/test_db.py" in flake8("--report-roles", "all")
    assert "alembic/versions/0001_init.py" in flake8("--report-roles", "application,migration")
    assert "tests/test_db.py" in flake8("--role-paths", "application:tests/**")
    refused = subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", "--report-roles", "tests", "."],
        cwd=project, capture_output=True, text=True, check=False,
    )
    assert refused.returncode != 0 and "unknown role 'tests'" in refused.stderr and "Traceback" not in refused.stderr


def test_the_plan_leaves_out_test_code_and_migrations(project: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flake8_async_sqla", "plan", "--format", "json"],
        cwd=project, capture_output=True, text=True, check=False,
    )
    plan = json.loads(result.stdout)
    support = plan.pop("support")
    text = json.dumps(plan)
    assert "app/db.py" in text
    assert "tests/test_db.py" not in text and "alembic/versions" not in text
    # Listed apart, with what they need, instead.
    assert {"test", "migration"} <= {item["role"] for item in support}


# Models that leave a relationship's loading to the default, in a project whose application code talks to the
# database through the asyncio extension alone (ASQ502), but for a job that opens sync sessions.
ASYNC_DATABASE = '''\
from sqlalchemy.ext.asyncio import async_sessionmaker

factory = async_sessionmaker(expire_on_commit=False)
'''
MODELS = '''\
from sqlalchemy import ForeignKey
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    customer: Mapped["Customer"] = relationship()


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(primary_key=True)
'''
SYNC_JOB = '''\
from sqlalchemy.orm import Session
'''


@pytest.fixture
def asyncio_project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'shop'\n")
    for relative, source in (("app/db.py", ASYNC_DATABASE), ("app/models.py", MODELS), ("jobs/export.py", SYNC_JOB)):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return tmp_path


def test_role_paths_decide_what_runs_in_the_app_for_project_wide_facts(asyncio_project: Path) -> None:
    # By default `jobs/` is application code: its sync sessions make this no asyncio-only project.
    assert reported(check(asyncio_project, "--select", "ASQ502")) == set()
    (asyncio_project / "pyproject.toml").write_text('[tool.flake8-async-sqla.role-paths]\nscript = ["jobs/**"]\n')
    assert reported(check(asyncio_project, "--select", "ASQ502")) == {("app/models.py", "ASQ502", "application")}


def test_flake8_role_paths_decide_what_runs_in_the_app(asyncio_project: Path) -> None:
    def flake8(*args: str) -> set[str]:
        result = subprocess.run(
            [sys.executable, "-m", "flake8", "--isolated", "--select", "ASQ502", *args, "."],
            cwd=asyncio_project, capture_output=True, text=True, check=False,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return {line.split(":")[0].removeprefix("./") for line in result.stdout.splitlines()}

    assert flake8() == set()
    assert flake8("--role-paths", "script:jobs/**") == {"app/models.py"}
