from sqlmodel import Field, SQLModel


class Item(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    title: str
    owner_id: int


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str
