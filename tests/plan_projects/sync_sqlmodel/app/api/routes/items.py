from fastapi import APIRouter
from sqlmodel import select

from app import crud
from app.api.deps import CurrentUser, SessionDep
from app.models import Item

router = APIRouter(prefix="/items")


@router.get("/")
def read_items(session: SessionDep, user: CurrentUser) -> list[Item]:
    return crud.items_of(session, user.id)


@router.get("/{item_id}")
def read_item(session: SessionDep, item_id: int) -> Item | None:
    return session.get(Item, item_id)


@router.post("/")
def create_item(session: SessionDep, user: CurrentUser, title: str) -> Item:
    return crud.create_item(session, title, user.id)


@router.delete("/{item_id}")
def delete_item(session: SessionDep, item_id: int) -> dict:
    item = session.get(Item, item_id)
    session.delete(item)
    session.commit()
    return {"ok": True}


@router.get("/count/all")
def count_items(session: SessionDep) -> int:
    return len(session.exec(select(Item)).all())
