"""What the project index keeps of a module, in forms that round-trip through JSON for the result cache and for
worker processes: the facts the project-wide questions read of it (`ModuleFacts`), the names and summaries kept once
its model is let go (`ReleasedModule`), and what computing those read of the rest of the project (`ModuleReads`)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from flake8_async_sqla.core.engines import SqliteFacts, state_disposals
from flake8_async_sqla.core.names import EXTERNAL_ROOTS
from flake8_async_sqla.core.project_text import DATABASE_IMPORTS, store_keys_in
from flake8_async_sqla.core.summaries import FunctionSummary, Symbol, symbol_from_json, symbol_to_json
from flake8_async_sqla.core.urls import UrlFacts

if TYPE_CHECKING:
    from flake8_async_sqla.core.model import Scope, SemanticModel


@dataclass(frozen=True)


class ModuleFacts:
    """What the project-wide questions need of one module, read from its text alone (its path gives
    its module name), so that it can be cached by content: the names it imports, the callables it
    names in `Depends(...)`/`Security(...)`, what its `.dispose` calls reach on an app's state, who
    calls which project function, what runs at startup and where it hands an app to a function."""

    imports: dict[str, str] = field(default_factory=dict)
    dependency_targets: frozenset[str] = frozenset()
    disposed_state: frozenset[str] = frozenset()
    disposes_untraced: bool = False
    # Project functions this module calls, each with the functions calling it here ("" for module level).
    callers: dict[str, frozenset[str]] = field(default_factory=dict)
    # Its functions that run at startup: the app's lifespan and startup event handlers.
    startup: frozenset[str] = frozenset()
    # Project functions this module passes an app to, each with where: positions ("0") and keyword names.
    app_arguments: dict[str, frozenset[str]] = field(default_factory=dict)
    urls: UrlFacts = field(default_factory=UrlFacts)  # what it says about database URLs
    # Where its functions keep a session for other code (`state.db`, `ctx[db]`), with the kind kept (see the model).
    session_stores: dict[str, str] = field(default_factory=dict)
    # Read from its text: where it stores something (see `store_keys_in`), and whether it imports the asyncio
    # extension ("asyncio") or a synchronous session or engine ("sync"). With the facts above, all that the
    # project-wide answers read of the module (see `ProjectIndex.still_answers`).
    store_keys: frozenset[str] = frozenset()
    database_imports: frozenset[str] = frozenset()
    # The one fact not of its text alone: the kind of session it stores rests on what other modules define (the
    # factory it calls). So a module that stores something keeps the digests of the files its model read names of,
    # and its facts are made again when one of them changes (see `ProjectIndex.facts`).
    reads: dict[str, str] = field(default_factory=dict, compare=False)
    # And the module names its model looked up, each from a folder, with the file found ("" for none): a module
    # created, deleted or shadowed since changes what it stores too.
    resolved: tuple[tuple[str, str, str], ...] = field(default=(), compare=False)

    @classmethod
    def of(cls, model: SemanticModel, text: bytes) -> ModuleFacts:
        targets: set[str] = set()
        callers: dict[str, set[str]] = {}
        app_arguments: dict[str, set[str]] = {}
        for scope in model.scopes:
            function = scope.function_scope
            caller = function.qualname if function is not None else ""
            for call in scope.calls:
                target = model.dependency_target(call)
                qualname = model.qualname(target) if target is not None else None
                if qualname:
                    targets.add(qualname)
                callee = model.qualname(call.func)
                if callee and callee.partition(".")[0] not in EXTERNAL_ROOTS and callee.partition(".")[0] in model.project_roots:
                    callers.setdefault(callee, set()).add(caller)
                    keys = _app_argument_keys(model, call, scope)
                    if keys:
                        app_arguments.setdefault(callee, set()).update(keys)
        disposed, untraced = state_disposals(model)
        startup = frozenset(s.qualname for s in model.scopes if s.kind == "function" and model.runs_at_startup(s))
        return cls(
            dict(model.imports), frozenset(targets), disposed, untraced,
            {callee: frozenset(found) for callee, found in callers.items()}, startup,
            {callee: frozenset(keys) for callee, keys in app_arguments.items()}, UrlFacts.of(model), model.session_stores,
            store_keys_in(text), frozenset(kind for kind, pattern in DATABASE_IMPORTS.items() if pattern.search(text)),
        )

    def to_json(self) -> dict:
        return {
            "imports": self.imports,
            "dependency_targets": sorted(self.dependency_targets),
            "disposed_state": sorted(self.disposed_state),
            "disposes_untraced": self.disposes_untraced,
            "callers": {callee: sorted(found) for callee, found in sorted(self.callers.items())},
            "startup": sorted(self.startup),
            "app_arguments": {callee: sorted(keys) for callee, keys in sorted(self.app_arguments.items())},
            "urls": self.urls.to_json(),
            "session_stores": self.session_stores,
            "store_keys": sorted(self.store_keys),
            "database_imports": sorted(self.database_imports),
            "reads": self.reads,
            "resolved": [list(entry) for entry in self.resolved],
        }

    @classmethod
    def from_json(cls, data: dict) -> ModuleFacts:
        return cls(
            {str(k): str(v) for k, v in data["imports"].items()},
            frozenset(map(str, data["dependency_targets"])),
            frozenset(map(str, data["disposed_state"])),
            bool(data["disposes_untraced"]),
            {str(callee): frozenset(map(str, found)) for callee, found in data["callers"].items()},
            frozenset(map(str, data["startup"])),
            {str(callee): frozenset(map(str, keys)) for callee, keys in data["app_arguments"].items()},
            UrlFacts.from_json(data["urls"]),
            {str(key): str(kind) for key, kind in data["session_stores"].items()},
            frozenset(map(str, data["store_keys"])),
            frozenset(map(str, data["database_imports"])),
            {str(path): str(digest) for path, digest in data["reads"].items()},
            tuple((str(module), str(folder), str(found)) for module, folder, found in data["resolved"]),
        )


def _app_argument_keys(model: SemanticModel, call: ast.Call, scope: Scope) -> set[str]:
    """Where `call` passes an app (by the module's text): positions ("0") and keyword names."""
    keys = set()
    for position, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred):
            break  # the positions after it are unknown
        if model.holds_app_by_its_text(arg, scope):
            keys.add(str(position))
    keys.update(kw.arg for kw in call.keywords if kw.arg is not None and model.holds_app_by_its_text(kw.value, scope))
    return keys


@dataclass(slots=True)


class ModuleReads:
    """What computing a module's names and summaries read of the rest of the project, while its model was at
    hand: what the index keeps of the module when it lets the model go holds while these do (see
    `ProjectIndex.records`)."""

    interfaces: set[str] = field(default_factory=set)  # files whose names (and their summaries) it read
    texts: set[str] = field(default_factory=set)  # files whose text it read
    answers: dict[tuple[str, str, str], object] = field(default_factory=dict)  # project-wide answers it was given
    resolved: dict[tuple[str, str], str | None] = field(default_factory=dict)  # (module, folder) -> the file found
    whole_project: bool = False  # it read facts of every file of the project
    # Names of its functions that another file names, each with one such file (see `_named_elsewhere`).
    witnesses: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)


class ReleasedModule:
    """What lookups need of a module whose model was let go after its check: its module name, its
    imports, and what each name it defines is."""

    module: str
    imports: dict[str, str]
    symbols: dict[str, Symbol | None]
    sqlite: SqliteFacts

    def to_json(self) -> dict:
        return {
            "module": self.module,
            "imports": self.imports,
            "symbols": {name: symbol_to_json(symbol) for name, symbol in sorted(self.symbols.items())},
            "sqlite": [list(self.sqlite.sqlite_engines), self.sqlite.begin_workaround],
        }

    @classmethod
    def from_json(cls, data: dict) -> ReleasedModule:
        engines, workaround = data["sqlite"]
        return cls(
            str(data["module"]),
            {str(local): str(imported) for local, imported in data["imports"].items()},
            {str(name): symbol_from_json(symbol) for name, symbol in data["symbols"].items()},
            SqliteFacts(tuple(map(bool, engines)), bool(workaround)),
        )


def function_summaries(module: ReleasedModule) -> Iterable[FunctionSummary]:
    """The summaries of the functions, dependency providers and methods a released module keeps."""
    for symbol in module.symbols.values():
        if symbol is None:
            continue
        yield from (summary for summary in (symbol.function, symbol.provider) if summary is not None)
        if symbol.klass is not None:
            yield from symbol.klass.methods.values()
