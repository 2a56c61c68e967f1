"""The target architecture: its description and a code skeleton that runs, built from the project's own
engine set-up (its settings access, URL and pool settings) where the survey found it."""

from __future__ import annotations

import ast
import builtins
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flake8_async_sqla.core import names
from flake8_async_sqla.core.syntax import FUNCTION_NODES, all_args, assigned_names, keyword
from flake8_async_sqla.core.urls import CONFIGURED, DIALECT, SCHEME, database_url

if TYPE_CHECKING:
    from flake8_async_sqla.core.model import Scope, SemanticModel
    from flake8_async_sqla.plan.builder import Plan
    from flake8_async_sqla.plan.survey import EngineSite, FileSurvey

ASYNC_DRIVERS = {"postgresql": "asyncpg", "sqlite": "aiosqlite", "mysql": "aiomysql", "mariadb": "aiomysql"}
# Drivers `create_async_engine` accepts (psycopg 3 serves both engine kinds).
ASYNC_DRIVER_NAMES = ("asyncpg", "aiosqlite", "aiomysql", "asyncmy", "psycopg", "psycopg_async", "aioodbc", "oracledb_async")
# Engine options that are sync-only or gone in SQLAlchemy 2.x: left out of the async engine.
DROPPED_OPTIONS = {"future", "poolclass", "creator", "strategy", "convert_unicode", "encoding", "module"}
# How many module-level definitions and local assignments are followed from one engine call.
MOST_DEFINITIONS = 12

# (module, name, alias) for `from module import name as alias`; (module, "", alias) for `import module as alias`.
Import = tuple[str, str, str]
SKELETON_IMPORTS: tuple[Import, ...] = (
    ("collections.abc", "AsyncIterator", "AsyncIterator"),
    ("contextlib", "AsyncExitStack", "AsyncExitStack"),
    ("contextlib", "asynccontextmanager", "asynccontextmanager"),
    ("typing", "Annotated", "Annotated"),
    ("fastapi", "Depends", "Depends"),
    ("fastapi", "FastAPI", "FastAPI"),
    ("fastapi", "Request", "Request"),
    ("sqlalchemy.ext.asyncio", "AsyncSession", "AsyncSession"),
    ("sqlalchemy.ext.asyncio", "async_sessionmaker", "async_sessionmaker"),
    ("sqlalchemy.ext.asyncio", "create_async_engine", "create_async_engine"),
)


@dataclass(frozen=True)
class EngineSetup:
    """How the project configures one engine, as code the skeleton can carry over: the URL and option
    expressions, with the imports and the engine module's own definitions they need."""

    module: str  # the module the engine is created in
    url: str  # the URL expression, "" when it cannot be carried over (a parameter)
    scheme: str  # what the URL names, defaults included: `dialect+driver`, a dialect alone, or "" when unknown
    options: tuple[str, ...]  # keyword arguments as written (`pool_size=10`, `**ENGINE_OPTIONS`)
    imports: tuple[Import, ...]
    definitions: tuple[str, ...]  # the engine module's definitions the expressions use, in source order


# ------------------------------------------------------------ read from the code
def engine_setup(model: SemanticModel, call: ast.Call, scope: Scope) -> EngineSetup | None:
    """The set-up of an engine call as far as it can be carried over: the URL and each option whose names
    are the module's definitions or imports (None when neither the URL nor any option can be)."""
    url = call.args[0] if call.args else keyword(call, "url")
    if url is None or len(call.args) > 1:
        return None
    needs = _Needs(model)
    carried_url = _carried(model, scope, url, needs)
    written = []
    for option in (k for k in call.keywords if k.arg != "url" and k.arg not in DROPPED_OPTIONS):
        value = _carried(model, scope, option.value, needs)
        if value is not None:
            written.append(f"{option.arg}={value}" if option.arg else f"**{value}")
    if carried_url is None and not written:
        return None
    return EngineSetup(
        model.module, carried_url or "", _scheme(model, url, scope) if carried_url else "", tuple(written),
        tuple(sorted(needs.imports)), tuple(ast.unparse(d) for d in sorted(needs.definitions, key=lambda d: d.lineno)),
    )


def _carried(model: SemanticModel, scope: Scope, expression: ast.expr, needs: _Needs) -> str | None:
    """An expression as the skeleton can write it (the enclosing function's one-time assignments inlined),
    its needs added to `needs`; None when a name it uses cannot be carried over."""
    inliner = _LocalInliner(model, scope)
    inlined = inliner.visit(_copy(expression))
    if inliner.failed:
        return None
    trial = _Needs(model)
    trial.add_names_of(inlined)
    if trial.failed:
        return None
    needs.imports |= trial.imports
    needs.definitions += [d for d in trial.definitions if d not in needs.definitions]
    return ast.unparse(inlined)


def _copy(node: ast.expr) -> ast.expr:
    return ast.parse(ast.unparse(node), mode="eval").body


def _scheme(model: SemanticModel, url: ast.expr, scope: Scope) -> str:
    value = database_url(model, url, scope)
    if value is None:
        return ""
    if value.kind in (SCHEME, DIALECT):
        return value.text
    if value.kind == CONFIGURED and model.index is not None:
        declared = model.index.declared_dialects(model.path)
        return next(iter(declared)) if len(declared) == 1 else ""
    return ""


class _LocalInliner(ast.NodeTransformer):
    """Replaces a name the enclosing function assigns once (`url = settings.database_url`) by its value;
    a parameter, or a name assigned several times, cannot be carried over."""

    def __init__(self, model: SemanticModel, scope: Scope) -> None:
        self.model, self.scope = model, scope
        self.failed = False
        self.followed = 0

    def visit_Name(self, node: ast.Name) -> ast.AST:
        function = self.model.binding_function(node.id, self.scope)
        if function is None:
            return node
        assigns = [a for a in function.assigns if node.id in assigned_names(a)]
        parameters = all_args(function.node) if function.kind == "function" else []
        self.followed += 1
        if (
            any(p.arg == node.id for p in parameters) or len(assigns) != 1 or self.followed > MOST_DEFINITIONS
            or not isinstance(assigns[0], (ast.Assign, ast.AnnAssign)) or assigns[0].value is None
            or assigned_names(assigns[0]) != [node.id] or _changed_later(function.node, node.id)
        ):
            self.failed = True
            return node
        return self.visit(_copy(assigns[0].value))


def _changed_later(function: ast.AST, name: str) -> bool:
    """Whether a function changes what a name holds in place (`options.update(...)`, `options["k"] = v`):
    its one assignment is then not its value."""
    for node in ast.walk(function):
        target = node.func.value if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) else None
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)):
            target = node.value
        if isinstance(target, ast.Name) and target.id == name:
            return True
    return False


class _Needs:
    """The imports and module-level definitions that expressions of one module need, followed through
    the definitions they use."""

    def __init__(self, model: SemanticModel) -> None:
        self.model = model
        self.imports: set[Import] = set()
        self.definitions: list[ast.stmt] = []
        self.failed = False

    def add_names_of(self, node: ast.AST) -> None:
        bound_inside = _bound_inside(node)
        for name in sorted({n.id for n in ast.walk(node) if isinstance(n, ast.Name)} - bound_inside):
            self._add(name)

    def _add(self, name: str) -> None:
        model = self.model
        if name in model.imports:
            self.imports.add(_import_of(model.imports[name], name))
            return
        definition = model.local_defs.get(name)
        if isinstance(definition, (ast.Assign, ast.AnnAssign)) and model.module_constant(name, model.module_scope) is None:
            self.failed = True  # rebound: no one definition to carry over
            return
        if isinstance(definition, (ast.Assign, ast.AnnAssign, ast.ClassDef, *FUNCTION_NODES)):
            if definition not in self.definitions:
                if len(self.definitions) >= MOST_DEFINITIONS:
                    self.failed = True
                    return
                self.definitions.append(definition)
                self.add_names_of(definition)
            return
        if not hasattr(builtins, name):
            self.failed = True


def _bound_inside(node: ast.AST) -> set[str]:
    """Names a definition binds itself (its own name, parameters, assignments, comprehension targets)."""
    bound = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))}
    for inner in ast.walk(node):
        if isinstance(inner, (*FUNCTION_NODES, ast.Lambda)):
            bound.update(a.arg for a in all_args(inner))
        if isinstance(inner, (*FUNCTION_NODES, ast.ClassDef)) and inner is not node:
            bound.add(inner.name)
        if isinstance(inner, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).partition(".")[0] for a in inner.names)
    return bound


def _import_of(qualname: str, alias: str) -> Import:
    module, _, name = qualname.rpartition(".")
    return (module, name, alias) if module else (qualname, "", alias)


# ------------------------------------------------------------ the plan's section
def architecture(surveys: list[FileSurvey], plan: Plan) -> tuple[str, str]:
    """The target architecture's bullets and its skeleton, with the project's own names and engine set-up."""
    main = main_engine(surveys, plan)
    engine_home = main.site.path if main is not None else (plan.engines[0].site.path if plan.engines else "app/db.py")
    engine_name, factory_name, dependency = target_names(surveys, plan)
    setup = main.setup if main is not None and main.setup is not None else _any_setup(plan)
    text = (
        f"- Engine and session factory live in `{engine_home}`, created once per process inside the "
        "app's `lifespan` and disposed there through an `AsyncExitStack`.\n"
        f"- One `async_sessionmaker({engine_name}, expire_on_commit=False)` named `{factory_name}`, kept on "
        "`app.state` (no module-level engine or session).\n"
        f"- One `AsyncSession` per request from the `{dependency}` dependency, which yields it from "
        "`async with`; routes take it as `SessionDep = Annotated[AsyncSession, Depends(" + dependency + ")]`.\n"
        "- Transaction policy: the request owns the transaction: writes run inside "
        "`async with session.begin():`; helpers and repositories take the session and never commit.\n"
        "- No implicit I/O: relationships loaded with `selectinload(...)` in the query or awaited via "
        "`awaitable_attrs`; `lazy=\"raise\"` on relationships.\n"
        "- Background work opens its own session from the factory; pool settings, `pool_pre_ping=True` "
        "and a DB health check are configuration.\n"
        + _configuration_note(setup)
    )
    return text, skeleton(setup, engine_name, factory_name, dependency)


def target_names(surveys: list[FileSurvey], plan: Plan) -> tuple[str, str, str]:
    """The names the target keeps from the project: its engine, its session factory, its session dependency."""
    main = main_engine(surveys, plan)
    return (
        main.name if main is not None and main.name.isidentifier() else "engine",
        next((f.name for f in plan.factories if f.name.isidentifier()), "session_factory"),
        next((name for item in surveys for _, name in item.session_dependencies), "get_session"),
    )


def main_engine(surveys: list[FileSurvey], plan: Plan) -> EngineSite | None:
    """The engine the app's sessions come from: the one its session dependencies open sessions on, else
    one a session factory binds, else one in the module of the app's lifespan; engines whose set-up can
    be carried over, and whose URL is not SQLite's, first."""
    engines = {key: site for item in surveys for key, site in item.engine_keys}
    factory_engine = {factory: engine for item in surveys for factory, engine in item.factory_engines}
    providers = {key: origin for item in surveys for key, origin in item.session_providers.items()}
    yielded = [  # the origins of the sessions the yield dependencies hand out
        origin for item in surveys for key, origin in item.session_providers.items()
        if key.rpartition(".")[2] in {name for _, name in item.session_dependencies}
    ]
    served = set()
    for origin in yielded:
        hops = 0
        while origin is not None and origin.kind == "provider" and hops < MOST_DEFINITIONS:
            origin, hops = providers.get(origin.key), hops + 1
        key = factory_engine.get(origin.key) if origin is not None and origin.kind == "factory" else origin.key if origin else None
        if key in engines:
            served.add(engines[key])
    factory_bound = {engines[key] for key in factory_engine.values() if key in engines}
    lifespan_modules = {site.path for site in plan.lifespans}

    def rank(engine: EngineSite) -> tuple[bool, bool, bool, bool, bool]:
        return (
            engine not in served,
            engine not in factory_bound,
            engine.site.path not in lifespan_modules,
            engine.setup is None,
            (engine.setup.scheme if engine.setup else engine.url or "").startswith("sqlite"),
        )

    return min(plan.engines, key=rank, default=None)


def _any_setup(plan: Plan) -> EngineSetup | None:
    """Another engine's set-up, one with a URL and a server database's first."""
    found = [e.setup for e in plan.engines if e.setup is not None]
    return min(found, key=lambda setup: (not setup.url, setup.scheme.startswith("sqlite")), default=None)


def _configuration_note(setup: EngineSetup | None) -> str:
    if setup is None:
        return "- The URL: no engine set-up could be carried over, so the skeleton reads `DATABASE_URL` from the environment."
    if not setup.url:
        return (
            f"- The pool settings are the project's own (`{setup.module}`); its URL is a parameter there, "
            "so the skeleton reads `DATABASE_URL` from the environment."
        )
    driver = _async_scheme(setup.scheme)
    switch = f", with the driver switched to `{driver}`" if driver else ""
    return f"- The URL and pool settings are the project's own (`{setup.module}`){switch}."


def _async_scheme(scheme: str) -> str | None:
    """The async `dialect+driver` to use instead of a sync (or default-driver) scheme; None when it is async already."""
    dialect, _, driver = scheme.partition("+")
    dialect = names.DIALECT_ALIASES.get(dialect, dialect)
    if not dialect or driver in ASYNC_DRIVER_NAMES or names.URL_SCHEME_KINDS.get(scheme) == "async":
        return None
    return names.DIALECT_DRIVERS.get(dialect, {}).get("async")


def skeleton(setup: EngineSetup | None, engine_name: str, factory_name: str, dependency: str) -> str:
    imports = set(SKELETON_IMPORTS)
    definitions: tuple[str, ...] = ()
    if setup is None:
        imports.add(("os", "", "os"))
        url, options = 'os.environ["DATABASE_URL"]', ["pool_pre_ping=True"]
    else:
        imports.update(setup.imports)
        definitions = setup.definitions
        url, options = _async_url_expression(setup, imports), list(setup.options)
        if not setup.url:
            imports.add(("os", "", "os"))
        if not any(o.startswith(("pool_pre_ping=", "**")) for o in options):
            options.append("pool_pre_ping=True")
    header = _import_lines(imports, setup.module.partition(".")[0] if setup else "")
    for number, definition in enumerate(definitions):
        statement = not definition.startswith(("def ", "async def ", "class ", "@"))
        header += ("\n" if number else "\n\n") if statement and not _follows_definition(definitions, number) else "\n\n\n"
        header += definition
    arguments = ", ".join([url, *options])
    if len(arguments) > 70:  # one argument a line, as a formatter would
        arguments = "".join(f"\n            {argument}," for argument in [url, *options]) + "\n        "
    blocks = [header]
    blocks.append(f'''\
@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        {engine_name} = create_async_engine({arguments})
        stack.push_async_callback({engine_name}.dispose)
        app.state.{factory_name} = async_sessionmaker({engine_name}, expire_on_commit=False)
        yield''')
    blocks.append(f'''\
async def {dependency}(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.{factory_name}() as session:
        yield session''')
    blocks.append(f"SessionDep = Annotated[AsyncSession, Depends({dependency})]\napp = FastAPI(lifespan=lifespan)")
    return "\n\n\n".join(blocks) + "\n"


def _follows_definition(definitions: tuple[str, ...], number: int) -> bool:
    return number > 0 and definitions[number - 1].startswith(("def ", "async def ", "class ", "@"))


def _async_url_expression(setup: EngineSetup, imports: set[Import]) -> str:
    """The project's URL expression, made to name an async driver where it names a sync one."""
    driver = _async_scheme(setup.scheme)
    if not setup.url:
        return 'os.environ["DATABASE_URL"]'
    if driver is None:
        return setup.url
    literal = ast.parse(setup.url, mode="eval").body
    if isinstance(literal, ast.Constant) and isinstance(literal.value, str):
        return repr(async_url(literal.value))
    imports.add(("sqlalchemy", "make_url", "make_url"))
    return f"make_url({setup.url}).set(drivername={driver!r})"


def _import_lines(imports: set[Import], project_root: str) -> str:
    """Import statements grouped as isort does (standard library, third party, the project), one `from`
    line per module."""
    groups: list[list[str]] = [[], [], []]
    by_module: dict[str, list[str]] = {}
    for module, name, alias in sorted(imports):
        if name:
            by_module.setdefault(module, []).append(name if name == alias else f"{name} as {alias}")
        else:
            by_module.setdefault(f"import {module}", []).append("" if module == alias else f" as {alias}")
    for key in sorted(by_module, key=lambda k: (not k.startswith("import "), k.removeprefix("import "))):
        module = key.removeprefix("import ")
        root = module.partition(".")[0]
        group = groups[0 if root in sys.stdlib_module_names else 2 if root == project_root else 1]
        if key.startswith("import "):
            group += [f"import {module}{alias}" for alias in by_module[key]]
        else:
            group.append(f"from {module} import {', '.join(sorted(by_module[key]))}")
    return "\n\n".join("\n".join(group) for group in groups if group)


def async_url(url: str) -> str:
    """A literal URL with its driver switched to an async one (unchanged when it is async already)."""
    scheme, sep, rest = url.partition("://")
    driver = _async_scheme(scheme) if sep else None
    return f"{driver}://{rest}" if driver else url
