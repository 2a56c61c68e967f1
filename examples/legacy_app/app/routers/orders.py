import csv
import io
from datetime import date

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request, status
from fastapi.responses import PlainTextResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from ..db import READ_REPLICA_URL
from ..deps import ReportingDb, get_current_user, get_db
from ..models import Order, OrderItem, User
from ..schemas import OrderCreate, OrderDetail, OrderLineOut, OrderSummary
from ..services import OutOfStock, place_order, revenue_by_day, send_order_confirmation

router = APIRouter(prefix="/orders", tags=["orders"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_order(
    payload: OrderCreate,
    background: BackgroundTasks,
    current: User = Depends(get_current_user),
    db: AsyncSession = Depends(get_db),
) -> OrderSummary:
    # Two orders must never sell the same last item.
    await db.connection(execution_options={"isolation_level": "SERIALIZABLE"})  # error: ASQ306
    try:
        order = await place_order(db, current, payload.lines)
    except OutOfStock as error:
        raise HTTPException(status.HTTP_409_CONFLICT, f"product {error.args[0]} is out of stock") from None
    background.add_task(send_order_confirmation, db, order.id)  # error: ASQ207
    return OrderSummary(id=order.id, status=order.status, created_at=order.created_at)


@router.get("/export.csv", response_class=PlainTextResponse)
async def export_orders(since: date) -> str:
    # Reads from the replica "to keep the load off the primary".
    replica = create_async_engine(READ_REPLICA_URL)  # error: ASQ101, ASQ601
    session = AsyncSession(replica)  # error: ASQ203
    result = await session.execute(
        select(Order.id, Order.user_id, Order.status, Order.created_at).where(Order.created_at >= since)
    )
    rows = result.all()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "user_id", "status", "created_at"])
    writer.writerows(rows)
    return buffer.getvalue()


@router.get("/reports/revenue")
async def revenue_report(db: ReportingDb, days: int = 30) -> list[dict[str, object]]:
    return revenue_by_day(db, days)  # error: ASQ208


@router.get("/reports/revenue.json")
def revenue_report_sync(db: ReportingDb, days: int = 30) -> list[dict[str, object]]:
    return revenue_by_day(db, days)  # error: ASQ210


@router.get("/{order_id}")
async def read_order(order_id: int, db: AsyncSession = Depends(get_db)) -> OrderDetail:
    order = await db.get(Order, order_id)
    if order is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    return OrderDetail(
        id=order.id,
        status=order.status,
        customer_email=order.user.email,  # error: ASQ501
        lines=[
            OrderLineOut(product_id=item.product_id, quantity=item.quantity, unit_price=item.unit_price)
            for item in order.items  # error: ASQ501
        ],
    )


@router.post("/{order_id}/cancel")
async def cancel_order(order_id: int, request: Request) -> OrderSummary:
    db = request.state.db  # set by the middleware in main.py
    order = await db.get(Order, order_id)
    if order is None or order.status != "pending":
        raise HTTPException(status.HTTP_409_CONFLICT, "only pending orders can be cancelled")
    order.status = "cancelled"
    await db.commit()
    return OrderSummary(id=order.id, status=order.status, created_at=order.created_at)


@router.delete("/{order_id}/items/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_order_item(order_id: int, item_id: int, db: AsyncSession = Depends(get_db)) -> None:
    item = await db.get(OrderItem, item_id)
    if item is None or item.order_id != order_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    await db.delete(item)  # error: ASQ301
