"""What one file contributes to the plan's inventory, read off its semantic model."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from flake8_async_sqla.core import names
from flake8_async_sqla.core.effects import callee_summaries
from flake8_async_sqla.core.model import Scope, SemanticModel
from flake8_async_sqla.core.sessions import SessionBinding
from flake8_async_sqla.core.syntax import call_method, dotted, keyword, literal_str
from flake8_async_sqla.plan.skeleton import EngineSetup, engine_setup

# Session / connection methods that talk to the database.
IO_METHODS = {
    "execute", "scalars", "scalar", "get", "get_one", "query", "commit", "rollback", "flush", "refresh",
    "merge", "delete", "stream", "stream_scalars", "run_sync", "exec",
}
BACKGROUND_TASK_METHODS = {"add_task"}
TASK_QUEUE_MODULES = ("celery", "arq", "rq", "dramatiq", "huey", "taskiq")
# Decorators that make a function a task queue's job (`@shared_task`, `@celery_app.task(...)`, `@dramatiq.actor`).
TASK_DECORATORS = {"task", "shared_task", "periodic_task", "actor"}


@dataclass(frozen=True)
class Site:
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class EngineSite:
    site: Site
    name: str
    factory: str  # create_async_engine, create_engine, ...
    url: str | None  # the literal URL, when it is one
    setup: EngineSetup | None = None  # its URL and options as the skeleton can carry them over


@dataclass(frozen=True)
class FactorySite:
    site: Site
    name: str
    kind: str  # async_sessionmaker, sessionmaker, scoped_session, ...
    engine: str | None
    expire_on_commit_off: bool


@dataclass(frozen=True)
class SessionOrigin:
    """Where a session comes from, as a project-wide key the planner follows to an engine."""

    kind: str  # "engine", "factory", or "provider" (a function that yields or returns the session)
    key: str  # qualified name; a function's local names are keyed by the function's qualname and the name


@dataclass(frozen=True)
class Touchpoint:
    site: Site
    function: str
    operation: str
    engine: str
    session_source: str
    transaction_source: str


@dataclass
class FileSurvey:
    path: str
    engines: list[EngineSite] = field(default_factory=list)
    factories: list[FactorySite] = field(default_factory=list)
    touchpoints: list[Touchpoint] = field(default_factory=list)
    # Facts the planner joins across files to name each touchpoint's engine.
    touchpoint_origins: list[SessionOrigin | None] = field(default_factory=list)  # one per touchpoint
    engine_keys: list[tuple[str, EngineSite]] = field(default_factory=list)
    factory_engines: list[tuple[str, str]] = field(default_factory=list)  # (factory key, engine key), bound or configured
    session_providers: dict[str, SessionOrigin | None] = field(default_factory=dict)  # function qualname -> origin
    lifespans: list[Site] = field(default_factory=list)
    apps: list[tuple[Site, str]] = field(default_factory=list)  # where `FastAPI(...)` is created, and its name
    startup_events: list[Site] = field(default_factory=list)
    session_dependencies: list[tuple[Site, str]] = field(default_factory=list)
    routes: list[tuple[Site, str]] = field(default_factory=list)
    # Routes that take a session or do session I/O: the ones the verification matrix covers.
    database_routes: list[tuple[Site, str]] = field(default_factory=list)
    begin_blocks: list[Site] = field(default_factory=list)
    commits: list[Site] = field(default_factory=list)
    query_api: list[Site] = field(default_factory=list)
    select_api: list[Site] = field(default_factory=list)
    background: list[tuple[Site, str]] = field(default_factory=list)
    # Background work: `BackgroundTasks.add_task` and `create_task` calls, and task-queue jobs that touch the
    # database (open a session or call code that does).
    # Sessions a middleware keeps on `request.state`: a per-request source the yield dependency replaces.
    request_state_sessions: list[Site] = field(default_factory=list)
    settings_names: list[str] = field(default_factory=list)
    module: str = ""  # the dotted module name the project's keys start with


def survey(model: SemanticModel, path: str) -> FileSurvey:
    result = FileSurvey(path, module=model.module)
    for scope in model.scopes:
        for call in scope.calls:
            _survey_call(model, scope, call, result)
        if scope.kind != "function":
            continue
        if model.is_lifespan(scope):
            result.lifespans.append(Site(path, scope.node.lineno))  # type: ignore[attr-defined]
        result.request_state_sessions += [Site(path, node.lineno) for node in _request_state_sessions(model, scope)]
        if model.is_route_handler(scope):
            result.routes.append((Site(path, scope.node.lineno), scope.name))  # type: ignore[attr-defined]
            if model.sessions(scope) or model.session_calls(scope):
                result.database_routes.append((Site(path, scope.node.lineno), scope.name))  # type: ignore[attr-defined]
        queue = _task_queue(model, scope)
        if queue is not None and _touches_database(model, scope):
            result.background.append((Site(path, scope.node.lineno), f"{queue} task `{scope.name}`"))  # type: ignore[attr-defined]
        summary = model.function_summary(scope)
        if summary.yields_session:
            result.session_dependencies.append((Site(path, scope.node.lineno), scope.name))  # type: ignore[attr-defined]
        if summary.yields_session or summary.returns_session:
            result.session_providers[scope.qualname] = provided_origin(model, scope)
        for with_node in scope.withs:
            for item in with_node.items:  # type: ignore[attr-defined]
                method = call_method(item.context_expr)
                if method is not None and method[1] == "begin":
                    result.begin_blocks.append(Site(path, with_node.lineno))
    for name, node in model.local_defs.items():
        if isinstance(node, ast.ClassDef) and any(
            (model.qualname(base) or "").endswith("BaseSettings") for base in node.bases
        ):
            result.settings_names.append(name)
    return result


def _task_queue(model: SemanticModel, scope: Scope) -> str | None:
    """The task queue a function is a job of (`celery` for `@shared_task`), by its decorator; None for other functions."""
    for decorator, qualname in zip(scope.node.decorator_list, model.decorator_qualnames(scope)):  # type: ignore[attr-defined]
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        tail = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if tail in TASK_DECORATORS:
            # The queue the decorator's name or the file's imports say (`celery_app.task` is Celery's).
            said = [q for q in TASK_QUEUE_MODULES if q in re.split(r"[._]", qualname.lower())] or [
                q.partition(".")[0] for q in model.imports.values() if q.partition(".")[0] in TASK_QUEUE_MODULES
            ]
            return said[0] if said else "task queue"
    return None


def _touches_database(model: SemanticModel, scope: Scope) -> bool:
    """Whether a function opens or uses a session, or calls project code that hands one out or (synchronously)
    does database I/O."""
    if model.sessions(scope) or model.session_calls(scope):
        return True
    if not scope.is_async and model.function_summary(scope).blocking_io:
        return True
    return any(
        callee.handout.yields or callee.handout.returns or (not callee.is_async and callee.blocking_io)
        for call in scope.calls for callee in callee_summaries(model, call, scope)
    )


def _spawns_database_work(model: SemanticModel, call: ast.Call, scope: Scope, target: list[ast.expr]) -> bool:
    """Whether `add_task(work, ...)` / `create_task(work(...))` starts work that touches the database: it is handed
    a session or a session factory, or the work is project code that does (an `async def` of another module
    counts: what it does is not known here), also as the function a wrapper runs (`run_in_threadpool(work, ...)`).
    Library calls (`asyncio.sleep(...)`) and callables held in variables do not count."""
    work = target[0] if target else None
    runs = [work] + ([a for a in work.args if isinstance(a, (ast.Name, ast.Attribute))] if isinstance(work, ast.Call) else [])
    arguments = [*call.args, *(k.value for k in call.keywords)]
    if isinstance(work, ast.Call):
        arguments += [*work.args, *(k.value for k in work.keywords)]
    if any(model.session_binding(a, scope) is not None or model.factory_symbol(a, scope) is not None for a in arguments):
        return True
    return any(_runs_database_work(model, run, scope) for run in runs if run is not None)


def _runs_database_work(model: SemanticModel, work: ast.expr, scope: Scope) -> bool:
    run = work if isinstance(work, ast.Call) else ast.copy_location(ast.Call(func=work, args=[], keywords=[]), work)
    local = model.called_function(run, scope)
    if local is not None:
        return _touches_database(model, local)
    return any(
        callee.is_async or callee.handout.yields or callee.handout.returns or callee.blocking_io or callee.session_io_names
        for callee in callee_summaries(model, run, scope)
    )


def _request_state_sessions(model: SemanticModel, scope: Scope) -> list[ast.AST]:
    """Assignments of a session to `request.state.<name>` in a function."""
    found = []
    for assign in scope.assigns:
        targets = getattr(assign, "targets", None) or [getattr(assign, "target", None)]
        value = getattr(assign, "value", None)
        if value is None or not any((dotted(t) or [])[:2] == ["request", "state"] for t in targets if t is not None):
            continue
        symbol = model.classify_value(value, scope)
        if symbol is not None and symbol.kind == "session":
            found.append(assign)
    return found


def _survey_call(model: SemanticModel, scope: Scope, call: ast.Call, result: FileSurvey) -> None:
    site = Site(result.path, call.lineno)
    factory = model.engine_factory(call)
    if factory is not None:
        url = call.args[0] if call.args else keyword(call, "url")
        setup = engine_setup(model, call, scope) if factory in names.URL_ENGINE_FACTORIES else None
        engine = EngineSite(site, _assigned_name(model, call) or "<engine>", factory, literal_str(url), setup)
        result.engines.append(engine)
        key = _assigned_key(model, call, scope)
        if key is not None:
            result.engine_keys.append((key, engine))
        return
    api = model.api(call.func)
    if api in names.SESSION_FACTORY_CLASSES or api in names.SCOPED_REGISTRIES:
        bind = _bind(model, call)
        expire = keyword(call, "expire_on_commit")
        result.factories.append(
            FactorySite(
                site, _assigned_name(model, call) or "<factory>", api,
                _text(bind) if bind is not None else None,
                isinstance(expire, ast.Constant) and expire.value is False,
            )
        )
        _record_factory_engine(model, scope, _assigned_key(model, call, scope), call, result)
        return
    if api == "select":
        result.select_api.append(site)
    if names.fastapi_api(model.qualname(call.func)) in names.APPLICATION_CLASSES:
        result.apps.append((site, _assigned_name(model, call) or "<app>"))
    method = call_method(call)
    if method is None:
        return
    receiver, name = method
    if name in ("on_event", "add_event_handler") and model.is_app(receiver, scope) or (
        names.fastapi_api(model.qualname(call.func)) in names.APP_CLASSES
        and (keyword(call, "on_startup") is not None or keyword(call, "on_shutdown") is not None)
    ):
        result.startup_events.append(site)
    if name in BACKGROUND_TASK_METHODS and _spawns_database_work(model, call, scope, call.args[:1]):
        result.background.append((site, "BackgroundTasks.add_task"))
    if model.qualname(call.func) in names.TASK_SPAWNERS and _spawns_database_work(model, call, scope, call.args[:1]):
        result.background.append((site, "asyncio.create_task"))
    if name == "configure" and model.factory_symbol(receiver, scope) is not None:
        _record_factory_engine(model, scope, project_key(model, receiver, scope), call, result)
    found = model.session_method_call(call, scope)
    if found is None or name not in IO_METHODS:
        return
    binding = found[0]
    if name == "query":
        result.query_api.append(site)
    if name == "commit":
        result.commits.append(site)
    function = scope.function_scope
    result.touchpoints.append(
        Touchpoint(
            site,
            function.name if function is not None else "<module>",
            name,
            "",  # filled in by the planner, which knows every engine of the project
            session_source(binding),
            transaction_source(model, scope, call, binding),
        )
    )
    result.touchpoint_origins.append(session_origin(model, binding, scope))


def session_origin(model: SemanticModel, binding: SessionBinding, scope: Scope) -> SessionOrigin | None:
    """What a session binding was opened from: its dependency's provider, or the call that created it."""
    if binding.origin == "dependency":
        return SessionOrigin("provider", binding.provider.qualname) if binding.provider is not None else None
    if binding.origin not in ("created", "global", "closure"):
        return None  # a parameter or injected attribute: the caller's session
    value = binding.node.context_expr if isinstance(binding.node, ast.withitem) else getattr(binding.node, "value", None)
    return opened_from(model, value, scope)


def opened_from(model: SemanticModel, value: ast.AST | None, scope: Scope) -> SessionOrigin | None:
    """The origin of a session-opening expression: `factory()`, `factory.begin()`, `AsyncSession(engine)`, `helper()`."""
    if isinstance(value, ast.Await):
        value = value.value
    if not isinstance(value, ast.Call):
        return None
    method = call_method(value)
    opener = method[0] if method is not None and method[1] == "begin" else value.func
    if model.api(opener) in names.SESSION_CLASSES:
        bind = _bind(model, value)
        key = project_key(model, bind, scope) if bind is not None else None
        return SessionOrigin("engine", key) if key is not None else None
    key = project_key(model, opener, scope)
    if key is None:
        return None
    return SessionOrigin("factory" if model.factory_symbol(opener, scope) is not None else "provider", key)


def provided_origin(model: SemanticModel, scope: Scope) -> SessionOrigin | None:
    """The origin of the session a function yields or returns, when all its yields and returns agree."""
    origins = set()
    for node in [*scope.yields, *scope.returns]:
        value = getattr(node, "value", None)
        if value is None:
            continue
        binding = model.session_binding(value, scope)
        if binding is not None:
            origins.add(session_origin(model, binding, scope))
            continue
        symbol = model.classify_value(value, scope)
        if symbol is not None and symbol.kind == "session":
            origins.add(opened_from(model, value, scope))
    return origins.pop() if len(origins) == 1 else None


def project_key(model: SemanticModel, node: ast.AST, scope: Scope) -> str | None:
    """A name's key across the project: a function's local name is keyed by that function, any other by its qualified name."""
    if isinstance(node, ast.Name):
        function = model.binding_function(node.id, scope)
        if function is not None:
            return f"{function.qualname}.{node.id}"
    return model.qualname(node)


def _record_factory_engine(model: SemanticModel, scope: Scope, factory: str | None, call: ast.Call, result: FileSurvey) -> None:
    bind = _bind(model, call)
    engine = project_key(model, bind, scope) if bind is not None else None
    if factory is not None and engine is not None:
        result.factory_engines.append((factory, engine))


def _bind(model: SemanticModel, call: ast.Call) -> ast.expr | None:
    """The engine a session, factory or `configure()` call binds; through `scoped_session(sessionmaker(engine))`."""
    bind = call.args[0] if call.args else keyword(call, "bind")
    while isinstance(bind, ast.Call) and model.api(bind.func) in names.SESSION_FACTORY_CLASSES:
        bind = bind.args[0] if bind.args else keyword(bind, "bind")
    return bind


def session_source(binding: SessionBinding) -> str:
    if binding.origin == "dependency":
        provider = getattr(binding, "provider", None)
        return f"dependency `{provider.qualname.rpartition('.')[2]}`" if provider else "dependency"
    if binding.origin == "created":
        return "factory call in this function"
    if binding.origin == "global":
        return "global session"
    if binding.origin == "attribute":
        return "injected attribute (`self.…`)"
    if binding.origin == "closure":
        return "enclosing function's session"
    if binding.origin == "object":
        return "an ORM object's session (`object_session`)"
    if binding.origin == "stored":
        return f"kept by other code (`{binding.name}`)"
    return "parameter (caller's session)"


def transaction_source(model: SemanticModel, scope: Scope, call: ast.Call, binding: SessionBinding) -> str:
    function = scope.function_scope or scope
    if binding.transactional:
        return "dependency transaction" if binding.origin == "dependency" else "factory.begin() block"
    if model.in_begin_block(call, binding, function):
        return "begin() block"
    for other in function.calls:
        found = model.session_method_call(other, function)
        if found is not None and found[1] == "commit" and found[0].name == binding.name:
            return "explicit commit"
    return "autobegin (no explicit boundary)"


def _assigned_name(model: SemanticModel, call: ast.Call) -> str | None:
    target = model.assignment_target(call)
    return _text(target) if target is not None else None


def _assigned_key(model: SemanticModel, call: ast.Call, scope: Scope) -> str | None:
    target = model.assignment_target(call)
    return project_key(model, target, scope) if target is not None else None


def _text(node: ast.AST) -> str:
    parts = dotted(node)
    return ".".join(parts) if parts is not None else "<expression>"
