from sqlmodel import Session, select

from app.models import Item


def create_item(session: Session, title: str, owner_id: int) -> Item:
    item = Item(title=title, owner_id=owner_id)
    session.add(item)
    session.commit()
    session.refresh(item)
    return item


def items_of(session: Session, owner_id: int) -> list[Item]:
    return list(session.exec(select(Item).where(Item.owner_id == owner_id)).all())
