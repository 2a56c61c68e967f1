from __future__ import annotations

from collections.abc import Iterator

from flake8_async_sqla.core.model import SemanticModel
from flake8_async_sqla.core.orm import ENTITY_KINDS, describe, orm_facts
from flake8_async_sqla.core.rule import ADVISORY, Report, Rule, register, report


@register
class UnloadedRelationshipSerialized(Rule):
    """
    ## What it does
    Finds a route handler that returns an ORM object (or a list of them) loaded through
    an `AsyncSession` when its response model (`response_model=` on the route decorator,
    else the return annotation; `Model`, `list[Model]`, `Optional[Model]`) is a Pydantic
    model or SQLModel non-table model with a field named like a relationship of the
    object's class (or whose `alias` / `validation_alias` is that name) that the query
    did not load: no eager-loading option (`selectinload`, `joinedload`, ...), no eager
    `lazy=` strategy, not assigned or awaited since. Objects created in the handler count
    once a flush or commit gave them a row (their collections load lazily then).
    The response model's fields are read from its class and its project bases, in this
    module or another one.

    Not reported: relationships declared `lazy="raise"` (they fail loudly instead),
    fields of nested models (only the response model's own fields are checked), response
    models with an alias generator, a config this cannot read, or a base outside the
    project other than `BaseModel` / `SQLModel`, and objects the linter cannot follow
    (returned by a helper, or handed to awaited code first).

    ## Why is this bad?
    FastAPI validates the returned object against the response model by reading each
    field's attribute (`from_attributes`), after the handler has returned, outside any
    `await`. Reading an unloaded relationship there starts a lazy load, which under
    asyncio raises `MissingGreenlet`; FastAPI reports it as a `ResponseValidationError`
    and the client gets a 500.

    ## Use instead
    Load what the response model needs in the query: `select(Order).options(selectinload(Order.items))`,
    `session.get(Order, id, options=[selectinload(Order.items)])`, or
    `await session.refresh(order, ["items"])` for an object the handler created. Or use a
    response model without the relationship field.

    ## Known false alarms
    Fields come from the response model's annotations, not its validators: a
    `@model_validator(mode="before")` that builds the data without reading the relationship
    does not exempt the field. Loads are followed per query, not through the session's
    identity map, so a relationship that an earlier query of the same session loaded for
    objects still held is reported as unloaded. Silence one with `# noqa: ASQ504` on the
    `return`.

    ## Fix safety
    No automatic fix.

    ## References
    - [SQLAlchemy: Preventing Implicit IO when Using AsyncSession](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#preventing-implicit-io-when-using-asyncsession)
    - [SQLAlchemy: Relationship Loading Techniques](https://docs.sqlalchemy.org/en/20/orm/queryguide/relationships.html)
    - [FastAPI: Response Model - Return Type](https://fastapi.tiangolo.com/tutorial/response-model/)
    """

    code = "ASQ504"
    runtime_proof = "tests/runtime/test_asq504.py"
    observed = {
        "SQLite (aiosqlite)": "the request fails with FastAPI's `ResponseValidationError` (\"Error extracting attribute\": "
        "`MissingGreenlet`); the selectinload version answers with the items.",
        "PostgreSQL (asyncpg)": "the same `ResponseValidationError` wrapping `MissingGreenlet`; the selectinload version "
        "answers with the items.",
    }
    name = "unloaded-relationship-serialized"
    phase = ADVISORY
    message = "response model {schema} reads {relationships} of `{returned}`, which nothing loaded, so serializing the response lazy-loads outside the greenlet (MissingGreenlet): add selectinload({first}) to the query, or drop the field from {schema}"
    invalid = (
        '''\
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy import ForeignKey
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


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
    sku: Mapped[str]


class OrderItemOut(BaseModel):
    sku: str


class OrderOut(BaseModel):
    id: int
    items: list[OrderItemOut]


router = APIRouter()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


@router.get("/orders/{order_id}", response_model=OrderOut)
async def read_order(order_id: int, session: AsyncSession = Depends(get_session)):
    return await session.get_one(Order, order_id)  # error: ASQ504
''',
    )
    valid = (
        '''\
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy import ForeignKey
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
    sku: Mapped[str]


class OrderItemOut(BaseModel):
    sku: str


class OrderOut(BaseModel):
    id: int
    items: list[OrderItemOut]


router = APIRouter()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


@router.get("/orders/{order_id}", response_model=OrderOut)
async def read_order(order_id: int, session: AsyncSession = Depends(get_session)):
    return await session.get_one(Order, order_id, options=[selectinload(Order.items)])
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for scope in model.route_handlers():
            if not scope.returns:
                continue
            schema = model.response_schema(scope)
            fields = model.schema_fields(schema[0]) if schema is not None else None
            if not fields:
                continue
            kinds = {"objects", "related"} if schema[1] else ENTITY_KINDS  # type: ignore[index]
            facts = orm_facts(model, scope)
            for returned in scope.returns:
                value = facts.value_at(returned.value, (returned.lineno, returned.col_offset)) if returned.value else None
                if value is None or value.kind not in kinds:
                    continue
                relationships = model.model_relationships(value.model) or {}
                lazy = [
                    attr
                    for attr in dict.fromkeys(fields.values())
                    if attr in relationships and relationships[attr].loads_lazily and not value.settles(attr)
                ]
                if lazy:
                    qualified = [f"{value.model.rpartition('.')[2]}.{attr}" for attr in lazy]
                    yield report(
                        returned,
                        schema=schema[0].rpartition(".")[2],  # type: ignore[index]
                        relationships=", ".join(qualified),
                        returned=describe(returned.value),  # type: ignore[arg-type]
                        first=qualified[0],
                    )
