"""Qualified names of the library APIs the rules know, and how to match them."""

from __future__ import annotations

import sys

# Roots under which SQLAlchemy's public names are (re-)exported.
SQLALCHEMY_ROOTS = ("sqlalchemy", "sqlmodel")

ENGINE_FACTORIES = {
    "create_async_engine": "async",
    "async_engine_from_config": "async",
    "create_engine": "sync",
    "engine_from_config": "sync",
    "AsyncEngine": "async",  # `AsyncEngine(create_engine(url))`, as SQLModel's docs once wrote it
}
# The engine factories that take a URL, and the engine kind they build.
URL_ENGINE_FACTORIES = {"create_async_engine": "async", "create_engine": "sync"}
# URL schemes (`dialect+driver`) of SQLAlchemy's own dialects that work with only one engine kind.
# Missing on purpose: `postgresql+psycopg` and `oracle+oracledb` (both kinds), and bare
# `postgresql` / `oracle`, whose default driver is sync in SQLAlchemy 2.0 (psycopg2, cx_oracle)
# and async-capable in 2.1 (psycopg, oracledb).
URL_SCHEME_KINDS = {
    **dict.fromkeys((
        "postgresql+asyncpg", "postgresql+psycopg_async", "sqlite+aiosqlite", "mysql+aiomysql",
        "mysql+asyncmy", "mariadb+aiomysql", "mariadb+asyncmy", "mssql+aioodbc", "oracle+oracledb_async",
    ), "async"),
    **dict.fromkeys((
        "postgresql+psycopg2", "postgresql+psycopg2cffi", "postgresql+pg8000", "sqlite", "sqlite+pysqlite",
        "sqlite+pysqlcipher", "mysql", "mysql+mysqldb", "mysql+pymysql", "mysql+mysqlconnector",
        "mysql+cymysql", "mysql+mariadbconnector", "mariadb", "mariadb+mysqldb", "mariadb+pymysql",
        "mariadb+mariadbconnector", "mariadb+mysqlconnector", "mssql", "mssql+pyodbc", "mssql+pymssql",
        "oracle+cx_oracle",
    ), "sync"),
}
# Per dialect, a driver of each engine kind to suggest instead.
DIALECT_DRIVERS = {
    "postgresql": {"async": "postgresql+asyncpg", "sync": "postgresql+psycopg"},
    "sqlite": {"async": "sqlite+aiosqlite", "sync": "sqlite+pysqlite"},
    "mysql": {"async": "mysql+aiomysql", "sync": "mysql+pymysql"},
    "mariadb": {"async": "mariadb+aiomysql", "sync": "mariadb+pymysql"},
    "mssql": {"async": "mssql+aioodbc", "sync": "mssql+pyodbc"},
    "oracle": {"async": "oracle+oracledb", "sync": "oracle+oracledb"},
}
# Dialects that talk to a database server over the network (so pooled connections can go
# stale), with the name to show.
SERVER_DIALECTS = {"postgresql": "PostgreSQL", "mysql": "MySQL", "mariadb": "MariaDB", "mssql": "SQL Server", "oracle": "Oracle"}
# SQLite URL schemes whose driver is the stdlib sqlite3 module, which emits BEGIN itself (legacy
# transaction control), so SAVEPOINT needs the documented "connect"/"begin" listener workaround.
SQLITE_STDLIB_SCHEMES = {"sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"}
# Dialect names SQLAlchemy no longer accepts, as older URLs (Heroku's `postgres://`) still spell them.
DIALECT_ALIASES = {"postgres": "postgresql"}
# Pydantic's URL types that accept one database's schemes alone.
DSN_DIALECTS = {"PostgresDsn": "postgresql", "MySQLDsn": "mysql", "MariaDBDsn": "mariadb"}
# The settings classes whose fields the environment fills in.
SETTINGS_BASES = {"pydantic.BaseSettings", "pydantic_settings.BaseSettings", "pydantic_settings.main.BaseSettings"}
# Reads of the environment: (qualified name, position of the default among the arguments; None: keyword only).
ENVIRONMENT_READS = {"os.getenv": 1, "os.environ.get": 1, "os.environ.setdefault": 1, "decouple.config": None}
# Distributions that are database drivers (names normalised), with their database; `sqlalchemy` and
# `databases` extras name a driver or a database too (`sqlalchemy[postgresql-asyncpg]`).
DRIVER_DIALECTS = {
    **dict.fromkeys((
        "asyncpg", "psycopg", "psycopg-binary", "psycopg-c", "psycopg-pool", "psycopg2", "psycopg2-binary",
        "psycopg2cffi", "pg8000",
    ), "postgresql"),
    **dict.fromkeys(("aiosqlite", "pysqlite3", "pysqlite3-binary", "sqlcipher3", "sqlcipher3-binary"), "sqlite"),
    **dict.fromkeys(("aiomysql", "asyncmy", "pymysql", "mysqlclient", "mysql-connector-python", "cymysql"), "mysql"),
    "mariadb": "mariadb",
    **dict.fromkeys(("pyodbc", "aioodbc", "pymssql"), "mssql"),
    **dict.fromkeys(("oracledb", "cx-oracle"), "oracle"),
}
DRIVER_EXTRAS_PACKAGES = {"sqlalchemy", "databases"}
SESSION_CLASSES = {"AsyncSession": "async", "Session": "sync"}
# Functions (and `Session.object_session` / `AsyncSession.object_session`) that hand back the session an ORM
# object belongs to: someone else's session, by the kind each returns.
OBJECT_SESSION_FUNCTIONS = {"object_session": "sync", "async_object_session": "async"}
# API names a project module may re-export (`from app.db import AsyncSession`): followed to the original.
REEXPORTED_API_NAMES = frozenset({
    "AsyncSession", "Session", "async_sessionmaker", "sessionmaker", "async_scoped_session", "scoped_session",
    "create_async_engine", "create_engine", "AsyncEngine", "Engine", "Depends", "Security", "FastAPI", "APIRouter",
    "object_session", "async_object_session",
})
# Methods that, called on a name, tell a SQLAlchemy session from an HTTP client or a DB-API connection.
SESSION_ONLY_METHODS = {
    "query", "flush", "add_all", "scalars", "merge", "refresh", "expunge", "expire", "begin_nested",
    "bulk_save_objects", "bulk_insert_mappings", "bulk_update_mappings", "commit", "rollback",
}
# Session methods that do I/O: `session.get` handed around is the session itself.
SESSION_IO_METHODS = {
    "get", "get_one", "execute", "scalar", "scalars", "stream", "stream_scalars", "refresh",
    "merge", "flush", "commit", "rollback", "delete", "run_sync", "connection", "close",
}
# Methods of a synchronous `Session` that talk to the database (`query` builds the Query that
# will, where it is built). `add`, `add_all`, `expunge`, `expire`, `in_transaction` and
# `is_active` do not, and `begin()` does only when its block ends (see the rules).
SYNC_SESSION_IO_METHODS = {
    "execute", "scalar", "scalars", "get", "get_one", "query", "merge", "delete", "refresh", "flush",
    "commit", "rollback", "close", "connection", "begin_nested", "bulk_save_objects",
    "bulk_insert_mappings", "bulk_update_mappings",
    "exec",  # SQLModel's Session
}
# Session methods that put a write into the unit of work, flushed on the next flush or commit.
SESSION_WRITE_METHODS = {
    "add", "add_all", "delete", "merge", "bulk_save_objects", "bulk_insert_mappings", "bulk_update_mappings",
}
# Session methods that run a statement: a write when the statement is insert/update/delete.
SESSION_STATEMENT_METHODS = {"execute", "scalar", "scalars"}
# Session methods that end its use and give its connections back (`close()` in a `finally:`).
SESSION_CLOSE_METHODS = {"close", "aclose", "reset", "invalidate"}
ENGINE_CLASSES = {"AsyncEngine": "async", "Engine": "sync"}
CONNECTION_CLASSES = {"AsyncConnection": "async", "Connection": "sync"}
# Coroutine methods of the asyncio classes (SQLAlchemy 2.0/2.1). Everything else on them is
# synchronous: `add`, `add_all`, `expunge`, `expire`, `in_transaction`, `get_bind`, and `begin` /
# `connect`, which return (async) context managers.
ASYNC_COROUTINE_METHODS = {
    "AsyncSession": {
        "execute", "scalar", "scalars", "get", "get_one", "stream", "stream_scalars", "delete",
        "delete_all", "merge", "merge_all", "flush", "refresh", "run_sync", "connection", "commit",
        "rollback", "close", "aclose", "reset", "invalidate",
        "exec",  # SQLModel's AsyncSession
    },
    "AsyncConnection": {
        "execute", "scalar", "scalars", "stream", "stream_scalars", "exec_driver_sql", "run_sync",
        "commit", "rollback", "close", "aclose", "invalidate", "start", "get_raw_connection",
        "execution_options", "get_isolation_level",
    },
    "AsyncEngine": {"dispose", "raw_connection"},
}
# Exceptions a failed statement or flush raises; after one the session needs `rollback()`.
DATABASE_ERRORS = {
    "SQLAlchemyError", "DBAPIError", "DatabaseError", "IntegrityError", "OperationalError",
    "ProgrammingError", "DataError", "InternalError", "InterfaceError", "NotSupportedError",
    "StatementError", "PendingRollbackError", "FlushError", "StaleDataError",
}
EVENT_REGISTRATIONS = {"listens_for", "listen"}
# MetaData methods that use the engine passed to them for one operation, without keeping it.
METADATA_BIND_METHODS = {"create_all", "drop_all", "reflect"}
SESSION_FACTORY_CLASSES = {"async_sessionmaker": "async", "sessionmaker": "sync"}
SCOPED_REGISTRIES = {"async_scoped_session": "async", "scoped_session": "sync"}
# SQLAlchemy's `relationship()` and SQLModel's `Relationship()`.
RELATIONSHIP_FACTORIES = {"relationship", "Relationship"}
WRITE_STATEMENTS = {"insert", "update", "delete"}
# How raw SQL in `text(...)` that writes starts.
WRITE_SQL_PREFIXES = ("INSERT", "UPDATE", "DELETE", "UPSERT", "MERGE")
EAGER_LOADERS = {"selectinload", "joinedload", "subqueryload", "immediateload", "contains_eager"}
# Loader options that stop implicit I/O on access (it raises instead), so a read is not a lazy load.
NON_LAZY_OPTIONS = EAGER_LOADERS | {"raiseload", "noload", "defaultload"}
# Modules whose import makes a project an asyncio one (AsyncSession, async_sessionmaker, AsyncAttrs).
ASYNCIO_EXTENSIONS = ("sqlalchemy.ext.asyncio", "sqlmodel.ext.asyncio")
# Annotations that map a class attribute in a declarative class, and calls that map a column.
MAPPED_ANNOTATIONS = {"Mapped", "WriteOnlyMapped", "DynamicMapped"}
COLUMN_CONSTRUCTORS = {"mapped_column", "Column", "column_property", "deferred", "composite"}
# Roots of Pydantic models (SQLModel's included), and the bases a model may add that declare no fields.
PYDANTIC_MODEL_ROOTS = {"pydantic.BaseModel", "pydantic.main.BaseModel", "sqlmodel.SQLModel", "sqlmodel.main.SQLModel"}
FIELDLESS_BASES = {"typing.Generic", "typing.Protocol", "abc.ABC"}
PYDANTIC_FIELD_FUNCTIONS = {"pydantic.Field", "pydantic.fields.Field", "sqlmodel.Field"}
# Field keywords naming the attribute that validation with `from_attributes` reads instead of the field name.
FIELD_READ_ALIASES = ("validation_alias", "alias")

FASTAPI_ROOTS = ("fastapi", "starlette")
APP_CLASSES = {"FastAPI", "APIRouter", "Starlette", "Router"}
# The application classes: an instance is the program that routers are mounted into.
APPLICATION_CLASSES = {"FastAPI", "Starlette"}
ROUTE_METHODS = {
    "get", "post", "put", "patch", "delete", "options", "head", "trace", "api_route",
    "websocket", "route", "websocket_route",
}
# `app.add_api_route(path, endpoint)`: the method, and the keyword of its second (endpoint) parameter.
ROUTE_REGISTRATIONS = {
    "add_api_route": "endpoint", "add_api_websocket_route": "endpoint", "add_route": "route",
    "add_websocket_route": "route",
}
DEPENDENCY_MARKERS = {"Depends", "Security"}
# The startup/shutdown event API that `lifespan` replaces: methods of an app or router, and the
# constructor keywords / router attributes that hold handler lists.
EVENT_HANDLER_METHODS = {"on_event", "add_event_handler"}
EVENT_HANDLER_LISTS = {"on_startup", "on_shutdown"}
EVENT_NAMES = {"startup", "shutdown"}
# What a function's calls of these methods on an unannotated parameter show it holds: an app or router
# ("app"), or one of the things an app does that look-alikes do too (an event bus's `on_event("startup")`,
# a static-files `mount`), of which two different ones are needed.
APP_METHOD_USES = {
    "include_router": "app", **{method: "event" for method in EVENT_HANDLER_METHODS},
    "add_middleware": "middleware", "middleware": "middleware", "mount": "mount",
    "add_exception_handler": "exception handler", "exception_handler": "exception handler",
    **{method: "route" for method in ROUTE_REGISTRATIONS},
}
# Methods that release a resource (engine, client, pool, executor) at shutdown.
RELEASE_METHODS = {"dispose", "close", "aclose", "shutdown", "disconnect"}

GATHER_LIKE = {"asyncio.gather", "asyncio.wait", "asyncio.as_completed"}
TASK_SPAWNERS = {"asyncio.create_task", "asyncio.ensure_future"}
TASK_GROUPS = {"asyncio.TaskGroup", "anyio.create_task_group"}
EVENT_LOOP_GETTERS = {"asyncio.get_running_loop", "asyncio.get_event_loop"}
# FastAPI/Starlette work run after the response: `background_tasks.add_task(f, ...)`, `BackgroundTask(f, ...)`.
BACKGROUND_TASKS = "BackgroundTasks"
BACKGROUND_TASK = "BackgroundTask"
EXECUTOR_CLASSES = {"concurrent.futures.ThreadPoolExecutor", "concurrent.futures.ProcessPoolExecutor"}
# Calls that wait for the tasks or futures handed to them (or hand them to something awaited).
TASK_WAITERS = GATHER_LIKE | {
    "asyncio.wait_for", "asyncio.shield", "asyncio.wrap_future", "concurrent.futures.wait",
    "concurrent.futures.as_completed",
}
# Calls that run a synchronous callable (and the arguments handed with it) in a worker thread.
THREAD_OFFLOADERS = {
    "asyncio.to_thread", "anyio.to_thread.run_sync", "starlette.concurrency.run_in_threadpool",
    "fastapi.concurrency.run_in_threadpool",
}
# Methods that do the same: `loop.run_in_executor(None, fn, ...)`, `AsyncSession.run_sync(fn, ...)`.
THREAD_OFFLOAD_METHODS = {"run_in_executor", "run_sync"}
# Libraries whose functions store, wrap or hand on a session they are given but never query
# through it (the standard library counts too): a session handed to them does no I/O there.
NON_QUERYING_LIBRARIES = (*SQLALCHEMY_ROOTS, *FASTAPI_ROOTS, "pydantic", "anyio", "structlog")
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


# Top-level modules that are never the project's: the standard library, the frameworks and the database libraries.
EXTERNAL_ROOTS = frozenset(getattr(sys, "stdlib_module_names", ())) | {
    "sqlalchemy", "sqlmodel", "fastapi", "starlette", "pydantic", "pydantic_settings", "anyio",
    "typing_extensions", "greenlet", "asyncpg", "aiosqlite", "psycopg", "psycopg2", "httpx", "alembic",
}
