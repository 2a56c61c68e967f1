"""The flake8 adapter's handling of the cyclic collector and of flake8's worker processes."""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import shutil
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import ROOT, run_flake8

from flake8_async_sqla.adapters.flake8 import FLAKE8_HEAD_SHARE, forks_workers, frozen_after

EXAMPLES = ROOT / "examples"


class Node:
    pass


@pytest.fixture
def default_collector() -> Iterator[None]:
    """flake8's collector: the default thresholds, nothing frozen, nothing pending; as it was afterwards."""
    thresholds, enabled = gc.get_threshold(), gc.isenabled()
    gc.set_threshold(700, 10, 10)
    gc.unfreeze()
    gc.enable()
    gc.collect()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    (gc.enable if enabled else gc.disable)()


def garbage_cycle() -> weakref.ref[Node]:
    node = Node()
    node.itself = node  # type: ignore[attr-defined]
    return weakref.ref(node)


def test_what_a_check_keeps_is_frozen_and_garbage_collected_first(default_collector: None) -> None:
    dead = garbage_cycle()
    kept: list[Node] = []
    frozen_after(lambda: kept.extend(Node() for _ in range(5_000)) or [])
    assert dead() is None  # collected, not frozen with what the check kept
    assert gc.get_freeze_count() >= len(kept)
    assert gc.isenabled()


def test_a_check_that_keeps_little_is_left_to_the_collector(default_collector: None) -> None:
    dead = garbage_cycle()
    frozen_after(lambda: [])
    assert gc.get_freeze_count() == 0
    assert dead() is not None  # left for a later collection
    gc.collect()
    assert dead() is None


def test_a_paused_collector_stays_paused(default_collector: None) -> None:
    gc.disable()
    kept: list[Node] = []
    frozen_after(lambda: kept.extend(Node() for _ in range(5_000)) or [])
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize(
    ("paths", "jobs", "forks"),
    [
        (["."], "2", True),
        ([], "2", True),  # flake8's default path is the working folder
        (["."], "1", False),
        (["app.py"], "2", False),  # a single file is checked in the main process
        (["app.py", "db.py"], "2", True),
        (["-"], "2", False),  # standard input
    ],
)
def test_flake8_forks_workers_for_several_files_and_jobs(
    paths: list[str], jobs: str, forks: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flake8.main.options import JobsArgument

    monkeypatch.chdir(tmp_path)
    assert forks_workers(argparse.Namespace(filenames=paths, jobs=JobsArgument(jobs))) is forks


def test_workers_started_afresh_are_not_forked_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flake8.main.options import JobsArgument

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(multiprocessing, "get_start_method", lambda: "spawn")
    assert not forks_workers(argparse.Namespace(filenames=["."], jobs=JobsArgument("2")))


def test_flake8_reports_the_same_with_workers(tmp_path: Path) -> None:
    """Worker processes start with the project's text read in the main process, and find what one process finds."""
    shutil.copytree(EXAMPLES / "legacy_app", tmp_path / "app")
    runs = [run_flake8([tmp_path / "app"], "-j", jobs) for jobs in ("1", "2")]
    assert runs[0].returncode == runs[1].returncode == 1
    assert sorted(runs[0].stdout.splitlines()) == sorted(runs[1].stdout.splitlines())


SESSION_PROVIDER = '''\
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://db/app", pool_pre_ping=True)
factory = async_sessionmaker(engine, expire_on_commit=False)


async def get_session():
    async with factory() as session:
        yield session
'''
WRITING_ROUTE = '''\
from fastapi import APIRouter, Depends
from sqlalchemy import text

from db import get_session

router = APIRouter()


@router.post("/items")
async def create_item(session=Depends(get_session)) -> None:
    await session.execute(text("insert into items values (1)"))
'''


def routes_project(root: Path, routes: int) -> Path:
    """A session dependency in `db.py`, and `routes` modules whose handlers write through it without a transaction."""
    (root / "db.py").write_text(SESSION_PROVIDER)
    for number in range(routes):
        (root / f"api{number}.py").write_text(WRITING_ROUTE)
    return root


def test_the_first_files_are_analysed_before_the_workers_fork(tmp_path: Path) -> None:
    """The database module every route imports comes first: what the index keeps of it, the workers start with."""
    from flake8_async_sqla.adapters.flake8 import analyse_first_files
    from flake8_async_sqla.core.project import ProjectIndex
    from flake8_async_sqla.core.roles import DEFAULT_POLICY

    routes_project(tmp_path, 2 * FLAKE8_HEAD_SHARE - 1)
    options = argparse.Namespace(
        filenames=[str(tmp_path)], stdin_display_name="stdin", filename=["*.py"], exclude=[], extend_exclude=[]
    )
    index = ProjectIndex()
    analyse_first_files(index, DEFAULT_POLICY, options)
    assert index.interface_digest(str(tmp_path / "db.py")) is not None
    assert index.interface_digest(str(tmp_path / f"api{2 * FLAKE8_HEAD_SHARE - 2}.py")) is None


def test_flake8_workers_starting_with_the_first_files_analysed_report_what_one_process_does(tmp_path: Path) -> None:
    routes_project(tmp_path, FLAKE8_HEAD_SHARE + 8)
    runs = [run_flake8([tmp_path], "-j", jobs) for jobs in ("1", "2")]
    assert runs[0].returncode == runs[1].returncode == 1
    assert sorted(runs[0].stdout.splitlines()) == sorted(runs[1].stdout.splitlines())
    assert sum(": ASQ301 " in line for line in runs[0].stdout.splitlines()) == FLAKE8_HEAD_SHARE + 8
