from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.model import Scope, SemanticModel, dotted
from flake8_async_sqla.core.rule import Report, Rule, register, report


@register
class EngineCreatedPerRequest(Rule):
    """
    ## What it does
    Finds `create_engine`, `create_async_engine`, `engine_from_config` and
    `async_engine_from_config` called inside a route handler, a FastAPI dependency,
    a function of the same module that one of them calls, or a loop body. Module level,
    the lifespan, functions called from the lifespan, `@lru_cache`d factories and
    memoised globals (`if _engine is None: _engine = ...`) are fine.

    ## Why is this bad?
    An engine owns a connection pool. Creating one per request opens a new pool (and
    new connections) for every request, never reuses them, and leaks them unless each
    engine is disposed. Under load the database runs out of connections.

    ## Use instead
    Create one engine per process and database URL in the app's `lifespan`, dispose it
    there (`stack.push_async_callback(engine.dispose)`), and hand sessions out through
    a dependency.

    ## Fix safety
    No automatic fix: where the engine should live depends on the application.

    ## References
    - [SQLAlchemy: Engine Configuration](https://docs.sqlalchemy.org/en/20/core/engines.html)
    - [SQLAlchemy: Using asyncio engines](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#synopsis-core)
    - [FastAPI: Lifespan Events](https://fastapi.tiangolo.com/advanced/events/)
    """

    code = "ASQ101"
    name = "engine-created-per-request"
    phase = 1
    message = "{factory}() {where} creates an engine per call: create one engine in the app's lifespan and reuse it"
    invalid = (
        '''\
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine, AsyncSession

app = FastAPI()


@app.get("/users/{user_id}")
async def get_user(user_id: int):
    engine = create_async_engine("postgresql+asyncpg://app@db/app")  # error: ASQ101
    async with AsyncSession(engine) as session:
        return await session.get(User, user_id)
''',
    )
    valid = (
        '''\
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with AsyncExitStack() as stack:
        engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_pre_ping=True)
        stack.push_async_callback(engine.dispose)
        app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        yield


app = FastAPI(lifespan=lifespan)
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        per_request = _per_request_functions(model)
        startup = _reachable(model, [s for s in model.scopes if model.is_lifespan(s)])
        for scope in model.scopes:
            function = scope.function_scope
            if function is None:
                continue
            for call in scope.calls:
                factory = model.api(call.func)
                if factory not in names.ENGINE_FACTORIES or _memoised(model, call, function):
                    continue
                where = per_request.get(function)
                if where is None and function not in startup and model.in_loop(call, function):
                    where = "in a loop"
                if where is not None:
                    yield report(call, factory=factory, where=where)


def _per_request_functions(model: SemanticModel) -> dict[Scope, str]:
    """Functions that run on every request, each with a phrase saying how it gets there."""
    found: dict[Scope, str] = {}
    pending: list[tuple[Scope, str]] = []
    for scope in model.scopes:
        if scope.kind != "function" or model.is_cached(scope):
            continue
        if model.is_route_handler(scope):
            pending.append((scope, f"route handler `{scope.name}`"))
        elif model.is_dependency(scope):
            pending.append((scope, f"dependency `{scope.name}`"))
    while pending:
        scope, root = pending.pop()
        if scope in found:
            continue
        found[scope] = f"in {root}" if root.endswith(f"`{scope.name}`") else f"in `{scope.name}`, called from {root}"
        for callee in [*model.called_functions(scope), *(c for c in scope.children if c.kind == "function")]:
            if callee not in found and not model.is_cached(callee) and not model.is_lifespan(callee):
                pending.append((callee, root))
    return found


def _reachable(model: SemanticModel, roots: list[Scope]) -> set[Scope]:
    seen: set[Scope] = set()
    pending = list(roots)
    while pending:
        scope = pending.pop()
        if scope not in seen:
            seen.add(scope)
            pending.extend(model.called_functions(scope))
    return seen


def _memoised(model: SemanticModel, call: ast.Call, function: Scope) -> bool:
    """`global _engine; _engine = create_engine(...)` or an `if x is None:` guard around the store."""
    parent = model.parents.get(call)
    if not isinstance(parent, (ast.Assign, ast.AnnAssign)):
        return False
    targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
    for target in targets:
        if isinstance(target, ast.Name) and target.id in function.global_names:
            return True
        stored = dotted(target)
        if stored is None:
            continue
        for ancestor in model.ancestors(parent):
            if ancestor is function.node:
                break
            if isinstance(ancestor, ast.If) and _tests_unset(ancestor.test, stored):
                return True
    return False


def _tests_unset(test: ast.AST, stored: list[str]) -> bool:
    """`x is None`, `not x`, `not hasattr(obj, "x")` for the stored target `x`."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        operand = test.operand
        if dotted(operand) == stored:
            return True
        if isinstance(operand, ast.Call) and dotted(operand.func) == ["hasattr"] and len(operand.args) == 2:
            owner, attr = operand.args
            return isinstance(attr, ast.Constant) and dotted(owner) == stored[:-1] and attr.value == stored[-1]
        return False
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Is):
        right = test.comparators[0]
        return dotted(test.left) == stored and isinstance(right, ast.Constant) and right.value is None
    return False
