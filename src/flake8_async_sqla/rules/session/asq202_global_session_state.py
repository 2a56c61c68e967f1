from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.syntax import all_args, dotted
from flake8_async_sqla.core.roles import SERVING_ROLES
from flake8_async_sqla.core.rule import Report, Rule, register, report

CONTAINER_STORES = {"append", "add", "setdefault", "insert", "extend", "update"}
CONTAINER_TYPES = {"dict", "list", "set", "defaultdict", "OrderedDict", "deque", "WeakValueDictionary", "WeakSet"}
CONTAINER_DISPLAYS = (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)
REQUEST_CLASSES = {"Request", "HTTPConnection"}


@register
class GlobalSessionState(Rule):
    """
    ## What it does
    Finds a session object stored where it outlives one unit of work: assigned at
    module level, through a `global` statement, as a class attribute, on `app.state`,
    `websocket.state` or another `.state` that outlives a request, or into a module-level
    object or container (`sessions.append(session)` where `sessions` is a list, dict or
    set). A module-level session *factory* (`async_sessionmaker(...)`) is fine, and so
    are a repository that keeps the session it was given on `self`, a `ContextVar`, a
    script's session under `if __name__ == "__main__":`, a session kept on
    `request.state` (it lives exactly as long as its request: the plan lists such a
    middleware as a session source to replace with a yield dependency), and a method
    of a module-level object that takes the session (`await user_dao.update(session,
    ...)`).

    ## Why is this bad?
    A session is a unit of work: it holds a connection, a transaction and an identity
    map. Kept globally it is shared by every request and every task at once (see
    ASQ201), its identity map grows and serves stale rows, and one failed flush leaves
    it unusable (`PendingRollbackError`) for everyone until the process restarts.

    ## Use instead
    Keep only the session factory global; open one session per request in a `yield`
    dependency and pass it down explicitly.

    ## Known false alarms
    A module-level object whose `append`/`add`/`update` method is not awaited and that
    its module builds with a container constructor of its own name is taken for a
    container only when the constructor is `dict`, `list`, `set`, `defaultdict`,
    `OrderedDict`, `deque`, `WeakValueDictionary` or `WeakSet`; a session stored in a
    container of another kind is missed rather than guessed. A session kept on purpose
    for a single-threaded script outside a main guard: `# noqa: ASQ202`, or mark the
    file a script with `role-paths`.

    ## Fix safety
    No automatic fix.

    ## References
    - [SQLAlchemy: When do I construct a Session, when do I commit it, and when do I close it?](https://docs.sqlalchemy.org/en/20/orm/session_basics.html#session-faq-whentocreate)
    - [FastAPI: Dependencies with yield](https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/)
    """

    code = "ASQ202"
    runtime_proof = "tests/runtime/test_asq202.py"
    observed = {
        "SQLite (aiosqlite)": "after one request's commit fails on a duplicate email (`IntegrityError`), every later request "
        "fails with `PendingRollbackError`; with a session per request only the duplicate fails.",
        "PostgreSQL (asyncpg)": "the same as SQLite.",
    }
    name = "global-session-state"
    phase = 4
    roles = SERVING_ROLES
    message = "session stored {where} outlives its unit of work: keep the session factory global and open a session per request in a yield dependency"
    invalid = (
        '''\
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(unique=True)


engine = create_async_engine(os.environ["DATABASE_URL"], pool_pre_ping=True)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
session = SessionLocal()  # error: ASQ202


@asynccontextmanager
async def lifespan(app: FastAPI):
    try:
        yield
    finally:
        await engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.post("/users")
async def create_user(email: str):
    user = User(email=email)
    session.add(user)
    await session.commit()
    return {"id": user.id, "email": user.email}
''',
    )
    valid = (
        '''\
import os
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(unique=True)


engine = create_async_engine(os.environ["DATABASE_URL"], pool_pre_ping=True)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


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


@app.post("/users")
async def create_user(email: str, session: Annotated[AsyncSession, Depends(get_session)]):
    user = User(email=email)
    async with session.begin():
        session.add(user)
    return {"id": user.id, "email": user.email}
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for binding in model.sessions(model.module_scope).values():
            if not _under_main_guard(model, binding.node):
                yield report(binding.node, where="at module level")
        for scope in model.scopes:
            if scope.kind == "class":
                yield from self._class_attributes(model, scope)
            elif scope.kind in ("function", "lambda"):
                yield from self._stores(model, scope)

    @staticmethod
    def _class_attributes(model: SemanticModel, scope: Scope) -> Iterator[Report]:
        for assign in scope.assigns:
            value = getattr(assign, "value", None)
            if value is not None and _is_session(model, value, scope):
                yield report(assign, where=f"as an attribute of class `{scope.name}`")

    @staticmethod
    def _stores(model: SemanticModel, scope: Scope) -> Iterator[Report]:
        for assign in scope.assigns:
            if not isinstance(assign, (ast.Assign, ast.AnnAssign)) or assign.value is None:
                continue
            targets = assign.targets if isinstance(assign, ast.Assign) else [assign.target]
            # Where the value goes is cheap to tell; what it is, less so: ask that second.
            where = next((w for w in (_long_lived(model, t, scope) for t in targets) if w is not None), None)
            if where is not None and _is_session(model, assign.value, scope):
                yield report(assign, where=where)
        for call in scope.calls:
            if not (isinstance(call.func, ast.Attribute) and call.func.attr in CONTAINER_STORES):
                continue
            where = _long_lived(model, call.func.value, scope) if call.args else None
            if where is not None and _is_container_store(model, call) and any(_is_session(model, arg, scope) for arg in call.args):
                yield report(call, where=where)


def _is_session(model: SemanticModel, value: ast.AST, scope: Scope) -> bool:
    if isinstance(value, ast.Attribute) and (dotted(value) or ["self"])[0] not in ("self", "cls"):
        return False  # `Order.session = Trade.session`: the same holder's session (or registry) shared, not a new one
    symbol = model.classify_value(value, scope)
    return symbol is not None and symbol.kind == "session"


def _is_container_store(model: SemanticModel, call: ast.Call) -> bool:
    """Whether `x.add(session)` stores into a container: not an awaited call (`await dao.update(session, ...)` is a
    method taking the session), and a module-level name is a container where its module defines it."""
    if isinstance(model.parents.get(call), ast.Await):
        return False
    receiver = call.func.value  # type: ignore[attr-defined]
    if not isinstance(receiver, ast.Name):
        return True  # `app.state.x.append(...)`, `cls.cache.add(...)`: the place alone says it outlives the call
    definition = model.local_defs.get(receiver.id)
    value = getattr(definition, "value", None)
    if isinstance(value, CONTAINER_DISPLAYS):
        return True
    constructor = dotted(value.func) if isinstance(value, ast.Call) else None
    return bool(constructor) and constructor[-1] in CONTAINER_TYPES


def _long_lived(model: SemanticModel, target: ast.AST, scope: Scope) -> str | None:
    """Where a store puts the value, when that place outlives the function."""
    if isinstance(target, ast.Name) and isinstance(target.ctx, ast.Store):
        if target.id in scope.global_names - scope.nonlocal_names:
            return f"in global `{target.id}`"
        return None
    while isinstance(target, ast.Subscript):
        target = target.value
    parts = dotted(target)
    if parts is None:
        return None
    shown = ".".join(parts)
    if "state" in parts[1:]:
        # `request.state` lives exactly as long as its request, like the session kept there.
        holder = parts[: parts.index("state", 1)]
        return None if len(holder) == 1 and _holds_request(model, holder[0], scope) else f"on `{shown}`"
    root = parts[0]
    if root == "cls" and len(parts) > 1:
        return f"as class attribute `{shown}`"
    if root == "self" or model.binds_locally(root, scope):
        return None
    if root in model.local_defs or root in model.imports:
        return f"on module-level `{shown}`"
    return None


def _holds_request(model: SemanticModel, name: str, scope: Scope) -> bool:
    """A parameter holding the HTTP request: annotated `Request`, or the first parameter of an HTTP middleware
    function (`@app.middleware("http")`)."""
    function = scope.function_scope
    if function is None:
        return False
    arguments = all_args(function.node)
    for position, arg in enumerate(arguments):
        if arg.arg != name:
            continue
        if arg.annotation is not None:
            return names.fastapi_api(model.qualname(arg.annotation)) in REQUEST_CLASSES
        return position == 0 and any(q.endswith(".middleware") for q in model.decorator_qualnames(function))
    return False


def _under_main_guard(model: SemanticModel, node: ast.AST) -> bool:
    """Inside `if __name__ == "__main__":`, where a script's one unit of work runs once."""
    for ancestor in model.ancestors(node):
        test = getattr(ancestor, "test", None)
        if (
            isinstance(ancestor, ast.If)
            and isinstance(test, ast.Compare)
            and dotted(test.left) == ["__name__"]
            and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
        ):
            return True
    return False
