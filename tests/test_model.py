"""The semantic model on its own: qualified names, handlers, dependencies, session and engine bindings."""

from __future__ import annotations

import ast
import sys
import textwrap
from pathlib import Path

from flake8_async_sqla.core.checker import check_tree
from flake8_async_sqla.core.model import SemanticModel
from flake8_async_sqla.core.project import ProjectIndex


def build(source: str, path: str = "/nowhere/module.py") -> SemanticModel:
    return SemanticModel(ast.parse(textwrap.dedent(source)), path, index=ProjectIndex())


def function(model: SemanticModel, name: str):
    return next(s for s in model.scopes if s.kind == "function" and s.name == name)


def first_call(model: SemanticModel, scope_name: str):
    return function(model, scope_name).calls[0]


def test_imports_resolve_through_aliases() -> None:
    model = build(
        """
        import asyncio as aio
        import sqlalchemy.ext.asyncio as sa
        from sqlalchemy.ext import asyncio as ext
        from sqlalchemy.ext.asyncio import create_async_engine as make

        def f():
            aio.gather()
            sa.create_async_engine("x")
            ext.AsyncSession()
            make("x")
        """
    )
    calls = function(model, "f").calls
    assert [model.qualname(c.func) for c in calls] == [
        "asyncio.gather",
        "sqlalchemy.ext.asyncio.create_async_engine",
        "sqlalchemy.ext.asyncio.AsyncSession",
        "sqlalchemy.ext.asyncio.create_async_engine",
    ]
    assert [model.api(c.func) for c in calls[1:]] == ["create_async_engine", "AsyncSession", "create_async_engine"]


def test_user_function_named_like_an_api_is_not_the_api() -> None:
    model = build(
        """
        def create_engine(url):
            return url

        def f():
            create_engine("x")
        """
    )
    call = first_call(model, "f")
    assert model.qualname(call.func) == "module.create_engine"
    assert model.api(call.func) is None


def test_relative_imports_resolve_against_the_package(tmp_path: Path) -> None:
    package = tmp_path / "app" / "routers"
    package.mkdir(parents=True)
    (tmp_path / "app" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    path = package / "users.py"
    model = build("from ..db import get_session\nfrom . import orders\n", str(path))
    assert model.module == "app.routers.users"
    assert model.imports == {"get_session": "app.db.get_session", "orders": "app.routers.orders"}


def test_route_handlers_need_an_app_or_router_instance() -> None:
    model = build(
        """
        from fastapi import APIRouter, FastAPI

        app = FastAPI()
        router = APIRouter(prefix="/users")
        cache = {}

        @app.get("/")
        async def root(): ...

        @router.post("/", status_code=201)
        async def create(): ...

        @router.api_route("/x", methods=["GET"])
        def legacy(): ...

        @cache.get("/")
        async def not_a_route(): ...
        """
    )
    handlers = {s.name for s in model.route_handlers()}
    assert handlers == {"root", "create", "legacy"}


def test_routers_imported_from_another_module(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "api.py").write_text("from fastapi import APIRouter\nrouter = APIRouter()\n")
    path = tmp_path / "routes.py"
    model = build("from api import router\n\n@router.get('/')\nasync def index(): ...\n", str(path))
    assert [s.name for s in model.route_handlers()] == ["index"]


def test_dependencies_in_defaults_annotated_aliases_and_lists() -> None:
    model = build(
        """
        from typing import Annotated
        from fastapi import APIRouter, Depends, Security

        def in_default(): ...
        def in_annotated(): ...
        def in_alias(): ...
        def in_list(): ...
        def in_security(): ...
        def unused(): ...

        Alias = Annotated[int, Depends(in_alias)]
        router = APIRouter(dependencies=[Depends(in_list)])

        @router.get("/")
        async def handler(a=Depends(in_default), b: Annotated[int, Depends(in_annotated)] = 0, c: Alias = 0, d=Security(in_security)): ...
        """
    )
    dependencies = {s.name for s in model.scopes if s.kind == "function" and model.is_dependency(s)}
    assert dependencies == {"in_default", "in_annotated", "in_alias", "in_list", "in_security"}


def test_session_bindings_and_their_origins() -> None:
    model = build(
        """
        from typing import Annotated
        from fastapi import Depends
        from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
        from sqlalchemy.orm import Session

        engine = create_async_engine("sqlite+aiosqlite://")
        SessionLocal = async_sessionmaker(engine, expire_on_commit=False)

        async def get_session():
            async with SessionLocal() as session:
                yield session

        SessionDep = Annotated[AsyncSession, Depends(get_session)]

        async def handler(
            annotated: AsyncSession,
            aliased: SessionDep,
            depends=Depends(get_session),
            optional: "AsyncSession | None" = None,
            sync: Session = None,
            session_name_only=None,
        ):
            created = SessionLocal()
            direct = AsyncSession(engine)
            async with SessionLocal.begin() as transactional:
                pass
        """
    )
    sessions = model.sessions(function(model, "handler"))
    origins = {name: (b.origin, b.kind, b.transactional) for name, b in sessions.items()}
    assert origins == {
        "annotated": ("param", "async", False),
        "aliased": ("dependency", "async", False),
        "depends": ("dependency", "async", False),
        "optional": ("param", "async", False),
        "sync": ("param", "sync", False),
        "created": ("created", "async", False),
        "direct": ("created", "async", False),
        "transactional": ("created", "async", True),
    }
    assert model.function_summary(function(model, "get_session")).yields_session == "async"


def test_engines_factories_and_apps_are_classified() -> None:
    model = build(
        """
        from fastapi import FastAPI
        from sqlalchemy import create_engine
        from sqlalchemy.orm import sessionmaker

        app = FastAPI()
        engine = create_engine("sqlite://")
        Factory = sessionmaker(bind=engine)
        """
    )
    kinds = {name: (model.export(name).kind, model.export(name).flavour) for name in ("app", "engine", "Factory")}
    assert kinds == {"app": ("app", None), "engine": ("engine", "sync"), "Factory": ("factory", "sync")}


def parse_deep(source: str) -> ast.Module:
    """CPython refuses to build very deep trees under the default limit; the parse is not ours to test."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(50_000)
    try:
        return ast.parse(source)
    finally:
        sys.setrecursionlimit(limit)


def test_deep_expressions_do_not_exhaust_the_stack() -> None:
    source = "x = " + "+".join(["session"] * 5000) + "\ny = engine" + ".b" * 3000 + "\n"
    tree = parse_deep(source)
    model = SemanticModel(tree, "/nowhere/deep.py")
    assert len(model.module_scope.assigns) == 2
    assert check_tree(tree, "/nowhere/deep.py", source, index=None) == []


def test_dependencies_named_only_in_another_module(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "deps.py").write_text("def get_db():\n    yield 1\n\n\ndef unused():\n    return 2\n")
    (tmp_path / "routes.py").write_text(
        "from fastapi import APIRouter, Depends\nfrom deps import get_db\n\nrouter = APIRouter()\n\n\n"
        "@router.get('/')\ndef index(db=Depends(get_db)):\n    return db\n"
    )
    model = build((tmp_path / "deps.py").read_text(), str(tmp_path / "deps.py"))
    assert {s.name for s in model.scopes if s.kind == "function" and model.is_dependency(s)} == {"get_db"}


def test_per_request_functions_follow_calls_from_handlers_and_dependencies() -> None:
    model = build(
        """
        from fastapi import APIRouter, Depends

        router = APIRouter()

        def helper(): ...
        def deeper(): ...
        def only_at_startup(): ...
        def get_db():
            deeper()

        only_at_startup()

        @router.get("/")
        async def index(db=Depends(get_db)):
            helper()
        """
    )
    reached = {scope.name: root.name for scope, root in model.per_request_functions().items()}
    assert reached == {"index": "index", "helper": "index", "get_db": "get_db", "deeper": "get_db"}


def test_opens_session_and_the_event_loop() -> None:
    model = build(
        """
        import asyncio
        from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
        from sqlalchemy.orm import Session

        factory = async_sessionmaker()

        async def work(engine):
            loop = asyncio.get_running_loop()
            a = factory()
            b = Session(engine)
            c = dict()
        """
    )
    scope = function(model, "work")
    calls = {ast.unparse(call): call for call in scope.calls}
    assert model.opens_session(calls["factory()"], scope) == "async"
    assert model.opens_session(calls["Session(engine)"], scope) == "sync"
    assert model.opens_session(calls["dict()"], scope) is None
    loop = next(n for n in ast.walk(scope.node) if isinstance(n, ast.Name) and n.id == "loop")
    assert model.is_event_loop(loop, scope)
