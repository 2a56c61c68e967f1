from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from .db import DATABASE_URL, ENGINE_OPTIONS
from .routers import orders, products, users


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        engine = create_async_engine(DATABASE_URL, **ENGINE_OPTIONS)
        stack.push_async_callback(engine.dispose)
        app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        yield


app = FastAPI(title="Shop API", lifespan=lifespan)
app.include_router(users.router)
app.include_router(orders.router)
app.include_router(products.router)
