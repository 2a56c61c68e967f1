from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.model import Scope, SemanticModel, SessionBinding, call_method
from flake8_async_sqla.core.rule import Report, Rule, register, report

WRITE_METHODS = {"add", "add_all", "delete", "merge", "flush"}
BORROWED = {"param", "dependency", "attribute"}
WRITE_SQL_PREFIXES = ("INSERT", "UPDATE", "DELETE", "UPSERT", "MERGE")


@register
class UnclearTransactionOwnership(Rule):
    """
    ## What it does
    Finds `commit()` / `rollback()` called on a session that the function did not
    create (a parameter, a dependency, or `self.session` in a repository), and writes
    (`add`, `add_all`, `delete`, `merge`, `flush`, `execute(insert/update/delete ...)`)
    in a route handler whose session comes from a dependency that runs no transaction,
    with no `begin()` block and no commit anywhere in the request. Writes inside
    `async with session.begin():`, and commits in the function that created the
    session, are fine.

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
            writes: dict[str, list[ast.Call]] = {}
            settled: set[str] = set()
            bindings: dict[str, SessionBinding] = {}
            for call in scope.calls:
                found = model.session_method_call(call, scope)
                if found is None:
                    continue
                binding, method = found
                if method in ("commit", "rollback", "begin", "begin_nested"):
                    settled.add(binding.name)
                if binding.origin not in BORROWED or model.in_begin_block(call, binding, scope):
                    continue
                if method in ("commit", "rollback"):
                    yield report(call, what=f"`{method}()`", session=binding.name)
                elif self._is_write(model, scope, call, method):
                    writes.setdefault(binding.name, []).append(call)
                    bindings[binding.name] = binding
            if not model.is_route_handler(scope):
                continue
            for name, calls in writes.items():
                if name in settled or bindings[name].origin != "dependency" or bindings[name].transactional:
                    continue
                for call in calls:
                    yield report(call, what=f"write `{call_method(call)[1]}()` with no transaction boundary", session=name)  # type: ignore[index]

    @staticmethod
    def _is_write(model: SemanticModel, scope: Scope, call: ast.Call, method: str) -> bool:
        if method in WRITE_METHODS:
            return True
        if method != "execute" or not call.args:
            return False
        return _is_write_statement(model, scope, call.args[0])


def _is_write_statement(model: SemanticModel, scope: Scope, statement: ast.AST) -> bool:
    """`insert(...)`/`update(...)`/`delete(...)` (and their chains), or `text("UPDATE ...")`."""
    if isinstance(statement, ast.Name):
        for assign in scope.assigns:
            if isinstance(assign, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == statement.id for t in assign.targets
            ):
                return _is_write_statement(model, scope, assign.value)
        return False
    node = statement
    while isinstance(node, ast.Call):
        api = model.api(node.func)
        if api in names.WRITE_STATEMENTS:
            return True
        if api == "text" and node.args and isinstance(node.args[0], ast.Constant):
            sql = str(node.args[0].value).lstrip().upper()
            return sql.startswith(WRITE_SQL_PREFIXES)
        if not isinstance(node.func, ast.Attribute):
            return False
        node = node.func.value
    return False
