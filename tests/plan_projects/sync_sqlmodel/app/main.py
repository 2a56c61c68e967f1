from fastapi import FastAPI

from app.api.routes import items, utils

app = FastAPI(title="items")
app.include_router(items.router)
app.include_router(utils.router)
