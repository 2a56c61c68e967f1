from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.syntax import TRY_NODES, call_method, dotted
from flake8_async_sqla.core.roles import SERVING_ROLES
from flake8_async_sqla.core.rule import Report, Rule, register, report


@register
class DependencyReturnsSession(Rule):
    """
    ## What it does
    Finds a FastAPI dependency that `return`s a session it opens (`return SessionLocal()`,
    `return AsyncSession(engine)`, or a name bound to one) instead of yielding it. A
    dependency is a function named in `Depends(...)` / `Security(...)` in this module
    (directly, in `Annotated[..., Depends(f)]` or an alias of it), one whose own
    parameters FastAPI fills, or one listed under the `session-dependencies` option.
    Returning a session the dependency was given (a sub-dependency's session) is fine, and
    so is returning the session factory.

    ## Why is this bad?
    FastAPI runs the code after a dependency's `yield` once the request is done; it never
    closes what a dependency returns. A returned session is never closed, so its pooled
    connection stays checked out until the garbage collector finds it, and the pool runs
    dry under load. Returning it from inside `async with` (or `try:` ... `finally:
    close()`) is no better: the block closes the session before the route handler uses it.

    ## Use instead
    Open the session with `async with` and `yield` it; FastAPI resumes the dependency and
    closes the session after the response.

    ## Known false alarms
    Only where the session goes is read, not what else closes it: a dependency that returns
    a session after registering its close elsewhere
    (`request.state.exit_stack.push_async_callback(session.close)`, or a middleware that
    closes `request.state.session`) is reported. Silence a deliberate one with
    `# noqa: ASQ204` on the `return`; scripts are not reported (application and example
    files only).

    ## Fix safety
    No automatic fix: turning the function into a generator changes what its other
    callers receive.

    ## References
    - [FastAPI: Dependencies with yield](https://fastapi.tiangolo.com/tutorial/dependencies/dependencies-with-yield/)
    - [FastAPI: SQL (Relational) Databases](https://fastapi.tiangolo.com/tutorial/sql-databases/)
    - [SQLAlchemy: Opening and Closing a Session](https://docs.sqlalchemy.org/en/20/orm/session_basics.html#opening-and-closing-a-session)
    """

    code = "ASQ204"
    name = "dependency-returns-session"
    phase = 2
    roles = SERVING_ROLES
    message = "dependency `{dependency}` returns a session instead of yielding it, so {fate}: open it with `{context}` and `yield` it, and FastAPI closes it after the request"
    invalid = (
        '''\
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_pre_ping=True)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


async def get_session() -> AsyncSession:
    return SessionLocal()  # error: ASQ204


SessionDep = Annotated[AsyncSession, Depends(get_session)]
''',
    )
    valid = (
        '''\
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_pre_ping=True)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for scope in model.scopes:
            if scope.kind != "function":
                continue
            # Whether it returns a session it opened is cheaper to tell than whether it is a dependency: asked first.
            fates = [(returned, fate) for returned in scope.returns if (fate := _fate(model, returned, scope)) is not None]
            if not fates or not _is_dependency(model, scope):
                continue
            dependency = scope.qualname.removeprefix(model.module + ".")
            for returned, fate in fates:
                yield report(returned, dependency=dependency, fate=fate, context="async with" if scope.is_async else "with")


def _is_dependency(model: SemanticModel, scope: Scope) -> bool:
    return model.is_dependency(scope) or model.options.matches(model.options.session_dependencies, scope.qualname)


def _fate(model: SemanticModel, returned: ast.Return, scope: Scope) -> str | None:
    """What becomes of the session a dependency opens and returns; None when the value is not a
    session this function opened."""
    value = returned.value
    if isinstance(value, ast.Call):
        return "nothing closes it" if model.opens_session(value, scope) else None
    if not isinstance(value, ast.Name):
        return None
    binding = model.session_binding(value, scope)
    if binding is None or binding.origin != "created":
        return None
    if isinstance(binding.node, ast.withitem):
        return "its `with` block closes it before the request uses it"
    opener = getattr(binding.node, "value", None)
    if not (isinstance(opener, ast.Call) and model.opens_session(opener, scope)):
        return None
    if _closed_in_finally_around(model, returned, value.id, scope):
        return "its `finally:` block closes it before the request uses it"
    return "nothing closes it"


def _closed_in_finally_around(model: SemanticModel, returned: ast.Return, name: str, scope: Scope) -> bool:
    """`try: return session` `finally: session.close()`."""
    child: ast.AST = returned
    for ancestor in model.ancestors(returned):
        if ancestor is scope.node:
            return False
        if isinstance(ancestor, TRY_NODES) and child in ancestor.body:
            for statement in ancestor.finalbody:
                for node in ast.walk(statement):
                    method = call_method(node)
                    if method is not None and method[1] in names.SESSION_CLOSE_METHODS and dotted(method[0]) == [name]:
                        return True
        child = ancestor
    return False
