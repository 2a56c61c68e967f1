"""Database URLs: what an expression says about its database, across modules, and the drivers a project declares."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from flake8_async_sqla.core.checker import build_model
from flake8_async_sqla.core.manifests import declared_dialects, manifest_files
from flake8_async_sqla.core.module_facts import ModuleFacts
from flake8_async_sqla.core.project import ProjectIndex
from flake8_async_sqla.core.urls import database_url, url_scheme

PREAMBLE = """\
import os
from sqlalchemy import URL, make_url
from pydantic_core import MultiHostUrl
"""


def value_of(source: str, tmp_path: Path, index: ProjectIndex | None = None) -> tuple[str, str, bool] | None:
    """What the last line's expression says, as (kind, text, written)."""
    path = tmp_path / "probe.py"
    path.write_text(PREAMBLE + textwrap.dedent(source))
    model = build_model(ast.parse(path.read_text()), str(path), index)
    expression = model.tree.body[-1]
    assert isinstance(expression, ast.Expr)
    found = database_url(model, expression.value, model.module_scope)
    return (found.kind, found.text, found.written) if found is not None else None


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('"postgresql+asyncpg://app@db/app"', ("scheme", "postgresql+asyncpg", True)),
        ('f"mysql+aiomysql://{os.getenv(\'USER\')}@db/app"', ("scheme", "mysql+aiomysql", True)),
        ('"postgresql+psycopg2://{}@db/app".format("app")', ("scheme", "postgresql+psycopg2", True)),
        ('"sqlite:///" + "app.db"', ("scheme", "sqlite", True)),
        ('"{}://app@db/app".format("mysql")', None),  # the scheme is not written
        ('URL.create("mssql+aioodbc", host="db")', ("scheme", "mssql+aioodbc", True)),
        ('make_url("oracle+oracledb://db")', ("scheme", "oracle+oracledb", True)),
        ('MultiHostUrl.build(scheme="postgresql+asyncpg", host="db")', ("scheme", "postgresql+asyncpg", True)),
        ('make_url(os.environ["URL"]).set(drivername="postgresql+asyncpg")', ("scheme", "postgresql+asyncpg", True)),
        ('os.getenv("URL", "postgres://app@db/app")', ("scheme", "postgres", False)),
        ('os.environ.get("URL", default="sqlite+aiosqlite://")', ("scheme", "sqlite+aiosqlite", False)),
        ('os.getenv("URL") or "postgresql://db/app"', ("scheme", "postgresql", False)),
        ('os.environ["URL"]', ("configured", "", True)),
        ('os.getenv("URL")', ("configured", "", True)),
        ('os.getenv("URL", "")', ("configured", "", True)),
        ('"postgresql+asyncpg://a" if os.getenv("A") else "postgresql+psycopg://b"', ("dialect", "postgresql", True)),
        ('"postgresql+asyncpg://a" if os.getenv("A") else "sqlite+aiosqlite://"', None),
        ('URL_ = "mysql+asyncmy://db"\nALIAS = URL_\nALIAS', ("scheme", "mysql+asyncmy", True)),
        ('URL_ = "mysql+asyncmy://db"\nURL_ = "sqlite://"\nURL_', None),  # bound twice
        ("def url():\n    return 'postgresql+asyncpg://db'\nurl()", ("scheme", "postgresql+asyncpg", True)),
    ],
)
def test_what_an_expression_says(source: str, expected: tuple[str, str, bool] | None, tmp_path: Path) -> None:
    assert value_of(source, tmp_path) == expected


def test_a_settings_class_in_the_same_module(tmp_path: Path) -> None:
    settings = """\
        from pydantic import PostgresDsn
        from pydantic_settings import BaseSettings

        class Settings(BaseSettings):
            database_url: str = "postgresql+asyncpg://db/app"
            dsn: PostgresDsn | None = None
            required: str

            @property
            def sync_url(self) -> str:
                return self.database_url.replace("+asyncpg", "")

        settings = Settings()
        """
    assert value_of(settings + "settings.database_url", tmp_path) == ("scheme", "postgresql+asyncpg", False)
    assert value_of(settings + "Settings().dsn", tmp_path) == ("dialect", "postgresql", True)
    assert value_of(settings + "settings.required", tmp_path) == ("configured", "", True)
    assert value_of(settings + "settings.sync_url", tmp_path) is None  # `.replace` may change the scheme
    assert value_of(settings + "settings.required.host", tmp_path) is None


def test_a_function_local_url_is_followed_when_bound_once(tmp_path: Path) -> None:
    path = tmp_path / "probe.py"
    path.write_text(
        "import os\n\ndef make(kind):\n    url = os.getenv('URL', 'mysql+aiomysql://db')\n    use(url)\n"
        "    other = 'postgresql://db'\n    other = 'sqlite://'\n    use(other)\n    use(kind)\n"
    )
    model = build_model(ast.parse(path.read_text()), str(path))
    function = next(s for s in model.scopes if s.name == "make")
    uses = [call.args[0] for call in function.calls if getattr(call.func, "id", "") == "use"]
    found = [database_url(model, use, function) for use in uses]
    assert [value.text if value else None for value in found] == ["mysql+aiomysql", None, None]
    assert [url_scheme(model, use, function) for use in uses] == [None] * 3


def test_module_facts_carry_the_urls_through_json(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    config = tmp_path / "config.py"
    config.write_text(
        "import os\nfrom pydantic_settings import BaseSettings\n\nURL = os.getenv('URL', 'postgresql://db')\n\n"
        "class Settings(BaseSettings):\n    url: str = 'mysql://db'\n\nsettings = Settings()\n"
    )
    facts = ProjectIndex().facts(str(config))
    assert facts is not None
    assert set(facts.urls.values) == {"URL", "Settings.url", "settings"}
    assert facts.urls.classes == {"Settings": ("pydantic_settings.BaseSettings",)}
    assert ModuleFacts.from_json(facts.to_json()) == facts


def test_a_lookup_in_another_module_is_recorded_for_the_cache(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["asyncpg"]\n')
    (tmp_path / "config.py").write_text("import os\n\nURL = os.environ['URL']\n")
    index = ProjectIndex()
    assert value_of("from config import URL\nURL", tmp_path, index) == ("configured", "", True)
    assert str(tmp_path / "config.py") in index.consulted_widely  # its text, not its interface
    assert index.declared_dialects(str(tmp_path / "probe.py")) == {"postgresql"}
    assert str(tmp_path / "pyproject.toml") in index.consulted_widely
    assert index.answers[("declared_dialects", str(tmp_path / "probe.py"), "")] == ["postgresql"]


MANIFESTS = {
    "pyproject.toml": """\
        [project]
        dependencies = ["SQLAlchemy[postgresql_asyncpg] >= 2.0", "fastapi"]
        [project.optional-dependencies]
        mysql = ["aiomysql"]
        [dependency-groups]
        dev = ["pytest", {include-group = "lint"}]
        [tool.poetry.dependencies]
        python = "^3.11"
        databases = {version = "*", extras = ["sqlite"]}
        [tool.poetry.group.test.dependencies]
        oracledb = "*"
        [tool.pdm.dev-dependencies]
        test = ["pymssql"]
        [tool.hatch.envs.default]
        dependencies = ["mariadb"]
        """,
    "setup.cfg": "[options]\ninstall_requires =\n    psycopg[binary]\n[options.extras_require]\nlite = pysqlite3\n",
    "Pipfile": '[packages]\nasyncmy = "*"\n[dev-packages]\naiosqlite = "*"\n',
    "requirements-dev.txt": "# via asyncpg: a comment\n-r requirements.txt\npsycopg2-binary==2.9 ; python_version > '3.8'\n",
    "requirements/base.txt": "pg8000\n",
}
# Where each manifest's declared drivers lead (the `databases[sqlite]` extra names a database).
DIALECTS = {
    "pyproject.toml": {"postgresql", "mysql", "sqlite", "oracle", "mssql", "mariadb"},
    "setup.cfg": {"postgresql", "sqlite"},
    "Pipfile": {"mysql", "sqlite"},
    "requirements-dev.txt": {"postgresql"},
    "requirements/base.txt": {"postgresql"},
}


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_declared_drivers_in_every_manifest(name: str, tmp_path: Path) -> None:
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_text(textwrap.dedent(MANIFESTS[name]))
    assert declared_dialects([str(tmp_path / name)]) == DIALECTS[name]


def test_manifests_are_read_from_the_file_up_to_the_project_root(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["asyncpg"]\n')
    service = tmp_path / "services" / "billing"
    (service / "app").mkdir(parents=True)
    (service / "requirements.txt").write_text("aiosqlite\n")
    (tmp_path / "services" / "requirements.txt").write_text("aiomysql\n")  # a folder on the way up
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "requirements.txt").write_text("pymssql\n")  # beside the path: not read
    found = manifest_files(str(service / "app" / "db.py"))
    expected = [service / "requirements.txt", tmp_path / "services" / "requirements.txt", tmp_path / "pyproject.toml"]
    assert found == [str(path) for path in expected]
    assert declared_dialects(found) == {"postgresql", "sqlite", "mysql"}
