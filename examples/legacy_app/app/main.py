from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from sqlalchemy import create_engine, text

from .db import REPORTING_DATABASE_URL, SessionLocal, engine
from .reporting import ReportingSession
from .routers import orders, products, users


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Added in 1.7, so that a deploy with a wrong DATABASE_URL fails at startup instead of on the first request.
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    yield
    await engine.dispose()  # error: ASQ104


app = FastAPI(title="Shop API", lifespan=lifespan)
app.include_router(users.router)
app.include_router(orders.router)
app.include_router(products.router)


@app.middleware("http")
async def attach_db_session(request: Request, call_next):
    # Older handlers still read their session from request.state.
    async with SessionLocal() as session:
        request.state.db = session
        return await call_next(request)


@app.on_event("startup")  # error: ASQ103
def connect_reporting() -> None:
    reporting_engine = create_engine(REPORTING_DATABASE_URL, pool_pre_ping=True, pool_size=2)  # error: ASQ102
    ReportingSession.configure(bind=reporting_engine)


@app.on_event("shutdown")  # error: ASQ103
def close_reporting() -> None:
    ReportingSession.remove()
