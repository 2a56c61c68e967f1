"""Request dependencies: one session per request, from the process's one session factory."""

import os
import secrets
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .models import User


def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    return request.app.state.sessionmaker


SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)]


async def get_session(sessionmaker: SessionmakerDep) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_current_user(session: SessionDep, x_user_id: Annotated[int, Header()]) -> User:
    # A short transaction of its own, so that the handler can still open one with `session.begin()`.
    async with session.begin():
        user = await session.get(User, x_user_id)
    if user is None or not user.is_active:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or inactive user")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_admin(x_admin_token: Annotated[str, Header()]) -> None:
    if not secrets.compare_digest(x_admin_token, os.environ.get("ADMIN_TOKEN", "")):
        raise HTTPException(status.HTTP_403_FORBIDDEN)
