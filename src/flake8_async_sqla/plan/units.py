"""The checklist as work units: findings grouped by the change that fixes them, one pull request each."""

from __future__ import annotations

import os
import re
from collections import Counter
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
# What one pull request can be reviewed at: a bigger group is split by subfolder, then into runs of files
# (a single file over the bound stays one unit: its changes go together).
MOST_FILES_PER_UNIT = 15
MOST_PLACES_PER_UNIT = 60


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


def work_units(phase: int | str, found: Iterable[Closable], extra: dict[str, list[Closable]], earlier: list[WorkUnit]) -> list[WorkUnit]:
    """The units of one phase. `extra`: inventory items by change (they make a unit even without a finding);
    `earlier`: the units planned in earlier phases (this phase's are appended)."""
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
        places = Counter(item.path for item in items)
        split = change in by_module and len(items) > ONE_UNIT_UP_TO
        scopes = _scopes(set(places)) if split else {path: "" for path in places}
        scopes = _within_bounds(scopes, places)
        by_scope: dict[str, list[Closable]] = {}
        for item in items:
            by_scope.setdefault(scopes[item.path], []).append(item)
        for scope, members in sorted(by_scope.items()):
            depends = _prerequisites(change, scope, {m.path for m in members}, earlier) + [
                u.id for u in units if _change(u) in _same_phase_prerequisites(change)
            ]
            units.append(_unit(f"{phase}.{len(units) + 1}", phase, change, scope, members, tuple(dict.fromkeys(depends))))
    earlier += units
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


def _prerequisites(change: str, scope: str, files: set[str], earlier: list[WorkUnit]) -> list[str]:
    """Units of earlier phases this change builds on: the engine before the dependency, the dependency before
    the routes, and the read paths (then the writes) of the same scope or files before their writes (then globals)."""
    first = {}
    for unit in earlier:
        first.setdefault(_change(unit), unit.id)
    same_files = lambda wanted: [  # noqa: E731
        u.id for change_ in wanted for u in earlier
        if _change(u) == change_ and (u.key.split(":", 2)[2] == scope or files & set(u.files))
    ]
    if change == "dependency":
        return [first[c] for c in ("engine",) if c in first]
    if change in ("read-paths", "task-sessions"):
        return [first[c] for c in ("dependency", "engine") if c in first]
    if change == "writes":
        return same_files(("read-paths",)) + [first[c] for c in ("dependency",) if c in first]
    if change == "globals":
        return same_files(("writes", "read-paths")) + [first[c] for c in ("dependency",) if c in first]
    return []


def _change(unit: WorkUnit) -> str:
    return unit.key.split(":")[1]


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


def _within_bounds(scopes: dict[str, str], places: Counter[str]) -> dict[str, str]:
    """`scopes` with each group over the unit bounds split: by subfolder, then into runs of files."""
    members: dict[str, set[str]] = {}
    for path, scope in scopes.items():
        members.setdefault(scope, set()).add(path)
    result = dict(scopes)
    for scope, paths in members.items():
        if not _fits(paths, places):
            folder = scope if scope.endswith("/") or not scope else os.path.commonpath(sorted(paths)).rpartition("/")[0]
            result.update(_split(_as_folder(folder), paths, places))
    return result


def _split(folder: str, paths: set[str], places: Counter[str]) -> dict[str, str]:
    """Paths under `folder` (too many for one unit) packed, in order, into even runs of its subfolders and files
    that fit; a subfolder too big by itself is split the same way."""
    children: dict[str, set[str]] = {}
    for path in paths:
        rest = path[len(folder):]
        children.setdefault(folder + rest.partition("/")[0] + "/" if "/" in rest else path, set()).add(path)
    if len(children) == 1 and next(iter(children)).endswith("/"):
        return _split(next(iter(children)), paths, places)  # one subfolder: descend into it
    result: dict[str, str] = {}
    stretch: list[str] = []  # children that fit, between two that do not
    for child in [*sorted(children), None]:
        if child is not None and _fits(children[child], places):
            stretch.append(child)
            continue
        for run in _even_runs([children[c] for c in stretch], places):
            members = stretch[run[0]:run[-1] + 1]
            scope = members[0] if len(members) == 1 else f"{members[0]}…{members[-1][len(folder):]}"
            result.update({path: scope for c in members for path in children[c]})
        stretch.clear()
        if child is not None and child.endswith("/"):
            result.update(_split(child, children[child], places))
        elif child is not None:
            result[child] = child  # one file over the bounds: its changes go together
    return result


def _even_runs(groups: list[set[str]], places: Counter[str]) -> list[list[int]]:
    """Consecutive groups packed into as few runs as fit the bounds, as even as that allows (not 7 files and 1)."""
    fewest = len(_runs(groups, places, 1.0))
    return next(runs for share in (step / 20 for step in range(1, 21)) if len(runs := _runs(groups, places, share)) <= fewest)


def _runs(groups: list[set[str]], places: Counter[str], share: float) -> list[list[int]]:
    """Greedy packing of consecutive groups under `share` of the bounds (a group alone always makes a run)."""
    runs: list[list[int]] = []
    files = count = 0
    for index, group in enumerate(groups):
        size = sum(places[p] for p in group)
        if not runs or files + len(group) > MOST_FILES_PER_UNIT * share or count + size > MOST_PLACES_PER_UNIT * share:
            runs.append([])
            files = count = 0
        runs[-1].append(index)
        files += len(group)
        count += size
    return runs


def _fits(paths: set[str], places: Counter[str]) -> bool:
    return len(paths) <= MOST_FILES_PER_UNIT and sum(places[p] for p in paths) <= MOST_PLACES_PER_UNIT


def _as_folder(path: str) -> str:
    return path.rstrip("/") + "/" if path else ""


def _size(changes: int, files: int) -> str:
    size = "S" if changes <= 5 and files <= 2 else "M" if changes <= 25 and files <= 8 else "L"
    return f"{size} ({changes} place{'s' if changes != 1 else ''} in {files} file{'s' if files != 1 else ''})"


def _slug(scope: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", re.sub(r"\.py\b", "", scope.lower())).strip("-") or "project"
