"""The cache never reports less than a clean run would: each scenario compares a cached run with `--no-cache`."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from flake8_async_sqla.cache_files import HEADER, SHAPE
from flake8_async_sqla.config import load_settings
from flake8_async_sqla.discovery import Discovery
from flake8_async_sqla.runner import Cache, project_stamps
from flake8_async_sqla.core.layout import content_digest
from harness import ENGINE_IN_HANDLER, run_cli
from test_check_command import ALIAS, PROVIDER, WRITING_HANDLER

ROUTES_ON_IMPORTED_ROUTER = ENGINE_IN_HANDLER.replace("from fastapi import FastAPI", "from web import router").replace(
    "app = FastAPI()", ""
).replace("@app.get", "@router.get")
REAL_ROUTER = "from fastapi import APIRouter\nrouter = APIRouter()\n"
NOT_A_ROUTER = "class Registry:\n    def get(self, path):\n        return lambda f: f\nrouter = Registry()\n"


def findings(project: Path, *args: str) -> tuple[int, list[str], str]:
    result = run_cli("check", "--output-format", "json", *args, cwd=project)
    assert "Traceback" not in result.stderr, result.stderr
    found = sorted(f"{item['path']}:{item['line']}:{item['code']}" for item in json.loads(result.stdout or "[]"))
    return result.returncode, found, result.stderr


def assert_cached_run_is_a_clean_run(project: Path, *args: str) -> tuple[int, list[str]]:
    cached = findings(project, *args)
    clean = findings(project, "--no-cache", *args)
    assert cached[:2] == clean[:2]
    return clean[:2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("")
    return tmp_path


def test_a_module_created_after_the_run(project: Path) -> None:
    (project / "routes.py").write_text(ROUTES_ON_IMPORTED_ROUTER)
    assert findings(project)[:2] == (0, [])
    (project / "web.py").write_text(REAL_ROUTER)
    assert assert_cached_run_is_a_clean_run(project) == (1, ["routes.py:9:ASQ101"])


def test_a_module_renamed_after_the_run(project: Path) -> None:
    (project / "routes.py").write_text(ROUTES_ON_IMPORTED_ROUTER)
    (project / "old_web.py").write_text(REAL_ROUTER)
    assert findings(project, "routes.py")[:2] == (0, [])
    (project / "old_web.py").rename(project / "web.py")
    assert assert_cached_run_is_a_clean_run(project, "routes.py") == (1, ["routes.py:9:ASQ101"])
    (project / "web.py").rename(project / "gone_web.py")  # and away again
    assert assert_cached_run_is_a_clean_run(project, "routes.py") == (0, [])


def test_a_nearer_module_shadows_the_one_resolved(project: Path) -> None:
    (project / "pkg").mkdir()
    (project / "pkg" / "routes.py").write_text(ROUTES_ON_IMPORTED_ROUTER)
    (project / "web.py").write_text(REAL_ROUTER)
    assert findings(project)[:2] == (1, ["pkg/routes.py:9:ASQ101"])
    (project / "pkg" / "web.py").write_text(NOT_A_ROUTER)  # the importing file's own folder is searched first
    assert assert_cached_run_is_a_clean_run(project) == (0, [])


def test_an_alias_reexported_through_modules_not_checked(project: Path) -> None:
    """pre-commit passes only the changed files: `api.py` alone is checked, its `SessionDep` comes from `types_.py`,
    whose dependency lives in `db.py`; neither is among the checked files when `db.py` starts a transaction."""
    (project / "db.py").write_text(PROVIDER.format(opening="factory() as session"))
    (project / "types_.py").write_text(ALIAS)
    (project / "api.py").write_text(WRITING_HANDLER)
    assert findings(project, "api.py")[:2] == (1, ["api.py:11:ASQ301"])
    time.sleep(0.01)
    (project / "db.py").write_text(PROVIDER.format(opening="factory() as session, session.begin()"))
    assert assert_cached_run_is_a_clean_run(project, "api.py") == (0, [])


def cache_file(project: Path) -> Path:
    return project / ".asq_cache" / f"check-{__import__('flake8_async_sqla').__version__}.json"


def records_file(project: Path) -> Path:
    return project / ".asq_cache" / f"check-modules-{__import__('flake8_async_sqla').__version__}.json"


def stored(project: Path) -> dict:
    return json.loads(cache_file(project).read_bytes().partition(b"\n")[2])


def sealed(document: object) -> bytes:
    """`document` as the tool writes a cache, checksum included: damage the checksum cannot reveal."""
    body = json.dumps(document).encode()
    return f"{HEADER} {SHAPE} {content_digest(body)}\n".encode() + body


def unsealed(project: Path, document: dict) -> bytes:
    """`document` under the header (and checksum) of the cache as written: an edit by hand, a partial write."""
    return cache_file(project).read_bytes().partition(b"\n")[0] + b"\n" + json.dumps(document).encode()


def emptied_findings(document: dict, lines_too: bool = False) -> dict:
    for entry in document["files"].values():
        entry["findings"] = []
        if lines_too:
            entry["lines"] = []
    return document


def without_field(document: dict) -> dict:
    for entry in document["files"].values():
        del entry["resolved"]
    return document


def with_null_entries(document: dict) -> dict:
    document["files"] = {path: None for path in document["files"]}
    return document


DAMAGE = {
    "not JSON": lambda project: b"{not json",
    "plain JSON, no header": lambda project: json.dumps(stored(project)).encode(),
    "edited, checksum kept": lambda project: cache_file(project).read_bytes().replace(b'"findings": [{', b'"findings": [], "x": [{'),
    "truncated": lambda project: cache_file(project).read_bytes()[:-40],
    "null": lambda project: sealed(None),
    "a list": lambda project: sealed([1, 2]),
    "files is a list": lambda project: sealed({**stored(project), "files": []}),
    "emptied findings": lambda project: sealed(emptied_findings(stored(project))),
    "emptied findings and lines": lambda project: unsealed(project, emptied_findings(stored(project), lines_too=True)),
    "a field missing": lambda project: sealed(without_field(stored(project))),
    "null entries": lambda project: sealed(with_null_entries(stored(project))),
    "deep nesting": lambda project: sealed({**stored(project), "phases": {}}).replace(
        b'"phases": {}', b'"phases": ' + b"[" * 100_000 + b"]" * 100_000
    ),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_cache_is_discarded_whole_with_one_warning(project: Path, damage: str) -> None:
    (project / "routes.py").write_text(ENGINE_IN_HANDLER)
    (project / "other.py").write_text(ENGINE_IN_HANDLER)
    clean = findings(project)
    assert clean[:2] == (1, ["other.py:9:ASQ101", "routes.py:9:ASQ101"])
    cache_file(project).write_bytes(DAMAGE[damage](project))
    status, found, stderr = findings(project)
    assert (status, found) == clean[:2]
    warnings = stderr.splitlines()
    assert len(warnings) == 1 and "cannot be trusted" in warnings[0] and "discarded" in warnings[0], stderr
    assert findings(project) == clean  # written afresh: no warning the next time


def test_a_cache_file_that_is_a_link_to_a_device_is_never_read(project: Path) -> None:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    (project / "routes.py").write_text(ENGINE_IN_HANDLER)
    (project / ".asq_cache").mkdir()
    (project / ".asq_cache" / f"check-{__import__('flake8_async_sqla').__version__}.json").symlink_to("/dev/zero")
    status, found, stderr = findings(project)
    assert (status, found) == (1, ["routes.py:9:ASQ101"])
    assert "cannot be trusted" in stderr and "symbolic link" in stderr


# A helper that commits, reached from the route through a cycle of modules (`store` and `relay` import each other).
STORE = '''\
import relay


async def save(session, item, depth=0):
    session.add(item)
    if depth:
        await relay.forward(session, item, depth - 1)
    await session.commit()
'''
RELAY = '''\
import store


async def forward(session, item, depth):
    await store.save(session, item, depth)
'''
FORWARDING_HANDLER = '''\
from fastapi import APIRouter

from relay import forward
from types_ import SessionDep

router = APIRouter()


@router.post("/items")
async def create_item(session: SessionDep) -> None:
    await forward(session, object(), 1)
'''


def layered_project(project: Path) -> None:
    (project / "db.py").write_text(PROVIDER.format(opening="factory() as session"))
    (project / "types_.py").write_text(ALIAS)
    (project / "api.py").write_text(WRITING_HANDLER)
    (project / "store.py").write_text(STORE)
    (project / "relay.py").write_text(RELAY)
    (project / "forwarding.py").write_text(FORWARDING_HANDLER)


def verbose_summary(project: Path) -> str:
    result = run_cli("check", "--verbose", cwd=project)
    return next(line for line in result.stderr.splitlines() if line.startswith("checked "))


def test_a_comment_in_a_module_others_import_reanalyses_that_file_alone(project: Path) -> None:
    """The stored module records stand for the modules whose interfaces hold: the edited file is the one modelled."""
    layered_project(project)
    assert findings(project)[1] == ["api.py:11:ASQ301", "db.py:3:ASQ102", "forwarding.py:11:ASQ301"]
    time.sleep(0.01)
    with (project / "db.py").open("a") as handle:
        handle.write("# an edit the cache has not seen\n")
    summary = verbose_summary(project)
    assert "1 analysed" in summary and "parsed 1 module" in summary, summary
    for _ in range(2):  # the records taken stay stored: edit after edit
        time.sleep(0.01)
        with (project / "db.py").open("a") as handle:
            handle.write("# another edit\n")
        assert verbose_summary(project) == summary
    assert assert_cached_run_is_a_clean_run(project)[1] == ["api.py:11:ASQ301", "db.py:3:ASQ102", "forwarding.py:11:ASQ301"]


def test_edit_after_edit_in_a_cycle_of_modules_models_the_edited_one_alone(project: Path) -> None:
    """The records of a cycle's other modules, taken while the edited one is modelled again (its lookups in them), are
    stored again: the next edit models the edited module alone too."""
    with_session_modules(project, {
        "a.py": "from b import relay\n\n\nasync def finish(session):\n    await relay(session)\n\n\nHELPER = 1\n",
        "b.py": "from c import flush\n\n\nasync def relay(session):\n    await flush(session)\n",
        "c.py": "import a\n\n\nasync def flush(session):\n    await session.flush()\n\n\nLIMIT = a.HELPER\n",
        "d.py": HANDLER_CALLING.format(module="a", name="finish"),
    })
    findings(project)
    summaries = []
    for _ in range(3):
        edited(project, "a.py", "", (project / "a.py").read_text() + "# an edit the cache has not seen\n")
        summaries.append(verbose_summary(project))
    assert all("parsed 1 module" in summary for summary in summaries[1:]), summaries


@pytest.mark.parametrize("edited", ["store.py", "db.py"])
def test_an_effect_changed_behind_stored_module_records(project: Path, edited: str) -> None:
    """An edit that changes what a module's functions do reaches the results resting on it through other modules'
    records: the commit in a cycle of modules, the transaction the dependency opens."""
    layered_project(project)
    before = findings(project)[1]
    time.sleep(0.01)
    path = project / edited
    text = path.read_text()
    changed = text.replace("await session.commit()", "await session.flush()").replace(
        "factory() as session:", "factory() as session, session.begin():"
    )
    path.write_text(changed)
    after = assert_cached_run_is_a_clean_run(project)[1]
    assert after != before
    time.sleep(0.01)
    path.write_text(text)
    assert assert_cached_run_is_a_clean_run(project)[1] == before


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other settings"])
def test_damaged_module_records_are_made_again(project: Path, damage: str) -> None:
    """The module records only spare work: damaged, cut short or written under other settings, they are not used,
    and the next run writes them afresh."""
    layered_project(project)
    clean = findings(project)
    text = records_file(project).read_bytes()
    records_file(project).write_bytes(
        b"garbage" if damage == "garbage" else text[:-40] if damage == "truncated"
        else text.replace(b'{"settings": ', b'{"settings": "other", "was": ', 1)
    )
    time.sleep(0.01)
    with (project / "db.py").open("a") as handle:
        handle.write("# an edit the cache has not seen\n")
    assert findings(project) == clean
    assert records_file(project).read_bytes() != text


def stored_cache(project: Path) -> Cache:
    settings = load_settings(None, project)
    cache = Cache(project / ".asq_cache", settings.fingerprint(), settings.root)
    cache.current = project_stamps(list(Discovery(settings).files([project])))  # as a run takes them
    cache.trust_folders()
    return cache


def aged(*folders: Path) -> None:
    """Give `folders` a modification time well before the next run: a folder changed while a run goes on (or within
    the coarsest clock a file system keeps times with) is not trusted."""
    aged.seconds = getattr(aged, "seconds", 0) + 1
    for folder in folders:
        os.utime(folder, (time.time() - 100 + aged.seconds,) * 2)


def test_module_resolutions_are_trusted_while_no_folder_they_rest_on_changes(project: Path) -> None:
    """A run that finds every folder the stored resolutions rest on as it was checks none of them; a file created,
    deleted or renamed in one of those folders, or a root marker created above, makes the next run check them."""
    (project / "pkg").mkdir()
    (project / "pkg" / "__init__.py").write_text("")
    layered_project(project / "pkg")
    findings(project)  # creates the cache's folder in the project's: noted before, so the next run checks them
    aged(project, project / "pkg")
    findings(project)
    assert stored_cache(project).resolutions_trusted
    (project / "pkg" / "notes.txt").write_text("not Python, but the folder's content changed")
    assert not stored_cache(project).resolutions_trusted
    findings(project)  # checks them all, but the folder changed too recently to be trusted
    assert not stored_cache(project).resolutions_trusted
    aged(project / "pkg")
    findings(project)  # checks them all, and notes the folders again
    assert stored_cache(project).resolutions_trusted
    with (project / "pkg" / "db.py").open("a") as handle:  # an edit changes no folder
        handle.write("# an edit the cache has not seen\n")
    assert stored_cache(project).resolutions_trusted


def edited(project: Path, name: str, old: str, new: str) -> None:
    time.sleep(0.05)
    path = project / name
    path.write_text(path.read_text().replace(old, new) if old else new)


HANDLER_CALLING = '''\
from fastapi import APIRouter
from sqlalchemy import text

from {module} import {name}
from types_ import SessionDep

router = APIRouter()


@router.post("/items")
async def create_item(session: SessionDep) -> None:
    await session.execute(text("insert into items values (1)"))
    await {name}(session)
'''


def with_session_modules(project: Path, files: dict[str, str]) -> None:
    (project / "db.py").write_text(PROVIDER.format(opening="factory() as session"))
    (project / "types_.py").write_text(ALIAS)
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)


def test_a_url_followed_through_a_module_found_from_another_folder(project: Path) -> None:
    """`app/db.py` follows its URL to `conf/settings.py`, which imports `urls` from its own folder first: a module
    created there changes the URL, and with it what `app/db.py`'s stored record says of its engine."""
    files = {
        "app/db.py": "from sqlalchemy import create_engine\n\nfrom conf.settings import URL\n\n\ndef make_engine():\n"
        "    return create_engine(URL)\n",
        "conf/__init__.py": "",
        "conf/settings.py": "from urls import SQLITE as URL\n",
        "urls.py": 'SQLITE = "sqlite:///./app.db"\n',
        "y.py": "from sqlalchemy.orm import Session\n\nfrom app.db import make_engine\n\n\ndef work(session: Session):\n"
        "    with session.begin_nested():\n        session.add(object())\n",
    }
    with_session_modules(project, files)
    assert "y.py:7:ASQ305" in findings(project)[1]
    edited(project, "conf/urls.py", "", 'SQLITE = "postgresql://db/app"\n')
    assert "y.py:7:ASQ305" not in assert_cached_run_is_a_clean_run(project)[1]


def test_a_function_no_other_file_named_until_an_edit(project: Path) -> None:
    """`b.relay_commit` is named by no other file, so its module's record keeps it without effects; once `a.py` calls
    it, that record no longer holds, and an edit to what it calls reaches the handler."""
    with_session_modules(project, {
        "c.py": "async def h(session):\n    await session.commit()\n",
        "b.py": "from c import h\n\n\nasync def other(x):\n    pass\n\n\nasync def relay_commit(x):\n    await h(x)\n",
        "a.py": "import b\n\n\nasync def finish(session):\n    await b.other(session)\n",
        "d.py": HANDLER_CALLING.format(module="a", name="finish"),
    })
    assert "d.py:13:ASQ301" not in findings(project)[1]
    edited(project, "a.py", "b.other(session)", "b.relay_commit(session)")
    assert "d.py:13:ASQ301" in assert_cached_run_is_a_clean_run(project)[1]
    for _ in range(2):  # `b.py` edited: the file naming `relay_commit` it noted is looked at first, and still does
        edited(project, "b.py", "", (project / "b.py").read_text() + "# an edit the cache has not seen\n")
        assert "d.py:13:ASQ301" in assert_cached_run_is_a_clean_run(project)[1]
    edited(project, "c.py", "commit()", "flush()")
    assert "d.py:13:ASQ301" not in assert_cached_run_is_a_clean_run(project)[1]
    edited(project, "c.py", "flush()", "commit()")
    edited(project, "a.py", "b.relay_commit(session)", "b.other(session)")  # and no longer does
    edited(project, "b.py", "", (project / "b.py").read_text() + "# another edit\n")
    assert "d.py:13:ASQ301" not in assert_cached_run_is_a_clean_run(project)[1]


@pytest.mark.parametrize("name", ["relay", "rélay"])
@pytest.mark.parametrize("nested_root", [False, True])
def test_a_helper_the_index_keeps_without_effects_reached_from_elsewhere(project: Path, name: str, nested_root: bool) -> None:
    """A helper whose name the project's word filter does not see elsewhere (in a package that is a project of its
    own, or spelt with other than ASCII letters) is kept without effects; a handler calling it still learns of an
    edit to it."""
    with_session_modules(project, {
        "lib/__init__.py": "",
        "lib/b.py": f"async def {name}(session):\n    await session.commit()\n",
        "d.py": HANDLER_CALLING.format(module="lib.b", name=name),
    })
    if nested_root:
        (project / "lib" / "pyproject.toml").write_text("")
    assert "d.py:13:ASQ301" in findings(project)[1]
    edited(project, "lib/b.py", "commit()", "flush()")
    assert "d.py:13:ASQ301" not in assert_cached_run_is_a_clean_run(project)[1]


def test_a_package_made_by_a_new_init_file(project: Path) -> None:
    """Creating `pkg/__init__.py` renames every module below it (`sub.svc` becomes `pkg.sub.svc`): nothing stored
    under the old names is used."""
    with_session_modules(project, {
        "pkg/sub/__init__.py": "",
        "pkg/sub/svc.py": "class Base:\n    async def save(self, session, item):\n        session.add(item)\n\n\n"
        "class Service(Base):\n    pass\n",
        "y.py": HANDLER_CALLING.format(module="pkg.sub.svc", name="Service").replace(
            "await Service(session)", "await Service().save(session, object())"
        ),
    })
    before = findings(project)[1]
    edited(project, "pkg/__init__.py", "", "")
    assert assert_cached_run_is_a_clean_run(project)[1] != before


# `save` commits, and also calls `forward`, which calls `save` back: the commit reaches the handler through both.
SELF_SUSTAINING = {
    "store.py": "import relay\n\n\nasync def save(session, depth=0):\n    await session.flush()\n    if depth:\n"
    "        await relay.forward(session, depth - 1)\n    await session.commit()\n",
    "relay.py": "import store\n\n\nasync def forward(session, depth):\n    await store.save(session, depth)\n",
    "forwarding.py": HANDLER_CALLING.format(module="relay", name="forward").replace(
        "await forward(session)", "await forward(session, 1)"
    ),
}
# `api` calls `helpers`, whose session is annotated with an alias `api` defines: a cycle of modules, not of calls.
NO_CALL_BACK = {
    "helpers.py": "from api import Db\n\n\nasync def finish(session: Db):\n    await session.commit()\n",
    "api.py": "from sqlalchemy.ext.asyncio import AsyncSession\n\nimport helpers\n\nDb = AsyncSession\n\n\n"
    "async def handle(session):\n    await helpers.finish(session)\n",
    "handler.py": HANDLER_CALLING.format(module="api", name="handle"),
}


def test_an_edit_in_a_cycle_of_calls_is_not_judged_from_the_cycle_s_stored_effects(project: Path) -> None:
    """Removing the commit from `save` leaves a cycle of calls (`save` -> `forward` -> `save`) that commits only if
    the stored effect of `forward` (which commits because `save` did) were taken on trust."""
    with_session_modules(project, SELF_SUSTAINING)
    assert "forwarding.py:13:ASQ301" in findings(project)[1]
    edited(project, "store.py", "await session.commit()", "await session.flush()")
    assert "forwarding.py:13:ASQ301" not in assert_cached_run_is_a_clean_run(project)[1]


def test_a_comment_in_a_cycle_of_modules_that_calls_no_way_back_models_that_module_alone(project: Path) -> None:
    """`api` and `helpers` read each other's names, but no effect of `helpers` reads one of `api`: after a comment in
    `api`, the record of `helpers` stands while `api` is modelled again, and `api` keeps its interface."""
    with_session_modules(project, NO_CALL_BACK)
    before = findings(project)[1]
    assert "helpers.py:5:ASQ301" in before
    edited(project, "api.py", "Db = AsyncSession\n", "Db = AsyncSession  # the session type\n")
    summary = verbose_summary(project)
    # `api.py` once (for its interface, and its module facts, which judge the stored answers); `helpers.py` not.
    assert "parsed 1 module" in summary, summary
    assert assert_cached_run_is_a_clean_run(project)[1] == before
    edited(project, "helpers.py", "commit()", "flush()")
    assert "helpers.py:5:ASQ301" not in assert_cached_run_is_a_clean_run(project)[1]


def test_a_cycle_between_a_package_and_its_submodule(project: Path) -> None:
    """`relay/__init__.py` and `relay/store.py` call each other: a read of `relay.store.save` from `relay.forward` is
    a read of another module's effect, though the one's name starts with the other's."""
    with_session_modules(project, {
        "relay/store.py": SELF_SUSTAINING["store.py"],
        "relay/__init__.py": "from relay import store\n\n\nasync def forward(session, depth):\n"
        "    await store.save(session, depth)\n",
        "forwarding.py": SELF_SUSTAINING["forwarding.py"],
    })
    assert "forwarding.py:13:ASQ301" in findings(project)[1]
    edited(project, "relay/store.py", "await session.commit()", "await session.flush()")
    assert "forwarding.py:13:ASQ301" not in assert_cached_run_is_a_clean_run(project)[1]


def test_a_module_that_appears_behind_a_link(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """`helper.py` links to a file that does not exist yet: when it appears, no folder of the project changes, but
    the project has one file more, and the stored resolutions are checked again."""
    target = tmp_path_factory.mktemp("elsewhere") / "helper.py"
    (project / "helper.py").symlink_to(target)
    with_session_modules(project, {"d.py": HANDLER_CALLING.format(module="helper", name="finish")})
    findings(project)
    aged(project)
    findings(project)
    target.write_text("async def finish(session):\n    await session.commit()\n")
    assert "d.py:13:ASQ301" in assert_cached_run_is_a_clean_run(project)[1]


def test_a_project_root_marked_in_a_subfolder(project: Path) -> None:
    """A `setup.cfg` in `app/` makes it a project root: `app/db.py` is the module `db` from then on, and nothing stored
    under the name `app.db` is used."""
    (project / "app").mkdir()
    (project / "app" / "db.py").write_text(PROVIDER.format(opening="factory() as session"))
    (project / "main.py").write_text(WRITING_HANDLER.replace("from types_ import SessionDep", "from app.db import get_session")
                                     .replace("session: SessionDep", "session=Depends(get_session)")
                                     .replace("from fastapi import APIRouter", "from fastapi import APIRouter, Depends"))
    before = findings(project)[1]
    edited(project, "app/setup.cfg", "", "")
    assert assert_cached_run_is_a_clean_run(project)[1] != before


ENGINE_GETTER = 'from sqlalchemy.ext.asyncio import create_async_engine\n\n\ndef get_engine():\n    return create_async_engine("sqlite+aiosqlite://")\n'
APP_ONLY = "from fastapi import FastAPI\n\napp = FastAPI()\n"
ROUTE_ON_ENGINE = APP_ONLY + (
    "from fastapi import Depends\n\nfrom z import get_engine\n\n\n@app.get('/')\nasync def handler(engine=Depends(get_engine)):\n"
    "    return None\n"
)


def test_a_result_left_unchecked_by_a_partial_run_is_checked_by_the_next(project: Path) -> None:
    """pre-commit passes `y.py` alone after it made `z.get_engine` a dependency: `z.py`'s stored result, which rests on
    no module naming it in `Depends`, was not checked in that run, so the next run over every file still checks it."""
    (project / "z.py").write_text(ENGINE_GETTER)
    (project / "y.py").write_text(APP_ONLY)
    assert findings(project)[:2] == (0, [])
    edited(project, "y.py", "", ROUTE_ON_ENGINE)
    assert findings(project, "y.py")[:2] == (0, [])
    assert assert_cached_run_is_a_clean_run(project) == (1, ["z.py:5:ASQ101"])


@pytest.mark.parametrize("first", ["", "# a comment\n"])
def test_answers_judged_by_the_files_changed_since_they_were_checked(project: Path, first: str) -> None:
    """A run judges the stored answers about the project's text by the files changed since they were checked: a
    module that comes to name `get_engine` in `Depends` (after an unrelated edit, or at once) changes them."""
    (project / "z.py").write_text(ENGINE_GETTER)
    (project / "y.py").write_text(APP_ONLY)
    (project / "w.py").write_text("x = 1\n")
    assert findings(project)[:2] == (0, [])
    if first:
        edited(project, "w.py", "", first)
        assert assert_cached_run_is_a_clean_run(project) == (0, [])
    edited(project, "y.py", "", ROUTE_ON_ENGINE)
    assert assert_cached_run_is_a_clean_run(project) == (1, ["z.py:5:ASQ101"])
    edited(project, "y.py", "", APP_ONLY)
    assert assert_cached_run_is_a_clean_run(project) == (0, [])


def test_an_engine_s_fate_rests_on_the_files_that_name_it(project: Path) -> None:
    """What the project does with `db.engine` is read from the files naming it: a comment elsewhere leaves `db.py`'s
    result standing, a new module disposing of the engine reaches it."""
    layered_project(project)
    assert "db.py:3:ASQ102" in findings(project)[1]
    edited(project, "api.py", "", (project / "api.py").read_text() + "# an edit the cache has not seen\n")
    assert "1 analysed" in verbose_summary(project)
    edited(project, "shutdown.py", "", "from db import engine\n\n\nasync def close():\n    await engine.dispose()\n")
    assert "db.py:3:ASQ102" not in assert_cached_run_is_a_clean_run(project)[1]
    edited(project, "shutdown.py", "engine.dispose()", "engine.connect()")
    assert "db.py:3:ASQ102" in assert_cached_run_is_a_clean_run(project)[1]



def test_answers_a_partial_run_checked_against_later_files_are_not_judged_by_older_facts(project: Path) -> None:
    """A run over `z.py` alone checks its answers against `y.py` as edited, while the stored stamps stay those of the
    full run before: once `y.py` is back as it was then, its facts equal those of that time, yet `z.py`'s answer
    was not given against them."""
    (project / "z.py").write_text(ENGINE_GETTER)
    (project / "y.py").write_text(APP_ONLY)
    assert findings(project)[:2] == (0, [])
    edited(project, "y.py", "", ROUTE_ON_ENGINE)
    assert findings(project, "z.py")[:2] == (1, ["z.py:5:ASQ101"])
    edited(project, "y.py", "", APP_ONLY)
    assert assert_cached_run_is_a_clean_run(project) == (0, [])


def test_a_relay_whose_callee_changes_back(project: Path) -> None:
    """`b.relay_commit` comes to be called, then what it calls stops committing and commits again: the handler's
    result follows each step."""
    with_session_modules(project, {
        "c.py": "async def h(session):\n    await session.commit()\n",
        "b.py": "from c import h\n\n\nasync def other(x):\n    pass\n\n\nasync def relay_commit(x):\n    await h(x)\n",
        "a.py": "import b\n\n\nasync def finish(session):\n    await b.other(session)\n",
        "d.py": HANDLER_CALLING.format(module="a", name="finish"),
    })
    findings(project)
    edited(project, "a.py", "b.other(session)", "b.relay_commit(session)")
    findings(project)
    edited(project, "c.py", "commit()", "flush()")
    findings(project)
    edited(project, "c.py", "flush()", "commit()")
    assert "d.py:13:ASQ301" in assert_cached_run_is_a_clean_run(project)[1]


SYNC_FACTORY = """from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import sessionmaker

engine = create_engine("postgresql://u@h/db")
SessionLocal = sessionmaker(bind=engine)
"""
SESSION_ON_THE_REQUEST = """from {module} import SessionLocal


async def db_session_middleware(request, call_next):
    request.state.db = SessionLocal()
    try:
        return await call_next(request)
    finally:
        request.state.db.close()
"""
READS_THE_REQUEST_S_SESSION = """from fastapi import APIRouter, Request
from sqlalchemy import text

router = APIRouter()


@router.get("/items")
async def items(request: Request):
    return request.state.db.execute(text("select 1")).all()
"""


@pytest.mark.parametrize("through", ["db", "reexport"])
@pytest.mark.parametrize("partial", [False, True])
def test_a_session_kept_on_the_request_whose_factory_turns_async(project: Path, through: str, partial: bool) -> None:
    """The middleware's facts say what kind of session it keeps on `request.state`, and that rests on `db.py`: when
    its factory turns async (the same imports, so `db.py`'s own facts do not change), the handler's blocking call is
    an unawaited one, also when `db.py` is reached through an unchanged module that re-exports its name."""
    (project / "db.py").write_text(SYNC_FACTORY)
    (project / "reexport.py").write_text("from db import SessionLocal\n")
    (project / "middleware.py").write_text(SESSION_ON_THE_REQUEST.format(module=through))
    (project / "routes.py").write_text(READS_THE_REQUEST_S_SESSION)
    assert "routes.py:9:ASQ208" in findings(project)[1]
    edited(project, "db.py", "= sessionmaker(", "= async_sessionmaker(")
    checked = ["routes.py"] if partial else []
    assert "routes.py:9:ASQ209" in assert_cached_run_is_a_clean_run(project, *checked)[1]


def test_a_dependency_changed_behind_an_unchanged_alias_module(project: Path) -> None:
    """`api.py` rests on the interface of `types_.py`, whose `SessionDep` carries what `db.get_session` does: when
    `db.py` stops opening a transaction, `types_.py` is unchanged, yet its interface is not, and runs over `api.py`
    alone (as pre-commit passes only the changed files) follow it."""
    (project / "db.py").write_text(PROVIDER.format(opening="factory() as session, session.begin()"))
    (project / "types_.py").write_text(ALIAS)
    (project / "api.py").write_text(WRITING_HANDLER)
    assert "api.py:11:ASQ301" not in findings(project)[1]
    edited(project, "api.py", "", WRITING_HANDLER + "# an edit\n")
    assert findings(project, "api.py")[:2] == (0, [])
    edited(project, "db.py", ", session.begin()", "")
    assert assert_cached_run_is_a_clean_run(project, "api.py") == (1, ["api.py:11:ASQ301"])


WARMED_AT_STARTUP = {
    "db.py": '''from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

engine = create_engine("postgresql://u@h/db", pool_pre_ping=True)


async def warm_up():
    with Session(engine) as session:
        session.execute(text("select 1"))
''',
    "relay.py": "from db import warm_up\n\n\nasync def relay():\n    await warm_up()\n\n\ndef unrelated():\n    pass\n",
    "main.py": '''from contextlib import asynccontextmanager

from fastapi import FastAPI

from relay import relay


@asynccontextmanager
async def lifespan(app: FastAPI):
    await relay()
    yield


app = FastAPI(lifespan=lifespan)
''',
    "other.py": "x = 1\n",
}
SERVES_A_REQUEST_WITH = '''from fastapi import APIRouter

from {module} import {name}

router = APIRouter()


@router.get("/warm")
async def warm():
    await {name}()
'''


@pytest.mark.parametrize("module, name", [("db", "warm_up"), ("relay", "relay")])
def test_a_function_run_at_startup_comes_to_serve_a_request(project: Path, module: str, name: str) -> None:
    """`warm_up` blocks the loop only once a request can reach it, directly or through `relay`: judged by the calls
    of the functions the stored answer followed, in a file whose facts no answer had read (a call of another function
    leaves the answer standing), and in the lifespan's."""
    for file, text in WARMED_AT_STARTUP.items():
        (project / file).write_text(text)
    assert "db.py:9:ASQ208" not in findings(project)[1]
    edited(project, "other.py", "", "from relay import unrelated\n\nunrelated()\n")  # calls none of those followed
    assert "db.py:9:ASQ208" not in assert_cached_run_is_a_clean_run(project)[1]
    edited(project, "other.py", "", SERVES_A_REQUEST_WITH.format(module=module, name=name))
    assert "db.py:9:ASQ208" in assert_cached_run_is_a_clean_run(project)[1]
    edited(project, "other.py", "", "x = 1\n")
    assert "db.py:9:ASQ208" not in assert_cached_run_is_a_clean_run(project)[1]
    edited(project, "main.py", "await relay()", "pass")  # called nowhere: it may run at any time
    assert "db.py:9:ASQ208" in assert_cached_run_is_a_clean_run(project)[1]


def test_an_alias_module_s_record_made_again_by_a_run_over_another_file(project: Path) -> None:
    """A run over `other.py` alone, after `db.py` opens a transaction, makes the record of `types_.py` again with its
    new interface; a run over `api.py` alone then finds that record holding, yet not with the interface `api.py`'s
    stored result read."""
    (project / "db.py").write_text(PROVIDER.format(opening="factory() as session"))
    (project / "types_.py").write_text(ALIAS)
    (project / "api.py").write_text(WRITING_HANDLER)
    (project / "other.py").write_text("x = 1\n")
    assert "api.py:11:ASQ301" in findings(project)[1]
    edited(project, "db.py", "factory() as session", "factory() as session, session.begin()")
    findings(project, "other.py")
    assert assert_cached_run_is_a_clean_run(project, "api.py") == (0, [])


def test_the_module_a_stored_session_s_factory_comes_from_appears(project: Path) -> None:
    """A worker's startup keeps in `ctx["db"]` what `reexport.SessionLocal()` opens: of no known kind while that
    module is missing; once it appears, re-exporting `db.py`'s sync factory, the job's blocking call is reported."""
    (project / "db.py").write_text(SYNC_FACTORY)
    (project / "worker.py").write_text(
        'from reexport import SessionLocal\n\n\nasync def startup(ctx):\n    ctx["db"] = SessionLocal()\n\n\n'
        "class WorkerSettings:\n    on_startup = startup\n"
    )
    (project / "jobs.py").write_text(
        'from sqlalchemy import text\n\n\nasync def job(ctx):\n    return ctx["db"].execute(text("select 1")).all()\n'
    )
    assert "jobs.py:5:ASQ208" not in findings(project)[1]
    edited(project, "reexport.py", "", "from db import SessionLocal, engine\n")
    assert "jobs.py:5:ASQ208" in assert_cached_run_is_a_clean_run(project)[1]


def test_a_stored_session_s_factory_re_exported_for_two_modules(project: Path) -> None:
    """The middleware and the worker's startup both open a session from `reexport.SessionLocal`, which is `db.py`'s:
    the one modelled second finds the re-export resolved already, yet its facts rest on `db.py` too."""
    (project / "db.py").write_text(SYNC_FACTORY)
    (project / "reexport.py").write_text("from db import SessionLocal, engine\n")
    (project / "worker.py").write_text(
        'from reexport import SessionLocal\n\n\nasync def startup(ctx):\n    ctx["db"] = SessionLocal()\n\n\n'
        "class WorkerSettings:\n    on_startup = startup\n"
    )
    (project / "middleware.py").write_text(SESSION_ON_THE_REQUEST.format(module="reexport"))
    (project / "jobs.py").write_text(
        'from sqlalchemy import text\n\n\nasync def job(ctx):\n    return ctx["db"].execute(text("select 1")).all()\n'
    )
    assert "jobs.py:5:ASQ208" in findings(project)[1]
    edited(project, "db.py", "= sessionmaker(", "= async_sessionmaker(")
    assert "jobs.py:5:ASQ208" not in assert_cached_run_is_a_clean_run(project)[1]


ENGINE_DEPENDENCY_IN_A_PACKAGE = '''from sqlalchemy.ext.asyncio import create_async_engine


async def get_engine():
    engine = create_async_engine("postgresql+asyncpg://u@h/db", pool_pre_ping=True)
    try:
        yield engine
    finally:
        await engine.dispose()
'''
ROUTE_ON_THE_PACKAGE_S_ENGINE = '''from fastapi import APIRouter, Depends

from {dots} import get_engine

router = APIRouter()


@router.get("/x")
async def x(engine=Depends(get_engine)):
    return 1
'''


@pytest.mark.parametrize("routes, dots", [("pkg/routes.py", "."), ("pkg/sub/routes.py", "..")])
def test_a_package_s_dependency_named_by_a_relative_import(project: Path, routes: str, dots: str) -> None:
    """`from . import get_engine` names no package: the module naming the package's dependency is read all the same,
    and a comment that happens to name the package changes nothing."""
    (project / "pkg" / "sub").mkdir(parents=True)
    (project / "pkg" / "__init__.py").write_text(ENGINE_DEPENDENCY_IN_A_PACKAGE)
    (project / "pkg" / "sub" / "__init__.py").write_text("")
    (project / routes).write_text(ROUTE_ON_THE_PACKAGE_S_ENGINE.format(dots=dots))
    assert "pkg/__init__.py:5:ASQ101" in findings(project)[1]
    edited(project, routes, "", ROUTE_ON_THE_PACKAGE_S_ENGINE.format(dots=dots) + "# the pkg routes\n")
    assert "pkg/__init__.py:5:ASQ101" in assert_cached_run_is_a_clean_run(project)[1]
    edited(project, routes, "", ROUTE_ON_THE_PACKAGE_S_ENGINE.format(dots=dots))
    assert "pkg/__init__.py:5:ASQ101" in assert_cached_run_is_a_clean_run(project)[1]


def test_a_session_store_s_facts_stored_before_the_module_they_name_appeared(project: Path) -> None:
    """The middleware's facts are stored while `db.py` is missing; it is deleted, `db.py` appears, and it comes back
    as it was: its stored facts are checked whole before they are used again."""
    middleware = SESSION_ON_THE_REQUEST.format(module="db")
    (project / "middleware.py").write_text(middleware)
    (project / "routes.py").write_text(READS_THE_REQUEST_S_SESSION)
    assert "routes.py:9:ASQ208" not in findings(project)[1]
    (project / "middleware.py").unlink()
    assert "routes.py:9:ASQ208" not in assert_cached_run_is_a_clean_run(project)[1]
    edited(project, "db.py", "", SYNC_FACTORY)
    assert "routes.py:9:ASQ208" not in assert_cached_run_is_a_clean_run(project)[1]
    edited(project, "middleware.py", "", middleware)
    assert "routes.py:9:ASQ208" in assert_cached_run_is_a_clean_run(project)[1]


BASE_REPOSITORY = """from reexport import SessionLocal


class BaseRepo:
    def __init__(self):
        self.session = SessionLocal()
"""
REPOSITORY = """from sqlalchemy import select

from base import BaseRepo


class ItemRepo(BaseRepo):
    async def items(self):
        return self.session.execute(select(1)).all()
"""


def test_a_base_class_s_session_read_through_a_re_export_another_module_resolved_first(project: Path) -> None:
    """Once `db.py` changes, the middleware's facts are made again and resolve `reexport.SessionLocal` while
    `reexport.py` is modelled for lookups; `base.py`, modelled next to judge the repository's record, reads the same
    name through that model: its record rests on `db.py` too, so when the factory turns async again the repository's
    blocking call is an unawaited one."""
    async_factory = SYNC_FACTORY.replace("= sessionmaker(", "= async_sessionmaker(")
    (project / "db.py").write_text(async_factory)
    (project / "reexport.py").write_text("from db import SessionLocal\n")
    (project / "middleware.py").write_text(SESSION_ON_THE_REQUEST.format(module="reexport"))
    (project / "base.py").write_text(BASE_REPOSITORY)
    (project / "repo.py").write_text(REPOSITORY)
    assert "repo.py:8:ASQ209" in findings(project)[1]
    edited(project, "db.py", "", SYNC_FACTORY)
    assert "repo.py:8:ASQ208" in assert_cached_run_is_a_clean_run(project)[1]
    edited(project, "db.py", "", async_factory)
    assert "repo.py:8:ASQ209" in assert_cached_run_is_a_clean_run(project)[1]


Z_HELPER = "def helper(x):\n    return x\n"
Y_RELAY = "from z import helper\n\n\nasync def relay(session):\n    return helper(session)\n"
X_CALLER = (
    "from sqlalchemy.ext.asyncio import AsyncSession\n\nfrom y import relay\n\n\n"
    "async def f(session: AsyncSession):\n    await relay(session)\n"
)


@pytest.mark.parametrize("checked", [("x.py",), ("x.py", "y.py"), ()])
def test_a_module_read_through_another_s_interface_stops_parsing(project: Path, checked: tuple[str, ...]) -> None:
    """`x.py` calls `y.relay`, whose effects read `z.helper`. Once `z.py` stops parsing, every run says so, with the
    checked files importing it: a cached run judges `y.py`'s record first (which tries `z.py`) and then checks `x.py`
    against what `y.py` kept, so no check of its own tries `z.py`; and which check of a clean run tries it first
    depends on the order they run in."""
    (project / "z.py").write_text(Z_HELPER)
    (project / "y.py").write_text(Y_RELAY)
    (project / "x.py").write_text(X_CALLER)
    assert findings(project, *checked)[:2] == (0, [])
    edited(project, "z.py", "", Z_HELPER + "\ndef (:\n")
    cached = findings(project, "-v", *checked)
    clean = findings(project, "--no-cache", "-v", *checked)
    assert cached[:2] == clean[:2]
    notes = [line for line in clean[2].splitlines() if "z.py" in line or "resting on it" in line]
    assert notes == [line for line in cached[2].splitlines() if "z.py" in line or "resting on it" in line]
    importers = {(): "x.py, y.py", ("x.py",): "x.py", ("x.py", "y.py"): "x.py, y.py"}[checked]
    assert f"    results resting on it: {importers}" in notes


def test_a_module_that_stops_parsing_while_no_checked_result_rests_on_it(project: Path) -> None:
    """`service.py` imports the repository but its check needs nothing of it. Once `base.py` stops parsing, a run over
    `service.py` alone (pre-commit) says nothing of it, cached or clean: the cached run tries `base.py` only to judge the
    repository's stored record."""
    (project / "base.py").write_text(BASE_REPOSITORY)
    (project / "repo.py").write_text(REPOSITORY)
    (project / "service.py").write_text("from repo import ItemRepo\n\n\nasync def service():\n    return 1\n")
    (project / "reexport.py").write_text("from db import SessionLocal\n")
    (project / "db.py").write_text(SYNC_FACTORY)
    assert "repo.py:8:ASQ208" in findings(project)[1]
    edited(project, "base.py", "", BASE_REPOSITORY + "\ndef (:\n")
    cached = findings(project, "service.py")
    assert cached == findings(project, "--no-cache", "service.py")
    assert "could not read" not in cached[2]
