"""Turns findings and file surveys into the modernization plan (a plain data structure)."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from flake8_async_sqla import __version__
from flake8_async_sqla.config import Settings, relative_path
from flake8_async_sqla.core.checker import build_model, check_model, codes_for_role, is_relevant
from flake8_async_sqla.core.parsing import ParseFailure, parse
from flake8_async_sqla.core.project import ProjectIndex
from flake8_async_sqla.core.project_rules import find_all
from flake8_async_sqla.core.roles import APPLICATION
from flake8_async_sqla.core import rule as rule_registry
from flake8_async_sqla.core.rule import ADVISORY, PHASE_TITLES, Finding, all_rules
from flake8_async_sqla.noqa import NoqaMap
from flake8_async_sqla.plan import dependencies, diagrams, progress
from flake8_async_sqla.plan.gates import RATCHET, GateEdit, gate_edits, gates_in_place
from flake8_async_sqla.plan.skeleton import ASYNC_DRIVER_NAMES, architecture
from flake8_async_sqla.plan.support import AppNames, SupportFile, support_needs
from flake8_async_sqla.plan.survey import EngineSite, FileSurvey, SessionOrigin, Site, Touchpoint, survey
from flake8_async_sqla.plan.units import Closable, WorkUnit, work_units
from flake8_async_sqla.runner import read_source

SYNC_ENGINE_FACTORIES = ("create_engine", "engine_from_config")
WRITE_OPERATIONS = {"commit", "flush", "merge", "delete", "add", "add_all"}
MOST_EVIDENCE = 10  # evidence listed for a decision found in many places; the rest are counted


@dataclass(frozen=True)
class PlanFinding:
    path: str
    line: int
    code: str
    name: str
    phase: str
    message: str
    relationship: str = ""


@dataclass(frozen=True)
class Decision:
    topic: str
    detected: str
    evidence: tuple[str, ...]
    consequence: str


@dataclass(frozen=True)
class PhasePlan:
    number: int
    title: str
    notes: tuple[str, ...]
    items: tuple[PlanFinding, ...]  # every finding of the phase (the appendix)
    completion_check: str
    units: tuple[WorkUnit, ...] = ()  # the checklist: one pull request each


@dataclass(frozen=True)
class Risk:
    risk: str
    likelihood: str
    impact: str
    mitigation: str
    rollback: str


@dataclass(frozen=True)
class Verification:
    phase: str
    check: str
    covers: str


@dataclass(frozen=True)
class BacklogItem:
    id: str
    location: str
    code: str
    relationship: str
    suggested_loader: str
    message: str


@dataclass
class Plan:
    project: str
    tool_version: str
    files: int
    engines: list[EngineSite] = field(default_factory=list)
    factories: list = field(default_factory=list)
    touchpoints: list[Touchpoint] = field(default_factory=list)
    lifespans: list[Site] = field(default_factory=list)
    startup_events: list[Site] = field(default_factory=list)
    findings_by_rule: dict[str, int] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)
    declared: list[str] = field(default_factory=list)
    architecture: str = ""
    skeleton: str = ""
    current_picture: str = ""  # Mermaid flowcharts
    target_picture: str = ""
    phases: list[PhasePlan] = field(default_factory=list)
    risks: list[Risk] = field(default_factory=list)
    verification: list[Verification] = field(default_factory=list)
    backlog: list[BacklogItem] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    # Tests, migrations, scripts and examples: apart from the production work, with what each needs.
    support: list[SupportFile] = field(default_factory=list)
    # Phase 5: where the project runs its checks, and the lines that make `check --phase 5` the gate there.
    gates: list[GateEdit] = field(default_factory=list)
    gates_in_place: list[str] = field(default_factory=list)  # CI files that already run `check --phase 5`
    ratchet: str = RATCHET
    progress: list[progress.PhaseProgress] = field(default_factory=list)  # with `plan --baseline`

    @property
    def nothing_to_migrate(self) -> bool:
        return not any(phase.items for phase in self.phases) and not self.backlog and not self.errors


def collect(
    settings: Settings, files: list[Path], others: list[tuple[str, str, Path]] | None = None
) -> tuple[list[FileSurvey], list[PlanFinding], list[tuple[str, str]]]:
    """Survey and check every production file once: one parse, one model, both uses. Test, migration, script and
    example files go to `others` as (shown path, role, path): the plan lists them apart."""
    surveys, findings, errors = [], [], []
    roles = settings.role_policy()
    index = ProjectIndex(settings.analysis_options(), roles)
    codes = settings.selected_codes()
    rules = all_rules()
    project_rules = [rule for code, rule in rule_registry.PROJECT_RULES.items() if code in codes]
    for path in sorted(files, key=lambda p: relative_path(p, settings.root)):
        shown = relative_path(path, settings.root)
        try:
            data, text = read_source(path)
            tree = parse(data, str(path), settings.python_version())
        except OSError as error:
            errors.append((shown, f"cannot read: {error.strerror or error}"))
            continue
        except ParseFailure as failure:
            errors.append((shown, str(failure)))
            continue
        role = roles.role_of(str(path), text)
        # Only production code is planned: tests, migrations, scripts and examples are listed apart.
        if role != APPLICATION:
            if others is not None:
                others.append((shown, role, path))
            continue
        noqa = NoqaMap(text)
        ignored = tuple(settings.ignored_for_file(path))
        role_codes = codes_for_role(role, roles, codes)
        # Project rules match text: every production file is theirs, related to the database or not.
        found = find_all([r for r in project_rules if r.code in role_codes], tree, text, False) if project_rules else []
        if is_relevant(text, settings.analysis_options()):
            model = build_model(tree, str(path), index)
            surveys.append(survey(model, shown))
            found += check_model(model, role_codes)
            index.release(str(path))  # the survey holds what the plan needs of it
        for finding in sorted(found):
            if noqa.suppresses(finding.line, finding.code) or (ignored and finding.code.startswith(ignored)):
                continue
            rule = rules.get(finding.code)
            findings.append(_plan_finding(shown, finding, rule))
    return surveys, findings, errors


def _plan_finding(path: str, finding: Finding, rule) -> PlanFinding:
    fields = dict(finding.fields)
    return PlanFinding(
        path, finding.line, finding.code, rule.name if rule else "internal-error",
        str(rule.phase) if rule else "1", finding.message.partition(" ")[2], fields.get("relationship", ""),
    )


def build_plan(settings: Settings, files: list[Path], baseline: dict | None = None) -> Plan:
    """The plan; with `baseline` (an earlier JSON plan), what was done per phase since then."""
    others: list[tuple[str, str, Path]] = []
    surveys, findings, errors = collect(settings, files, others)
    findings.sort(key=lambda f: (f.path, f.line, f.code))
    home = app_root(files, settings.root)
    declared = dependencies.declared_dependencies(home)
    plan = Plan(home.name, __version__, len(files), errors=errors)
    for item in surveys:
        plan.engines += item.engines
        plan.factories += item.factories
        plan.lifespans += item.lifespans
        plan.startup_events += item.startup_events
    plan.touchpoints = _with_engines(surveys, plan.engines, plan.factories)
    plan.findings_by_rule = dict(sorted(Counter(f.code for f in findings).items()))
    plan.declared = [str(d) for d in declared.values()]
    plan.decisions = decisions(surveys, findings, declared, plan)
    plan.architecture, plan.skeleton = architecture(surveys, plan)
    plan.current_picture, plan.target_picture = diagrams.pictures(surveys, findings, plan)
    plan.gates_in_place = gates_in_place(home, _repository_root(home))
    plan.gates = [] if plan.gates_in_place else gate_edits(home, _repository_root(home))
    plan.phases = phases(findings, plan.decisions, [site for item in surveys for site in item.request_state_sessions], surveys, plan)
    plan.risks = risks(findings, plan.decisions, plan)
    plan.verification = verification(surveys, findings, plan)
    plan.backlog = backlog(findings)
    plan.support = _support_files(others, plan, surveys)
    if baseline is not None:
        from flake8_async_sqla.plan.render import as_document

        plan.progress = progress.compare(baseline, as_document(plan))
    return plan


def app_root(files: list[Path], root: Path) -> Path:
    """The folder of the app being planned: the nearest one above its files holding a pyproject.toml or a
    requirements file, not the workspace root `root` of a monorepo (else `root`)."""
    if not files:
        return root
    common = Path(os.path.commonpath([str(f.resolve()) for f in files]))
    folder = common if common.is_dir() else common.parent
    for candidate in (folder, *folder.parents):
        if (candidate / "pyproject.toml").is_file() or any((candidate / name).is_file() for name in dependencies.REQUIREMENTS_FILES):
            return candidate
        if candidate == root.resolve():
            break
    return root


def _repository_root(folder: Path) -> Path:
    """The repository the app lives in (where .git is), else the app's folder."""
    return next((c for c in (folder, *folder.parents) if (c / ".git").exists()), folder)


def _support_files(others: list[tuple[str, str, Path]], plan: Plan, surveys: list[FileSurvey]) -> list[SupportFile]:
    app = AppNames(
        tuple(sorted({e.name for e in plan.engines if e.name.isidentifier()})),
        tuple(sorted({f.name for f in plan.factories if f.name.isidentifier()})),
        tuple(sorted({name for item in surveys for _, name in item.session_dependencies})),
    )
    found = []
    for shown, role, path in others:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        needs = support_needs(shown, role, text, app)
        if needs is not None:
            found.append(needs)
    return found


def _with_engines(surveys: list[FileSurvey], engines: list[EngineSite], factories: list) -> list[Touchpoint]:
    """Name each touchpoint's engine by following its session to the engine it was opened on; where
    that chain is unknown (a caller's session), the only engine, or the one the only factory binds."""
    if len({e.name for e in engines}) == 1:
        fallback = _engine_label(engines[0]) if len(engines) == 1 else engines[0].name
    elif len(factories) == 1 and factories[0].engine:
        fallback = factories[0].engine
    else:
        fallback = "unresolved (several engines)" if engines else "not created in this project"
    resolve = _origin_resolver(surveys)
    return [
        Touchpoint(t.site, t.function, t.operation, resolve(origin) or fallback, t.session_source, t.transaction_source)
        for item in surveys
        for t, origin in zip(item.touchpoints, item.touchpoint_origins)
    ]


def _origin_resolver(surveys: list[FileSurvey]):
    """Follows a session origin across files: provider function → the session it hands out → factory → engine.
    A key with two different answers (a name rebound, a factory configured twice) resolves to nothing."""
    engine_sites: dict[str, set[EngineSite]] = {}
    factory_engines: dict[str, set[str]] = {}
    providers: dict[str, SessionOrigin | None] = {}
    for item in surveys:
        for key, site in item.engine_keys:
            engine_sites.setdefault(key, set()).add(site)
        for factory, engine in item.factory_engines:
            factory_engines.setdefault(factory, set()).add(engine)
        providers.update(item.session_providers)

    def resolve(origin: SessionOrigin | None) -> str | None:
        seen = set()
        while origin is not None and origin not in seen:
            seen.add(origin)
            if origin.kind == "engine":
                sites = engine_sites.get(origin.key, set())
                return _engine_label(next(iter(sites))) if len(sites) == 1 else None
            if origin.kind == "factory":
                bound = factory_engines.get(origin.key, set())
                origin = SessionOrigin("engine", next(iter(bound))) if len(bound) == 1 else None
            else:
                origin = providers.get(origin.key)
        return None

    return resolve


def _engine_label(engine: EngineSite) -> str:
    return f"{engine.name} ({engine.site})"


# ------------------------------------------------------------------ decisions
def decisions(surveys, findings, declared, plan: Plan) -> list[Decision]:
    codes = Counter(f.code for f in findings)

    def sites(attr: str) -> list[str]:
        return [str(s if isinstance(s, Site) else s[0]) for item in surveys for s in getattr(item, attr)]

    result = []

    sync_engines = [e for e in plan.engines if e.factory in SYNC_ENGINE_FACTORIES]
    async_engines = [e for e in plan.engines if e not in sync_engines]
    drivers = [name for name in ASYNC_DRIVER_NAMES if name in declared or name.replace("_", "-") in declared]
    if async_engines and not sync_engines:
        detected, consequence = "async already", "keep the async driver; go straight to phase 1"
    elif async_engines:
        detected, consequence = "mixed (async and sync engines)", "migrate the remaining sync engines to async drivers in phase 1"
    elif sync_engines:
        detected, consequence = "sync", f"migrate the driver first ({_driver_switch(sync_engines, declared)}), then the engine factory"
    else:
        detected, consequence = "unknown (no engine created here)", "confirm the driver where the engine is configured"
    evidence = [f"{e.site} {e.factory}({e.url or '…'})" for e in plan.engines] + [
        f"{declared[d].source} {declared[d]}" for d in drivers
    ]
    result.append(Decision("driver", detected, tuple(evidence), consequence))

    query = sites("query_api")
    select = sites("select_api")
    result.append(
        Decision(
            "ORM style",
            "legacy Query API" if query else ("2.x select()" if select else "no ORM queries found"),
            tuple(query[:10] or select[:3]),
            "add a compatibility stage: rewrite session.query() to select() before switching to AsyncSession"
            if query else "no compatibility stage needed",
        )
    )

    shared = [f"{f.path}:{f.line} {f.code}" for f in findings if f.code in ("ASQ202", "ASQ206")]
    dependencies_ = [f"{s} {name}()" for item in surveys for s, name in item.session_dependencies]
    result.append(
        Decision(
            "session scope",
            "global/shared" if shared else ("request-scoped" if dependencies_ else "unknown"),
            tuple(shared or dependencies_),
            "fix the session scope first: one session per request from a yield dependency" if shared
            else "keep the request-scoped dependency",
        )
    )

    lifespans = sites("lifespans")
    events = sites("startup_events")
    if lifespans and events:
        detected, consequence = "lifespan and startup events", (
            "move the startup/shutdown handlers into the existing lifespan: once lifespan= is set they no longer run"
        )
    elif events:
        detected, consequence = "startup events", "introduce the lifespan first (FastAPI deprecated on_event)"
    elif lifespans:
        detected, consequence = "present", "put engine creation and disposal in the existing lifespan"
    else:
        detected, consequence = "absent", "introduce the lifespan first"
    result.append(Decision("lifespan", detected, tuple(lifespans + events), consequence))

    background = [f"{s} {what}" for item in surveys for s, what in item.background]
    result.append(
        Decision(
            "background DB use",
            f"present ({len(background)} place{'s' if len(background) != 1 else ''})" if background else "none found",
            tuple(background[:MOST_EVIDENCE]) + ((f"and {len(background) - MOST_EVIDENCE} more",) if len(background) > MOST_EVIDENCE else ()),
            "background work must open its own session from the factory (FastAPI 0.106.0+ closes yield "
            "dependencies before background tasks run)" if background else "nothing to change",
        )
    )

    begins = sites("begin_blocks")
    commits = sites("commits")
    result.append(
        Decision(
            "transaction style",
            "explicit begin() blocks" if begins and not commits else ("implicit (commit/autobegin)" if commits or codes["ASQ301"] else "no writes found"),
            tuple((begins + commits)[:10]),
            "move writes into `async with session.begin():` owned by the request" if commits or codes["ASQ301"]
            else "keep explicit blocks",
        )
    )

    result.extend(_declared_decisions(declared))
    return result


def _driver_switch(engines: list[EngineSite], declared: dict) -> str:
    """The driver change each dialect in use needs; psycopg 3 (`postgresql+psycopg`) is async-capable as it is."""
    switches = []
    schemes = {e.url.partition("://")[0] for e in engines if e.url and "://" in e.url}
    if any(s in ("postgresql+psycopg", "postgresql+psycopg_async") for s in schemes) or (
        "psycopg" in declared and "psycopg2" not in declared and "psycopg2-binary" not in declared
    ):
        switches.append("psycopg 3 stays: the same `postgresql+psycopg://` URL works with `create_async_engine`")
    if any(s in ("postgresql", "postgres", "postgresql+psycopg2") for s in schemes) or "psycopg2" in declared or "psycopg2-binary" in declared:
        switches.append("psycopg2 → asyncpg (or psycopg 3)")
    if any(s.startswith("sqlite") for s in schemes):
        switches.append("sqlite → aiosqlite")
    if any(s.startswith(("mysql", "mariadb")) for s in schemes):
        switches.append("pymysql/mysqlclient → aiomysql or asyncmy")
    return "; ".join(switches) or "the driver of each URL → its async driver (asyncpg, psycopg 3, aiosqlite, aiomysql)"


def _declared_decisions(declared: dict) -> list[Decision]:
    sqlalchemy = declared.get("sqlalchemy")
    sqlmodel = declared.get("sqlmodel")
    major = dependencies.major_version(sqlalchemy)
    asyncio_extra = sqlalchemy is not None and "asyncio" in sqlalchemy.extras
    greenlet = declared.get("greenlet")
    if sqlalchemy is None and sqlmodel is not None:
        # SQLModel brings SQLAlchemy: 2.x from SQLModel 0.0.14 on.
        version = dependencies.version_tuple(sqlmodel)
        detected = "2.x (through SQLModel)" if version is None or version >= (0, 0, 14) else "1.4 (through SQLModel < 0.0.14)"
        sqlalchemy_decision = Decision(
            "SQLAlchemy version", detected, (f"{sqlmodel.source} {sqlmodel}",),
            "upgrade SQLModel to 0.0.14 or later first (SQLAlchemy 2.x)" if detected.startswith("1.") else
            "2.x APIs available; SQLModel's `AsyncSession` is `sqlmodel.ext.asyncio.session.AsyncSession`",
        )
    else:
        sqlalchemy_decision = Decision(
            "SQLAlchemy version",
            f"{major}.x" if major else ("declared, unpinned" if sqlalchemy else "not declared"),
            (f"{sqlalchemy.source} {sqlalchemy}",) if sqlalchemy else (),
            "upgrade to 2.x first (AsyncSession, select(), async_sessionmaker)" if major and major < 2
            else "2.x APIs available",
        )
    found = [
        sqlalchemy_decision,
        Decision(
            "greenlet",
            "declared" if asyncio_extra or greenlet else "not declared",
            tuple(f"{d.source} {d}" for d in (sqlalchemy, greenlet) if d is not None and (d is greenlet or asyncio_extra)),
            "keep it" if asyncio_extra or greenlet
            else "declare `sqlalchemy[asyncio]` (SQLAlchemy 2.1 no longer installs greenlet by default)",
        ),
    ]
    fastapi = declared.get("fastapi")
    version = dependencies.version_tuple(fastapi)
    if fastapi is not None:
        notes = []
        if version is None or version >= (0, 93):
            notes.append("lifespan= is available; on_event is deprecated")
        if version is not None and (0, 106) <= version < (0, 118):
            notes.append("yield dependencies exit before background tasks run (0.106.0-0.117.x)")
        elif version is not None and version >= (0, 118):
            notes.append("yield dependencies exit after the response is sent (0.118.0+)")
        found.append(Decision("FastAPI version", str(fastapi), (fastapi.source,), "; ".join(notes) or "check the changelog"))
    return found


# ---------------------------------------------------------------- checklist
COMPLETION = {
    1: "`flake8-async-sqla check --phase 1` passes; one engine per URL is created in the lifespan and disposed on shutdown",
    2: "`flake8-async-sqla check --phase 2` passes; every route gets its session from the yield dependency",
    3: "`flake8-async-sqla check --phase 3` passes; every write path runs inside one `begin()` block per request",
    4: "`flake8-async-sqla check --phase 4` passes; no module-level session, scoped registry or helper remains",
    5: "`flake8-async-sqla check --phase 5` passes in CI without a baseline",
}
# Per phase: the decisions whose detected value (by prefix) changes how the phase is done.
BRANCH_NOTES = {
    1: {"driver": ("sync", "mixed"), "lifespan": ("absent", "startup events", "lifespan and startup events")},
    2: {"session scope": ("global",), "ORM style": ("legacy",)},
    3: {"transaction style": ("implicit",), "background DB use": ("present",)},
}


REQUEST_STATE_ITEM = (
    "a middleware keeps a session on `request.state` for each request: hand it out from the yield session "
    "dependency instead, and move the handlers that read `request.state` onto it"
)


def phases(
    findings: list[PlanFinding], found: list[Decision], request_state_sessions: list[Site],
    surveys: list[FileSurvey] | None = None, plan: Plan | None = None,
) -> list[PhasePlan]:
    by_topic = {d.topic: d for d in found}
    inventory = _inventory(surveys or [], plan, by_topic)
    earlier: list[WorkUnit] = []
    result = []
    for number in range(1, 6):
        notes = [
            f"{topic}: {by_topic[topic].detected} → {by_topic[topic].consequence}"
            for topic, values in BRANCH_NOTES.get(number, {}).items()
            if topic in by_topic and by_topic[topic].detected.startswith(values)
        ]
        if number == 4:
            notes.append("delete the legacy helpers once nothing imports them; keep the factory")
        if number == 5 and plan is not None and plan.gates_in_place:
            notes.append(f"gate already in place: {listed(plan.gates_in_place, 4)} run `check --phase 5`; drop its baseline once empty")
        elif number == 5:
            notes.append("drop the baseline and gate CI on `check --phase 5`; advisory rules stay in the backlog")
        items = tuple(f for f in findings if f.phase == str(number))
        if number == 2:
            items += tuple(
                PlanFinding(site.path, site.line, "", "request-state-session", "2", REQUEST_STATE_ITEM)
                for site in request_state_sessions
            )
        closable = [Closable(f.path, f.line, f.code, f.message) for f in items]
        extra = inventory.get(number, {})
        if number == 5 and not earlier and not items:
            extra = {}  # nothing left to migrate: no unit to gate CI on (the lines stay, to keep it so)
        units = work_units(number, closable, extra, earlier)
        result.append(PhasePlan(number, PHASE_TITLES[number], tuple(notes), items, COMPLETION[number], tuple(units)))
    return result


def _inventory(surveys: list[FileSurvey], plan: Plan | None, by_topic: dict[str, Decision]) -> dict[int, dict[str, list[Closable]]]:
    """What the migration must touch although no rule reports it, by phase and change: the sync engines and
    factories, the startup handlers, the session dependencies of a sync app, the CI files of phase 5."""
    if plan is None:
        return {}
    sync_app = by_topic.get("driver") is not None and by_topic["driver"].detected.startswith(("sync", "mixed"))
    engines = [
        Closable(e.site.path, e.site.line, "", f"`{e.name}` = {e.factory}({e.url or '…'}) → `create_async_engine(…)` on an async driver")
        for e in plan.engines if e.factory in SYNC_ENGINE_FACTORIES
    ]
    factories = [
        Closable(f.site.path, f.site.line, "", f"`{f.name}` = {f.kind}(…) → `async_sessionmaker(…, expire_on_commit=False)`")
        for f in plan.factories if not f.kind.startswith("async") and f.name.isidentifier()
    ]
    lifespan = [Closable(s.path, s.line, "", "startup/shutdown handler → the lifespan") for s in plan.startup_events]
    apps = [site_name for item in surveys for site_name in item.apps]
    if not plan.lifespans and not plan.startup_events and apps:
        # The lifespan is written where the app is created: it is passed to `FastAPI(lifespan=...)` there.
        engines_ = listed([f"`{e.name}`" for e in plan.engines if e.name.isidentifier()], 3)
        lifespan += [
            Closable(site.path, site.line, "", f"`{name}` = FastAPI(…) has no lifespan: pass it `lifespan=` a new lifespan"
                     + (f" that creates {engines_} and disposes {'it' if len(plan.engines) == 1 else 'them'} on shutdown" if plan.engines else ""))
            for site, name in apps
        ]
    elif not plan.lifespans and not plan.startup_events:
        lifespan += [
            Closable(e.site.path, e.site.line, "", f"`{e.name}` is created at import: create it in a new `lifespan` passed to `FastAPI(lifespan=...)`")
            for e in plan.engines
        ]
    dependencies_ = [
        Closable(site.path, site.line, "", f"dependency `{name}` → `async def`, yields an `AsyncSession`")
        for item in surveys for site, name in item.session_dependencies
    ] if sync_app else []
    gates = [Closable(g.file, 1, "", f"{'edit' if g.exists else 'create'} {g.where}") for g in plan.gates]
    return {
        1: {"engine": engines + factories, "lifespan": lifespan},
        2: {"dependency": dependencies_},
        5: {"ci-gate": gates},
    }


# -------------------------------------------------------------------- risks
RISKS = (
    (("ASQ201",), "Shared session under concurrency: interleaved statements, corrupted state", "high",
     "one session per task; run the concurrency test of phase 2 before merging"),
    (("ASQ202", "ASQ206"), "Global session state: cross-request data leaks, stale identity map, PendingRollbackError for everyone", "high",
     "introduce the request-scoped dependency behind the same interface first"),
    (("ASQ101", "ASQ102", "ASQ106"), "Connection exhaustion from engines created per request or never disposed", "high",
     "single engine in the lifespan; watch pool checked-out connections"),
    (("ASQ107",), "Driver and engine switch: type adaptation, exception classes and pool behaviour change for every query", "high",
     "run the whole test suite on the async driver against the real database before the first route moves"),
    (("ASQ208", "ASQ209", "ASQ210"), "`def` → `async def`: a missed `await` returns a coroutine, a sync call left in `async def` blocks the loop", "high",
     "move a module at a time; `check --phase 2` on the branch; load-test one moved route"),
    (("ASQ301", "ASQ302", "ASQ303", "ASQ304", "ASQ307"), "Lost or partial writes while transaction ownership moves", "high",
     "write-path tests that assert the row from a second session, and rollback on failure"),
    (("ASQ501", "ASQ502", "ASQ503", "ASQ504"), "MissingGreenlet on code paths the tests do not cover", "medium",
     "eager-load or await relationships; set lazy=\"raise\" in tests to surface the rest"),
    (("ASQ401",), "Query → select() rewrite changes result shapes (Row vs object)", "medium",
     "rewrite with tests on each read path; compare results before and after"),
    (("ASQ207",), "Request session closed before background work runs", "high",
     "background tasks open their own session from the factory"),
)


def risks(findings: list[PlanFinding], found: list[Decision], plan: Plan | None = None) -> list[Risk]:
    """A row per finding class present and per migration step the code needs, with the likelihood from how many
    places it touches, the places, and the rollback: revert the branch of the unit that carries it."""
    present = Counter(f.code for f in findings)
    branch_of = {code: unit.branch for phase in (plan.phases if plan else []) for unit in phase.units for code in _codes(unit)}
    result = []
    for codes, risk, impact, mitigation in RISKS:
        hit = [c for c in codes if present[c]]
        if not hit:
            continue
        places = sorted({f.path for f in findings if f.code in hit})
        count = sum(present[c] for c in hit)
        result.append(Risk(
            f"{risk} ({', '.join(f'{c}×{present[c]}' for c in hit)}; {listed(places, 4)})", _likelihood(count), impact,
            mitigation, _rollback([branch_of.get(c) for c in hit]),
        ))
    if plan is None:
        return result
    driver = next((d for d in found if d.topic == "driver"), None)
    sync_engines = [e for e in plan.engines if e.factory in SYNC_ENGINE_FACTORIES]
    if driver is not None and driver.detected.startswith(("sync", "mixed")) and not present["ASQ107"]:
        result.append(Risk(
            f"Driver switch changes type adaptation and exception classes ({listed([str(e.site) for e in sync_engines], 4)})",
            _likelihood(len(sync_engines)), "medium", "run the full test suite on the async driver against a real database",
            _rollback([branch_of.get("engine")]),
        ))
    expiring = [f for f in plan.factories if not f.expire_on_commit_off and f.name.isidentifier()]
    if expiring and (sync_engines or present["ASQ205"]):
        result.append(Risk(
            "`expire_on_commit=False` on the new factory: objects read after a commit keep stale values instead of "
            f"reloading (today: {listed([f'{f.name} ({f.site})' for f in expiring], 4)})",
            _likelihood(len(expiring)), "medium", "refresh explicitly where a value written by the database is read back",
            _rollback([branch_of.get("ASQ205"), branch_of.get("engine")]),
        ))
    return result


def _codes(unit: WorkUnit) -> set[str]:
    change = unit.key.split(":")[1]
    return {closed.rpartition(" ")[2] for closed in unit.closes} | {change}


def _likelihood(count: int) -> str:
    return "high" if count > 20 else "medium" if count > 3 else "low"


def _rollback(branches: list[str | None]) -> str:
    named = [b for b in dict.fromkeys(branches) if b]
    return f"revert `{named[0]}`" + (f" (and {len(named) - 1} more branch{'es' if len(named) > 2 else ''})" if len(named) > 1 else "") if named else "revert the unit's branch"


# -------------------------------------------------------------- verification
TESTS = {
    "1": "test_lifespan_disposes_engine: start and stop the app (`with TestClient(app)`); the engine is disposed, no connection stays checked out",
    "2": "test_session_per_request: two requests get two sessions, each closed after its response; test_one_session_per_task for gathered work",
    "3": "test_commit_seen_from_second_session and test_rollback_on_failure: a write is visible from another session; a failing one leaves nothing",
    "4": "test_no_global_session: `check --select ASQ202,ASQ206` is clean; importing the app opens no session",
    "5": "test_health_check: `/health` runs `SELECT 1` through the engine with a timeout; CI runs `check --phase 5`",
}


def verification(surveys: list[FileSurvey], findings: list[PlanFinding], plan: Plan | None = None) -> list[Verification]:
    """The tests to write per phase, each over the routes, jobs and modules that touch the database."""
    touching = {(t.site.path, t.function) for item in surveys for t in item.touchpoints}
    routes = sorted({
        f"{name} ({site.path})" for item in surveys for site, name in item.routes
        if (site.path, name) in touching or (site.path, name) in {(s.path, n) for s, n in item.database_routes}
    })
    jobs = sorted({f"{what} ({site})" for item in surveys for site, what in item.background})
    engine_modules = sorted({e.site.path for item in surveys for e in item.engines} | {s.path for item in surveys for s in item.lifespans})
    writes = sorted({f"{t.function} ({t.site.path})" for item in surveys for t in item.touchpoints if t.operation in WRITE_OPERATIONS})
    concurrent = sorted({f.path for f in findings if f.code in ("ASQ201", "ASQ207")})
    return [
        Verification("1", TESTS["1"], listed(engine_modules)),
        Verification("2", TESTS["2"], listed(routes)),
        Verification("2", "one session per task: background work and gathered tasks never share the request's session", listed(concurrent + jobs)),
        Verification("3", TESTS["3"], listed(writes)),
        Verification("4", TESTS["4"], "whole project"),
        Verification("5", TESTS["5"], "whole project"),
    ]


def listed(items: list[str], most: int = 12) -> str:
    text = ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")
    return text or "—"


# ------------------------------------------------------------------ backlog
def backlog(findings: list[PlanFinding]) -> list[BacklogItem]:
    items = []
    for finding in findings:
        if finding.phase != ADVISORY:
            continue
        relationship = finding.relationship or "—"
        loader = f"selectinload({relationship})" if finding.relationship else f"see `flake8-async-sqla rule {finding.code}`"
        items.append(
            BacklogItem(f"IO-{len(items) + 1:03d}", f"{finding.path}:{finding.line}", finding.code, relationship, loader, finding.message)
        )
    return items
