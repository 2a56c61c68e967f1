from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

from flake8_async_sqla.core import names
from flake8_async_sqla.core.edits import Edit, SourceText, await_allowed, await_around, bound_names, import_edit
from flake8_async_sqla.core.mapping import UNKNOWN_STRATEGY
from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.syntax import dotted
from flake8_async_sqla.core.rule import UNSAFE, AutoFix, Report, Rule, register, report

# Query methods that Select has too, with the same meaning: kept as written.
SELECT_METHODS = {"filter", "filter_by", "where", "order_by", "limit", "offset"}
# Query methods that end a chain: those run as `session.scalars(stmt)` and what is called on its result; `first`
# runs as `session.scalar(stmt.limit(1))`, `count` as `session.scalar(select(func.count()).select_from(...))`.
SCALARS_ENDINGS = {
    "all": ".all()",
    "one": ".one()",
    "one_or_none": ".one_or_none()",
    "scalar": ".one_or_none()",  # Query.scalar(): the first column, None without rows, raises on several
}
ENDINGS = {*SCALARS_ENDINGS, "first", "count"}
# Endings whose result is the same for a column as for an entity: others need a mapped class (a column query
# returns rows, not scalars).
ANY_ENTITY = {"count", "scalar"}


@register
class LegacyQueryApi(Rule):
    """
    ## What it does
    Finds `session.query(...)`, and so every `Query` chain built from it
    (`session.query(User).filter_by(...).first()`), on an expression known to hold a
    session: a session parameter or dependency (also through an `Annotated` alias), a
    session opened from a factory (also `sessionmaker(engine)()`, a project function that
    returns a factory, or a `with` of the project's context manager, unit-of-work class or
    a method of an injected object that opens one), an ORM object's `object_session(obj)`,
    a repository's `self.session` (also set in a base class of another module, or declared
    at class level, as a class-based view's `db: Session = Depends(get_db)`), a module-level
    session or `scoped_session` registry of any module of the project (`Session.query(...)`),
    or a session other code keeps on `request.state` (a middleware), in a worker's
    `ctx["db"]` (its startup) or in a container on `self`. On an `AsyncSession` it is an error;
    on a synchronous `Session` it is the 1.x API. `query` on anything else (Flask-SQLAlchemy's
    `Model.query`, a search client) is not reported.

    ## Why is this bad?
    `AsyncSession` has no `query()` method: the call raises `AttributeError` as soon as the
    code runs, typically right after a migration from sync sessions. On a sync `Session`,
    `Query` is the legacy 1.x API: it does not exist on `AsyncSession`, so every use is one
    more thing to rewrite before the code can move to asyncio, and SQLAlchemy 2.0
    documents `select()` as the one way to build ORM queries.

    ## Use instead
    Build the statement with `select()` and run it with `session.scalars(stmt)` /
    `session.execute(stmt)` (awaited on an `AsyncSession`); `session.get(Model, pk)` for a
    lookup by primary key.

    ## Known false alarms
    Every `query()` on a known session is reported, also in code that stays on a synchronous
    `Session` on purpose (scripts, jobs, code shared with a 1.x codebase) and on a `Session`
    subclass with a `query()` of its own made by `sessionmaker(class_=...)`. A sync session
    known only through `session-types`, `session-factories` or `session-dependencies` is
    taken to be an `AsyncSession`, so its `query()` is reported as an `AttributeError`. A
    session kept by other code is known by its place alone: anything read as
    `<x>.state.db` (or `ctx["db"]` on a parameter) is taken for the session a middleware
    (or a worker's startup) of the project keeps under that name. A function annotated to
    return a `Session` is taken to return one. Silence legacy modules with
    `per-file-ignores` until they move, or one line with `# noqa: ASQ401`.

    ## Fix safety
    The fix is unsafe: it rewrites the common forms, `session.query(Model).get(pk)` to
    `session.get(Model, pk)`, and a chain of `filter()`, `filter_by()`, `where()`,
    `order_by()`, `limit()` and `offset()` ending in `.all()`, `.first()`, `.one()`,
    `.one_or_none()`, `.scalar()` or `.count()` to a `select()` run with
    `session.scalars(...)` / `session.scalar(...)` (`.count()` as
    `select(func.count()).select_from(stmt.subquery())`), awaited on an `AsyncSession`,
    importing `select` and `func` where the module lacks them. Result shapes can still
    differ: review the rewritten query. Left unfixed: queries of several entities or of
    columns (they return rows), of a class whose relationships load with `lazy="joined"`
    (a `select()` needs `.unique()` there), other `Query` methods (`options`, `join`,
    `update`, ...), and a query kept in a variable.

    ## References
    - [SQLAlchemy: ORM Querying Guide](https://docs.sqlalchemy.org/en/20/orm/queryguide/index.html)
    - [SQLAlchemy 2.0 Migration: ORM Query Unified with Core Select](https://docs.sqlalchemy.org/en/20/changelog/migration_20.html#orm-query-unified-with-core-select)
    - [SQLAlchemy: Legacy Query API](https://docs.sqlalchemy.org/en/20/orm/queryguide/query.html)
    """

    code = "ASQ401"
    runtime_proof = "tests/runtime/test_asq401.py"
    observed = {
        "SQLite (aiosqlite)": "`session.query(User)` raises `AttributeError: 'AsyncSession' object has no attribute "
        "'query'` before any SQL is sent; the `select()` version returns the user.",
        "PostgreSQL (asyncpg)": "the same `AttributeError`; the `select()` version returns the user.",
    }
    name = "legacy-query-api"
    phase = 2
    fix = AutoFix(UNSAFE, "rewrite the query with `select()`")
    message = "`{session}.query()` {problem}: build the statement with select() and run it with `{run}`"
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


async def find_user(session: AsyncSession, email: str):
    return session.query(User).filter_by(email=email).first()  # error: ASQ401
''',
    )
    valid = (
        '''\
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(unique=True)


async def find_user(session: AsyncSession, email: str):
    return await session.scalar(select(User).where(User.email == email))
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for scope in model.scopes:
            for call, (binding, method) in model.session_calls(scope).items():
                if method != "query":
                    continue
                session = ".".join(dotted(call.func.value) or [binding.name])  # type: ignore[attr-defined]
                if binding.kind == "async":
                    problem, run = "does not exist on AsyncSession (AttributeError)", f"await {session}.scalars(stmt)"
                else:
                    problem, run = "is the legacy 1.x Query API", f"{session}.scalars(stmt)"
                found = report(call, session=session, problem=problem, run=run)
                rewrite = _rewrite(model, call, scope, binding.kind == "async")
                yield found.with_fix(rewrite.edits) if rewrite is not None else found


@dataclass(frozen=True)
class QueryRewrite:
    """A `session.query(...)...` chain and what it becomes."""

    model: SemanticModel
    chain: ast.Call  # the whole chain, up to its ending call
    query: ast.Call  # `session.query(Entity)`
    last_step: ast.expr  # the end of the part kept as written (the query call or its last Select method)
    ending: str
    awaits: bool

    def edits(self, source: SourceText) -> list[Edit] | None:
        """The query call becomes the start of the new statement and its run, and the ending call their end; the
        Select methods between them, and any comments there, stay as written."""
        session = source.segment(self.query.func.value)  # type: ignore[attr-defined]
        entity = source.segment(self.query.args[0])
        if self.ending == "get":
            key = source.segment(self.chain.args[0])
            before, after = await_around(self.model, self.chain) if self.awaits else ("", "")
            return [source.replace(self.chain, f"{before}{session}.get({entity}, {key}){after}")]
        ending = re.search(rf"\.\s*{self.ending}\s*\(\s*\)$", source.text[source.end(self.last_step) : source.end(self.chain)])
        if ending is None:
            return None  # a comment inside the ending call's parentheses
        if self.ending in SCALARS_ENDINGS:
            opening, closing = f"{session}.scalars(select({entity})", f"){SCALARS_ENDINGS[self.ending]}"
            if self.awaits:
                opening, closing = f"(await {opening}", f"){closing}"
        else:
            opening, closing = (
                (f"{session}.scalar(select({entity})", ".limit(1))") if self.ending == "first"
                else (f"{session}.scalar(select(func.count()).select_from(select({entity})", ".subquery()))")
            )
            if self.awaits:
                before, after = await_around(self.model, self.chain)
                opening, closing = before + opening, closing + after
        edits = [
            source.replace(self.query, opening),
            source.edit(source.end(self.last_step) + ending.start(), source.end(self.chain), closing),
        ]
        return self._with_imports(source, edits, ("select", "func") if self.ending == "count" else ("select",))

    def _with_imports(self, source: SourceText, edits: list[Edit], needs: tuple[str, ...]) -> list[Edit] | None:
        """`edits` with the imports of `select` and `func` they need, unless another name is in the way."""
        bound = bound_names(self.model.tree)
        missing = [name for name in needs if names.sqlalchemy_api(self.model.imports.get(name)) != name]
        if any(name in bound for name in missing):
            return None  # another `select` or `func` is in the way
        if missing:
            edits.append(import_edit(source, self.model.tree, "sqlalchemy", ", ".join(sorted(missing))))
        return edits


def _rewrite(model: SemanticModel, query: ast.Call, scope: Scope, is_async: bool) -> QueryRewrite | None:
    """The rewrite of the chain `query` starts, when it is one of the common forms."""
    if len(query.args) != 1 or query.keywords or isinstance(query.args[0], ast.Starred):
        return None
    if is_async and not await_allowed(model, query, scope.function_scope):
        return None
    step: ast.expr = query
    last_step = query
    while True:
        attribute, call = model.parents.get(step), None
        if isinstance(attribute, ast.Attribute) and attribute.value is step:
            call = model.parents.get(attribute)
        if not isinstance(call, ast.Call) or call.func is not attribute:
            return None  # the query is kept, or used some other way
        method = attribute.attr  # type: ignore[union-attr]
        if method in SELECT_METHODS:
            step = last_step = call
            continue
        if method == "get" and step is query and len(call.args) == 1 and not call.keywords:
            break
        if method not in ENDINGS or call.args or call.keywords:
            return None
        break
    entity = model.qualname(query.args[0])
    mapped = model.is_mapped_class(entity)
    if method not in ANY_ENTITY and not mapped or method != "count" and mapped and _joins_collections(model, entity):
        return None
    return QueryRewrite(model, call, query, last_step, method, is_async)


def _joins_collections(model: SemanticModel, entity: str | None) -> bool:
    """Whether loading `entity` may load a collection with a join (lazy="joined", or a strategy not known)."""
    pending, seen = [entity], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for relationship in (model.model_relationships(current) or {}).values():
            if relationship.lazy == UNKNOWN_STRATEGY or relationship.lazy == "joined" and relationship.collection is not False:
                return True
            if relationship.lazy == "joined":
                pending.append(relationship.target)
    return False
