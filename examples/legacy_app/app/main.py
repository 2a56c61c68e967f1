from fastapi import FastAPI, Request

from .db import SessionLocal, engine
from .routers import orders, users

app = FastAPI(title="Shop API")
app.include_router(users.router)
app.include_router(orders.router)


@app.middleware("http")
async def attach_db_session(request: Request, call_next):
    # Older handlers still read their session from request.state.
    async with SessionLocal() as session:
        request.state.db = session  # error: ASQ202
        return await call_next(request)


@app.on_event("shutdown")
async def dispose_engine() -> None:
    await engine.dispose()
