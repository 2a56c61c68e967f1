from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core.effects import callee_summaries
from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.syntax import FUNCTION_NODES, dotted
from flake8_async_sqla.core.per_request import how_reached, local_name
from flake8_async_sqla.core.roles import SERVING_ROLES
from flake8_async_sqla.core.rule import Report, Rule, register, report

LOOP_STATEMENTS = (ast.For, ast.AsyncFor, ast.While)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
NESTED_SCOPES = (*FUNCTION_NODES, ast.Lambda, ast.ClassDef)


@register
class EngineCreatedPerRequest(Rule):
    """
    ## What it does
    Finds `create_engine`, `create_async_engine`, `engine_from_config` and
    `async_engine_from_config` called where they run on every request: in a route
    handler, in a FastAPI dependency (`Depends`/`Security` in a default, in `Annotated`
    or an alias of it, in `dependencies=[...]`; a class dependency's `__init__`), or in a
    function or method of the same module that one of them calls. Elsewhere it finds
    them in a loop that builds the same engine on every round.

    In a route handler or dependency (or what it calls in its module) it also finds the
    call of code in another module that creates an engine on every call, however many calls
    deep: constructing a service whose `__init__` (its own or a base class's) builds one
    (`self.engine = create_async_engine(settings.analytics_url)`), or a function that does.
    An engine such code builds from what its caller passes (a URL or config parameter: one
    engine per database named) is not counted, nor one it memoises (a global or attribute
    checked before it is built, `if url not in _engines:`) or a call it makes only when the
    caller passes no engine of its own (`engine or create_engine(url)`).

    Module level, the lifespan and what it or module level calls, `@lru_cache`d
    factories, memoised globals (`if _engine is None: _engine = ...`), per-URL caches
    (`if url not in _engines: _engines[url] = ...`), one engine per URL in a loop, and
    retry loops that stop once an engine connects are fine.

    ## Why is this bad?
    An engine owns a connection pool. Creating one per request opens a new pool and a
    new connection for every request and never reuses them. Unless each engine is
    disposed, its connection stays open after the response until the garbage collector
    happens to reclaim the engine (asyncpg and aiosqlite then warn that the connection
    was never closed). Under load the database runs out of connections.

    ## Use instead
    Create one engine per process and database URL in the app's `lifespan`, dispose it
    there (`stack.push_async_callback(engine.dispose)`), and hand sessions out through
    a dependency.

    ## Known false alarms
    Only the memoising shapes above are recognised: an engine cached under `try:` /
    `except KeyError:`, or by a caching decorator other than `functools`' (`async_lru`'s
    `@alru_cache`), is reported as an engine per call, and so is an engine built per request
    on purpose (one per tenant, disposed in a `finally:`). A wrapper listed under
    `engine-factories` is taken to create an engine on every call, so list only wrappers
    that do, not a cached `get_engine()`. A helper in another module that builds an engine
    from a URL its caller passes is not followed, even when every caller passes the same
    settings URL. Silence a deliberate one with `# noqa: ASQ101`;
    scripts are not reported (application and example files only), and `role-paths` can mark
    a file that is really a script.

    ## Fix safety
    No automatic fix: where the engine should live depends on the application.

    ## References
    - [SQLAlchemy: Engine Configuration](https://docs.sqlalchemy.org/en/20/core/engines.html)
    - [SQLAlchemy: Using asyncio engines](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#synopsis-core)
    - [FastAPI: Lifespan Events](https://fastapi.tiangolo.com/advanced/events/)
    """

    code = "ASQ101"
    runtime_proof = "tests/runtime/test_asq101.py"
    observed = {
        "SQLite (aiosqlite)": "5 requests leave 5 connections open (each holding the database file and a worker thread) "
        "until the garbage collector reclaims the engines, each with `ResourceWarning: ... was deleted before being closed`; "
        "the lifespan version keeps 1.",
        "PostgreSQL (asyncpg)": "5 requests leave 5 server connections open (`pg_stat_activity`) until the garbage collector "
        "reclaims the engines, each with `ResourceWarning: unclosed connection`; the lifespan version keeps 1.",
    }
    name = "engine-created-per-request"
    phase = 1
    roles = SERVING_ROLES
    message = "{factory}() {where} creates an engine per call: create one engine in the app's lifespan and reuse it"
    invalid = (
        '''\
import os

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]


app = FastAPI()


@app.get("/users/{user_id}")
async def get_user(user_id: int):
    engine = create_async_engine(os.environ["DATABASE_URL"], pool_pre_ping=True)  # error: ASQ101
    async with AsyncSession(engine) as session:
        user = await session.get(User, user_id)
        return {"id": user.id, "email": user.email}
''',
        '''\
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

router = APIRouter()


async def get_reporting_engine():
    engine = create_async_engine("postgresql+asyncpg://reports@warehouse/dw", pool_pre_ping=True)  # error: ASQ101
    try:
        yield engine
    finally:
        await engine.dispose()


ReportingEngine = Annotated[AsyncEngine, Depends(get_reporting_engine)]


@router.get("/reports/daily")
async def daily_report(engine: ReportingEngine): ...
''',
    )
    valid = (
        '''\
import os
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with AsyncExitStack() as stack:
        engine = create_async_engine(os.environ["DATABASE_URL"], pool_pre_ping=True)
        stack.push_async_callback(engine.dispose)
        app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        yield


app = FastAPI(lifespan=lifespan)


async def get_session(request: Request):
    async with request.app.state.sessionmaker() as session:
        yield session


@app.get("/users/{user_id}")
async def get_user(user_id: int, session: Annotated[AsyncSession, Depends(get_session)]):
    user = await session.get(User, user_id)
    return {"id": user.id, "email": user.email}
''',
        '''\
from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

router = APIRouter()


@lru_cache
def get_reporting_engine() -> AsyncEngine:
    return create_async_engine("postgresql+asyncpg://reports@warehouse/dw", pool_pre_ping=True)


ReportingEngine = Annotated[AsyncEngine, Depends(get_reporting_engine)]


@router.get("/reports/daily")
async def daily_report(engine: ReportingEngine): ...
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        engine_calls = [(call, scope, factory) for call, scope, factory in model.engine_calls() if scope.function_scope]
        # Which functions run per request is asked of the project: only when some function here creates an engine,
        # itself or through what it calls (an effect every function's summary computes anyway).
        if not engine_calls and not any(s.kind == "function" and model.function_summary(s).creates_engine for s in model.scopes):
            return
        per_request = model.per_request_functions()
        # Code that runs once: module level, the lifespan, and what they call.
        startup = _reachable(model, [model.module_scope, *(s for s in model.scopes if model.is_lifespan(s))])
        for call, scope, factory in engine_calls:
            function = scope.function_scope
            if _shadowed(model, call, scope) or model.is_memoised(call, function):
                continue
            if model.engine_factory(call) is None and model.called_function(call, scope) is not None:
                continue  # a wrapper of this file: reported where it calls SQLAlchemy's factory
            root = per_request.get(function)
            where = how_reached(model, function, root) if root is not None else None
            if where is None and function not in startup and _rebuilt_each_round(model, call, function):
                where = f"in a loop in `{local_name(model, function)}`"
            if where is not None:
                yield report(call, factory=factory, where=where)
        yield from _engines_built_elsewhere(model, per_request, {call for call, _, _ in engine_calls})


def _engines_built_elsewhere(model: SemanticModel, per_request: dict[Scope, Scope], reported: set[ast.Call]) -> Iterator[Report]:
    """Calls in per-request code of project code in another module (or a class's constructor there) that creates
    an engine on every call: `ReportService()` whose `__init__` builds one, `make_engine()` wrapped in a helper.
    The code of this module that does is reported where it calls the engine factory."""
    for function, root in per_request.items():
        for call in function.calls:
            if call in reported or model.called_function(call, function) is not None or model.is_memoised(call, function):
                continue
            if _shadowed(model, call, function):
                continue
            if any(summary.creates_engine is not None for summary in callee_summaries(model, call, function)):
                shown = dotted(call.func)
                yield report(call, factory=".".join(shown) if shown else "...", where=how_reached(model, function, root))


def _shadowed(model: SemanticModel, call: ast.Call, scope: Scope) -> bool:
    """`create_engine(...)` where a parameter or local of an enclosing function hides the import."""
    parts = dotted(call.func)
    return parts is not None and model.binds_locally(parts[0], scope)


def _reachable(model: SemanticModel, roots: list[Scope]) -> set[Scope]:
    seen: set[Scope] = set()
    pending = list(roots)
    while pending:
        scope = pending.pop()
        if scope not in seen:
            seen.add(scope)
            pending.extend(_callees(model, scope))
    return seen


def _callees(model: SemanticModel, scope: Scope) -> list[Scope]:
    """What runs when `scope` runs: the functions it calls and, for a function, the functions defined inside it."""
    nested = [child for child in scope.children if child.kind == "function"] if scope.kind == "function" else []
    return [*model.called_functions(scope), *nested]


def _rebuilt_each_round(model: SemanticModel, call: ast.Call, function: Scope) -> bool:
    """Whether a loop around `call` builds the same engine again on every round: the call's arguments use
    nothing that changes from round to round (one engine per URL is fine), and no `break`/`return` ends
    the loop once an engine works (a retry is fine)."""
    used = {node.id for node in ast.walk(call) if isinstance(node, ast.Name)}
    path = [call, *model.ancestors(call)]
    for child, ancestor in zip(path, path[1:]):
        if ancestor is function.node:
            return False
        if isinstance(ancestor, LOOP_STATEMENTS) and child in ancestor.body:
            repeated = not used & _varying_names(ancestor) and not _ends_early(ancestor)
        elif isinstance(ancestor, COMPREHENSIONS) and child is not ancestor.generators[0]:
            repeated = not used & {name for g in ancestor.generators for name in _names(g.target)}
        else:
            continue
        if repeated:
            return True
    return False


def _names(target: ast.AST) -> set[str]:
    return {node.id for node in ast.walk(target) if isinstance(node, ast.Name)}


def _varying_names(loop: ast.For | ast.AsyncFor | ast.While) -> set[str]:
    """Names whose value changes from one round of `loop` to the next: its target (for a `while`, what
    its body assigns outside inner loops), and every name computed from those."""
    bindings: list[tuple[set[str], ast.AST]] = []
    varying = set() if isinstance(loop, ast.While) else _names(loop.target)
    pending: list[tuple[ast.AST, bool]] = [(statement, True) for statement in loop.body]
    while pending:
        node, direct = pending.pop()
        if isinstance(node, NESTED_SCOPES):
            continue
        bound: tuple[set[str], ast.AST] | None = None
        if isinstance(node, ast.Assign):
            bound = (set().union(*map(_names, node.targets)), node.value)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)) and node.value is not None:
            bound = (_names(node.target), node.value)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            bound = (_names(node.target), node.iter)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            bound = (_names(node.optional_vars), node.context_expr)
        if bound is not None:
            bindings.append(bound)
            if direct and isinstance(loop, ast.While) and not isinstance(node, LOOP_STATEMENTS):
                varying |= bound[0]
        inner = direct and not isinstance(node, LOOP_STATEMENTS)
        pending.extend((child, inner) for child in ast.iter_child_nodes(node))
    changed = True
    while changed:
        changed = False
        for targets, value in bindings:
            if not targets <= varying and _names(value) & varying:
                varying |= targets
                changed = True
    return varying


def _ends_early(loop: ast.For | ast.AsyncFor | ast.While) -> bool:
    """Whether a `return`, or a `break` of this loop, can end it before its last round."""
    pending: list[tuple[ast.AST, bool]] = [(statement, True) for statement in loop.body]
    while pending:
        node, own = pending.pop()
        if isinstance(node, ast.Return) or isinstance(node, ast.Break) and own:
            return True
        if not isinstance(node, NESTED_SCOPES):
            inner = own and not isinstance(node, LOOP_STATEMENTS)
            pending.extend((child, inner) for child in ast.iter_child_nodes(node))
    return False
