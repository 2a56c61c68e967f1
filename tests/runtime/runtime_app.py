"""The FastAPI app the runtime proofs serve examples through.

FastAPI resolves annotations at runtime, so this module keeps real (not postponed) ones.
"""

from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine


def session_app(url: str, call, *, expire_on_commit: bool = False):
    """A target-architecture FastAPI app whose `GET /run` awaits `call(session)` with a request session.

    Examples that are functions taking a session run through a real app this way.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with AsyncExitStack() as stack:
            engine = create_async_engine(url)
            stack.push_async_callback(engine.dispose)
            app.state.engine = engine
            app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=expire_on_commit)
            yield

    async def get_session(request: Request):
        async with request.app.state.sessionmaker() as session:
            yield session

    app = FastAPI(lifespan=lifespan)

    @app.get("/run")
    async def run(session: Annotated[AsyncSession, Depends(get_session)]):
        return {"result": repr(await call(session))}

    return app
