from sqlmodel import Session, select

from app.core.db import engine


def main() -> None:
    with Session(engine) as session:
        session.exec(select(1))


if __name__ == "__main__":
    main()
