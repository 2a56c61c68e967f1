from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core.model import SemanticModel
from flake8_async_sqla.core.orm import ENTITY_KINDS, describe, lazy_relationship_names, orm_facts
from flake8_async_sqla.core.rule import ADVISORY, Report, Rule, register, report


@register
class LazyLoadUnderAsyncio(Rule):
    """
    ## What it does
    Finds, in `async def` code, an access to a relationship attribute (read,
    iteration, `len`, truth test, passing it on) of an ORM object that was loaded
    through an `AsyncSession` without an eager-loading option for that relationship
    (`selectinload`, `joinedload`, `subqueryload`, `immediateload`, `contains_eager`)
    and whose `relationship()` keeps the default lazy loader. Objects reached through a
    loaded relationship are checked the same way: `selectinload(Order.items)` loads
    the items, not `item.product`. Access through `obj.awaitable_attrs.<name>`, after
    `await session.refresh(obj, ["<name>"])`, or on a relationship declared with an
    eager, raising or write-only loader is fine. Models (declarative, classic `Column`,
    SQLModel) are found across the project; when the object's class, the relationship
    or the query's loader options are unknown (a helper builds them, the object was
    handed to awaited code), nothing is reported.

    ## Why is this bad?
    A lazy load is implicit I/O. Under asyncio it cannot run inside an attribute
    access, so it fails with `sqlalchemy.exc.MissingGreenlet` (greenlet_spawn has not
    been called) at runtime, often only on the code path or the data that the tests
    did not cover.

    ## Use instead
    Load the relationship with the query (`select(User).options(selectinload(User.addresses))`),
    or await it explicitly: `await user.awaitable_attrs.addresses` (the model needs
    the `AsyncAttrs` mixin) or `await session.refresh(user, ["addresses"])`.

    ## Known false alarms
    Loads are followed per query, not through the session's identity map: a relationship
    that an earlier query of the same session loaded eagerly for objects still held, or a
    many-to-one whose target object the session already holds (SQLAlchemy answers it without
    SQL), is reported as a lazy load. Load it in the query that binds the name, or silence
    one access with `# noqa: ASQ501`; this advisory rule reports in scripts too.

    ## Fix safety
    No automatic fix.

    ## References
    - [SQLAlchemy: Preventing Implicit IO when Using AsyncSession](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#preventing-implicit-io-when-using-asyncsession)
    - [SQLAlchemy: Relationship Loading Techniques](https://docs.sqlalchemy.org/en/20/orm/queryguide/relationships.html)
    """

    code = "ASQ501"
    runtime_proof = "tests/runtime/test_asq501.py"
    observed = {
        "SQLite (aiosqlite)": "the lazy read raises `StatementError` wrapping `MissingGreenlet` "
        "(greenlet_spawn has not been called); the selectinload version returns the count.",
        "PostgreSQL (asyncpg)": "the lazy read raises `MissingGreenlet`; the selectinload version returns the count.",
    }
    name = "lazy-load-under-asyncio"
    phase = ADVISORY
    message = "`{access}` lazy-loads {relationship} under asyncio (MissingGreenlet): add selectinload({relationship}) to the query or await `{owner}.awaitable_attrs.{attr}`"
    invalid = (
        '''\
from sqlalchemy import ForeignKey, select
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(AsyncAttrs, DeclarativeBase):
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
        '''\
from sqlalchemy import ForeignKey, select
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload


class Base(AsyncAttrs, DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    items: Mapped[list["OrderItem"]] = relationship()


class OrderItem(Base):
    __tablename__ = "order_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    product: Mapped["Product"] = relationship()


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str]


async def order_skus(session: AsyncSession, order_id: int) -> list[str]:
    stmt = select(Order).where(Order.id == order_id).options(selectinload(Order.items))
    order = (await session.scalars(stmt)).one()
    return [item.product.sku for item in order.items]  # error: ASQ501
''',
    )
    valid = (
        '''\
from sqlalchemy import ForeignKey, select
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload


class Base(AsyncAttrs, DeclarativeBase):
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
        '''\
from sqlalchemy import ForeignKey
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(AsyncAttrs, DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    addresses: Mapped[list["Address"]] = relationship(back_populates="user")
    roles: Mapped[list["Role"]] = relationship(lazy="selectin")


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user: Mapped[User] = relationship(back_populates="addresses")


class Role(Base):
    __tablename__ = "roles"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str]


async def profile(session: AsyncSession, user_id: int) -> dict:
    user = await session.get(User, user_id)
    addresses = await user.awaitable_attrs.addresses
    return {"addresses": len(addresses), "roles": [role.name for role in user.roles]}
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for scope in model.scopes:
            if scope.kind != "function" or not scope.is_async or not scope.attributes:
                continue
            # Only a read by the name of a lazy relationship of a class whose objects the scope holds can load.
            lazy_names = lazy_relationship_names(model, scope)
            facts = None
            reported: set[tuple[int, str]] = set()  # one finding per access text and line
            for attribute in scope.attributes:
                if not isinstance(attribute.ctx, ast.Load) or attribute.attr not in lazy_names:
                    continue
                facts = facts or orm_facts(model, scope)
                owner = facts.owner(attribute)
                if owner is None or owner.kind not in ENTITY_KINDS or owner.settles(attribute.attr):
                    continue
                relationship = (model.model_relationships(owner.model) or {}).get(attribute.attr)
                if relationship is None or not relationship.loads_lazily:
                    continue
                described = describe(attribute.value)
                if (attribute.lineno, f"{described}.{attribute.attr}") in reported:
                    continue
                reported.add((attribute.lineno, f"{described}.{attribute.attr}"))
                class_name = owner.model.rpartition(".")[2]
                yield report(
                    attribute,
                    access=f"{described}.{attribute.attr}",
                    relationship=f"{class_name}.{attribute.attr}",
                    owner=described,
                    attr=attribute.attr,
                )

