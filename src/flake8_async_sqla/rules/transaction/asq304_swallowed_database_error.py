from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.model import (
    LOOP_NODES, TRY_NODES, WITH_NODES, Scope, SemanticModel, SessionBinding, call_method, dotted, statement_blocks, statements_in,
)
from flake8_async_sqla.core.rule import Report, Rule, register, report

# What a handler may call instead of raising to leave the session usable.
CLEANUPS = {"rollback", "close", "invalidate"}
# Session I/O whose failure taints the transaction (ending or closing it is the cleanup itself).
FAILING_IO = names.SESSION_IO_METHODS - CLEANUPS


@register
class SwallowedDatabaseError(Rule):
    """
    ## What it does
    Finds an `except` handler around session I/O (`execute`, `scalars`, `get`, `flush`,
    `commit`, ... called on a known session in the `try` body) that catches database
    errors (a bare `except`, `Exception`, `SQLAlchemyError`, `DBAPIError`,
    `IntegrityError`, `OperationalError` and the other `sqlalchemy.exc` database errors)
    and neither raises (a bare `raise`, `raise HTTPException(...) from error`, anything)
    nor rolls the session back. Handlers that catch only other exceptions (`KeyError`,
    `ValidationError`, `NoResultFound`) are fine, and so are statements run inside a
    `begin()` / `begin_nested()` block or a session opened inside the `try` body (the
    block rolls back or closes on the way out), a `finally` that rolls back or closes, and
    a handler that hands the session to other code. A session that is discarded after the
    handler is not reported either: one the function opened with `async with factory() as
    session:`, or a route handler's session from a dependency that only yields and closes
    it (itself or through a helper that does not commit), when the handler returns,
    breaks out of the loop, the code after the `try` returns before using the session, or
    nothing uses the session after the `try` (closing it rolls back).

    ## Why is this bad?
    After a failed flush the session's transaction is inactive, and on PostgreSQL any
    failed statement aborts the transaction: every later use of the session raises
    `PendingRollbackError` (or `current transaction is aborted`) until `rollback()` is
    called. Swallowing the error turns one failed statement into a broken session for the
    rest of the request, and a commit at the end of it fails far from the cause, or
    silently commits nothing.

    ## Use instead
    Re-raise (an `HTTPException` is fine), or call `await session.rollback()` in the
    handler before using the session again. Inside a `begin()` block, run the statement
    that may fail in `async with session.begin_nested():`: the savepoint rolls back
    alone and the outer transaction goes on.

    ## Known false alarms
    The handler is judged in its own function: a helper that swallows the error and tells
    its caller (`except IntegrityError: return False`), leaving the rollback to the caller,
    is reported, and so is a rollback done by a helper called without the session
    (`await reset_session()`). The exemption for a session discarded after the handler
    covers one the function opened with `with`/`async with` (also block after block under
    one name, and when the handler breaks out of a loop that ends the block), and a route
    handler's session from a dependency that runs no transaction; a helper called last in
    a handler's `finally:`, whose session is closed right after, is still reported, and so
    is a generator handed the session by a caller that closes it when the stream ends. A
    nested function's handler on its enclosing function's session is not reported (whether
    that function uses the session again is not followed). Pass the session to the helper,
    or silence a deliberate one with `# noqa: ASQ304`.

    ## Fix safety
    No automatic fix: whether to re-raise or roll back depends on the handler's intent.

    ## References
    - [SQLAlchemy FAQ: This Session's transaction has been rolled back due to a previous exception during flush](https://docs.sqlalchemy.org/en/20/faq/sessions.html#this-session-s-transaction-has-been-rolled-back-due-to-a-previous-exception-during-flush-or-similar)
    - [SQLAlchemy: Using SAVEPOINT](https://docs.sqlalchemy.org/en/20/orm/session_transaction.html#using-savepoint)
    - [FastAPI: Dependencies with yield and except](https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/#dependencies-with-yield-and-except)
    """

    code = "ASQ304"
    runtime_proof = "tests/runtime/test_asq304.py"
    observed = {
        "SQLite (aiosqlite)": "after the swallowed `IntegrityError` from `flush()`, the request's next query raises "
        "`PendingRollbackError` (transaction rolled back due to a previous exception during flush); with the insert "
        "in `begin_nested()` only the savepoint rolls back and the query returns the existing user's id.",
        "PostgreSQL (asyncpg)": "the same `PendingRollbackError` on the next query; the `begin_nested()` version goes on.",
    }
    name = "swallowed-database-error"
    phase = 3
    message = "`{handler}` swallows a database error and leaves session `{session}` unusable (PendingRollbackError): {fix}"
    invalid = (
        '''\
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(unique=True)


async def register(session: AsyncSession, email: str) -> User | None:
    user = User(email=email)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:  # error: ASQ304
        return None
    return user
''',
    )
    valid = (
        '''\
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(unique=True)


async def register(session: AsyncSession, email: str) -> User | None:
    user = User(email=email)
    try:
        async with session.begin_nested():
            session.add(user)
    except IntegrityError:
        return None
    return user
''',
        '''\
from fastapi import HTTPException
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession


async def register(session: AsyncSession, email: str) -> User:
    user = User(email=email)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as error:
        raise HTTPException(409, "email taken") from error
    return user
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for scope in model.scopes:
            if scope.kind != "function":
                continue
            reported: set[ast.ExceptHandler] = set()
            for call, (binding, method) in model.session_calls(scope).items():
                # A nested function cannot tell what the function whose session it uses does next.
                if method not in FAILING_IO or binding.origin == "closure":
                    continue
                for handler, try_node in _swallowing_handlers(model, call, binding, scope):
                    if handler in reported or _discarded_after(model, handler, try_node, binding, scope):
                        continue
                    reported.add(handler)
                    session = ".".join(dotted(call.func.value) or [binding.name])  # type: ignore[attr-defined]
                    yield report(handler, handler=_except_text(handler, try_node), session=session, fix=_fix(model, try_node, session, binding, scope))


def _swallowing_handlers(
    model: SemanticModel, call: ast.Call, binding: SessionBinding, scope: Scope
) -> Iterator[tuple[ast.ExceptHandler, ast.AST]]:
    """Handlers a database error from `call` reaches that neither raise nor clean the session up: the
    innermost `try` that catches it decides, unless all its database handlers raise again."""
    child: ast.AST = call
    for ancestor in model.ancestors(call):
        if ancestor is scope.node:
            return
        if isinstance(ancestor, WITH_NODES) and _ends_transaction(model, ancestor, binding, scope):
            return
        if isinstance(ancestor, TRY_NODES) and child in ancestor.body:
            if _cleans_up(model, ancestor.finalbody, binding, scope):
                return
            catching = [h for h in ancestor.handlers if _catches_database_errors(model, h)]
            swallowing = [h for h in catching if not _raises(h)]
            for handler in swallowing:
                if not _cleans_up(model, handler.body, binding, scope):
                    yield handler, ancestor
            if swallowing or any(_cleans_up(model, h.body, binding, scope) for h in catching):
                return
        child = ancestor


def _ends_transaction(model: SemanticModel, with_node: ast.AST, binding: SessionBinding, scope: Scope) -> bool:
    """A `with` that rolls back or closes the session when an error leaves it: `session.begin()`,
    `session.begin_nested()`, or the `with` that opened the session."""
    if model.parents.get(binding.node) is with_node and binding.origin == "created":
        return True
    for item in with_node.items:  # type: ignore[attr-defined]
        # Another `with` opening a session under the same name (`with get_session() as db` block after block).
        if binding.origin == "created" and isinstance(item.optional_vars, ast.Name) and item.optional_vars.id == binding.name:
            return True
        method = call_method(item.context_expr)
        if method is not None and method[1] in ("begin", "begin_nested") and model.session_binding(method[0], scope) is binding:
            return True
    return False


def _catches_database_errors(model: SemanticModel, handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    caught = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    for node in caught:
        if isinstance(node, ast.Name) and node.id in ("Exception", "BaseException"):
            if node.id not in model.imports and node.id not in model.local_defs:
                return True
        elif model.api(node) in names.DATABASE_ERRORS:
            return True
    return False


def _except_text(handler: ast.ExceptHandler, try_node: ast.AST) -> str:
    """`except IntegrityError` / `except* (ValueError, DBAPIError)` / `except`, without recursion over the AST."""
    clause = "except" if isinstance(try_node, ast.Try) else "except*"
    if handler.type is None:
        return clause
    caught = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    written = ", ".join(".".join(dotted(node) or ["..."]) for node in caught)
    return f"{clause} ({written})" if isinstance(handler.type, ast.Tuple) else f"{clause} {written}"


def _raises(handler: ast.ExceptHandler) -> bool:
    return any(isinstance(node, ast.Raise) for node in statements_in(handler.body))


def _cleans_up(model: SemanticModel, body: list[ast.stmt], binding: SessionBinding, scope: Scope) -> bool:
    """Whether a block rolls back (on the session, a savepoint, a unit of work), closes the session,
    or hands it to other code that may."""
    if not body:
        return False
    first, last = body[0].lineno, body[-1].end_lineno or body[-1].lineno
    for call in scope.calls:
        if not first <= call.lineno <= last or not _inside(model, call, body):
            continue
        method = call_method(call)
        if method is not None and method[1] == "rollback":
            return True
        if method is not None and method[1] in CLEANUPS and model.session_binding(method[0], scope) is binding:
            return True
        if any(model.session_binding(arg, scope) is binding for arg in (*call.args, *(kw.value for kw in call.keywords))):
            return True
    return False


def _inside(model: SemanticModel, node: ast.AST, body: list[ast.stmt]) -> bool:
    statements = set(map(id, body))
    return any(id(ancestor) in statements for ancestor in model.ancestors(node))


def _discarded_after(model: SemanticModel, handler: ast.ExceptHandler, try_node: ast.AST, binding: SessionBinding, scope: Scope) -> bool:
    """Nothing uses the session after the handler, and whoever holds it only closes it (which rolls back):
    the function opened it with `with factory() as session:` around the `try`, or it is a route handler's
    session from a dependency that yields it and runs no transaction. The handler returns, or no loop
    runs the `try` again and no code after it uses the session."""
    opened_by = _opening_with(model, try_node, binding, scope)
    if binding.origin == "created" and not binding.transactional and opened_by is not None:
        container = opened_by
    elif binding.origin == "dependency" and binding.provider is not None and not binding.transactional and model.is_route_handler(scope):
        container = scope.node
    else:
        return False
    if isinstance(handler.body[-1], ast.Return) or _returns_before_use(model, try_node, binding, container, scope):
        return True
    resumes_after = try_node  # where the code goes on after the handler
    for ancestor in model.ancestors(try_node):
        if ancestor is container:
            break
        if isinstance(ancestor, LOOP_NODES) and isinstance(handler.body[-1], ast.Break) and resumes_after is try_node:
            resumes_after = ancestor  # the handler leaves the loop
        elif isinstance(ancestor, LOOP_NODES) or ancestor is scope.node:
            return False
    after, until = resumes_after.end_lineno or resumes_after.lineno, container.end_lineno or container.lineno
    for node in (*scope.attributes, *scope.calls):
        if not after < node.lineno <= until:
            continue
        used = [node.value] if isinstance(node, ast.Attribute) else [*node.args, *(kw.value for kw in node.keywords)]
        if any(isinstance(value, ast.Name) and value.id == binding.name for value in used):
            if _opening_with(model, node, binding, scope) in (container, None):
                return False  # not a fresh session opened under the same name after the handler
    return True


def _returns_before_use(
    model: SemanticModel, try_node: ast.AST, binding: SessionBinding, container: ast.AST, scope: Scope
) -> bool:
    """The code after the `try`, block by enclosing block up to `container`, reaches a `return` without using the
    session (by its name, or through an object holding it) and without running the `try` again in a loop."""
    names = {binding.name, *(name for name, held in model.holders(scope).items() if held.name == binding.name)}
    node: ast.AST = try_node
    while node is not container:
        parent = model.parents.get(node)
        if parent is None or isinstance(parent, LOOP_NODES):
            return False
        block = next((body for body in statement_blocks(parent) if node in body), [])
        for statement in block[block.index(node) + 1 :] if node in block else []:
            if any(isinstance(found, ast.Name) and found.id in names for found in ast.walk(statement)):
                return False
            if isinstance(statement, ast.Return):
                return True
        node = parent
    return False


def _opening_with(model: SemanticModel, node: ast.AST, binding: SessionBinding, scope: Scope) -> ast.AST | None:
    """The innermost `with` around `node` that opened the session under its name (a name can be reused by
    block after block: `with get_session() as db:`)."""
    for ancestor in model.ancestors(node):
        if ancestor is scope.node:
            return None
        if isinstance(ancestor, WITH_NODES) and any(
            isinstance(item.optional_vars, ast.Name) and item.optional_vars.id == binding.name for item in ancestor.items
        ):
            return ancestor
    return None


def _fix(model: SemanticModel, try_node: ast.AST, session: str, binding: SessionBinding, scope: Scope) -> str:
    """A savepoint where the function must not end the transaction (it runs in a `begin()` block, or the
    session was handed in: ASQ301), else a rollback."""
    awaited, opener = ("", "with") if binding.kind == "sync" else ("await ", "async with")
    if binding.borrowed or binding.transactional or "begin" in model.transaction_blocks_around(try_node, binding, scope):
        return f"re-raise, or run the statement in `{opener} {session}.begin_nested():` so only the savepoint rolls back"
    return f"re-raise, or call `{awaited}{session}.rollback()` in the handler"
