import asyncio

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, status
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..deps import get_current_user, get_db
from ..models import Order, OrderItem, User
from ..schemas import OrderSummary, UserCreate, UserOut, UserProfile, UserStats, UserUpdate
from ..services import EmailTaken, UserService, record_login

router = APIRouter(prefix="/users", tags=["users"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_user(payload: UserCreate, db: AsyncSession = Depends(get_db)) -> UserOut:
    try:
        user = await UserService(db).register(payload.email, payload.full_name)
    except EmailTaken:
        raise HTTPException(status.HTTP_409_CONFLICT, "email already registered") from None
    return UserOut.of(user)


@router.get("/me")
async def read_me(background: BackgroundTasks, current: User = Depends(get_current_user)) -> UserOut:
    background.add_task(record_login, current.id)
    return UserOut.of(current)


@router.get("/{user_id}", response_model=UserProfile)
async def read_user(user_id: int, db: AsyncSession = Depends(get_db)):
    user = await db.get(User, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    return user  # error: ASQ504


@router.patch("/{user_id}")
async def update_user(user_id: int, payload: UserUpdate, db: AsyncSession = Depends(get_db)) -> UserOut:
    user = await db.get(User, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    user.full_name = payload.full_name
    db.add(user)
    await db.commit()  # error: ASQ307
    db.refresh(user)  # error: ASQ209
    return UserOut.of(user)


@router.get("/{user_id}/orders")
async def list_user_orders(user_id: int, db: AsyncSession = Depends(get_db)) -> list[OrderSummary]:
    user = await db.get(User, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    return [
        OrderSummary(id=order.id, status=order.status, created_at=order.created_at)
        for order in user.orders  # error: ASQ501
    ]


@router.get("/{user_id}/stats")
async def user_stats(user_id: int, db: AsyncSession = Depends(get_db)) -> UserStats:
    order_count, total_spent = await asyncio.gather(  # error: ASQ201
        db.scalar(select(func.count(Order.id)).where(Order.user_id == user_id)),
        db.scalar(
            select(func.sum(OrderItem.quantity * OrderItem.unit_price)).join(OrderItem.order).where(Order.user_id == user_id)
        ),
    )
    return UserStats(user_id=user_id, order_count=order_count or 0, total_spent=total_spent or 0)
