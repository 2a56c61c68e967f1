"""The checklist as work units: findings grouped by the change that fixes them, one pull request each."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# The change that fixes each rule's findings, and whether one change serves the whole project or is done
# module by module. Codes not listed (project rules) get a change of their own, done module by module.
PROJECT_WIDE, BY_MODULE = "project", "module"
CHANGES: dict[str, tuple[str, str]] = {
    "ASQ103": ("lifespan", PROJECT_WIDE), "ASQ104": ("lifespan", PROJECT_WIDE),
    "ASQ101": ("engine", PROJECT_WIDE), "ASQ102": ("engine", PROJECT_WIDE), "ASQ105": ("engine", PROJECT_WIDE),
    "ASQ106": ("engine", PROJECT_WIDE), "ASQ107": ("engine", PROJECT_WIDE),
    "ASQ203": ("dependency", PROJECT_WIDE), "ASQ204": ("dependency", PROJECT_WIDE), "ASQ205": ("dependency", PROJECT_WIDE),
    "": ("dependency", PROJECT_WIDE),  # the plan's own items (a session kept on request.state)
    "ASQ201": ("task-sessions", BY_MODULE), "ASQ207": ("task-sessions", BY_MODULE),
    "ASQ208": ("read-paths", BY_MODULE), "ASQ209": ("read-paths", BY_MODULE), "ASQ210": ("read-paths", BY_MODULE),
    "ASQ401": ("read-paths", BY_MODULE),
    "ASQ301": ("writes", BY_MODULE), "ASQ302": ("writes", BY_MODULE), "ASQ303": ("writes", BY_MODULE),
    "ASQ304": ("writes", BY_MODULE), "ASQ307": ("writes", BY_MODULE),
    "ASQ202": ("globals", BY_MODULE), "ASQ206": ("globals", BY_MODULE),
}
TITLES = {
    "lifespan": "Introduce the app's `lifespan` with an `AsyncExitStack`: fold the startup/shutdown handlers into it, cleanup that runs on failure",
    "engine": "Create one async engine (async driver, `create_async_engine`) and `async_sessionmaker(expire_on_commit=False)` in the lifespan; dispose it there",
    "dependency": "Make the session dependency an `async def` that yields an `AsyncSession` from `async with factory() as session:`",
    "task-sessions": "One session per task in {scope}: background work and gathered tasks open their own session from the factory",
    "read-paths": "Move {scope} onto the `AsyncSession` dependency: `def` -> `async def`, `await` every query, `select()` for `query()`",
    "writes": "Put the writes of {scope} in one `async with session.begin():` owned by the request; helpers stop committing",
    "globals": "Remove the global sessions and scoped registries of {scope}; callers take the session as a parameter",
    "ci-gate": "Gate CI on `check --phase 5` with the baseline ratchet (pre-commit hook and CI step below)",
}
# Within a phase: the change a later one builds on comes first (the lifespan holds the engine, the
# dependency hands out what the routes read with).
ORDER = ("lifespan", "engine", "dependency", "task-sessions", "read-paths", "writes", "globals")
# How many units of one module-by-module change a phase may have before modules are grouped by folder, and
# up to how many changes one pull request takes them all (a small app's writes are one unit, not five).
MOST_UNITS_PER_CHANGE = 8
ONE_UNIT_UP_TO = 12


@dataclass(frozen=True)
class WorkUnit:
    id: str  # "2.3": phase, then position in the phase
    key: str  # stable across runs: phase, change and scope (what `plan --baseline` matches)
    phase: int | str
    title: str
    files: tuple[str, ...]
    closes: tuple[str, ...]  # "path:line CODE"
    inventory: tuple[str, ...]  # what the code holds that the change must touch, beyond the findings
    size: str
    branch: str
    depends_on: tuple[str, ...]


@dataclass(frozen=True)
class Closable:
    """What a unit is built from: a finding (`code` set) or an inventory item (a site the change must touch)."""

    path: str
    line: int
    code: str
    text: str


def work_units(phase: int | str, found: Iterable[Closable], extra: dict[str, list[Closable]], earlier: dict[str, str]) -> list[WorkUnit]:
    """The units of one phase. `extra`: inventory items by change (they make a unit even without a finding);
    `earlier`: the id of each change's unit already planned in an earlier phase, keyed by change and scope."""
    groups: dict[str, list[Closable]] = {change: list(items) for change, items in extra.items() if items}
    by_module: set[str] = set()
    for item in found:
        change, reach = CHANGES.get(item.code, (f"rule-{item.code}", BY_MODULE))
        groups.setdefault(change, []).append(item)
        if reach == BY_MODULE:
            by_module.add(change)
    units: list[WorkUnit] = []
    for change in sorted(groups, key=lambda c: (ORDER.index(c) if c in ORDER else len(ORDER), c)):
        items = groups[change]
        split = change in by_module and len(items) > ONE_UNIT_UP_TO
        scopes = _scopes({i.path for i in items}) if split else {i.path: "" for i in items}
        by_scope: dict[str, list[Closable]] = {}
        for item in items:
            by_scope.setdefault(scopes[item.path], []).append(item)
        for scope, members in sorted(by_scope.items()):
            number = f"{phase}.{len(units) + 1}"
            depends = [earlier[key] for key in _prerequisites(change, scope) if key in earlier]
            depends += [u.id for u in units if u.key.split(":")[1] in _same_phase_prerequisites(change)]
            units.append(_unit(number, phase, change, scope, members, tuple(dict.fromkeys(depends))))
    for unit in units:
        _, change, scope = unit.key.split(":", 2)
        earlier.setdefault(f"{change}:{scope}", unit.id)
        earlier.setdefault(change, unit.id)
    return units


def _unit(number: str, phase: int | str, change: str, scope: str, members: list[Closable], depends: tuple[str, ...]) -> WorkUnit:
    findings = sorted({(m.path, m.line, m.code) for m in members if m.code})
    files = tuple(sorted({m.path for m in members}))
    shown_scope = f"`{scope}`" if scope else "the project"
    if change in TITLES:
        title = TITLES[change].format(scope=shown_scope)
    else:  # a project rule: its own message says what to do
        title = f"{change.removeprefix('rule-')} in {shown_scope}: {members[0].text}"
    return WorkUnit(
        number,
        f"p{phase}:{change}:{scope}",
        phase,
        title,
        files,
        tuple(f"{path}:{line} {code}" for path, line, code in findings),
        tuple(sorted({f"{m.path}:{m.line} {m.text}" for m in members if not m.code})),
        _size(len(findings) + sum(1 for m in members if not m.code), len(files)),
        f"asq/p{phase}-{change.lower()}" + (f"-{_slug(scope)}" if scope else ""),
        depends,
    )


def _prerequisites(change: str, scope: str) -> list[str]:
    """Units of earlier phases this change builds on: the same modules' read paths before their writes."""
    if change == "dependency":
        return ["engine"]
    if change in ("read-paths", "task-sessions"):
        return ["dependency", "engine"]
    if change == "writes":
        return [f"read-paths:{scope}", "dependency"]
    if change == "globals":
        return [f"writes:{scope}", f"read-paths:{scope}", "dependency"]
    return []


def _same_phase_prerequisites(change: str) -> tuple[str, ...]:
    return {"engine": ("lifespan",), "read-paths": ("dependency",), "task-sessions": ("dependency",)}.get(change, ())


def _scopes(paths: set[str]) -> dict[str, str]:
    """Each path's scope: the file itself, or, when there are too many files for one change, a folder: the
    biggest folders are split into their subfolders for as long as the units stay few ("" is the whole project)."""
    if len(paths) <= MOST_UNITS_PER_CHANGE:
        return {p: p for p in paths}
    groups: dict[str, set[str]] = {"": set(paths)}
    while True:
        for folder in sorted(groups, key=lambda f: (-len(groups[f]), f)):
            children: dict[str, set[str]] = {}
            for path in groups[folder]:
                rest = path[len(folder):]
                child = folder + rest.partition("/")[0] + "/" if "/" in rest else path
                children.setdefault(child, set()).add(path)
            if len(children) > 1 and len(groups) - 1 + len(children) <= MOST_UNITS_PER_CHANGE:
                del groups[folder]
                groups.update(children)
                break
            if len(children) == 1 and next(iter(children)) != next(iter(groups[folder])):
                groups[next(iter(children))] = groups.pop(folder)  # one subfolder: descend into it
                break
        else:
            return {path: folder for folder, members in groups.items() for path in members}


def _size(changes: int, files: int) -> str:
    size = "S" if changes <= 5 and files <= 2 else "M" if changes <= 25 and files <= 8 else "L"
    return f"{size} ({changes} place{'s' if changes != 1 else ''} in {files} file{'s' if files != 1 else ''})"


def _slug(scope: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", scope.lower().removesuffix(".py")).strip("-") or "project"
