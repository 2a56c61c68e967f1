from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.sessions import SessionBinding
from flake8_async_sqla.core.syntax import WITH_NODES, call_method
from flake8_async_sqla.core.rule import Report, Rule, register, report

TRANSACTION_ENDS = {"commit", "rollback"}
# Methods that hand the session's transaction to other code, which may end it.
HANDING_OUT = {"connection", "get_transaction", "get_nested_transaction", "run_sync"}
# Attributes read without handing the session on.
DATA_ATTRIBUTES = {"info", "new", "dirty", "deleted", "identity_map", "is_active", "no_autoflush", "bind"}


@register
class WriteNeverCommitted(Rule):
    """
    ## What it does
    Finds a write (`add`, `add_all`, `delete`, `merge`, the bulk methods, or
    `execute`/`scalar`/`scalars` of an `insert`/`update`/`delete` statement or of
    `text("UPDATE ...")`) on a session that the function opens itself (`async with
    factory() as session:`, `session = factory()`, `Session(engine)`), when no
    `commit()` follows it before the session's block ends and it is not in an `async
    with session.begin():` block. It reports the first such write of each session
    block: everything from there on is lost together, and one commit (or one `begin()`
    block) fixes them all.

    Not reported: sessions opened with `factory.begin()`; writes that a later `commit()`
    or `rollback()` (a deliberate discard) in the same block follows; sessions this
    function hands to other code, which may commit them (returned, yielded by a yield
    dependency or context manager, passed to any call such as `UserRepo(session)` or
    `await save(session, user)`, stored, used by a nested function, or whose transaction
    is handed out by `session.connection()`, a bare `session.begin()` or `run_sync`);
    sessions that a helper hands back (`session = make_session()`); and test functions
    (`test_*`), which often discard their writes on purpose. Sessions the function does
    not open (parameters, dependencies, `self.session`) are ASQ301's, so the two rules
    never report the same call.

    ## Why is this bad?
    A session only sends its writes in a transaction, and closing the session rolls back
    whatever was not committed. Without a commit the `INSERT`s and `UPDATE`s (even those
    that `flush()` already sent) are silently discarded: the endpoint or job returns
    success, the new row even has an id, and nothing is in the database.

    ## Use instead
    Open the session with `factory.begin()`, or wrap the writes in `async with
    session.begin():`, which commits when the block ends and rolls back if it raises.

    ## Known false alarms
    Only a `commit()` or `rollback()` in the same block counts: statements committed by the
    database itself (an engine with `isolation_level="AUTOCOMMIT"`) or by the context
    manager of a wrapper listed under `session-factories` that commits on exit are reported.
    A preview that discards its writes on purpose is reported too; an explicit `rollback()`
    says so and is not. List under `session-factories` only calls that open a plain session,
    and silence a deliberate one with `# noqa: ASQ302`.

    ## Fix safety
    No automatic fix: where the unit of work ends is a decision about the code around it.

    ## References
    - [SQLAlchemy: Framing out a begin / commit / rollback block](https://docs.sqlalchemy.org/en/20/orm/session_basics.html#framing-out-a-begin-commit-rollback-block)
    - [SQLAlchemy: Closing](https://docs.sqlalchemy.org/en/20/orm/session_basics.html#closing)
    - [SQLAlchemy: async_sessionmaker.begin()](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#sqlalchemy.ext.asyncio.async_sessionmaker.begin)
    """

    code = "ASQ302"
    runtime_proof = "tests/runtime/test_asq302.py"
    observed = {
        "SQLite (aiosqlite)": "the request succeeds and returns the id the flush gave the new row, and a separate "
        "session finds no row: closing the session rolled the `INSERT` back; the `begin()` version saves the row.",
        "PostgreSQL (asyncpg)": "the same: the request returns the new row's id, a separate session finds no row; "
        "the `begin()` version saves it.",
    }
    name = "write-never-committed"
    phase = 3
    message = (
        "`{call}()` writes through session `{session}`, which this function opens and closes without "
        "committing, so the write is discarded: wrap the writes in `{block}` or call `{commit}` before the session closes"
    )
    invalid = (
        '''\
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Signup(Base):
    __tablename__ = "signups"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(unique=True)


async def record_signup(engine: AsyncEngine, email: str) -> int:
    session_factory = async_sessionmaker(engine, expire_on_commit=False)
    async with session_factory() as session:
        signup = Signup(email=email)
        session.add(signup)  # error: ASQ302
        await session.flush()
        return signup.id
''',
    )
    valid = (
        '''\
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Signup(Base):
    __tablename__ = "signups"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(unique=True)


async def record_signup(engine: AsyncEngine, email: str) -> int:
    session_factory = async_sessionmaker(engine, expire_on_commit=False)
    async with session_factory() as session:
        async with session.begin():
            signup = Signup(email=email)
            session.add(signup)
            await session.flush()
        return signup.id
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for scope in model.scopes:
            if scope.kind != "function" or scope.yields or model.is_test(scope):
                continue  # a yield dependency or context manager: its caller may commit; a test may discard on purpose
            for binding in _owned_sessions(model, scope):
                yield from _lost_writes(model, scope, binding)


def _owned_sessions(model: SemanticModel, scope: Scope) -> Iterator[SessionBinding]:
    """Sessions this function opens and keeps to itself (which opening each write belongs to is `_session_block`'s)."""
    seen: list[SessionBinding] = []
    for binding in model.sessions(scope).values():
        if binding.origin != "created" or any(binding is other for other in seen):
            continue
        seen.append(binding)
        if not _handed_on(model, scope, binding):
            yield binding


def _handed_on(model: SemanticModel, scope: Scope, binding: SessionBinding) -> bool:
    """Whether any use of the session, under any of its names, may let other code end its transaction:
    everything but its own method calls, data attributes and `with session:`."""
    aliases = {name for name, other in model.sessions(scope).items() if other is binding}
    for statement in scope.node.body:  # type: ignore[attr-defined]
        for node in ast.walk(statement):
            if not (isinstance(node, ast.Name) and node.id in aliases and isinstance(node.ctx, ast.Load)):
                continue
            if model.scope_of.get(node) is not scope:
                return True  # a nested function or lambda uses it
            parent = model.parents.get(node)
            if isinstance(parent, ast.withitem) and parent.context_expr is node:
                continue
            if not isinstance(parent, ast.Attribute):
                return True
            called = isinstance(model.parents.get(parent), ast.Call) and model.parents[parent].func is parent  # type: ignore[attr-defined]
            if called and parent.attr not in HANDING_OUT and not _bare_begin(model, model.parents[parent]):
                continue
            if not called and parent.attr in DATA_ATTRIBUTES:
                continue
            return True
    return False


def _bare_begin(model: SemanticModel, call: ast.AST) -> bool:
    """`session.begin()` outside a `with`: the transaction it returns is ended out of sight."""
    method = call_method(call)
    return method is not None and method[1] in ("begin", "begin_nested") and not isinstance(model.parents.get(call), ast.withitem)


def _lost_writes(model: SemanticModel, scope: Scope, binding: SessionBinding) -> Iterator[Report]:
    """The first write of each block of the session that no commit (or rollback) follows."""
    ends: list[ast.Call] = []
    writes: list[tuple[ast.Call, str]] = []
    for call in scope.calls:
        found = model.session_method_call(call, scope)
        if found is None or found[0] is not binding:
            continue
        method = found[1]
        if method in TRANSACTION_ENDS:
            ends.append(call)
        elif model.is_session_write(call, method, scope) and "begin" not in model.transaction_blocks_around(call, binding, scope):
            writes.append((call, method))
    reported: set[ast.AST] = set()
    for call, method in sorted(writes, key=lambda item: _position(item[0])):
        block = _session_block(model, scope, call, binding)
        if block is None or block in reported or any(_ends_after(model, end, call, block) for end in ends):
            continue
        reported.add(block)
        session = call.func.value.id  # type: ignore[attr-defined]
        is_async = binding.kind == "async" or binding.kind is None and scope.is_async
        yield report(
            call,
            call=f"{session}.{method}",
            session=session,
            block=f"async with {session}.begin():" if is_async else f"with {session}.begin():",
            commit=f"await {session}.commit()" if is_async else f"{session}.commit()",
        )


def _session_block(model: SemanticModel, scope: Scope, write: ast.Call, binding: SessionBinding) -> ast.AST | None:
    """Where the session a write goes through lives: the `with` statement around the write that opens it
    (`with factory() as session:`), else the function, for `session = factory()`. None when that opening
    runs a transaction (`factory.begin()`) or is not known to open a session anew (a helper's context)."""
    for ancestor in model.ancestors(write):
        if ancestor is scope.node:
            break
        if not isinstance(ancestor, WITH_NODES):
            continue
        for item in ancestor.items:
            if isinstance(item.optional_vars, ast.Name) and model.sessions(scope).get(item.optional_vars.id) is binding:
                return ancestor if _opens_session(model, scope, item.context_expr) else None
    if isinstance(binding.node, ast.withitem):
        return None  # a `with` session used after its block
    return scope.node if _opens_session(model, scope, getattr(binding.node, "value", None)) else None


def _opens_session(model: SemanticModel, scope: Scope, opener: ast.AST | None) -> bool:
    """Whether an expression opens a session anew and without a transaction (so not `factory.begin()`)."""
    if isinstance(opener, ast.Await):
        opener = opener.value
    return isinstance(opener, ast.Call) and model.opens_session(opener, scope) is not None


def _ends_after(model: SemanticModel, end: ast.Call, write: ast.Call, block: ast.AST) -> bool:
    """Whether a commit/rollback in the write's session block runs after the write: later in the
    code, or in a loop around both."""
    if not any(ancestor is block for ancestor in model.ancestors(end)):
        return False
    if _position(end) > _position(write):
        return True
    for ancestor in model.ancestors(write):
        if ancestor is block:
            return False
        if isinstance(ancestor, (ast.For, ast.AsyncFor, ast.While)) and any(a is ancestor for a in model.ancestors(end)):
            return True
    return False


def _position(node: ast.AST) -> tuple[int, int]:
    return (node.lineno, node.col_offset)  # type: ignore[attr-defined]
