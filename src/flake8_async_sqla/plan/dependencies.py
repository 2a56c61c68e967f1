"""Declared dependencies (pyproject.toml, requirements files): drivers, SQLAlchemy and FastAPI versions."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from flake8_async_sqla.core.manifests import REQUIREMENT, normalise

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REQUIREMENTS_FILES = ("requirements.txt", "requirements.in", "requirements/base.txt", "requirements/prod.txt")


@dataclass(frozen=True)
class Declared:
    name: str  # normalised: lower case, "-" for "_" and "."
    extras: str
    spec: str
    source: str  # file:line

    def __str__(self) -> str:
        return f"{self.name}{self.extras}{self.spec}".strip()


def declared_dependencies(root: Path) -> dict[str, Declared]:
    found: dict[str, Declared] = {}
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            data = {}
        requirements = list(data.get("project", {}).get("dependencies", []))
        poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
        requirements += [f"{name}{_poetry_spec(spec)}" for name, spec in poetry.items() if name != "python"]
        text = pyproject.read_text(encoding="utf-8", errors="replace").splitlines()
        for requirement in requirements:
            line = next((n for n, t in enumerate(text, 1) if requirement.split("[")[0].split(" ")[0] in t), 1)
            _add(found, requirement, f"pyproject.toml:{line}")
    for name in REQUIREMENTS_FILES:
        path = root / name
        if path.is_file():
            for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                if line.strip() and not line.lstrip().startswith(("#", "-")):
                    _add(found, line, f"{name}:{number}")
    return found


def _poetry_spec(spec: object) -> str:
    if isinstance(spec, str):
        return "" if spec == "*" else (spec if spec[0] in "<>=!~" else f"=={spec}").replace("^", ">=")
    if isinstance(spec, dict):
        extras = spec.get("extras")
        return (f"[{','.join(extras)}]" if extras else "") + _poetry_spec(spec.get("version", "*"))
    return ""


def _add(found: dict[str, Declared], requirement: str, source: str) -> None:
    match = REQUIREMENT.match(requirement)
    if match:
        name = normalise(match.group(1))
        found.setdefault(name, Declared(name, match.group(2) or "", match.group(3).strip(), source))


def major_version(declared: Declared | None) -> int | None:
    """The major version a specifier pins or starts from (`>=2.0`, `==1.4.49`, `~=2.0`)."""
    if declared is None:
        return None
    match = re.search(r"(?:==|>=|~=|\^)\s*(\d+)", declared.spec)
    return int(match.group(1)) if match else None


def version_tuple(declared: Declared | None) -> tuple[int, ...] | None:
    if declared is None:
        return None
    match = re.search(r"(?:==|>=|~=)\s*(\d+(?:\.\d+)*)", declared.spec)
    return tuple(int(p) for p in match.group(1).split(".")) if match else None
