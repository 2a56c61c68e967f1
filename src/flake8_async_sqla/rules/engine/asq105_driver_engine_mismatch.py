from __future__ import annotations

from collections.abc import Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.engines import wrapped_in_async_engine
from flake8_async_sqla.core.model import SemanticModel
from flake8_async_sqla.core.syntax import engine_url
from flake8_async_sqla.core.rule import Report, Rule, register, report
from flake8_async_sqla.core.urls import url_scheme


@register
class DriverEngineMismatch(Rule):
    """
    ## What it does
    Finds a database URL whose driver does not fit the engine it is given to: a sync
    driver (`postgresql+psycopg2://`, `postgresql+pg8000://`, `mysql://`,
    `mysql+pymysql://`, `sqlite:///app.db`, `mssql+pyodbc://`, `oracle+cx_oracle://`, ...)
    passed to `create_async_engine`, or an async one (`+asyncpg`, `+psycopg_async`,
    `+aiosqlite`, `+aiomysql`, `+asyncmy`, `+aioodbc`) passed to `create_engine`. The
    scheme must be written in the code: a string literal, an f-string, concatenation or
    `.format()` that starts with it, `make_url(...)` or `URL.create("dialect+driver", ...)`,
    a module-level constant (of this or another project module) bound once to one of these,
    or a function or settings property that builds one. `postgresql+psycopg://` and
    `oracle+oracledb://` work with both engines and are never reported, and neither are a
    bare `postgresql://` or `oracle://`, whose default driver is sync in SQLAlchemy 2.0 and
    async-capable in 2.1. URLs from the environment or a settings field are not judged,
    defaults included: the deployment may give another driver.

    ## Why is this bad?
    `create_async_engine` refuses a sync driver when the app starts ("The asyncio extension
    requires an async driver to be used"), and a sync engine on an async driver fails on
    its first connection. Often the mismatch only shows in one environment, the one whose
    URL was written by hand.

    ## Use instead
    Name a driver of the engine's kind: `postgresql+asyncpg://` (or `postgresql+psycopg://`),
    `sqlite+aiosqlite://`, `mysql+aiomysql://` for `create_async_engine`; a sync driver
    such as `postgresql+psycopg://` for `create_engine` (Alembic, scripts).

    ## Known false alarms
    Few: the scheme as written decides, so only code that changes the URL where the rule
    does not look (a module-level URL constant that another module rebinds before the engine
    is built) or a wrong URL written on purpose (a docs example of the error: example files
    are reported) gives one. Silence it with `# noqa: ASQ105` on the URL's line (the finding
    points at the URL argument), or a file with `per-file-ignores`; test files are not
    reported by default.

    ## Fix safety
    No automatic fix: the other driver has to be installed first.

    ## References
    - [SQLAlchemy: Asyncio, Synopsis - Core](https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html#synopsis-core)
    - [SQLAlchemy: Database URLs](https://docs.sqlalchemy.org/en/20/core/engines.html#database-urls)
    - [SQLAlchemy: PostgreSQL dialects (psycopg, asyncpg)](https://docs.sqlalchemy.org/en/20/dialects/postgresql.html)
    """

    code = "ASQ105"
    name = "driver-engine-mismatch"
    phase = 1
    message = "{factory}() cannot use the {kind} driver of `{scheme}://`: switch to `{suggestion}://` (or another {needed} driver)"
    invalid = (
        '''\
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+psycopg2://app@db/app", pool_pre_ping=True)  # error: ASQ105
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
''',
        '''\
from sqlalchemy import create_engine

DATABASE_URL = "sqlite+aiosqlite:///./app.db"

# Alembic's env.py: migrations run on a sync engine.
migration_engine = create_engine(DATABASE_URL)  # error: ASQ105
''',
    )
    valid = (
        '''\
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_pre_ping=True)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
''',
        '''\
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine

# psycopg 3 serves both engines.
engine = create_async_engine("postgresql+psycopg://app@db/app", pool_pre_ping=True)
migration_engine = create_engine("postgresql+psycopg://app@db/app", pool_pre_ping=True)
''',
    )

    def check(self, model: SemanticModel) -> Iterator[Report]:
        for call, scope, factory in model.api_calls():
            engine_kind = names.URL_ENGINE_FACTORIES.get(factory)
            url = engine_url(call) if engine_kind else None
            scheme = url_scheme(model, url, scope) if url is not None else None
            driver_kind = names.URL_SCHEME_KINDS.get(scheme or "")
            if driver_kind is None or driver_kind == engine_kind or wrapped_in_async_engine(model, call):
                continue
            dialect = scheme.partition("+")[0]
            yield report(
                url,
                factory=factory,
                kind=driver_kind,
                scheme=scheme,
                needed=engine_kind,
                suggestion=names.DIALECT_DRIVERS[dialect][engine_kind],
            )
