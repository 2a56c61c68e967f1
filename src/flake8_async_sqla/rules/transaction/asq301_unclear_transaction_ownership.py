from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.sessions import SessionBinding
from flake8_async_sqla.core.syntax import dotted
from flake8_async_sqla.core.rule import Report, Rule, register, report

TRANSACTION_ENDS = {"commit", "rollback"}
CONTEXT_EXITS = {"__exit__", "__aexit__"}


@register
class UnclearTransactionOwnership(Rule):
    """
    ## What it does
    Finds `commit()` / `rollback()` called on a session that the function did not
    create (a parameter, a dependency, `self.session` in a repository, the session of an
    ORM object from `object_session(obj)`, or one kept by other code on `request.state`
    or in a worker's `ctx`), and writes
    (`add`, `add_all`, `delete`, `merge`, `flush`, `execute(insert/update/delete ...)`,
    `execute(text("UPDATE ..."))`) in a route handler whose session comes from a
    dependency known to run no transaction (it neither opens `begin()` nor commits),
    when the handler neither commits nor rolls that session back nor hands it to other
    code. Fine: writes inside `async with session.begin():`, commits in the function
    that created the session, and a yield dependency that commits the session it
    wraps (or a class's `__aexit__`), a session bound to a connection someone else owns
    (`Session(bind=connection)`, `bind=op.get_bind()`), a `rollback()` in an `except`
    that raises and never carries on (a `return` after it throws the caller's pending work
    away, and is reported), a rollback in the `except` of a loop over a session the
    object holds (a worker keeping its own session usable), and a route handler ending
    its own dependency's session (a commit there is ASQ307's) or the request's session
    that a middleware keeps on `request.state`. A helper that only reads,
    writes or closes the session it is handed is not taken for the transaction's owner.
    A helper that commits a session it is handed where nothing says it is one (`def
    save(db, obj): ...; db.commit()`, in any module, or through further helpers, recursion
    included) is reported where it is handed a session (`save(session, order)`), unless
    that call sits in a `begin()` block of the session.
    A `begin_nested()` savepoint is not the request's transaction: writes in it still
    need a commit. A commit inside a `begin()` or `begin_nested()` block is ASQ303's
    finding, not this rule's.

    ## Why is this bad?
    When helpers commit sessions they were handed, nobody owns the transaction: a
    service commits half of a request's work, a later failure cannot roll it back, and
    a caller's surrounding `begin()` block is ended behind its back. When nothing
    commits at all, the writes rely on autobegin and are silently discarded when the
    session closes.

    ## Use instead
    Let the code that owns the unit of work (the route handler or the dependency)
    open one explicit `async with session.begin():` block around the writes; helpers
    take the session and never commit (`flush()` when they need generated keys).

    ## Known false alarms
    Who owns a session is decided from one function. A method named `commit`/`rollback` that
    passes the call on to its session is not reported (its callers decide), but a job
    function whose runner opens a fresh session for it is, and so are the callers of such
    a `commit()` wrapper, which are not followed. An unannotated helper that commits is
    reported at every call handing it a session, the caller that opened the session
    included. A route handler's writes are
    reported when its session dependency runs no transaction, even if another dependency of
    the same request commits the shared session after its `yield`
    (`dependencies=[Depends(commit_on_exit)]`). Silence a deliberate owner with
    `# noqa: ASQ301`.

    ## Fix safety
    No automatic fix.

    ## References
    - [SQLAlchemy: Managing Transactions](https://docs.sqlalchemy.org/en/20/orm/session_transaction.html)
    - [SQLAlchemy: Framing out a begin / commit / rollback block](https://docs.sqlalchemy.org/en/20/orm/session_basics.html#framing-out-a-begin-commit-rollback-block)
    """

    code = "ASQ301"
    runtime_proof = "tests/runtime/test_asq301.py"
    observed = {
        "SQLite (aiosqlite)": "the request fails with `IntegrityError` on its second write (the workspace slug is "
        "taken), yet the user that `create_user` committed stays: a second session finds it. With one `begin()` "
        "block around the unit of work, the same failure leaves nothing behind.",
        "PostgreSQL (asyncpg)": "the same: the `IntegrityError` fails the request, the committed user stays; "
        "the `begin()` version leaves nothing behind.",
    }
    name = "unclear-transaction-ownership"
    phase = 3
    message = "{what} on session `{session}` that {owner} does not own: wrap the unit of work in `{block}` where the session is created"
    invalid = (
        '''\
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(unique=True)


class Workspace(Base):
    __tablename__ = "workspaces"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(unique=True)
    owner_id: Mapped[int]


async def create_user(session: AsyncSession, email: str) -> User:
    user = User(email=email)
    session.add(user)
    await session.commit()  # error: ASQ301
    return user


async def sign_up(session: AsyncSession, email: str, workspace: str) -> Workspace:
    owner = await create_user(session, email)
    space = Workspace(slug=workspace, owner_id=owner.id)
    session.add(space)
    await session.commit()  # error: ASQ301
    return space
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
    email: Mapped[str] = mapped_column(unique=True)


class Workspace(Base):
    __tablename__ = "workspaces"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(unique=True)
    owner_id: Mapped[int]


async def create_user(session: AsyncSession, email: str) -> User:
    user = User(email=email)
    session.add(user)
    await session.flush()  # sends the INSERT for `user.id`; the caller's block commits it
    return user


async def sign_up(session: AsyncSession, email: str, workspace: str) -> Workspace:
    async with session.begin():
        owner = await create_user(session, email)
        space = Workspace(slug=workspace, owner_id=owner.id)
        session.add(space)
    return space
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for scope in model.scopes:
            if scope.kind != "function":
                continue
            is_handler = model.is_route_handler(scope)
            unframed: dict[str, bool] = {}
            for call, (binding, method) in model.session_calls(scope).items():
                if not binding.borrowed:
                    continue
                session = ".".join(dotted(call.func.value) or [binding.name])  # type: ignore[attr-defined]
                if method in TRANSACTION_ENDS:
                    # A handler ending its own request session's transaction is no helper's doing (ASQ307 says
                    # how to frame it), unless that transaction is its dependency's; a rollback that raises on, or
                    # that keeps a worker's session usable, is error handling that leaves nothing half-committed.
                    if is_handler and binding.origin in ("dependency", "stored") and (method == "commit" or not binding.transactional):
                        continue
                    if method == "rollback" and _recovers(model, scope, call, binding):
                        continue
                    if scope.klass is not None and scope.name == method:
                        continue  # `Trade.commit()` passing the call on: its callers decide when work ends
                    if not _frames_transaction(model, scope, call, binding):
                        yield report(
                            call, what=f"`{method}()`", session=session, owner="this function", block=binding.begin_statement(session)
                        )
                elif is_handler and _is_write(model, scope, call, method):
                    if binding.name not in unframed:
                        unframed[binding.name] = _request_has_no_transaction(model, scope, binding)
                    if unframed[binding.name] and "begin" not in model.transaction_blocks_around(call, binding, scope):
                        yield report(
                            call, what=f"write `{method}()` with no transaction boundary", session=session,
                            owner="this function", block=binding.begin_statement(session),
                        )
            yield from _hidden_commits(model, scope)


def _hidden_commits(model: SemanticModel, scope: Scope) -> Iterator[Report]:
    """Calls handing a session to project code that commits it where nothing knows it holds a session
    (`def save(db, obj): ...; db.commit()`, in any module): the commit shows at the call."""
    names_bound = model.session_names()
    for call in scope.calls:
        for argument in (*call.args, *(item.value for item in call.keywords)):
            parts = dotted(argument)
            if parts is None or parts[-1] not in names_bound:
                continue
            binding = model.session_binding(argument, scope)
            if binding is None or binding.origin == "bound" or _frames_transaction(model, scope, call, binding):
                continue
            summary = model.call_summary(call, scope)
            if summary is not None and summary.parameter_for(call, argument) in summary.hidden_commits:
                session = ".".join(parts)
                shown = ".".join(dotted(call.func) or ["..."])
                yield report(
                    call, what=f"`commit()` in `{shown}()`", session=session, owner="it", block=binding.begin_statement(session)
                )
                break


def _frames_transaction(model: SemanticModel, scope: Scope, call: ast.Call, binding: SessionBinding) -> bool:
    """Whether this function frames the transaction that `call` ends: the function is a yield
    dependency / context manager wrapped around the caller's unit of work (`yield session` then
    `commit()`, or a class's `__aexit__`), or `call` sits in its own `begin()` / `begin_nested()`
    block (ending that block early is ASQ303's finding)."""
    if scope.yields or scope.klass is not None and scope.name in CONTEXT_EXITS:
        return True
    return any(model.transaction_blocks_around(call, binding, scope))


def _recovers(model: SemanticModel, scope: Scope, call: ast.Call, binding: SessionBinding) -> bool:
    """A rollback in an `except` that raises on, or in the `except` of a loop over a session the object holds
    (a long-running worker keeping its own session usable for the next round)."""
    if model.rollback_then_raises(call, scope):
        return True
    return binding.origin == "attribute" and model.handling_except(call, scope) is not None and model.in_loop(call, scope)


def _request_has_no_transaction(model: SemanticModel, scope: Scope, binding: SessionBinding) -> bool:
    """Whether the request's session is known to get no transaction boundary: its dependency yields
    a session and neither runs a transaction nor commits, and the handler (nested functions
    included) neither commits nor rolls it back, nor hands it to code that might."""
    provider = binding.provider
    if binding.origin != "dependency" or provider is None or binding.transactional:
        return False
    if not (provider.yields_session or provider.returns_session):
        return False  # the provider's session is not one this model can follow
    for call, where in model.calls_within(scope):
        found = model.session_method_call(call, where)
        if found is None or found[0].name != binding.name:
            continue
        # A `with session.begin():` block covers only its own body; a bare `begin()` is ended out of sight.
        if found[1] in TRANSACTION_ENDS or found[1] == "begin" and not isinstance(model.parents.get(call), ast.withitem):
            return False
    return not model.passes_session_on(binding, scope)


def _is_write(model: SemanticModel, scope: Scope, call: ast.Call, method: str) -> bool:
    # `flush()` sends the pending writes: on a borrowed session it is the write this function makes.
    return method == "flush" or model.is_session_write(call, method, scope)
