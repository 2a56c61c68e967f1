"""The plan's skeleton runs: for each example app and skeleton project it compiles, pyflakes finds nothing
in it, and it serves a request on `sqlite+aiosqlite` (lifespan started, a session from the dependency,
`select 1`, shut down) with the project's own settings access and engine options."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import PLANNED_PROJECTS, ROOT

PROJECTS = PLANNED_PROJECTS

# Runs the skeleton module with every async engine pointed at a SQLite file: the URL the project's
# settings give is checked to name an async driver, the options are passed on as they are.
DRIVER = """
import json, sys
import sqlalchemy.ext.asyncio
from fastapi.testclient import TestClient
from sqlalchemy import make_url, text

create_async_engine = sqlalchemy.ext.asyncio.create_async_engine
drivers = []

def on_sqlite(url, **options):
    drivers.append(make_url(url).drivername)
    return create_async_engine(sys.argv[1], **options)

sqlalchemy.ext.asyncio.create_async_engine = on_sqlite
import plan_skeleton

@plan_skeleton.app.get("/probe")
async def probe(session: plan_skeleton.SessionDep) -> int:
    return (await session.execute(text("select 1"))).scalar_one()

with TestClient(plan_skeleton.app) as client:
    answer = client.get("/probe").json()
print(json.dumps({"answer": answer, "drivers": drivers}))
"""


def skeleton_of(project: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "flake8_async_sqla", "plan", str(project), "--format", "json"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["skeleton"]


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_skeleton_compiles_passes_pyflakes_and_runs(project: Path, tmp_path: Path) -> None:
    skeleton = skeleton_of(project)
    compile(skeleton, "plan_skeleton.py", "exec")
    (tmp_path / "plan_skeleton.py").write_text(skeleton, encoding="utf-8")
    flakes = subprocess.run([sys.executable, "-m", "pyflakes", "plan_skeleton.py"], cwd=tmp_path, capture_output=True, text=True)
    assert flakes.returncode == 0, flakes.stdout + flakes.stderr

    (tmp_path / "drive.py").write_text(DRIVER, encoding="utf-8")
    database = f"sqlite+aiosqlite:///{tmp_path / 'plan.db'}"
    environment = {"PYTHONPATH": f"{tmp_path}{':'}{project}", "PATH": ""}
    run = subprocess.run(
        [sys.executable, "drive.py", database], cwd=tmp_path, capture_output=True, text=True, env=environment, timeout=120
    )
    assert run.returncode == 0, run.stderr[-3000:]
    outcome = json.loads(run.stdout.splitlines()[-1])
    assert outcome["answer"] == 1
    assert outcome["drivers"], "the skeleton created no async engine"
    assert all(d.partition("+")[2] in ("asyncpg", "aiosqlite", "aiomysql", "asyncmy", "psycopg") for d in outcome["drivers"]), outcome


def test_skeleton_uses_the_projects_settings_and_pool_options() -> None:
    legacy = skeleton_of(ROOT / "examples" / "legacy_app")
    assert "DATABASE_URL = os.environ.get('DATABASE_URL'" in legacy and "import os\n" in legacy
    assert "pool_size=10" in legacy and "max_overflow=5" in legacy and "pool_timeout" not in legacy
    modern = skeleton_of(ROOT / "examples" / "modern_app")
    assert "from app.db import DATABASE_URL, ENGINE_OPTIONS" in modern and "**ENGINE_OPTIONS" in modern
    assert "pool_pre_ping=True" not in modern  # ENGINE_OPTIONS may set it: a second one would be a TypeError
    synced = skeleton_of(ROOT / "tests" / "skeleton_projects" / "sync_settings_app")
    assert "settings = get_settings()" in synced and "from app.core.config import get_settings" in synced
    assert "make_url(settings.db_url).set(drivername='postgresql+asyncpg')" in synced
    assert "future=" not in synced and "pool_recycle=settings.db_pool_recycle" in synced
    settings_object = skeleton_of(ROOT / "tests" / "skeleton_projects" / "settings_object_app")
    assert "from app.config import settings" in settings_object and "\n\n\ndef connect_args()" in settings_object
    assert "Settings()" not in settings_object.replace("get_settings()", "")
