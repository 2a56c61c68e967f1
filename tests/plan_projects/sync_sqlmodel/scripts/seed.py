from sqlmodel import Session

from app.core.db import (
    engine,
)
from app.models import Item


def main() -> None:
    with Session(engine) as session:
        session.add(Item(title="first"))
        session.commit()


if __name__ == "__main__":
    main()
