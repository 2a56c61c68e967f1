"""Business logic shared by the routers. Services take the caller's session and never commit:
the handler that owns the request owns the transaction."""

from typing import Any

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .models import Order, OrderItem, Product, User
from .schemas import OrderLineIn


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


async def scalar_in_own_session(sessionmaker: async_sessionmaker[AsyncSession], statement: Select[Any]) -> Any:
    """One scalar query in a session of its own, so that several can run concurrently."""
    async with sessionmaker() as session:
        return await session.scalar(statement)


async def record_login(sessionmaker: async_sessionmaker[AsyncSession], user_id: int) -> None:
    """Runs as a background task, after the request's session has closed, so it opens its own."""
    async with sessionmaker.begin() as session:
        await session.execute(update(User).where(User.id == user_id).values(last_login_at=func.now()))


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
