from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.sessions import SessionBinding
from flake8_async_sqla.core.syntax import call_method, dotted, keyword
from flake8_async_sqla.core.rule import Report, Rule, register, report

COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp)
SEQUENCES = (ast.List, ast.Tuple, ast.Set)
TASK_GROUP_SPAWNERS = {"create_task", "start_soon", "start"}
COLLECTING_METHODS = {"append", "add", "extend"}
AWAITING_WRAPPERS = {"asyncio.wait_for", "asyncio.shield"}
# The last names of every call the rule looks at: a method call by another name neither gathers nor spawns.
SPAWNING_ATTRS = {*TASK_GROUP_SPAWNERS, *(qualname.rpartition(".")[2] for qualname in names.GATHER_LIKE | names.TASK_SPAWNERS)}


@register
class SessionSharedAcrossTasks(Rule):
    """
    ## What it does
    Finds one session (or a bound method of it, an object built from it such as a
    repository, or a nested function that uses it) reaching two or more awaitables that
    run concurrently: `asyncio.gather(...)` (also with `*(... for ...)`, list
    comprehensions and a list of coroutines built beforehand), `asyncio.wait`,
    `asyncio.as_completed`, and `create_task` / `ensure_future` / `loop.create_task` /
    `TaskGroup.create_task` / anyio's `start_soon` called in a loop or more than once
    with the same session. Tasks that each open their own session are fine, and so is a
    task awaited where it is created.

    ## Why is this bad?
    An `AsyncSession` is not safe for concurrent use: it holds one connection, one
    transaction and one unit of work that every operation changes. Tasks that write
    through it at once fail: the second flush raises `InvalidRequestError: Session is
    already flushing`, and closing the session while a task still runs raises
    `IllegalStateChangeError`, leaving its connection out of the pool until the
    garbage collector finds it. Concurrent reads only appear to work: as the
    session's first operation they fail too (`This session is provisioning a new
    connection; concurrent operations are not permitted`), and once the session holds
    its connection the drivers (asyncpg, aiosqlite) run them one after another on it,
    so they gain nothing and fail as soon as one of the tasks writes.

    ## Use instead
    Run the operations one after another on the one session (one transaction), or give
    each concurrent task its own session from the session factory (one transaction
    each).

    ## Known false alarms
    The session only has to appear in the tasks' arguments, so tasks that merely read
    `session.bind` or `session.info` are reported. Tasks are taken to overlap unless one is
    awaited where it is created (`await asyncio.create_task(...)`):
    `task = asyncio.create_task(f(session, x))` followed by `await task` in a loop is
    reported, and so are two spawns in branches of which one ends in `return` instead of an
    `else:`. Silence a deliberate one with `# noqa: ASQ201`.

    ## Fix safety
    No automatic fix.

    ## References
    - [SQLAlchemy: Using AsyncSession with Concurrent Tasks](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#using-asyncsession-with-concurrent-tasks)
    - [SQLAlchemy: Is the Session thread-safe? Is AsyncSession safe to share in concurrent tasks?](https://docs.sqlalchemy.org/en/20/orm/session_basics.html#session-faq-threadsafe)
    """

    code = "ASQ201"
    runtime_proof = "tests/runtime/test_asq201.py"
    observed = {
        "SQLite (aiosqlite)": "the concurrent flushes raise `InvalidRequestError: Session is already flushing`, closing the "
        "session then raises `IllegalStateChangeError` and its connection is never returned to the pool (SQLAlchemy warns "
        "when the garbage collector finds it); concurrent reads fail the same way as the session's first operation "
        "(`This session is provisioning a new connection`) and pass once it holds its connection; the sequential version "
        "returns the ids.",
        "PostgreSQL (asyncpg)": "the same as SQLite.",
    }
    name = "session-shared-across-tasks"
    phase = 2
    message = "session `{session}` is shared by concurrent tasks in {call}(): give each task its own session from the session factory"
    invalid = (
        '''\
import asyncio

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]


async def register_user(session: AsyncSession, email: str) -> User:
    user = User(email=email)
    session.add(user)
    await session.flush()
    return user


async def import_users(session: AsyncSession, emails: list[str]) -> list[int]:
    users = await asyncio.gather(*(register_user(session, email) for email in emails))  # error: ASQ201
    return [user.id for user in users]
''',
        '''\
import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)


async def load_dashboard(session: AsyncSession) -> tuple[int, int]:
    users, orders = await asyncio.gather(  # error: ASQ201
        session.scalars(select(User)),
        session.scalars(select(Order)),
    )
    return len(users.all()), len(orders.all())
''',
    )
    valid = (
        '''\
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]


async def register_user(session: AsyncSession, email: str) -> User:
    user = User(email=email)
    session.add(user)
    await session.flush()
    return user


async def import_users(session: AsyncSession, emails: list[str]) -> list[int]:
    users = [await register_user(session, email) for email in emails]
    return [user.id for user in users]
''',
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
            function = scope.function_scope
            if scope.kind not in ("function", "lambda") or function is None:
                continue
            spawned: dict[tuple[str, int], list[ast.Call]] = {}
            for call in scope.calls:
                if isinstance(call.func, ast.Attribute) and call.func.attr not in SPAWNING_ATTRS:
                    continue
                qualname = _library_name(model, call, scope)
                if qualname in names.GATHER_LIKE:
                    shared = _shared_in_batch(model, scope, call, qualname)
                    if shared is not None:
                        yield report(call, session=shared.name, call=qualname)
                    continue
                spawner = _spawner(model, scope, call, qualname)
                if spawner is None or _awaited_at_once(model, call):
                    continue
                binding = next(
                    (b for arg in [*call.args, *(k.value for k in call.keywords)] if (b := model.session_reached_by(arg, scope))),
                    None,
                )
                if binding is None:
                    continue
                earlier = spawned.setdefault((binding.name, id(binding.node)), [])
                if any(not _exclusive(model, other, call) for other in earlier) or _repeats_with(model, call, binding, function):
                    yield report(call, session=binding.name, call=spawner)
                earlier.append(call)


def _awaited_at_once(model: SemanticModel, call: ast.Call) -> bool:
    """`await create_task(...)` or `await asyncio.wait_for(create_task(...), t)`: done before anything else runs."""
    parent = model.parents.get(call)
    if isinstance(parent, ast.Call) and call in parent.args and model.qualname(parent.func) in AWAITING_WRAPPERS:
        parent = model.parents.get(parent)
    return isinstance(parent, ast.Await)


def _exclusive(model: SemanticModel, first: ast.AST, second: ast.AST) -> bool:
    """Whether two nodes sit in different branches of one `if`, so at most one of them runs."""
    second_path = {id(a): child for child, a in zip([second, *model.ancestors(second)], model.ancestors(second))}
    child = first
    for ancestor in model.ancestors(first):
        other = second_path.get(id(ancestor))
        if other is not None:
            if not isinstance(ancestor, ast.If):
                return False
            return (child in ancestor.body) != (other in ancestor.body)
        child = ancestor
    return False


def _library_name(model: SemanticModel, call: ast.Call, scope: Scope) -> str | None:
    """The qualified name of the called function when it gathers or spawns tasks (`asyncio.gather`), unless a
    local name (a nested `def gather`) shadows it."""
    qualname = model.qualname(call.func)
    if qualname not in names.GATHER_LIKE and qualname not in names.TASK_SPAWNERS:
        return None  # the only names the rule asks about: no need to test for shadowing
    parts = dotted(call.func)
    return qualname if parts is not None and not model.binds_locally(parts[0], scope) else None


def _spawner(model: SemanticModel, scope: Scope, call: ast.Call, qualname: str | None) -> str | None:
    """The name of the task-spawning API `call` uses, if it spawns a task."""
    if qualname in names.TASK_SPAWNERS:
        return qualname
    method = call_method(call)
    if method is None:
        return None
    receiver, attr = method
    if attr == "create_task" and model.is_event_loop(receiver, scope):
        return "loop.create_task"
    if attr in TASK_GROUP_SPAWNERS and isinstance(receiver, ast.Name) and _is_task_group(model, scope, receiver.id):
        return f"{receiver.id}.{attr}"
    return None


def _is_task_group(model: SemanticModel, scope: Scope, name: str) -> bool:
    """`name` is the target of `async with asyncio.TaskGroup() as name` (or anyio's) here or around here."""
    current: Scope | None = scope
    while current is not None and current.kind != "module":
        for with_node in current.withs:
            for item in with_node.items:  # type: ignore[attr-defined]
                target = item.optional_vars
                if isinstance(target, ast.Name) and target.id == name and isinstance(item.context_expr, ast.Call):
                    if model.qualname(item.context_expr.func) in names.TASK_GROUPS:
                        return True
        current = current.parent
    return False


def _shared_in_batch(model: SemanticModel, scope: Scope, call: ast.Call, qualname: str) -> SessionBinding | None:
    """The session that two or more of the awaitables a gather-like call runs reach."""
    function = scope.function_scope or scope
    counts: dict[tuple[str, int], int] = {}
    for awaitable, added_by in _awaitables(model, scope, call, qualname):
        # A task spawned here is reported where it is spawned.
        if isinstance(awaitable, ast.Call) and _spawner(model, scope, awaitable, _library_name(model, awaitable, scope)):
            continue
        binding = model.session_reached_by(awaitable, scope)
        if binding is None:
            continue
        repeated = added_by is not None and _repeats_with(model, added_by, binding, function, outside=call)
        key = (binding.name, id(binding.node))
        counts[key] = counts.get(key, 0) + (2 if repeated else 1)
        if counts[key] >= 2:
            return binding
    return None


def _awaitables(model: SemanticModel, scope: Scope, call: ast.Call, qualname: str) -> Iterator[tuple[ast.expr, ast.AST | None]]:
    """Each awaitable a gather-like call runs, with the node that adds it (a comprehension element, an
    `append` call) when that may run repeatedly, else None."""
    if qualname == "asyncio.gather":
        items = list(call.args)
    else:
        first = call.args[0] if call.args else keyword(call, "fs") or keyword(call, "aws")
        items = [first] if first is not None else []
    for item in items:
        if isinstance(item, ast.Starred):
            item = item.value
        collected = list(_collected_into(scope, item)) if isinstance(item, ast.Name) else []
        for value, added_by in collected or [(item, None)]:
            if isinstance(value, SEQUENCES):
                yield from ((element, added_by) for element in value.elts)
            elif isinstance(value, COMPREHENSIONS):
                yield value.elt, value.elt
            else:
                yield value, added_by


def _collected_into(scope: Scope, name: ast.Name) -> Iterator[tuple[ast.expr, ast.Call | None]]:
    """What a local list of awaitables was built from: its assigned value, and each `append` call."""
    for assign in scope.assigns:
        if isinstance(assign, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name.id for t in assign.targets):
            yield assign.value, None
    for call in scope.calls:
        method = call_method(call)
        if method is None or method[1] not in COLLECTING_METHODS or not call.args:
            continue
        if isinstance(method[0], ast.Name) and method[0].id == name.id:
            yield call.args[0], call


def _repeats_with(
    model: SemanticModel, node: ast.AST, binding: SessionBinding, function: Scope, outside: ast.AST | None = None
) -> bool:
    """Whether `node` runs repeatedly with the same session: in a loop that does not also enclose `outside`
    and does not open a new session each time round."""
    loop = _enclosing_loop(model, node, function)
    if loop is None:
        return False
    if outside is not None and any(a is loop for a in model.ancestors(outside)):
        return False
    return not (binding.owned and any(a is loop for a in model.ancestors(binding.node)))


def _enclosing_loop(model: SemanticModel, node: ast.AST, function: Scope) -> ast.AST | None:
    """The innermost loop or comprehension of `function` whose repeated part holds `node`."""
    child = node
    for ancestor in model.ancestors(node):
        if ancestor is function.node:
            return None
        if isinstance(ancestor, (ast.For, ast.AsyncFor)) and child is not ancestor.iter or isinstance(ancestor, ast.While):
            return ancestor
        if isinstance(ancestor, (*COMPREHENSIONS, ast.DictComp)) and child is not ancestor.generators[0]:
            return ancestor
        child = ancestor
    return None
