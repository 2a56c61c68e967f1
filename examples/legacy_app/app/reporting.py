"""Sales reports, read from the reporting replica through the synchronous driver.

Written before the move to asyncio: the report routes are plain `def` handlers, which
FastAPI runs in its thread pool."""

from sqlalchemy import create_engine, func
from sqlalchemy.orm import scoped_session, sessionmaker

from .db import REPORTING_DATABASE_URL
from .models import OrderItem, Product

reporting_engine = create_engine(REPORTING_DATABASE_URL, pool_pre_ping=True, pool_size=2)
# One session per worker thread, so that the report helpers need not pass one around.
ReportingSession = scoped_session(sessionmaker(bind=reporting_engine))  # error: ASQ206


def best_sellers(limit: int) -> list[tuple[str, str, int]]:
    session = ReportingSession()
    try:
        quantity_sold = func.sum(OrderItem.quantity)
        rows = (
            session.query(Product.sku, Product.name, quantity_sold)  # error: ASQ401
            .join(OrderItem, OrderItem.product_id == Product.id)
            .group_by(Product.id)
            .order_by(quantity_sold.desc())
            .limit(limit)
            .all()
        )
    finally:
        ReportingSession.remove()
    return [(sku, name, quantity) for sku, name, quantity in rows]
