"""The per-file semantic model: one iterative walk, then facts the rules ask for.

The walk never recurses on the Python stack, so a 5,000-term expression or a
3,000-link attribute chain is as safe as any other file. Facts that need another
module (a router, a session dependency, a model's relationships) are asked of the
project index lazily, so a file with nothing database-related costs one walk.

This module holds the walk, the scopes, names (imports resolved to qualified names,
symbols of this module and of others) and what values are; the model's other facts
are its bases, each in its own module: sessions, connections and engines
(`sessions.py`), which function a call runs and each function's summary
(`functions.py`), FastAPI (`framework.py`) and the ORM (`mapping.py`).
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.layout import ROOT_MARKERS, project_root
from flake8_async_sqla.core.framework import FastAPIFacts
from flake8_async_sqla.core.functions import FunctionFacts
from flake8_async_sqla.core.mapping import MappingFacts
from flake8_async_sqla.core.options import DEFAULT_OPTIONS, AnalysisOptions
from flake8_async_sqla.core.resolver import module_path
from flake8_async_sqla.core.sessions import SessionBinding, SessionFacts
from flake8_async_sqla.core.syntax import (
    FUNCTION_NODES, LOOP_NODES, UNRESOLVED, WITH_NODES, all_args, assigned_names, call_method, dotted,
    expire_on_commit_setting, keyword, names_an_engine, self_attribute_stored, statements_in,
)
from flake8_async_sqla.core.summaries import ClassSummary, FunctionSummary, Symbol, without_nodes

if TYPE_CHECKING:
    from flake8_async_sqla.core.resolver import Resolver

TYPE_ALIAS_NODE = getattr(ast, "TypeAlias", None)  # `type X = ...`, Python 3.12+
# Node types whose nodes a scope collects, and the Scope list each goes to.
BUCKETS: dict[type, str] = {
    ast.Call: "calls",
    ast.Attribute: "attributes",
    ast.Assign: "assigns",
    ast.AnnAssign: "assigns",
    ast.NamedExpr: "assigns",
    ast.AugAssign: "assigns",
    ast.With: "withs",
    ast.AsyncWith: "withs",
    ast.Yield: "yields",
    ast.YieldFrom: "yields",
    ast.Return: "returns",
    **{loop: "loops" for loop in LOOP_NODES},
}
SCOPE_NODES: dict[type, str] = {ast.FunctionDef: "function", ast.AsyncFunctionDef: "function", ast.Lambda: "lambda", ast.ClassDef: "class"}
# Node types the walk records something for: a bucket name, or what else it notes.
NODE_KINDS: dict[type, str] = {**BUCKETS, ast.Global: "global", ast.Nonlocal: "global", ast.Import: "import", ast.ImportFrom: "import"}
if TYPE_ALIAS_NODE is not None:
    NODE_KINDS[TYPE_ALIAS_NODE] = "type alias"
# Fields that never hold a node to visit: identifiers, numbers, flags, and the shared context and
# operator singletons (`Load()`, `Add()`), which carry no facts.
SCALAR_FIELDS = frozenset(
    {"ctx", "op", "ops", "id", "attr", "arg", "asname", "name", "kind", "type_comment", "module", "level",
     "conversion", "is_async", "simple", "rest", "tag", "lineno"}
)


class ChildFields(dict):
    """Per node type, the fields that may hold child nodes, last first (the walk pushes them on a stack)."""

    def __missing__(self, node_type: type) -> tuple[str, ...]:
        if node_type in (ast.Constant, ast.MatchSingleton):
            fields: tuple[str, ...] = ()  # their `value` is a Python constant
        else:
            fields = tuple(
                name
                for name in reversed(node_type._fields)
                if name not in SCALAR_FIELDS or (name == "name" and node_type is TYPE_ALIAS_NODE)  # `type X = ...` names a Name node
            )
        self[node_type] = fields
        return fields


CHILD_FIELDS = ChildFields()
# How many project modules (a file and what it imports, transitively) a file's project facts read.
MAX_VISIBLE_MODULES = 50
# ExitStack methods that enter a context manager and hand back what it yields.
EXIT_STACK_ENTERS = {"enter_context", "enter_async_context"}


@dataclass(eq=False)
class Scope:
    node: ast.AST
    kind: str  # "module", "function", "class", "lambda"
    parent: Scope | None
    name: str = ""
    qualname: str = ""
    is_async: bool = False
    klass: Scope | None = None  # enclosing class scope, for methods
    calls: list[ast.Call] = field(default_factory=list)
    assigns: list[ast.AST] = field(default_factory=list)
    withs: list[ast.AST] = field(default_factory=list)
    attributes: list[ast.Attribute] = field(default_factory=list)
    yields: list[ast.AST] = field(default_factory=list)
    returns: list[ast.Return] = field(default_factory=list)
    loops: list[ast.AST] = field(default_factory=list)
    global_names: set[str] = field(default_factory=set)  # declared `global` or `nonlocal`
    nonlocal_names: set[str] = field(default_factory=set)  # the `nonlocal` ones among them
    children: list[Scope] = field(default_factory=list)
    # Filled in lazily by the model.
    _sessions: dict[str, SessionBinding] | None = None
    _holders: dict[str, SessionBinding] | None = None
    _session_calls: dict[ast.Call, tuple[SessionBinding, str]] | None = None

    @property
    def function_scope(self) -> Scope | None:
        """The nearest enclosing function (itself included); lambdas belong to their function."""
        scope: Scope | None = self
        while scope is not None and scope.kind not in ("function", "module"):
            scope = scope.parent
        return scope if scope is not None and scope.kind == "function" else None


def module_name_for(path: str) -> str:
    """Dotted module name of a file: its name plus every enclosing package folder. A file in a folder without
    `__init__.py` (a namespace package, as many applications' `app/` is) is named from the project root down
    (`app/db.py` is `app.db`, as its importers write it), leaving out a `src` folder at the top."""
    import os

    path = os.path.abspath(path)
    folder, filename = os.path.split(path)
    stem = filename[:-3] if filename.endswith(".py") else filename
    parts = [] if stem == "__init__" else [stem]
    if not os.path.isfile(os.path.join(folder, "__init__.py")):
        return ".".join([*_namespace_packages(folder), *parts]) or stem
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        folder, package = os.path.split(folder)
        parts.insert(0, package)
        if not package:
            break
    return ".".join(parts) or stem


def _namespace_packages(folder: str) -> list[str]:
    """The folders from a marked project root (pyproject.toml, setup.cfg, .git) down to `folder`, when they are
    all names an import can spell."""
    import os

    root = project_root(os.path.join(folder, "_"))
    if root == folder or not any(os.path.exists(os.path.join(root, marker)) for marker in ROOT_MARKERS):
        return []
    packages = os.path.relpath(folder, root).split(os.sep)
    if packages[0] == "src":
        packages = packages[1:]
    return packages if all(part.isidentifier() for part in packages) else []


class SemanticModel(SessionFacts, FunctionFacts, FastAPIFacts, MappingFacts):
    """Facts about one file, computed once and shared by every rule."""

    def __init__(
        self,
        tree: ast.Module,
        path: str = "<unknown>",
        module: str | None = None,
        index: Resolver | None = None,
        options: AnalysisOptions | None = None,
    ) -> None:
        self.tree = tree
        self.path = path
        self.module = module if module is not None else module_name_for(path)
        self.index = index
        self.options = options or (index.options if index is not None else DEFAULT_OPTIONS)
        self.parents: dict[ast.AST, ast.AST] = {}
        self.scope_of: dict[ast.AST, Scope] = {}
        self.imports: dict[str, str] = {}
        self.module_scope = Scope(tree, "module", None, name=self.module, qualname=self.module)
        self.scopes: list[Scope] = [self.module_scope]
        self.classes: dict[str, Scope] = {}
        self.local_defs: dict[str, ast.AST] = {}
        self._symbols: dict[str, Symbol | None] = {}
        self._visible: list[tuple[str, dict[str, str]]] | None = None
        self._resolving: set[str] = set()
        self._local_symbols: dict[tuple[Scope, str], Symbol | None] = {}
        self._qualnames: dict[ast.AST, str | None] = {}
        self._looked_up: dict[str, Symbol | None] = {}
        self._assignment_tables: dict[Scope, dict[str, list[ast.AST]]] = {}
        self._own_name_sets: dict[Scope, set[str]] = {}
        self._api_calls: list[tuple[ast.Call, Scope, str]] | None = None
        self._engine_calls: list[tuple[ast.Call, Scope, str]] | None = None
        self._calls_by_method: dict[str, list[tuple[ast.Call, Scope]]] | None = None
        self._self_factories: dict[tuple[Scope, str], Symbol | None] = {}  # see `_self_factory`
        self._class_stores: dict[Scope, dict[str, list[tuple[ast.expr, Scope]]]] = {}  # see `_stores_in_self`
        SessionFacts.__init__(self)
        FunctionFacts.__init__(self)
        MappingFacts.__init__(self)
        self._walk()
        self._follow_reexported_api_names()

    def _follow_reexported_api_names(self) -> None:
        """`from app.db import AsyncSession` where `app/db.py` imports it from SQLAlchemy: the name means
        SQLAlchemy's class, as if imported from there (asked of the project index, from the module's text)."""
        if self.index is None:
            return
        for local, imported in self.imports.items():
            module, _, name = imported.rpartition(".")
            root = module.partition(".")[0]
            if name in names.REEXPORTED_API_NAMES and root and root not in names.SQLALCHEMY_ROOTS + names.FASTAPI_ROOTS:
                original = self.index.reexported_api(module, name, self.path)
                if original is not None:
                    self.imports[local] = original

    # ------------------------------------------------------------------ walk
    def _walk(self) -> None:
        stack: list[tuple[ast.AST, ast.AST | None, Scope]] = [(self.tree, None, self.module_scope)]
        pop, push = stack.pop, stack.append
        parents = self.parents
        scope_of = self.scope_of
        # The hot path: one dict lookup per node type instead of isinstance tests, and only the
        # fields that can hold nodes (ast.iter_child_nodes, inlined).
        while stack:
            node, parent, scope = pop()
            if parent is not None:
                parents[node] = parent
            node_type = type(node)
            if node_type in SCOPE_NODES:
                self._enter_scope(stack, node, SCOPE_NODES[node_type], scope)
                continue
            scope_of[node] = scope
            kind = NODE_KINDS.get(node_type)
            if kind is not None:
                self._record(node, kind, scope)
            for name in CHILD_FIELDS[node_type]:
                value = getattr(node, name, None)
                if type(value) is list:
                    for item in reversed(value):
                        if isinstance(item, ast.AST):  # not the None of `{**d}` keys, the strings of `global a, b`
                            push((item, node, scope))
                elif value is not None:
                    push((value, node, scope))

    def _enter_scope(self, stack: list, node: ast.AST, kind: str, scope: Scope) -> None:
        """A function, lambda or class: its body is walked in a new scope; decorators, bases,
        defaults and annotations in the enclosing one, where they are evaluated."""
        if kind == "lambda":
            inner = self._new_scope(node, kind, scope, "<lambda>")
            self._push(stack, node, scope, [node.args])
            self._push(stack, node, inner, [node.body])
            return
        inner = self._new_scope(node, kind, scope, node.name)
        self._bind_local(node.name, node, scope)
        if kind == "class":
            if scope is self.module_scope:
                self.classes[node.name] = inner
            self._push(stack, node, scope, node.decorator_list + node.bases + node.keywords)
        else:
            inner.is_async = isinstance(node, ast.AsyncFunctionDef)
            self._push(stack, node, scope, node.decorator_list)
            self._push(stack, node, scope, [node.args])
            if node.returns is not None:
                self._push(stack, node, scope, [node.returns])
        self._push(stack, node, inner, node.body)

    def _record(self, node: ast.AST, kind: str, scope: Scope) -> None:
        """What the walk notes of a node of NODE_KINDS: its scope's bucket, imports, `global` names."""
        if kind == "global":
            scope.global_names.update(node.names)
            if isinstance(node, ast.Nonlocal):
                scope.nonlocal_names.update(node.names)
        elif kind == "import":
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.imports[alias.asname] = alias.name
                    else:
                        top = alias.name.partition(".")[0]
                        self.imports[top] = top
            else:
                base = self._absolute_module(node.module, node.level)
                for alias in node.names:
                    if alias.name != "*":
                        self.imports[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
        elif kind == "type alias":
            if isinstance(node.name, ast.Name):
                self.local_defs[node.name.id] = node
            scope.assigns.append(node)
        else:
            getattr(scope, kind).append(node)
            if kind == "assigns" and scope.kind == "module" and isinstance(node, (ast.Assign, ast.AnnAssign)):
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    if isinstance(target, ast.Name):
                        self.local_defs[target.id] = node

    @staticmethod
    def _push(stack: list, parent: ast.AST, scope: Scope, children) -> None:
        stack.extend((child, parent, scope) for child in reversed(list(children)))

    def _new_scope(self, node: ast.AST, kind: str, parent: Scope, name: str) -> Scope:
        klass = parent if parent.kind == "class" else None
        qualname = f"{parent.qualname}.{name}"
        scope = Scope(node, kind, parent, name=name, qualname=qualname, klass=klass)
        parent.children.append(scope)
        self.scopes.append(scope)
        self.scope_of[node] = scope
        return scope

    def _bind_local(self, name: str, node: ast.AST, scope: Scope) -> None:
        if scope is self.module_scope:
            self.local_defs[name] = node

    def _absolute_module(self, module: str | None, level: int) -> str:
        if not level:
            return module or ""
        package = self.module.split(".")
        is_package = self.path.endswith("__init__.py")
        keep = len(package) - level + (1 if is_package else 0)
        base = package[: max(keep, 0)]
        if module:
            base.append(module)
        return ".".join(base)

    # ----------------------------------------------------------- name lookup
    def qualname(self, node: ast.AST) -> str | None:
        """The qualified name an expression refers to: imports resolved, locals prefixed by the module.

        Memoised per node: every rule asks about the same calls (one lookup on the hot path; `get`, as
        nearly half the calls are a node's first, where a raised KeyError would cost more than the rest)."""
        result = self._qualnames.get(node, UNRESOLVED)
        if result is not UNRESOLVED:
            return result  # type: ignore[return-value]
        result = None
        base = node
        while isinstance(base, ast.Attribute):
            base = base.value
        # Only names and attributes resolve; most heads are neither imported nor defined here (`session.add`).
        if isinstance(base, ast.Name) and (base.id in self.imports or base.id in self.local_defs):
            head = self.imports[base.id] if base.id in self.imports else f"{self.module}.{base.id}"
            result = head if base is node else ".".join([head, *dotted(node)[1:]])  # type: ignore[misc]
        self._qualnames[node] = result
        return result

    def assignment_target(self, value: ast.AST) -> ast.expr | None:
        """Where a value is stored: the one target of `x = value` / `x: T = value` (also `x = await value`)."""
        parent = self.parents.get(value)
        if isinstance(parent, ast.Await):
            value, parent = parent, self.parents.get(parent)
        if isinstance(parent, ast.Assign) and len(parent.targets) == 1 and parent.value is value:
            return parent.targets[0]
        if isinstance(parent, ast.AnnAssign) and parent.value is value:
            return parent.target
        return None

    def engine_factory(self, call: ast.Call) -> str | None:
        """The name of the engine factory a call uses: SQLAlchemy's, or a configured wrapper."""
        qualname = self.qualname(call.func)
        api = names.sqlalchemy_api(qualname)
        if api in names.ENGINE_FACTORIES:
            return api
        if self.options.matches(self.options.engine_factories, qualname):
            return (qualname or "").rpartition(".")[2]
        return None

    def api(self, node: ast.AST) -> str | None:
        """The SQLAlchemy API name an expression refers to (`create_async_engine`), if any."""
        return names.sqlalchemy_api(self.qualname(node))

    def api_calls(self) -> list[tuple[ast.Call, Scope, str]]:
        """Every call of a SQLAlchemy API in the file (`create_async_engine(url)`, also through a generic
        alias: `async_sessionmaker[AsyncSession](...)`), in scope order, with its scope and the API's name:
        resolved once for the rules that look for such calls only."""
        if self._api_calls is None:
            self._api_calls = []
            heads = self._sqlalchemy_heads()
            for scope in self.scopes if heads else ():
                for call in scope.calls:
                    func = call.func.value if isinstance(call.func, ast.Subscript) else call.func
                    base = func
                    while isinstance(base, ast.Attribute):
                        base = base.value
                    # Only a call through a name that leads into SQLAlchemy can be one of its APIs.
                    if isinstance(base, ast.Name) and base.id in heads and (api := self.api(func)) is not None:
                        self._api_calls.append((call, scope, api))
        return self._api_calls

    def _sqlalchemy_heads(self) -> set[str]:
        """The names whose qualified name (as `qualname` resolves them) lies in SQLAlchemy or SQLModel."""
        heads = {name for name, qualname in self.imports.items() if qualname.partition(".")[0] in names.SQLALCHEMY_ROOTS}
        if self.module.partition(".")[0] in names.SQLALCHEMY_ROOTS:  # linting SQLAlchemy itself
            heads.update(name for name in self.local_defs if name not in self.imports)
        return heads

    def engine_calls(self) -> list[tuple[ast.Call, Scope, str]]:
        """Every call that creates an engine, in scope order, with its scope and `engine_factory`'s name for it."""
        if self._engine_calls is None:
            if self.options.engine_factories:  # a configured wrapper may be any call
                calls = ((call, scope) for scope in self.scopes for call in scope.calls)
            else:  # SQLAlchemy's factories only: among the calls of SQLAlchemy APIs, found once
                calls = ((call, scope) for call, scope, api in self.api_calls() if api in names.ENGINE_FACTORIES)
            self._engine_calls = [(call, scope, factory) for call, scope in calls if (factory := self.engine_factory(call)) is not None]
            # The project's own engine factories (`make_engine()`), judged by what the function returns.
            self._engine_calls += [
                (call, scope, dotted(call.func)[-1])  # type: ignore[index]
                for scope in self.scopes
                for call in scope.calls
                if names_an_engine(call) and self.engine_factory(call) is None and self.creates_engine(call, scope)
            ]
        return self._engine_calls

    def symbol(self, qualname: str | None) -> Symbol | None:
        """What a qualified name is: looked up here for local names, else in the project index."""
        if not qualname:
            return None
        prefix = self.module + "."
        if qualname.startswith(prefix) and "." not in qualname[len(prefix):]:
            return self.export(qualname[len(prefix):])
        if self.index is None:
            return None
        if self._resolving:  # inside an export: a cycle may be cut short here, so the answer is not kept
            return self.index.lookup(qualname, self.path)
        # Memoised per name: every handler's parameters ask for the same imported alias (`SessionDep`).
        if qualname not in self._looked_up:
            self._looked_up[qualname] = self.index.lookup(qualname, self.path)
        return self._looked_up[qualname]

    def symbol_of(self, node: ast.AST) -> Symbol | None:
        return self.symbol(self.qualname(node))

    def export(self, name: str) -> Symbol | None:
        """What a module-level name of this file is (lazy, memoised, safe against cycles)."""
        if name in self._symbols:
            return self._symbols[name]
        if name in self._resolving:
            return None
        self._resolving.add(name)
        try:
            result = self._compute_export(name)
        finally:
            self._resolving.discard(name)
        self._symbols[name] = result
        return result

    def defined_symbols(self) -> dict[str, Symbol | None]:
        """What each name defined at module level here is (its imports aside: they are followed where
        they lead), for the index to keep once this model is let go: without syntax nodes, which only
        this file's own check reports on, so that the index keeps no piece of the tree."""
        return {name: without_nodes(self.export(name)) for name in self.local_defs}

    def detach(self, fallback_of: Callable[[FunctionSummary], Callable[[str], object] | None] | None = None) -> None:
        """Free this model to be reclaimed as soon as the index lets it go, without waiting for the
        cyclic collector: the function summaries handed out so far compute what they have not computed yet
        (see `FunctionSummary.settle`), except those `fallback_of` gives a fallback (see `FunctionSummary.forgo`),
        and the model and its scopes drop everything they hold (scopes link to each other, and the facts
        memoised on them and on the model link back to it). The model must not be used afterwards."""
        handled: set[int] = set()
        forgone: list[tuple[FunctionSummary, Callable[[str], object]]] = []
        while True:  # settling one summary may make others (of the functions it calls)
            summaries = [s for scope in self.scopes if (s := getattr(scope, "_summary", None)) and id(s) not in handled]
            if not summaries:
                break
            for summary in summaries:
                handled.add(id(summary))
                fallback = fallback_of(summary) if fallback_of is not None else None
                if fallback is None:
                    summary.settle()
                else:
                    forgone.append((summary, fallback))
        # Only once every settled summary is: settling one may ask a forgone function, computed from its probe.
        for summary, fallback in forgone:
            summary.forgo(fallback)
        for scope in self.scopes:
            vars(scope).clear()
        vars(self).clear()

    def _compute_export(self, name: str) -> Symbol | None:
        node = self.local_defs.get(name)
        if node is None:
            if name in self.imports:
                return self.symbol(self.imports[name])
            return None
        if isinstance(node, FUNCTION_NODES):
            return Symbol("function", function=self.function_summary(self.scope_of[node]))
        if isinstance(node, ast.ClassDef):
            return Symbol("class", klass=self.class_summary(self.scope_of[node]))
        value = getattr(node, "value", None)
        if value is None:
            return None
        if isinstance(node, ast.AnnAssign) and self._is_type_alias_annotation(node.annotation):
            return self._alias_symbol(value)
        if hasattr(ast, "TypeAlias") and isinstance(node, ast.TypeAlias):
            return self._alias_symbol(value)
        symbol = (
            self._declarative_base(name, value) or self.classify_value(value, self.module_scope)
            or self._alias_symbol(value) or self._instance_symbol(value)
        )
        if symbol is not None and symbol.kind == "factory" and self._reconfigures_expiry(name):
            return replace(symbol, expires_on_commit=None)
        return symbol

    def _declarative_base(self, name: str, value: ast.AST) -> Symbol | None:
        """`Base = declarative_base(cls=OrmBase)`: a declarative base class, whose own base is the `cls=` class (its
        methods, `__tablename__` and columns are every model's)."""
        if not (isinstance(value, ast.Call) and names.sqlalchemy_api(self.qualname(value.func)) == "declarative_base"):
            return None
        cls = keyword(value, "cls")
        base = self.qualname(cls) if cls is not None else None
        return Symbol("class", klass=ClassSummary(f"{self.module}.{name}", (base,) if base else (), {}, is_declarative_root=True))

    def _instance_symbol(self, value: ast.AST) -> Symbol | None:
        """A module-level object built by a project class (`user = CRUDUser(User)`): other modules' calls of its
        methods (`crud.user.get(db, id)`) run that class's."""
        built = self.symbol_of(value.func) if isinstance(value, ast.Call) else None
        if built is None or built.kind != "class" or built.klass is None:
            return None
        return Symbol("object", instance_of=built.klass.qualname)

    def _reconfigures_expiry(self, factory: str) -> bool:
        """Whether this module calls `<factory>.configure(...)` with `expire_on_commit` (or `**options`)."""
        for scope in self.scopes:
            for call in scope.calls:
                method = call_method(call)
                if (
                    method is not None
                    and method[1] == "configure"
                    and isinstance(method[0], ast.Name)
                    and method[0].id == factory
                    and any(kw.arg in (None, "expire_on_commit") for kw in call.keywords)
                ):
                    return True
        return False

    def _is_type_alias_annotation(self, node: ast.AST) -> bool:
        return (self.qualname(node) or "").rpartition(".")[2] == "TypeAlias"

    def _alias_symbol(self, value: ast.AST) -> Symbol | None:
        kind, provider = self.annotation_session(value)
        injected = self.declares_dependency(value)
        if kind is None and not injected:
            return None
        return Symbol("alias", flavour=kind, provider=provider, declares_dependency=injected)

    # --------------------------------------------------------- value facts
    def _session_class_kind(self, factory_call: ast.Call) -> str | None:
        """The kind of session a factory makes by its `class_=` (`sessionmaker(engine, class_=AsyncSession)`)."""
        for argument in factory_call.keywords:
            if argument.arg == "class_":
                return names.SESSION_CLASSES.get(names.sqlalchemy_api(self.qualname(argument.value)) or "")
        return None

    def classify_value(self, value: ast.AST, scope: Scope) -> Symbol | None:
        """What an expression evaluates to: an app, engine, session factory or session."""
        if isinstance(value, ast.Await):
            value = value.value
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr in EXIT_STACK_ENTERS:
            # `stack.enter_async_context(factory())`: the session the context manager opens, closed by the stack.
            opened = self._opened_session(value.args[0], scope) if value.args else None
            return Symbol("session", flavour=opened[0], expires_on_commit=opened[2]) if opened else None
        if isinstance(value, ast.Call):
            func_qualname = self.qualname(value.func)
            if func_qualname is None and not isinstance(value.func, ast.Name):
                return self._session_from_call_result(value, scope)
            api = names.sqlalchemy_api(func_qualname)
            if api in names.ENGINE_FACTORIES:
                return Symbol("engine", flavour=names.ENGINE_FACTORIES[api])
            if self.options.matches(self.options.engine_factories, func_qualname):
                return Symbol("engine", flavour="async")
            if self.options.matches(self.options.session_factories, func_qualname):
                return Symbol("session", flavour="async")
            if api in names.SESSION_FACTORY_CLASSES:
                flavour = self._session_class_kind(value) or names.SESSION_FACTORY_CLASSES[api]
                return Symbol("factory", flavour=flavour, expires_on_commit=expire_on_commit_setting(value))
            if api in names.SCOPED_REGISTRIES:
                return Symbol("factory", flavour=names.SCOPED_REGISTRIES[api], registry=True)
            if api in names.SESSION_CLASSES:
                return Symbol("session", flavour=names.SESSION_CLASSES[api], expires_on_commit=expire_on_commit_setting(value))
            if api in names.OBJECT_SESSION_FUNCTIONS:
                on_async_class = isinstance(value.func, ast.Attribute) and self.api(value.func.value) == "AsyncSession"
                return Symbol("session", flavour="async" if on_async_class else names.OBJECT_SESSION_FUNCTIONS[api])
            if api is not None:  # any other SQLAlchemy name (`select`, `mapped_column`): no project code to look up
                return None
            if names.fastapi_api(func_qualname) in names.APP_CLASSES:
                return Symbol("app")
            factory = self.factory_symbol(value.func, scope)
            if factory is not None:
                return Symbol("session", flavour=factory.flavour or "async", expires_on_commit=factory.expires_on_commit)
            symbol = self.symbol(func_qualname)
            if symbol is not None and symbol.klass is not None and self._subclasses_app(func_qualname):
                return Symbol("app")  # a project's own router class (`class APIRouter(fastapi.APIRouter)`)
            if symbol is not None and symbol.function is not None and symbol.function.returns_session:
                function = symbol.function
                return Symbol("session", flavour=function.returns_session, expires_on_commit=function.session_expires_on_commit)
            if symbol is not None and symbol.function is not None and symbol.function.returns_factory:
                return Symbol("factory", flavour=symbol.function.returns_factory)  # a project's factory of factories
            return None
        if isinstance(value, (ast.Name, ast.Attribute)):
            binding = self.session_binding(value, scope)
            if binding is not None:
                return Symbol("session", flavour=binding.kind, expires_on_commit=binding.expires_on_commit)
            symbol = self.symbol_of(value)
            if symbol is not None and symbol.kind in ("factory", "engine", "session", "app"):
                return symbol
            for_scope = self._lookup_local_symbol(value, scope)
            if for_scope is not None:
                return for_scope
        return None

    def _session_from_call_result(self, call: ast.Call, scope: Scope) -> Symbol | None:
        """The session a call of a factory expression opens: `sessionmaker(engine)()`, `self.maker()` where the class
        keeps a factory. (What a method hands back is followed only when a `with` enters it: see `_opened_session`.)"""
        factory = self.classify_value(call.func, scope) if isinstance(call.func, ast.Call) else self.factory_symbol(call.func, scope)
        if factory is not None and factory.kind == "factory":
            return Symbol("session", flavour=factory.flavour or "async", expires_on_commit=factory.expires_on_commit)
        return None

    def _lookup_local_symbol(self, node: ast.AST, scope: Scope) -> Symbol | None:
        """A factory or engine bound to a plain name inside a function (or its closures)."""
        if not isinstance(node, ast.Name):
            return None
        current: Scope | None = scope
        while current is not None and current.kind != "module":
            symbol = self._local_symbol(node.id, current)
            if symbol is not None:
                return symbol
            current = current.parent
        return None

    def _local_symbol(self, name: str, scope: Scope) -> Symbol | None:
        """What a name assigned in `scope` holds, if a factory or engine; memoised, and None
        while being computed, so `a = b(); b = a()` chains end instead of recursing."""
        key = (scope, name)
        if key in self._local_symbols:
            return self._local_symbols[key]
        self._local_symbols[key] = None
        result = None
        for assign in self._assignments(scope).get(name, ()):
            symbol = self.classify_value(assign.value, scope)  # type: ignore[attr-defined]
            if symbol is not None and symbol.kind in ("factory", "engine"):
                result = symbol
                break
        self._local_symbols[key] = result
        return result

    def _assignments(self, scope: Scope) -> dict[str, list[ast.AST]]:
        """A scope's assignments with a value, by assigned name (built once per scope)."""
        table = self._assignment_tables.get(scope)
        if table is None:
            table = {}
            for assign in scope.assigns:
                if getattr(assign, "value", None) is not None:
                    for assigned in assigned_names(assign):
                        table.setdefault(assigned, []).append(assign)
            self._assignment_tables[scope] = table
        return table

    def factory_of(self, node: ast.AST, scope: Scope) -> str | None:
        """The session kind a call of `node` opens, when `node` is a session factory."""
        symbol = self.factory_symbol(node, scope)
        return (symbol.flavour or "async") if symbol is not None else None

    def factory_symbol(self, node: ast.AST, scope: Scope) -> Symbol | None:
        """The session factory an expression holds, if it holds one."""
        symbol = self.symbol_of(node) if not isinstance(node, ast.Name) or node.id not in self._function_names(scope) else None
        if symbol is None:
            symbol = self._lookup_local_symbol(node, scope)
        if symbol is None and isinstance(node, ast.Name):
            symbol = self._factory_param(node.id, scope)
        if symbol is None and isinstance(node, ast.Attribute) and dotted(node.value) == ["self"]:
            symbol = self._self_factory(node.attr, scope)
        return symbol if symbol is not None and symbol.kind == "factory" else None

    def _self_factory(self, attribute: str, scope: Scope) -> Symbol | None:
        """The session factory a method's class keeps in `self.<attribute>` (`self.maker = async_sessionmaker(engine)`),
        when every store there is one."""
        function = scope.function_scope
        klass = function.klass if function is not None else None
        if klass is None:
            return None
        key = (klass, attribute)
        if key not in self._self_factories:
            self._self_factories[key] = None  # while it is worked out: `self.a = self.a` ends here
            symbols = [self.classify_value(value, method) for value, method in self._stores_in_self(klass).get(attribute, ())]
            kept = symbols[0] if symbols and all(s is not None and s.kind == "factory" for s in symbols) else None
            self._self_factories[key] = kept
        return self._self_factories[key]

    def _stores_in_self(self, klass: Scope) -> dict[str, list[tuple[ast.expr, Scope]]]:
        """What the methods of a class store in each `self` attribute (`x`, or `x[...]` for `self.x[key] = ...`),
        each value with the method storing it, in the order of the methods (built once per class)."""
        stores = self._class_stores.get(klass)
        if stores is None:
            stores = self._class_stores[klass] = {}
            for method in klass.children:
                if method.kind != "function":
                    continue
                for assign in method.assigns:
                    if isinstance(assign, (ast.Assign, ast.AnnAssign)) and assign.value is not None:
                        targets = assign.targets if isinstance(assign, ast.Assign) else [assign.target]
                        for attribute in dict.fromkeys(self_attribute_stored(target) for target in targets):
                            if attribute is not None:
                                stores.setdefault(attribute, []).append((assign.value, method))
        return stores

    def binds_locally(self, name: str, scope: Scope) -> bool:
        """Whether a function enclosing `scope` binds `name` (parameter, assignment, nested def), shadowing module names."""
        return self.binding_function(name, scope) is not None

    def binding_function(self, name: str, scope: Scope) -> Scope | None:
        """The innermost function (or lambda) around `scope` that binds `name`, or None for a module-level name."""
        current: Scope | None = scope
        while current is not None and current.kind != "module":
            if self.binds_itself(name, current):
                return current
            current = current.parent
        return None

    def binds_itself(self, name: str, scope: Scope) -> bool:
        """Whether a function or lambda binds `name` itself (parameter, assignment, nested def)."""
        return scope.kind in ("function", "lambda") and name not in scope.global_names and name in self._own_names(scope)

    def _own_names(self, scope: Scope) -> set[str]:
        """The names a function or lambda binds itself: parameters, nested functions, assignment targets
        (built once per scope: asked for every name a rule resolves)."""
        bound = self._own_name_sets.get(scope)
        if bound is None:
            bound = {arg.arg for arg in all_args(scope.node)}
            bound.update(child.name for child in scope.children if child.kind == "function")
            for assign in scope.assigns:
                bound.update(assigned_names(assign))
            self._own_name_sets[scope] = bound
        return bound

    def is_event_loop(self, node: ast.AST, scope: Scope) -> bool:
        """Whether an expression holds the running event loop: `asyncio.get_running_loop()` (or
        `get_event_loop()`), or a name this function or one around it bound only to that."""
        def gets_loop(value: ast.AST | None) -> bool:
            return isinstance(value, ast.Call) and self.qualname(value.func) in names.EVENT_LOOP_GETTERS

        if not isinstance(node, ast.Name):
            return gets_loop(node)
        current: Scope | None = scope
        while current is not None and current.kind in ("function", "lambda"):
            values = [getattr(a, "value", None) for a in current.assigns if node.id in assigned_names(a)]
            if values:
                return all(gets_loop(value) for value in values)
            current = current.parent
        return False

    def module_constant(self, name: str, scope: Scope) -> ast.expr | None:
        """The value of a module-level name assigned exactly once and never rebound (locally, in a
        class body around `scope`, or via `global`)."""
        if self.binds_locally(name, scope) or any(name in s.global_names for s in self.scopes):
            return None
        current: Scope | None = scope
        while current is not None and current.kind != "module":
            if current.kind == "class" and any(name in assigned_names(a) for a in current.assigns):
                return None
            current = current.parent
        assigns = [a for a in self.module_scope.assigns if name in assigned_names(a)]
        if len(assigns) != 1 or not isinstance(assigns[0], (ast.Assign, ast.AnnAssign)) or self.local_defs.get(name) is not assigns[0]:
            return None
        return assigns[0].value

    def _function_names(self, scope: Scope) -> set[str]:
        names_: set[str] = set()
        current: Scope | None = scope
        while current is not None and current.kind != "module":
            if current.kind == "function":
                names_.update(a.arg for a in all_args(current.node))
            current = current.parent
        return names_

    def _factory_param(self, name: str, scope: Scope) -> Symbol | None:
        current: Scope | None = scope
        while current is not None and current.kind != "module":
            if current.kind == "function":
                for arg in all_args(current.node):
                    if arg.arg == name and arg.annotation is not None:
                        ann = arg.annotation.value if isinstance(arg.annotation, ast.Subscript) else arg.annotation
                        api = self.api(ann)
                        if api in names.SESSION_FACTORY_CLASSES:
                            return Symbol("factory", flavour=names.SESSION_FACTORY_CLASSES[api])
            current = current.parent
        return None

    # ------------------------------------------------------- project facts
    def visible_paths(self) -> list[str]:
        """This file and the project modules it imports, directly or through each other (at most
        MAX_VISIBLE_MODULES; each is recorded as consulted, for the result cache)."""
        return [path for path, _ in self._visible_paths()]

    def _visible_imports(self) -> Iterator[dict[str, str]]:
        return (imports for _, imports in self._visible_paths())

    def _visible_paths(self) -> list[tuple[str, dict[str, str]]]:
        """`visible_paths`, each with what it imports: no module needs to be modelled for it."""
        if self._visible is not None:
            return self._visible
        found = [(os.path.abspath(self.path), self.imports)]
        self._visible = found
        index = self.index
        if index is None:
            return found

        seen = {found[0][0]}
        pending = [found[0]]
        while pending and len(found) < MAX_VISIBLE_MODULES:
            current, imports = pending.pop()
            for imported in sorted(set(imports.values())):
                if imported.partition(".")[0] in names.EXTERNAL_ROOTS:
                    continue  # the standard library and the frameworks are not project modules (as for `lookup`)
                path = module_path(index, imported, current, self.path)
                if path is None or path in seen:
                    continue
                seen.add(path)
                index.consult(path, self.path)
                other = index.imports_of(path)
                if other is not None:
                    found.append((path, other))
                    pending.append((path, other))
        return found

    def project_uses_asyncio_only(self) -> bool:
        """Whether the whole project uses only the asyncio extension for its database (see the index)."""
        return self.index is not None and self.index.uses_asyncio_only(self.path)

    def imports_asyncio_extension(self) -> bool:
        """Whether this file, or a project module it imports (directly or through others), imports
        SQLAlchemy's or SQLModel's asyncio extension: its classes are used with `AsyncSession`s."""
        return any(
            imported == root or imported.startswith(root + ".")
            for imports in self._visible_imports()
            for imported in imports.values()
            for root in names.ASYNCIO_EXTENSIONS
        )

    # ----------------------------------------------------- structure facts
    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        parent = self.parents.get(node)
        while parent is not None:
            yield parent
            parent = self.parents.get(parent)

    def in_begin_block(self, node: ast.AST, binding: SessionBinding, scope: Scope) -> bool:
        """Whether `node` sits inside `with <binding>.begin():` (or the session was opened by `.begin()`)."""
        return binding.transactional or any(self.transaction_blocks_around(node, binding, scope))

    def handling_except(self, node: ast.AST, scope: Scope) -> ast.ExceptHandler | None:
        """The `except` handler of `scope` that `node` runs in, if any (innermost)."""
        for ancestor in self.ancestors(node):
            if ancestor is scope.node:
                return None
            if isinstance(ancestor, ast.ExceptHandler):
                return ancestor
        return None

    def rollback_then_raises(self, call: ast.Call, scope: Scope) -> bool:
        """A `rollback()` in an `except` handler that raises (the error, or another) and never carries on: the
        transaction ends in failure either way, and whoever owns it sees the exception. A handler that may
        return or loop on instead (a fallback after a race) has thrown the owner's pending work away."""
        handler = self.handling_except(call, scope)
        if handler is None:
            return False
        statements = list(statements_in(handler.body))
        carries_on = (ast.Return, ast.Continue, ast.Break)
        return any(isinstance(node, ast.Raise) for node in statements) and not any(isinstance(node, carries_on) for node in statements)

    def in_loop(self, node: ast.AST, scope: Scope) -> bool:
        """Whether `node` runs in a loop of its own function."""
        for ancestor in self.ancestors(node):
            if ancestor is scope.node:
                return False
            if isinstance(ancestor, (ast.For, ast.AsyncFor, ast.While)):
                return True
        return False

    def transaction_blocks_around(self, node: ast.AST, binding: SessionBinding, scope: Scope) -> Iterator[str]:
        """"begin" / "begin_nested" for each `with <binding>.begin():` / `.begin_nested():` around `node` in `scope`."""
        for ancestor in self.ancestors(node):
            if ancestor is scope.node:
                return
            if isinstance(ancestor, WITH_NODES):
                for item in ancestor.items:
                    method = call_method(item.context_expr)
                    if method is not None and method[1] in ("begin", "begin_nested"):
                        if self.session_binding(method[0], scope) is binding or (
                            isinstance(method[0], ast.Name) and method[0].id == binding.name
                        ):
                            yield method[1]

    def function_calls(self) -> Iterator[tuple[ast.Call, Scope, Scope]]:
        """Every call made inside a function: (call, its scope, the enclosing function)."""
        for scope in self.scopes:
            function = scope.function_scope
            if function is not None:
                for call in scope.calls:
                    yield call, scope, function

    def method_calls(self, methods: Iterable[str]) -> list[tuple[ast.Call, Scope]]:
        """The calls `receiver.m(...)` of the file whose method `m` is one of `methods`, each with its scope
        (grouped by method once: rules that look for a few methods need not test every call)."""
        if self._calls_by_method is None:
            self._calls_by_method = {}
            for scope in self.scopes:
                for call in scope.calls:
                    if isinstance(call.func, ast.Attribute):
                        self._calls_by_method.setdefault(call.func.attr, []).append((call, scope))
        return [found for method in methods for found in self._calls_by_method.get(method, ())]

    def calls_within(self, scope: Scope) -> Iterator[tuple[ast.Call, Scope]]:
        """Every call in a function and in the functions and lambdas nested in it, with the call's scope."""
        pending = [scope]
        while pending:
            current = pending.pop()
            for call in current.calls:
                yield call, current
            pending.extend(child for child in current.children if child.kind in ("function", "lambda"))

    @cached_property
    def project_roots(self) -> frozenset[str]:
        """The top-level names of this module's project packages among what it is and what it imports."""
        roots = {self.module.partition(".")[0]}
        for imported in self.imports.values():
            root = imported.partition(".")[0]
            if root and root not in roots and self.index is not None and self.index.find_module(root, self.path) is not None:
                roots.add(root)
        return frozenset(roots)

    @cached_property
    def name_loads(self) -> dict[str, list[ast.Name]]:
        """Every read of a plain name in the file, by name."""
        loads: dict[str, list[ast.Name]] = {}
        for node in self.scope_of:
            if type(node) is ast.Name and type(node.ctx) is ast.Load:
                loads.setdefault(node.id, []).append(node)
        return loads
