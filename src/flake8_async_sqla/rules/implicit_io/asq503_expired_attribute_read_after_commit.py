from __future__ import annotations

import ast
from collections.abc import Iterator

from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.orm import ENTITY_KINDS, OrmFacts, OrmValue, Position, describe, may_expire_objects, orm_facts
from flake8_async_sqla.core.rule import ADVISORY, Report, Rule, register, report

Finding = tuple[tuple[str, Position], Report]  # ((the object as written, the commit that expired it), its report)


@register
class ExpiredAttributeReadAfterCommit(Rule):
    """
    ## What it does
    Finds, in `async def` code, a read of a mapped attribute (a column or a
    relationship) of an ORM object after `await session.commit()` (or the end of an
    `async with session.begin():` block) expired it: the object was loaded through that
    session or put into it with `session.add(obj)` / `add_all([...])` before the commit,
    and the session's factory is known to expire on commit: `async_sessionmaker(...)`
    without `expire_on_commit=False`, `AsyncSession(engine)` built directly, or a
    dependency whose provider opens its session from such a factory. A route handler
    that returns such an object (or a list of them) with a response model whose fields
    read mapped attributes is reported on the `return`: FastAPI reads them to serialize
    the response. `AugAssign` (`obj.count += 1`) is a read too.

    It reports once per object and commit, on the first read of the object (in source
    order, a serializing `return` included) after the commit that expired it: that read
    reloads the row, so in `ProductOut(id=p.id, name=p.name, ...)` only `p.id` is
    reported. A later commit that expires the object again gives one more finding, on
    its first read after that commit.

    Not reported: reads after `await session.refresh(obj)` (or of the attributes a
    `refresh(obj, [...])` names), after the object is loaded again, in an `except`
    handler of the `try` that commits, after a commit inside an `if`, loop or `except`
    body once that body has ended, and anything when the session's factory is unknown
    (a plain `AsyncSession` parameter), sets `expire_on_commit=False`, or is configured
    elsewhere. An object handed to awaited code is not followed. Relationship reads that
    would lazy-load anyway are left to ASQ501.

    ## Why is this bad?
    A commit expires every object of the session (`expire_on_commit=True` is the
    default), so the next attribute read reloads the row. Under asyncio that reload
    cannot run inside an attribute access: it raises `MissingGreenlet` (greenlet_spawn
    has not been called), typically right after a create or update endpoint commits and
    returns the object.

    ## Use instead
    `await session.refresh(obj)` after the commit when you need the database's values,
    or create the session factory with `expire_on_commit=False` (see ASQ205), as
    SQLAlchemy's asyncio guide recommends.

    ## Known false alarms
    The session's `expire_on_commit` is read from its factory only: a session opened with an
    override (`async with Factory(expire_on_commit=False) as session:`) still counts as
    expiring. A `refresh()` clears only the name it is called on, so refreshing the object
    under another name (`u = user`, then `await session.refresh(u)`) leaves reads of `user`
    reported. Pass the setting to the factory, refresh the name you read, or silence one
    read with `# noqa: ASQ503`.

    ## Fix safety
    No automatic fix.

    ## References
    - [SQLAlchemy: Preventing Implicit IO when Using AsyncSession](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#preventing-implicit-io-when-using-asyncsession)
    - [SQLAlchemy: Committing (expire_on_commit)](https://docs.sqlalchemy.org/en/20/orm/session_basics.html#committing)
    - [SQLAlchemy: Refreshing / Expiring](https://docs.sqlalchemy.org/en/20/orm/session_state_management.html#refreshing-expiring)
    """

    code = "ASQ503"
    runtime_proof = "tests/runtime/test_asq503.py"
    observed = {
        "SQLite (aiosqlite)": "both reads after the commit (`commit()`, and the end of `begin()`) raise `StatementError` "
        "wrapping `MissingGreenlet`; the refreshed read and the session with expire_on_commit=False return the values.",
        "PostgreSQL (asyncpg)": "both reads after the commit raise `MissingGreenlet` itself; the refreshed read and "
        "expire_on_commit=False return the values.",
    }
    name = "expired-attribute-read-after-commit"
    phase = ADVISORY
    message = "{what} after the commit on line {line} reloads the expired object (implicit I/O, MissingGreenlet): {refresh} after the commit, or create the session factory with expire_on_commit=False"
    invalid = (
        '''\
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


async def rename_user(engine: AsyncEngine, user_id: int, name: str) -> str:
    async with AsyncSession(engine) as session:
        user = await session.get_one(User, user_id)
        user.name = name
        await session.commit()
        return user.name  # error: ASQ503
''',
        '''\
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Member(Base):
    __tablename__ = "members"
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int]
    email: Mapped[str]


async def add_member(engine: AsyncEngine, team_id: int, email: str) -> int:
    async with AsyncSession(engine) as session:
        async with session.begin():
            member = Member(team_id=team_id, email=email)
            session.add(member)
        return member.id  # error: ASQ503
''',
    )
    valid = (
        '''\
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


async def rename_user(engine: AsyncEngine, user_id: int, name: str) -> str:
    async with AsyncSession(engine) as session:
        user = await session.get_one(User, user_id)
        user.name = name
        await session.commit()
        await session.refresh(user)
        return user.name
''',
        '''\
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Member(Base):
    __tablename__ = "members"
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int]
    email: Mapped[str]


async def add_member(engine: AsyncEngine, team_id: int, email: str) -> int:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        async with session.begin():
            member = Member(team_id=team_id, email=email)
            session.add(member)
        return member.id
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for scope in model.scopes:
            if scope.kind != "function" or not scope.is_async or not may_expire_objects(model, scope):
                continue
            findings = list(_expired_reads(model, scope))
            if model.is_route_handler(scope):
                findings.extend(_serialized_after_commit(model, scope))
            # One finding per object and commit: the first read reloads it, later reads find it loaded.
            reported: set[tuple[str, Position]] = set()
            for finding in sorted(findings, key=lambda finding: _position(finding[1].node)):
                if finding[0] not in reported:
                    reported.add(finding[0])
                    yield finding[1]


def _expired_reads(model: SemanticModel, scope: Scope) -> Iterator[Finding]:
    """Reads of mapped attributes of expired objects in `scope`."""
    facts: OrmFacts | None = None
    expired: dict[ast.Attribute, OrmValue] = {}
    for attribute in scope.attributes:
        if not _reads(model, attribute):
            continue
        facts = facts or orm_facts(model, scope)
        owner = facts.owner(attribute)
        if owner is not None and _reloads(model, owner, attribute.attr) and facts.surely_committed(attribute, owner):
            expired[attribute] = owner
    for attribute, owner in expired.items():
        if attribute.value in expired:  # `order.customer.name`: reported on `order.customer`
            continue
        yield _finding(attribute, f"reading `{describe(attribute)}`", owner, attribute.value)


def _reads(model: SemanticModel, attribute: ast.Attribute) -> bool:
    parent = model.parents.get(attribute)
    return isinstance(attribute.ctx, ast.Load) or isinstance(parent, ast.AugAssign) and parent.target is attribute


def _reloads(model: SemanticModel, owner: OrmValue, attr: str) -> bool:
    """Whether reading mapped attribute `attr` of `owner` reloads it because a commit expired it."""
    if owner.kind not in ENTITY_KINDS or not owner.reads_expired(attr):
        return False
    if attr not in (model.mapped_attributes(owner.model) or ()):
        return False
    relationship = (model.model_relationships(owner.model) or {}).get(attr)
    return relationship is None or not relationship.loads_lazily or owner.settles(attr)  # else ASQ501's finding


def _serialized_after_commit(model: SemanticModel, scope: Scope) -> Iterator[Finding]:
    """`return obj` from a route handler whose response model reads expired mapped attributes of `obj`."""
    schema = model.response_schema(scope)
    fields = model.schema_fields(schema[0]) if schema is not None else None
    if not fields:
        return
    kinds = {"objects"} if schema[1] else ENTITY_KINDS  # type: ignore[index]
    facts = orm_facts(model, scope)
    for returned in scope.returns:
        value = facts.value_at(returned.value, _position(returned)) if returned.value else None
        if value is None or value.expired_by is None or value.kind not in kinds:
            continue
        mapped = model.mapped_attributes(value.model) or frozenset()
        expired = any(read in mapped and value.reads_expired(read) for read in fields.values() if read is not None)
        if expired and facts.surely_committed(returned, value):
            yield _finding(returned, f"returning `{describe(returned.value)}` for serialization", value, returned.value)  # type: ignore[arg-type]


def _finding(node: ast.AST, what: str, value: OrmValue, owner_node: ast.AST) -> Finding:
    owner = describe(owner_node)
    session = value.session or "session"
    refresh = f"`await {session}.refresh(obj)` for each of `{owner}`" if value.kind == "objects" else f"`await {session}.refresh({owner})`"
    commit: Position = value.expired_by  # type: ignore[assignment]
    return (owner, commit), report(node, what=what, line=str(commit[0]), refresh=refresh)


def _position(node: ast.AST) -> Position:
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))
