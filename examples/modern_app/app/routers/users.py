import asyncio

from fastapi import APIRouter, BackgroundTasks, HTTPException, status
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..deps import CurrentUser, SessionDep, SessionmakerDep
from ..models import Order, OrderItem, User
from ..schemas import OrderSummary, UserCreate, UserOut, UserProfile, UserStats, UserUpdate
from ..services import EmailTaken, UserService, record_login, scalar_in_own_session

router = APIRouter(prefix="/users", tags=["users"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_user(payload: UserCreate, session: SessionDep) -> UserOut:
    try:
        async with session.begin():
            user = await UserService(session).register(payload.email, payload.full_name)
    except EmailTaken:
        raise HTTPException(status.HTTP_409_CONFLICT, "email already registered") from None
    return UserOut.of(user)


@router.get("/me")
async def read_me(background: BackgroundTasks, current: CurrentUser, sessionmaker: SessionmakerDep) -> UserOut:
    background.add_task(record_login, sessionmaker, current.id)
    return UserOut.of(current)


@router.get("/{user_id}", response_model=UserProfile)
async def read_user(user_id: int, session: SessionDep) -> User:
    user = await session.get(User, user_id, options=[selectinload(User.orders)])
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    return user


@router.patch("/{user_id}")
async def update_user(user_id: int, payload: UserUpdate, session: SessionDep) -> UserOut:
    async with session.begin():
        user = await session.get(User, user_id)
        if user is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND)
        user.full_name = payload.full_name
    return UserOut.of(user)


@router.get("/{user_id}/orders")
async def list_user_orders(user_id: int, session: SessionDep) -> list[OrderSummary]:
    user = await session.get(User, user_id, options=[selectinload(User.orders)])
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    return [
        OrderSummary(id=order.id, status=order.status, created_at=order.created_at)
        for order in user.orders
    ]


@router.get("/{user_id}/stats")
async def user_stats(user_id: int, sessionmaker: SessionmakerDep) -> UserStats:
    # The two queries run concurrently, so each gets a session of its own.
    order_count, total_spent = await asyncio.gather(
        scalar_in_own_session(sessionmaker, select(func.count(Order.id)).where(Order.user_id == user_id)),
        scalar_in_own_session(
            sessionmaker,
            select(func.sum(OrderItem.quantity * OrderItem.unit_price)).join(OrderItem.order).where(Order.user_id == user_id),
        ),
    )
    return UserStats(user_id=user_id, order_count=order_count or 0, total_spent=total_spent or 0)
