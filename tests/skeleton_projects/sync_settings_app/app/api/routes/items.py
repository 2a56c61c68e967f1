from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.deps import get_db
from app.models import Item

router = APIRouter()


@router.get("/items")
def list_items(db: Session = Depends(get_db)) -> list[str]:
    return [item.name for item in db.scalars(select(Item))]


@router.post("/items")
def create_item(name: str, db: Session = Depends(get_db)) -> int:
    item = Item(name=name)
    db.add(item)
    db.commit()
    return item.id
