from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.model import Scope, SemanticModel, SessionBinding, call_method
from flake8_async_sqla.core.rule import Report, Rule, register, report

COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp)


@register
class SessionSharedAcrossTasks(Rule):
    """
    ## What it does
    Finds one session (or a bound method of it, or an object built from it such as a
    repository) reaching two or more awaitables that run concurrently:
    `asyncio.gather(...)` (also with `*(... for ...)` and list comprehensions),
    `asyncio.wait`, `asyncio.as_completed`, and `create_task` / `ensure_future` /
    `TaskGroup.create_task` / anyio's `start_soon` called in a loop or more than once
    with the same session. Tasks that each open their own session are fine.

    ## Why is this bad?
    An `AsyncSession` is not safe for concurrent use: it holds one connection and one
    transaction, and its state is changed by every operation. Two tasks using it at
    once fail with `IllegalStateChangeError`, or a driver error such as asyncpg's
    "another operation is in progress"; on some backends they silently interleave
    statements inside one transaction.

    ## Use instead
    Give each concurrent task its own session from the session factory, or run the
    operations one after another on the one session.

    ## Fix safety
    No automatic fix.

    ## References
    - [SQLAlchemy: Using AsyncSession with Concurrent Tasks](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#using-asyncsession-with-concurrent-tasks)
    - [SQLAlchemy: Is the Session thread-safe? Is AsyncSession safe to share in concurrent tasks?](https://docs.sqlalchemy.org/en/20/orm/session_basics.html#session-faq-threadsafe)
    """

    code = "ASQ201"
    name = "session-shared-across-tasks"
    phase = 2
    message = "session `{session}` is shared by concurrent tasks in {call}(): give each task its own session from the session factory"
    invalid = (
        '''\
import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


async def load_dashboard(session: AsyncSession):
    users, orders = await asyncio.gather(  # error: ASQ201
        session.scalars(select(User)),
        session.scalars(select(Order)),
    )
    return users.all(), orders.all()
''',
    )
    valid = (
        '''\
import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker


async def count(factory: async_sessionmaker, model):
    async with factory() as session:
        return (await session.scalars(select(model))).all()


async def load_dashboard(factory: async_sessionmaker):
    return await asyncio.gather(count(factory, User), count(factory, Order))
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for scope in model.scopes:
            if scope.kind not in ("function", "lambda"):
                continue
            spawned: dict[tuple[str, int], int] = {}
            for call in scope.calls:
                qualname = model.qualname(call.func)
                if qualname in names.GATHER_LIKE:
                    shared = self._shared_in_batch(model, scope, call, qualname)
                    if shared is not None:
                        yield report(call, session=shared.name, call=qualname)
                    continue
                spawner = self._spawner(model, scope, call, qualname)
                if spawner is None:
                    continue
                binding = next(
                    (b for arg in [*call.args, *(k.value for k in call.keywords)] if (b := model.session_reached_by(arg, scope))),
                    None,
                )
                if binding is None:
                    continue
                key = (binding.name, id(binding.node))
                spawned[key] = spawned.get(key, 0) + 1
                if spawned[key] > 1 or model.in_loop(call, scope.function_scope or scope):
                    yield report(call, session=binding.name, call=spawner)

    @staticmethod
    def _spawner(model: SemanticModel, scope: Scope, call: ast.Call, qualname: str | None) -> str | None:
        """The name of the task-spawning API `call` uses, if it spawns a task."""
        if qualname in names.TASK_SPAWNERS:
            return qualname
        method = call_method(call)
        if method is None or method[1] not in ("create_task", "start_soon") or not isinstance(method[0], ast.Name):
            return None
        for with_node in scope.withs:
            for item in with_node.items:  # type: ignore[attr-defined]
                target = item.optional_vars
                if isinstance(target, ast.Name) and target.id == method[0].id and isinstance(item.context_expr, ast.Call):
                    if model.qualname(item.context_expr.func) in names.TASK_GROUPS:
                        return f"{target.id}.{method[1]}"
        return None

    @staticmethod
    def _shared_in_batch(model: SemanticModel, scope: Scope, call: ast.Call, qualname: str) -> SessionBinding | None:
        if qualname.endswith(".gather"):
            items = list(call.args)
        else:
            first = call.args[0] if call.args else None
            items = [first] if first is not None else []
        counts: dict[tuple[str, int], int] = {}
        for item in items:
            elements = [item]
            if isinstance(item, ast.Starred):
                elements = [item.value]
            if isinstance(elements[0], (ast.List, ast.Tuple, ast.Set)):
                elements = list(elements[0].elts)
            for element in elements:
                repeated = isinstance(element, COMPREHENSIONS)
                expression = element.elt if isinstance(element, COMPREHENSIONS) else element
                binding = model.session_reached_by(expression, scope)
                if binding is None:
                    continue
                key = (binding.name, id(binding.node))
                counts[key] = counts.get(key, 0) + (2 if repeated else 1)
                if counts[key] >= 2:
                    return binding
        return None
