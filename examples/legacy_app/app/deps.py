"""Request dependencies."""

from collections.abc import AsyncIterator, Iterator

from fastapi import Depends, Header, HTTPException, status
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from .db import REPORTING_DATABASE_URL, SessionLocal
from .models import User
from .services import SalesReports


async def get_db() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as db:
        yield db


def get_reporting_db() -> Iterator[Session]:
    engine = create_engine(REPORTING_DATABASE_URL, pool_pre_ping=True)  # error: ASQ101
    with Session(engine) as db:
        yield db


def get_sales_reports(db: Session = Depends(get_reporting_db)) -> SalesReports:
    return SalesReports(db)


async def get_current_user(x_user_id: int = Header(), db: AsyncSession = Depends(get_db)) -> User:
    user = await db.get(User, x_user_id)
    if user is None or not user.is_active:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or inactive user")
    return user
