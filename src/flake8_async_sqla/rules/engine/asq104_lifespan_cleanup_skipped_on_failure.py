from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.edits import Edit, SourceText, indent_unit, indented, spans_lines_in_a_string, statement_lines
from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.syntax import TRY_NODES, call_method, dotted
from flake8_async_sqla.core.roles import SERVING_ROLES
from flake8_async_sqla.core.rule import UNSAFE, AutoFix, Report, Rule, register, report

# Statements that, in a `finally:`, would swallow the exception the block is there to let through.
LEAVING_FINALLY = (ast.Return, ast.Break, ast.Continue)


@register
class LifespanCleanupSkippedOnFailure(Rule):
    """
    ## What it does
    Finds release code (`await engine.dispose()`, `.close()`, `.aclose()`, `.shutdown()`,
    `.disconnect()`) after the `yield` of an app's `lifespan` (passed as `lifespan=` or set as
    `app.router.lifespan_context`) that is not in a `finally:` block around the `yield`.
    Cleanup registered on an `AsyncExitStack` (`stack.push_async_callback(engine.dispose)`)
    or left to an `async with` is fine, and so is release code in an `except` handler
    around the `yield`, or after a `try` whose handler swallows the error (it then runs
    either way).

    ## Why is this bad?
    Code after a bare `yield` only runs when the body of the context manager ends
    normally. When an exception is thrown in at the `yield` (a failing test inside
    `with TestClient(app):`, a cancelled server task, a nested lifespan that fails) or the
    release code before it raises, the engine is never disposed: its pooled connections
    stay open until the database times them out, and other resources after it leak too.

    ## Use instead
    Register each release on an `AsyncExitStack` right after creating the resource, or
    put the release code in a `finally:` block around the `yield`.

    ## Known false alarms
    Each release after the `yield` is judged alone: a lifespan that releases in an
    `except BaseException:` handler that re-raises and again after the `try` has the second
    release reported, though every path releases once. Any `@asynccontextmanager` whose name
    contains `lifespan` is judged as an app's lifespan, whether an app uses it or not. Move
    the release into a `finally:`, or silence a deliberate one with `# noqa: ASQ104`;
    scripts are not reported (application and example files only).

    ## Fix safety
    The fix is unsafe: it wraps the `yield` and everything after it in its block in
    `try: yield` / `finally:`, so the code after the `yield` also runs when the app fails.
    That is the point for release calls, but the other statements moved with them (a log
    line, a flush of pending work) run on failure too, and a release that depends on
    state a failed startup never set would now fail itself. Left unfixed: lifespans with
    several `yield`s, a release in another block than the `yield`, and code after the
    `yield` holding a multi-line string or a `return`, `break` or `continue`.

    ## References
    - [FastAPI: Lifespan Events](https://fastapi.tiangolo.com/advanced/events/)
    - [Python: contextlib.asynccontextmanager](https://docs.python.org/3/library/contextlib.html#contextlib.asynccontextmanager)
    - [Python: contextlib.AsyncExitStack](https://docs.python.org/3/library/contextlib.html#contextlib.AsyncExitStack)
    - [SQLAlchemy: Using asyncio engines (dispose)](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#synopsis-core)
    """

    code = "ASQ104"
    name = "lifespan-cleanup-skipped-on-failure"
    phase = 1
    roles = SERVING_ROLES
    fix = AutoFix(UNSAFE, "move the code after the `yield` into `try: yield` / `finally:`")
    message = "`{release}` after the lifespan's `yield` is skipped when the app fails: register it on an AsyncExitStack or move it into a `finally:` block"
    invalid = (
        '''\
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine


@asynccontextmanager
async def lifespan(app: FastAPI):
    engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_pre_ping=True)
    app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    yield
    await engine.dispose()  # error: ASQ104


app = FastAPI(lifespan=lifespan)
''',
    )
    valid = (
        '''\
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with AsyncExitStack() as stack:
        engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_pre_ping=True)
        stack.push_async_callback(engine.dispose)
        app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        yield


app = FastAPI(lifespan=lifespan)
''',
        '''\
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine


@asynccontextmanager
async def lifespan(app: FastAPI):
    engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_pre_ping=True)
    try:
        app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        yield
    finally:
        await engine.dispose()


app = FastAPI(lifespan=lifespan)
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for scope in model.scopes:
            if scope.kind != "function" or not scope.yields or not model.is_lifespan(scope):
                continue
            for call in scope.calls:
                method = call_method(call)
                if method is None or method[1] not in names.RELEASE_METHODS:
                    continue
                before = [y for y in scope.yields if _position(y, end=True) <= _position(call)]
                # Several yields (one per branch): only when none of them protects the release.
                if before and not any(_runs_on_failure(model, call, y, scope) for y in before):
                    parts = dotted(call.func)
                    found = report(call, release=(".".join(parts) if parts else f".{method[1]}") + "()")
                    block = _after_the_yield(model, call, scope)
                    if block is not None:
                        found = found.with_fix(lambda source, block=block, scope=scope: _try_finally(source, block, scope))
                    yield found


def _after_the_yield(model: SemanticModel, release: ast.Call, scope: Scope) -> list[ast.stmt] | None:
    """The lifespan's only `yield` statement and the statements after it in its block, when the release is
    among them and they can move into a `finally:` as they are."""
    if len(scope.yields) != 1:
        return None
    statement = model.parents.get(scope.yields[0])
    parent = model.parents.get(statement) if isinstance(statement, ast.Expr) else None
    block = next(
        (body for field in ("body", "orelse", "finalbody") if statement in (body := getattr(parent, field, None) or [])), None
    )
    if block is None:
        return None
    moved = block[block.index(statement) :]
    release_statement = next((a for a in (release, *model.ancestors(release)) if model.parents.get(a) is parent), None)
    if len(moved) < 2 or release_statement not in moved[1:] or spans_lines_in_a_string(moved):
        return None
    if any(isinstance(node, LEAVING_FINALLY) for statement in moved[1:] for node in ast.walk(statement)):
        return None
    return moved


def _try_finally(source: SourceText, block: list[ast.stmt], scope: Scope) -> list[Edit] | None:
    """`yield` and the statements after it rewritten as `try: yield` / `finally: <the statements>`."""
    first, rest, last = statement_lines(source, block[0]), statement_lines(source, block[1]), statement_lines(source, block[-1])
    if first is None or rest is None or last is None:
        return None
    start, middle, end = first[0], rest[0], source.line_end(last[1] - 1)
    indent = source.indentation(start)
    unit = indent_unit(source, scope.node)
    text = source.text
    replacement = (
        f"{indent}try:\n{indented(text[start:middle], unit)}{indent}finally:\n{indented(text[middle:end], unit)}"
    )
    return [source.edit(start, end, replacement)]


def _position(node: ast.AST, end: bool = False) -> tuple[int, int]:
    if end:
        return node.end_lineno or node.lineno, node.end_col_offset or node.col_offset  # type: ignore[attr-defined]
    return node.lineno, node.col_offset  # type: ignore[attr-defined]


def _runs_on_failure(model: SemanticModel, release: ast.Call, yielded: ast.AST, scope: Scope) -> bool:
    """Whether `release` still runs when an exception is thrown in at `yielded`: it sits in a
    `finally:` around the yield or in an `except` handler of it, or a handler lets control go on."""
    child: ast.AST = yielded
    for ancestor in model.ancestors(yielded):
        if ancestor is scope.node:
            return False
        if isinstance(ancestor, TRY_NODES) and not _within(child, ancestor.finalbody):
            if _inside(model, release, ancestor.finalbody, scope):
                return True
            if _within(child, ancestor.body) and ancestor.handlers:
                if _inside(model, release, ancestor.handlers, scope):
                    return True
                if any(_swallows(handler) for handler in ancestor.handlers) and not _inside(model, release, [ancestor], scope):
                    return True
        child = ancestor
    return False


def _within(child: ast.AST, statements: list[ast.stmt]) -> bool:
    return any(statement is child for statement in statements)


def _inside(model: SemanticModel, node: ast.AST, containers: list[ast.AST], scope: Scope) -> bool:
    """Whether `node` is inside one of `containers` (statements or handlers) of `scope`."""
    for ancestor in model.ancestors(node):
        if ancestor is scope.node:
            return False
        if any(ancestor is container for container in containers):
            return True
    return False


def _swallows(handler: ast.ExceptHandler) -> bool:
    """A handler that does not end by raising: control goes on after the `try`."""
    return not (handler.body and isinstance(handler.body[-1], ast.Raise))
