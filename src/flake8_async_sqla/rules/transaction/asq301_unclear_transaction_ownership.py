from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.model import Scope, SemanticModel, SessionBinding, dotted, keyword, literal_str
from flake8_async_sqla.core.rule import Report, Rule, register, report

TRANSACTION_ENDS = {"commit", "rollback"}
CONTEXT_EXITS = {"__exit__", "__aexit__"}
WRITE_METHODS = {
    "add", "add_all", "delete", "merge", "flush",
    "bulk_save_objects", "bulk_insert_mappings", "bulk_update_mappings",
}
# Methods that run a statement: a write when the statement is insert/update/delete.
STATEMENT_METHODS = {"execute", "scalar", "scalars"}
BORROWED = {"param", "dependency", "attribute"}
WRITE_SQL_PREFIXES = ("INSERT", "UPDATE", "DELETE", "UPSERT", "MERGE")


@register
class UnclearTransactionOwnership(Rule):
    """
    ## What it does
    Finds `commit()` / `rollback()` called on a session that the function did not
    create (a parameter, a dependency, or `self.session` in a repository), and writes
    (`add`, `add_all`, `delete`, `merge`, `flush`, `execute(insert/update/delete ...)`,
    `execute(text("UPDATE ..."))`) in a route handler whose session comes from a
    dependency known to run no transaction (it neither opens `begin()` nor commits),
    when the handler neither commits nor rolls that session back nor hands it to other
    code. Fine: writes inside `async with session.begin():`, commits in the function
    that created the session, and a yield dependency that commits the session it
    wraps (or a class's `__aexit__`). A `begin_nested()` savepoint is not the request's
    transaction: writes in it still need a commit. A commit inside a `begin()` or
    `begin_nested()` block is ASQ303's finding, not this rule's.

    ## Why is this bad?
    When helpers commit sessions they were handed, nobody owns the transaction: a
    service commits half of a request's work, a later failure cannot roll it back, and
    a caller's surrounding `begin()` block is ended behind its back. When nothing
    commits at all, the writes rely on autobegin and are silently discarded when the
    session closes.

    ## Use instead
    Let the code that owns the unit of work (the route handler or the dependency)
    open one explicit `async with session.begin():` block around the writes; helpers
    take the session and never commit.

    ## Fix safety
    No automatic fix.

    ## References
    - [SQLAlchemy: Managing Transactions](https://docs.sqlalchemy.org/en/20/orm/session_transaction.html)
    - [SQLAlchemy: Framing out a begin / commit / rollback block](https://docs.sqlalchemy.org/en/20/orm/session_basics.html#framing-out-a-begin-commit-rollback-block)
    """

    code = "ASQ301"
    name = "unclear-transaction-ownership"
    phase = 3
    message = "{what} on session `{session}` that this function does not own: wrap the unit of work in `async with {session}.begin():` where the session is created"
    invalid = (
        '''\
from sqlalchemy.ext.asyncio import AsyncSession


async def create_user(session: AsyncSession, name: str) -> User:
    user = User(name=name)
    session.add(user)
    await session.commit()  # error: ASQ301
    return user
''',
    )
    valid = (
        '''\
from sqlalchemy.ext.asyncio import AsyncSession


async def create_user(session: AsyncSession, name: str) -> User:
    async with session.begin():
        user = User(name=name)
        session.add(user)
    return user
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for scope in model.scopes:
            if scope.kind != "function":
                continue
            is_handler = model.is_route_handler(scope)
            unframed: dict[str, bool] = {}
            for call in scope.calls:
                found = model.session_method_call(call, scope)
                if found is None or found[0].origin not in BORROWED:
                    continue
                binding, method = found
                session = ".".join(dotted(call.func.value) or [binding.name])  # type: ignore[attr-defined]
                if method in TRANSACTION_ENDS:
                    if not _frames_transaction(model, scope, call, binding):
                        yield report(call, what=f"`{method}()`", session=session)
                elif is_handler and _is_write(model, scope, call, method):
                    if binding.name not in unframed:
                        unframed[binding.name] = _request_has_no_transaction(model, scope, binding)
                    if unframed[binding.name] and "begin" not in model.transaction_blocks_around(call, binding, scope):
                        yield report(call, what=f"write `{method}()` with no transaction boundary", session=session)


def _frames_transaction(model: SemanticModel, scope: Scope, call: ast.Call, binding: SessionBinding) -> bool:
    """Whether this function frames the transaction that `call` ends: the function is a yield
    dependency / context manager wrapped around the caller's unit of work (`yield session` then
    `commit()`, or a class's `__aexit__`), or `call` sits in its own `begin()` / `begin_nested()`
    block (ending that block early is ASQ303's finding)."""
    if scope.yields or scope.klass is not None and scope.name in CONTEXT_EXITS:
        return True
    return any(model.transaction_blocks_around(call, binding, scope))


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
    if method in WRITE_METHODS:
        return True
    if method not in STATEMENT_METHODS:
        return False
    statement = call.args[0] if call.args else keyword(call, "statement")
    return statement is not None and _is_write_statement(model, scope, statement)


def _is_write_statement(model: SemanticModel, scope: Scope, statement: ast.AST) -> bool:
    """`insert(...)`/`update(...)`/`delete(...)` (methods chained on them included) or
    `text("UPDATE ...")`, written in place or built in a variable first (`stmt = stmt.values(...)`)."""
    node: ast.AST | None = statement
    followed: set[ast.AST] = set()  # each assignment once: `stmt = stmt` must not loop
    while node is not None:
        if isinstance(node, ast.NamedExpr):
            node = node.value
        elif isinstance(node, ast.Name):
            assign = _assignment_before(scope, node)
            if assign is None or assign in followed:
                return False
            followed.add(assign)
            node = assign.value  # type: ignore[attr-defined]
        elif isinstance(node, ast.Call):
            api = model.api(node.func)
            if api in names.WRITE_STATEMENTS:
                return True
            if api == "text":
                sql = literal_str(node.args[0]) if node.args else None
                return sql is not None and sql.lstrip().upper().startswith(WRITE_SQL_PREFIXES)
            node = node.func.value if isinstance(node.func, ast.Attribute) else None
        else:
            return False
    return False


def _assignment_before(scope: Scope, name: ast.Name) -> ast.AST | None:
    """The last assignment of `name` in `scope` that ends before `name` is read."""
    read_at = (name.lineno, name.col_offset)
    latest = None
    for assign in scope.assigns:
        if isinstance(assign, ast.Assign):
            targets = assign.targets
        elif isinstance(assign, (ast.AnnAssign, ast.NamedExpr)) and assign.value is not None:
            targets = [assign.target]
        else:
            continue
        if not any(isinstance(target, ast.Name) and target.id == name.id for target in targets):
            continue
        if (assign.end_lineno, assign.end_col_offset) <= read_at and (
            latest is None or (assign.lineno, assign.col_offset) > (latest.lineno, latest.col_offset)
        ):
            latest = assign
    return latest
