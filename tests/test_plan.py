"""`plan`: golden output on the legacy example, nothing to migrate on the modern one, formats and flake8's formatter."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from harness import ROOT

LEGACY = ROOT / "examples" / "legacy_app"
MODERN = ROOT / "examples" / "modern_app"
GOLDEN = ROOT / "tests" / "golden" / "legacy_app_plan.md"


def run_plan(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flake8_async_sqla", "plan", *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_legacy_plan_matches_the_golden_file() -> None:
    result = run_plan(str(LEGACY))
    assert result.returncode == 0, result.stderr
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(result.stdout, encoding="utf-8")
    assert result.stdout == GOLDEN.read_text(encoding="utf-8"), "rerun with UPDATE_GOLDEN=1 and review the diff"


def test_plan_is_byte_identical_across_runs_and_folders() -> None:
    first = run_plan(str(LEGACY)).stdout
    assert run_plan(".", cwd=LEGACY).stdout == first
    assert subprocess.run(
        [sys.executable, "-m", "flake8_async_sqla", "check", "--plan", "."], cwd=LEGACY, capture_output=True, text=True
    ).stdout == first


def test_plan_has_every_section_from_the_code() -> None:
    plan = GOLDEN.read_text(encoding="utf-8")
    for heading in (
        "## 1. Current-state gap summary", "## 2. Branch decisions", "## 3. Target architecture",
        "## 4. Phased checklist", "## 5. Risk register and rollback", "## 6. Verification matrix",
        "## 7. Advisory implicit-I/O backlog",
    ):
        assert heading in plan
    assert "| driver | mixed (async and sync engines) |" in plan
    assert "| lifespan | lifespan and startup events |" in plan
    assert "- [ ] app/routers/orders.py:" in plan
    assert "dependency `get_db`" in plan


def test_modern_plan_says_nothing_is_left() -> None:
    markdown = run_plan(str(MODERN)).stdout
    assert "**Nothing left to migrate**" in markdown
    document = json.loads(run_plan(str(MODERN), "--format", "json").stdout)
    assert document["nothing_to_migrate"] is True and document["backlog"] == []


def test_json_plan_has_the_same_content() -> None:
    document = json.loads(run_plan(str(LEGACY), "--format", "json").stdout)
    assert document["schema_version"] == 1
    assert [p["number"] for p in document["phases"]] == [1, 2, 3, 4, 5]
    assert {d["topic"] for d in document["decisions"]} >= {
        "driver", "ORM style", "session scope", "lifespan", "background DB use", "transaction style",
    }
    assert document["touchpoints"] and all(
        {"site", "engine", "session_source", "transaction_source"} <= set(t) for t in document["touchpoints"]
    )


def test_touchpoints_follow_their_session_to_its_engine() -> None:
    touchpoints = json.loads(run_plan(str(LEGACY), "--format", "json").stdout)["touchpoints"]
    engine_of = {(t["function"], t["site"]["line"]): t["engine"] for t in touchpoints}
    through_get_db = [t["engine"] for t in touchpoints if t["session_source"] == "dependency `get_db`"]
    # get_db → SessionLocal() → async_sessionmaker(engine) in app/db.py, also from routers in other modules.
    assert len(through_get_db) > 5 and set(through_get_db) == {"engine (app/db.py:11)"}
    assert engine_of[("restock_product", 20)] == "engine (app/db.py:11)"  # get_admin_db returns SessionLocal()
    assert engine_of[("export_orders", 41)] == "replica (app/routers/orders.py:39)"  # AsyncSession(replica)
    assert engine_of[("best_sellers", 21)] == "reporting_engine (app/main.py:37)"  # ReportingSession.configure(bind=...)
    # A caller's session, or an engine passed in as a parameter, says nothing about which engine it is.
    assert engine_of[("place_order", 42)].startswith("unresolved")
    assert engine_of[("deactivate_dormant_users", 21)].startswith("unresolved")


def test_backlog_exports() -> None:
    as_csv = list(csv.reader(io.StringIO(run_plan(str(LEGACY), "--backlog", "--format", "csv").stdout)))
    assert as_csv[0] == ["id", "location", "code", "relationship", "suggested_loader", "message"]
    assert len(as_csv) > 1 and as_csv[1][0] == "IO-001"
    as_json = json.loads(run_plan(str(LEGACY), "--backlog", "--format", "json").stdout)
    assert len(as_json["backlog"]) == len(as_csv) - 1
    assert run_plan(str(LEGACY), "--backlog").stdout.startswith("| Id | Location |")
    assert run_plan(str(LEGACY), "--format", "csv").returncode == 2


def test_flake8_formatter_prints_the_same_plan() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", "--select", "ASQ", "--format=asq-plan", "."],
        cwd=LEGACY, capture_output=True, text=True, check=False,
    )
    assert result.stdout == run_plan(".", cwd=LEGACY).stdout


PROJECTS = ROOT / "tests" / "plan_projects"
SYNC_TEMPLATE = PROJECTS / "sync_sqlmodel"
ASYNC_TEMPLATE = PROJECTS / "async_template"
GOLDEN_PLANS = {
    "modern_app": MODERN,
    "sync_sqlmodel": SYNC_TEMPLATE,
    "async_template": ASYNC_TEMPLATE,
}


@pytest.mark.parametrize("name", sorted(GOLDEN_PLANS))
def test_plans_match_their_golden_files(name: str) -> None:
    golden = ROOT / "tests" / "golden" / f"{name}_plan.md"
    result = run_plan(".", cwd=GOLDEN_PLANS[name])
    assert result.returncode == 0, result.stderr
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(result.stdout, encoding="utf-8")
    assert result.stdout == golden.read_text(encoding="utf-8"), "rerun with UPDATE_GOLDEN=1 and review the diff"


def _json_plan(folder: Path, *args: str) -> dict:
    result = run_plan(".", "--format", "json", *args, cwd=folder)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_fully_sync_app_gets_real_phase_1_and_2_work_and_fails_the_phase_1_gate() -> None:
    plan = _json_plan(SYNC_TEMPLATE)
    units = {p["number"]: p["units"] for p in plan["phases"]}
    assert any("ASQ107" in closed for unit in units[1] for closed in unit["closes"])
    lifespan = next(u for u in units[1] if u["key"] == "p1:lifespan:")  # no lifespan yet: a unit for it
    assert lifespan["files"] == ["app/main.py"] and lifespan["inventory"][0].startswith("app/main.py:5 `app` = FastAPI(…)")
    read_paths = next(u for u in units[2] if u["key"].startswith("p2:read-paths"))
    assert "app/api/routes/items.py" in read_paths["files"] and read_paths["depends_on"]
    decisions = {d["topic"]: d for d in plan["decisions"]}
    assert decisions["SQLAlchemy version"]["detected"] == "2.x (through SQLModel)"
    assert "psycopg 3 stays" in decisions["driver"]["consequence"] and "psycopg2 →" not in decisions["driver"]["consequence"]
    gate = subprocess.run(
        [sys.executable, "-m", "flake8_async_sqla", "check", "--phase", "1", "--select", "ASQ107", "."],
        cwd=SYNC_TEMPLATE, capture_output=True, text=True, check=False,
    )
    assert gate.returncode == 1 and "ASQ107" in gate.stdout


def test_tests_migrations_and_scripts_are_listed_apart_with_what_they_need() -> None:
    plan = _json_plan(SYNC_TEMPLATE)
    support = {s["path"]: s for s in plan["support"]}
    assert support["tests/helpers.py"]["role"] == "test" and "`get_db`" in support["tests/helpers.py"]["needs"]
    assert "sync URL of its own" in support["alembic/env.py"]["needs"]
    assert "imports the app's `engine`" in support["scripts/prestart.py"]["needs"]
    assert "imports the app's `engine`" in support["scripts/seed.py"]["needs"]  # `from app.core.db import (\n engine,\n)`
    in_the_checklist = {f for p in plan["phases"] for u in p["units"] for f in u["files"]}
    assert not in_the_checklist & set(support)


def test_the_target_is_read_from_production_code_only() -> None:
    plan = _json_plan(ASYNC_TEMPLATE)
    assert [e["site"]["path"] for e in plan["engines"]] == ["app/main.py"]  # not the test fixture's nor Alembic's
    assert plan["touchpoints"] and not any(t["engine"].startswith("unresolved") for t in plan["touchpoints"])
    assert "tests/" not in plan["architecture"] + plan["skeleton"] and "migrations/" not in plan["architecture"]
    covered = " ".join(v["covers"] for v in plan["verification"] if v["phase"] == "2")
    assert "list_notes" in covered and "ping" not in covered  # only routes that touch the database
    assert {s["path"] for s in plan["support"]} == {"tests/fixtures_db.py", "migrations/env.py", "migrations/versions/0001_notes.py"}


def test_a_large_app_stays_within_a_few_dozen_work_units(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "large"\ndependencies = ["fastapi", "sqlalchemy>=2"]\n')
    app = tmp_path / "app"
    (app / "routers").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "routers" / "__init__.py").write_text("")
    (app / "db.py").write_text(
        "from sqlalchemy import create_engine\nfrom sqlalchemy.orm import sessionmaker\n\n"
        'engine = create_engine("postgresql://app@db/app")\nSessionLocal = sessionmaker(engine)\n\n\n'
        "def get_db():\n    db = SessionLocal()\n    try:\n        yield db\n    finally:\n        db.close()\n"
    )
    for number in range(80):
        package = app / "routers" / f"area{number % 10}"
        package.mkdir(exist_ok=True)
        (package / "__init__.py").write_text("")
        (package / f"module{number}.py").write_text(
            "from fastapi import APIRouter, Depends\nfrom sqlalchemy import text\nfrom sqlalchemy.orm import Session\n\n"
            "from app.db import get_db\n\nrouter = APIRouter()\n\n\n"
            + "".join(
                f'@router.get("/r{route}")\ndef read_{route}(db: Session = Depends(get_db)):\n'
                f'    return db.execute(text("select 1")).all()\n\n\n'
                f'@router.post("/w{route}")\ndef write_{route}(db: Session = Depends(get_db)):\n'
                f'    db.execute(text("insert into t values (1)"))\n    db.commit()\n\n\n'
                for route in range(4)
            )
        )
    plan = _json_plan(tmp_path)
    findings = sum(len(p["items"]) for p in plan["phases"])
    units = [u for p in plan["phases"] for u in p["units"]]
    # 80 modules of 8 findings in 10 folders: each folder's read paths are two units (64 places is over 60), its
    # writes one: 34 units in all.
    assert findings > 600 and 5 <= len(units) <= 36
    assert sum(len(u["closes"]) for u in units) == findings  # every finding is closed by some unit
    for unit in units:  # one pull request's worth: a reviewable number of files and places
        assert len(unit["files"]) <= 15 and len(unit["closes"]) + len(unit["inventory"]) <= 60, unit["key"]


def test_progress_against_an_earlier_plan(tmp_path: Path) -> None:
    project = tmp_path / "app"
    shutil.copytree(SYNC_TEMPLATE, project)
    earlier = tmp_path / "earlier.json"
    earlier.write_text(run_plan(".", "--format", "json", cwd=project).stdout)
    crud = project / "app" / "crud.py"
    crud.write_text(crud.read_text().replace("    session.commit()\n", ""))
    document = _json_plan(project, "--baseline", str(earlier))
    progress = {p["phase"]: p for p in document["progress"]}
    assert progress["3"]["closed"] == 1 and progress["3"]["done"] == "50%" and progress["1"]["closed"] == 0
    markdown = run_plan(".", "--baseline", str(earlier), cwd=project).stdout
    assert "### Progress since the baseline" in markdown
    assert run_plan(".", "--baseline", str(tmp_path / "missing.json"), cwd=project).returncode == 2


def test_project_rules_appear_under_their_phase() -> None:
    plan = _json_plan(ROOT / "tests" / "project_rules")
    phase_of = {closed.rpartition(" ")[2]: p["number"] for p in plan["phases"] for u in p["units"] for closed in u["closes"]}
    assert phase_of.get("ASQ902") == 1 and phase_of.get("ASQ901") == 4


def test_phase_5_names_the_lines_to_add_to_the_projects_own_ci(tmp_path: Path) -> None:
    shutil.copytree(ASYNC_TEMPLATE, tmp_path / "app")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".pre-commit-config.yaml").write_text("repos:\n  - repo: https://github.com/astral-sh/ruff-pre-commit\n    rev: v0.6.0\n")
    (tmp_path / ".gitlab-ci.yml").write_text("stages: [test]\n")
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "lint.yml").write_text("jobs:\n  lint:\n    steps:\n      - run: ruff check\n")
    gates = {g["file"]: g for g in _json_plan(tmp_path / "app")["gates"]}
    assert set(gates) == {".pre-commit-config.yaml", ".gitlab-ci.yml", ".github/workflows/lint.yml"}
    assert "rev: v" in gates[".pre-commit-config.yaml"]["lines"] and gates[".pre-commit-config.yaml"]["lines"].startswith("  - repo:")
    assert "check --phase 5 --baseline .asq-baseline.json --output-format github" in gates[".github/workflows/lint.yml"]["lines"]
    assert "--output-format sarif" in gates[".github/workflows/lint.yml"]["lines"]
    assert "--output-format gitlab" in gates[".gitlab-ci.yml"]["lines"]


def test_background_db_use_lists_only_work_that_touches_the_database(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "jobs"\ndependencies = ["fastapi", "sqlalchemy>=2", "celery"]\n')
    app = tmp_path / "app"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "db.py").write_text(
        "from sqlalchemy import create_engine, text\nfrom sqlalchemy.orm import sessionmaker\n\n"
        'engine = create_engine("postgresql://app@db/app")\nSessionLocal = sessionmaker(engine)\n\n\n'
        'def purge_rows():\n    with SessionLocal() as db:\n        db.execute(text("delete from t"))\n        db.commit()\n'
    )
    (app / "celery_app.py").write_text('from celery import Celery\n\ncelery_app = Celery("app")\n')
    (app / "mail.py").write_text(  # imports Celery, touches no database: not background DB use
        "from celery import shared_task\n\n\n@shared_task\ndef send_mail(to: str) -> None:\n    print(to)\n"
    )
    (app / "tasks.py").write_text(
        "from celery import shared_task\nfrom sqlalchemy import text\n\nfrom app.celery_app import celery_app\n"
        "from app.db import SessionLocal, purge_rows\n\n\n"
        + "".join(
            f'@shared_task\ndef count_{n}() -> int:\n    with SessionLocal() as db:\n        return db.execute(text("select 1")).scalar()\n\n\n'
            for n in range(11)
        )
        + "@celery_app.task(bind=True)\ndef nightly_purge(self) -> None:\n    purge_rows()\n"
    )
    decision = next(d for d in _json_plan(tmp_path)["decisions"] if d["topic"] == "background DB use")
    assert decision["detected"] == "present (12 places)"
    assert len(decision["evidence"]) == 11 and decision["evidence"][-1] == "and 2 more"
    assert all("celery task `count_" in e for e in decision["evidence"][:10])
    assert not any("mail.py" in e or "celery_app.py" in e for e in decision["evidence"])


def test_no_ci_gate_unit_when_nothing_is_left_or_the_gate_is_in_place(tmp_path: Path) -> None:
    modern = _json_plan(MODERN)
    assert modern["nothing_to_migrate"] and not [u for p in modern["phases"] for u in p["units"]]
    assert "to keep it so, gate CI" in run_plan(str(MODERN)).stdout
    shutil.copytree(ASYNC_TEMPLATE, tmp_path / "app")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "lint.yml").write_text(
        "jobs:\n  lint:\n    steps:\n      - run: flake8-async-sqla check --phase 5 --baseline .asq-baseline.json\n"
    )
    plan = _json_plan(tmp_path / "app")
    assert plan["gates_in_place"] == [".github/workflows/lint.yml"] and plan["gates"] == []
    phase_5 = plan["phases"][4]
    assert not phase_5["units"] and "gate already in place: .github/workflows/lint.yml" in phase_5["notes"][0]
