from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.edits import Edit, SourceText, await_allowed
from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.syntax import call_method, dotted
from flake8_async_sqla.core.rule import SAFE, AutoFix, Report, Rule, register, report

# Attributes a coroutine object has: code that uses them is handling the coroutine itself.
COROUTINE_ATTRIBUTES = {"close", "send", "throw", "__await__", "cr_frame", "cr_code", "cr_running", "cr_await"}
TRUTH_TESTS = (ast.If, ast.While, ast.Assert, ast.IfExp)
ANY_COROUTINE_METHOD = set().union(*names.ASYNC_COROUTINE_METHODS.values())


@register
class AsyncDbCallNotAwaited(Rule):
    """
    ## What it does
    Finds a coroutine method of an `AsyncSession`, `AsyncConnection` or `AsyncEngine`
    (`execute`, `scalars`, `get`, `commit`, `flush`, `refresh`, `delete`, `close`,
    `run_sync`, `dispose`, ...) called without `await`: as a statement of its own, chained
    (`session.execute(stmt).scalars()`), iterated, tested for truth, compared, or assigned
    to a name that is then used as if it held the result. A coroutine that is awaited,
    returned, handed to a call (`asyncio.gather`, `create_task`, `wait_for`), collected
    into a list or used as an `async with` context is fine. The synchronous methods
    (`add`, `add_all`, `expunge`, `expire`, `in_transaction`, `get_bind`, `begin`,
    `connect`) are never reported, and neither is any call on a synchronous `Session`,
    `Connection` or `Engine`. The receiver must be known to be one: a session parameter,
    dependency (also through an `Annotated` alias) or `self.session`, a session from
    `async_object_session(obj)`, one the project's context managers open, or one other code
    keeps on `request.state` or in a worker's `ctx`, a name bound from
    `create_async_engine(...)`, from `async with engine.connect()` / `engine.begin()` or
    `await session.connection()`, or a parameter annotated `AsyncEngine` / `AsyncConnection`.

    ## Why is this bad?
    Calling a coroutine function only creates the coroutine; nothing runs until it is
    awaited. `session.commit()` without `await` commits nothing, and `session.delete(obj)`
    deletes nothing: the request succeeds, a surrounding `begin()` block commits without
    the change, and all that shows is a `RuntimeWarning: coroutine 'AsyncSession.delete'
    was never awaited` in the logs. `session.execute(stmt).scalars()` fails with
    `AttributeError: 'coroutine' object has no attribute 'scalars'`, and
    `if not session.get(User, id):` never takes the branch: a coroutine is always true.

    ## Use instead
    `await` the call where it is made, or hand the coroutine to something that awaits it.

    ## Known false alarms
    Sessions and engines known only through the wrapper options are taken to be
    asynchronous: a sync `Session` wrapper listed under `session-types`, `session-factories`
    or `session-dependencies`, or a sync engine wrapper under `engine-factories`, gets its
    plain `db.commit()` or `engine.dispose()` reported as an unawaited coroutine. List only
    async wrappers there, and silence a deliberate call with `# noqa: ASQ209`.

    ## Fix safety
    The fix is safe: it adds the missing `await` where the call is a statement of its own,
    the value of an assignment, or the receiver of a method or subscript
    (`(await session.execute(stmt)).scalars()`, moving an `await` that stood before the
    whole chain), inside an `async def`, so the call runs as written. Calls in a lambda, a comprehension or a synchronous function, and
    coroutines that are tested, compared or iterated, are left to be fixed by hand.

    ## References
    - [SQLAlchemy: Asynchronous I/O (asyncio)](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html)
    - [SQLAlchemy: AsyncSession API](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#sqlalchemy.ext.asyncio.AsyncSession)
    - [Python: Coroutines and Tasks](https://docs.python.org/3/library/asyncio-task.html#coroutines)
    """

    code = "ASQ209"
    runtime_proof = "tests/runtime/test_asq209.py"
    observed = {
        "SQLite (aiosqlite)": "the request succeeds and its `begin()` block commits, but a second session still finds "
        "the user, and Python warns `RuntimeWarning: coroutine 'AsyncSession.delete' was never awaited`; "
        "the awaited version deletes the row.",
        "PostgreSQL (asyncpg)": "the same: no DELETE is sent, the row stays, the same RuntimeWarning; "
        "the awaited version deletes the row.",
    }
    name = "async-db-call-not-awaited"
    phase = 2
    fix = AutoFix(SAFE, "add the missing `await`")
    message = "{what}.{method}() returns a coroutine that is {fate}, so it never runs: write `await {call}(...)`"
    invalid = (
        '''\
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]


async def delete_user(session: AsyncSession, user_id: int) -> None:
    async with session.begin():
        user = await session.get(User, user_id)
        session.delete(user)  # error: ASQ209
''',
        '''\
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


async def list_users(session: AsyncSession):
    return session.execute(select(User)).scalars().all()  # error: ASQ209
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


async def delete_user(session: AsyncSession, user_id: int) -> None:
    async with session.begin():
        user = await session.get(User, user_id)
        await session.delete(user)
''',
        '''\
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


async def list_users(session: AsyncSession):
    return (await session.execute(select(User))).scalars().all()
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for call, scope in model.method_calls(ANY_COROUTINE_METHOD):
            function = scope.function_scope
            method = call_method(call)
            shown = dotted(call.func)
            if function is None or method is None or shown is None:
                continue
            receiver, name = method
            what = _async_class(model, receiver, scope)
            if what is None or name not in names.ASYNC_COROUTINE_METHODS[what]:
                continue
            fate = _unawaited_fate(model, call, function)
            if fate is None:
                continue
            found = report(call, what=what, method=name, fate=fate, call=".".join(shown))
            if _awaitable_here(model, call, function):
                found = found.with_fix(lambda source, call=call, model=model: _await(source, call, model))
            yield found


def _awaitable_here(model: SemanticModel, call: ast.Call, function: Scope) -> bool:
    """Whether `await` can be added before `call` as it stands: directly in an `async def`, as a statement, an
    assigned value or the receiver of an attribute or subscript."""
    parent = model.parents.get(call)
    return (
        isinstance(parent, (ast.Expr, ast.Assign, ast.AnnAssign, ast.Attribute, ast.Subscript))
        and parent.value is call
        and await_allowed(model, call, function)
    )


def _await(source: SourceText, call: ast.Call, model: SemanticModel) -> list[Edit]:
    """`await` before the call; `(await call)` when its result is used in a chain, whose own `await` (which
    awaited the chain's result instead: `await session.execute(stmt).scalars().all()`) goes."""
    if not isinstance(model.parents.get(call), (ast.Attribute, ast.Subscript)):
        return [source.insert(source.start(call), "await ")]
    edits = [source.insert(source.start(call), "(await "), source.insert(source.end(call), ")")]
    chain: ast.AST = call
    while isinstance(parent := model.parents.get(chain), (ast.Attribute, ast.Subscript, ast.Call)) and (
        getattr(parent, "value", None) is chain or getattr(parent, "func", None) is chain
    ):
        chain = parent
    awaited = model.parents.get(chain)
    if isinstance(awaited, ast.Await):
        edits.append(source.edit(source.start(awaited), source.start(chain), ""))
    return edits


def _async_class(model: SemanticModel, receiver: ast.AST, scope: Scope) -> str | None:
    """Which asyncio class the receiver is known to be an instance of."""
    binding = model.session_binding(receiver, scope)
    if binding is not None:
        return "AsyncSession" if binding.kind == "async" else None
    if model.connection_kind(receiver, scope) == "async":
        return "AsyncConnection"
    if model.engine_kind(receiver, scope) == "async":
        return "AsyncEngine"
    return None


def _unawaited_fate(model: SemanticModel, call: ast.Call, function: Scope) -> str | None:
    """What happens to the coroutine a call returns, when that shows it is never awaited; None when it
    is awaited, handed on, or its fate is unknown."""
    fate = _fate(model, call)
    if not isinstance(fate, ast.Name):
        return fate
    if fate.id in function.global_names:
        return None  # read elsewhere
    uses = list(_later_loads(fate, function))
    if not uses:
        return f"assigned to `{fate.id}` and never used"
    for use in uses:
        if not isinstance(_fate(model, use), str):
            return None
    return f"assigned to `{fate.id}` and used as if it were the result"


def _fate(model: SemanticModel, node: ast.expr) -> str | ast.Name | None:
    """How the value of `node` is used: a phrase when that cannot be an awaitable's use, the target
    when it is assigned to a plain name, None when it is awaited, handed on or unknown."""
    parent = model.parents.get(node)
    # A value passed through `a if c else b`, `x or y` or `(n := ...)` is used as that expression is.
    while (
        isinstance(parent, ast.IfExp) and node is not parent.test
        or isinstance(parent, ast.BoolOp) and node is parent.values[-1]
        or isinstance(parent, ast.NamedExpr)
    ):
        node, parent = parent, model.parents.get(parent)
    if isinstance(parent, ast.Expr):
        return "discarded"
    if isinstance(parent, ast.Attribute) and parent.attr not in COROUTINE_ATTRIBUTES:
        return f"used as its result (`.{parent.attr}`)"
    if isinstance(parent, ast.Subscript) and node is parent.value:
        return "subscripted as if it were the result"
    if isinstance(parent, (ast.For, ast.AsyncFor, ast.comprehension)) and node is parent.iter:
        return "iterated as if it were the result"
    if (
        isinstance(parent, TRUTH_TESTS) and node is parent.test
        or isinstance(parent, ast.BoolOp)
        or isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not)
    ):
        return "tested for truth (a coroutine is always true)"
    if isinstance(parent, (ast.Compare, ast.BinOp)):
        return "used in an expression as if it were the result"
    if isinstance(parent, ast.Assign) and len(parent.targets) == 1 and isinstance(parent.targets[0], ast.Name):
        return parent.targets[0]
    if isinstance(parent, ast.AnnAssign) and isinstance(parent.target, ast.Name):
        return parent.target
    return None


def _later_loads(target: ast.Name, function: Scope) -> Iterator[ast.Name]:
    """Reads of the assigned name after the assignment, in the function and the functions nested in it."""
    after = (target.lineno, target.col_offset)
    for node in ast.walk(function.node):
        if isinstance(node, ast.Name) and node.id == target.id and isinstance(node.ctx, ast.Load):
            if (node.lineno, node.col_offset) > after:
                yield node
