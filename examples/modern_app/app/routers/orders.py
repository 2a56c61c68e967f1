import csv
import io
from datetime import date

from fastapi import APIRouter, BackgroundTasks, HTTPException, status
from fastapi.responses import PlainTextResponse
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..deps import CurrentUser, SessionDep, SessionmakerDep
from ..models import Order, OrderItem
from ..schemas import OrderCreate, OrderDetail, OrderLineOut, OrderSummary
from ..services import OutOfStock, place_order, revenue_by_day, send_order_confirmation

router = APIRouter(prefix="/orders", tags=["orders"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_order(
    payload: OrderCreate,
    background: BackgroundTasks,
    current: CurrentUser,
    session: SessionDep,
    sessionmaker: SessionmakerDep,
) -> OrderSummary:
    try:
        async with session.begin():
            order = await place_order(session, current, payload.lines)
    except OutOfStock as error:
        raise HTTPException(status.HTTP_409_CONFLICT, f"product {error.args[0]} is out of stock") from None
    background.add_task(send_order_confirmation, sessionmaker, order.id)
    return OrderSummary(id=order.id, status=order.status, created_at=order.created_at)


@router.get("/export.csv", response_class=PlainTextResponse)
async def export_orders(since: date, session: SessionDep) -> str:
    result = await session.execute(
        select(Order.id, Order.user_id, Order.status, Order.created_at).where(Order.created_at >= since)
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "user_id", "status", "created_at"])
    writer.writerows(result.all())
    return buffer.getvalue()


@router.get("/reports/revenue")
async def revenue_report(session: SessionDep, days: int = 30) -> list[dict[str, object]]:
    return await revenue_by_day(session, days)


@router.get("/{order_id}")
async def read_order(order_id: int, session: SessionDep) -> OrderDetail:
    statement = (
        select(Order)
        .where(Order.id == order_id)
        .options(selectinload(Order.user), selectinload(Order.items))
    )
    order = (await session.scalars(statement)).one_or_none()
    if order is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    return OrderDetail(
        id=order.id,
        status=order.status,
        customer_email=order.user.email,
        lines=[
            OrderLineOut(product_id=item.product_id, quantity=item.quantity, unit_price=item.unit_price)
            for item in order.items
        ],
    )


@router.post("/{order_id}/cancel")
async def cancel_order(order_id: int, session: SessionDep) -> OrderSummary:
    async with session.begin():
        order = await session.get(Order, order_id, with_for_update=True)
        if order is None or order.status != "pending":
            raise HTTPException(status.HTTP_409_CONFLICT, "only pending orders can be cancelled")
        order.status = "cancelled"
    return OrderSummary(id=order.id, status=order.status, created_at=order.created_at)


@router.delete("/{order_id}/items/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_order_item(order_id: int, item_id: int, session: SessionDep) -> None:
    async with session.begin():
        item = await session.get(OrderItem, item_id)
        if item is None or item.order_id != order_id:
            raise HTTPException(status.HTTP_404_NOT_FOUND)
        await session.delete(item)
