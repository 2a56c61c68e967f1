from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.db import SessionDep
from app.models import Note


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with AsyncExitStack() as stack:
        engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_pre_ping=True, pool_recycle=1800)
        stack.push_async_callback(engine.dispose)
        app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        yield


app = FastAPI(lifespan=lifespan)


@app.get("/notes")
async def list_notes(session: SessionDep) -> list[str]:
    return [n.text for n in await session.scalars(select(Note))]


@app.post("/notes")
async def add_note(session: SessionDep, text: str) -> None:
    async with session.begin():
        session.add(Note(text=text))


@app.get("/ping")
async def ping() -> str:
    return "pong"
