"""Business logic shared by the routers. Services take the caller's session and never commit:
the handler that owns the request owns the transaction."""

import logging
from typing import Any

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .models import Order, OrderItem, Product, User
from .schemas import BestSeller, OrderLineIn, ProductIn

logger = logging.getLogger(__name__)


class EmailTaken(Exception):
    pass


class OutOfStock(Exception):
    pass


class UserService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def register(self, email: str, full_name: str) -> User:
        existing = await self.session.scalar(select(User).where(User.email == email))
        if existing is not None:
            raise EmailTaken(email)
        user = User(email=email, full_name=full_name)
        self.session.add(user)
        await self.session.flush()
        return user


async def place_order(session: AsyncSession, customer: User, lines: list[OrderLineIn]) -> Order:
    order = Order(user=customer)
    for line in lines:
        product = await session.get(Product, line.product_id, with_for_update=True)
        if product is None or product.stock < line.quantity:
            raise OutOfStock(line.product_id)
        product.stock -= line.quantity
        order.items.append(OrderItem(product=product, quantity=line.quantity, unit_price=product.price))
    session.add(order)
    await session.flush()
    return order


async def import_products(session: AsyncSession, rows: list[ProductIn]) -> int:
    """Adds the catalogue rows whose SKU is new; rows for known SKUs are skipped. Each row goes
    in a savepoint of its own, so that a duplicate rolls back that row and not the import."""
    imported = 0
    for row in rows:
        try:
            async with session.begin_nested():
                session.add(Product(sku=row.sku, name=row.name, price=row.price, stock=row.stock))
        except IntegrityError:
            logger.info("SKU %s is already in the catalogue, skipped", row.sku)
            continue
        imported += 1
    return imported


async def scalar_in_own_session(sessionmaker: async_sessionmaker[AsyncSession], statement: Select[Any]) -> Any:
    """One scalar query in a session of its own, so that several can run concurrently."""
    async with sessionmaker() as session:
        return await session.scalar(statement)


async def record_login(sessionmaker: async_sessionmaker[AsyncSession], user_id: int) -> None:
    """Runs as a background task, after the request's session has closed, so it opens its own."""
    async with sessionmaker.begin() as session:
        await session.execute(update(User).where(User.id == user_id).values(last_login_at=func.now()))


async def send_order_confirmation(sessionmaker: async_sessionmaker[AsyncSession], order_id: int) -> None:
    """Runs as a background task, after the request's session has closed, so it opens its own."""
    async with sessionmaker() as session:
        email = await session.scalar(select(User.email).join(User.orders).where(Order.id == order_id))
    logger.info("sending the confirmation of order %d to %s", order_id, email)


async def revenue_by_day(session: AsyncSession, days: int) -> list[dict[str, object]]:
    rows = await session.execute(
        text(
            "SELECT date_trunc('day', o.created_at) AS day, sum(i.quantity * i.unit_price) AS revenue"
            " FROM orders o JOIN order_items i ON i.order_id = o.id"
            " WHERE o.created_at >= now() - make_interval(days => :days)"
            " GROUP BY 1 ORDER BY 1"
        ),
        {"days": days},
    )
    return [dict(row._mapping) for row in rows]


async def best_sellers(session: AsyncSession, limit: int) -> list[BestSeller]:
    quantity_sold = func.sum(OrderItem.quantity)
    rows = await session.execute(
        select(Product.sku, Product.name, quantity_sold)
        .join(OrderItem, OrderItem.product_id == Product.id)
        .group_by(Product.id)
        .order_by(quantity_sold.desc())
        .limit(limit)
    )
    return [BestSeller(sku=sku, name=name, quantity_sold=quantity) for sku, name, quantity in rows]
