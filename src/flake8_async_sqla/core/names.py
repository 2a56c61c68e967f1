"""Qualified names of the library APIs the rules know, and how to match them."""

from __future__ import annotations

# Roots under which SQLAlchemy's public names are (re-)exported.
SQLALCHEMY_ROOTS = ("sqlalchemy", "sqlmodel")

ENGINE_FACTORIES = {
    "create_async_engine": "async",
    "async_engine_from_config": "async",
    "create_engine": "sync",
    "engine_from_config": "sync",
}
SESSION_CLASSES = {"AsyncSession": "async", "Session": "sync"}
SESSION_FACTORY_CLASSES = {"async_sessionmaker": "async", "sessionmaker": "sync"}
SCOPED_REGISTRIES = {"async_scoped_session": "async", "scoped_session": "sync"}
WRITE_STATEMENTS = {"insert", "update", "delete"}
EAGER_LOADERS = {"selectinload", "joinedload", "subqueryload", "immediateload", "contains_eager"}
# Loader options that stop implicit I/O on access (it raises instead), so a read is not a lazy load.
NON_LAZY_OPTIONS = EAGER_LOADERS | {"raiseload", "noload", "defaultload"}
# `lazy=` strategies under which reading the attribute does no implicit I/O.
NON_LAZY_STRATEGIES = {
    "selectin", "joined", "subquery", "immediate", "raise", "raise_on_sql", "noload",
    "write_only", "dynamic", "False", "None",
}

FASTAPI_ROOTS = ("fastapi", "starlette")
APP_CLASSES = {"FastAPI", "APIRouter", "Starlette", "Router"}
ROUTE_METHODS = {
    "get", "post", "put", "patch", "delete", "options", "head", "trace", "api_route",
    "websocket", "route", "websocket_route",
}
DEPENDENCY_MARKERS = {"Depends", "Security"}

GATHER_LIKE = {"asyncio.gather", "asyncio.wait", "asyncio.as_completed", "anyio.gather"}
TASK_SPAWNERS = {"asyncio.create_task", "asyncio.ensure_future"}
TASK_GROUPS = {"asyncio.TaskGroup", "anyio.create_task_group"}
CACHING_DECORATORS = {"functools.lru_cache", "functools.cache", "functools.cached_property"}
CONTEXT_MANAGER_DECORATORS = {"contextlib.asynccontextmanager", "contextlib.contextmanager"}


def sqlalchemy_api(qualname: str | None) -> str | None:
    """The public SQLAlchemy/SQLModel name that `qualname` refers to, else None."""
    if not qualname:
        return None
    root, _, rest = qualname.partition(".")
    if root not in SQLALCHEMY_ROOTS or not rest:
        return None
    return qualname.rpartition(".")[2]


def fastapi_api(qualname: str | None) -> str | None:
    if not qualname:
        return None
    root, _, rest = qualname.partition(".")
    if root not in FASTAPI_ROOTS or not rest:
        return None
    return qualname.rpartition(".")[2]
