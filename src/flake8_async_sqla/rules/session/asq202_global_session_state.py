from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core.model import Scope, SemanticModel, dotted
from flake8_async_sqla.core.rule import Report, Rule, register, report

CONTAINER_STORES = {"append", "add", "setdefault", "insert", "extend", "update"}


@register
class GlobalSessionState(Rule):
    """
    ## What it does
    Finds a session object stored where it outlives one unit of work: assigned at
    module level, through a `global` statement, as a class attribute, on `app.state`,
    `request.state` or any `.state`, or into a module-level object or container.
    A module-level session *factory* (`async_sessionmaker(...)`) is fine, and so is a
    repository that keeps the session it was given on `self`.

    ## Why is this bad?
    A session is a unit of work: it holds a connection, a transaction and an identity
    map. Kept globally it is shared by every request and every task at once (see
    ASQ201), its identity map grows and serves stale rows, and one failed flush leaves
    it unusable (`PendingRollbackError`) for everyone until the process restarts.

    ## Use instead
    Keep only the session factory global; open one session per request in a `yield`
    dependency and pass it down explicitly.

    ## Fix safety
    No automatic fix.

    ## References
    - [SQLAlchemy: When do I construct a Session, when do I commit it, and when do I close it?](https://docs.sqlalchemy.org/en/20/orm/session_basics.html#session-faq-whentocreate)
    - [FastAPI: Dependencies with yield](https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/)
    """

    code = "ASQ202"
    name = "global-session-state"
    phase = 4
    message = "session stored {where} outlives its unit of work: keep the session factory global and open a session per request in a yield dependency"
    invalid = (
        '''\
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
session = SessionLocal()  # error: ASQ202


async def get_user(user_id: int):
    return await session.get(User, user_id)
''',
    )
    valid = (
        '''\
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


async def get_session():
    async with SessionLocal() as session:
        yield session
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for binding in model.sessions(model.module_scope).values():
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
            symbol = model.classify_value(value, scope) if value is not None else None
            if symbol is not None and symbol.kind == "session":
                yield report(assign, where=f"as an attribute of class `{scope.name}`")

    def _stores(self, model: SemanticModel, scope: Scope) -> Iterator[Report]:
        for binding in model.sessions(scope).values():
            if binding.origin == "global":
                yield report(binding.node, where=f"in global `{binding.name}`")
        for assign in scope.assigns:
            if not isinstance(assign, (ast.Assign, ast.AnnAssign)) or assign.value is None:
                continue
            if not self._is_session(model, assign.value, scope):
                continue
            targets = assign.targets if isinstance(assign, ast.Assign) else [assign.target]
            for target in targets:
                where = self._long_lived(model, target, scope)
                if where is not None:
                    yield report(assign, where=where)
        for call in scope.calls:
            if not (isinstance(call.func, ast.Attribute) and call.func.attr in CONTAINER_STORES):
                continue
            if any(self._is_session(model, arg, scope) for arg in call.args):
                where = self._long_lived(model, call.func.value, scope)
                if where is not None:
                    yield report(call, where=where)

    @staticmethod
    def _is_session(model: SemanticModel, value: ast.AST, scope: Scope) -> bool:
        symbol = model.classify_value(value, scope)
        return symbol is not None and symbol.kind == "session"

    @staticmethod
    def _long_lived(model: SemanticModel, target: ast.AST, scope: Scope) -> str | None:
        """Where a store puts the value, when that place outlives the function."""
        if isinstance(target, ast.Name) and not isinstance(getattr(target, "ctx", None), ast.Load):
            return None  # a plain local assignment; `global` stores are bindings of origin "global"
        while isinstance(target, ast.Subscript):
            target = target.value
        parts = dotted(target)
        if parts is None:
            return None
        shown = ".".join(parts)
        if "state" in parts[1:]:
            return f"on `{shown}`"
        root = parts[0]
        if root == "cls" and len(parts) > 1:
            return f"as class attribute `{shown}`"
        function = scope.function_scope
        if root == "self" or function is None or root in _local_names(function):
            return None
        if root in model.local_defs or root in model.imports:
            return f"on module-level `{shown}`"
        return None


def _local_names(function: Scope) -> set[str]:
    found = {a.arg for a in ast.walk(function.node.args) if isinstance(a, ast.arg)}  # type: ignore[attr-defined]
    for assign in function.assigns:
        targets = assign.targets if isinstance(assign, ast.Assign) else [getattr(assign, "target", None)]
        found.update(t.id for t in targets if isinstance(t, ast.Name) and t.id not in function.global_names)
    return found
