"""Request and response bodies (FastAPI accepts dataclasses as well as pydantic models)."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from .models import Product, User


@dataclass
class UserCreate:
    email: str
    full_name: str


@dataclass
class UserUpdate:
    full_name: str


@dataclass
class UserOut:
    id: int
    email: str
    full_name: str

    @classmethod
    def of(cls, user: User) -> "UserOut":
        return cls(id=user.id, email=user.email, full_name=user.full_name)


class OrderRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    status: str


class UserProfile(BaseModel):
    """Validated straight from the ORM object (`from_attributes`), so FastAPI reads its relationships."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    full_name: str
    orders: list[OrderRef]


@dataclass
class UserStats:
    user_id: int
    order_count: int
    total_spent: Decimal


@dataclass
class OrderLineIn:
    product_id: int
    quantity: int


@dataclass
class OrderCreate:
    lines: list[OrderLineIn]


@dataclass
class OrderSummary:
    id: int
    status: str
    created_at: datetime


@dataclass
class OrderLineOut:
    product_id: int
    quantity: int
    unit_price: Decimal


@dataclass
class OrderDetail:
    id: int
    status: str
    customer_email: str
    lines: list[OrderLineOut]


@dataclass
class ProductIn:
    sku: str
    name: str
    price: Decimal
    stock: int = 0


@dataclass
class ProductOut:
    id: int
    sku: str
    name: str
    price: Decimal
    stock: int

    @classmethod
    def of(cls, product: Product) -> "ProductOut":
        return cls(id=product.id, sku=product.sku, name=product.name, price=product.price, stock=product.stock)


@dataclass
class Restock:
    quantity: int


@dataclass
class CatalogueImport:
    imported: int


@dataclass
class BestSeller:
    sku: str
    name: str
    quantity_sold: int
