from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core.model import SemanticModel
from flake8_async_sqla.core.orm import EVERYTHING, orm_facts
from flake8_async_sqla.core.rule import ADVISORY, Report, Rule, register, report


@register
class LazyLoadUnderAsyncio(Rule):
    """
    ## What it does
    Finds, in `async def` code, an access to a relationship attribute (read,
    iteration, `len`, truth test, passing it on) of an ORM object that was loaded
    through an `AsyncSession` without an eager-loading option for that relationship
    (`selectinload`, `joinedload`, `subqueryload`, `immediateload`, `contains_eager`)
    and whose `relationship()` keeps the default lazy loader. Access through
    `obj.awaitable_attrs.<name>`, after `await session.refresh(obj, ["<name>"])`, or
    on a relationship declared with an eager or raising `lazy=` is fine. Models are
    found across the project; when the object's class or the relationship is unknown,
    nothing is reported.

    ## Why is this bad?
    A lazy load is implicit I/O. Under asyncio it cannot run inside an attribute
    access, so it fails with `sqlalchemy.exc.MissingGreenlet` (greenlet_spawn has not
    been called) at runtime, often only on the code path or the data that the tests
    did not cover.

    ## Use instead
    Load the relationship with the query (`select(User).options(selectinload(User.addresses))`),
    or await it explicitly: `await user.awaitable_attrs.addresses` (the model needs
    the `AsyncAttrs` mixin) or `await session.refresh(user, ["addresses"])`.

    ## Fix safety
    No automatic fix.

    ## References
    - [SQLAlchemy: Preventing Implicit IO when Using AsyncSession](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#preventing-implicit-io-when-using-asyncsession)
    - [SQLAlchemy: Relationship Loading Techniques](https://docs.sqlalchemy.org/en/20/orm/queryguide/relationships.html)
    """

    code = "ASQ501"
    name = "lazy-load-under-asyncio"
    phase = ADVISORY
    message = "`{access}` lazy-loads {relationship} under asyncio (MissingGreenlet): add selectinload({relationship}) to the query or await `{owner}.awaitable_attrs.{attr}`"
    invalid = (
        '''\
from sqlalchemy import ForeignKey, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    addresses: Mapped[list["Address"]] = relationship(back_populates="user")


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user: Mapped[User] = relationship(back_populates="addresses")


async def address_count(session: AsyncSession, user_id: int) -> int:
    user = await session.get(User, user_id)
    return len(user.addresses)  # error: ASQ501
''',
    )
    valid = (
        '''\
from sqlalchemy import ForeignKey, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    addresses: Mapped[list["Address"]] = relationship(back_populates="user")


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user: Mapped[User] = relationship(back_populates="addresses")


async def address_count(session: AsyncSession, user_id: int) -> int:
    stmt = select(User).where(User.id == user_id).options(selectinload(User.addresses))
    user = (await session.scalars(stmt)).one()
    return len(user.addresses)
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for scope in model.scopes:
            if scope.kind != "function" or not scope.is_async:
                continue
            facts = None
            for attribute in scope.attributes:
                if not isinstance(attribute.ctx, ast.Load) or not isinstance(attribute.value, (ast.Name, ast.Subscript)):
                    continue
                facts = facts or orm_facts(model, scope)
                position = (attribute.lineno, attribute.col_offset)
                value = facts.value_at(attribute.value, position)
                if value is None or value.kind != "object":
                    continue
                relationship = (model.model_relationships(value.model) or {}).get(attribute.attr)
                if relationship is None or not relationship.loads_lazily:
                    continue
                if attribute.attr in value.loaded or EVERYTHING in value.loaded:
                    continue
                owner = ast.unparse(attribute.value) if isinstance(attribute.value, ast.Name) else "obj"
                if isinstance(attribute.value, ast.Name) and facts.refreshed_before(owner, attribute.attr, position):
                    continue
                class_name = value.model.rpartition(".")[2]
                yield report(
                    attribute,
                    access=f"{owner}.{attribute.attr}",
                    relationship=f"{class_name}.{attribute.attr}",
                    owner=owner,
                    attr=attribute.attr,
                )
