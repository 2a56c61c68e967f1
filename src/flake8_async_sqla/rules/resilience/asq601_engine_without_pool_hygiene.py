from __future__ import annotations

from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.edits import add_keyword
from flake8_async_sqla.core.model import SemanticModel, engine_url
from flake8_async_sqla.core.roles import SERVING_ROLES
from flake8_async_sqla.core.rule import ADVISORY, SAFE, AutoFix, Report, Rule, register, report

# Keywords that show the pool was configured on purpose (a `pool_pre_ping=False` too).
POOL_SETTINGS = {"pool_pre_ping", "pool_size", "max_overflow", "pool_timeout", "pool_recycle", "poolclass", "pool"}


@register
class EngineWithoutPoolHygiene(Rule):
    """
    ## What it does
    Finds `create_async_engine(...)` for a database server (PostgreSQL, MySQL/MariaDB,
    SQL Server, Oracle) that leaves the pool at its defaults: no `pool_pre_ping`, no
    `pool_recycle`, `pool_timeout`, `pool_size` or `max_overflow`, and no `poolclass`
    (such as `NullPool` behind PgBouncer). Only URLs whose dialect is written in the code
    are judged (a literal, an f-string that starts with the scheme, `URL.create(...)`, a
    module-level constant); a URL from settings or the environment may be SQLite in
    tests, so it is not reported, and neither is a call that passes `**options`.

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
    or one-off task that disposes it right away). Silence one with `# noqa: ASQ601`; scripts
    are not reported (application and example files only), and `role-paths` can mark a
    one-off tool as a script.

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
            if names.URL_ENGINE_FACTORIES.get(factory) != "async":
                continue
            if any(kw.arg is None or kw.arg in POOL_SETTINGS for kw in call.keywords):
                continue
            url = engine_url(call)
            scheme = model.url_scheme(url, scope) if url is not None else None
            dialect = scheme.partition("+")[0] if scheme else None
            if dialect in names.SERVER_DIALECTS:
                found = report(call, factory=factory, dialect=names.SERVER_DIALECTS[dialect])
                yield found.with_fix(lambda source, call=call: add_keyword(source, call, "pool_pre_ping=True"))
