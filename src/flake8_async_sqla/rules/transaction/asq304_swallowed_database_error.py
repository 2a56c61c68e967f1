from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.sessions import SessionBinding
from flake8_async_sqla.core.summaries import FunctionSummary
from flake8_async_sqla.core.syntax import LOOP_NODES, TRY_NODES, WITH_NODES, all_args, assigned_names, call_method, dotted, statement_blocks, statements_in
from flake8_async_sqla.core.rule import Report, Rule, register, report

# What a handler may call instead of raising to leave the session usable.
CLEANUPS = {"rollback", "close", "invalidate"}
# Session I/O whose failure taints the transaction (ending or closing it is the cleanup itself).
FAILING_IO = names.SESSION_IO_METHODS - CLEANUPS
# A session handed in is followed up its callers: through at most this many functions, and only when at most
# this many project files name the function (a common name is too costly to follow, and likely ambiguous).
MAX_HANDOFFS = 3
MAX_CALLER_MODULES = 16
PROTOCOLS = {"typing.Protocol", "typing_extensions.Protocol"}


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
    nothing uses the session after the `try` (closing it rolls back). A session the function
    is handed (a parameter, or a `self` attribute set from one) is judged at its callers in
    the same way: when each call of the function in the project is its caller's last use of
    the session, and that caller discards the session as above or was handed it by callers
    that do, the handler is not reported: a helper run last in a route handler's `finally:`,
    a generator streaming a response that the code which opened the session iterates to its
    end.

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
    The handler is judged in its own function, and a session handed in at the function's
    callers: a helper that swallows the error and tells its caller (`except IntegrityError:
    return False`), leaving the rollback to the caller, is reported when a caller goes on
    with the session, and so is a rollback done by a helper called without the session
    (`await reset_session()`). Callers are followed through at most three functions, and only
    when every mention of the function is a call this can follow; otherwise the handler is
    reported: the function handed on as a value (`background_tasks.add_task(helper,
    session)`), decorated, called on an object whose class is not written where it is made
    or annotated, named in more than 16 files (a common method name), or called nowhere in
    the project. For application code, calls in tests do not count. The exemption for a
    session discarded after the handler covers one the function opened with
    `with`/`async with` (also block after block under one name, and when the handler breaks
    out of a loop that ends the block), and a route handler's session from a dependency
    that runs no transaction. A nested function's handler on its enclosing function's
    session is not reported (whether that function uses the session again is not
    followed). Pass the session to the helper, or silence a deliberate one with
    `# noqa: ASQ304`.

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
    """Nothing uses the session after the handler (its `finally:` included), and whoever holds it only closes it
    (which rolls back): the function opened it with `with factory() as session:` around the `try`, or it is a route
    handler's session from a dependency that yields it and runs no transaction, or it was handed in by callers
    that each use it no more and close it in turn (see `_released_by_callers`)."""
    container = _releasing_container(model, try_node, binding, scope)
    handed_in = container is None and _handed_in(model, binding, scope)
    if container is None and not handed_in:
        return False
    own, holders = _session_names(model, binding, scope)
    if _uses_session(model, getattr(try_node, "finalbody", []), own, holders, scope):
        return False
    if not _unused_after(model, try_node, handler.body[-1], binding, container or scope.node, scope):
        return False
    return not handed_in or _released_by_callers(model, scope, binding, frozenset())


def _releasing_container(model: SemanticModel, node: ast.AST, binding: SessionBinding, scope: Scope) -> ast.AST | None:
    """The block at whose end the session is closed without a commit: the `with factory() as session:` around
    `node` that opened it, or a route handler whose session comes from a dependency that runs no transaction."""
    if binding.transactional:
        return None
    if binding.origin == "created":
        return _opening_with(model, node, binding, scope)
    if binding.origin == "dependency" and binding.provider is not None and model.is_route_handler(scope):
        return scope.node
    return None


def _handed_in(model: SemanticModel, binding: SessionBinding, scope: Scope) -> bool:
    """A session the function's callers hand it: a parameter, or a `self` attribute set from one (not a class-level
    session that every instance shares)."""
    if binding.origin == "param":
        return True
    function = scope.function_scope
    klass = function.klass if function is not None else None
    return binding.origin == "attribute" and klass is not None and model.class_session_attributes(klass).get(binding.name) is binding


def _session_names(model: SemanticModel, binding: SessionBinding, scope: Scope) -> tuple[set[str], set[str]]:
    """The names through which code reaches the session: its own (`self`, for a `self` attribute), and those of the
    objects built on it (`repo = Repo(session)`)."""
    if binding.origin == "attribute":
        return {"self"}, set()
    return {binding.name}, {name for name, held in model.holders(scope).items() if held.name == binding.name}


def _holder_may_use(model: SemanticModel, attribute: ast.Attribute, scope: Scope) -> bool:
    """Whether `holder.attr` may use the session the holder was built on: anything but the call of a method that
    does no session I/O through `self` (`manager.clear_deadline()`)."""
    call = model.parents.get(attribute)
    if not (isinstance(call, ast.Call) and call.func is attribute):
        return True
    summary = model.call_summary(call, scope)
    return summary is None or any(name.startswith("self.") for name in summary.session_io_names)


def _unused_after(
    model: SemanticModel, node: ast.AST, last: ast.stmt | None, binding: SessionBinding, container: ast.AST, scope: Scope
) -> bool:
    """Whether the code after `node` (a statement; `last` is the last one run in it, a handler's) up to the end of
    `container` leaves the session alone: it returns first, or no loop runs `node` again and no code after it
    uses the session."""
    own, holders = _session_names(model, binding, scope)
    if isinstance(last, ast.Return) or _returns_before_use(model, node, own, holders, container, scope):
        return True
    resumes_after = node  # where the code goes on after `node`
    for ancestor in model.ancestors(node):
        if ancestor is container:
            break
        if isinstance(ancestor, LOOP_NODES) and isinstance(last, ast.Break) and resumes_after is node:
            resumes_after = ancestor  # the handler leaves the loop
        elif isinstance(ancestor, LOOP_NODES) or ancestor is scope.node:
            return False
    after, until = resumes_after.end_lineno or resumes_after.lineno, container.end_lineno or container.lineno  # type: ignore[attr-defined]
    for used_at in (*scope.attributes, *scope.calls):
        if not after < used_at.lineno <= until:
            continue
        used = [used_at.value] if isinstance(used_at, ast.Attribute) else [*used_at.args, *(kw.value for kw in used_at.keywords)]
        if any(isinstance(value, ast.Name) and value.id in own for value in used):
            if _opening_with(model, used_at, binding, scope) in (container, None):
                return False  # not a fresh session opened under the same name after `node`
        if isinstance(used_at, ast.Attribute) and isinstance(used_at.value, ast.Name) and used_at.value.id in holders:
            if _holder_may_use(model, used_at, scope):
                return False
    return True


def _returns_before_use(
    model: SemanticModel, node: ast.AST, own: set[str], holders: set[str], container: ast.AST, scope: Scope
) -> bool:
    """The code after `node`, block by enclosing block up to `container`, reaches a `return` without using the
    session (see `_uses_session`) and without running `node` again in a loop."""
    while node is not container:
        parent = model.parents.get(node)
        if parent is None or isinstance(parent, LOOP_NODES):
            return False
        block = next((body for body in statement_blocks(parent) if node in body), [])
        for statement in block[block.index(node) + 1 :] if node in block else []:
            if _uses_session(model, [statement], own, holders, scope):
                return False
            if isinstance(statement, ast.Return):
                return True
        node = parent
    return False


def _released_by_callers(model: SemanticModel, function: Scope, binding: SessionBinding, seen: frozenset[str]) -> bool:
    """Every call of `function` in the project hands it the session (`binding`) as the caller's last use of it, and
    the caller closes the session (see `_releasing_container`) or was handed it by callers that do in turn: a
    helper run last in a route handler's `finally:`, a generator streaming a response that the code which opened
    the session iterates to its end. Whatever the function leaves the session in, nobody uses it again."""
    if function.qualname in seen or len(seen) >= MAX_HANDOFFS:
        return False
    sites = _call_sites(model, function)
    if not sites:
        return False  # never called where this can see it: its callers may go on with the session
    summary = model.function_summary(function)
    for other, call in sites:
        caller = other.scope_of.get(call)
        if caller is None or caller.kind != "function":
            return False
        session = _session_handed(other, call, caller, summary, binding)
        if session is None or not _released_at(other, call, session, caller, function, seen | {function.qualname}):
            return False
    return True


def _session_handed(
    model: SemanticModel, call: ast.Call, caller: Scope, summary: FunctionSummary, binding: SessionBinding
) -> SessionBinding | None:
    """The caller's session that `call` hands the function as `binding`: the argument of that parameter, or, for a
    `self` attribute, the session the receiver holds (`manager = Manager(session)`; `self` in a method)."""
    if binding.origin == "param":
        passed = (*call.args, *(item.value for item in call.keywords))
        argument = next((arg for arg in passed if summary.parameter_for(call, arg) == binding.name), None)
        return model.session_binding(argument, caller) if argument is not None else None
    receiver = call.func.value if isinstance(call.func, ast.Attribute) else None
    if not isinstance(receiver, ast.Name):
        return None
    if receiver.id == "self":
        return model.class_session_attributes(caller.klass).get(binding.name) if caller.klass is not None else None
    return model.holders(caller).get(receiver.id)


def _released_at(
    model: SemanticModel, call: ast.Call, session: SessionBinding, caller: Scope, function: Scope, seen: frozenset[str]
) -> bool:
    """Whether the caller neither uses `session` while or after `call` runs `function` nor runs it again, and
    closes the session or was handed it by callers that release it (see `_released_by_callers`)."""
    unit = _run_in(model, call, function)
    if unit is None:
        return False
    container = _releasing_container(model, unit, session, caller)
    handed_in = container is None and _handed_in(model, session, caller)
    # A generator returned unstarted runs after its caller's callers went on.
    if container is None and (not handed_in or isinstance(unit, ast.Return) and function.yields):
        return False
    own, holders = _session_names(model, session, caller)
    if _uses_session(model, [unit], own, holders, caller, besides=call) or not _unused_after(model, unit, None, session, container or caller.node, caller):
        return False
    return not handed_in or _released_by_callers(model, caller, session, seen)


def _run_in(model: SemanticModel, call: ast.Call, function: Scope) -> ast.stmt | None:
    """The statement during which `call` runs `function`'s body: the call's own (awaited, for a coroutine
    function), the `for` loop iterating a generator, or the statement delegating to it (`yield from`) or returning
    it; None when the body may run later (a coroutine or generator kept), or again (in a comprehension)."""
    parent = model.parents.get(call)
    if function.yields:
        if isinstance(parent, (ast.For, ast.AsyncFor)) and parent.iter is call:
            return parent
        if not isinstance(parent, ast.YieldFrom) and not isinstance(_statement_of(model, call), ast.Return):
            return None
    elif function.is_async and not isinstance(parent, ast.Await):
        return None
    return _statement_of(model, call)


def _statement_of(model: SemanticModel, node: ast.AST) -> ast.stmt | None:
    """The statement an expression belongs to, unless a comprehension or lambda in between may evaluate it again or later."""
    for ancestor in model.ancestors(node):
        if isinstance(ancestor, ast.stmt):
            return ancestor
        if isinstance(ancestor, (*LOOP_NODES, ast.Lambda)):
            return None
    return None


def _uses_session(
    model: SemanticModel, statements: list[ast.stmt], own: set[str], holders: set[str], scope: Scope, besides: ast.AST | None = None
) -> bool:
    """Whether the statements (a `for` loop's body too), outside the node `besides`, may use the session: they name
    it, or an object built on it other than to call a method that does no session I/O (see `_holder_may_use`)."""
    pending: list[ast.AST] = list(statements)
    while pending:
        node = pending.pop()
        if node is besides:
            continue
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in holders:
            if _holder_may_use(model, node, scope):
                return True
            continue
        if isinstance(node, ast.Name) and node.id in own | holders:
            return True
        pending.extend(ast.iter_child_nodes(node))
    return False


def _call_sites(model: SemanticModel, function: Scope) -> list[tuple[SemanticModel, ast.Call]] | None:
    """The calls of a module-level function or a method in the project (in its app code, when the function is app
    code: a test calling it is not the app); None when a mention of it may be a call this cannot follow (the
    function handed on as a value, a method called on an object of unknown class, a decorator that may register
    it), or too many files name it."""
    home = function.parent
    if model.index is None or home is None or not (home.kind == "module" or home.kind == "class" and home.parent is model.module_scope):
        return None
    if function.node.decorator_list:  # type: ignore[attr-defined]
        return None
    modules = model.index.modules_mentioning(model.path, function.name, MAX_CALLER_MODULES)
    if modules is None:
        return None
    in_app = model.index.runs_in_the_app(model.path)
    found = []
    for other in modules:
        if in_app and not model.index.runs_in_the_app(other.path):
            continue
        if any(isinstance(s, ast.ImportFrom) and any(a.name == "*" for a in s.names) for s in other.tree.body):
            return None  # any name may come from the star
        for node in ast.walk(other.tree):
            if isinstance(node, ast.Attribute):
                named = node.attr
            elif isinstance(node, ast.Name) and home.kind == "module":
                named = node.id
            else:
                continue
            if named != function.name or not isinstance(node.ctx, ast.Load):
                continue
            calls = _names_function(other, node, function, model)
            if calls is False:
                continue
            parent = other.parents.get(node)
            if calls is None or not (isinstance(parent, ast.Call) and parent.func is node):
                return None
            found.append((other, parent))
    return found


def _names_function(model: SemanticModel, node: ast.Name | ast.Attribute, function: Scope, home: SemanticModel) -> bool | None:
    """Whether a mention of `function`'s name (in `model`; `function` is `home`'s) refers to it; None when this
    cannot tell."""
    klass = function.klass
    if klass is None:
        qualname = model.qualname(node)
        if qualname is None:
            return False if isinstance(node, ast.Name) else None  # a local name; `obj.name` on an object of unknown kind
        if qualname == function.qualname:
            return True
        symbol = model.symbol(qualname)  # a re-export
        return symbol is not None and symbol.function is not None and symbol.function.qualname == function.qualname
    if not isinstance(node, ast.Attribute):
        return False
    receiver = _instance_class(model, node.value, model.scope_of.get(node))
    if receiver is None:
        return None
    lineage = model.class_lineage(receiver)
    if klass.qualname in (summary.qualname for _, summary in lineage if summary is not None):
        return True
    if not lineage or lineage[0][1] is None:
        # Not a class this can read: a project name may be anything, a library's class has none of its methods.
        return None if receiver.partition(".")[0] in model.project_roots else False
    if any(name in PROTOCOLS for name, _ in lineage):
        return None  # the method's class may implement it without naming it
    bases = {summary.qualname for _, summary in home.class_lineage(klass.qualname) if summary is not None}
    return None if lineage[0][1].qualname in bases else False  # a base's instance may be one of the method's class


def _instance_class(model: SemanticModel, receiver: ast.AST, scope: Scope | None) -> str | None:
    """The qualified name of the class an object is an instance of: `self` in a method, `Cls(...)`, or a name of
    its function annotated `Cls`, or assigned only `Cls(...)`."""
    if isinstance(receiver, ast.Call):
        return model.qualname(receiver.func)
    function = scope.function_scope if scope is not None else None
    if not isinstance(receiver, ast.Name) or function is None:
        return None
    if receiver.id == "self":
        return function.klass.qualname if function.klass is not None else None
    for arg in all_args(function.node):
        if arg.arg == receiver.id:
            return model.qualname(arg.annotation) if arg.annotation is not None else None
    classes = set()
    for assign in function.assigns:
        if receiver.id in assigned_names(assign):
            value = getattr(assign, "value", None)
            typed = assign.annotation if isinstance(assign, ast.AnnAssign) else value.func if isinstance(value, ast.Call) else None
            classes.add(model.qualname(typed) if typed is not None else None)
    return classes.pop() if len(classes) == 1 else None


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
