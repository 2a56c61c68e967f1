from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.edits import Edit, SourceText, bound_names, import_edit
from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.syntax import call_method
from flake8_async_sqla.core.orm import ENTITY_KINDS, describe, lazy_relationship_names, orm_facts
from flake8_async_sqla.core.rule import ADVISORY, UNSAFE, AutoFix, Report, Rule, register, report

# Session methods that run a statement, and what turns their result into the object (`.one()`, ...).
RUNS = {"scalars", "scalar", "execute", "scalar_one", "scalar_one_or_none"}
ONE_OBJECT = {"one", "first", "one_or_none", "scalar", "scalar_one", "scalar_one_or_none"}


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
    The fix is unsafe: when the object was loaded in the same function by a `select(Model)`
    statement (written inline or assigned to a name first), it adds
    `.options(selectinload(Model.relationship))` to that statement (importing
    `selectinload` where missing). That loads the relationship with every query the
    statement runs, an extra SELECT each time, also where it is not read. Objects from
    `session.get()`, from a loop, or reached through another relationship are left to be
    loaded by hand.

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
    fix = AutoFix(UNSAFE, "add `selectinload()` of the relationship to the `select()` that loaded the object")
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
    user = (await session.scalars(select(User).where(User.id == user_id))).one()
    return len(user.addresses)  # error: ASQ501
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
                found = report(
                    attribute,
                    access=f"{described}.{attribute.attr}",
                    relationship=f"{class_name}.{attribute.attr}",
                    owner=described,
                    attr=attribute.attr,
                )
                statement = _loading_select(model, attribute, scope, owner.model) if owner.kind == "object" else None
                if statement is not None:
                    found = found.with_fix(
                        lambda source, statement=statement, attr=attribute.attr: _load_eagerly(source, model, statement, attr)
                    )
                yield found


def _loading_select(model: SemanticModel, attribute: ast.Attribute, scope: Scope, entity: str) -> ast.Call | None:
    """The `select(Model)...` statement that loaded the object `attribute` is read from: the object is a name
    assigned once in the function, from a session running that statement (given inline, or as a name assigned
    once before)."""
    if not isinstance(attribute.value, ast.Name):
        return None
    value = _only_value(model, scope, attribute.value.id)
    while isinstance(value, ast.Call) and (method := call_method(value)) is not None and method[1] in ONE_OBJECT and not value.args:
        value = method[0]  # `(...).one()`
    if isinstance(value, ast.Await):
        value = value.value
    run = call_method(value) if isinstance(value, ast.Call) else None
    if run is None or run[1] not in RUNS or model.session_binding(run[0], scope) is None or not value.args:  # type: ignore[union-attr]
        return None
    statement = value.args[0]  # type: ignore[union-attr]
    if isinstance(statement, ast.Name):
        statement = _only_value(model, scope, statement.id)
    head = statement
    while isinstance(head, ast.Call) and isinstance(head.func, ast.Attribute):
        head = head.func.value  # `select(M).where(...)` -> `select(M)`
    if not (
        isinstance(head, ast.Call) and names.sqlalchemy_api(model.qualname(head.func)) == "select"
        and len(head.args) == 1 and model.qualname(head.args[0]) == entity
    ):
        return None
    return statement  # type: ignore[return-value]


def _only_value(model: SemanticModel, scope: Scope, name: str) -> ast.AST | None:
    """The value of the one plain assignment `name = value` in the function (None when it is bound otherwise)."""
    values = [
        node.value for node in scope.assigns
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [name]
    ]
    binds = sum(1 for node in ast.walk(scope.node) if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store))
    return values[0] if len(values) == 1 and binds == 1 else None


def _load_eagerly(source: SourceText, model: SemanticModel, statement: ast.Call, attr: str) -> list[Edit] | None:
    """`.options(selectinload(Model.attr))` after the statement, importing `selectinload` where it is missing."""
    head = statement
    while isinstance(head.func, ast.Attribute) and isinstance(head.func.value, ast.Call):
        head = head.func.value
    entity = source.segment(head.args[0])
    edits = [source.insert(source.end(statement), f".options(selectinload({entity}.{attr}))")]
    if names.sqlalchemy_api(model.imports.get("selectinload")) != "selectinload":
        if "selectinload" in bound_names(model.tree):
            return None
        edits.append(import_edit(source, model.tree, "sqlalchemy.orm", "selectinload"))
    return edits

