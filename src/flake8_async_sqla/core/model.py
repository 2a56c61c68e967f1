"""The per-file semantic model: one iterative walk, then facts the rules ask for.

The walk never recurses on the Python stack, so a 5,000-term expression or a
3,000-link attribute chain is as safe as any other file. Facts that need another
module (a router, a session dependency, a model's relationships) are asked of the
project index lazily, so a file with nothing database-related costs one walk.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

from flake8_async_sqla.core import names

if TYPE_CHECKING:
    from flake8_async_sqla.core.project import ProjectIndex

FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef)
LOOP_NODES = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
WITH_NODES = (ast.With, ast.AsyncWith)


@dataclass
class SessionBinding:
    """A name (or `self.attr`) that holds a session, and where the session came from."""

    name: str
    kind: str | None  # "async", "sync", or None when unknown
    origin: str  # "created", "param", "dependency", "global", "attribute", "closure"
    node: ast.AST
    # True when whoever handed the session out also runs its transaction
    # (`factory.begin()`, or a dependency that yields inside `begin()` / commits).
    transactional: bool = False

    @property
    def owned(self) -> bool:
        return self.origin == "created"


@dataclass
class FunctionSummary:
    """What other modules need to know about a function."""

    qualname: str
    is_async: bool
    yields_session: str | None = None  # kind of session it yields, if it does
    returns_session: str | None = None
    provides_transaction: bool = False


@dataclass
class Relationship:
    name: str
    lazy: str | None  # the literal `lazy=` value, None when not given
    target: str | None  # target class qualname, when known
    node: ast.AST | None = None

    @property
    def loads_lazily(self) -> bool:
        return self.lazy is None or self.lazy in ("select", "True")


@dataclass
class ClassSummary:
    qualname: str
    base_qualnames: tuple[str, ...]
    own_relationships: dict[str, Relationship]
    is_declarative_root: bool = False


@dataclass
class Symbol:
    """What a module-level name is, as far as the rules care."""

    kind: str  # "app", "factory", "engine", "session", "alias", "function", "class"
    flavour: str | None = None  # async/sync for factories, engines, sessions and aliases
    function: FunctionSummary | None = None
    klass: ClassSummary | None = None
    provider: FunctionSummary | None = None  # for an alias: the dependency in it


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
    global_names: set[str] = field(default_factory=set)
    children: list[Scope] = field(default_factory=list)
    # Filled in lazily by the model.
    _sessions: dict[str, SessionBinding] | None = None
    _holders: dict[str, SessionBinding] | None = None

    @property
    def is_function(self) -> bool:
        return self.kind == "function"

    @property
    def function_scope(self) -> Scope | None:
        """The nearest enclosing function (itself included); lambdas belong to their function."""
        scope: Scope | None = self
        while scope is not None and scope.kind not in ("function", "module"):
            scope = scope.parent
        return scope if scope is not None and scope.kind == "function" else None


def module_name_for(path: str) -> str:
    """Dotted module name of a file: its name plus every enclosing package folder."""
    import os

    path = os.path.abspath(path)
    folder, filename = os.path.split(path)
    stem = filename[:-3] if filename.endswith(".py") else filename
    parts = [] if stem == "__init__" else [stem]
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        folder, package = os.path.split(folder)
        parts.insert(0, package)
        if not package:
            break
    return ".".join(parts) or stem


def dotted(node: ast.AST) -> list[str] | None:
    """`a.b.c` as ["a", "b", "c"]; None for anything but names and attributes."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    parts.reverse()
    return parts


def literal_str(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bool)) or (
        isinstance(node, ast.Constant) and node.value is None
    ):
        return str(node.value)
    return None


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def call_method(node: ast.AST) -> tuple[ast.expr, str] | None:
    """For `recv.meth(...)`, (recv, "meth")."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.value, node.func.attr
    return None


class SemanticModel:
    """Facts about one file, computed once and shared by every rule."""

    def __init__(
        self,
        tree: ast.Module,
        path: str = "<unknown>",
        module: str | None = None,
        index: ProjectIndex | None = None,
    ) -> None:
        self.tree = tree
        self.path = path
        self.module = module if module is not None else module_name_for(path)
        self.index = index
        self.parents: dict[ast.AST, ast.AST] = {}
        self.scope_of: dict[ast.AST, Scope] = {}
        self.imports: dict[str, str] = {}
        self.module_scope = Scope(tree, "module", None, name=self.module, qualname=self.module)
        self.scopes: list[Scope] = [self.module_scope]
        self.classes: dict[str, Scope] = {}
        self.local_defs: dict[str, ast.AST] = {}
        self.dependency_calls: list[ast.Call] = []
        self._symbols: dict[str, Symbol | None] = {}
        self._resolving: set[str] = set()
        self._walk()
        self._route_handlers: set[Scope] | None = None
        self._dependencies: set[Scope] | None = None
        self._lifespans: set[Scope] | None = None

    # ------------------------------------------------------------------ walk
    def _walk(self) -> None:
        stack: list[tuple[ast.AST, ast.AST | None, Scope]] = [(self.tree, None, self.module_scope)]
        parents = self.parents
        scope_of = self.scope_of
        while stack:
            node, parent, scope = stack.pop()
            if parent is not None:
                parents[node] = parent
            inner = scope
            if isinstance(node, FUNCTION_NODES):
                inner = self._new_scope(node, "function", scope, node.name)
                inner.is_async = isinstance(node, ast.AsyncFunctionDef)
                self._bind_local(node.name, node, scope)
                # Decorators, defaults and annotations are evaluated in the enclosing scope.
                self._push(stack, node, scope, node.decorator_list)
                self._push(stack, node, scope, [node.args])
                if node.returns is not None:
                    self._push(stack, node, scope, [node.returns])
                self._push(stack, node, inner, node.body)
                continue
            if isinstance(node, ast.Lambda):
                inner = self._new_scope(node, "lambda", scope, "<lambda>")
                self._push(stack, node, scope, [node.args])
                self._push(stack, node, inner, [node.body])
                continue
            if isinstance(node, ast.ClassDef):
                inner = self._new_scope(node, "class", scope, node.name)
                self._bind_local(node.name, node, scope)
                if scope is self.module_scope:
                    self.classes[node.name] = inner
                self._push(stack, node, scope, node.decorator_list + node.bases + node.keywords)
                self._push(stack, node, inner, node.body)
                continue
            scope_of[node] = scope
            if isinstance(node, ast.Call):
                scope.calls.append(node)
            elif isinstance(node, ast.Attribute):
                scope.attributes.append(node)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr, ast.AugAssign)):
                scope.assigns.append(node)
                if scope.kind == "module" and isinstance(node, (ast.Assign, ast.AnnAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for target in targets:
                        if isinstance(target, ast.Name):
                            self.local_defs[target.id] = node
            elif isinstance(node, WITH_NODES):
                scope.withs.append(node)
            elif isinstance(node, (ast.Yield, ast.YieldFrom)):
                scope.yields.append(node)
            elif isinstance(node, ast.Return):
                scope.returns.append(node)
            elif isinstance(node, LOOP_NODES):
                scope.loops.append(node)
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                scope.global_names.update(node.names)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.imports[alias.asname] = alias.name
                    else:
                        top = alias.name.partition(".")[0]
                        self.imports[top] = top
            elif isinstance(node, ast.ImportFrom):
                base = self._absolute_module(node.module, node.level)
                for alias in node.names:
                    if alias.name != "*":
                        self.imports[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
            elif isinstance(node, ast.TypeAlias if hasattr(ast, "TypeAlias") else ()):
                if isinstance(node.name, ast.Name):
                    self.local_defs[node.name.id] = node
                scope.assigns.append(node)
            self._push(stack, node, scope, ast.iter_child_nodes(node))

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
        """The qualified name an expression refers to: imports resolved, locals prefixed by the module."""
        parts = dotted(node)
        if parts is None:
            return None
        head = parts[0]
        if head in self.imports:
            base = self.imports[head]
        elif head in self.local_defs:
            base = f"{self.module}.{head}"
        else:
            return None
        return ".".join([base, *parts[1:]])

    def api(self, node: ast.AST) -> str | None:
        """The SQLAlchemy API name an expression refers to (`create_async_engine`), if any."""
        return names.sqlalchemy_api(self.qualname(node))

    def symbol(self, qualname: str | None) -> Symbol | None:
        """What a qualified name is: looked up here for local names, else in the project index."""
        if not qualname:
            return None
        prefix = self.module + "."
        if qualname.startswith(prefix) and "." not in qualname[len(prefix):]:
            return self.export(qualname[len(prefix):])
        if self.index is None:
            return None
        return self.index.lookup(qualname, self.path)

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
        return self.classify_value(value, self.module_scope) or self._alias_symbol(value)

    def _is_type_alias_annotation(self, node: ast.AST) -> bool:
        return (self.qualname(node) or "").rpartition(".")[2] == "TypeAlias"

    def _alias_symbol(self, value: ast.AST) -> Symbol | None:
        kind, provider = self.annotation_session(value)
        if kind is None:
            return None
        return Symbol("alias", flavour=kind, provider=provider)

    # --------------------------------------------------------- value facts
    def classify_value(self, value: ast.AST, scope: Scope) -> Symbol | None:
        """What an expression evaluates to: an app, engine, session factory or session."""
        if isinstance(value, ast.Await):
            value = value.value
        if isinstance(value, ast.Call):
            func_qualname = self.qualname(value.func)
            api = names.sqlalchemy_api(func_qualname)
            if api in names.ENGINE_FACTORIES:
                return Symbol("engine", flavour=names.ENGINE_FACTORIES[api])
            if api in names.SESSION_FACTORY_CLASSES:
                return Symbol("factory", flavour=names.SESSION_FACTORY_CLASSES[api])
            if api in names.SCOPED_REGISTRIES:
                return Symbol("factory", flavour=names.SCOPED_REGISTRIES[api])
            if api in names.SESSION_CLASSES:
                return Symbol("session", flavour=names.SESSION_CLASSES[api])
            if names.fastapi_api(func_qualname) in names.APP_CLASSES:
                return Symbol("app")
            factory = self.factory_of(value.func, scope)
            if factory is not None:
                return Symbol("session", flavour=factory)
            symbol = self.symbol(func_qualname)
            if symbol is not None and symbol.function is not None and symbol.function.returns_session:
                return Symbol("session", flavour=symbol.function.returns_session)
            return None
        if isinstance(value, (ast.Name, ast.Attribute)):
            binding = self.session_binding(value, scope)
            if binding is not None:
                return Symbol("session", flavour=binding.kind)
            symbol = self.symbol_of(value)
            if symbol is not None and symbol.kind in ("factory", "engine", "session", "app"):
                return symbol
            for_scope = self._lookup_local_symbol(value, scope)
            if for_scope is not None:
                return for_scope
        return None

    def _lookup_local_symbol(self, node: ast.AST, scope: Scope) -> Symbol | None:
        """A factory or engine bound to a plain name inside a function (or its closures)."""
        if not isinstance(node, ast.Name):
            return None
        current: Scope | None = scope
        while current is not None and current.kind != "module":
            for assign in current.assigns:
                if node.id in _assigned_names(assign) and getattr(assign, "value", None) is not None:
                    if assign is self.parents.get(node) or _contains(assign, node):
                        continue
                    symbol = self.classify_value(assign.value, current)
                    if symbol is not None and symbol.kind in ("factory", "engine"):
                        return symbol
            current = current.parent
        return None

    def factory_of(self, node: ast.AST, scope: Scope) -> str | None:
        """The session kind a call of `node` opens, when `node` is a session factory."""
        symbol = self.symbol_of(node) if not isinstance(node, ast.Name) or node.id not in self._function_names(scope) else None
        if symbol is None:
            symbol = self._lookup_local_symbol(node, scope)
        if symbol is None and isinstance(node, ast.Name):
            symbol = self._factory_param(node.id, scope)
        if symbol is not None and symbol.kind == "factory":
            return symbol.flavour or "async"
        return None

    def _function_names(self, scope: Scope) -> set[str]:
        names_: set[str] = set()
        current: Scope | None = scope
        while current is not None and current.kind != "module":
            if current.kind == "function":
                names_.update(a.arg for a in _all_args(current.node))
            current = current.parent
        return names_

    def _factory_param(self, name: str, scope: Scope) -> Symbol | None:
        current: Scope | None = scope
        while current is not None and current.kind != "module":
            if current.kind == "function":
                for arg in _all_args(current.node):
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
            if tail == "Optional" and elements:
                return self.annotation_session(elements[0])
            return None, None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            for side in (node.left, node.right):
                kind, provider = self.annotation_session(side)
                if kind:
                    return kind, provider
            return None, None
        api = self.api(node)
        if api in names.SESSION_CLASSES:
            return names.SESSION_CLASSES[api], None
        symbol = self.symbol_of(node)
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

    def is_dependency_marker(self, call: ast.AST) -> bool:
        return isinstance(call, ast.Call) and names.fastapi_api(self.qualname(call.func)) in names.DEPENDENCY_MARKERS

    def dependency_target(self, call: ast.AST) -> ast.expr | None:
        """The callable inside `Depends(x)` / `Security(x)`."""
        if not self.is_dependency_marker(call):
            return None
        assert isinstance(call, ast.Call)
        if call.args:
            return call.args[0]
        return keyword(call, "dependency")

    def dependency_provider(self, call: ast.AST) -> FunctionSummary | None:
        target = self.dependency_target(call)
        if target is None:
            return None
        symbol = self.symbol_of(target)
        return symbol.function if symbol is not None else None

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
                    for name in _assigned_names(assign):
                        found[name] = SessionBinding(name, symbol.flavour, "global", assign)
            return found
        if scope.kind == "function":
            self._param_sessions(scope, found)
        for with_node in scope.withs:
            for item in with_node.items:  # type: ignore[attr-defined]
                if not isinstance(item.optional_vars, ast.Name):
                    continue
                opened = self._opened_session(item.context_expr, scope)
                if opened is not None:
                    kind, transactional = opened
                    name = item.optional_vars.id
                    found[name] = SessionBinding(name, kind, "created", item, transactional)
        for assign in scope.assigns:
            value = getattr(assign, "value", None)
            if value is None:
                continue
            targets = _assigned_names(assign)
            if not targets:
                continue
            if isinstance(value, ast.Name) and value.id in found:
                for name in targets:
                    found.setdefault(name, found[value.id])
                continue
            symbol = self.classify_value(value, scope)
            if symbol is not None and symbol.kind == "session":
                origin = "global" if targets[0] in scope.global_names else "created"
                for name in targets:
                    found.setdefault(name, SessionBinding(name, symbol.flavour, origin, assign))
        return found

    def _opened_session(self, expr: ast.AST, scope: Scope) -> tuple[str | None, bool] | None:
        """For a `with` item: (kind, transactional) when it opens a session."""
        method = call_method(expr)
        if method is not None and method[1] == "begin":
            kind = self.factory_of(method[0], scope)
            if kind is not None:
                return kind, True
        symbol = self.classify_value(expr, scope) if isinstance(expr, ast.Call) else None
        if symbol is not None and symbol.kind == "session":
            return symbol.flavour, False
        return None

    def _param_sessions(self, scope: Scope, found: dict[str, SessionBinding]) -> None:
        node = scope.node
        args = node.args  # type: ignore[attr-defined]
        positional = args.posonlyargs + args.args
        defaults: dict[str, ast.expr] = dict(zip([a.arg for a in positional][-len(args.defaults):], args.defaults)) if args.defaults else {}
        for arg, default in zip(args.kwonlyargs, args.kw_defaults):
            if default is not None:
                defaults[arg.arg] = default
        for arg in _all_args(node):
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
                continue
            if provider is not None:
                found[arg.arg] = SessionBinding(arg.arg, kind, "dependency", arg, provider.provides_transaction)
            else:
                found[arg.arg] = SessionBinding(arg.arg, kind, "param", arg)

    def session_binding(self, node: ast.AST, scope: Scope) -> SessionBinding | None:
        """The session an expression (a name, or `self.attr` in a method) holds, if any."""
        if isinstance(node, ast.Name):
            current: Scope | None = scope
            while current is not None:
                if current.kind != "class":
                    binding = self.sessions(current).get(node.id)
                    if binding is not None:
                        if current is not scope and current.kind != "module" and binding.origin == "created":
                            return SessionBinding(binding.name, binding.kind, "closure", binding.node)
                        return binding
                current = current.parent
            return None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
            function = scope.function_scope
            klass = function.klass if function is not None else None
            if klass is not None:
                return self.class_session_attributes(klass).get(node.attr)
        return None

    def class_session_attributes(self, klass: Scope) -> dict[str, SessionBinding]:
        """`self.x = <session>` assignments in any method of the class."""
        cached = getattr(klass, "_session_attrs", None)
        if cached is not None:
            return cached
        attrs: dict[str, SessionBinding] = {}
        klass._session_attrs = attrs  # type: ignore[attr-defined]
        for method in klass.children:
            if method.kind != "function":
                continue
            for assign in method.assigns:
                value = getattr(assign, "value", None)
                if value is None:
                    continue
                targets = assign.targets if isinstance(assign, ast.Assign) else [getattr(assign, "target", None)]
                for target in targets:
                    if (
                        isinstance(target, ast.Attribute)
                        and isinstance(target.value, ast.Name)
                        and target.value.id == "self"
                    ):
                        binding = self.session_binding(value, method) if isinstance(value, ast.Name) else None
                        if binding is None:
                            symbol = self.classify_value(value, method)
                            if symbol is None or symbol.kind != "session":
                                continue
                            binding = SessionBinding(target.attr, symbol.flavour, "created", assign)
                        origin = "attribute" if binding.origin != "created" else "created"
                        attrs[target.attr] = SessionBinding(target.attr, binding.kind, origin, assign)
        return attrs

    def holders(self, scope: Scope) -> dict[str, SessionBinding]:
        """Names bound to an object built from a session (`repo = Repo(session)`, `partial(f, session)`)."""
        if scope._holders is not None:
            return scope._holders
        scope._holders = {}
        for assign in scope.assigns:
            value = getattr(assign, "value", None)
            if not isinstance(value, ast.Call):
                continue
            for arg in [*value.args, *(kw.value for kw in value.keywords)]:
                binding = self.session_binding(arg, scope)
                if binding is not None:
                    for name in _assigned_names(assign):
                        if name not in self.sessions(scope):
                            scope._holders[name] = binding
                    break
        return scope._holders

    def session_reached_by(self, expr: ast.AST, scope: Scope) -> SessionBinding | None:
        """The session an expression uses: named directly, through a holder, or via `self`."""
        for node in ast.walk(expr):
            if isinstance(node, (ast.Name, ast.Attribute)) and isinstance(getattr(node, "ctx", None), ast.Load):
                binding = self.session_binding(node, scope)
                if binding is None and isinstance(node, ast.Name):
                    binding = self.holders(scope).get(node.id)
                if binding is not None:
                    return binding
            if isinstance(node, ast.Call):
                binding = self._self_method_session(node, scope)
                if binding is not None:
                    return binding
        return None

    def _self_method_session(self, call: ast.Call, scope: Scope) -> SessionBinding | None:
        """`self.m()` where method `m` uses a session attribute of the class."""
        func = call.func
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

    # ----------------------------------------------------- structure facts
    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        parent = self.parents.get(node)
        while parent is not None:
            yield parent
            parent = self.parents.get(parent)

    def in_begin_block(self, node: ast.AST, binding: SessionBinding, scope: Scope) -> bool:
        """Whether `node` sits inside `with <binding>.begin():` (or the session was opened by `.begin()`)."""
        if binding.transactional:
            return True
        for ancestor in self.ancestors(node):
            if ancestor is scope.node:
                return False
            if isinstance(ancestor, WITH_NODES):
                for item in ancestor.items:
                    method = call_method(item.context_expr)
                    if method is not None and method[1] in ("begin", "begin_nested"):
                        if self.session_binding(method[0], scope) is binding or (
                            isinstance(method[0], ast.Name) and method[0].id == binding.name
                        ):
                            return True
        return False

    def in_loop(self, node: ast.AST, scope: Scope) -> bool:
        """Whether `node` runs repeatedly inside its own scope (loop body or comprehension element)."""
        for ancestor in self.ancestors(node):
            if ancestor is scope.node:
                return False
            if isinstance(ancestor, (ast.For, ast.AsyncFor)) and node not in (ancestor.iter,) and not _contains(ancestor.iter, node):
                return True
            if isinstance(ancestor, ast.While):
                return True
            if isinstance(ancestor, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
                if not _contains(ancestor.generators[0].iter, node):
                    return True
        return False

    def decorator_qualnames(self, scope: Scope) -> list[str]:
        result = []
        for decorator in getattr(scope.node, "decorator_list", []):
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            result.append(self.qualname(target) or "")
        return result

    def is_route_handler(self, scope: Scope) -> bool:
        if self._route_handlers is None:
            self._route_handlers = {s for s in self.scopes if s.kind == "function" and self._has_route_decorator(s)}
        return scope in self._route_handlers

    def _has_route_decorator(self, scope: Scope) -> bool:
        for decorator in getattr(scope.node, "decorator_list", []):
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if not isinstance(target, ast.Attribute) or target.attr not in names.ROUTE_METHODS:
                continue
            symbol = self.symbol_of(target.value)
            if symbol is not None and symbol.kind == "app":
                return True
        return False

    def route_handlers(self) -> list[Scope]:
        return [s for s in self.scopes if s.kind == "function" and self.is_route_handler(s)]

    def is_dependency(self, scope: Scope) -> bool:
        """A function of this file named in `Depends(...)` / `Security(...)` anywhere in the file."""
        if self._dependencies is None:
            self._dependencies = set()
            for s in self.scopes:
                for call in s.calls:
                    target = self.dependency_target(call)
                    if target is None:
                        continue
                    node = self.local_defs.get(target.id) if isinstance(target, ast.Name) else None
                    if isinstance(node, FUNCTION_NODES):
                        self._dependencies.add(self.scope_of[node])
        return scope in self._dependencies

    def is_lifespan(self, scope: Scope) -> bool:
        if self._lifespans is None:
            self._lifespans = set()
            for s in self.scopes:
                for call in s.calls:
                    value = keyword(call, "lifespan")
                    if isinstance(value, ast.Name) and isinstance(self.local_defs.get(value.id), FUNCTION_NODES):
                        self._lifespans.add(self.scope_of[self.local_defs[value.id]])
            for s in self.scopes:
                if s.kind == "function" and "lifespan" in s.name.lower() and any(
                    q in names.CONTEXT_MANAGER_DECORATORS for q in self.decorator_qualnames(s)
                ):
                    self._lifespans.add(s)
        return scope in self._lifespans

    def is_cached(self, scope: Scope) -> bool:
        return any(q in names.CACHING_DECORATORS for q in self.decorator_qualnames(scope))

    def called_functions(self, scope: Scope) -> Iterator[Scope]:
        """Functions of this module that `scope` calls by name (or as `self.m()` in a class)."""
        for call in scope.calls:
            func = call.func
            node = None
            if isinstance(func, ast.Name) and func.id not in self.imports:
                node = self.local_defs.get(func.id)
                if node is None:
                    node = _nested_def(scope, func.id)
            elif (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id in ("self", "cls")
                and scope.function_scope is not None
                and scope.function_scope.klass is not None
            ):
                for method in scope.function_scope.klass.children:
                    if method.name == func.attr and method.kind == "function":
                        node = method.node
            if isinstance(node, FUNCTION_NODES):
                yield self.scope_of[node]

    # -------------------------------------------------------- summaries
    def function_summary(self, scope: Scope) -> FunctionSummary:
        cached = getattr(scope, "_summary", None)
        if cached is not None:
            return cached
        summary = FunctionSummary(scope.qualname, scope.is_async)
        scope._summary = summary  # type: ignore[attr-defined]
        for node in scope.yields:
            value = getattr(node, "value", None)
            binding = self.session_binding(value, scope) if value is not None else None
            if binding is not None:
                summary.yields_session = binding.kind or "async"
                summary.provides_transaction = self.in_begin_block(node, binding, scope) or any(
                    _same_session_call(self, call, scope, binding, "commit") for call in scope.calls
                )
        for node in scope.returns:
            if node.value is None:
                continue
            binding = self.session_binding(node.value, scope)
            if binding is not None:
                summary.returns_session = binding.kind or "async"
                continue
            symbol = self.classify_value(node.value, scope)
            if symbol is not None and symbol.kind == "session":
                summary.returns_session = symbol.flavour or "async"
        return summary

    def class_summary(self, scope: Scope) -> ClassSummary:
        cached = getattr(scope, "_class_summary", None)
        if cached is not None:
            return cached
        node = scope.node
        assert isinstance(node, ast.ClassDef)
        bases = tuple(q for q in (self.qualname(b) for b in node.bases) if q)
        root = any(names.sqlalchemy_api(q) in ("DeclarativeBase", "DeclarativeBaseNoMeta") for q in bases)
        relationships: dict[str, Relationship] = {}
        for assign in scope.assigns:
            value = getattr(assign, "value", None)
            if not isinstance(value, ast.Call) or names.sqlalchemy_api(self.qualname(value.func)) not in (
                "relationship",
                "Relationship",
            ):
                continue
            target = self._relationship_target(assign, value)
            lazy = literal_str(keyword(value, "lazy"))
            sa_kwargs = keyword(value, "sa_relationship_kwargs")
            if lazy is None and isinstance(sa_kwargs, ast.Dict):
                for key, item in zip(sa_kwargs.keys, sa_kwargs.values):
                    if literal_str(key) == "lazy":
                        lazy = literal_str(item)
            for name in _assigned_names(assign):
                relationships[name] = Relationship(name, lazy, target, assign)
        summary = ClassSummary(f"{self.module}.{scope.name}", bases, relationships, root)
        scope._class_summary = summary  # type: ignore[attr-defined]
        return summary

    def _relationship_target(self, assign: ast.AST, call: ast.Call) -> str | None:
        first = call.args[0] if call.args else keyword(call, "argument")
        if first is None and isinstance(assign, ast.AnnAssign):
            first = _mapped_target(assign.annotation)
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            name = first.value.strip().rpartition(".")[2]
            return f"{self.module}.{name}" if name in self.classes else (self.imports.get(name) or name)
        if first is not None:
            return self.qualname(first)
        return None

    def model_relationships(self, qualname: str | None) -> dict[str, Relationship] | None:
        """All relationships of a mapped class (its own and inherited), or None if unknown."""
        if not qualname:
            return None
        relationships: dict[str, Relationship] = {}
        seen: set[str] = set()
        pending = [qualname]
        found_any = False
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            symbol = self.symbol(current)
            if symbol is None or symbol.klass is None:
                continue
            found_any = True
            for name, rel in symbol.klass.own_relationships.items():
                relationships.setdefault(name, rel)
            pending.extend(symbol.klass.base_qualnames)
        return relationships if found_any else None

    def resolve_class_name(self, name: str | None) -> str | None:
        """A relationship target written as a bare class name: its qualname when the class is in this file."""
        if name is None or "." in name:
            return name
        return f"{self.module}.{name}" if name in self.classes else None


def _assigned_names(assign: ast.AST) -> list[str]:
    if isinstance(assign, ast.Assign):
        targets = assign.targets
    elif isinstance(assign, (ast.AnnAssign, ast.NamedExpr, ast.AugAssign)):
        targets = [assign.target]
    else:
        return []
    result = []
    for target in targets:
        if isinstance(target, ast.Name):
            result.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            result.extend(e.id for e in target.elts if isinstance(e, ast.Name))
    return result


def _all_args(node: ast.AST) -> list[ast.arg]:
    args = node.args  # type: ignore[attr-defined]
    result = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    if args.vararg:
        result.append(args.vararg)
    if args.kwarg:
        result.append(args.kwarg)
    return result


def _contains(tree: ast.AST, node: ast.AST) -> bool:
    return any(child is node for child in ast.walk(tree))


def _nested_def(scope: Scope, name: str) -> ast.AST | None:
    for child in scope.children:
        if child.name == name and child.kind == "function":
            return child.node
    return None


def _mapped_target(annotation: ast.AST) -> ast.AST | None:
    """`Mapped[list["Address"]]` / `Mapped["User"]` / `Mapped[Optional[User]]` -> the class expression."""
    node = annotation
    for _ in range(4):
        if isinstance(node, ast.Subscript):
            node = node.slice
            if isinstance(node, ast.Tuple) and node.elts:
                node = node.elts[0]
        elif isinstance(node, ast.BinOp):
            node = node.left
        else:
            break
    return node if isinstance(node, (ast.Name, ast.Attribute, ast.Constant)) else None


def _same_session_call(model: SemanticModel, call: ast.Call, scope: Scope, binding: SessionBinding, method: str) -> bool:
    found = model.session_method_call(call, scope)
    return found is not None and found[1] == method and found[0].name == binding.name
