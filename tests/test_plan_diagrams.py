"""The plan's pictures: every generated diagram (examples, skeleton projects, a generated large app) is
read by the real Mermaid parser under Node, installed by this test from tests/mermaid into tests/.node;
a broken diagram fails; output is deterministic and a large app's picture stays within the node cap."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flake8_async_sqla.plan.diagrams import MOST_NODES, Graph, Node, _flowchart
from harness import PLANNED_PROJECTS, ROOT

PACKAGE = ROOT / "tests" / "mermaid"
CACHE = ROOT / "tests" / ".node"
PROJECTS = PLANNED_PROJECTS
NODE_LINE = re.compile(r'^\s+(n\d+)\["([^"]*)"\](:::legacy)?$')
EDGE_LINE = re.compile(r"^\s+(n\d+) (-->|-\.->) (n\d+)$")


@pytest.fixture(scope="session")
def mermaid_parse():
    """Mermaid's parser: a function from diagrams to their errors (None for one that parses)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js (node and npm) is not installed: the diagrams cannot be checked with Mermaid's parser")
    stamp = hashlib.sha256(b"".join((PACKAGE / name).read_bytes() for name in ("package.json", "package-lock.json", "parse.mjs"))).hexdigest()
    if not (CACHE / "installed").is_file() or (CACHE / "installed").read_text() != stamp:
        CACHE.mkdir(exist_ok=True)
        for name in ("package.json", "package-lock.json", "parse.mjs"):
            shutil.copy(PACKAGE / name, CACHE / name)
        install = subprocess.run(
            [npm, "ci", "--prefix", str(CACHE), "--no-audit", "--no-fund", "--loglevel=error"],
            capture_output=True, text=True, timeout=600,
        )
        assert install.returncode == 0, install.stdout + install.stderr
        (CACHE / "installed").write_text(stamp)

    def parse(diagrams: list[str], folder: Path) -> list[str | None]:
        listing = folder / "diagrams.json"
        listing.write_text(json.dumps(diagrams), encoding="utf-8")
        result = subprocess.run([node, str(CACHE / "parse.mjs"), str(listing)], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    return parse


def plan_of(project: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "flake8_async_sqla", "plan", str(project), "--format", "json"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def large_app(folder: Path) -> Path:
    """60 router modules of 5 routes each, 20 service modules and 5 jobs over one session dependency."""
    app = folder / "app"
    (app / "routers").mkdir(parents=True)
    (app / "services").mkdir()
    (app / "jobs").mkdir()
    (folder / "pyproject.toml").write_text('[project]\nname = "large"\ndependencies = ["fastapi", "sqlalchemy[asyncio]", "asyncpg"]\n')
    for package in (app, app / "routers", app / "services", app / "jobs"):
        (package / "__init__.py").write_text("")
    (app / "db.py").write_text(
        "from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine\n\n"
        'engine = create_async_engine("postgresql+asyncpg://app@localhost/app")\n'
        "SessionLocal = async_sessionmaker(engine, expire_on_commit=False)\n\n\n"
        "async def get_db():\n    async with SessionLocal() as session:\n        yield session\n"
    )
    for number in range(60):
        routes = "".join(
            f'\n\n@router.get("/r{number}/{route}")\nasync def route_{number}_{route}(db: AsyncSession = Depends(get_db)):\n'
            "    return await db.scalar(text('select 1'))\n"
            for route in range(5)
        )
        (app / "routers" / f"area_{number}.py").write_text(
            "from fastapi import APIRouter, Depends\nfrom sqlalchemy import text\n"
            "from sqlalchemy.ext.asyncio import AsyncSession\n\nfrom app.db import get_db\n\nrouter = APIRouter()\n" + routes
        )
    for number in range(20):
        (app / "services" / f"service_{number}.py").write_text(
            "from sqlalchemy import text\nfrom sqlalchemy.ext.asyncio import AsyncSession\n\n\n"
            f"async def work_{number}(session: AsyncSession):\n    await session.execute(text('select 1'))\n"
        )
    for number in range(5):
        (app / "jobs" / f"job_{number}.py").write_text(
            "from sqlalchemy import text\n\nfrom app.db import SessionLocal\n\n\n"
            f"async def job_{number}():\n    async with SessionLocal() as session:\n        await session.execute(text('select 1'))\n"
        )
    return folder


def pictures(plan: dict) -> list[str]:
    return [plan["current_picture"], plan["target_picture"]]


def test_every_generated_diagram_parses(mermaid_parse, tmp_path: Path) -> None:
    diagrams = {
        f"{project.name} {which}": picture
        for project in [*PROJECTS, large_app(tmp_path / "large")]
        for which, picture in zip(("current", "target"), pictures(plan_of(project)))
    }
    errors = dict(zip(diagrams, mermaid_parse(list(diagrams.values()), tmp_path)))
    assert not {name: error for name, error in errors.items() if error is not None}


def test_a_broken_diagram_fails(mermaid_parse, tmp_path: Path) -> None:
    good = plan_of(ROOT / "examples" / "legacy_app")["current_picture"]
    broken = [
        good.replace('"]', "]", 1),  # an unclosed quoted label
        good.replace("-->", "-->>", 1),  # an arrow the grammar has not
        good + "  end\n",  # a subgraph closed twice
        "flowchart LR\n  a[x(y)] --> b\n",  # round brackets inside an unquoted label
    ]
    results = mermaid_parse([good, *broken], tmp_path)
    assert results[0] is None
    assert all(error is not None for error in results[1:]), results


def test_labels_are_escaped(mermaid_parse, tmp_path: Path) -> None:
    graph = Graph()
    hostile = 'a "quoted" <b>path</b> #1 `tick` [x] (y) {z} | ; end'
    graph.node("engine", Node("engine", "p.py", hostile, hostile))
    graph.node("route", Node("route", hostile, hostile, functions=["f"]))
    graph.edge("engine", "route", legacy=True)
    picture = _flowchart(graph)
    assert '"quoted"' not in picture and "<b>" not in picture
    assert mermaid_parse([picture], tmp_path) == [None]


def test_diagrams_are_deterministic_and_well_formed() -> None:
    first = pictures(plan_of(ROOT / "examples" / "legacy_app"))
    assert pictures(plan_of(ROOT / "examples" / "legacy_app")) == first
    current = first[0].splitlines()
    assert current[0] == "flowchart LR"
    nodes = [m.group(1) for m in map(NODE_LINE.match, current) if m]
    edges = [m.groups() for m in map(EDGE_LINE.match, current) if m]
    assert len(nodes) == len(set(nodes)) and edges
    assert {e[0] for e in edges} | {e[2] for e in edges} <= set(nodes)
    # Legacy paths are drawn in another style: the module-level sync reporting engine, its scoped registry.
    legacy = {m.group(2).partition("<br/>")[0] for m in map(NODE_LINE.match, current) if m and m.group(3)}
    assert {"reporting_engine", "ReportingSession", "SessionLocal"} <= legacy
    assert any(arrow == "-.->" for _, arrow, _ in edges) and any(arrow == "-->" for _, arrow, _ in edges)


def test_a_large_app_is_drawn_per_folder_within_the_node_cap(tmp_path: Path) -> None:
    plan = plan_of(large_app(tmp_path / "large"))
    for picture in pictures(plan):
        nodes = [m for m in map(NODE_LINE.match, picture.splitlines()) if m]
        assert 3 <= len(nodes) <= MOST_NODES
    labels = " ".join(m.group(2) for m in map(NODE_LINE.match, plan["current_picture"].splitlines()) if m)
    assert "300 functions" in labels  # every route counted, in one node for the routers' folder
    assert "20 functions" in labels and "5 functions" in labels  # services; jobs


def test_the_docs_show_the_legacy_examples_pictures() -> None:
    docs = (ROOT / "docs" / "plan.md").read_text(encoding="utf-8")
    for picture in pictures(plan_of(ROOT / "examples" / "legacy_app")):
        assert f"```mermaid\n{picture}```" in docs, "paste the legacy example's pictures from `plan --format json` into docs/plan.md"
