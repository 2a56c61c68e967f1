"""Request dependencies."""

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, status
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, sessionmaker

from .db import REPORTING_DATABASE_URL, SessionLocal
from .models import User


async def get_db() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as db:
        yield db


async def get_admin_db(x_admin_token: str = Header()) -> AsyncSession:
    # Older than get_db, and still used by the catalogue admin routes.
    if not secrets.compare_digest(x_admin_token, os.environ.get("ADMIN_TOKEN", "")):
        raise HTTPException(status.HTTP_403_FORBIDDEN)
    return SessionLocal()  # error: ASQ204


AdminDb = Annotated[AsyncSession, Depends(get_admin_db)]


def get_reporting_db() -> Iterator[Session]:
    engine = create_engine(REPORTING_DATABASE_URL, pool_pre_ping=True)  # error: ASQ101
    ReportingSessionLocal = sessionmaker(bind=engine)  # error: ASQ106
    with ReportingSessionLocal() as db:  # error: ASQ107
        yield db


ReportingDb = Annotated[Session, Depends(get_reporting_db)]


async def get_current_user(x_user_id: int = Header(), db: AsyncSession = Depends(get_db)) -> User:
    user = await db.get(User, x_user_id)
    if user is None or not user.is_active:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or inactive user")
    return user
