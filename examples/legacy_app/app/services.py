"""Business logic shared by the routers."""

import logging

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from .db import db_session
from .models import Order, OrderItem, Product, User
from .schemas import OrderLineIn, ProductIn

logger = logging.getLogger(__name__)


class EmailTaken(Exception):
    pass


class OutOfStock(Exception):
    pass


class UserService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def register(self, email: str, full_name: str) -> User:
        if await User.by_email(self.session, email) is not None:
            raise EmailTaken(email)
        user = User(email=email, full_name=full_name)
        self.session.add(user)
        await self.session.commit()  # error: ASQ301
        await self.session.refresh(user)
        return user


async def place_order(session: AsyncSession, customer: User, lines: list[OrderLineIn]) -> Order:
    order = Order(user_id=customer.id)
    for line in lines:
        product = await session.get(Product, line.product_id, with_for_update=True)
        if product is None or product.stock < line.quantity:
            raise OutOfStock(line.product_id)
        product.stock -= line.quantity
        order.items.append(OrderItem(product_id=product.id, quantity=line.quantity, unit_price=product.price))
    session.add(order)
    await session.commit()  # error: ASQ301
    await session.refresh(order)
    return order


async def import_products(session: AsyncSession, rows: list[ProductIn]) -> int:
    """Adds the catalogue rows whose SKU is new; rows for known SKUs are skipped."""
    imported = 0
    for row in rows:
        session.add(Product(sku=row.sku, name=row.name, price=row.price, stock=row.stock))
        try:
            await session.flush()
        except IntegrityError:  # error: ASQ304
            logger.info("SKU %s is already in the catalogue, skipped", row.sku)
            continue
        imported += 1
    await session.commit()  # error: ASQ301
    return imported


async def record_login(user_id: int) -> None:
    """Runs as a background task, after the response has been sent."""
    await db_session.execute(update(User).where(User.id == user_id).values(last_login_at=func.now()))
    await db_session.commit()


async def send_order_confirmation(session: AsyncSession, order_id: int) -> None:
    """Runs as a background task, after the response has been sent."""
    email = await session.scalar(select(User.email).join(User.orders).where(Order.id == order_id))
    logger.info("sending the confirmation of order %d to %s", order_id, email)


def revenue_by_day(db: Session, days: int) -> list[dict[str, object]]:
    """Read-only query on the reporting replica."""
    rows = db.execute(
        text(
            "SELECT date_trunc('day', o.created_at) AS day, sum(i.quantity * i.unit_price) AS revenue"
            " FROM orders o JOIN order_items i ON i.order_id = o.id"
            " WHERE o.created_at >= now() - make_interval(days => :days)"
            " GROUP BY 1 ORDER BY 1"
        ),
        {"days": days},
    )
    return [dict(row._mapping) for row in rows]
