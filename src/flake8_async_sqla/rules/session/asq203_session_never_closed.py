from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.sessions import SessionBinding
from flake8_async_sqla.core.syntax import TRY_NODES, dotted
from flake8_async_sqla.core.rule import Report, Rule, register, report

# Builtins that look at an object without keeping it.
INSPECTING_BUILTINS = {"isinstance", "id", "repr", "print", "type", "hash", "bool"}
TEST_PARENTS = (ast.If, ast.While, ast.Assert, ast.IfExp)
PYTEST_FIXTURES = {"pytest.fixture", "pytest_asyncio.fixture"}


@register
class SessionNeverClosed(Rule):
    """
    ## What it does
    Finds a session opened by calling a session factory (`SessionLocal()`, an
    `async_sessionmaker` parameter, `self.maker()` where the class keeps one,
    `sessionmaker(engine)()`, or the factory a project function returns:
    `session_factory()()`) or `AsyncSession(...)` / `Session(...)` and bound to a
    name in a function, when the function neither uses it as an `async with` / `with`
    context (`async with session:`, or `async with session.begin():`, which ends the
    transaction and gives the connection back) nor closes it in a `finally:` block, and
    does not hand it on to code that may own it: returned, stored on an object or in a
    container, passed to a call (`AsyncExitStack.enter_async_context`,
    `contextlib.aclosing`, a repository, a background task) other than a project function
    that only uses it while it runs (`crud.get_user(db, user_id)`, in any module: one
    that neither closes, keeps, returns nor hands it on), registered as a callback
    (`stack.push_async_callback(session.close)`), used from a nested function, or yielded
    by a generator that leaves closing it to its consumer. A session closed only on the
    straight path (`await session.close()` as a last statement, or after a `yield`) is
    reported too. A FastAPI dependency or a `@contextmanager` / `@asynccontextmanager`
    that yields the session does not hand it on: FastAPI and `contextlib` never close
    what is yielded, so the code after the `yield` must, in a `finally:` block (a pytest
    fixture may close it after its `yield`: pytest runs that code after a failed test
    too). A session opened through a helper that returns one, or from a `scoped_session`
    registry (ASQ206), is not followed.

    ## Why is this bad?
    A session holds a pooled connection from its first query until it is closed. One that
    is never closed, or not closed when an exception (or the cancellation of a request
    whose client went away) leaves the function early, keeps its connection checked out
    until the garbage collector finds it, and the pool runs dry meanwhile (`QueuePool
    limit ... reached, connection timed out`). On PostgreSQL the connection sits `idle in
    transaction` all that time, keeping the locks its queries took. Under asyncio the
    collector cannot hand the connection back cleanly: SQLAlchemy warns (`The garbage
    collector is trying to clean up non-checked-in connection ..., which will be
    terminated`) and closes it instead.

    ## Use instead
    Open the session as an `async with` context (`with` for a synchronous `Session`), or
    close it in a `finally:` block.

    ## Known false alarms
    A close counts for every path only in a `finally:` block: a session closed in an
    `except BaseException:` handler that re-raises and again after the `try` is reported as
    not closed on every path, and a session a script never closes because its process ends
    right after is reported too. A wrapper listed under `session-factories` is taken to open
    a new session that the caller must close, so list only callables that do, not an
    accessor of a current session. A project function is taken to only borrow the session
    when none of its uses keeps, returns, closes or hands it on: one that closes it through a
    method of another object (`registry.release(session)`) on a path this cannot follow makes
    the session reported. Silence a deliberate one with `# noqa: ASQ203` on the
    line that opens it, or a folder of scripts with `per-file-ignores`.

    ## Fix safety
    No automatic fix: the block that should own the session depends on the code around it.

    ## References
    - [SQLAlchemy: Opening and Closing a Session](https://docs.sqlalchemy.org/en/20/orm/session_basics.html#opening-and-closing-a-session)
    - [SQLAlchemy: Synopsis - ORM (asyncio)](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#synopsis-orm)
    - [FastAPI: Dependencies with yield](https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/)
    """

    code = "ASQ203"
    runtime_proof = "tests/runtime/test_asq203.py"
    observed = {
        "SQLite (aiosqlite)": "on a pool of 2, each request leaves its connection checked out (`pool.checkedout()` "
        "1, then 2) and the third fails with `TimeoutError: QueuePool limit of size 2 overflow 0 reached`; the garbage "
        "collector then terminates each with `SAWarning: The garbage collector is trying to clean up non-checked-in "
        "connection`. The `async with` version checks out 0 after every request.",
        "PostgreSQL (asyncpg)": "the same, and `pg_stat_activity` shows each checked-out connection `idle in transaction` "
        "until the garbage collector terminates it; the `async with` version leaves one pooled connection `idle`.",
    }
    name = "session-never-closed"
    phase = 2
    message = "session `{session}` is {problem}: open it with `{statement}` so it is closed on every path"
    invalid = (
        '''\
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]
    active: Mapped[bool] = mapped_column(default=True)


async def count_active_users(factory: async_sessionmaker) -> int:
    session = factory()  # error: ASQ203
    users = await session.scalars(select(User).where(User.active))
    return len(users.all())
''',
        '''\
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_pre_ping=True)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


async def get_session():
    session = SessionLocal()  # error: ASQ203
    yield session
    await session.close()
''',
    )
    valid = (
        '''\
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]
    active: Mapped[bool] = mapped_column(default=True)


async def count_active_users(factory: async_sessionmaker) -> int:
    async with factory() as session:
        users = await session.scalars(select(User).where(User.active))
        return len(users.all())
''',
        '''\
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_pre_ping=True)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


async def get_session():
    session = SessionLocal()
    try:
        yield session
    finally:
        await session.close()
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for scope in model.scopes:
            if scope.kind != "function":
                continue
            names_of: dict[int, tuple[SessionBinding, set[str]]] = {}
            for name, binding in model.sessions(scope).items():
                names_of.setdefault(id(binding), (binding, set()))[1].add(name)
            for binding, aliases in names_of.values():
                opener = _opening_call(model, binding, scope)
                if opener is None or aliases & scope.nonlocal_names:
                    continue
                problem = _problem(model, scope, aliases)
                if problem is not None:
                    shown = dotted(opener.func)
                    call = ".".join(shown) + ("()" if not (opener.args or opener.keywords) else "(...)") if shown else "..."
                    context = "with" if binding.kind == "sync" or not scope.is_async else "async with"
                    yield report(binding.node, session=binding.name, problem=problem, statement=f"{context} {call} as {binding.name}:")


def _opening_call(model: SemanticModel, binding: SessionBinding, scope: Scope) -> ast.Call | None:
    """The factory or session-class call a function assigned the session from, if that is how it was opened."""
    if binding.origin != "created" or not isinstance(binding.node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)):
        return None
    value = binding.node.value
    return value if isinstance(value, ast.Call) and model.opens_session(value, scope) else None


def _problem(model: SemanticModel, scope: Scope, aliases: set[str]) -> str | None:
    """"never closed" / "not closed on every path", or None when the session is managed, closed in a
    `finally:` block, or handed on (or it cannot be told)."""
    closes: list[ast.AST] = []
    yielded = False
    for statement in scope.node.body:  # type: ignore[attr-defined]
        for node in ast.walk(statement):
            if not (isinstance(node, ast.Name) and node.id in aliases and isinstance(node.ctx, ast.Load)):
                continue
            if model.scope_of.get(node) is not scope:
                return None  # a nested function or lambda uses it, and may close or keep it
            use = _use(model, node, aliases)
            if use in ("managed", "handed on"):
                return None
            if use == "closed":
                closes.append(node)
            yielded = yielded or use == "yielded"
    if yielded and not _framework_generator(model, scope) and (not closes or _pytest_fixture(model, scope)):
        return None  # whoever iterates the generator receives the session, and may close it
    if any(_in_finally(model, close, scope) for close in closes):
        return None
    return "not closed on every path" if closes else "never closed"


def _use(model: SemanticModel, node: ast.Name, aliases: set[str]) -> str:
    """What one read of the session does with it: "closed", "managed" (an `async with` context),
    "yielded", "handed on", or "used" (a method call, a test)."""
    parent = model.parents.get(node)
    grandparent = model.parents.get(parent) if parent is not None else None
    if isinstance(parent, ast.Attribute):
        if parent.attr in names.SESSION_CLOSE_METHODS:
            called = isinstance(grandparent, ast.Call) and grandparent.func is parent
            return "closed" if called else "handed on"  # `stack.push_async_callback(session.close)`
        if parent.attr == "begin" and isinstance(grandparent, ast.Call) and isinstance(model.parents.get(grandparent), ast.withitem):
            return "managed"  # the block ends the transaction and gives the connection back
        return "used"
    if isinstance(parent, ast.withitem):
        return "managed"
    if isinstance(parent, ast.Compare) or isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not):
        return "used"
    if isinstance(parent, TEST_PARENTS) and parent.test is node:
        return "used"
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id in INSPECTING_BUILTINS:
        return "used"
    if isinstance(parent, ast.Yield):
        return "yielded"
    if isinstance(parent, (ast.Assign, ast.AnnAssign)) and all(
        isinstance(target, ast.Name) and target.id in aliases for target in _targets(parent)
    ):
        return "used"  # another name for the same session, followed as well
    call = model.parents.get(parent) if isinstance(parent, ast.keyword) else parent
    if isinstance(call, ast.Call) and call.func is not node and _borrows(model, call, node):
        return "used"
    return "handed on"


def _borrows(model: SemanticModel, call: ast.Call, argument: ast.Name) -> bool:
    """Whether a project function only uses the session passed to it while it runs (`crud.get_user(db, id)`): it
    neither closes, keeps, returns nor hands it to code that might, so closing it stays this function's job."""
    summary = model.call_summary(call, model.scope_of[call])
    return summary is not None and summary.parameter_for(call, argument) in summary.borrowed_parameters


def _targets(assign: ast.Assign | ast.AnnAssign) -> list[ast.expr]:
    return assign.targets if isinstance(assign, ast.Assign) else [assign.target]


def _framework_generator(model: SemanticModel, scope: Scope) -> bool:
    """A generator whose yielded value nobody closes: a FastAPI dependency or a `@contextmanager`."""
    return (
        model.is_dependency(scope)
        or model.options.matches(model.options.session_dependencies, scope.qualname)
        or any(q in names.CONTEXT_MANAGER_DECORATORS for q in model.decorator_qualnames(scope))
    )


def _pytest_fixture(model: SemanticModel, scope: Scope) -> bool:
    """pytest runs a fixture's code after `yield` even when the test fails."""
    return any(q in PYTEST_FIXTURES for q in model.decorator_qualnames(scope))


def _in_finally(model: SemanticModel, node: ast.AST, scope: Scope) -> bool:
    child = node
    for ancestor in model.ancestors(node):
        if ancestor is scope.node:
            return False
        if isinstance(ancestor, TRY_NODES) and child in ancestor.finalbody:
            return True
        child = ancestor
    return False
