from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core.edits import Edit, SourceText, statement_lines
from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.sessions import SessionBinding
from flake8_async_sqla.core.syntax import WITH_NODES, call_method, dotted
from flake8_async_sqla.core.rule import SAFE, AutoFix, Report, Rule, register, report


@register
class CommitInsideBeginBlock(Rule):
    """
    ## What it does
    Finds `commit()` and `rollback()` called on a session inside a block that already owns
    that session's transaction: `async with session.begin():`, `async with
    session.begin_nested():`, or `async with factory.begin() as session:` (sync `with`
    too). A `rollback()` in an `except` handler that then raises is not reported (the
    block would roll back anyway), nor are calls on a different session, on the object
    `begin()` / `begin_nested()` returns (`savepoint.rollback()` is how a savepoint is
    handled by hand), or in a function defined inside the block, which may run later. A
    call in a bare `begin_nested()` block on a session the function was handed is left to
    ASQ301, which reports every transaction end on a borrowed session.

    ## Why is this bad?
    The `begin()` block commits when it ends and rolls back when it raises. A commit inside
    it ends the transaction early: the work up to that line is committed and can no longer
    be rolled back, the next statement on the session inside the block (or, when there is
    none, leaving the block) raises `InvalidRequestError: Can't operate on closed
    transaction inside context manager` (SQLAlchemy 2.0 and 2.1), and the rest of the
    block's work is never written: half a transfer is committed. Inside `begin_nested()`
    it is worse: `Session.commit()` and `Session.rollback()` act on the outermost
    transaction, not on the savepoint, so they end the enclosing transaction as well.

    ## Use instead
    Let the block end the transaction: drop the `commit()`, call `flush()` if the code
    needs generated keys before the block ends, and raise to roll back. For a partial
    rollback, open a savepoint with `async with session.begin_nested():` around the part
    that may fail.

    ## Known false alarms
    Sessions are matched by name within the function: a name rebound inside the block to
    another session (`async with Audit() as session:` nested in
    `async with session.begin():`, or `session = Audit()`) has its `commit()` reported
    against the outer block. Give the inner session its own name, or silence a deliberate
    one with `# noqa: ASQ303`.

    ## Fix safety
    The fix is safe: it removes a `commit()` that is the last statement of its `begin()`
    block, where the block commits the same work on exit (and the early commit made that
    exit raise). A commit with statements after it, a `rollback()`, and calls inside
    `begin_nested()` are left alone: removing those changes what is persisted when a later
    statement fails.

    ## References
    - [SQLAlchemy: Managing Transactions](https://docs.sqlalchemy.org/en/20/orm/session_transaction.html#managing-transactions)
    - [SQLAlchemy: Using SAVEPOINT](https://docs.sqlalchemy.org/en/20/orm/session_transaction.html#using-savepoint)
    - [SQLAlchemy issue #6288: explicit commit in transaction context manager](https://github.com/sqlalchemy/sqlalchemy/issues/6288)
    """

    code = "ASQ303"
    runtime_proof = "tests/runtime/test_asq303.py"
    observed = {
        "SQLite (aiosqlite)": "the inner `commit()` commits the debit; the `get` after it raises `InvalidRequestError: "
        "Can't operate on closed transaction inside context manager` (with only attribute changes after the commit, "
        "leaving the block raises it), so a second session finds 70 and 0: the credit is lost. "
        "The `flush()` version commits 70 and 30.",
        "PostgreSQL (asyncpg)": "the same error at the same statement, the same half-committed transfer; "
        "the `flush()` version commits both sides.",
    }
    name = "commit-inside-begin-block"
    phase = 3
    fix = AutoFix(SAFE, "remove the `commit()` that ends its `begin()` block")
    message = "`{session}.{method}()` inside `{block}` ends the block's transaction early: let the block commit on exit, or raise to roll it back"
    invalid = (
        '''\
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    balance: Mapped[int]


async def transfer(session: AsyncSession, source_id: int, target_id: int, amount: int) -> None:
    async with session.begin():
        source = await session.get(Account, source_id)
        source.balance -= amount
        await session.commit()  # error: ASQ303
        target = await session.get(Account, target_id)
        target.balance += amount
''',
        '''\
from sqlalchemy.ext.asyncio import async_sessionmaker

factory = async_sessionmaker(expire_on_commit=False)


async def import_rows(rows: list[dict]) -> None:
    async with factory.begin() as session:
        for row in rows:
            session.add(Row(**row))
            await session.commit()  # error: ASQ303
''',
        '''\
from sqlalchemy.ext.asyncio import AsyncSession


async def rename(session: AsyncSession, user_id: int, name: str) -> None:
    async with session.begin():
        user = await session.get(User, user_id)
        user.name = name
        await session.commit()  # error: ASQ303
''',
    )
    valid = (
        '''\
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    balance: Mapped[int]


async def transfer(session: AsyncSession, source_id: int, target_id: int, amount: int) -> None:
    async with session.begin():
        source = await session.get(Account, source_id)
        source.balance -= amount
        await session.flush()
        target = await session.get(Account, target_id)
        target.balance += amount
''',
        '''\
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession


async def tag_all(session: AsyncSession, tags: list[str]) -> None:
    async with session.begin():
        for name in tags:
            savepoint = await session.begin_nested()
            try:
                session.add(Tag(name=name))
                await savepoint.commit()
            except IntegrityError:
                await savepoint.rollback()
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for scope in model.scopes:
            if scope.kind != "function":
                continue
            for call, (binding, method) in model.session_calls(scope).items():
                if method not in ("commit", "rollback"):
                    continue
                blocks = _owning_blocks(model, call, binding, scope)
                if not blocks or (method == "rollback" and model.rollback_then_raises(call, scope)):
                    continue
                # A savepoint alone on a session handed in: ASQ301 already reports the call.
                if binding.borrowed and all(kind == "begin_nested" for kind, _, _ in blocks):
                    continue
                found = report(call, session=_text(call.func.value, binding.name), method=method, block=blocks[0][1])  # type: ignore[attr-defined]
                kind, _, block = blocks[0]
                statement = _last_statement(model, call, block) if method == "commit" and kind == "begin" else None
                if statement is not None:
                    found = found.with_fix(lambda source, statement=statement, block=block: _remove(source, statement, block))
                yield found


def _last_statement(model: SemanticModel, call: ast.Call, block: ast.AST) -> ast.stmt | None:
    """The statement `call` (awaited or not) makes up, when it is the last one of `block`'s body."""
    statement = model.parents.get(call)
    if isinstance(statement, ast.Await):
        statement = model.parents.get(statement)
    body = block.body  # type: ignore[attr-defined]
    return statement if isinstance(statement, ast.Expr) and body[-1] is statement else None


def _remove(source: SourceText, statement: ast.stmt, block: ast.AST) -> list[Edit] | None:
    """The statement's lines removed (`pass` left in its place when the block holds nothing else)."""
    if len(block.body) == 1:  # type: ignore[attr-defined]
        return [source.replace(statement, "pass")]
    lines = statement_lines(source, statement)
    return [source.edit(*lines, "")] if lines is not None else None


def _owning_blocks(model: SemanticModel, call: ast.Call, binding: SessionBinding, scope: Scope) -> list[tuple[str, str, ast.AST]]:
    """The `with` items around `call` (in its own function) that run the session's transaction, innermost
    first: ("begin" | "begin_nested", the item as written, the `with` statement)."""
    opened_by = model.parents.get(binding.node) if binding.origin == "created" and binding.transactional else None
    blocks = []
    for ancestor in model.ancestors(call):
        if ancestor is scope.node:
            break
        if not isinstance(ancestor, WITH_NODES):
            continue
        for item in ancestor.items:
            method = call_method(item.context_expr)
            if method is None or method[1] not in ("begin", "begin_nested"):
                continue
            if ancestor is opened_by or model.session_binding(method[0], scope) is binding:
                blocks.append((method[1], f"{_text(method[0], binding.name)}.{method[1]}()", ancestor))
    return blocks


def _text(node: ast.AST, fallback: str) -> str:
    """`session` / `self.session` as written (names and attributes only: no recursion over the AST)."""
    parts = dotted(node)
    return ".".join(parts) if parts else fallback
