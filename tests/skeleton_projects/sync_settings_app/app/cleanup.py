"""A nightly job: opens its own session from the module-level factory."""

from sqlalchemy import delete

from app.db.session import SessionLocal
from app.models import Item


def purge_unnamed_items() -> None:
    with SessionLocal() as db:
        db.execute(delete(Item).where(Item.name == ""))
        db.commit()
