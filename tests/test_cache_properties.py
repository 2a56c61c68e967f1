"""A property of the cache: after any sequence of edits to a small package (modules created, renamed and deleted, a
dependency, a model, a factory and the configuration edited), a cached run finds what a run without the cache finds."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from flake8_async_sqla.config import load_settings
from flake8_async_sqla import runner as runner_module
from flake8_async_sqla.discovery import Discovery
from flake8_async_sqla.runner import run
from test_cache_truth import NOT_A_ROUTER, REAL_ROUTER, ROUTES_ON_IMPORTED_ROUTER
from test_cache_truth import FORWARDING_HANDLER, RELAY, STORE
from test_check_command import ALIAS, PROVIDER, WRITING_HANDLER

MODELS = '''\
from sqlalchemy import ForeignKey
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    items: Mapped[list["Item"]] = relationship(back_populates="owner")


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    owner: Mapped[User] = relationship(back_populates="items")
'''
READING_HANDLER = '''\
from fastapi import APIRouter
from sqlalchemy import select

from models import User
from types_ import SessionDep

router = APIRouter()


@router.get("/users")
async def list_users(session: SessionDep):
    users = (await session.scalars(select(User))).all()
    return [len(user.items) for user in users]
'''
PACKAGE = {
    "db.py": PROVIDER.format(opening="factory() as session"),
    "types_.py": ALIAS,
    "api.py": WRITING_HANDLER,
    "users.py": READING_HANDLER,
    "models.py": MODELS,
    "routes.py": ROUTES_ON_IMPORTED_ROUTER,
    "web.py": REAL_ROUTER,
    # Two modules that import each other, a commit reached through both, and a handler calling into them.
    "store.py": STORE,
    "relay.py": RELAY,
    "forwarding.py": FORWARDING_HANDLER,
    "pyproject.toml": "[tool.flake8-async-sqla]\n# options\n# exclude\n",
}


def toggle_file(name: str, content: str) -> Callable[[Path], None]:
    """Create the file, or delete it."""
    def edit(root: Path) -> None:
        path = root / name
        path.unlink() if path.exists() else path.write_text(content)
    return edit


def toggle_name(name: str, other: str) -> Callable[[Path], None]:
    """Rename the module, or rename it back."""
    def edit(root: Path) -> None:
        if (root / name).exists():
            (root / name).rename(root / other)
        elif (root / other).exists():
            (root / other).rename(root / name)
    return edit


def toggle_text(names: tuple[str, ...], one: str, other: str) -> Callable[[Path], None]:
    """Replace `one` with `other` in the first of the files that exists, or back."""
    def edit(root: Path) -> None:
        for name in names:
            path = root / name
            if path.exists():
                text = path.read_text()
                path.write_text(text.replace(one, other) if one in text else text.replace(other, one))
                return
    return edit


DB = ("db.py", "database.py")
EDITS = {
    "create or delete a router module": toggle_file("web.py", REAL_ROUTER),
    "delete or recreate the alias module": toggle_file("types_.py", ALIAS),
    "rename the session module": toggle_name("db.py", "database.py"),
    "rename the router module": toggle_name("web.py", "web_old.py"),
    "shadow the router module": toggle_file("api_web/web.py", NOT_A_ROUTER),
    "edit the router": toggle_text(("web.py", "web_old.py"), REAL_ROUTER, NOT_A_ROUTER),
    "edit the dependency": toggle_text(DB, "factory() as session:", "factory() as session, session.begin():"),
    "edit the factory": toggle_text(DB, "expire_on_commit=False", "expire_on_commit=True"),
    "edit a model": toggle_text(("models.py",), 'relationship(back_populates="items")', 'relationship(back_populates="items", lazy="raise")'),
    "edit the configuration": toggle_text(("pyproject.toml",), "# options\n", 'session-dependencies = ["get_session"]\n'),
    "exclude a module": toggle_text(("pyproject.toml",), "# exclude\n", 'extend-exclude = ["web.py"]\n'),
    "edit the commit in the cycle": toggle_text(("store.py",), "await session.commit()", "await session.flush()"),
    "edit the call back in the cycle": toggle_text(("relay.py",), "await store.save(session, item, depth)", "pass"),
    "comment a module of the cycle": toggle_text(("relay.py",), "import store\n", "import store  # the other half\n"),
}


def findings(root: Path, cache: Path | None) -> tuple[set[tuple[str, int, str]], set[tuple[str, str]]]:
    """What `check` finds, as a new process would: the process's project index starts empty."""
    configuration = load_settings(None, root)
    runner_module._PROCESS_INDEX = None
    outcome = run(configuration, list(Discovery(configuration).files([root])), 1, cache)
    return (
        {(os.path.relpath(r.path, root), r.finding.line, r.finding.code) for r in outcome.results},
        {(os.path.relpath(e.path, root), e.problem) for e in outcome.errors},
    )


@settings(max_examples=30, deadline=None)
@given(edits=st.lists(st.sampled_from(sorted(EDITS)), min_size=1, max_size=6))
def test_a_cached_run_finds_what_a_run_without_the_cache_finds(edits: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "project"
        cache = Path(folder) / "cache"
        for name, content in PACKAGE.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(content)
        (root / "api_web").mkdir()
        (root / "api_web" / "routes.py").write_text(ROUTES_ON_IMPORTED_ROUTER)
        assert findings(root, cache) == findings(root, None)
        for edit in edits:
            EDITS[edit](root)
            assert findings(root, cache) == findings(root, None), edit
