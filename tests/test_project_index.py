"""The project index across files: what it keeps of a checked module, and what it answers from."""

from __future__ import annotations

import ast
import json
import os
import re
import weakref
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flake8_async_sqla.core.checker import build_model, check_model, collector_paused, may_concern_the_database
from flake8_async_sqla.core.options import AnalysisOptions
from flake8_async_sqla.core.layout import find_module_file
from flake8_async_sqla.core.module_facts import ModuleFacts, ReleasedModule
from flake8_async_sqla.core.project import ProjectIndex
from flake8_async_sqla.core.project_text import UNSAVED_BUFFERS, WORD, plain_definitions, words_in
from flake8_async_sqla.core.summaries import FunctionSummary, symbol_to_json

DB = '''\
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://db/app", pool_pre_ping=True)
SessionFactory = async_sessionmaker(engine, expire_on_commit=False)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionFactory() as session:
        yield session
'''
REPOSITORY = '''\
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def count_orders(db: AsyncSession) -> int:
    return (await db.execute(text("select count(*) from orders"))).scalar_one()


class OrderRepository:
    def count(self, db):
        return db.execute(text("select count(*) from orders")).scalar_one()
'''
ROUTES = '''\
from fastapi import APIRouter, Depends

from shop.db import get_session
from shop.repository import count_orders

router = APIRouter()


@router.get("/orders/count")
async def order_count(session=Depends(get_session)) -> int:
    return await count_orders(session)
'''


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("")
    package = tmp_path / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "db.py").write_text(DB)
    (package / "repository.py").write_text(REPOSITORY)
    (package / "routes.py").write_text(ROUTES)
    return package


@pytest.fixture
def no_cyclic_collector() -> Iterator[None]:
    with collector_paused():
        yield


def checked_and_released(index: ProjectIndex, path: Path) -> weakref.ref:
    index.checking(str(path), path.read_bytes())  # as the runner does: the content a record of it names
    model = build_model(ast.parse(path.read_text()), str(path), index)
    check_model(model)
    index.release(str(path))
    return weakref.ref(model)


def test_a_released_model_is_reclaimed_without_the_cyclic_collector(shop: Path, no_cyclic_collector: None) -> None:
    index = ProjectIndex()
    for name in ("db.py", "repository.py", "routes.py"):
        assert checked_and_released(index, shop / name)() is None, name


def test_lookups_answer_the_same_after_release(shop: Path) -> None:
    live, released = ProjectIndex(), ProjectIndex()
    routes = str(shop / "routes.py")
    for name in ("db.py", "repository.py"):
        checked_and_released(released, shop / name)
    for qualname in ("shop.db.get_session", "shop.db.SessionFactory", "shop.db.engine", "shop.repository.count_orders"):
        assert released.lookup(qualname, routes) == live.lookup(qualname, routes), qualname
    provider = released.lookup("shop.db.get_session", routes)
    assert provider is not None and provider.function is not None and provider.function.yields_session == "async"


MODELS = '''\
from sqlalchemy import ForeignKey
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    lines: Mapped[list["OrderLine"]] = relationship(back_populates="order", lazy="selectin")


class OrderLine(Base):
    __tablename__ = "order_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    order: Mapped[Order] = relationship(back_populates="lines")
'''


def test_released_class_summaries_keep_relationships_but_no_syntax_nodes(shop: Path) -> None:
    (shop / "models.py").write_text(MODELS)
    live, released = ProjectIndex(), ProjectIndex()
    checked_and_released(released, shop / "models.py")
    for qualname in ("shop.models.Order", "shop.models.OrderLine"):
        kept = released.lookup(qualname, str(shop / "routes.py")).klass.own_relationships
        built = live.lookup(qualname, str(shop / "routes.py")).klass.own_relationships
        assert kept and {n: (r.lazy, r.target, r.back_populates) for n, r in kept.items()} == {
            n: (r.lazy, r.target, r.back_populates) for n, r in built.items()
        }
        assert all(r.node is None and r.call is None for r in kept.values())


def summary_let_go(index: ProjectIndex, path: Path, name: str) -> FunctionSummary:
    """The summary of the function `name`, handed out by a model of `path` that is then let go (and freed)."""
    model = index.model_for(str(path))
    assert model is not None
    summary = model.export(name).function
    reference = weakref.ref(model)
    del model
    index.release(str(path))
    assert reference() is None
    return summary


def test_a_summary_handed_out_before_release_still_answers_after_it(shop: Path, no_cyclic_collector: None) -> None:
    """What a function does through its session parameter is settled when its module's model is let go:
    afterwards it answers without the model, and without building it again."""
    index = ProjectIndex()
    routes = str(shop / "routes.py")
    summary = summary_let_go(index, shop / "repository.py", "count_orders")
    modelled = index.modelled
    assert summary.session_io_names == frozenset({"db"})
    assert index.lookup("shop.repository.count_orders", routes).function.session_io_names == frozenset({"db"})
    assert index.modelled == modelled


def test_what_a_function_hands_out_is_settled_at_release(shop: Path, no_cyclic_collector: None) -> None:
    """Whether a function yields or returns a session is settled at release too: no model is rebuilt to tell."""
    index = ProjectIndex()
    summary = summary_let_go(index, shop / "db.py", "get_session")
    modelled = index.modelled
    assert summary.yields_session == "async" and summary.session_expires_on_commit is False
    assert index.modelled == modelled


def test_a_released_class_keeps_its_method_summaries(shop: Path, no_cyclic_collector: None) -> None:
    """A method of a class in a released module is found from what the index kept, without a model."""
    index = ProjectIndex()
    routes = str(shop / "routes.py")
    checked_and_released(index, shop / "repository.py")
    modelled = index.modelled
    klass = index.lookup("shop.repository.OrderRepository", routes)
    assert klass is not None and klass.klass is not None and klass.klass.methods
    method = index.method_summary("shop.repository.OrderRepository", "count", routes)
    assert method is klass.klass.methods["count"] and method.session_io_names == frozenset({"db"})
    assert index.modelled == modelled


def test_modules_modelled_for_a_lookup_go_with_the_checked_file(shop: Path, no_cyclic_collector: None) -> None:
    """The modules a file's check looks names up in keep their models until that file is released: what
    the check asks of them (the session its dependency yields) needs no rebuild, and then they hold names."""
    index = ProjectIndex()
    index.kept_lookup_models = 0  # as `check` runs it
    routes = str(shop / "routes.py")
    check_model(build_model(ast.parse((shop / "routes.py").read_text()), routes, index))
    db = index.cached_model(str(shop / "db.py"))
    assert db is not None
    reference = weakref.ref(db)
    del db
    index.release(routes)
    modelled = index.modelled
    assert reference() is None and index.cached_model(str(shop / "repository.py")) is None
    provider = index.lookup("shop.db.get_session", routes)
    assert provider is not None and provider.function is not None and provider.function.yields_session == "async"
    assert index.modelled == modelled


def test_a_module_modelled_for_a_lookup_is_reused_by_its_own_check(shop: Path) -> None:
    """As flake8 runs it, the latest modules modelled for other files' lookups wait for their own check."""
    index = ProjectIndex()
    index.kept_lookup_models = 1
    routes = str(shop / "routes.py")
    checked_and_released(index, shop / "routes.py")
    # It looked names up in both modules; the later one modelled is kept.
    kept = {name: model for name in ("db.py", "repository.py") if (model := index.cached_model(str(shop / name)))}
    assert len(kept) == 1
    ((name, model),) = kept.items()
    modelled = index.modelled
    assert build_model(ast.parse((shop / name).read_text()), str(shop / name), index) is model
    assert index.modelled == modelled
    index.release(str(shop / name))
    assert index.cached_model(str(shop / name)) is None
    for qualname in ("shop.db.get_session", "shop.repository.count_orders"):
        assert index.lookup(qualname, routes) is not None


def test_an_annotation_naming_a_class_defined_plainly_needs_no_model(shop: Path) -> None:
    """Whether an annotation names a session alias is answered from the text of a module not modelled yet when
    it defines the name once with a top-level `class`/`def` and binds it nowhere else; otherwise by the model."""
    (shop / "schemas.py").write_text(
        "from typing import TYPE_CHECKING, Annotated\n\nfrom fastapi import Depends\nfrom sqlalchemy.ext.asyncio import AsyncSession\n\n"
        "from shop.db import get_session\n\nif TYPE_CHECKING:\n    class Hidden: ...\n\n\n"
        "class OrderDraft:\n    item: str\n\n\nasync def make_draft() -> OrderDraft: ...\n\n\n"
        "class Rebound: ...\n\n\nRebound = Annotated[AsyncSession, Depends(get_session)]\n"
    )
    index = ProjectIndex()
    routes = str(shop / "routes.py")
    plain = {name: index.defines_plainly(f"shop.schemas.{name}", routes) for name in ("OrderDraft", "make_draft", "Rebound", "Hidden", "get_session")}
    assert plain == {"OrderDraft": True, "make_draft": True, "Rebound": False, "Hidden": False, "get_session": False}
    assert index.modelled == 0 and str(shop / "schemas.py") in index.consulted
    model = build_model(ast.parse("from shop.schemas import OrderDraft, Rebound\n"), routes, index)
    assert model.annotation_session(ast.parse("OrderDraft", mode="eval").body) == (None, None) and index.modelled == 0
    kind, provider = model.annotation_session(ast.parse("Rebound", mode="eval").body)
    assert kind == "async" and provider is not None and index.modelled > 0


def test_module_facts_round_trip_through_json(shop: Path) -> None:
    facts = ProjectIndex().facts(str(shop / "routes.py"))
    assert facts is not None
    assert facts.dependency_targets == frozenset({"shop.db.get_session"})
    assert facts.imports["count_orders"] == "shop.repository.count_orders"
    assert ModuleFacts.from_json(facts.to_json()) == facts


def test_what_the_index_keeps_of_a_module_round_trips_through_json_and_serves_another_index(shop: Path) -> None:
    """A worker's index hands what it kept of the modules it let go to another (`shared`/`adopt`): lookups there
    answer the same, summaries with their effects and classes with their methods, without a model."""
    (shop / "models.py").write_text(MODELS)
    worker = ProjectIndex()
    worker.sharing = worker.recording = True
    for name in ("db.py", "repository.py", "models.py"):
        checked_and_released(worker, shop / name)
    shared = worker.shared()
    assert {Path(path).name for path in shared} == {"db.py", "repository.py", "models.py"}
    for stamp, data in shared.values():
        assert ReleasedModule.from_json(data).to_json() == data
    other = ProjectIndex()
    other.adopt(json.loads(json.dumps(shared)), dict(worker.records()))
    # What each module read comes along: a result resting on one rests on that too.
    for name in ("db.py", "repository.py", "models.py"):
        assert other.interface_reads(str(shop / name)) == worker.interface_reads(str(shop / name)) is not None
    routes = str(shop / "routes.py")
    for qualname in ("shop.db.get_session", "shop.repository.count_orders", "shop.repository.OrderRepository", "shop.models.Order"):
        assert symbol_to_json(other.lookup(qualname, routes)) == symbol_to_json(worker.lookup(qualname, routes))
    assert other.lookup("shop.db.get_session", routes).function.yields_session == "async"
    assert other.method_summary("shop.repository.OrderRepository", "count", routes).session_io_names == frozenset({"db"})
    assert other.modelled == 0


def test_a_module_level_object_a_project_class_built_is_known_by_its_class_let_go_or_not(shop: Path) -> None:
    """`orders = OrderRepository()` in one module: other modules' calls of its methods (`repository.orders.count(db)`)
    run the class's; what the index keeps of the module says so too, through JSON."""
    (shop / "repository.py").write_text(REPOSITORY + "\n\norders = OrderRepository()\nlock = object()\n")
    routes = str(shop / "routes.py")
    index = ProjectIndex()
    live = index.lookup("shop.repository.orders", routes)
    assert live is not None and (live.kind, live.instance_of) == ("object", "shop.repository.OrderRepository")
    assert index.lookup("shop.repository.lock", routes) is None  # not built by a project class
    worker = ProjectIndex()
    checked_and_released(worker, shop / "repository.py")
    other = ProjectIndex()
    other.adopt(json.loads(json.dumps(worker.shared())), dict(worker.records()))
    assert symbol_to_json(other.lookup("shop.repository.orders", routes)) == symbol_to_json(live)
    model = build_model(ast.parse("from shop import repository\n\n\ndef total(db):\n    return repository.orders.count(db)\n"), routes, other)
    call = next(node for node in ast.walk(model.tree) if isinstance(node, ast.Call))
    summary = model.call_summary(call, model.scope_of[call])
    assert summary is not None and summary.qualname == "shop.repository.OrderRepository.count"


def test_module_facts_record_where_an_app_is_handed_to_a_project_function(shop: Path) -> None:
    (shop / "events.py").write_text("def register(target, *, admin=None):\n    target.on_event('startup')\n")
    (shop / "main.py").write_text(
        "from fastapi import FastAPI\n\nfrom shop import events\nfrom shop.db import engine\n\napp = FastAPI()\n"
        "events.register(app, admin=FastAPI())\nevents.register(engine, admin=None)\n"
    )
    facts = ProjectIndex().facts(str(shop / "main.py"))
    assert facts is not None and facts.app_arguments == {"shop.events.register": frozenset({"0", "admin"})}
    assert ModuleFacts.from_json(facts.to_json()) == facts
    assert ProjectIndex().app_argument_keys("shop.events.register", str(shop / "events.py")) == ["0", "admin"]


def test_module_facts_record_where_functions_keep_sessions_for_other_code(shop: Path) -> None:
    (shop / "middleware.py").write_text(
        "from shop.db import SessionFactory\n\n\nasync def keep(request, call_next):\n"
        "    request.state.db = SessionFactory()\n    request.state.user = 'x'\n    return await call_next(request)\n\n\n"
        "async def startup(ctx):\n    ctx['db'] = SessionFactory()\n    ctx['http'] = object()\n"
    )
    (shop / "other.py").write_text("def nothing(request):\n    return request.state.db\n")
    facts = ProjectIndex().facts(str(shop / "middleware.py"))
    assert facts is not None and facts.session_stores == {"state.db": "async", "ctx[db]": "async"}
    assert ModuleFacts.from_json(facts.to_json()) == facts
    index = ProjectIndex()
    routes = str(shop / "routes.py")
    assert index.stored_session_kinds("state.db", routes) == ["async"]
    assert index.modelled == 2  # middleware.py and the db module it imports, not other.py: it stores nothing there
    assert index.stored_session_kinds("ctx[db]", routes) == ["async"]
    assert index.stored_session_kinds("state.user", routes) == index.stored_session_kinds("ctx[http]", routes) == []


def test_function_summaries_keep_the_factories_they_hand_out_through_json(shop: Path) -> None:
    from flake8_async_sqla.core.summaries import class_from_json, class_to_json, function_from_json, function_to_json

    (shop / "factories.py").write_text(
        "from shop.db import SessionFactory\n\n\ndef factory():\n    return SessionFactory\n\n\n"
        "class Pool:\n    def open(self, key):\n        self.sessions[key] = factory()()\n"
    )
    index = ProjectIndex()
    routes = str(shop / "routes.py")
    function = index.lookup("shop.factories.factory", routes).function
    assert function is not None and function.returns_factory == "async"
    assert function_from_json(function_to_json(function)).returns_factory == "async"
    klass = index.lookup("shop.factories.Pool", routes).klass
    assert klass is not None and klass.session_attributes == {"sessions[...]": ("async", "created")}
    assert class_from_json(class_to_json(klass)).session_attributes == klass.session_attributes


def test_stored_facts_spare_the_parse_and_a_changed_file_is_parsed_again(shop: Path) -> None:
    db, candidates = str(shop / "db.py"), ["shop.db.get_session", "shop.db.SessionFactory"]
    first = ProjectIndex()
    assert first.dependency_targets_among(candidates, db) == ["shop.db.get_session"]
    stored = dict(first.new_facts)
    assert str(shop / "routes.py") in stored
    second = ProjectIndex()
    second.stored_facts = stored
    assert second.dependency_targets_among(candidates, db) == ["shop.db.get_session"]
    assert second.modelled == 0 and not second.new_facts
    (shop / "routes.py").write_text(ROUTES.replace("Depends(get_session)", "None"))
    third = ProjectIndex()
    third.stored_facts = stored
    assert third.dependency_targets_among(candidates, db) == []
    assert third.modelled == 1


def test_an_unsaved_buffer_stands_for_its_file(shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db, routes, candidates = str(shop / "db.py"), str(shop / "routes.py"), ["shop.db.get_session"]
    index = ProjectIndex()
    assert index.dependency_targets_among(candidates, db) == ["shop.db.get_session"]
    provider = index.lookup("shop.db.get_session", routes)
    assert provider is not None and provider.function is not None
    monkeypatch.setitem(UNSAVED_BUFFERS, routes, ROUTES.replace("Depends(get_session)", "None").encode())
    monkeypatch.setitem(UNSAVED_BUFFERS, db, DB.replace("def get_session", "def open_session").encode())
    for path in (db, routes):
        index.forget(path)  # as the language server does on each edit
    assert index.dependency_targets_among(candidates, db) == []
    assert index.lookup("shop.db.get_session", routes) is None
    assert index.lookup("shop.db.open_session", routes) is not None
    assert (shop / "db.py").read_text() == DB  # nothing written


def test_only_modules_mentioning_a_function_are_read_for_whether_it_is_a_dependency(shop: Path) -> None:
    for number in range(5):
        (shop / f"other{number}.py").write_text(
            "from fastapi import Depends\n\n\ndef settings():\n    return {}\n\n\n"
            "def handler(config=Depends(settings)):\n    return config\n"
        )
    index = ProjectIndex()
    assert index.dependency_targets_among(["shop.db.engine"], str(shop / "db.py")) == []
    assert index.modelled == 0  # no module naming something in Depends mentions `engine`
    assert index.dependency_targets_among(["shop.db.get_session"], str(shop / "db.py")) == ["shop.db.get_session"]
    assert index.modelled == 1  # routes.py alone


@pytest.mark.parametrize(
    ("source", "concerns"),
    [
        ("import http.client\n\nsession = http.client.HTTPSConnection('example.org')\n", False),
        ("import requests\n\nsession = requests.Session()\n", False),  # a third-party package, not the project's
        ("from sqlalchemy.orm import Session\n", True),
        ("def handler():\n    from fastapi import Depends\n", True),  # imported inside a function
        ("from shop.db import get_session\n", True),  # a module of the project may hand out sessions
        ("from .db import get_session\n", True),
    ],
)
def test_only_files_importing_the_frameworks_or_the_project_are_checked(shop: Path, source: str, concerns: bool) -> None:
    path = shop / "probe.py"
    path.write_text(source)
    model = build_model(ast.parse(source), str(path), ProjectIndex())
    assert may_concern_the_database(model) is concerns


def test_a_configured_wrapper_may_come_from_any_package(shop: Path) -> None:
    source = "import corp_db\n\nsession = corp_db.DB.session()\n"
    path = shop / "probe.py"
    path.write_text(source)
    index = ProjectIndex(AnalysisOptions(session_factories=("DB.session",)))
    assert may_concern_the_database(build_model(ast.parse(source), str(path), index))


def test_a_callers_question_rests_on_the_files_that_mention_the_name_not_on_the_whole_project(tmp_path: Path) -> None:
    """Asking which modules may call `save` makes a result depend on the files mentioning it (their text, and
    which they are), so an edit to another file leaves it standing, and a new caller voids it."""
    (tmp_path / "pyproject.toml").write_text("")
    app = tmp_path / "app"
    app.mkdir()
    (app / "helpers.py").write_text("def save(db, obj):\n    db.add(obj)\n")
    (app / "routes.py").write_text("from app.helpers import save\n\n\ndef create(db):\n    save(db, 1)\n")
    (app / "other.py").write_text("x = 1\n")
    index = ProjectIndex()
    helpers = str(app / "helpers.py")
    models = index.modules_mentioning(helpers, "save", 16)
    assert sorted(Path(model.path).name for model in models) == ["helpers.py", "routes.py"]
    assert index.consulted_widely == {helpers, str(app / "routes.py")}
    question = ("mentioning", helpers, "save")
    assert index.answers[question] == [helpers, str(app / "routes.py")]
    (app / "jobs.py").write_text("from app.helpers import save\n")
    index.forget(str(app / "jobs.py"))
    assert index.answer(question) == [helpers, str(app / "jobs.py"), str(app / "routes.py")]


TOTAL = b"def total(items):\n    return sum(items)\n"
# Valid for Python 3.10 and later only: a project targeting 3.9 must hear that its check cannot parse it.
MATCHING_TOTAL = b"def total(items):\n    match items:\n        case []:\n            return 0\n    return sum(items)\n"


@pytest.mark.parametrize(
    ("index_target", "target", "content", "parsed_again"),
    [
        (None, None, TOTAL, False),  # read for a lookup already: known to parse
        (None, (3, 9), TOTAL, True),  # the check reads it for an older Python than the lookup did
        ((3, 9), (3, 9), TOTAL, False),  # the lookup read it for the Python the check reads it for
        ((3, 9), None, TOTAL, True),  # ... not for the newest syntax
        (None, None, TOTAL.replace(b"sum", b"max"), True),  # changed since the lookup read it
        # Too new for the target: the lookup reads it for the newest syntax all the same, the check for its own.
        ((3, 9), (3, 9), MATCHING_TOTAL, True),
        ((3, 9), None, MATCHING_TOTAL, True),
    ],
)
def test_a_file_the_index_parsed_needs_no_second_parse_when_its_check_needs_no_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, index_target: tuple[int, int] | None, target: tuple[int, int] | None,
    content: bytes, parsed_again: bool,
) -> None:
    from flake8_async_sqla.core import parsing
    from flake8_async_sqla.core.roles import DEFAULT_POLICY
    from flake8_async_sqla.runner import check_source

    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "app").mkdir()
    helpers = tmp_path / "app" / "helpers.py"
    helpers.write_bytes(MATCHING_TOTAL if content == MATCHING_TOTAL else TOTAL)
    index = ProjectIndex()
    index.target = index_target
    assert index.lookup("app.helpers.total", str(tmp_path / "app" / "routes.py")) is not None
    judged: list[str] = []  # the files whose syntax the check judged itself (it needs no tree of them)
    real_check = parsing.check_syntax
    monkeypatch.setattr(parsing, "check_syntax", lambda *args, **kwargs: judged.append(args[1]) or real_check(*args, **kwargs))
    outcome = check_source(str(helpers), content, content.decode(), frozenset({"ASQ101"}), DEFAULT_POLICY, index, False, target)
    assert outcome.findings == []
    assert (outcome.error is not None) == (content == MATCHING_TOTAL and target == (3, 9))
    assert judged == ([str(helpers)] if parsed_again else [])


def test_a_file_that_does_not_parse_is_reported_though_its_check_needs_no_tree(tmp_path: Path) -> None:
    from flake8_async_sqla.core.roles import DEFAULT_POLICY
    from flake8_async_sqla.runner import check_source

    (tmp_path / "pyproject.toml").write_text("")
    broken = tmp_path / "broken.py"
    broken.write_bytes(b"def total(items:\n")
    index = ProjectIndex()
    assert index.lookup("broken.total", str(tmp_path / "main.py")) is None
    outcome = check_source(str(broken), b"def total(items:\n", "def total(items:\n", frozenset({"ASQ101"}), DEFAULT_POLICY, index, False)
    assert outcome.error is not None and outcome.error_line == 1


# Lines that a module's text is made of here: definitions at the top and nested, bindings, imports, and what only
# looks like them (a name starting with `def`, a keyword defined, a line break of another kind).
LINES = st.lists(
    st.sampled_from([
        "def a():", "class a:", "async def b():", "async \tdef c(): ...", "  def a():", "\tclass b:", "a = 1", "b.c = a",
        "from x import a, b", "import a as c", "from . import (a,", "fromage = a", "def def", "class_ = 1", "def", "",
        "#def a", "é = 1", "def é():", "c", "a\r", "import\ta",
    ]),
    max_size=10,
)


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode), LINES.map("\n".join).map(str.encode)))
def test_a_files_words_are_those_the_word_pattern_finds(text: bytes) -> None:
    assert words_in(text) == set(WORD.findall(text))


@settings(max_examples=200, deadline=None)
@given(lines=LINES, ending=st.sampled_from(["\n", "\r\n"]))
def test_plain_definitions_are_read_from_the_lines_as_a_multi_line_pattern_reads_them(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], ending: str
) -> None:
    text = ending.join(lines).encode()
    path = tmp_path_factory.mktemp("module") / "module.py"
    path.write_bytes(text)
    defined = Counter(re.findall(rb"^(?:async[ \t]+def|def|class)[ \t]+(\w+)", text, re.MULTILINE))
    bound = set(re.findall(rb"^(\w+)", text, re.MULTILINE))
    for line in re.findall(rb"^(?:from|import)[ \t].*", text, re.MULTILINE):
        bound.update(re.findall(rb"\w+", line))
    assert plain_definitions(str(path)) == {name for name, count in defined.items() if count == 1} - bound


@settings(max_examples=40, deadline=None)
@given(
    modules=st.sets(st.lists(st.sampled_from("abc"), min_size=1, max_size=3).map(tuple), max_size=8),
    packages=st.sets(st.lists(st.sampled_from("abc"), min_size=1, max_size=2).map(tuple), max_size=4),
    importers=st.lists(st.lists(st.sampled_from("abc"), max_size=3).map(tuple), min_size=1, max_size=4),
    asked=st.lists(st.lists(st.sampled_from("abcd"), min_size=1, max_size=3).map(".".join), min_size=1, max_size=8),
)
def test_a_module_is_found_as_the_search_from_the_importers_folder_up_finds_it(
    tmp_path_factory: pytest.TempPathFactory, modules: set[tuple[str, ...]], packages: set[tuple[str, ...]],
    importers: list[tuple[str, ...]], asked: list[str],
) -> None:
    root = tmp_path_factory.mktemp("project")
    (root / "pyproject.toml").write_text("")
    for parts in modules:
        root.joinpath(*parts[:-1]).mkdir(parents=True, exist_ok=True)
        root.joinpath(*parts[:-1], parts[-1] + ".py").write_text("")
    for parts in packages:
        root.joinpath(*parts).mkdir(parents=True, exist_ok=True)
        root.joinpath(*parts, "__init__.py").write_text("")
    index = ProjectIndex()  # one index for every question: what it keeps from one must not change another's answer
    for folder in importers:
        root.joinpath(*folder).mkdir(parents=True, exist_ok=True)
        importer = str(root.joinpath(*folder, "importer.py"))
        for module in asked:
            assert index.find_module(module, importer) == find_module_file(module, os.path.dirname(importer))


def test_the_project_text_read_ahead_is_not_read_again(shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flake8_async_sqla.core import project, project_questions, project_text

    fresh = ProjectIndex().files_mentioning(str(shop / "routes.py"), "count_orders")
    index = ProjectIndex()
    index.read_project_text(str(shop / "routes.py"))
    reads: list[str] = []
    read = project_text.read_file
    for module in (project, project_questions, project_text):
        monkeypatch.setattr(module, "read_file", lambda path: reads.append(path) or read(path))
    index.read_project_text(str(shop / "db.py"))  # the same project
    assert reads == []
    assert index.files_mentioning(str(shop / "routes.py"), "count_orders") == fresh
    assert set(reads) <= set(fresh)  # only the files whose word filter may hold the word are searched


def test_a_rebuilt_model_stays_usable_until_the_check_ends(shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Models built again for released modules are kept a few at a time; one pushed out by a later rebuild may still
    be in use up the stack (an effect of a forgone function computed from it asks another released module), so it
    is let go only when the file being checked is."""
    monkeypatch.setattr("flake8_async_sqla.core.project.MAX_REBUILT_MODELS", 1)
    index = ProjectIndex()
    for name in ("db.py", "repository.py"):
        checked_and_released(index, shop / name)
    first = index.model_for(str(shop / "db.py"))
    assert first is not None
    index.model_for(str(shop / "repository.py"))  # pushes `first` out of the rebuilt models
    assert first.imports and first.export("get_session").function.yields_session == "async"
    index.release(str(shop / "routes.py"))
    assert not vars(first)  # let go with the check
