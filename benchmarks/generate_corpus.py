"""Write a seeded, reproducible FastAPI + SQLAlchemy 2.x project of about N lines.

The project is what the linter is for: a package whose every module touches the
database. `models/` holds DeclarativeBase models with relationships (some
lazy="selectin"); `repositories/` wraps selects; `services/` holds business logic
(some of it committing a session it does not own); `routers/` holds APIRouter
handlers with Annotated session dependencies, selects, writes in `begin()` blocks and
a share of the anti-patterns the rules exist for (lazy relationship reads,
asyncio.gather on one session, commits in services). `db.py` creates the engine in
the app's lifespan and `deps.py` hands out one session per request.

    python benchmarks/generate_corpus.py --out /tmp/corpus --seed 1 --lines 50000

The same seed and line count always write the same files.
"""

from __future__ import annotations

import argparse
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "shopfloor"

# Each domain becomes one module in models/, repositories/, services/ and routers/.
DOMAIN_NOUNS = (
    "account", "address", "allocation", "approval", "asset", "audit", "batch", "booking", "budget",
    "campaign", "carrier", "catalog", "claim", "contract", "coupon", "course", "customer", "delivery",
    "department", "device", "discount", "document", "employee", "enrollment", "estimate", "expense",
    "facility", "feedback", "forecast", "fulfillment", "grant", "incident", "inspection", "invoice",
    "journal", "lead", "ledger", "license", "listing", "location", "maintenance", "manifest",
    "meeting", "membership", "milestone", "opportunity", "package", "partner", "payment", "payout",
    "permit", "pricelist", "procurement", "project", "promotion", "quote", "receipt", "refund",
    "reservation", "rebate", "review", "route", "schedule", "shipment", "shift", "subscription",
    "supplier", "survey", "task", "tenant", "ticket", "timesheet", "transfer", "vehicle", "vendor",
    "voucher", "warehouse", "warranty", "workorder",
)
CHILD_SUFFIXES = ("Line", "Note", "Event", "Tag", "Attachment", "Revision", "Assignment", "Comment", "Snapshot")
STATUSES = ("draft", "pending", "active", "approved", "rejected", "archived", "closed", "cancelled")

# (name, annotation, mapped_column arguments or None for a bare Mapped[...]), the imports they need.
FIELD_POOL = (
    ("name", "str", "String(200)"),
    ("code", "str", "String(40), unique=True, index=True"),
    ("title", "str", "String(255)"),
    ("description", "str | None", "Text"),
    ("amount", "Decimal", "Numeric(12, 2), default=Decimal(\"0\")"),
    ("quantity", "int", "default=0"),
    ("priority", "int", "default=3"),
    ("is_active", "bool", "default=True"),
    ("due_on", "date | None", None),
    ("currency", "str", "String(3), default=\"EUR\""),
    ("reference", "str | None", "String(64)"),
    ("score", "float", "default=0.0"),
    ("external_id", "str | None", "String(80), unique=True"),
    ("notes", "str | None", "Text"),
)


def snake(name: str) -> str:
    out = []
    for i, char in enumerate(name):
        if char.isupper() and i:
            out.append("_")
        out.append(char.lower())
    return "".join(out)


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def plural(name: str) -> str:
    if name.endswith("y") and not name.endswith(("ay", "ey", "oy")):
        return name[:-1] + "ies"
    if name.endswith(("s", "x", "ch", "sh")):
        return name + "es"
    return name + "s"


@dataclass
class Entity:
    cls: str
    table: str
    fields: list[tuple[str, str, str | None]]
    parent: Entity | None = None  # many-to-one inside the domain
    children: list[Entity] = field(default_factory=list)
    children_selectin: set[str] = field(default_factory=set)  # child classes loaded with lazy="selectin"
    owner: Entity | None = None  # many-to-one to another domain's root

    @property
    def var(self) -> str:
        return snake(self.cls)

    @property
    def collection(self) -> str:
        return plural(snake(self.cls))


@dataclass
class Domain:
    module: str
    root: Entity
    children: list[Entity]

    @property
    def entities(self) -> list[Entity]:
        return [self.root, *self.children]


class Writer:
    """Collects lines of one module."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, text: str = "", indent: int = 0) -> None:
        for line in text.split("\n"):
            self.lines.append(("    " * indent + line) if line else "")

    def blank(self, count: int = 1) -> None:
        self.lines.extend([""] * count)

    def text(self) -> str:
        while self.lines and not self.lines[-1]:
            self.lines.pop()
        return "\n".join(self.lines) + "\n"


class ProjectGenerator:
    def __init__(self, seed: int, target_lines: int) -> None:
        self.rng = random.Random(seed)
        self.target_lines = target_lines
        self.files: dict[str, str] = {}
        self.domains: list[Domain] = []

    # ------------------------------------------------------------ plan
    def new_domain(self, index: int) -> Domain:
        noun = DOMAIN_NOUNS[index % len(DOMAIN_NOUNS)]
        round_ = index // len(DOMAIN_NOUNS)
        # Past the noun list, names repeat with a number: invoice_2 / Invoice2.
        module = noun if round_ == 0 else f"{noun}_{round_ + 1}"
        root_cls = camel(noun) if round_ == 0 else f"{camel(noun)}{round_ + 1}"
        root = Entity(root_cls, plural(snake(root_cls)), self.pick_fields())
        if self.domains and self.rng.random() < 0.7:
            root.owner = self.rng.choice(self.domains).root
        children = []
        for suffix in self.rng.sample(CHILD_SUFFIXES, self.rng.randint(1, 3)):
            child = Entity(root_cls + suffix, plural(snake(root_cls + suffix)), self.pick_fields(), parent=root)
            children.append(child)
            root.children.append(child)
            if self.rng.random() < 0.3:
                root.children_selectin.add(child.cls)
        return Domain(module, root, children)

    def pick_fields(self) -> list[tuple[str, str, str | None]]:
        chosen = self.rng.sample(FIELD_POOL, self.rng.randint(3, 7))
        return [("status", "str", 'String(20), default="draft", index=True'), *chosen]

    # ------------------------------------------------------------ files
    def generate(self) -> dict[str, str]:
        self.static_files()
        index = 0
        while self.line_count() < self.target_lines:
            domain = self.new_domain(index)
            self.domains.append(domain)
            self.files[f"{PACKAGE}/models/{domain.module}.py"] = self.models_module(domain)
            self.files[f"{PACKAGE}/repositories/{domain.module}.py"] = self.repository_module(domain)
            self.files[f"{PACKAGE}/services/{domain.module}.py"] = self.service_module(domain)
            self.files[f"{PACKAGE}/routers/{domain.module}.py"] = self.router_module(domain)
            index += 1
        self.files[f"{PACKAGE}/models/__init__.py"] = self.models_init()
        self.files[f"{PACKAGE}/main.py"] = self.main_module()
        return self.files

    def line_count(self) -> int:
        return sum(text.count("\n") for text in self.files.values())

    def static_files(self) -> None:
        self.files["pyproject.toml"] = (
            "[project]\n"
            f'name = "{PACKAGE}"\n'
            'version = "0.1.0"\n'
            'requires-python = ">=3.11"\n'
            'dependencies = ["fastapi>=0.110", "sqlalchemy[asyncio]>=2.0", "asyncpg>=0.29"]\n'
        )
        self.files[f"{PACKAGE}/__init__.py"] = '"""Shop floor: orders, inventory and billing for the warehouse teams."""\n'
        for sub, doc in (
            ("repositories", "Queries, one repository class per aggregate."),
            ("services", "Business logic the routers call."),
            ("routers", "HTTP endpoints, one APIRouter per domain."),
        ):
            self.files[f"{PACKAGE}/{sub}/__init__.py"] = f'"""{doc}"""\n'
        self.files[f"{PACKAGE}/db.py"] = DB_MODULE
        self.files[f"{PACKAGE}/deps.py"] = DEPS_MODULE
        self.files[f"{PACKAGE}/models/base.py"] = BASE_MODULE

    def models_init(self) -> str:
        w = Writer()
        w.add('"""Every mapped class, imported so that the mapper registry is complete."""')
        w.blank()
        w.add("from .base import Base, TimestampMixin")
        names = ["Base", "TimestampMixin"]
        for domain in self.domains:
            classes = ", ".join(e.cls for e in domain.entities)
            w.add(f"from .{domain.module} import {classes}")
            names.extend(e.cls for e in domain.entities)
        w.blank()
        w.add("__all__ = [")
        for name in names:
            w.add(f'"{name}",', 1)
        w.add("]")
        return w.text()

    def main_module(self) -> str:
        w = Writer()
        w.add('"""The ASGI application."""')
        w.blank()
        w.add("from fastapi import FastAPI")
        w.add("from sqlalchemy import text")
        w.blank()
        w.add("from .db import lifespan")
        w.add("from .deps import SessionDep")
        w.add("from .routers import (")
        for domain in self.domains:
            w.add(f"{domain.module},", 1)
        w.add(")")
        w.blank(2)
        w.add('app = FastAPI(title="Shop floor", lifespan=lifespan)')
        for domain in self.domains:
            w.add(f"app.include_router({domain.module}.router)")
        w.blank(2)
        w.add('@app.get("/health", include_in_schema=False)')
        w.add("async def health(session: SessionDep) -> dict[str, str]:")
        w.add('await session.execute(text("SELECT 1"))', 1)
        w.add('return {"status": "ok"}', 1)
        return w.text()

    # ------------------------------------------------------------ models
    def models_module(self, domain: Domain) -> str:
        w = Writer()
        w.add(f'"""Mapped classes of the {domain.module.replace("_", " ")} domain."""')
        w.blank()
        w.add("from __future__ import annotations")
        w.blank()
        w.add("from datetime import date, datetime")
        w.add("from decimal import Decimal")
        w.add("from typing import TYPE_CHECKING")
        w.blank()
        w.add("from sqlalchemy import ForeignKey, Index, Numeric, String, Text, func")
        w.add("from sqlalchemy.orm import Mapped, mapped_column, relationship")
        w.blank()
        w.add("from .base import Base, TimestampMixin")
        owners = sorted({e.owner.cls: e.owner for e in domain.entities if e.owner is not None}.values(), key=lambda e: e.cls)
        if owners:
            w.blank()
            w.add("if TYPE_CHECKING:")
            for owner in owners:
                owner_module = next(d.module for d in self.domains if d.root is owner)
                w.add(f"from .{owner_module} import {owner.cls}", 1)
        for entity in domain.entities:
            w.blank(2)
            self.model_class(w, entity)
        return w.text()

    def model_class(self, w: Writer, entity: Entity) -> None:
        w.add(f"class {entity.cls}(TimestampMixin, Base):")
        w.add(f'"""A {entity.var.replace("_", " ")} as the back office sees it."""', 1)
        w.blank()
        w.add(f'__tablename__ = "{entity.table}"', 1)
        if self.rng.random() < 0.4:
            w.add(f'__table_args__ = (Index("ix_{entity.table}_status_created", "status", "created_at"),)', 1)
        w.blank()
        w.add("id: Mapped[int] = mapped_column(primary_key=True)", 1)
        if entity.parent is not None:
            w.add(
                f"{entity.parent.var}_id: Mapped[int] = mapped_column("
                f'ForeignKey("{entity.parent.table}.id", ondelete="CASCADE"), index=True)',
                1,
            )
        if entity.owner is not None:
            w.add(f'{entity.owner.var}_id: Mapped[int | None] = mapped_column(ForeignKey("{entity.owner.table}.id"))', 1)
        for name, annotation, column in entity.fields:
            if column is None:
                w.add(f"{name}: Mapped[{annotation}]", 1)
            else:
                w.add(f"{name}: Mapped[{annotation}] = mapped_column({column})", 1)
        w.blank()
        if entity.parent is not None:
            w.add(
                f'{entity.parent.var}: Mapped["{entity.parent.cls}"] = relationship(back_populates="{entity.collection}")',
                1,
            )
        if entity.owner is not None:
            lazy = ', lazy="joined"' if self.rng.random() < 0.3 else ""
            w.add(f'{entity.owner.var}: Mapped["{entity.owner.cls} | None"] = relationship({lazy.lstrip(", ")})', 1)
        for child in entity.children:
            options = [f'back_populates="{entity.var}"', 'cascade="all, delete-orphan"']
            if child.cls in entity.children_selectin:
                options.append('lazy="selectin"')
            if self.rng.random() < 0.4:
                options.append(f'order_by="{child.cls}.id"')
            w.add(f'{child.collection}: Mapped[list["{child.cls}"]] = relationship({", ".join(options)})', 1)
        w.blank()
        w.add("def __repr__(self) -> str:", 1)
        w.add(f'return f"<{entity.cls} id={{self.id}} status={{self.status!r}}>"', 2)
        if any(name == "amount" for name, _, _ in entity.fields):
            w.blank()
            w.add("@property", 1)
            w.add("def is_billable(self) -> bool:", 1)
            w.add('return self.amount > 0 and self.status not in ("draft", "cancelled")', 2)

    # ------------------------------------------------------------ repositories
    def repository_module(self, domain: Domain) -> str:
        root = domain.root
        w = Writer()
        w.add(f'"""Queries on {root.collection.replace("_", " ")} and their children."""')
        w.blank()
        w.add("from collections.abc import Sequence")
        w.add("from datetime import datetime, timedelta")
        w.add("from typing import Annotated")
        w.blank()
        w.add("from fastapi import Depends")
        w.add("from sqlalchemy import and_, delete, func, or_, select, update")
        w.add("from sqlalchemy.ext.asyncio import AsyncSession")
        w.add("from sqlalchemy.orm import selectinload")
        w.blank()
        w.add("from ..deps import SessionDep")
        w.add(f"from ..models.{domain.module} import {', '.join(e.cls for e in domain.entities)}")
        for entity in domain.entities:
            w.blank(2)
            self.repository_class(w, entity)
            w.blank(2)
            w.add(f"def get_{entity.var}_repository(session: SessionDep) -> {entity.cls}Repository:")
            w.add(f"return {entity.cls}Repository(session)", 1)
            w.blank(2)
            w.add(f"{entity.cls}RepositoryDep = Annotated[{entity.cls}Repository, Depends(get_{entity.var}_repository)]")
        return w.text()

    def repository_class(self, w: Writer, entity: Entity) -> None:
        e, var = entity.cls, entity.var
        text_fields = [n for n, a, _ in entity.fields if a.startswith("str") and n != "status"]
        w.add(f"class {e}Repository:")
        w.add(f'"""Reads and stages writes of {entity.collection.replace("_", " ")}; the caller owns the transaction."""', 1)
        w.blank()
        w.add("def __init__(self, session: AsyncSession) -> None:", 1)
        w.add("self.session = session", 2)
        w.blank()
        w.add(f"async def get(self, {var}_id: int) -> {e} | None:", 1)
        w.add(f"return await self.session.get({e}, {var}_id)", 2)
        w.blank()
        w.add(f"async def get_for_update(self, {var}_id: int) -> {e} | None:", 1)
        w.add(f"return await self.session.get({e}, {var}_id, with_for_update=True)", 2)
        w.blank()
        w.add("async def list(", 1)
        w.add("self,", 2)
        w.add("*,", 2)
        w.add("status: str | None = None,", 2)
        if entity.parent is not None:
            w.add(f"{entity.parent.var}_id: int | None = None,", 2)
        w.add("created_after: datetime | None = None,", 2)
        w.add("offset: int = 0,", 2)
        w.add("limit: int = 50,", 2)
        w.add(f") -> Sequence[{e}]:", 1)
        w.add(f"statement = select({e}).order_by({e}.created_at.desc(), {e}.id.desc())", 2)
        w.add("if status is not None:", 2)
        w.add(f"statement = statement.where({e}.status == status)", 3)
        if entity.parent is not None:
            w.add(f"if {entity.parent.var}_id is not None:", 2)
            w.add(f"statement = statement.where({e}.{entity.parent.var}_id == {entity.parent.var}_id)", 3)
        w.add("if created_after is not None:", 2)
        w.add(f"statement = statement.where({e}.created_at >= created_after)", 3)
        w.add("result = await self.session.scalars(statement.offset(offset).limit(limit))", 2)
        w.add("return result.all()", 2)
        w.blank()
        w.add("async def count(self, status: str | None = None) -> int:", 1)
        w.add(f"statement = select(func.count({e}.id))", 2)
        w.add("if status is not None:", 2)
        w.add(f"statement = statement.where({e}.status == status)", 3)
        w.add("return await self.session.scalar(statement) or 0", 2)
        if text_fields:
            w.blank()
            w.add(f"async def search(self, term: str, limit: int = 20) -> Sequence[{e}]:", 1)
            w.add('pattern = f"%{term.strip()}%"', 2)
            conditions = ", ".join(f"{e}.{n}.ilike(pattern)" for n in text_fields[:3])
            w.add(f"statement = select({e}).where(or_({conditions})).limit(limit)", 2)
            w.add("return (await self.session.scalars(statement)).all()", 2)
        if entity.children:
            w.blank()
            w.add(f"async def get_with_children(self, {var}_id: int) -> {e} | None:", 1)
            options = ", ".join(f"selectinload({e}.{c.collection})" for c in entity.children)
            w.add(f"statement = select({e}).where({e}.id == {var}_id).options({options})", 2)
            w.add("return (await self.session.scalars(statement)).one_or_none()", 2)
        w.blank()
        w.add(f"async def stale(self, older_than: timedelta) -> Sequence[{e}]:", 1)
        w.add("cutoff = datetime.utcnow() - older_than", 2)
        w.add(
            f'statement = select({e}).where(and_({e}.updated_at < cutoff, {e}.status.in_(("draft", "pending"))))',
            2,
        )
        w.add("return (await self.session.scalars(statement)).all()", 2)
        w.blank()
        w.add(f"def add(self, {var}: {e}) -> None:", 1)
        w.add(f"self.session.add({var})", 2)
        w.blank()
        w.add("async def set_status(self, ids: list[int], status: str) -> int:", 1)
        w.add(f"statement = update({e}).where({e}.id.in_(ids)).values(status=status)", 2)
        w.add("result = await self.session.execute(statement)", 2)
        w.add("return result.rowcount", 2)
        w.blank()
        w.add("async def purge_archived(self) -> int:", 1)
        w.add(f'result = await self.session.execute(delete({e}).where({e}.status == "archived"))', 2)
        w.add("return result.rowcount", 2)

    # ------------------------------------------------------------ services
    def service_module(self, domain: Domain) -> str:
        root = domain.root
        e, var = root.cls, root.var
        w = Writer()
        w.add(f'"""Business rules of the {domain.module.replace("_", " ")} domain."""')
        w.blank()
        w.add("import logging")
        w.add("from dataclasses import dataclass")
        w.add("from datetime import datetime, timedelta")
        w.add("from decimal import Decimal")
        w.blank()
        w.add("from sqlalchemy import func, select, update")
        w.add("from sqlalchemy.ext.asyncio import AsyncSession")
        w.blank()
        w.add(f"from ..models.{domain.module} import {', '.join(x.cls for x in domain.entities)}")
        w.add(f"from ..repositories.{domain.module} import {e}Repository")
        w.blank()
        w.add("logger = logging.getLogger(__name__)")
        w.add('ALLOWED_TRANSITIONS = {')
        for status in STATUSES:
            targets = self.rng.sample(STATUSES, 3)
            w.add(f'"{status}": {tuple(t for t in targets if t != status)!r},', 1)
        w.add("}")
        w.blank(2)
        w.add(f"class {e}NotFound(LookupError):")
        w.add("pass", 1)
        w.blank(2)
        w.add("class InvalidTransition(ValueError):")
        w.add("pass", 1)
        w.blank(2)
        w.add("@dataclass")
        w.add(f"class {e}Draft:")
        for name, annotation, _ in root.fields:
            if name == "status":
                continue
            default = {"str": '""', "int": "0", "float": "0.0", "bool": "True", "Decimal": 'Decimal("0")'}.get(annotation, "None")
            w.add(f"{name}: {annotation.replace('date', 'datetime') if 'date' in annotation else annotation} = {default}", 1)
        w.blank(2)
        w.add(f"class {e}Service:")
        w.add(f'"""Operations on {root.collection.replace("_", " ")} that span several statements."""', 1)
        w.blank()
        w.add("def __init__(self, session: AsyncSession) -> None:", 1)
        w.add("self.session = session", 2)
        w.add(f"self.repository = {e}Repository(session)", 2)
        w.blank()
        w.add(f"async def create(self, draft: {e}Draft) -> {e}:", 1)
        w.add(f"{var} = {e}(**vars(draft))", 2)
        w.add(f"self.session.add({var})", 2)
        w.add("await self.session.flush()", 2)
        w.add(f'logger.info("created {var} %s", {var}.id)', 2)
        w.add(f"return {var}", 2)
        w.blank()
        w.add(f"async def transition(self, {var}_id: int, target: str) -> {e}:", 1)
        w.add(f"{var} = await self.repository.get_for_update({var}_id)", 2)
        w.add(f"if {var} is None:", 2)
        w.add(f"raise {e}NotFound({var}_id)", 3)
        w.add(f"if target not in ALLOWED_TRANSITIONS.get({var}.status, ()):", 2)
        w.add(f'raise InvalidTransition(f"{{{var}.status}} -> {{target}}")', 3)
        w.add(f"{var}.status = target", 2)
        w.add(f"return {var}", 2)
        # An anti-pattern: the service ends a transaction its caller began (ASQ301).
        commits = self.rng.random() < 0.35
        w.blank()
        w.add(f"async def archive(self, {var}_id: int) -> None:", 1)
        w.add(
            f'await self.session.execute(update({e}).where({e}.id == {var}_id).values(status="archived"))',
            2,
        )
        if commits:
            w.add("await self.session.commit()", 2)
        w.add(f'logger.info("archived {var} %s", {var}_id)', 2)
        for child in root.children:
            w.blank()
            self.service_add_child(w, root, child)
        w.blank(2)
        self.service_summary(w, root)
        w.blank(2)
        self.service_bulk(w, root)
        return w.text()

    def service_add_child(self, w: Writer, root: Entity, child: Entity) -> None:
        var = root.var
        w.add(f"async def add_{child.var}(self, {var}_id: int, **values: object) -> {child.cls}:", 1)
        w.add(f"{var} = await self.repository.get({var}_id)", 2)
        w.add(f"if {var} is None:", 2)
        w.add(f"raise {root.cls}NotFound({var}_id)", 3)
        w.add(f"{child.var} = {child.cls}({var}_id={var}.id, **values)", 2)
        w.add(f"self.session.add({child.var})", 2)
        if self.rng.random() < 0.2:
            w.add("await self.session.commit()", 2)
        else:
            w.add("await self.session.flush()", 2)
        w.add(f"return {child.var}", 2)

    def service_summary(self, w: Writer, root: Entity) -> None:
        e, var = root.cls, root.var
        numeric = [n for n, a, _ in root.fields if a in ("int", "float", "Decimal")]
        w.add(f"async def summarize_{root.collection}(session: AsyncSession, since: datetime) -> dict[str, object]:")
        w.add(f'"""Figures for the {var.replace("_", " ")} dashboard."""', 1)
        w.add(f"statement = select({e}.status, func.count({e}.id)).where({e}.created_at >= since).group_by({e}.status)", 1)
        w.add("counts = {status: count for status, count in (await session.execute(statement)).all()}", 1)
        w.add("summary: dict[str, object] = {", 1)
        w.add('"total": sum(counts.values()),', 2)
        w.add('"by_status": counts,', 2)
        w.add('"open_ratio": (counts.get("pending", 0) + counts.get("active", 0)) / max(1, sum(counts.values())),', 2)
        w.add("}", 1)
        for name in numeric[:2]:
            w.add(f"total_{name} = await session.scalar(select(func.coalesce(func.sum({e}.{name}), 0)))", 1)
            w.add(f'summary["total_{name}"] = total_{name}', 1)
        w.add("return summary", 1)

    def service_bulk(self, w: Writer, root: Entity) -> None:
        e = root.cls
        w.add(f"async def close_stale_{root.collection}(session: AsyncSession, days: int = 30) -> int:")
        w.add(f'"""Close {root.collection.replace("_", " ")} untouched for `days` days, in batches."""', 1)
        w.add("cutoff = datetime.utcnow() - timedelta(days=days)", 1)
        w.add("closed = 0", 1)
        w.add("while True:", 1)
        w.add("ids = (", 2)
        w.add("await session.scalars(", 3)
        w.add(f'select({e}.id).where({e}.updated_at < cutoff, {e}.status == "pending").limit(500)', 4)
        w.add(")", 3)
        w.add(").all()", 2)
        w.add("if not ids:", 2)
        w.add("break", 3)
        w.add(f'await session.execute(update({e}).where({e}.id.in_(ids)).values(status="closed"))', 2)
        w.add("closed += len(ids)", 2)
        w.add(f'logger.debug("closed %d stale {root.collection}", len(ids))', 2)
        w.add("return closed", 1)

    # ------------------------------------------------------------ routers
    def router_module(self, domain: Domain) -> str:
        root = domain.root
        w = Writer()
        w.add(f'"""HTTP endpoints of the {domain.module.replace("_", " ")} domain."""')
        w.blank()
        w.add("import asyncio")
        w.add("import csv")
        w.add("import io")
        w.add("from dataclasses import dataclass")
        w.add("from datetime import datetime, timedelta")
        w.add("from typing import Annotated")
        w.blank()
        w.add("from fastapi import APIRouter, HTTPException, Query, status")
        w.add("from fastapi.responses import PlainTextResponse")
        w.add("from sqlalchemy import func, select, update")
        w.add("from sqlalchemy.orm import selectinload")
        w.blank()
        w.add("from ..deps import CurrentUser, Pagination, SessionDep")
        w.add(f"from ..models.{domain.module} import {', '.join(e.cls for e in domain.entities)}")
        w.add(f"from ..repositories.{domain.module} import {root.cls}RepositoryDep")
        w.add(f"from ..services.{domain.module} import (")
        w.add(f"{root.cls}Draft,", 1)
        w.add(f"{root.cls}NotFound,", 1)
        w.add(f"{root.cls}Service,", 1)
        w.add("InvalidTransition,", 1)
        w.add(f"summarize_{root.collection},", 1)
        w.add(")")
        w.blank(2)
        w.add(f'router = APIRouter(prefix="/{root.collection.replace("_", "-")}", tags=["{domain.module}"])')
        for entity in domain.entities:
            w.blank(2)
            self.schema(w, entity)
        handlers = [
            self.h_list, self.h_get, self.h_create, self.h_update, self.h_delete,
            self.h_detail, self.h_children, self.h_stats, self.h_transition, self.h_archive,
            self.h_export, self.h_bulk, self.h_search, self.h_dashboard,
        ]
        chosen = [h for h in handlers if self.rng.random() < 0.8] or handlers[:3]
        for handler in chosen:
            w.blank(2)
            handler(w, domain)
        for child in domain.children:
            w.blank(2)
            self.h_child_create(w, domain, child)
        return w.text()

    def schema(self, w: Writer, entity: Entity) -> None:
        w.add("@dataclass")
        w.add(f"class {entity.cls}Out:")
        w.add("id: int", 1)
        for name, annotation, _ in entity.fields:
            w.add(f"{name}: {annotation.replace('Decimal', 'float')}", 1)
        w.add("created_at: datetime", 1)
        w.blank()
        w.add("@classmethod", 1)
        w.add(f'def of(cls, {entity.var}: {entity.cls}) -> "{entity.cls}Out":', 1)
        w.add("return cls(", 2)
        w.add(f"id={entity.var}.id,", 3)
        for name, annotation, _ in entity.fields:
            value = f"float({entity.var}.{name})" if annotation == "Decimal" else f"{entity.var}.{name}"
            w.add(f"{name}={value},", 3)
        w.add(f"created_at={entity.var}.created_at,", 3)
        w.add(")", 2)

    def h_list(self, w: Writer, domain: Domain) -> None:
        e = domain.root.cls
        w.add('@router.get("")')
        w.add(f"async def list_{domain.root.collection}(")
        w.add("session: SessionDep,", 1)
        w.add("page: Pagination,", 1)
        w.add("status_filter: Annotated[str | None, Query(alias=\"status\")] = None,", 1)
        w.add(f") -> list[{e}Out]:")
        w.add(f"statement = select({e}).order_by({e}.id).offset(page.offset).limit(page.limit)", 1)
        w.add("if status_filter:", 1)
        w.add(f"statement = statement.where({e}.status == status_filter)", 2)
        w.add("rows = (await session.scalars(statement)).all()", 1)
        w.add(f"return [{e}Out.of(row) for row in rows]", 1)

    def h_get(self, w: Writer, domain: Domain) -> None:
        e, var = domain.root.cls, domain.root.var
        w.add(f'@router.get("/{{{var}_id}}")')
        w.add(f"async def read_{var}({var}_id: int, session: SessionDep) -> {e}Out:")
        w.add(f"{var} = await session.get({e}, {var}_id)", 1)
        w.add(f"if {var} is None:", 1)
        w.add('raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")', 2)
        w.add(f"return {e}Out.of({var})", 1)

    def h_create(self, w: Writer, domain: Domain) -> None:
        e, var = domain.root.cls, domain.root.var
        w.add('@router.post("", status_code=status.HTTP_201_CREATED)')
        w.add(f"async def create_{var}(draft: {e}Draft, session: SessionDep, user: CurrentUser) -> {e}Out:")
        if self.rng.random() < 0.5:
            w.add("async with session.begin():", 1)
            w.add(f"{var} = await {e}Service(session).create(draft)", 2)
        else:
            w.add("async with session.begin():", 1)
            w.add(f"{var} = {e}(**vars(draft))", 2)
            w.add(f"session.add({var})", 2)
            w.add("await session.flush()", 2)
        w.add(f"return {e}Out.of({var})", 1)

    def h_update(self, w: Writer, domain: Domain) -> None:
        root = domain.root
        e, var = root.cls, root.var
        editable = [n for n, a, _ in root.fields if n != "status"][:3]
        w.add(f'@router.patch("/{{{var}_id}}")')
        w.add(f"async def update_{var}({var}_id: int, changes: dict[str, object], session: SessionDep) -> {e}Out:")
        w.add(f"allowed = {{{', '.join(repr(n) for n in editable)}}}", 1)
        w.add("unknown = set(changes) - allowed", 1)
        w.add("if unknown:", 1)
        w.add('raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"cannot change {sorted(unknown)}")', 2)
        if self.rng.random() < 0.15:
            # Commit outside any begin block on the request's session (the ASQ301 shape).
            w.add(f"{var} = await session.get({e}, {var}_id)", 1)
            w.add(f"if {var} is None:", 1)
            w.add("raise HTTPException(status.HTTP_404_NOT_FOUND)", 2)
            w.add("for name, value in changes.items():", 1)
            w.add(f"setattr({var}, name, value)", 2)
            w.add("await session.commit()", 1)
        else:
            w.add("async with session.begin():", 1)
            w.add(f"{var} = await session.get({e}, {var}_id, with_for_update=True)", 2)
            w.add(f"if {var} is None:", 2)
            w.add("raise HTTPException(status.HTTP_404_NOT_FOUND)", 3)
            w.add("for name, value in changes.items():", 2)
            w.add(f"setattr({var}, name, value)", 3)
        w.add(f"return {e}Out.of({var})", 1)

    def h_delete(self, w: Writer, domain: Domain) -> None:
        e, var = domain.root.cls, domain.root.var
        w.add(f'@router.delete("/{{{var}_id}}", status_code=status.HTTP_204_NO_CONTENT)')
        w.add(f"async def delete_{var}({var}_id: int, session: SessionDep) -> None:")
        w.add("async with session.begin():", 1)
        w.add(f"{var} = await session.get({e}, {var}_id)", 2)
        w.add(f"if {var} is None:", 2)
        w.add("raise HTTPException(status.HTTP_404_NOT_FOUND)", 3)
        w.add(f"await session.delete({var})", 2)

    def h_detail(self, w: Writer, domain: Domain) -> None:
        root = domain.root
        e, var = root.cls, root.var
        w.add(f'@router.get("/{{{var}_id}}/detail")')
        w.add(f"async def read_{var}_detail({var}_id: int, repository: {e}RepositoryDep) -> dict[str, object]:")
        w.add(f"{var} = await repository.get_with_children({var}_id)", 1)
        w.add(f"if {var} is None:", 1)
        w.add("raise HTTPException(status.HTTP_404_NOT_FOUND)", 2)
        w.add(f'body: dict[str, object] = {{"{var}": {e}Out.of({var})}}', 1)
        for child in root.children:
            w.add(f'body["{child.collection}"] = [{child.cls}Out.of(item) for item in {var}.{child.collection}]', 1)
        w.add("return body", 1)

    def h_children(self, w: Writer, domain: Domain) -> None:
        root = domain.root
        e, var = root.cls, root.var
        child = self.rng.choice(root.children)
        w.add(f'@router.get("/{{{var}_id}}/{child.collection.replace("_", "-")}")')
        w.add(f"async def list_{var}_{child.collection}({var}_id: int, session: SessionDep) -> list[{child.cls}Out]:")
        eager = child.cls in root.children_selectin or self.rng.random() < 0.5
        if eager and child.cls not in root.children_selectin:
            w.add(
                f"statement = select({e}).where({e}.id == {var}_id).options(selectinload({e}.{child.collection}))",
                1,
            )
            w.add(f"{var} = (await session.scalars(statement)).one_or_none()", 1)
        else:
            # With lazy="selectin" this is fine; otherwise it is the lazy read ASQ501 exists for.
            w.add(f"{var} = await session.get({e}, {var}_id)", 1)
        w.add(f"if {var} is None:", 1)
        w.add("raise HTTPException(status.HTTP_404_NOT_FOUND)", 2)
        w.add(f"return [{child.cls}Out.of(item) for item in {var}.{child.collection}]", 1)

    def h_stats(self, w: Writer, domain: Domain) -> None:
        e = domain.root.cls
        w.add('@router.get("/stats")')
        w.add(f"async def {domain.root.var}_stats(session: SessionDep) -> dict[str, int]:")
        w.add("since = datetime.utcnow() - timedelta(days=7)", 1)
        if self.rng.random() < 0.3:
            # Two queries in flight on one session (ASQ201).
            w.add("total, recent = await asyncio.gather(", 1)
            w.add(f"session.scalar(select(func.count({e}.id))),", 2)
            w.add(f"session.scalar(select(func.count({e}.id)).where({e}.created_at >= since)),", 2)
            w.add(")", 1)
        else:
            w.add(f"total = await session.scalar(select(func.count({e}.id)))", 1)
            w.add(f"recent = await session.scalar(select(func.count({e}.id)).where({e}.created_at >= since))", 1)
        w.add('return {"total": total or 0, "recent": recent or 0}', 1)

    def h_transition(self, w: Writer, domain: Domain) -> None:
        e, var = domain.root.cls, domain.root.var
        w.add(f'@router.post("/{{{var}_id}}/transition")')
        w.add(f"async def transition_{var}({var}_id: int, target: str, session: SessionDep, user: CurrentUser) -> {e}Out:")
        w.add("try:", 1)
        w.add("async with session.begin():", 2)
        w.add(f"{var} = await {e}Service(session).transition({var}_id, target)", 3)
        w.add(f"except {e}NotFound:", 1)
        w.add("raise HTTPException(status.HTTP_404_NOT_FOUND) from None", 2)
        w.add("except InvalidTransition as error:", 1)
        w.add("raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None", 2)
        w.add(f"return {e}Out.of({var})", 1)

    def h_archive(self, w: Writer, domain: Domain) -> None:
        e, var = domain.root.cls, domain.root.var
        w.add(f'@router.post("/{{{var}_id}}/archive", status_code=status.HTTP_202_ACCEPTED)')
        w.add(f"async def archive_{var}({var}_id: int, session: SessionDep) -> None:")
        w.add(f"await {e}Service(session).archive({var}_id)", 1)

    def h_export(self, w: Writer, domain: Domain) -> None:
        root = domain.root
        e = root.cls
        columns = ["id", *[n for n, _, _ in root.fields][:4], "created_at"]
        w.add('@router.get("/export.csv", response_class=PlainTextResponse)')
        w.add(f"async def export_{root.collection}(session: SessionDep, since: datetime | None = None) -> str:")
        w.add(f"statement = select({', '.join(f'{e}.{c}' for c in columns)}).order_by({e}.id)", 1)
        w.add("if since is not None:", 1)
        w.add(f"statement = statement.where({e}.created_at >= since)", 2)
        w.add("buffer = io.StringIO()", 1)
        w.add("writer = csv.writer(buffer)", 1)
        w.add(f"writer.writerow({columns!r})", 1)
        w.add("for row in (await session.execute(statement)).all():", 1)
        w.add("writer.writerow(list(row))", 2)
        w.add("return buffer.getvalue()", 1)

    def h_bulk(self, w: Writer, domain: Domain) -> None:
        e = domain.root.cls
        w.add('@router.post("/bulk-status")')
        w.add(f"async def bulk_set_{domain.root.var}_status(ids: list[int], target: str, session: SessionDep) -> dict[str, int]:")
        w.add("if len(ids) > 1000:", 1)
        w.add('raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "at most 1000 ids")', 2)
        w.add("async with session.begin():", 1)
        w.add(f"result = await session.execute(update({e}).where({e}.id.in_(ids)).values(status=target))", 2)
        w.add('return {"updated": result.rowcount}', 1)

    def h_search(self, w: Writer, domain: Domain) -> None:
        e = domain.root.cls
        w.add('@router.get("/search")')
        w.add(f"async def search_{domain.root.collection}(q: str, repository: {e}RepositoryDep) -> list[{e}Out]:")
        w.add("if len(q) < 2:", 1)
        w.add("return []", 2)
        if any(a.startswith("str") and n != "status" for n, a, _ in domain.root.fields):
            w.add(f"return [{e}Out.of(row) for row in await repository.search(q)]", 1)
        else:
            w.add(f"return [{e}Out.of(row) for row in await repository.list(status=q)]", 1)

    def h_dashboard(self, w: Writer, domain: Domain) -> None:
        w.add('@router.get("/dashboard")')
        w.add(f"async def {domain.root.var}_dashboard(session: SessionDep, days: int = 30) -> dict[str, object]:")
        w.add(f"return await summarize_{domain.root.collection}(session, datetime.utcnow() - timedelta(days=days))", 1)

    def h_child_create(self, w: Writer, domain: Domain, child: Entity) -> None:
        root = domain.root
        var = root.var
        w.add(f'@router.post("/{{{var}_id}}/{child.collection.replace("_", "-")}", status_code=status.HTTP_201_CREATED)')
        w.add(
            f"async def add_{var}_{child.var}({var}_id: int, values: dict[str, object], session: SessionDep)"
            f" -> {child.cls}Out:"
        )
        w.add("try:", 1)
        w.add("async with session.begin():", 2)
        w.add(f"{child.var} = await {root.cls}Service(session).add_{child.var}({var}_id, **values)", 3)
        w.add(f"except {root.cls}NotFound:", 1)
        w.add("raise HTTPException(status.HTTP_404_NOT_FOUND) from None", 2)
        w.add(f"return {child.cls}Out.of({child.var})", 1)


DB_MODULE = '''"""The engine and the session factory: created once per process, in the app's lifespan."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql+asyncpg://shop:shop@localhost/shopfloor")
POOL_SIZE = int(os.environ.get("DB_POOL_SIZE", "10"))


def build_engine(url: str = DATABASE_URL) -> AsyncEngine:
    return create_async_engine(url, pool_size=POOL_SIZE, max_overflow=5, pool_pre_ping=True)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    engine = create_async_engine(DATABASE_URL, pool_size=POOL_SIZE, max_overflow=5, pool_pre_ping=True)
    app.state.engine = engine
    app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    try:
        yield
    finally:
        await engine.dispose()


def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    return request.app.state.sessionmaker
'''

DEPS_MODULE = '''"""Request dependencies: one session per request, from the process's one session factory."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Query, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .db import get_sessionmaker
from .models.account import Account

SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)]


async def get_session(sessionmaker: SessionmakerDep) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_current_user(session: SessionDep, x_account_id: Annotated[int, Header()]) -> Account:
    # A short transaction of its own, so that the handler can still open one with `session.begin()`.
    async with session.begin():
        account = await session.scalar(select(Account).where(Account.id == x_account_id, Account.status == "active"))
    if account is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or inactive account")
    return account


CurrentUser = Annotated[Account, Depends(get_current_user)]


@dataclass
class Page:
    offset: int
    limit: int


def pagination(offset: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Page:
    return Page(offset, limit)


Pagination = Annotated[Page, Depends(pagination)]
'''

BASE_MODULE = '''"""The declarative base and the columns every table has."""

from datetime import datetime

from sqlalchemy import MetaData, func
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
'''


def write_corpus(out: Path, seed: int, lines: int) -> int:
    """Write the project into `out` (emptied first); the number of lines written."""
    files = ProjectGenerator(seed, lines).generate()
    if out.exists():
        shutil.rmtree(out)
    for relative, text in sorted(files.items()):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return sum(text.count("\n") for name, text in files.items() if name.endswith(".py"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write (emptied first)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lines", type=int, default=50_000, help="approximate number of lines")
    args = parser.parse_args()
    written = write_corpus(args.out, args.seed, args.lines)
    files = sum(1 for _ in args.out.rglob("*.py"))
    print(f"wrote {files} files, {written} lines of Python to {args.out}")


if __name__ == "__main__":
    main()
