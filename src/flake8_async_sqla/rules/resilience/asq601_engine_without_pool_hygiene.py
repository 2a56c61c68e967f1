from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.edits import add_keyword
from flake8_async_sqla.core.engines import wrapped_in_async_engine
from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.syntax import engine_url
from flake8_async_sqla.core.roles import SERVING_ROLES
from flake8_async_sqla.core.rule import ADVISORY, SAFE, AutoFix, Report, Rule, register, report
from flake8_async_sqla.core.urls import url_dialect

# Words that name a test's database or engine (`TEST_DATABASE_URL`, `test_engine`).
TEST_WORDS = {"test", "tests", "testing"}
# Keywords that show the pool was configured on purpose (a `pool_pre_ping=False` too).
POOL_SETTINGS = {"pool_pre_ping", "pool_size", "max_overflow", "pool_timeout", "pool_recycle", "poolclass", "pool"}


@register
class EngineWithoutPoolHygiene(Rule):
    """
    ## What it does
    Finds `create_async_engine(...)` or `create_engine(...)` for a database server
    (PostgreSQL, MySQL/MariaDB, SQL Server, Oracle) that leaves the pool at its defaults: no
    `pool_pre_ping`, no `pool_recycle`, `pool_timeout`, `pool_size` or `max_overflow`, and no
    `poolclass` (such as `NullPool` behind PgBouncer). The database is known from the URL: its
    scheme written in the code (a literal, an f-string, concatenation or `.format()` that starts
    with it, `URL.create(...)`), followed through module constants of any project module,
    settings classes (a field's default, `Field(default=...)`, a `PostgresDsn` field, a property
    that builds the URL, nested settings, `get_settings()`), and `os.getenv(...)` /
    `os.environ.get(...)` defaults. A URL from settings or the environment without such a
    default (`os.environ["DATABASE_URL"]`) is judged for an async engine when the project's
    manifests (pyproject.toml, setup.cfg, Pipfile, requirements files, development groups
    included) declare the drivers of one database alone: a project that also declares
    `aiosqlite` may run on SQLite in its tests, and a sync engine may use SQLite's
    standard-library driver, which no project declares.

    Not judged: a call that passes `**options`; a sync engine made in a function other than a
    lifespan or startup handler (it may serve one task, a connector's, and go with it); an
    engine or URL named for tests (`test_engine`, `settings.TEST_DATABASE_URL`).

    ## Why is this bad?
    A pooled connection that the server, a proxy or a firewall closed while it sat idle
    is handed out as if it were alive: the first query of the next request fails with
    "connection was closed" after every database failover, restart or idle timeout. The
    default pool also waits up to 30 seconds for a free connection under load before it
    fails the request.

    ## Use instead
    Pass `pool_pre_ping=True` (a cheap liveness check when a connection is checked out),
    and size the pool for the database: `pool_recycle` below the server's idle timeout,
    `pool_size`/`max_overflow` within its connection limit, a short `pool_timeout`.

    ## Known false alarms
    Only the pool keywords of the call count: an engine whose connections are kept healthy
    another way (keepalives or timeouts in `connect_args`, a `"checkout"` pool event that
    pings) is reported, and so is a short-lived engine in application code (a health check
    or one-off task that disposes it right away). A server URL that is only a default (of a
    settings field or an environment read) is taken as the database the app runs on, and so are
    the drivers the project declares: a deployment that overrides it with SQLite, or a SQLite
    driver installed without being declared, gives a false alarm. Silence one with
    `# noqa: ASQ601`; scripts and migrations are not reported (application and example files
    only), and `role-paths` can mark a one-off tool as a script.

    ## Fix safety
    The fix is safe: it passes `pool_pre_ping=True`, which only adds a liveness check when
    a connection is checked out of the pool (and replaces a dead one). Sizing the pool and
    `pool_recycle` depend on the database and its proxies: they stay to be chosen by hand.

    ## References
    - [SQLAlchemy: Dealing with Disconnects](https://docs.sqlalchemy.org/en/20/core/pooling.html#dealing-with-disconnects)
    - [SQLAlchemy: Disconnect Handling - Pessimistic](https://docs.sqlalchemy.org/en/20/core/pooling.html#pool-disconnects-pessimistic)
    - [SQLAlchemy: create_engine parameters](https://docs.sqlalchemy.org/en/20/core/engines.html#sqlalchemy.create_engine)
    """

    code = "ASQ601"
    name = "engine-without-pool-hygiene"
    phase = ADVISORY
    roles = SERVING_ROLES
    fix = AutoFix(SAFE, "pass `pool_pre_ping=True`")
    message = "{factory}() for {dialect} keeps the default pool, which hands out dead connections after a restart or idle timeout: pass pool_pre_ping=True and set pool_recycle/pool_size for the database"
    invalid = (
        '''\
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app")  # error: ASQ601
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
''',
    )
    valid = (
        '''\
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine(
    "postgresql+asyncpg://app@db/app",
    pool_pre_ping=True,
    pool_recycle=1800,
    pool_size=10,
    max_overflow=5,
)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
''',
        '''\
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

# PgBouncer in transaction mode pools the connections.
engine = create_async_engine("postgresql+asyncpg://app@pgbouncer/app", poolclass=NullPool)
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for call, scope, factory in model.api_calls():
            engine_kind = names.URL_ENGINE_FACTORIES.get(factory)
            if engine_kind is None or any(kw.arg is None or kw.arg in POOL_SETTINGS for kw in call.keywords):
                continue
            if wrapped_in_async_engine(model, call):
                engine_kind = "async"
            elif engine_kind == "sync" and not _lives_with_the_process(model, scope):
                continue
            url = engine_url(call)
            if url is None or _for_tests(model, call, url):
                continue
            dialect = url_dialect(model, url, scope, engine_kind)
            if dialect in names.SERVER_DIALECTS:
                found = report(call, factory=factory, dialect=names.SERVER_DIALECTS[dialect])
                yield found.with_fix(lambda source, call=call: add_keyword(source, call, "pool_pre_ping=True"))


def _lives_with_the_process(model: SemanticModel, scope: Scope) -> bool:
    """Whether an engine made in `scope` serves the app for the life of its process: made at import time or
    at startup (a sync engine made in a function may serve one task, a connector's, and go with it)."""
    function = scope.function_scope
    return function is None or model.runs_at_startup(function)


def _for_tests(model: SemanticModel, call: ast.Call, url: ast.expr) -> bool:
    """Whether the engine or its URL is named for tests (`test_engine`, `settings.TEST_DATABASE_URL`): the app
    serves no request from its pool."""
    target = model.assignment_target(call)
    nodes = [*ast.walk(url), *([target] if target is not None else [])]
    names_ = [n.id if isinstance(n, ast.Name) else n.attr for n in nodes if isinstance(n, (ast.Name, ast.Attribute))]
    return any(map(_names_a_test, names_))


def _names_a_test(identifier: str) -> bool:
    return not TEST_WORDS.isdisjoint(word.lower() for word in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", identifier))
