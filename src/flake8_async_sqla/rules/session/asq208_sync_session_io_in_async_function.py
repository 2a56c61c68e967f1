from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.effects import blocking_callee, callee_summaries, held_arguments
from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.sessions import SessionBinding
from flake8_async_sqla.core.syntax import call_method, dotted
from flake8_async_sqla.core.rule import Report, Rule, register, report


@register
class SyncSessionIoInAsyncFunction(Rule):
    """
    ## What it does
    Finds database I/O on a synchronous `Session` made inside an `async def`: a call of
    one of its I/O methods (`execute`, `scalars`, `scalar`, `get`, `query`, `exec`,
    `merge`, `delete`, `refresh`, `flush`, `commit`, `rollback`, `close`, ..., and a
    `with session.begin():` block, which commits as it ends), and, the form most
    applications have, a plain call that hands the session to code that does the I/O:

    - a synchronous function of the project that uses the parameter receiving the
      session for I/O (`crud.get_user(db, user_id)`), or one the project does not
      define (a library's `paginate(db, query)`);
    - a method of a repository built on the session (`repo = UserRepo(db)`, then
      `repo.by_email(email)`; `UserRepo(db).by_email(email)`; a service whose property or
      `cached_property` returns `UserRepo(self.db)`), in any module, inherited from a base
      class too, when the method is synchronous and its constructor keeps the session in
      the attribute the method does I/O through;
    - a synchronous function nested in the `async def` that uses the session, called
      directly.

    It also finds a plain call of a synchronous function or method of the project, in any
    module, that waits on the database by itself, however many calls deep (recursion
    included): one that opens its own sync session (`with SessionLocal() as session:`),
    uses a module-level sync session or `scoped_session` (`Trade.session`), connects
    through a sync engine or connection (`engine.connect()`, `conn.execute(...)`), or calls
    `inspect(engine)`. Methods are followed where the object's class is known: built here
    (`Service()`), annotated (`service: Service = Depends()`), `self`, or `self.attr` that
    the class only ever sets to one class.

    The session must be known to be synchronous: a parameter annotated `Session` (also
    SQLModel's, and through an `Annotated` alias), a dependency (`Depends(get_db)`)
    whose provider yields a `SessionLocal()` of a `sessionmaker`, a session opened from
    a `sessionmaker` or `Session(engine)` (also through the project's factories and
    context managers), `object_session(obj)`, `self.db` of a class that holds one, a
    module-level session or `scoped_session` registry of any module of the project, or a
    session a middleware keeps on `request.state` or a worker's startup in `ctx["db"]`. A
    session whose methods the code awaits is an `AsyncSession`, whatever its annotation
    says.

    Not reported: code handed to a worker thread (a lambda or nested function passed to
    `run_in_threadpool`, `asyncio.to_thread`, `anyio.to_thread.run_sync`,
    `loop.run_in_executor` or `run_sync`, and a `query()` built for one), methods that
    do no I/O (`add`, `add_all`, `expunge`, `expire`, `is_active`, ...), handing the
    session to a constructor (`UserRepo(db)`), to an async function, to an awaited call,
    or to the standard library, FastAPI, Starlette, Pydantic or SQLAlchemy, methods of
    objects whose class is not known here, a helper that hands out a session (`with
    get_session() as db:` is judged by what is done with `db`), a call a helper makes only
    when its caller asks (`if blocking: return load()` with `blocking: bool = False`), the
    app's `lifespan` and startup handlers,
    which run before any request is served, `async def` functions that the whole project
    calls only from those (seeding sample data at startup), and test functions (`test_*`). A plain `def` route handler or dependency is fine: FastAPI
    runs it in a worker thread.

    ## Why is this bad?
    A synchronous `Session` waits for the database on the calling thread. Inside
    `async def` that thread runs the event loop, so while one query waits, every other
    request the worker serves waits too: latency climbs with each slow query, and a
    lock wait or a saturated pool (`QueuePool limit ... reached`) stalls the whole
    process, health checks included.

    ## Use instead
    Move the code to an `AsyncSession` from an `async_sessionmaker` and `await` its
    methods. Until then, make the route handler or dependency a plain `def` (FastAPI
    runs it in a worker thread), or hand the sync code to `run_in_threadpool`.

    ## Known false alarms
    A session handed to a function the project does not define is assumed to be queried
    there unless the callee belongs to the standard library, FastAPI, Starlette, Pydantic,
    SQLAlchemy, anyio or structlog: `sentry_sdk.set_context("db", db)`, or a third-party
    hook that only stores the session, is reported. So is blocking I/O in an `async def`
    that runs alone on its loop (a script's `asyncio.run(main())`), where nothing else
    waits. A helper that queries only when its cache misses (a settings read kept per tenant)
    is reported, as is a `rollback()` through a `scoped_session` whose session has nothing to
    roll back yet. Code reached from the lifespan or a startup handler is exempt only when every call
    of it that the project makes can be seen to run at startup: a function also passed as a
    callback, or called from a module-level statement, is reported. Anything read as
    `<x>.state.db` (or `ctx["db"]` on a parameter) is taken for the session the project
    keeps under that name elsewhere. Silence a deliberate one with `# noqa: ASQ208`, or a
    folder of scripts with `per-file-ignores`.

    ## Fix safety
    No automatic fix: the session's kind comes from the session factory and the
    dependency, and every helper it reaches must change with it.

    ## References
    - [SQLAlchemy: Asynchronous I/O (asyncio)](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html)
    - [FastAPI: Concurrency and async / await](https://fastapi.tiangolo.com/async/#very-technical-details)
    - [FastAPI: SQL (Relational) Databases](https://fastapi.tiangolo.com/tutorial/sql-databases/)
    - [Starlette: Thread pool](https://www.starlette.io/threadpool/)
    """

    code = "ASQ208"
    name = "sync-session-io-in-async-function"
    phase = 2
    message = (
        "{what} runs blocking database I/O on {target} inside `async def {function}`, stalling "
        "the event loop: switch to an AsyncSession and await it, or make `{function}` a plain `def`"
    )
    invalid = (
        '''\
from typing import Annotated

from fastapi import Depends, FastAPI
from sqlalchemy import select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from app.db import SessionLocal  # sessionmaker(engine, expire_on_commit=False)

app = FastAPI()


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(unique=True)


def get_db():
    with SessionLocal() as db:
        yield db


@app.get("/users/{user_id}")
async def read_user(user_id: int, db: Annotated[Session, Depends(get_db)]):
    return db.scalar(select(User).where(User.id == user_id))  # error: ASQ208
''',
        '''\
from fastapi import Depends, FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import get_db  # yields a Session(engine) on create_engine("postgresql+psycopg://app@db/app")

app = FastAPI()


def count_rows(db: Session, table: str) -> int:
    return db.execute(select(1)).scalar_one()


@app.get("/stats")
async def stats(db: Session = Depends(get_db)):
    return {"users": count_rows(db, "users")}  # error: ASQ208
''',
    )
    valid = (
        '''\
from typing import Annotated

from fastapi import Depends, FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.db import SessionLocal  # async_sessionmaker(engine, expire_on_commit=False)

app = FastAPI()


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(unique=True)


async def get_db():
    async with SessionLocal() as db:
        yield db


@app.get("/users/{user_id}")
async def read_user(user_id: int, db: Annotated[AsyncSession, Depends(get_db)]):
    return await db.scalar(select(User).where(User.id == user_id))
''',
        '''\
from fastapi import Depends, FastAPI
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import get_db  # yields a Session(engine) on create_engine("postgresql+psycopg://app@db/app")

app = FastAPI()


def count_rows(db: Session, table: str) -> int:
    return db.execute(select(1)).scalar_one()


@app.get("/stats/async")
async def stats_async(db: Session = Depends(get_db)):
    return {"users": await run_in_threadpool(count_rows, db, "users")}
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for scope in model.scopes:
            if scope.kind != "function" or not scope.is_async or model.is_lifespan(scope) or model.is_test(scope):
                continue
            startup_only: bool | None = None  # asked of the whole project, once, when there is something to report
            for call in scope.calls:
                target = _blocking_target(model, call, scope)
                if target is None:
                    continue
                if startup_only is None:
                    # The project's calls are known for module-level functions only; a route handler serves requests.
                    startup_only = scope.parent is model.module_scope and not model.is_route_handler(scope) and model.runs_only_at_startup(scope)
                if not startup_only:  # before the app serves a request, nothing waits on the loop
                    yield report(call, what=f"`{_shown(call)}()`", target=target, function=scope.name)


def _blocking_target(model: SemanticModel, call: ast.Call, scope: Scope) -> str | None:
    """What a call in an `async def` waits on, shown for the message ("sync session `db`"); None when it does no
    blocking database I/O."""
    if isinstance(model.parents.get(call), ast.Await):
        return None  # an async helper: its own body is checked where it is defined
    session = blocking_session(model, call, scope) if "sync" in model.session_kinds() else None
    if session is not None:
        return f"sync session `{session}`"
    for summary in callee_summaries(model, call, scope):
        found = blocking_callee(summary)
        if found is not None:
            return found
    return None


def blocking_session(model: SemanticModel, call: ast.Call, scope: Scope) -> str | None:
    """The sync session of this function a call in an `async def` does I/O on, shown as written; None when it
    does none."""
    found = model.session_calls(scope).get(call)
    if found is not None:
        binding, method = found
        if binding.kind == "sync" and _is_io_method(model, call, method, scope):
            return _shown_session(call.func.value, binding)  # type: ignore[attr-defined]
        return None
    for argument in (*call.args, *(item.value for item in call.keywords)):
        binding = model.session_binding(argument, scope)
        if binding is not None and binding.kind == "sync" and _helper_uses(model, call, argument, scope):
            return _shown_session(argument, binding)
    for argument, where in held_arguments(model, call, scope):
        binding = model.session_binding(argument, where)
        if binding is not None and binding.kind == "sync":
            return _shown_session(argument, binding)
    target = model.called_function(call, scope)
    if target is None or target.is_async or target.klass is not None:
        return None
    return _closure_session(model, target, scope)


def _is_io_method(model: SemanticModel, call: ast.Call, method: str, scope: Scope) -> bool:
    if method == "begin":
        return isinstance(model.parents.get(call), ast.withitem)  # the block commits as it ends
    if method == "query" and _offloaded(model, call, scope):
        return False  # `run_in_threadpool(db.query(User).all)`: built here, run in a thread
    return method in names.SYNC_SESSION_IO_METHODS


def _offloaded(model: SemanticModel, node: ast.AST, scope: Scope) -> bool:
    """Whether `node` sits in the arguments of a call that runs them in a worker thread."""
    for ancestor in model.ancestors(node):
        if ancestor is scope.node:
            return False
        if isinstance(ancestor, ast.Call):
            method = call_method(ancestor)
            if model.qualname(ancestor.func) in names.THREAD_OFFLOADERS or method is not None and method[1] in names.THREAD_OFFLOAD_METHODS:
                return True
    return False


def _helper_uses(model: SemanticModel, call: ast.Call, argument: ast.expr, scope: Scope) -> bool:
    """Whether a call handed the session in `argument` does I/O with it."""
    summary = model.call_summary(call, scope)
    if summary is None:
        return model.may_use_session(call, scope)
    return not summary.is_async and summary.parameter_for(call, argument) in summary.session_io_names


def _closure_session(model: SemanticModel, function: Scope, scope: Scope) -> str | None:
    """For `load()` calling a synchronous `function` nested in this one that does I/O on a sync session
    of the functions around it: that session."""
    if function.parent is not scope:
        return None
    own = model.sessions(function)
    for inner in function.calls:
        found = model.session_method_call(inner, function)
        if found is None:
            continue
        binding, method = found
        if binding.kind == "sync" and own.get(binding.name) is not binding and _is_io_method(model, inner, method, function):
            return binding.name
    return None


def _shown_session(node: ast.AST, binding: SessionBinding) -> str:
    return ".".join(dotted(node) or [binding.name])


def _shown(call: ast.Call) -> str:
    """The callee as written: `db.query`, `crud.get_user`, `UserRepo(...).by_email`."""
    func = call.func
    parts = dotted(func)
    if parts is not None:
        return ".".join(parts)
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call):
        return f"{'.'.join(dotted(func.value.func) or ['...'])}(...).{func.attr}"
    return func.attr if isinstance(func, ast.Attribute) else "..."
