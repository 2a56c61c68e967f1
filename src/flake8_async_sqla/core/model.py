"""The per-file semantic model: one iterative walk, then facts the rules ask for.

The walk never recurses on the Python stack, so a 5,000-term expression or a
3,000-link attribute chain is as safe as any other file. Facts that need another
module (a router, a session dependency, a model's relationships) are asked of the
project index lazily, so a file with nothing database-related costs one walk.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import sys
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.layout import ROOT_MARKERS, project_root
from flake8_async_sqla.core.framework import FastAPIFacts
from flake8_async_sqla.core.mapping import MappingFacts, maps_column
from flake8_async_sqla.core.options import DEFAULT_OPTIONS, AnalysisOptions
from flake8_async_sqla.core.syntax import (
    FUNCTION_NODES, LOOP_NODES, WITH_NODES, all_args, assigned_names, call_method, dotted,
    expire_on_commit_setting, keyword, literal_str, nested_def, statement_blocks, statements_in,
)
from flake8_async_sqla.core.summaries import (
    NO_HANDOUT, ClassSummary, FunctionSummary, Relationship, SessionHandout, Symbol, without_nodes,
)

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
# Where reading a parameter only looks at it or uses it in place.
BORROWING_PARENTS = (ast.Compare, ast.UnaryOp, ast.If, ast.While, ast.Assert, ast.Expr, ast.FormattedValue, ast.withitem, ast.BoolOp)
# Methods that release what they are called on: a function calling one on a parameter takes it over.
RELEASING_METHODS = frozenset({"dispose", *names.SESSION_CLOSE_METHODS})
# Session methods whose receiver may be a class-level session (`Trade.session.commit()`).
SESSION_METHOD_NAMES = frozenset(
    {*names.SESSION_IO_METHODS, *names.SESSION_ONLY_METHODS, "add", "delete", "close", "begin", "remove"}
)
# Methods whose call on a module's session, a request state's or a container's item makes a rule look at it.
RECEIVED_METHOD_NAMES = SESSION_METHOD_NAMES | names.SYNC_SESSION_IO_METHODS | names.ASYNC_COROUTINE_METHODS["AsyncSession"]
# ExitStack methods that enter a context manager and hand back what it yields.
EXIT_STACK_ENTERS = {"enter_context", "enter_async_context"}
# Calls that hand out a connection their caller already holds (`session.connection()`, Alembic's `op.get_bind()`).
CONNECTION_HANDOUTS = {"connection", "get_bind"}
# Parameter names that, unannotated and without a default, hold a session in a module that uses SQLAlchemy
# (`def _query(self, session, cls)` in a data-access class).
UNANNOTATED_SESSION_NAMES = {"session", "db_session"}


@dataclass
class SessionBinding:
    """A name (or `self.attr`) that holds a session, and where the session came from."""

    name: str
    kind: str | None  # "async", "sync", or None when unknown
    # "created", "param", "dependency", "global", "attribute", "closure", "bound" (created on a connection that
    # someone else opened: that owner closes and commits it, so the session is neither owned nor borrowed),
    # "object" (the session an ORM object belongs to, `object_session(obj)`: whoever loaded the object owns it), or
    # "stored" (kept by other code where this code reads it: `request.state.db` set by a middleware, `ctx["db"]`
    # set by a worker's startup)
    origin: str
    node: ast.AST
    # True when whoever handed the session out also runs its transaction
    # (`factory.begin()`, or a dependency that yields inside `begin()`, commits, or hands
    # the session to code that may).
    transactional: bool = False
    # For origin "dependency": the provider function, when it could be resolved.
    provider: FunctionSummary | None = None
    # Whether a commit expires the objects the session holds (its factory's expire_on_commit); None when unknown.
    expires_on_commit: bool | None = None

    @property
    def owned(self) -> bool:
        return self.origin == "created"

    def begin_statement(self, shown: str) -> str:
        """The block that frames a transaction on this session, written as `shown`: `with` for a sync one."""
        return f"{'with' if self.kind == 'sync' else 'async with'} {shown}.begin():"

    @property
    def borrowed(self) -> bool:
        """Handed to the function (a parameter, a dependency, `self.session`): its transaction is the caller's."""
        return self.origin in ("param", "dependency", "attribute", "object", "stored")


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


# `qualname`'s memo has no entry for the node yet (None is an answer: it names nothing).
UNRESOLVED = object()


class SemanticModel(FastAPIFacts, MappingFacts):
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
        self._model_relationships: dict[str, dict[str, Relationship] | None] = {}
        self._lazy_reached: dict[str, frozenset[str]] = {}
        self._lineages: dict[str, list[tuple[str, ClassSummary | None]]] = {}
        self._visible: list[tuple[str, dict[str, str]]] | None = None
        self._resolving: set[str] = set()
        self._local_symbols: dict[tuple[Scope, str], Symbol | None] = {}
        self._qualnames: dict[ast.AST, str | None] = {}
        self._looked_up: dict[str, Symbol | None] = {}
        self._name_annotations: dict[str, tuple[str | None, FunctionSummary | None]] = {}
        self._assignment_tables: dict[Scope, dict[str, list[ast.AST]]] = {}
        self._own_name_sets: dict[Scope, set[str]] = {}
        self._api_calls: list[tuple[ast.Call, Scope, str]] | None = None
        self._engine_calls: list[tuple[ast.Call, Scope, str]] | None = None
        self._session_kinds: set[str | None] | None = None
        self._session_names: set[str] | None = None
        self._calls_by_method: dict[str, list[tuple[ast.Call, Scope]]] | None = None
        self._module_sessions: dict[str, tuple[SessionBinding, bool] | None] = {}  # by qualified name, see `_module_session`
        self._stored_bindings: dict[str, SessionBinding | None] = {}  # by key, see `_stored_session`
        self._self_factories: dict[tuple[Scope, str], Symbol | None] = {}  # see `_self_factory`
        self._class_stores: dict[Scope, dict[str, list[tuple[ast.expr, Scope]]]] = {}  # see `_stores_in_self`
        self._reading_class_stores: set[Scope] = set()  # classes whose own session stores are being read
        self._call_summaries: dict[ast.Call, FunctionSummary | None] = {}
        # Per module-level class, what its methods set each `self` attribute to (see `effects._attribute_values`).
        self.attribute_values: dict[Scope, dict[str, list[tuple[ast.expr | None, Scope]]]] = {}
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
                if _names_an_engine(call) and self.engine_factory(call) is None and self.creates_engine(call, scope)
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
        symbol = self.classify_value(value, self.module_scope) or self._alias_symbol(value)
        if symbol is not None and symbol.kind == "factory" and self._reconfigures_expiry(name):
            return replace(symbol, expires_on_commit=None)
        return symbol

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
                        for attribute in dict.fromkeys(_self_attribute_stored(target) for target in targets):
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

    # ------------------------------------------------------ annotation facts
    def annotation_session(self, node: ast.AST) -> tuple[str | None, FunctionSummary | None]:
        """(session kind, dependency provider) that an annotation declares, if it declares a session."""
        if type(node) is ast.Name and not self._resolving:  # inside an export, a cycle may cut the answer short
            # A plain name (`SessionDep`, `int`, `OrderDraft`) means the same in every annotation of the file.
            if node.id not in self._name_annotations:
                self._name_annotations[node.id] = self._declared_session(node)
            return self._name_annotations[node.id]
        return self._declared_session(node)

    def _declared_session(self, node: ast.AST) -> tuple[str | None, FunctionSummary | None]:
        node = self._parse_string_annotation(node)
        provider = None
        if isinstance(node, ast.Subscript):
            head = self.qualname(node.value) or ""
            tail = head.rpartition(".")[2]
            elements = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            if tail == "Annotated" and elements:
                for meta in elements[1:]:
                    provider = provider or self.dependency_provider(meta)
                kind, inner_provider = self.annotation_session(elements[0])
                return kind, provider or inner_provider
            if tail in ("Optional", "ClassVar") and elements:
                return self.annotation_session(elements[0])
            registry = names.SCOPED_REGISTRIES.get(names.sqlalchemy_api(head) or "")
            return (registry, None) if registry else (None, None)  # `scoped_session[Session]` proxies its sessions
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            for side in (node.left, node.right):
                kind, provider = self.annotation_session(side)
                if kind:
                    return kind, provider
            return None, None
        qualname = self.qualname(node)
        if qualname is None:
            return None, None  # a builtin (`int`) or anything else neither imported nor defined here
        api = names.sqlalchemy_api(qualname)
        if api in names.SESSION_CLASSES:
            return names.SESSION_CLASSES[api], None
        if self.options.matches(self.options.session_types, qualname):
            return "async", None
        if self.index is not None and qualname not in self._looked_up and self.index.defines_plainly(qualname, self.path):
            return None, None  # a class or function of a module not modelled yet (a request schema): no alias
        symbol = self.symbol(qualname)
        if symbol is not None and symbol.kind == "alias":
            return symbol.flavour, symbol.provider
        return None, None

    @staticmethod
    def _parse_string_annotation(node: ast.AST) -> ast.AST:
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 200:
            try:
                return ast.parse(node.value, mode="eval").body
            except SyntaxError:
                return node
        return node

    # ----------------------------------------------------------- sessions
    def sessions(self, scope: Scope) -> dict[str, SessionBinding]:
        """Names that hold a session in a function scope (parameters, factory calls, `with` targets)."""
        if scope._sessions is not None:
            return scope._sessions
        scope._sessions = {}
        found = scope._sessions
        if scope.kind == "module":
            for assign in scope.assigns:
                value = getattr(assign, "value", None)
                symbol = self.classify_value(value, scope) if value is not None else None
                if symbol is not None and symbol.kind == "session":
                    for name in assigned_names(assign):
                        found[name] = SessionBinding(name, symbol.flavour, "global", assign, expires_on_commit=symbol.expires_on_commit)
            return found
        if scope.kind == "function":
            self._param_sessions(scope, found)
            self._awaited_sessions_are_async(scope, found)
        for with_node in scope.withs:
            for item in with_node.items:  # type: ignore[attr-defined]
                if not isinstance(item.optional_vars, ast.Name):
                    continue
                opened = self._opened_session(item.context_expr, scope)
                if opened is not None:
                    kind, transactional, expires = opened
                    name = item.optional_vars.id
                    found[name] = SessionBinding(name, kind, "created", item, transactional, expires_on_commit=expires)
        for assign in scope.assigns:
            value = getattr(assign, "value", None)
            if value is None:
                continue
            targets = assigned_names(assign)
            if not targets:
                continue
            if isinstance(value, ast.Name) and value.id in found:
                for name in targets:
                    found.setdefault(name, found[value.id])
                continue
            if isinstance(value, (ast.Attribute, ast.Subscript)):
                # `db = request.state.db`, `db = self.session`: the same session, held as it is held there.
                held = self.session_binding(value, scope)
                if held is not None:
                    for name in targets:
                        found.setdefault(name, held)
                    continue
            symbol = self.classify_value(value, scope)
            if symbol is not None and symbol.kind == "session":
                origin = "global" if targets[0] in scope.global_names - scope.nonlocal_names else self._session_origin(value, scope)
                for name in targets:
                    # Opened here on one path, handed in on another (`db = session or factory()`): the function may own it.
                    if name not in found or origin == "created" and found[name].borrowed:
                        found[name] = SessionBinding(name, symbol.flavour, origin, assign, expires_on_commit=symbol.expires_on_commit)
        self._with_aliases(scope, found)
        return found

    def _session_origin(self, value: ast.AST, scope: Scope) -> str:
        """Where the session a function assigns comes from: an ORM object's own session (`object_session(obj)`), one
        bound to a connection someone else opened, or else one the function opened."""
        call = value.value if isinstance(value, ast.Await) else value
        if isinstance(call, ast.Call) and self.api(call.func) in names.OBJECT_SESSION_FUNCTIONS:
            return "object"
        return "bound" if self._binds_existing_connection(value, scope) else "created"

    def _with_aliases(self, scope: Scope, found: dict[str, SessionBinding]) -> None:
        """`with session as s:` (a session is its own context manager): `s` is the same session, held the same way."""
        for with_node in scope.withs:
            for item in with_node.items:  # type: ignore[attr-defined]
                alias, entered = item.optional_vars, item.context_expr
                if isinstance(alias, ast.Name) and alias.id not in found and isinstance(entered, (ast.Name, ast.Attribute)):
                    binding = self.session_binding(entered, scope)
                    if binding is not None:
                        found[alias.id] = binding

    @cached_property
    def _uses_sqlalchemy(self) -> bool:
        return any(imported.partition(".")[0] in names.SQLALCHEMY_ROOTS for imported in self.imports.values())

    def _used_as_session(self, name: str, scope: Scope) -> bool:
        """An unannotated parameter named like a session (`session`, `db_session`) in a module that uses SQLAlchemy,
        on which the function calls a method only a session has (`query`, `commit`, `flush`, ...): an HTTP
        client named `session` calls `get`/`post`, which prove nothing."""
        if name not in UNANNOTATED_SESSION_NAMES or not self._uses_sqlalchemy:
            return False
        return any(
            isinstance(call.func, ast.Attribute) and call.func.attr in names.SESSION_ONLY_METHODS
            and isinstance(call.func.value, ast.Name) and call.func.value.id == name
            for call in scope.calls
        )

    def _awaited_sessions_are_async(self, scope: Scope, found: dict[str, SessionBinding]) -> None:
        """A parameter or dependency annotated with the sync `Session`, or not annotated, whose methods the function
        awaits holds an AsyncSession: the awaits prove it, whatever the annotation says."""
        synchronous = {name for name, binding in found.items() if binding.kind != "async" and binding.origin in ("param", "dependency")}
        if not synchronous:
            return
        for call in scope.calls:
            receiver = call.func.value if isinstance(call.func, ast.Attribute) else None
            if isinstance(receiver, ast.Name) and receiver.id in synchronous and isinstance(self.parents.get(call), ast.Await):
                found[receiver.id] = dataclasses.replace(found[receiver.id], kind="async")
                synchronous.discard(receiver.id)

    def _binds_existing_connection(self, value: ast.AST, scope: Scope) -> bool:
        """`Session(bind=connection)`, `factory(bind=op.get_bind())`, `Session(bind=session.connection())`: a session
        on a connection that someone else opened, and closes or commits."""
        if not isinstance(value, ast.Call):
            return False
        bind = keyword(value, "bind")
        if bind is None and value.args and names.SESSION_CLASSES.get(self.api(value.func) or ""):
            bind = value.args[0]
        if bind is None:
            return False
        method = call_method(bind)
        if method is not None:
            return method[1] in CONNECTION_HANDOUTS  # not `engine.connect()`, which opens one nobody else closes
        if self.is_connection(bind, scope):
            return True
        # A parameter handed in that nothing says is an engine: the caller's connection (or its session's).
        return isinstance(bind, ast.Name) and self._is_parameter(bind.id, scope) and self.engine_kind(bind, scope) is None

    @staticmethod
    def _is_parameter(name: str, scope: Scope) -> bool:
        return scope.kind in ("function", "lambda") and any(arg.arg == name for arg in all_args(scope.node))

    def opens_session(self, call: ast.Call, scope: Scope) -> str | None:
        """The kind of session a call opens anew: `AsyncSession(...)` / `Session(...)`, a session factory's
        call, or a configured session factory (not a `scoped_session` registry or a helper, which may hand
        back a session that is already open)."""
        if isinstance(call.func, ast.Call):  # `sessionmaker(engine)()`
            factory = self.classify_value(call.func, scope)
            return (factory.flavour or "async") if factory is not None and factory.kind == "factory" and not factory.registry else None
        api = self.api(call.func)
        if api in names.SESSION_CLASSES:
            return names.SESSION_CLASSES[api]
        if self.options.matches(self.options.session_factories, self.qualname(call.func)):
            return "async"
        factory = self.factory_symbol(call.func, scope)
        return (factory.flavour or "async") if factory is not None and not factory.registry else None

    def _opened_session(self, expr: ast.AST, scope: Scope) -> tuple[str | None, bool, bool | None] | None:
        """For a `with` item: (kind, transactional, expires on commit) when it opens a session."""
        method = call_method(expr)
        if method is not None and method[1] == "begin":
            factory = self.factory_symbol(method[0], scope)
            if factory is not None:
                return factory.flavour or "async", True, factory.expires_on_commit
        symbol = self.classify_value(expr, scope) if isinstance(expr, ast.Call) else None
        if symbol is not None and symbol.kind == "session":
            return symbol.flavour, False, symbol.expires_on_commit
        if not isinstance(expr, ast.Call):
            return None
        # A project generator that yields a session, entered with `with`: a context manager handing it out (a
        # function, or a method of an object handed in: `async with db.session() as s`); or a method returning a new
        # session that the `with` closes (`with db.new_session() as s`).
        function = self.call_summary(expr, scope)
        if function is not None and function.yields_session:
            return function.yields_session, function.provides_transaction, function.session_expires_on_commit
        if function is not None and function.returns_session:
            return function.returns_session, False, function.session_expires_on_commit
        # A project class whose `__aenter__` / `__enter__` returns a session (a unit of work): it closes it on exit.
        for method in ("__aenter__", "__enter__"):
            entered = self._class_method_summary(expr.func, method, scope)
            if entered is not None:
                return (entered.returns_session, False, entered.session_expires_on_commit) if entered.returns_session else None
        return None

    def _class_method_summary(self, node: ast.AST, method: str, scope: Scope) -> FunctionSummary | None:
        """The summary of method `method` of the project class `node` names (defined in it or inherited)."""
        klass = self._local_class(node, scope)
        if klass is not None:
            defined = nested_def(klass, method)
            if defined is not None:
                return self.function_summary(self.scope_of[defined])
            bases = [self.qualname(b.value if isinstance(b, ast.Subscript) else b) for b in klass.node.bases]  # type: ignore[attr-defined]
        elif isinstance(node, (ast.Name, ast.Attribute)) and not (isinstance(node, ast.Name) and self.binds_locally(node.id, scope)):
            symbol = self.symbol_of(node)
            bases = [symbol.klass.qualname] if symbol is not None and symbol.klass is not None else []
        else:
            return None
        for base in bases:
            found = self.index.method_summary(base, method, self.path) if base and self.index is not None else None
            if found is not None:
                return found
        return None

    def _param_sessions(self, scope: Scope, found: dict[str, SessionBinding]) -> None:
        node = scope.node
        args = node.args  # type: ignore[attr-defined]
        positional = args.posonlyargs + args.args
        defaults: dict[str, ast.expr] = dict(zip([a.arg for a in positional][-len(args.defaults):], args.defaults)) if args.defaults else {}
        for arg, default in zip(args.kwonlyargs, args.kw_defaults):
            if default is not None:
                defaults[arg.arg] = default
        for arg in all_args(node):
            kind, provider = (None, None)
            if arg.annotation is not None:
                kind, provider = self.annotation_session(arg.annotation)
            default = defaults.get(arg.arg)
            if default is not None and self.is_dependency_marker(default):
                provider = self.dependency_provider(default) or provider
                if kind is None and provider is not None:
                    kind = provider.yields_session or provider.returns_session
                if provider is None and kind is not None:
                    found[arg.arg] = SessionBinding(arg.arg, kind, "dependency", arg)
                    continue
            if kind is None:
                if arg.annotation is None and default is None and self._used_as_session(arg.arg, scope):
                    found[arg.arg] = SessionBinding(arg.arg, None, "param", arg)  # its kind: from its awaits, if any
                continue
            if provider is not None:
                found[arg.arg] = SessionBinding(
                    arg.arg, kind, "dependency", arg, provider.provides_transaction, provider, provider.session_expires_on_commit
                )
            else:
                found[arg.arg] = SessionBinding(arg.arg, kind, "param", arg)

    def session_binding(self, node: ast.AST, scope: Scope) -> SessionBinding | None:
        """The session an expression holds, if any: a name bound to one (in this function, one around it, at module
        level, or imported from another module), `self.attr` of a class that keeps one, `Cls.attr` declared on a
        class, a module's session (`db.db_session`), a `scoped_session` registry used as the session it proxies
        (`Session.query(...)`), or one that other code keeps on a request's state (`request.state.db`) or in a
        container (`self.sessions[key]`, `ctx["db"]`). The one answer to "which session is this expression?"."""
        if isinstance(node, ast.Name):
            current: Scope | None = scope
            while current is not None:
                if current.kind != "class":
                    binding = self.sessions(current).get(node.id)
                    if binding is not None:
                        if current is not scope and current.kind != "module" and binding.origin == "created":
                            return SessionBinding(
                                binding.name, binding.kind, "closure", binding.node, expires_on_commit=binding.expires_on_commit
                            )
                        return binding
                current = current.parent
            return self._module_session(node, node, scope)
        if isinstance(node, ast.Attribute):
            owner = node.value
            if isinstance(owner, ast.Name):
                if owner.id == "self":
                    function = scope.function_scope
                    klass = function.klass if function is not None else None
                    return self.class_session_attributes(klass).get(node.attr) if klass is not None else None
                if node.attr in self._class_session_names:
                    return self._class_session(node)
                return self._module_session(node, owner, scope) if owner.id in self.imports else None
            if isinstance(owner, ast.Attribute) and owner.attr == "state":
                return self._stored_session(f"state.{node.attr}", node)
            return None
        if isinstance(node, ast.Subscript):
            return self._container_session(node, scope)
        return None

    def _module_session(self, node: ast.Name | ast.Attribute, head: ast.Name, scope: Scope) -> SessionBinding | None:
        """A module-level session of another module (`from app.db import db_session`, `db.db_session`), or a
        `scoped_session` registry of this module or another used as the session it proxies (`Session.query(...)`)."""
        if head.id not in self.imports and not isinstance(getattr(self.local_defs.get(head.id), "value", None), ast.expr):
            return None  # neither imported nor assigned at module level (a function, a class, a builtin)
        if self.binds_locally(head.id, scope):
            return None
        qualname = self.qualname(node)
        if qualname is None:
            return None
        if qualname not in self._module_sessions:
            self._module_sessions[qualname] = self._module_session_binding(qualname, node)
        found = self._module_sessions[qualname]
        if found is None:
            return None
        binding, registry = found
        return binding if not registry or self._receives_session_call(node) else None

    def _module_session_binding(self, qualname: str, node: ast.Name | ast.Attribute) -> tuple[SessionBinding, bool] | None:
        """The binding of a module-level session or registry, and whether it is a registry."""
        index = self.index
        if index is not None and qualname.partition(".")[0] not in self.project_roots:
            return None  # a library's name
        if index is not None and (index.find_module(qualname, self.path) is not None or index.defines_plainly(qualname, self.path)):
            return None  # a module (`from app import crud`), or a class or function its module defines plainly
        symbol = self.symbol(qualname)
        if symbol is None or not (symbol.kind == "session" or symbol.kind == "factory" and symbol.registry):
            return None
        shown = ".".join(dotted(node) or [qualname])
        return SessionBinding(shown, symbol.flavour, "global", node, expires_on_commit=symbol.expires_on_commit), symbol.kind == "factory"

    def _stored_session(self, key: str, node: ast.expr) -> SessionBinding | None:
        """The session other code keeps under `key` (see `session_stores`), in this module or another one of the
        project; its kind when every store agrees on it."""
        if key not in self._stored_bindings:
            kinds = {self.session_stores[key]} if key in self.session_stores else set()
            if self.index is not None:
                kinds.update(self.index.stored_session_kinds(key, self.path))
            holder, _, item = key.partition("[")
            shown = ".".join(dotted(node) or []) or f'{holder}["{item[:-1]}"]'
            self._stored_bindings[key] = SessionBinding(shown, _agreed(kinds), "stored", node) if kinds else None
        return self._stored_bindings[key]

    def _container_session(self, node: ast.Subscript, scope: Scope) -> SessionBinding | None:
        """`self.sessions[key]` where the class puts sessions in `self.sessions`, or `ctx["db"]` on a parameter where
        some function of the project stores a session in its parameter's `ctx["db"]` (a worker's startup)."""
        container = node.value
        if isinstance(container, ast.Attribute) and isinstance(container.value, ast.Name) and container.value.id == "self":
            function = scope.function_scope
            klass = function.klass if function is not None else None
            return self.class_session_attributes(klass).get(f"{container.attr}[...]") if klass is not None else None
        key = _container_key(node)
        # Read as a session (a session method's receiver, or kept in a name): not every `item["id"]` handed to a call.
        used = self._receives_session_call(node) or isinstance(self.parents.get(node), (ast.Assign, ast.AnnAssign))
        if key is None or not used or not self._is_parameter_of_function(container.id, scope):  # type: ignore[attr-defined]
            return None
        return self._stored_session(key, node)

    def _is_parameter_of_function(self, name: str, scope: Scope) -> bool:
        function = self.binding_function(name, scope)
        return function is not None and self._is_parameter(name, function)

    @cached_property
    def session_stores(self) -> dict[str, str]:
        """Where this module's functions keep a session for other code to read, by key: `state.db` for
        `<x>.state.db = session` (a middleware keeping it on the request) and `ctx[db]` for `ctx["db"] = session` on a
        parameter (a worker's startup filling its context), each with the kind stored ("" when unknown or mixed)."""
        stores: dict[str, str] = {}
        for scope in self.scopes:
            if scope.function_scope is None:
                continue
            for assign in scope.assigns:
                value = getattr(assign, "value", None)
                targets = assign.targets if isinstance(assign, ast.Assign) else [getattr(assign, "target", None)]
                for target in targets if value is not None else ():
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Attribute) and target.value.attr == "state":
                        key: str | None = f"state.{target.attr}"
                    elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                        key = _container_key(target) if self._is_parameter_of_function(target.value.id, scope) else None
                    else:
                        key = None
                    symbol = self.classify_value(value, scope) if key is not None else None
                    if symbol is not None and symbol.kind == "session":
                        kind = symbol.flavour or ""
                        stores[key] = kind if stores.get(key, kind) == kind else ""  # type: ignore[index]
        return stores

    @cached_property
    def _class_session_names(self) -> frozenset[str]:
        """Attributes read off a class of this file or an imported one (`Trade.session`) that the class declares
        as a session: what `session_binding` looks up for `<Class>.<attr>`."""
        return frozenset(
            node.attr
            for scope in self.scopes
            for node in scope.attributes
            if isinstance(node.value, ast.Name) and self._receives_session_call(node) and self._class_session(node) is not None
        )

    def _receives_session_call(self, node: ast.Attribute) -> bool:
        """`Cls.attr.query(...)`: the attribute is the receiver of a call of a session method (the only reads of a
        class-level session the rules look at), not `User.id` in a query."""
        method = self.parents.get(node)
        return (
            isinstance(method, ast.Attribute)
            and method.attr in SESSION_METHOD_NAMES
            and isinstance(self.parents.get(method), ast.Call)
        )

    def _class_session(self, node: ast.Attribute) -> SessionBinding | None:
        """`Cls.attr` where `Cls` (or a base) declares `attr` at class level as a session or a scoped registry."""
        name = node.value.id  # type: ignore[attr-defined]
        if not name[:1].isupper() and not name.lstrip("_")[:1].isupper():
            return None  # classes by convention: spares a lookup for every `module.attr`
        qualname = self.qualname(node.value)
        for _, summary in self.class_lineage(qualname) if qualname else ():
            if summary is not None and node.attr in summary.class_sessions:
                return SessionBinding(node.attr, summary.class_sessions[node.attr], "attribute", node)
        return None

    def class_session_attributes(self, klass: Scope) -> dict[str, SessionBinding]:
        """The sessions a class keeps (see `_own_session_attributes`), itself or a base class (in any module of the
        project: `BaseRepository.__init__` keeping the session it is given), by attribute."""
        cached = getattr(klass, "_session_attrs", None)
        if cached is not None:
            return cached
        attrs = dict(self._own_session_attributes(klass))
        if klass in self._reading_class_stores:
            return attrs  # asked while the class's own stores are read (`self.a = self.b`): what is known so far, not kept
        klass._session_attrs = attrs  # type: ignore[attr-defined]
        awaited = self._awaited_self_attributes(klass)
        for _, base in self.class_lineage(f"{self.module}.{klass.name}")[1:]:
            for name, (kind, origin) in (base.session_attributes if base is not None else {}).items():
                attrs.setdefault(name, SessionBinding(name, "async" if name in awaited else kind, origin, klass.node))
        return attrs

    def _own_session_attributes(self, klass: Scope) -> dict[str, SessionBinding]:
        """The sessions the class's own code keeps: `self.x = <session>` in its methods (`x`), `self.x[key] = <session>`
        or `self.x.append(<session>)` (`x[...]`), and class-level annotations declaring one (`session: Session`, a
        class-based view's `session: Session = Depends(get_db)`). A session whose methods the class awaits is async,
        whatever its annotation says."""
        cached = getattr(klass, "_own_session_attrs", None)
        if cached is not None:
            return cached
        attrs: dict[str, SessionBinding] = {}
        klass._own_session_attrs = attrs  # type: ignore[attr-defined]
        self._reading_class_stores.add(klass)
        try:
            self._read_class_stores(klass, attrs)
        finally:
            self._reading_class_stores.discard(klass)
        awaited = self._awaited_self_attributes(klass)
        for name, binding in attrs.items():
            if binding.kind != "async" and name in awaited:
                attrs[name] = replace(binding, kind="async")
        return attrs

    def _read_class_stores(self, klass: Scope, attrs: dict[str, SessionBinding]) -> None:
        """Fill `attrs` with what `_own_session_attributes` describes."""
        for method in klass.children:
            if method.kind != "function":
                continue
            for assign in method.assigns:
                value = getattr(assign, "value", None)
                targets = assign.targets if isinstance(assign, ast.Assign) else [getattr(assign, "target", None)]
                for attribute in (_self_attribute_stored(target) for target in targets) if value is not None else ():
                    binding = self._kept_session(attribute, value, assign, method) if attribute is not None else None
                    if binding is not None:
                        attrs[attribute] = binding  # type: ignore[index]
            for call in method.calls:
                if isinstance(call.func, ast.Attribute) and call.func.attr == "append" and len(call.args) == 1:
                    attribute = _self_attribute_stored(call.func.value)
                    binding = self._kept_session(f"{attribute}[...]", call.args[0], call, method) if attribute is not None else None
                    if binding is not None:
                        attrs.setdefault(binding.name, binding)
        for statement in klass.node.body:  # type: ignore[attr-defined]
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) and not maps_column(statement):
                binding = self._declared_class_session(statement)
                if binding is not None:
                    attrs.setdefault(binding.name, binding)

    def _kept_session(self, attribute: str, value: ast.expr, store: ast.AST, method: Scope) -> SessionBinding | None:
        """The binding of `attribute` when a method keeps `value` there and it is a session: one the method opened
        ("created", or "bound" on someone else's connection), else one handed to it ("attribute")."""
        binding = self.session_binding(value, method) if isinstance(value, (ast.Name, ast.Attribute, ast.Subscript)) else None
        if binding is not None:
            origin = binding.origin if binding.origin in ("created", "bound") else "attribute"
            return SessionBinding(attribute, binding.kind, origin, store)
        symbol = self.classify_value(value, method)
        if symbol is None or symbol.kind != "session":
            return None
        origin = self._session_origin(value, method)
        return SessionBinding(attribute, symbol.flavour, origin if origin in ("created", "bound") else "attribute", store)

    def _declared_class_session(self, statement: ast.AnnAssign) -> SessionBinding | None:
        """`session: Session` in a class body, or `session: Session = Depends(get_db)` (a class-based view's
        dependency, which FastAPI fills in for every request)."""
        name = statement.target.id  # type: ignore[attr-defined]
        kind, provider = self.annotation_session(statement.annotation)
        if statement.value is not None and self.is_dependency_marker(statement.value):
            provider = self.dependency_provider(statement.value) or provider
            if kind is None and provider is not None:
                kind = provider.yields_session or provider.returns_session
        if kind is None:
            return None
        if provider is None:
            return SessionBinding(name, kind, "attribute", statement)
        return SessionBinding(
            name, kind, "dependency", statement, provider.provides_transaction, provider, provider.session_expires_on_commit
        )

    def _awaited_self_attributes(self, klass: Scope) -> frozenset[str]:
        """The attributes `x` whose methods the class's own methods await (`await self.x.execute(...)`)."""
        return frozenset(
            call.func.value.attr  # type: ignore[attr-defined]
            for method in klass.children
            if method.kind == "function"
            for call in method.calls
            if isinstance(call.func, ast.Attribute)
            and isinstance(call.func.value, ast.Attribute)
            and dotted(call.func.value.value) == ["self"]
            and isinstance(self.parents.get(call), ast.Await)
        )

    def session_kinds(self) -> set[str | None]:
        """The kinds of every session the file binds, to names in any scope or to `self` attributes of any
        class (where `session_binding` finds them all): a rule about one kind has nothing to find without it."""
        if self._session_kinds is None:
            kinds = {binding.kind for table in self._session_tables() for binding in table.values()}
            # And of the sessions the file reaches without binding them (another module's, a request's state).
            kinds.update(binding.kind for scope in self.scopes for binding, _ in self.session_calls(scope).values())
            self._session_kinds = kinds
        return self._session_kinds

    def session_names(self) -> set[str]:
        """The names and `self` attributes the file binds to sessions in any scope: a call on a receiver by
        another name is on no session `session_binding` knows."""
        if self._session_names is None:
            self._session_names = {name for table in self._session_tables() for name in table} | self._class_session_names
        return self._session_names

    def _session_tables(self) -> Iterator[dict[str, SessionBinding]]:
        """The session bindings of every scope by name (a class's: its `self` attributes)."""
        for scope in self.scopes:
            yield self.class_session_attributes(scope) if scope.kind == "class" else self.sessions(scope)

    def holders(self, scope: Scope) -> dict[str, SessionBinding]:
        """Names bound to an object built from a session (`repo = Repo(session)`, `partial(f, session)`)."""
        if scope._holders is not None:
            return scope._holders
        scope._holders = {}
        for assign in scope.assigns:
            value = getattr(assign, "value", None)
            if isinstance(value, ast.Call):
                if not self._builds_holder(value):
                    continue
                parts = [*value.args, *(kw.value for kw in value.keywords)]
            elif isinstance(value, ast.Attribute):
                parts = [value]  # `fetch = session.get`
            else:
                continue
            for arg in parts:
                binding = self.session_binding(arg, scope) or self._bound_method_session(arg, scope)
                if binding is not None:
                    for name in assigned_names(assign):
                        if name not in self.sessions(scope):
                            scope._holders[name] = binding
                    break
        return scope._holders

    def _builds_holder(self, call: ast.Call) -> bool:
        """Whether a call's result keeps what it is given: a class constructed with it (`Repo(session)`) or a
        `partial`; a function's result (`user = crud.create(session, ...)`, an ORM object) is a value it read."""
        qualname = self.qualname(call.func)
        if qualname == "functools.partial":
            return True
        symbol = self.symbol(qualname)
        if symbol is not None and (symbol.klass is not None or symbol.function is not None):
            return symbol.klass is not None
        parts = dotted(call.func)
        return bool(parts) and parts[-1][:1].isupper()

    def _bound_method_session(self, node: ast.AST, scope: Scope) -> SessionBinding | None:
        """`session.get` (a session's I/O method, not called): the session it is bound to."""
        if isinstance(node, ast.Attribute) and node.attr in names.SESSION_IO_METHODS:
            return self.session_binding(node.value, scope)
        return None

    def session_reached_by(self, expr: ast.AST, scope: Scope) -> SessionBinding | None:
        """The session an expression uses: named directly, through a holder, or via `self`."""
        for node in ast.walk(expr):
            if isinstance(node, (ast.Name, ast.Attribute)) and isinstance(getattr(node, "ctx", None), ast.Load):
                binding = self.session_binding(node, scope)
                if binding is None and isinstance(node, ast.Name):
                    binding = self.holders(scope).get(node.id) or self._closure_session(node, scope)
                elif binding is None:
                    binding = self._held_by_self(node, scope) or self._self_method_session(node, scope)
                if binding is not None:
                    return binding
        return None

    def _held_by_self(self, node: ast.Attribute, scope: Scope) -> SessionBinding | None:
        """`self.repo` where a method of the class set `self.repo = Repo(session)`."""
        if not (isinstance(node.value, ast.Name) and node.value.id == "self"):
            return None
        function = scope.function_scope
        klass = function.klass if function is not None else None
        if klass is None:
            return None
        for method in klass.children:
            if method.kind != "function":
                continue
            for assign in method.assigns:
                targets = assign.targets if isinstance(assign, ast.Assign) else [getattr(assign, "target", None)]
                if not any(
                    isinstance(t, ast.Attribute) and t.attr == node.attr and isinstance(t.value, ast.Name) and t.value.id == "self"
                    for t in targets
                ):
                    continue
                value = getattr(assign, "value", None)
                if isinstance(value, ast.Call):
                    for arg in [*value.args, *(kw.value for kw in value.keywords)]:
                        binding = self.session_binding(arg, method)
                        if binding is not None:
                            return binding
        return None

    def _closure_session(self, name: ast.Name, scope: Scope) -> SessionBinding | None:
        """`load` naming a nested function that uses a session of a function enclosing it."""
        current: Scope | None = scope
        node = None
        while node is None and current is not None and current.kind != "module":
            node = nested_def(current, name.id)
            current = current.parent
        if node is None:
            return None
        inner = self.scope_of[node]
        for used in ast.walk(node):
            if not (isinstance(used, ast.Name) and isinstance(used.ctx, ast.Load)):
                continue
            where = self.scope_of.get(used)
            binding = self.session_binding(used, where) if where is not None else None
            if binding is not None and binding.origin != "global" and not self._bound_within(used.id, where, inner):
                return binding
        return None

    def _bound_within(self, name: str, scope: Scope, outer: Scope) -> bool:
        """Whether `name` holds a session bound in `scope` or a scope between it and `outer` (inclusive)."""
        current: Scope | None = scope
        while current is not None:
            if current.kind != "class" and name in self.sessions(current):
                return True
            if current is outer:
                return False
            current = current.parent
        return False

    def _self_method_session(self, func: ast.Attribute, scope: Scope) -> SessionBinding | None:
        """`self.m`, called or handed on as a bound method, where method `m` uses a session attribute of the class."""
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self"):
            return None
        function = scope.function_scope
        klass = function.klass if function is not None else None
        if klass is None:
            return None
        attrs = self.class_session_attributes(klass)
        if not attrs:
            return None
        for method in klass.children:
            if method.name == func.attr and method.kind == "function":
                for attribute in method.attributes:
                    if (
                        isinstance(attribute.value, ast.Name)
                        and attribute.value.id == "self"
                        and attribute.attr in attrs
                    ):
                        return attrs[attribute.attr]
        return None

    def session_method_call(self, call: ast.Call, scope: Scope) -> tuple[SessionBinding, str] | None:
        """For `session.meth(...)` on a known session: (binding, "meth")."""
        method = call_method(call)
        if method is None:
            return None
        binding = self.session_binding(method[0], scope)
        if binding is None:
            return None
        return binding, method[1]

    def session_calls(self, scope: Scope) -> dict[ast.Call, tuple[SessionBinding, str]]:
        """The calls of `scope` that are `session.meth(...)` on a known session, in order, each with
        (binding, "meth"): found once per scope for the rules that look at those calls only."""
        if scope._session_calls is None:
            found = {}
            bound = self.session_names()
            for call in scope.calls:
                func = call.func
                if not isinstance(func, ast.Attribute):
                    continue
                receiver = func.value
                if _receiver_name(receiver) not in bound and not (func.attr in RECEIVED_METHOD_NAMES and self._may_reach_session(call)):
                    continue
                method = self.session_method_call(call, scope)
                if method is not None:
                    found[call] = method
            scope._session_calls = found
        return scope._session_calls

    def _may_reach_session(self, call: ast.Call) -> bool:
        """Whether the receiver of `call` may hold a session that no table of this file binds (see `session_binding`):
        a module-level or imported name, a module's attribute, a request state's attribute, or a container's item
        (not `item["x"].get("key")`: a session's methods never take a string first)."""
        receiver = call.func.value  # type: ignore[attr-defined]
        if isinstance(receiver, ast.Name):
            return receiver.id in self.imports or receiver.id in self.local_defs
        if isinstance(receiver, ast.Attribute):
            owner = receiver.value
            return isinstance(owner, ast.Attribute) and owner.attr == "state" or isinstance(owner, ast.Name) and owner.id in self.imports
        first = call.args[0] if call.args else None
        return isinstance(receiver, ast.Subscript) and not (isinstance(first, ast.Constant) and isinstance(first.value, str))

    def is_session_write(self, call: ast.Call, method: str, scope: Scope) -> bool:
        """Whether `session.<method>(...)` puts a write into the session: `add`, `add_all`, `delete`,
        `merge`, the bulk methods, or `execute`/`scalar`/`scalars` of a write statement."""
        if method in names.SESSION_WRITE_METHODS:
            return True
        if method not in names.SESSION_STATEMENT_METHODS:
            return False
        statement = call.args[0] if call.args else keyword(call, "statement")
        return statement is not None and self.is_write_statement(statement, scope)

    def is_write_statement(self, statement: ast.AST, scope: Scope) -> bool:
        """`insert(...)`/`update(...)`/`delete(...)` (methods chained on them included) or
        `text("UPDATE ...")`, written in place or built in a variable first (`stmt = stmt.values(...)`)."""
        node: ast.AST | None = statement
        followed: set[ast.AST] = set()  # each assignment once: `stmt = stmt` must not loop
        while node is not None:
            if isinstance(node, ast.NamedExpr):
                node = node.value
            elif isinstance(node, ast.Name):
                assign = _assignment_before(scope, node)
                if assign is None or assign in followed:
                    return False
                followed.add(assign)
                node = assign.value  # type: ignore[attr-defined]
            elif isinstance(node, ast.Call):
                api = self.api(node.func)
                if api in names.WRITE_STATEMENTS:
                    return True
                if api == "text":
                    sql = literal_str(node.args[0]) if node.args else None
                    return sql is not None and sql.lstrip().upper().startswith(names.WRITE_SQL_PREFIXES)
                node = node.func.value if isinstance(node.func, ast.Attribute) else None
            else:
                return False
        return False

    # -------------------------------------------------------- connections
    def is_connection(self, node: ast.AST, scope: Scope) -> bool:
        return self.connection_kind(node, scope) is not None

    def connection_kind(self, node: ast.AST, scope: Scope) -> str | None:
        """"async" / "sync" when an expression holds a Core connection: `engine.connect()` / `engine.begin()`
        (awaited or as a `with` target), `await session.connection()`, a local name bound to one of them,
        or a parameter annotated `AsyncConnection` / `Connection`."""
        if isinstance(node, ast.Await):
            node = node.value
        if isinstance(node, ast.Call):
            return self._opens_connection(node, scope)
        if not isinstance(node, ast.Name):
            return None
        current: Scope | None = scope
        while current is not None and current.kind in ("function", "lambda"):
            for arg in all_args(current.node):
                if arg.arg == node.id:
                    return names.CONNECTION_CLASSES.get(self._annotated_api(arg.annotation)) if arg.annotation is not None else None
            for with_node in current.withs:
                for item in with_node.items:  # type: ignore[attr-defined]
                    if isinstance(item.optional_vars, ast.Name) and item.optional_vars.id == node.id:
                        return self._opens_connection(item.context_expr, current)
            for assign in current.assigns:
                value = getattr(assign, "value", None)
                if value is not None and node.id in assigned_names(assign):
                    value = value.value if isinstance(value, ast.Await) else value
                    return self._opens_connection(value, current)
            current = current.parent
        return None

    def _opens_connection(self, expr: ast.AST, scope: Scope) -> str | None:
        """The kind of connection a call opens, if it opens one."""
        method = call_method(expr)
        if method is None:
            return None
        receiver, name = method
        if name == "connection":
            binding = self.session_binding(receiver, scope)
            return (binding.kind or "async") if binding is not None else None
        return self.engine_kind(receiver, scope) if name in ("connect", "begin") else None

    def engine_kind(self, node: ast.AST, scope: Scope) -> str | None:
        """"async" / "sync" when an expression holds an engine: created or imported as one, or a parameter
        annotated `AsyncEngine` / `Engine`."""
        if isinstance(node, ast.Name) and self.binds_locally(node.id, scope):
            # A parameter or local assignment shadows any module-level engine of the same name.
            current: Scope | None = scope
            while current is not None and current.kind in ("function", "lambda"):
                for arg in all_args(current.node):
                    if arg.arg == node.id:
                        return names.ENGINE_CLASSES.get(self._annotated_api(arg.annotation)) if arg.annotation is not None else None
                current = current.parent
            symbol = self._lookup_local_symbol(node, scope)
        else:
            symbol = self.classify_value(node, scope)
        return (symbol.flavour or "async") if symbol is not None and symbol.kind == "engine" else None

    def _annotated_api(self, annotation: ast.AST) -> str | None:
        """The SQLAlchemy class an annotation names, through quotes, `Optional[...]`, `Annotated[...]`
        and aliases of this module (`ConnectionDep = Annotated[AsyncConnection, Depends(...)]`)."""
        node: ast.AST | None = annotation
        for _ in range(4):  # an alias may name another alias; never loop forever
            node = self._parse_string_annotation(node)
            if isinstance(node, ast.Subscript) and (self.qualname(node.value) or "").rpartition(".")[2] in ("Annotated", "Optional"):
                node = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) else node.slice
            api = self.api(node)
            if api is not None or not isinstance(node, ast.Name):
                return api
            node = self.module_constant(node.id, self.module_scope)
            if node is None:
                return None
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

    def passes_session_on(self, binding: SessionBinding, scope: Scope) -> bool:
        """Whether a call in `scope` (nested functions included) hands the session to code that may end its
        transaction: a project function that commits or rolls it back (or passes it on to one that may), or
        code this analysis cannot follow. A helper that only reads, writes or closes it does not."""
        for call, where in self.calls_within(scope):
            for arg in (*call.args, *(kw.value for kw in call.keywords)):
                if isinstance(arg, ast.Starred):
                    arg = arg.value
                passed = self.session_binding(arg, where)
                if passed is not None and passed.name == binding.name and self._may_end_transaction(call, arg, where):
                    return True
        return False

    @cached_property
    def project_roots(self) -> frozenset[str]:
        """The top-level names of this module's project packages among what it is and what it imports."""
        roots = {self.module.partition(".")[0]}
        for imported in self.imports.values():
            root = imported.partition(".")[0]
            if root and root not in roots and self.index is not None and self.index.find_module(root, self.path) is not None:
                roots.add(root)
        return frozenset(roots)

    def called_functions(self, scope: Scope) -> Iterator[Scope]:
        """Functions of this module that `scope` calls (see `called_function`)."""
        for call in scope.calls:
            target = self.called_function(call, scope)
            if target is not None:
                yield target

    def is_memoised(self, call: ast.Call, scope: Scope) -> bool:
        """Whether the call's result is kept where it outlives `scope`, under a check that it is not there yet: it
        runs once, not on every call of `scope`."""
        function = scope.function_scope
        return function is not None and _memoised(self, call, function)

    def called_function(self, call: ast.Call, scope: Scope) -> Scope | None:
        """The function of this module a call runs: by name, a class's `__init__` as `Cls(...)`, and
        methods as `self.m()`, `Cls.m()`, `Cls(...).m()` or `x.m()` where `x` holds a `Cls` instance."""
        func = call.func
        node = None
        if isinstance(func, ast.Name) and func.id not in self.imports:
            node = nested_def(scope, func.id) or self.local_defs.get(func.id)
            if isinstance(node, ast.ClassDef):
                node = nested_def(self.scope_of[node], "__init__")
        elif isinstance(func, ast.Attribute) and func.attr in self._method_names:  # no class here has it: no receiver to find
            klass = self._receiver_class(func.value, scope)
            node = nested_def(klass, func.attr) if klass is not None else None
        return self.scope_of[node] if isinstance(node, FUNCTION_NODES) else None

    @cached_property
    def name_loads(self) -> dict[str, list[ast.Name]]:
        """Every read of a plain name in the file, by name."""
        loads: dict[str, list[ast.Name]] = {}
        for node in self.scope_of:
            if type(node) is ast.Name and type(node.ctx) is ast.Load:
                loads.setdefault(node.id, []).append(node)
        return loads

    @cached_property
    def _method_names(self) -> frozenset[str]:
        """The names of the methods the classes of this file define."""
        return frozenset(child.name for klass in self.scopes if klass.kind == "class" for child in klass.children if child.kind == "function")

    def call_summary(self, call: ast.Call, scope: Scope) -> FunctionSummary | None:
        """The summary of the function a call runs, when this module or the project defines it; None for
        a class's constructor (`Repo(session)`) and for anything unresolved. Memoised per call (every effect of
        the function asks), unless asked inside an export, where a cycle may cut a lookup short."""
        found = self._call_summaries.get(call, UNRESOLVED)
        if found is UNRESOLVED:
            found = self._resolve_call(call, scope)
            if not self._resolving:
                self._call_summaries[call] = found
        return found  # type: ignore[return-value]

    def _resolve_call(self, call: ast.Call, scope: Scope) -> FunctionSummary | None:
        target = self.called_function(call, scope)
        if target is not None:
            constructs = target.name == "__init__" and not (isinstance(call.func, ast.Attribute) and call.func.attr == "__init__")
            return None if constructs else self.function_summary(target)
        symbol = self.symbol_of(call.func)
        if symbol is not None:
            return symbol.function
        return effects.method_call_summary(self, call, scope)

    def may_use_session(self, call: ast.Call, scope: Scope) -> bool:
        """Whether a call handed a session may do I/O with it, judged by the callee: a synchronous function
        of the project, or a function the project does not define, unless it is a class (its constructor
        stores the session) or belongs to the standard library or a library that never queries
        (`names.NON_QUERYING_LIBRARIES`). Methods of local objects of unknown type are not judged."""
        summary = self.call_summary(call, scope)
        if summary is not None:  # a constructor run as `super().__init__(db)` stores the session
            return not summary.is_async and not summary.qualname.endswith(".__init__")
        if isinstance(call.func, ast.Attribute) and effects.is_super(call.func.value):
            return True  # a base's method this cannot find (a base built by `declarative_base(cls=...)`)
        qualname = self.qualname(call.func)
        if qualname is None or self.symbol(qualname) is not None:  # unknown, or a class, factory, engine...
            return False
        root, tail = qualname.partition(".")[0], qualname.rpartition(".")[2]
        if tail[:1].isupper() or root in sys.stdlib_module_names or root in names.NON_QUERYING_LIBRARIES:
            return False
        # An imported function or module member; not a module-level object of this file (`logger.info(db)`).
        return (dotted(call.func) or [""])[0] in self.imports

    def session_io_names(self, scope: Scope) -> frozenset[str]:
        """What a function does session I/O through, if it holds a session there: each parameter (`db`) and
        `self` attribute (`self.db`) that it calls an I/O method of a synchronous Session on
        (`db.query(...)`) or hands to a call that may use it (`may_use_session`)."""
        parameters = {arg.arg for arg in all_args(scope.node)}

        def holder(node: ast.AST) -> str | None:
            parts = dotted(node)
            if parts is None or parts[0] not in parameters:
                return None
            if parts[0] == "self":
                return ".".join(parts) if len(parts) == 2 else None
            return parts[0] if len(parts) == 1 and parts[0] != "cls" else None

        found: set[str] = set()
        for call in scope.calls:
            method = call_method(call)
            used = holder(method[0]) if method is not None and method[1] in names.SYNC_SESSION_IO_METHODS else None
            if used is not None:
                found.add(used)
                continue
            handed = {holder(arg) for arg in (*call.args, *(item.value for item in call.keywords))} - {None}
            if handed - found and self.may_use_session(call, scope):
                found.update(handed)  # type: ignore[arg-type]
            # `Repo(db).get(...)`, `self.repo.get(...)`: what the object was built on, when its method uses it.
            for argument, where in effects.held_arguments(self, call, scope):
                used = holder(argument)
                if used is not None and (where is scope or used.startswith("self.")):
                    found.add(used)
        return frozenset(found)

    def _receiver_class(self, receiver: ast.AST, scope: Scope) -> Scope | None:
        """The class of this module whose method `receiver.m()` calls, when `receiver` is `self`/`cls` in a
        method, the class itself, a `Cls(...)` call, or a local name annotated `Cls` or only ever assigned `Cls(...)`."""
        if isinstance(receiver, ast.Call):
            return self._local_class(receiver.func, scope)
        if not isinstance(receiver, ast.Name):
            return None
        function = scope.function_scope
        if receiver.id in ("self", "cls") and function is not None:
            return function.klass
        current: Scope | None = scope
        while current is not None and current.kind in ("function", "lambda"):
            for arg in all_args(current.node):
                if arg.arg == receiver.id:
                    annotation = self._parse_string_annotation(arg.annotation) if arg.annotation is not None else None
                    if isinstance(annotation, ast.Subscript) and isinstance(annotation.slice, ast.Tuple):
                        annotation = annotation.slice.elts[0]  # Annotated[Cls, Depends()]
                    return self._local_class(annotation, current) if annotation is not None else None
            values = [getattr(a, "value", None) for a in current.assigns if receiver.id in assigned_names(a)]
            if values:
                classes = {self._local_class(v.func, current) if isinstance(v, ast.Call) else None for v in values}
                return classes.pop() if len(classes) == 1 else None
            current = current.parent
        return self._local_class(receiver, scope)

    def _local_class(self, node: ast.AST, scope: Scope) -> Scope | None:
        """The module-level class of this file a name refers to, unless a function around `scope` rebinds it."""
        if not isinstance(node, ast.Name) or self.binds_locally(node.id, scope):
            return None
        definition = self.local_defs.get(node.id)
        return self.scope_of[definition] if isinstance(definition, ast.ClassDef) else None

    # -------------------------------------------------------- summaries
    def function_summary(self, scope: Scope) -> FunctionSummary:
        cached = getattr(scope, "_summary", None)
        if cached is not None:
            return cached
        summary = FunctionSummary(scope.qualname, scope.is_async)
        scope._summary = summary  # type: ignore[attr-defined]
        arguments = scope.node.args  # type: ignore[attr-defined]
        positional = [*arguments.posonlyargs, *arguments.args]
        summary.parameters = tuple(arg.arg for arg in [*positional, *arguments.kwonlyargs])
        summary.positional_count = len(positional)
        summary.bound = scope.klass is not None and bool(positional) and positional[0].arg in ("self", "cls")
        summary.probes = {
            "session_io_names": lambda: self.session_io_names(scope),
            "handout": lambda: self.session_handout(scope),
            "ends_transactions": lambda: self._ended_parameters(scope, summary.parameters),
            "returns_new_engine": lambda: self._returned_new_engine(scope),
            "borrowed_parameters": lambda: self._borrowed_parameters(scope, summary.parameters),
            **effects.probes(self, scope, summary),
        }
        return summary

    def _borrowed_parameters(self, scope: Scope, parameters: tuple[str, ...]) -> frozenset[str]:
        """What `FunctionSummary.borrowed_parameters` says: every read of the parameter in the function calls a
        method on it other than `dispose` or `close`, looks at it, or lends it to SQLAlchemy's API or to a function that
        borrows it in turn."""
        kept: set[str] = set()
        wanted = set(parameters)
        # Reads in nested functions count too: what they do with it, the function does.
        for node in (load for function in self._functions_within(scope) for load in self._loads_by_function.get(function, ())):
            if node.id not in wanted or node.id in kept:
                continue
            parent = self.parents.get(node)
            if isinstance(parent, ast.Attribute):
                if parent.attr in RELEASING_METHODS:
                    kept.add(node.id)
            elif isinstance(parent, ast.Call) and node is parent.func or isinstance(parent, BORROWING_PARENTS):
                continue
            elif isinstance(parent, (ast.Call, ast.keyword)):
                call = parent if isinstance(parent, ast.Call) else self.parents.get(parent)
                if not (isinstance(call, ast.Call) and self.lends(call, node)):
                    kept.add(node.id)
            else:
                kept.add(node.id)
        return frozenset(parameters) - kept

    @cached_property
    def _loads_by_function(self) -> dict[Scope, list[ast.Name]]:
        """Every read of a plain name in a function, by the innermost function it is read in."""
        loads: dict[Scope, list[ast.Name]] = {}
        for name, found in self.name_loads.items():
            for load in found:
                function = self.scope_of[load].function_scope
                if function is not None:
                    loads.setdefault(function, []).append(load)
        return loads

    def _functions_within(self, function: Scope) -> Iterator[Scope]:
        """`function` and the functions nested in it (in its lambdas and classes too)."""
        pending = [function]
        while pending:
            scope = pending.pop()
            if scope.kind == "function":
                yield scope
            pending.extend(scope.children)

    def lends(self, call: ast.Call, argument: ast.expr) -> bool:
        """Whether `call` only borrows `argument` for its run: SQLAlchemy's own API (`async_sessionmaker(engine)`),
        or a project function whose parameter receiving it is borrowed."""
        if self.api(call.func.value if isinstance(call.func, ast.Subscript) else call.func) is not None:
            return True
        scope = self.scope_of.get(call) or self.module_scope
        summary = self.call_summary(call, scope)
        return summary is not None and summary.parameter_for(call, argument) in summary.borrowed_parameters

    def _returned_new_engine(self, scope: Scope) -> str | None:
        """What `FunctionSummary.returns_new_engine` says: a returned engine-factory call, a local name assigned one
        in this function, or the call of another function that returns a new engine."""
        assigned = self._assignments(scope)
        for returned in scope.returns:
            value = returned.value.value if isinstance(returned.value, ast.Await) else returned.value
            if isinstance(value, ast.Name) and value.id not in scope.global_names and len(assigned.get(value.id, [])) == 1:
                value = getattr(assigned[value.id][0], "value", None)
            if isinstance(value, ast.Call):
                kind = self.creates_engine(value, scope)
                if kind is not None:
                    return kind
        return None

    def creates_engine(self, call: ast.Call, scope: Scope) -> str | None:
        """The kind of engine a call creates anew: SQLAlchemy's factories and configured ones, and the project's
        functions that return a new engine (`make_engine()`)."""
        factory = self.engine_factory(call)
        if factory is not None:
            return names.ENGINE_FACTORIES.get(factory, "async")
        summary = self.call_summary(call, scope) if _names_an_engine(call) else None
        return summary.returns_new_engine if summary is not None else None

    def _ended_parameters(self, scope: Scope, parameters: tuple[str, ...]) -> frozenset[str]:
        """The parameters of a function whose `commit()`/`rollback()` it calls, or that it hands to code that
        may call them (see `hands_session_on`)."""
        ended = set()
        for call, where in self.calls_within(scope):
            func = call.func
            if isinstance(func, ast.Attribute) and func.attr in ("commit", "rollback") and isinstance(func.value, ast.Name):
                if func.value.id in parameters:
                    ended.add(func.value.id)
                continue
            for arg in (*call.args, *(kw.value for kw in call.keywords)):
                name = arg.value if isinstance(arg, ast.Starred) else arg
                if isinstance(name, ast.Name) and name.id in parameters and name.id not in ended:
                    if self._may_end_transaction(call, arg, where):
                        ended.add(name.id)
        return frozenset(ended)

    def _may_end_transaction(self, call: ast.Call, argument: ast.expr, scope: Scope) -> bool:
        """Whether the code `call` runs may end the transaction of the session passed as `argument`: a project
        function that commits or rolls back that parameter (or passes it on to one that may), and any code
        this analysis cannot follow."""
        if isinstance(call.func, ast.Attribute) and self.session_binding(call.func.value, scope) is not None:
            return False  # a method of the session itself (`session.add(obj)`), judged as such elsewhere
        summary = self.call_summary(call, scope)
        if summary is None or isinstance(argument, ast.Starred):
            return True
        parameter = summary.parameter_for(call, argument)
        return parameter is None or parameter in summary.ends_transactions

    def session_handout(self, scope: Scope) -> SessionHandout:
        """The session a function yields or returns (the last one, when several), or the session factory it returns."""
        yields = returns = expires_on_commit = factory = None
        provides_transaction = False
        for node in scope.yields:
            value = getattr(node, "value", None)
            binding = self.session_binding(value, scope) if value is not None else None
            if binding is not None:
                yields = binding.kind or "async"
                expires_on_commit = binding.expires_on_commit
                provides_transaction = (
                    self.in_begin_block(node, binding, scope)
                    or any(_same_session_call(self, call, scope, binding, "commit") for call in scope.calls)
                    # `await commit_or_rollback(session)` after the yield: assume it may commit.
                    or self.passes_session_on(binding, scope)
                )
        for node in scope.returns:
            if node.value is None:
                continue
            binding = self.session_binding(node.value, scope)
            if binding is not None:
                returns = binding.kind or "async"
                expires_on_commit = binding.expires_on_commit
                continue
            symbol = self.classify_value(node.value, scope)
            if symbol is not None and symbol.kind == "session":
                returns = symbol.flavour or "async"
                expires_on_commit = symbol.expires_on_commit
            elif symbol is not None and symbol.kind == "factory" and not symbol.registry:
                factory = symbol.flavour or "async"
        declared = getattr(scope.node, "returns", None)
        if returns is None and factory is None and not scope.yields and declared is not None:
            # What it returns is out of sight (`return makers[dsn]()`), but its annotation says: `-> Session`.
            returns = self.annotation_session(declared)[0]
            factory = names.SESSION_FACTORY_CLASSES.get(self.api(declared.value if isinstance(declared, ast.Subscript) else declared) or "")
        if yields is None and returns is None and factory is None:
            return NO_HANDOUT
        return SessionHandout(yields, returns, provides_transaction, expires_on_commit, factory)

    def class_summary(self, scope: Scope) -> ClassSummary:
        cached = getattr(scope, "_class_summary", None)
        if cached is not None:
            return cached
        node = scope.node
        assert isinstance(node, ast.ClassDef)
        # `CRUDService[Invoice]`: the generic class itself is the base.
        bases = tuple(q for q in (self.qualname(b.value if isinstance(b, ast.Subscript) else b) for b in node.bases) if q)
        root = any(names.sqlalchemy_api(q) in ("DeclarativeBase", "DeclarativeBaseNoMeta") for q in bases)
        relationships: dict[str, Relationship] = {}
        for assign in scope.assigns:
            value = getattr(assign, "value", None)
            if self._is_relationship_call(value):
                annotation = assign.annotation if isinstance(assign, ast.AnnAssign) else None
                for name in assigned_names(assign):
                    relationships[name] = self._relationship(name, value, annotation, assign)
        # Mixins declare relationships as `@declared_attr def owner(cls) -> Mapped[User]: return relationship(...)`.
        for method in scope.children:
            if method.kind != "function" or not any(
                names.sqlalchemy_api(q) in ("declared_attr", "cascading") for q in self.decorator_qualnames(method)
            ):
                continue
            for returned in method.returns:
                if self._is_relationship_call(returned.value):
                    relationships[method.name] = self._relationship(method.name, returned.value, method.node.returns, method.node)
        body = [statement for statement in node.body if isinstance(statement, (ast.Assign, ast.AnnAssign))]
        columns, fields = self._class_attributes(body, relationships)
        summary = ClassSummary(
            f"{self.module}.{scope.name}",
            bases,
            relationships,
            root,
            columns=columns,
            fields=fields,
            is_table=any(kw.arg == "table" and literal_str(kw.value) != "False" for kw in node.keywords)
            or any(not {"__tablename__", "__table__"}.isdisjoint(assigned_names(statement)) for statement in body),
            aliases_unknown=self._renames_fields(scope, body),
            defines_init=nested_def(scope, "__init__") is not None,
            session_attributes={
                name: (binding.kind, binding.origin) for name, binding in self._own_session_attributes(scope).items()
            },
            class_sessions={
                statement.target.id: kind
                for statement in body
                if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                for kind in [self.annotation_session(statement.annotation)[0]]
                if kind is not None
            },
            methods={child.name: self.function_summary(child) for child in scope.children if child.kind == "function"},
        )
        scope._class_summary = summary  # type: ignore[attr-defined]
        return summary

def _memoised(model: SemanticModel, call: ast.Call, function: Scope) -> bool:
    """The engine is stored where it outlives the call (a global, an attribute, an item of a module-level
    dict) under a check that it is not there yet: `if x is None: x = ...`, or `if x: return x` before it."""
    store = model.parents.get(call)
    alternative = store if isinstance(store, ast.BoolOp) and isinstance(store.op, ast.Or) else None
    if alternative is not None:  # `x = x or create_engine(...)`
        store = model.parents.get(alternative)
    if not isinstance(store, (ast.Assign, ast.AnnAssign)):
        return False
    targets = store.targets if isinstance(store, ast.Assign) else [store.target]
    kept = [target for target in targets if _outlives_call(model, target, function)]
    if alternative is not None:
        return any(_same(alternative.values[0], target) for target in kept)
    if not kept:
        kept = _kept_later(model, store, targets, function)
        if not kept:
            return False
    child: ast.AST = store
    for ancestor in model.ancestors(store):
        if ancestor is function.node:
            break
        if isinstance(ancestor, ast.If) and child in ancestor.body and any(_tests_unset(ancestor.test, t) for t in targets):
            return True
        child = ancestor
    return any(
        isinstance(statement, ast.If)
        and statement.lineno < store.lineno
        and isinstance(statement.body[-1], ast.Return)
        and any(_tests_set(statement.test, target) for target in kept)
        for statement in function.node.body  # type: ignore[attr-defined]
    )


def _kept_later(model: SemanticModel, store: ast.Assign | ast.AnnAssign, targets: list[ast.expr], function: Scope) -> list[ast.expr]:
    """For a local name assigned the engine, the names among `targets` that a later statement of the same block
    stores where it outlives the call (`engine = create_engine(url)` then `cache[url] = engine`)."""
    block = next((body for body in statement_blocks(model.parents.get(store)) if store in body), [])
    kept = []
    for statement in block[block.index(store) + 1 :] if store in block else []:
        if isinstance(statement, ast.Assign) and any(_same(statement.value, t) for t in targets):
            if any(_outlives_call(model, other, function) for other in statement.targets):
                kept.extend(t for t in targets if _same(statement.value, t))
    return kept


def _outlives_call(model: SemanticModel, target: ast.AST, function: Scope) -> bool:
    if isinstance(target, ast.Name):
        return target.id in function.global_names
    if isinstance(target, ast.Subscript):
        container = target.value
        if isinstance(container, ast.Name):
            return container.id in model.local_defs and not model.binds_locally(container.id, function)
        return isinstance(container, ast.Attribute)
    return isinstance(target, ast.Attribute)


def _tests_unset(test: ast.AST, target: ast.AST) -> bool:
    """`x is None`, `not x`, `not hasattr(obj, "x")`, `key not in cache`, or one of them in an `or`."""
    pending = [test]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            pending.extend(node.values)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not) and _tests_set(node.operand, target):
            return True
        elif isinstance(node, ast.Compare) and _compares(node, target, ast.Is, ast.NotIn):
            return True
    return False


def _tests_set(test: ast.AST, target: ast.AST) -> bool:
    """`x`, `x is not None`, `hasattr(obj, "x")`, `key in cache`."""
    if isinstance(test, ast.Compare):
        return _compares(test, target, ast.IsNot, ast.In)
    if isinstance(test, ast.Call) and dotted(test.func) == ["hasattr"] and len(test.args) == 2:
        owner, attr = test.args
        stored = dotted(target)
        return stored is not None and isinstance(attr, ast.Constant) and dotted(owner) == stored[:-1] and attr.value == stored[-1]
    return _same(test, target)


def _compares(test: ast.Compare, target: ast.AST, against_none: type, membership: type) -> bool:
    """`target <against_none> None` for a name or attribute, `key <membership> cache` for `cache[key]`."""
    if len(test.ops) != 1:
        return False
    op, right = test.ops[0], test.comparators[0]
    if isinstance(op, against_none):
        return isinstance(right, ast.Constant) and right.value is None and _same(test.left, target)
    if isinstance(op, membership) and isinstance(target, ast.Subscript):
        return _same(right, target.value) and _same(test.left, target.slice)
    return False


def _same(left: ast.AST, right: ast.AST) -> bool:
    """The same name, attribute chain or constant."""
    if isinstance(left, ast.Constant) and isinstance(right, ast.Constant):
        return left.value == right.value
    return dotted(left) is not None and dotted(left) == dotted(right)


def _self_attribute_stored(target: ast.AST | None) -> str | None:
    """The attribute a store into `target` keeps a value in: `x` for `self.x`, `x[...]` for `self.x[key]`."""
    container = target.value if isinstance(target, ast.Subscript) else target
    if isinstance(container, ast.Attribute) and isinstance(container.value, ast.Name) and container.value.id == "self":
        return f"{container.attr}[...]" if container is not target else container.attr
    return None


def _receiver_name(receiver: ast.expr) -> str | None:
    """The name a session table would hold a receiver under: `db`, `session` of `self.session`, `sessions[...]` of
    `self.sessions[key]`."""
    if isinstance(receiver, ast.Name):
        return receiver.id
    if isinstance(receiver, ast.Attribute):
        return receiver.attr
    return _self_attribute_stored(receiver) if isinstance(receiver, ast.Subscript) else None


def _agreed(kinds: set[str]) -> str | None:
    """The one kind of session ("async"/"sync") that several places agree on, else None ("" is unknown)."""
    return next(iter(kinds)) or None if len(kinds) == 1 else None


def _container_key(node: ast.Subscript) -> str | None:
    """`ctx[db]` for `ctx["db"]`: a name subscripted with a constant word."""
    key = node.slice
    if isinstance(node.value, ast.Name) and isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value.isidentifier():
        return f"{node.value.id}[{key.value}]"
    return None


def _names_an_engine(call: ast.Call) -> bool:
    """Whether a call's function is named like an engine factory (`make_engine`, `create_db_engine`): the
    project functions worth asking whether they return a new engine (asking of every call would cost lookups)."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return "ngine" in name and "engine" in name.lower()


def _assignment_before(scope: Scope, name: ast.Name) -> ast.AST | None:
    """The last assignment of `name` in `scope` that ends before `name` is read."""
    read_at = (name.lineno, name.col_offset)
    latest = None
    for assign in scope.assigns:
        if isinstance(assign, ast.Assign):
            targets = assign.targets
        elif isinstance(assign, (ast.AnnAssign, ast.NamedExpr)) and assign.value is not None:
            targets = [assign.target]
        else:
            continue
        if not any(isinstance(target, ast.Name) and target.id == name.id for target in targets):
            continue
        if (assign.end_lineno, assign.end_col_offset) <= read_at and (
            latest is None or (assign.lineno, assign.col_offset) > (latest.lineno, latest.col_offset)
        ):
            latest = assign
    return latest


def module_path(index: Resolver, qualname: str, from_path: str, reader: str | None = None) -> str | None:
    """The project file an imported name comes from: the longest prefix of it that is a module (looked up for the
    code of `reader`, by default that of `from_path`)."""
    parts = qualname.split(".")
    for split in range(len(parts), 0, -1):
        if not parts[split - 1]:
            continue
        path = index.find_module(".".join(parts[:split]), from_path, reader)
        if path is not None:
            return path
    return None



def _same_session_call(model: SemanticModel, call: ast.Call, scope: Scope, binding: SessionBinding, method: str) -> bool:
    found = model.session_method_call(call, scope)
    return found is not None and found[1] == method and found[0].name == binding.name


from flake8_async_sqla.core import effects  # noqa: E402  (the effects' probes read the model: imported once it is defined)
