"""`plan`: golden output on the legacy example, nothing to migrate on the modern one, formats and flake8's formatter."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

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
