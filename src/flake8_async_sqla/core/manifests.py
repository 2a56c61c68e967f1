"""The packages a project declares, every group of them (development and optional ones too), from its
manifests: pyproject.toml (PEP 621, dependency groups, Poetry, PDM, uv, Hatch), setup.cfg, Pipfile and
requirements files, in the folders from a file's own up to its project root."""

from __future__ import annotations

import configparser
import glob
import os
import re
import sys
from collections.abc import Iterable, Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.layout import search_folders

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# A requirement's name, its extras and the rest (`SQLAlchemy[asyncio] >= 2.0 ; python_version > "3.8"`).
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;#]*)")
MANIFESTS = ("pyproject.toml", "setup.cfg", "Pipfile")
REQUIREMENTS_PATTERNS = ("requirements*.txt", "requirements*.in", os.path.join("requirements", "*.txt"))


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def manifest_files(path: str) -> list[str]:
    """The manifests in the folders from `path`'s own up to its project root."""
    found = []
    for folder in search_folders(path):
        found += [os.path.join(folder, name) for name in MANIFESTS if os.path.isfile(os.path.join(folder, name))]
        for pattern in REQUIREMENTS_PATTERNS:
            found += sorted(glob.glob(os.path.join(glob.escape(folder), pattern)))
    return found


def declared_dialects(manifests: Iterable[str]) -> frozenset[str]:
    """The databases whose drivers the manifests declare (`asyncpg`, `sqlalchemy[aiosqlite]`, ...)."""
    dialects = set()
    for requirement in (r for manifest in manifests for r in _requirements(manifest)):
        match = REQUIREMENT.match(requirement)
        if match is None:
            continue
        name = normalise(match.group(1))
        if name in names.DRIVER_DIALECTS:
            dialects.add(names.DRIVER_DIALECTS[name])
        if name in names.DRIVER_EXTRAS_PACKAGES and match.group(2):
            dialects.update(filter(None, map(_extra_dialect, match.group(2)[1:-1].split(","))))
    return frozenset(dialects)


def _extra_dialect(extra: str) -> str | None:
    """The database an extra of SQLAlchemy names: a driver (`aiosqlite`) or `<dialect>[-<driver>]`."""
    extra = normalise(extra.strip())
    dialect = names.DRIVER_DIALECTS.get(extra) or names.DIALECT_ALIASES.get(extra.partition("-")[0], extra.partition("-")[0])
    return dialect if dialect in names.DIALECT_DRIVERS else None


def _requirements(path: str) -> Iterator[str]:
    """The requirement strings of one manifest (nothing when it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return
    name = os.path.basename(path)
    text = data.decode("utf-8", errors="replace")
    if name == "setup.cfg":
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text)
        except configparser.Error:
            return
        if parser.has_option("options", "install_requires"):
            yield from parser.get("options", "install_requires").splitlines()
        if parser.has_section("options.extras_require"):
            for _, value in parser.items("options.extras_require"):
                yield from value.splitlines()
        return
    if name in ("pyproject.toml", "Pipfile"):
        try:
            table = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return
        if name == "pyproject.toml":
            yield from _pyproject_requirements(table)
        else:
            yield from _package_tables(table, "packages", "dev-packages")
        return
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith(("#", "-")):
            yield line


def _pyproject_requirements(table: dict) -> Iterator[str]:
    project, tool = table.get("project", {}), table.get("tool", {})
    yield from _strings(project.get("dependencies"))
    yield from _grouped(project.get("optional-dependencies"))
    yield from _grouped(table.get("dependency-groups"))
    poetry = tool.get("poetry", {})
    yield from _package_tables(poetry, "dependencies", "dev-dependencies")
    for group in _tables(poetry.get("group")):
        yield from _package_tables(group, "dependencies")
    yield from _grouped(tool.get("pdm", {}).get("dev-dependencies"))
    yield from _strings(tool.get("uv", {}).get("dev-dependencies"))
    for environment in _tables(tool.get("hatch", {}).get("envs")):
        yield from _strings(environment.get("dependencies"))
        yield from _strings(environment.get("extra-dependencies"))


def _package_tables(table: dict, *keys: str) -> Iterator[str]:
    """Poetry's and Pipfile's `name = spec` tables: the name, with the extras a spec table lists."""
    for key in keys:
        packages = table.get(key)
        for name, spec in packages.items() if isinstance(packages, dict) else ():
            extras = spec.get("extras") if isinstance(spec, dict) else None
            yield f"{name}[{','.join(map(str, extras))}]" if isinstance(extras, list) else str(name)


def _grouped(groups: object) -> Iterator[str]:
    for group in groups.values() if isinstance(groups, dict) else ():
        yield from _strings(group)


def _tables(tables: object) -> Iterator[dict]:
    return (t for t in tables.values() if isinstance(t, dict)) if isinstance(tables, dict) else iter(())


def _strings(items: object) -> Iterator[str]:
    return (item for item in items if isinstance(item, str)) if isinstance(items, list) else iter(())
