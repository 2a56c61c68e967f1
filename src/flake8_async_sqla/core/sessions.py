"""The database facts of a file: which names (and `self` attributes, request state, container items) hold a
session, where each session comes from and who owns it, the sessions annotations declare, and connections and
engines by their kind. A part of the semantic model (one of its bases), over the model's names and values: the
model reads them as its own methods."""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.mapping import maps_column
from flake8_async_sqla.core.summaries import FunctionSummary
from flake8_async_sqla.core.syntax import all_args, assigned_names, call_method, dotted, keyword, literal_str, nested_def, self_attribute_stored

if TYPE_CHECKING:
    from flake8_async_sqla.core.model import Scope

# Calls that hand out a connection their caller already holds (`session.connection()`, Alembic's `op.get_bind()`).
CONNECTION_HANDOUTS = {"connection", "get_bind"}
# Parameter names that, unannotated and without a default, hold a session in a module that uses SQLAlchemy
# (`def _query(self, session, cls)` in a data-access class).
UNANNOTATED_SESSION_NAMES = {"session", "db_session"}

# Session methods whose receiver may be a class-level session (`Trade.session.commit()`).
SESSION_METHOD_NAMES = frozenset(
    {*names.SESSION_IO_METHODS, *names.SESSION_ONLY_METHODS, "add", "delete", "close", "begin", "remove"}
)
# Methods whose call on a module's session, a request state's or a container's item makes a rule look at it.
RECEIVED_METHOD_NAMES = SESSION_METHOD_NAMES | names.SYNC_SESSION_IO_METHODS | names.ASYNC_COROUTINE_METHODS["AsyncSession"]


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


class SessionFacts:
    """The database part of `SemanticModel`, a base of it: its methods use the model's names, values, scopes and
    project index."""

    def __init__(self) -> None:
        # Its memos, on each model (`SemanticModel.__init__` calls this).
        self._name_annotations: dict[str, tuple[str | None, FunctionSummary | None]] = {}
        self._session_kinds: set[str | None] | None = None
        self._session_names: set[str] | None = None
        self._module_sessions: dict[str, tuple[SessionBinding, bool] | None] = {}  # by qualified name, see `_module_session`
        self._stored_bindings: dict[str, SessionBinding | None] = {}  # by key, see `_stored_session`
        self._reading_class_stores: set[Scope] = set()  # classes whose own session stores are being read

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
                for attribute in (self_attribute_stored(target) for target in targets) if value is not None else ():
                    binding = self._kept_session(attribute, value, assign, method) if attribute is not None else None
                    if binding is not None:
                        attrs[attribute] = binding  # type: ignore[index]
            for call in method.calls:
                if isinstance(call.func, ast.Attribute) and call.func.attr == "append" and len(call.args) == 1:
                    attribute = self_attribute_stored(call.func.value)
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


def _receiver_name(receiver: ast.expr) -> str | None:
    """The name a session table would hold a receiver under: `db`, `session` of `self.session`, `sessions[...]` of
    `self.sessions[key]`."""
    if isinstance(receiver, ast.Name):
        return receiver.id
    if isinstance(receiver, ast.Attribute):
        return receiver.attr
    return self_attribute_stored(receiver) if isinstance(receiver, ast.Subscript) else None


def _agreed(kinds: set[str]) -> str | None:
    """The one kind of session ("async"/"sync") that several places agree on, else None ("" is unknown)."""
    return next(iter(kinds)) or None if len(kinds) == 1 else None


def _container_key(node: ast.Subscript) -> str | None:
    """`ctx[db]` for `ctx["db"]`: a name subscripted with a constant word."""
    key = node.slice
    if isinstance(node.value, ast.Name) and isinstance(key, ast.Constant) and isinstance(key.value, str) and key.value.isidentifier():
        return f"{node.value.id}[{key.value}]"
    return None


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
