"""Turns findings and file surveys into the modernization plan (a plain data structure)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from flake8_async_sqla import __version__
from flake8_async_sqla.config import Settings, relative_path
from flake8_async_sqla.core.checker import build_model, check_model, codes_for_role, is_relevant
from flake8_async_sqla.core.parsing import ParseFailure, parse
from flake8_async_sqla.core.project import DEFAULT_INDEX, use_options
from flake8_async_sqla.core.rule import ADVISORY, PHASE_TITLES, Finding, all_rules
from flake8_async_sqla.noqa import NoqaMap
from flake8_async_sqla.plan import dependencies, diagrams
from flake8_async_sqla.plan.skeleton import ASYNC_DRIVER_NAMES, architecture
from flake8_async_sqla.plan.survey import EngineSite, FileSurvey, SessionOrigin, Site, Touchpoint, survey
from flake8_async_sqla.runner import read_source

WRITE_OPERATIONS = {"commit", "flush", "merge", "delete", "add", "add_all"}


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
    items: tuple[PlanFinding, ...]
    completion_check: str


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

    @property
    def nothing_to_migrate(self) -> bool:
        return not any(phase.items for phase in self.phases) and not self.backlog and not self.errors


def collect(settings: Settings, files: list[Path]) -> tuple[list[FileSurvey], list[PlanFinding], list[tuple[str, str]]]:
    """Survey and check every file once: one parse, one model, both uses."""
    surveys, findings, errors = [], [], []
    roles = settings.role_policy()
    use_options(settings.analysis_options(), roles)
    codes = settings.selected_codes()
    rules = all_rules()
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
        # Test code and migrations are no production work: not in the inventory, the checklist or the matrix.
        if not roles.reports(role) or not is_relevant(text, settings.analysis_options()):
            continue
        model = build_model(tree, str(path))
        surveys.append(survey(model, shown))
        noqa = NoqaMap(text)
        ignored = tuple(settings.ignored_for_file(path))
        for finding in check_model(model, codes_for_role(role, roles, codes)):
            if noqa.suppresses(finding.line, finding.code) or (ignored and finding.code.startswith(ignored)):
                continue
            rule = rules.get(finding.code)
            findings.append(_plan_finding(shown, finding, rule))
        DEFAULT_INDEX.release(str(path))  # the survey holds what the plan needs of it
    return surveys, findings, errors


def _plan_finding(path: str, finding: Finding, rule) -> PlanFinding:
    fields = dict(finding.fields)
    return PlanFinding(
        path, finding.line, finding.code, rule.name if rule else "internal-error",
        str(rule.phase) if rule else "1", finding.message.partition(" ")[2], fields.get("relationship", ""),
    )


def build_plan(settings: Settings, files: list[Path]) -> Plan:
    surveys, findings, errors = collect(settings, files)
    findings.sort(key=lambda f: (f.path, f.line, f.code))
    declared = dependencies.declared_dependencies(settings.root)
    plan = Plan(settings.root.name, __version__, len(files), errors=errors)
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
    plan.phases = phases(findings, plan.decisions, [site for item in surveys for site in item.request_state_sessions])
    plan.risks = risks(findings, plan.decisions)
    plan.verification = verification(surveys, findings)
    plan.backlog = backlog(findings)
    return plan


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

    sync_engines = [e for e in plan.engines if e.factory in ("create_engine", "engine_from_config")]
    async_engines = [e for e in plan.engines if e not in sync_engines]
    drivers = [name for name in ASYNC_DRIVER_NAMES if name in declared or name.replace("_", "-") in declared]
    if async_engines and not sync_engines:
        detected, consequence = "async already", "keep the async driver; go straight to phase 1"
    elif async_engines:
        detected, consequence = "mixed (async and sync engines)", "migrate the remaining sync engines to async drivers in phase 1"
    elif sync_engines:
        detected, consequence = "sync", "migrate the driver first (psycopg2 → asyncpg, sqlite → aiosqlite), then the engine factory"
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
            "present" if background else "none found",
            tuple(background),
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


def _declared_decisions(declared: dict) -> list[Decision]:
    sqlalchemy = declared.get("sqlalchemy")
    major = dependencies.major_version(sqlalchemy)
    asyncio_extra = sqlalchemy is not None and "asyncio" in sqlalchemy.extras
    greenlet = declared.get("greenlet")
    found = [
        Decision(
            "SQLAlchemy version",
            f"{major}.x" if major else ("declared, unpinned" if sqlalchemy else "not declared"),
            (f"{sqlalchemy.source} {sqlalchemy}",) if sqlalchemy else (),
            "upgrade to 2.x first (AsyncSession, select(), async_sessionmaker)" if major and major < 2
            else "2.x APIs available",
        ),
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


def phases(findings: list[PlanFinding], found: list[Decision], request_state_sessions: list[Site]) -> list[PhasePlan]:
    by_topic = {d.topic: d for d in found}
    result = []
    for number in range(1, 6):
        notes = [
            f"{topic}: {by_topic[topic].detected} → {by_topic[topic].consequence}"
            for topic, values in BRANCH_NOTES.get(number, {}).items()
            if topic in by_topic and by_topic[topic].detected.startswith(values)
        ]
        if number == 4:
            notes.append("delete the legacy helpers once nothing imports them; keep the factory")
        if number == 5:
            notes.append("drop the baseline and gate CI on `check --phase 5`; advisory rules stay in the backlog")
        items = tuple(f for f in findings if f.phase == str(number))
        if number == 2:
            items += tuple(
                PlanFinding(site.path, site.line, "", "request-state-session", "2", REQUEST_STATE_ITEM)
                for site in request_state_sessions
            )
        result.append(PhasePlan(number, PHASE_TITLES[number], tuple(notes), items, COMPLETION[number]))
    return result


# -------------------------------------------------------------------- risks
RISKS = (
    (("ASQ201",), "Shared session under concurrency: interleaved statements, corrupted state", "high", "high",
     "one session per task; run the concurrency test of phase 2 before merging"),
    (("ASQ202", "ASQ206"), "Global session state: cross-request data leaks, stale identity map, PendingRollbackError for everyone", "high", "high",
     "introduce the request-scoped dependency behind the same interface first"),
    (("ASQ101", "ASQ102", "ASQ106"), "Connection exhaustion from engines created per request or never disposed", "medium", "high",
     "single engine in the lifespan; watch pool checked-out connections"),
    (("ASQ301", "ASQ302", "ASQ303", "ASQ304", "ASQ307"), "Lost or partial writes while transaction ownership moves", "medium", "high",
     "write-path tests that assert the row from a second session, and rollback on failure"),
    (("ASQ501", "ASQ502", "ASQ503", "ASQ504"), "MissingGreenlet on code paths the tests do not cover", "high", "medium",
     "eager-load or await relationships; set lazy=\"raise\" in tests to surface the rest"),
    (("ASQ401",), "Query → select() rewrite changes result shapes (Row vs object)", "medium", "medium",
     "rewrite with tests on each read path; compare results before and after"),
    (("ASQ207",), "Request session closed before background work runs", "high", "high",
     "background tasks open their own session from the factory"),
)
ROLLBACK = {
    1: "revert the lifespan commit; the old engine construction still works",
    2: "revert to the previous dependency; the routes' signatures did not change",
    3: "revert the transaction-block commits route by route",
    4: "restore the removed helpers from version control",
    5: "re-enable the baseline",
    ADVISORY: "revert the loader options of the affected query",
}


def risks(findings: list[PlanFinding], found: list[Decision]) -> list[Risk]:
    present = Counter(f.code for f in findings)
    phase_of = {f.code: f.phase for f in findings}
    result = []
    for codes, risk, likelihood, impact, mitigation in RISKS:
        hit = [c for c in codes if present[c]]
        if hit:
            phase = phase_of[hit[0]]
            rollback = ROLLBACK[int(phase) if phase.isdigit() else ADVISORY]
            result.append(Risk(f"{risk} ({', '.join(f'{c}×{present[c]}' for c in hit)})", likelihood, impact, mitigation, rollback))
    driver = next((d for d in found if d.topic == "driver"), None)
    if driver is not None and driver.detected == "sync":
        result.append(Risk("Driver switch changes type adaptation and exception classes", "medium", "medium",
                           "run the full test suite on the async driver against a real database", ROLLBACK[1]))
    return result


# -------------------------------------------------------------- verification
def verification(surveys: list[FileSurvey], findings: list[PlanFinding]) -> list[Verification]:
    routes = sorted({f"{name} ({site.path})" for item in surveys for site, name in item.routes})
    engine_modules = sorted({e.site.path for item in surveys for e in item.engines} | {s.path for item in surveys for s in item.lifespans})
    writes = sorted({f"{t.function} ({t.site.path})" for item in surveys for t in item.touchpoints if t.operation in WRITE_OPERATIONS})
    concurrent = sorted({f.path for f in findings if f.code == "ASQ201"})
    return [
        Verification("1", "lifespan cleanup order: start and stop the app; the engine is disposed and no connection stays checked out", listed(engine_modules)),
        Verification("2", "session dependency: each request gets its own session, closed after the response; tests override the dependency", listed(routes)),
        Verification("2", "one session per task: concurrent requests and gathered work never share a session", listed(concurrent or routes[:3])),
        Verification("3", "commit/rollback: a failing write leaves nothing behind, seen from a second session", listed(writes)),
        Verification("4", "no global sessions: `check --select ASQ202,ASQ206` is clean", "whole project"),
        Verification("5", "health/readiness: an endpoint runs `SELECT 1` through the engine with a timeout; CI runs `check --phase 5`", "whole project"),
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
