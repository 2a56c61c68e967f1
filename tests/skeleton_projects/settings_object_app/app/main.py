from fastapi import FastAPI

from app.database import engine
from app.routers import notes

app = FastAPI()
app.include_router(notes.router)


@app.on_event("shutdown")
async def close_engine() -> None:
    await engine.dispose()
