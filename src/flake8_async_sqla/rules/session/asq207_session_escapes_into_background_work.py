from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.sessions import SessionBinding
from flake8_async_sqla.core.syntax import call_method, dotted
from flake8_async_sqla.core.rule import Report, Rule, register, report

QUEUE_PUTS = {"put", "put_nowait"}
CONTAINER_STORES = {"append", "add", "appendleft", "extend", "insert"}
CALLS_OF_INTEREST = {
    "add_task", names.BACKGROUND_TASK, "create_task", "ensure_future", "run_in_executor", "submit",
    *QUEUE_PUTS, *CONTAINER_STORES,
}
# Methods that wait for a task or future they are called on.
WAITING_METHODS = {"result", "exception"}
# What can be read off a session and still carries it (its bound I/O methods, the sync session).
CARRYING_ATTRIBUTES = names.SESSION_IO_METHODS | {"sync_session"}


@register
class SessionEscapesIntoBackgroundWork(Rule):
    """
    ## What it does
    Finds a session whose lifetime is a request's (a route handler's or dependency's
    session parameter, a dependency-provided session, also through an `Annotated` alias,
    a session parameter of a function they call, `self.session` of an object built from
    one) or an `async with` block's, handed to work that runs later:
    `background_tasks.add_task(...)` (a parameter annotated `BackgroundTasks`, or
    `self.x` set from one), `BackgroundTask(...)`, `asyncio.create_task` /
    `ensure_future` / `loop.create_task` and `loop.run_in_executor` whose task is not
    awaited in the same function, `executor.submit(...)` on a `ThreadPoolExecutor` whose
    future is not waited for, or a `put` onto a module-level queue (or an object holding the
    session stored in a module-level container; a bare session stored there is ASQ202's).
    The session counts as handed on when it is passed itself, as a bound method
    (`session.execute`, `repo.refresh`, `self.rebuild` using `self.session`), inside an
    object built from it (`Repo(session)`, `partial(f, session)`), or used by a nested
    function or lambda that is passed. Values read through it (`session.info[...]`,
    `await session.scalar(...)`) are not the session.

    Not reported: background work given the session factory, or opening its own session
    from it; a session the function opened without `async with` and hands over (the task
    owns it then); a task awaited, gathered or returned in the same function; a
    `TaskGroup`'s tasks, which the group awaits. `await run_in_threadpool(fn, session)`,
    `await asyncio.to_thread(fn, session)` and an awaited `run_in_executor` finish within
    the request, so the session's lifetime is not the problem there (a session used from
    another thread is ASQ208's).

    ## Why is this bad?
    The work runs after the code that owns the session has finished with it. An `async
    with` block closes its session when it exits. A `yield` dependency's exit code closes
    the request's session; when that happens relative to background tasks has changed
    with FastAPI versions:

    - before 0.106.0, the exit code ran after the response was sent and after the
      background tasks, so they could use the request's session;
    - from 0.106.0 to 0.117.x, the exit code ran after the route handler returned, before
      the response was sent: background tasks got a closed session;
    - from 0.118.0, the exit code of a dependency with the default `scope="request"`
      runs after the response is sent and after `BackgroundTasks` finish, so they can use
      the request's session again; from 0.121.0, `Depends(..., scope="function")` runs
      it right after the route handler, so background tasks get a closed session.

    A closed session does not fail loudly: SQLAlchemy 2.x's `close()` only resets a
    session (`close_resets_only`, the default), so the task's first query silently
    begins a new transaction on a fresh connection, and nothing closes the session
    again. That connection stays checked out (on PostgreSQL `idle in transaction`)
    until the garbage collector terminates it with a warning, and the objects the
    request loaded are detached from the session.

    The rule holds on every version, because work that outlives the request must own its
    session: code that works only because of the dependency's current ordering breaks
    when its scope or the FastAPI version changes, and a task from `create_task` or an
    executor is not waited for by anything, so it races the exit code. The session is
    also not safe for concurrent use: the request may still be using it when the task
    starts.

    ## Use instead
    Hand the background work the session factory (or nothing, when it can import it) and
    the ids it needs, and let it open its own session with `async with factory() as
    session:`.

    ## Known false alarms
    Whether a task is waited for is decided in the function that spawns it: a helper that
    creates the task (`holder["t"] = asyncio.create_task(work(session))`) for its caller to
    await is reported, and a task added to a module-level set is reported as kept at module
    level even when the same function gathers the set right after. Code that relies on
    FastAPI 0.118+ running a request-scoped dependency's exit code after `BackgroundTasks`
    is reported on purpose (see above). Silence a deliberate one with `# noqa: ASQ207`.

    ## Fix safety
    No automatic fix.

    ## References
    - [FastAPI: Dependencies with yield and BackgroundTasks](https://fastapi.tiangolo.com/advanced/advanced-dependencies/#dependencies-with-yield-httpexception-except-and-background-tasks)
    - [FastAPI: Background Tasks](https://fastapi.tiangolo.com/tutorial/background-tasks/)
    - [FastAPI release notes: 0.106.0](https://fastapi.tiangolo.com/release-notes/#01060)
    - [FastAPI release notes: 0.118.0](https://fastapi.tiangolo.com/release-notes/#01180)
    - [SQLAlchemy: Using AsyncSession with Concurrent Tasks](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#using-asyncsession-with-concurrent-tasks)
    """

    code = "ASQ207"
    runtime_proof = "tests/runtime/test_asq207.py"
    observed = {
        "SQLite (aiosqlite)": "on FastAPI 0.165 with the default `scope=\"request\"` the task runs before the "
        "dependency's exit code and sends the receipt, and no connection is left checked out; with "
        "`scope=\"function\"` the task also sends it, through the closed session's fresh connection, which stays "
        "checked out after the request (`pool.checkedout()` 1) until the garbage collector terminates it with "
        "`SAWarning: The garbage collector is trying to clean up non-checked-in connection`. The version that opens "
        "its own session leaves none checked out.",
        "PostgreSQL (asyncpg)": "the same, and with `scope=\"function\"` `pg_stat_activity` shows the leaked "
        "connection `idle in transaction` after the request; otherwise the one pooled connection is `idle`.",
    }
    name = "session-escapes-into-background-work"
    phase = 2
    message = "{session} is handed to {target}, which can use it after it is closed: hand over the session factory and open a session in the background work"
    invalid = (
        '''\
import os
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import BackgroundTasks, Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_email: Mapped[str]


engine = create_async_engine(os.environ["DATABASE_URL"], pool_pre_ping=True)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
outbox: list[tuple[str, str]] = []  # what the mail service delivers


@asynccontextmanager
async def lifespan(app: FastAPI):
    try:
        yield
    finally:
        await engine.dispose()


app = FastAPI(lifespan=lifespan)


async def get_session():
    async with SessionLocal() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def send_receipt(session: AsyncSession, order_id: int) -> None:
    order = await session.get(Order, order_id)
    outbox.append((order.customer_email, f"Receipt for order {order.id}"))


@app.post("/orders/{order_id}/receipt")
async def email_receipt(order_id: int, background_tasks: BackgroundTasks, session: SessionDep):
    background_tasks.add_task(send_receipt, session, order_id)  # error: ASQ207
    return {"queued": True}
''',
    )
    valid = (
        '''\
import os
from contextlib import asynccontextmanager

from fastapi import BackgroundTasks, FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_email: Mapped[str]


engine = create_async_engine(os.environ["DATABASE_URL"], pool_pre_ping=True)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
outbox: list[tuple[str, str]] = []  # what the mail service delivers


@asynccontextmanager
async def lifespan(app: FastAPI):
    try:
        yield
    finally:
        await engine.dispose()


app = FastAPI(lifespan=lifespan)


async def send_receipt(order_id: int) -> None:
    async with SessionLocal() as session:
        order = await session.get(Order, order_id)
        outbox.append((order.customer_email, f"Receipt for order {order.id}"))


@app.post("/orders/{order_id}/receipt")
async def email_receipt(order_id: int, background_tasks: BackgroundTasks):
    background_tasks.add_task(send_receipt, order_id)
    return {"queued": True}
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for call, scope, function in model.function_calls():
            work = _background_work(model, call, scope, function)
            if work is None:
                continue
            target, handed, after_request = work
            for expr in handed:
                binding = _carried_session(model, expr, scope)
                described = _short_lived(model, binding, call, function, after_request) if binding else None
                if described is not None:
                    yield report(call, session=described, target=target)
                    break


def _background_work(
    model: SemanticModel, call: ast.Call, scope: Scope, function: Scope
) -> tuple[str, list[ast.expr], bool] | None:
    """For a call that hands work to run later: how to show it, the expressions it hands over, and
    whether the work is FastAPI's background work (which only exists within a request)."""
    method = call_method(call)
    qualname = model.qualname(call.func)
    called = method[1] if method is not None else (qualname or "").rpartition(".")[2]
    if called not in CALLS_OF_INTEREST:
        return None  # most calls: decided without looking any further
    arguments = [*call.args, *(kw.value for kw in call.keywords)]
    parts = dotted(call.func)
    if parts is not None and model.binds_locally(parts[0], scope):
        qualname = None  # a local name shadows the import
    if names.fastapi_api(qualname) == names.BACKGROUND_TASK:
        return "`BackgroundTask()`", arguments, True
    detached = None
    if qualname in names.TASK_SPAWNERS:
        detached = f"`{qualname}()` (not awaited here)", arguments
    elif method is not None:
        receiver, attr = method
        shown = ".".join(parts) if parts is not None else attr
        if attr == "add_task" and _is_background_tasks(model, receiver, scope):
            return f"`{shown}()`", arguments, True
        if attr in ("create_task", "run_in_executor") and model.is_event_loop(receiver, scope):
            detached = f"`{shown}()` (not awaited here)", arguments[1:] if attr == "run_in_executor" else arguments
        elif attr == "submit" and _executor_waits(model, receiver, scope, call) is False:
            detached = f"`{shown}()` (its future is not waited for)", arguments
        elif attr in QUEUE_PUTS | CONTAINER_STORES and _module_level(model, receiver, scope):
            if attr in CONTAINER_STORES and any(model.session_binding(arg, scope) for arg in arguments):
                return None  # a bare session stored globally is ASQ202's finding
            return f"`{shown}()`, kept at module level", arguments, False
    if detached is None or _waited_for(model, call, function):
        return None
    return (*detached, False)


def _is_background_tasks(model: SemanticModel, receiver: ast.AST, scope: Scope) -> bool:
    """A parameter annotated `BackgroundTasks`, a local `BackgroundTasks()`, or `self.x` that a method
    of the class set from one of those."""
    if isinstance(receiver, ast.Name):
        current: Scope | None = scope
        while current is not None and current.kind in ("function", "lambda"):
            param = _parameter(current, receiver.id)
            if param is not None:
                return param.annotation is not None and names.fastapi_api(model.qualname(param.annotation)) == names.BACKGROUND_TASKS
            values = _values_bound(current, receiver.id)
            if values:
                return all(isinstance(v, ast.Call) and names.fastapi_api(model.qualname(v.func)) == names.BACKGROUND_TASKS for v in values)
            current = current.parent
        return False
    function = scope.function_scope
    klass = function.klass if function is not None else None
    if not (isinstance(receiver, ast.Attribute) and dotted(receiver.value) == ["self"] and klass is not None):
        return False
    for method in klass.children:
        for assign in method.assigns if method.kind == "function" else ():
            if (
                isinstance(assign, ast.Assign)
                and isinstance(assign.value, ast.Name)  # `self.tasks = background_tasks`, never another attribute
                and any(dotted(t) == ["self", receiver.attr] for t in assign.targets)
                and _is_background_tasks(model, assign.value, method)
            ):
                return True
    return False


def _executor_waits(model: SemanticModel, receiver: ast.AST, scope: Scope, call: ast.Call) -> bool | None:
    """For `executor.submit(...)`: True when the call sits in the `with ThreadPoolExecutor() as executor:`
    block that waits for its futures, False for another executor, None when the receiver is not one."""
    if not isinstance(receiver, ast.Name):
        return None
    current: Scope | None = scope
    while current is not None:
        if current.kind == "class":
            current = current.parent
            continue
        if _parameter(current, receiver.id) is not None:
            return None
        for with_node in current.withs:
            for item in with_node.items:  # type: ignore[attr-defined]
                if isinstance(item.optional_vars, ast.Name) and item.optional_vars.id == receiver.id and _builds_executor(model, item.context_expr):
                    return any(a is with_node for a in model.ancestors(call))
        values = _values_bound(current, receiver.id)
        if values:
            return False if all(_builds_executor(model, v) for v in values) else None
        current = current.parent
    return None


def _builds_executor(model: SemanticModel, value: ast.AST | None) -> bool:
    return isinstance(value, ast.Call) and model.qualname(value.func) in names.EXECUTOR_CLASSES


def _module_level(model: SemanticModel, receiver: ast.AST, scope: Scope) -> bool:
    """A name of this module (or imported into it) that no function around `scope` rebinds."""
    return (
        isinstance(receiver, ast.Name)
        and (receiver.id in model.local_defs or receiver.id in model.imports)
        and not model.binds_locally(receiver.id, scope)
    )


def _waited_for(model: SemanticModel, call: ast.Call, function: Scope) -> bool:
    """Whether the task or future a call returns is awaited, waited for or handed back in `function`:
    directly (`await create_task(...)`, `gather(create_task(...))`, `return create_task(...)`), or
    through the name, list or set it is kept in."""
    node: ast.AST = call
    for ancestor in model.ancestors(call):
        if _waits(model, ancestor, node):
            return True
        if isinstance(ancestor, ast.stmt):
            break
        node = ancestor
    keeper = _kept_in(node, model.parents.get(node))
    if keeper is None:
        return False
    after = (call.lineno, call.col_offset)
    for use in ast.walk(function.node):
        if isinstance(use, ast.Name) and use.id == keeper and isinstance(use.ctx, ast.Load) and (use.lineno, use.col_offset) > after:
            child: ast.AST = use
            for ancestor in model.ancestors(use):
                if _waits(model, ancestor, child):
                    return True
                if isinstance(ancestor, ast.stmt):
                    break
                child = ancestor
    return False


def _waits(model: SemanticModel, node: ast.AST, child: ast.AST) -> bool:
    """Whether `node` waits for `child` (or hands it to code that may): an await, a return or yield, a
    waiting call (`gather`, `wait`, `wait_for`), `.result()`, or a loop over it."""
    if isinstance(node, (ast.Await, ast.Return, ast.Yield, ast.YieldFrom)):
        return True
    if isinstance(node, ast.Call) and model.qualname(node.func) in names.TASK_WAITERS:
        return True
    if isinstance(node, ast.Attribute) and node.attr in WAITING_METHODS:
        return True
    return isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)) and node.iter is child


def _kept_in(value: ast.AST, statement: ast.AST | None) -> str | None:
    """The local name a spawned task is kept in: `task = ...`, `tasks = [... for ...]`, `tasks.append(...)`."""
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
        return statement.targets[0].id
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return statement.target.id
    if isinstance(statement, ast.Expr) and isinstance(value, ast.Call):
        method = call_method(value)
        if method is not None and method[1] in CONTAINER_STORES and isinstance(method[0], ast.Name):
            return method[0].id
    return None


def _carried_session(model: SemanticModel, expr: ast.AST, scope: Scope) -> SessionBinding | None:
    """The session an expression hands on: the session itself, a bound method of it or of an object
    built from it, an object or `partial` built from it, or a nested function or lambda using it. A
    value read through the session (`session.info`, `await session.scalar(...)`) is not the session."""
    pending = [expr]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Await):
            continue  # an awaited result is a value, not the session
        if isinstance(node, ast.Name):
            binding = model.session_reached_by(node, scope)
            if binding is not None:
                return binding
            continue
        if isinstance(node, ast.Attribute):
            binding = model.session_binding(node, scope)
            if binding is not None:
                return binding
            owner = model.session_binding(node.value, scope)
            if owner is not None:
                if node.attr in CARRYING_ATTRIBUTES:
                    return owner
                continue
            if dotted(node.value) == ["self"]:
                binding = model.session_reached_by(node, scope)  # `self.repo`, `self.rebuild`
                if binding is not None:
                    return binding
                continue
            pending.append(node.value)
            continue
        pending.extend(ast.iter_child_nodes(node))
    return None


def _short_lived(
    model: SemanticModel, binding: SessionBinding, call: ast.Call, function: Scope, after_request: bool
) -> str | None:
    """How to describe a session whose owner is done with it before the work may run; None for one
    this function owns and may hand over, or one whose lifetime cannot be told."""
    if binding.origin in ("created", "closure") and isinstance(binding.node, ast.withitem):
        block = model.parents.get(binding.node)
        if any(ancestor is block for ancestor in model.ancestors(call)):
            keyword = "async with" if isinstance(block, ast.AsyncWith) else "with"
            return f"session `{binding.name}` of an `{keyword}` block"
        return None
    per_request = model.per_request_functions()
    if binding.origin == "dependency":
        return f"request session `{binding.name}`"
    if binding.origin == "param" and (function in per_request or after_request):
        if model.is_route_handler(function) or model.is_dependency(function):
            return f"request session `{binding.name}`"
        return f"session `{binding.name}` borrowed from the caller"
    if binding.origin == "attribute" and function.klass is not None:
        init = next((m for m in function.klass.children if m.name == "__init__" and m.kind == "function"), None)
        if init is not None and init in per_request:
            return f"request session `self.{binding.name}`"
        if after_request:
            return f"session `self.{binding.name}` borrowed from the caller"
    return None


def _parameter(scope: Scope, name: str) -> ast.arg | None:
    if scope.kind not in ("function", "lambda"):
        return None
    args = scope.node.args  # type: ignore[attr-defined]
    return next((arg for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs] if arg.arg == name), None)


def _values_bound(scope: Scope, name: str) -> list[ast.expr]:
    """The values a scope assigns to a plain name."""
    return [
        assign.value
        for assign in scope.assigns
        if isinstance(assign, (ast.Assign, ast.AnnAssign))
        and assign.value is not None
        and any(isinstance(t, ast.Name) and t.id == name for t in (assign.targets if isinstance(assign, ast.Assign) else [assign.target]))
    ]
