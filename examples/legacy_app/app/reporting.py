"""Sales reports, read from the reporting replica through the synchronous driver.

Written before the move to asyncio: the report routes are plain `def` handlers, which
FastAPI runs in its thread pool."""

from sqlalchemy import func
from sqlalchemy.orm import scoped_session, sessionmaker

from .models import OrderItem, Product

# One session per worker thread, so that the report helpers need not pass one around;
# bound to the replica at startup (main.py).
ReportingSession = scoped_session(sessionmaker())  # error: ASQ206


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
