from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.edits import Edit, SourceText, add_entry, add_keyword
from flake8_async_sqla.core.model import SemanticModel
from flake8_async_sqla.core.syntax import keyword
from flake8_async_sqla.core.rule import ADVISORY, UNSAFE, AutoFix, Report, Rule, register, report


@register
class RelationshipDefaultLazyLoader(Rule):
    """
    ## What it does
    Finds a `relationship()` (or SQLModel `Relationship()`) of a mapped class that does
    not choose its loader strategy: no `lazy=` (nor `sa_relationship_kwargs={"lazy": ...}`),
    in an asyncio project. The project counts as one when its application code imports
    the asyncio extension and no synchronous `Session`, `sessionmaker`, `scoped_session` or
    `create_engine` anywhere, or when the module, or a project module
    it imports (directly or through other project modules), imports
    `sqlalchemy.ext.asyncio` or `sqlmodel.ext.asyncio`: the models are loaded with the
    code that creates `AsyncSession`s. Models in a module that imports neither (a
    `models.py` with its own declarative base) are judged only in a project that uses
    the asyncio extension alone.

    Not reported: relationships with an explicit `lazy=` (even `"select"`, a deliberate
    choice), a computed one, `WriteOnlyMapped` / `DynamicMapped` annotations (they never
    load implicitly), classes whose bases include `AsyncAttrs` (the team awaits lazy
    relationships through `obj.awaitable_attrs`, which needs the lazy loader:
    `lazy="raise"` makes it raise too), and relationships declared on mixins, which
    belong to whichever class mixes them in. `viewonly=True` relationships are reported:
    they lazy-load the same way.

    ## Why is this bad?
    The default loader (`lazy="select"`) emits a query the first time the attribute is
    read. Under asyncio that query cannot run inside an attribute access: reading an
    unloaded relationship raises `MissingGreenlet` at runtime, on whichever code path or
    data set forgot to load it, and only there. With `lazy="raise"` the same read fails
    every time, in the first test that reaches it, and the fix (an eager-loading option
    on the query) is obvious from the error.

    ## Use instead
    Declare `lazy="raise"` (SQLModel: `sa_relationship_kwargs={"lazy": "raise"}`) and
    load the relationship where it is needed with `selectinload()` / `joinedload()`, or
    choose an eager strategy (`lazy="selectin"`) for a relationship that is always read.

    ## Known false alarms
    The declaration alone is judged: a relationship that async code only reads after an
    eager-loading option, or that only synchronous scripts and `run_sync` callbacks read, is
    reported. `AsyncAttrs` is recognised only as a base class in a class statement: a base
    made with `declarative_base(cls=AsyncAttrs)` does not exempt its models. Declare the
    strategy you rely on (an explicit `lazy="select"` is not reported), or silence one with
    `# noqa: ASQ502`.

    ## Fix safety
    The fix is unsafe: it declares `lazy="raise"` (SQLModel: adds `"lazy": "raise"` to
    `sa_relationship_kwargs`), so every read of the relationship that nothing loaded now
    raises `InvalidRequestError`. Under asyncio such a read failed already; but code that
    relied on lazy loading where it works (synchronous scripts, tests, `run_sync`
    callbacks) now raises too, and must load the relationship with `selectinload()` first.
    Review the relationship's readers before accepting it.

    ## References
    - [SQLAlchemy: Preventing Implicit IO when Using AsyncSession](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#preventing-implicit-io-when-using-asyncsession)
    - [SQLAlchemy: Preventing unwanted lazy loads using raiseload](https://docs.sqlalchemy.org/en/20/orm/queryguide/relationships.html#preventing-unwanted-lazy-loads-using-raiseload)
    - [SQLAlchemy: Lazy loading strategies (`relationship.lazy`)](https://docs.sqlalchemy.org/en/20/orm/relationship_api.html#sqlalchemy.orm.relationship.params.lazy)
    """

    code = "ASQ502"
    runtime_proof = "tests/runtime/test_asq502.py"
    observed = {
        "SQLite (aiosqlite)": "counting `author.books` after a plain load raises `StatementError` wrapping `MissingGreenlet`; "
        "declared `lazy=\"raise\"`, the selectinload version counts the books and a plain load raises "
        "`InvalidRequestError` ('Author.books' is not available due to lazy='raise').",
        "PostgreSQL (asyncpg)": "the plain load's read raises `MissingGreenlet` itself; `lazy=\"raise\"` raises the same "
        "`InvalidRequestError`, and the selectinload version counts the books.",
    }
    name = "relationship-default-lazy-loader"
    phase = ADVISORY
    fix = AutoFix(UNSAFE, 'declare `lazy="raise"`')
    message = "relationship `{relationship}` keeps the default lazy loader, so an unloaded read under asyncio fails only at runtime (MissingGreenlet): declare {fix}, or an eager strategy"
    invalid = (
        '''\
from sqlalchemy import ForeignKey
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    books: Mapped[list["Book"]] = relationship(back_populates="author")  # error: ASQ502


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    author: Mapped[Author] = relationship(back_populates="books", lazy="raise")


async def author_page(session: AsyncSession, author_id: int) -> Author:
    return await session.get_one(Author, author_id)
''',
        '''\
from typing import Optional

from sqlmodel import Field, Relationship, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession


class Team(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    heroes: list["Hero"] = Relationship(back_populates="team")  # error: ASQ502


class Hero(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    team_id: Optional[int] = Field(default=None, foreign_key="team.id")
    team: Optional[Team] = Relationship(back_populates="heroes", sa_relationship_kwargs={"lazy": "raise"})
''',
    )
    valid = (
        '''\
from sqlalchemy import ForeignKey
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    books: Mapped[list["Book"]] = relationship(back_populates="author", lazy="raise")


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    author: Mapped[Author] = relationship(back_populates="books", lazy="joined")


async def author_page(session: AsyncSession, author_id: int) -> Author:
    return await session.get_one(Author, author_id, options=[selectinload(Author.books)])
''',
        '''\
from sqlalchemy import ForeignKey
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Author(Base):
    """A synchronous project: no asyncio extension is imported, so lazy loading works."""

    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    books: Mapped[list["Book"]] = relationship(back_populates="author")


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    author: Mapped[Author] = relationship(back_populates="books")
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        if not any(api in names.RELATIONSHIP_FACTORIES for _, _, api in model.api_calls()):
            return  # no class here declares a relationship: its summaries need not be built
        candidates = [
            (scope.name, model.class_summary(scope).qualname, relationship)
            for scope in model.classes.values()
            for relationship in model.class_summary(scope).own_relationships.values()
            if relationship.lazy is None and relationship.call is not None
        ]
        if not candidates or not (model.imports_asyncio_extension() or model.project_uses_asyncio_only()):
            return
        for class_name, qualname, relationship in candidates:
            if not _mapped_here(model, qualname) or model.has_base(qualname, "AsyncAttrs"):
                continue
            sqlmodel = names.sqlalchemy_api(model.qualname(relationship.call.func)) == "Relationship"  # type: ignore[union-attr]
            call: ast.Call = relationship.call  # type: ignore[assignment]
            found = report(
                call,
                relationship=f"{class_name}.{relationship.name}",
                fix='sa_relationship_kwargs={"lazy": "raise"}' if sqlmodel else 'lazy="raise"',
            )
            yield found.with_fix(lambda source, call=call, sqlmodel=sqlmodel: _raise_on_lazy_load(source, call, sqlmodel))


def _raise_on_lazy_load(source: SourceText, call: ast.Call, sqlmodel: bool) -> list[Edit] | None:
    if not sqlmodel:
        return add_keyword(source, call, 'lazy="raise"')
    options = keyword(call, "sa_relationship_kwargs")
    if options is None:
        return add_keyword(source, call, 'sa_relationship_kwargs={"lazy": "raise"}')
    return add_entry(source, options, '"lazy": "raise"') if isinstance(options, ast.Dict) else None


def _mapped_here(model: SemanticModel, qualname: str) -> bool:
    """Whether the class itself is mapped (a table, or a subclass of a declarative base), not a mixin."""
    return any(
        summary is not None and (summary.is_table or summary.is_declarative_root)
        for _, summary in model.class_lineage(qualname)
    )
