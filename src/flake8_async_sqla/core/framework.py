"""FastAPI's facts about a file: its apps and routers, route handlers and their response models, dependencies,
the lifespan and startup handlers, and what runs on every request. A part of the semantic model (it is one of its
bases), over the model's names and values: the model reads them as its own methods."""

from __future__ import annotations

import ast
from functools import cached_property, partial
from typing import TYPE_CHECKING, Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.summaries import FunctionSummary, SessionHandout
from flake8_async_sqla.core.syntax import (
    COLLECTION_TYPES, FUNCTION_NODES, all_args, assigned_names, call_method, dotted, keyword, nested_def,
)

if TYPE_CHECKING:
    from flake8_async_sqla.core.model import Scope


class FastAPIFacts:
    """The FastAPI part of `SemanticModel`, a base of it: its methods use the model's names (`qualname`,
    `symbol_of`, `classify_value`, ...), scopes and project index, and keep their memos on it."""

    # Memos, computed for the whole file when first asked.
    _route_handlers: set[Scope] | None = None
    _dependencies: set[Scope] | None = None
    _lifespans: set[Scope] | None = None
    _per_request: dict[Scope, Scope] | None = None

    def is_app(self, node: ast.AST, scope: Scope, across_project: bool = True) -> bool:
        """Whether an expression holds a FastAPI/Starlette app or router: a module-level or imported
        instance, a local `app = FastAPI()`, `<app>.router`, or a parameter that is one (see `is_app_parameter`;
        without `across_project`, what the project's calls pass it is not asked)."""
        if isinstance(node, ast.Attribute) and node.attr == "router":
            node = node.value
        if not (isinstance(node, ast.Name) and self.binds_locally(node.id, scope)):
            symbol = self.classify_value(node, scope)
            return symbol is not None and symbol.kind == "app"
        current: Scope | None = scope
        while current is not None and current.kind != "module":
            if current.kind in ("function", "lambda"):
                for arg in all_args(current.node):
                    if arg.arg == node.id:
                        return self.is_app_parameter(current, arg, across_project)
                values = [getattr(a, "value", None) for a in current.assigns if node.id in assigned_names(a)]
                if values:
                    symbols = [self.classify_value(v, current) if v is not None else None for v in values]
                    return all(s is not None and s.kind == "app" for s in symbols)
            current = current.parent
        return False

    def is_app_parameter(self, function: Scope, parameter: ast.arg, across_project: bool = True) -> bool:
        """Whether a parameter holds an app or router: annotated `FastAPI` (or `Starlette`, `APIRouter`), or,
        unannotated, used as one by its function (see `_parameters_used_as_apps`) or, `across_project`, handed
        an app by some call of the project (`register_events(app)` where `app = FastAPI()`)."""
        if parameter.annotation is not None:
            annotation = self._parse_string_annotation(parameter.annotation)
            return names.fastapi_api(self.qualname(annotation)) in names.APP_CLASSES
        if (function, parameter.arg) in self._parameters_used_as_apps:
            return True
        if not across_project or self.index is None or function.parent is not self.module_scope or function.kind != "function":
            return False  # the project's calls are looked up for module-level functions alone
        arguments = function.node.args  # type: ignore[attr-defined]
        positional = [*arguments.posonlyargs, *arguments.args]
        keys = {str(positional.index(parameter))} if parameter in positional else set()
        if parameter not in arguments.posonlyargs:
            keys.add(parameter.arg)
        return not keys.isdisjoint(self.index.app_argument_keys(function.qualname, self.path))

    def holds_app_by_its_text(self, node: ast.AST, scope: Scope) -> bool:
        """Whether an expression holds an app or router by this file's text alone (what module facts may rest
        on): a call of FastAPI, Starlette or a router class, a name of this file bound only to such calls, or
        a parameter its annotation or its function's use makes one."""
        if isinstance(node, ast.Call):
            return names.fastapi_api(self.qualname(node.func)) in names.APP_CLASSES
        if not isinstance(node, ast.Name) or node.id in self.imports:
            return False
        function = self.binding_function(node.id, scope)
        if function is not None:
            for arg in all_args(function.node):
                if arg.arg == node.id:
                    return self.is_app_parameter(function, arg, across_project=False)
        values = [getattr(a, "value", None) for a in self._assignments(function or self.module_scope).get(node.id, ())]
        return bool(values) and all(isinstance(v, ast.Call) and self.holds_app_by_its_text(v, scope) for v in values)

    @cached_property
    def _parameters_used_as_apps(self) -> frozenset[tuple[Scope, str]]:
        """The unannotated parameters (with their function) that their function uses as an app or router: it
        includes a router in one or sets its `router.lifespan_context`, or does two different things of
        `names.APP_METHOD_USES` and storing on its `state`."""
        uses: dict[tuple[Scope, str], set[str]] = {}

        def note(receiver: ast.AST, scope: Scope, use: str) -> None:
            if not isinstance(receiver, ast.Name):
                return
            function = self.binding_function(receiver.id, scope)
            if function is not None and any(a.arg == receiver.id and a.annotation is None for a in all_args(function.node)):
                uses.setdefault((function, receiver.id), set()).add(use)

        for call, scope in self.method_calls(names.APP_METHOD_USES):
            receiver, method = call_method(call)  # type: ignore[misc]
            use = names.APP_METHOD_USES[method]
            event = (call.args[0] if call.args else keyword(call, "event_type")) if use == "event" else None
            # Not socketio's `on_event("connect")`, nor a task broker's `add_event_handler(Events.X, f)`.
            if use != "event" or isinstance(event, ast.Constant) and event.value in names.EVENT_NAMES:
                note(receiver, scope, use)
        for scope in self.scopes:
            for attribute in scope.attributes:
                owner = attribute.value
                if isinstance(owner, ast.Attribute) and owner.attr == "router" and attribute.attr == "lifespan_context":
                    note(owner.value, scope, "app")
                elif isinstance(owner, ast.Attribute) and owner.attr == "state" and isinstance(attribute.ctx, ast.Store):
                    note(owner.value, scope, "state")
        return frozenset(key for key, found in uses.items() if "app" in found or len(found) > 1)

    def decorator_qualnames(self, scope: Scope) -> list[str]:
        result = []
        for decorator in getattr(scope.node, "decorator_list", []):
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            result.append(self.qualname(target) or "")
        return result

    def is_route_handler(self, scope: Scope) -> bool:
        if self._route_handlers is None:
            self._route_handlers = {s for s in self.scopes if s.kind == "function" and self._has_route_decorator(s)}
            self._route_handlers.update(self._registered_endpoints())
        return scope in self._route_handlers

    def _registered_endpoints(self) -> Iterator[Scope]:
        """Functions of this file passed to `app.add_api_route(path, endpoint)` and its kin."""
        for call, _ in self.method_calls(names.ROUTE_REGISTRATIONS):
            func = call.func
            assert isinstance(func, ast.Attribute)  # `app.add_api_route`
            endpoint = call.args[1] if len(call.args) > 1 else keyword(call, names.ROUTE_REGISTRATIONS[func.attr])
            node = self.local_defs.get(endpoint.id) if isinstance(endpoint, ast.Name) else None
            if isinstance(node, FUNCTION_NODES):
                symbol = self.symbol_of(func.value)
                if symbol is not None and symbol.kind == "app":
                    yield self.scope_of[node]

    def _has_route_decorator(self, scope: Scope) -> bool:
        return any(
            self._is_route_decorator(decorator.func if isinstance(decorator, ast.Call) else decorator)
            for decorator in getattr(scope.node, "decorator_list", [])
        )

    def _is_route_decorator(self, target: ast.AST) -> bool:
        """`app.get` / `router.post` / ...: a route method of an app or router."""
        if not isinstance(target, ast.Attribute) or target.attr not in names.ROUTE_METHODS:
            return False
        symbol = self.symbol_of(target.value)
        return symbol is not None and symbol.kind == "app"

    def route_handlers(self) -> list[Scope]:
        return [s for s in self.scopes if s.kind == "function" and self.is_route_handler(s)]

    def response_model(self, scope: Scope) -> ast.expr | None:
        """What FastAPI validates a route handler's return value against: the route decorator's
        `response_model=`, else the return annotation; None when neither (or `response_model=None`)."""
        for decorator in getattr(scope.node, "decorator_list", []):
            if isinstance(decorator, ast.Call) and self._is_route_decorator(decorator.func):
                declared = keyword(decorator, "response_model")
                if declared is not None:
                    return None if isinstance(declared, ast.Constant) and declared.value is None else declared
        return getattr(scope.node, "returns", None)

    def response_schema(self, scope: Scope) -> tuple[str, bool] | None:
        """The class a route handler's response model validates, and whether the response is a list of
        them: `UserOut`, `list[UserOut]`, `Optional[UserOut]`, `UserOut | None`, `Annotated[UserOut, ...]`."""
        node = self.response_model(scope)
        many = False
        for _ in range(6):  # nested wrappers; never loop forever
            node = self._parse_string_annotation(node) if node is not None else None
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
                elements = [node.left, node.right]
            elif isinstance(node, ast.Subscript):
                elements = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
            else:
                break
            head = "Union" if isinstance(node, ast.BinOp) else (dotted(node.value) or [""])[-1]
            if head in ("Optional", "Union"):
                elements = [e for e in elements if not (isinstance(e, ast.Constant) and e.value is None)]
                if len(elements) != 1:
                    return None
                node = elements[0]
            elif head == "Annotated":
                node = elements[0]
            elif head in COLLECTION_TYPES and not many:
                node, many = elements[0], True
            else:
                return None
        qualname = self.qualname(node) if node is not None else None
        return (qualname, many) if qualname else None

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
        qualname = self.qualname(target)
        if self.options.matches(self.options.session_dependencies, qualname):
            return FunctionSummary(qualname or "", True, probes={"handout": partial(SessionHandout, yields="async")})
        symbol = self.symbol(qualname)
        return symbol.function if symbol is not None else None

    def declares_dependency(self, annotation: ast.AST) -> bool:
        """Whether a parameter annotation makes FastAPI inject it: `Annotated[T, Depends(f)]` or an alias of one."""
        node = self._parse_string_annotation(annotation)
        if isinstance(node, ast.Subscript):
            head = (self.qualname(node.value) or "").rpartition(".")[2]
            return (
                head == "Annotated"
                and isinstance(node.slice, ast.Tuple)
                and any(self.is_dependency_marker(meta) for meta in node.slice.elts[1:])
            )
        symbol = self.symbol_of(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
        return symbol is not None and symbol.declares_dependency

    def takes_dependencies(self, scope: Scope) -> bool:
        """Whether FastAPI fills a function's parameters (`= Depends(f)` or an Annotated dependency)."""
        args = scope.node.args  # type: ignore[attr-defined]
        if any(self.is_dependency_marker(default) for default in [*args.defaults, *args.kw_defaults]):
            return True
        return any(arg.annotation is not None and self.declares_dependency(arg.annotation) for arg in all_args(scope.node))

    def _dependency_function(self, marker: ast.Call) -> Scope | None:
        """The function of this file FastAPI calls for a `Depends(...)`: a function, a class's `__init__`
        (also for a bare `Depends()` on a class annotation), or `__call__` of a module-level instance."""
        target = self.dependency_target(marker) or self._bare_dependency_type(marker)
        if target is None:
            return None
        target = self._parse_string_annotation(target)
        node = self.local_defs.get(target.id) if isinstance(target, ast.Name) else None
        if isinstance(node, FUNCTION_NODES):
            return self.scope_of[node]
        if isinstance(node, ast.ClassDef):
            init = nested_def(self.scope_of[node], "__init__")
            return self.scope_of[init] if init is not None else None
        value = getattr(node, "value", None)  # `limiter = RateLimiter(...)`
        instance_of = self._local_class(value.func, self.module_scope) if isinstance(value, ast.Call) else None
        call = nested_def(instance_of, "__call__") if instance_of is not None else None
        return self.scope_of[call] if call is not None else None

    def _bare_dependency_type(self, marker: ast.Call) -> ast.expr | None:
        """The type a bare `Depends()` stands for: `Annotated[T, Depends()]` or `x: T = Depends()`."""
        parent = self.parents.get(marker)
        subscript = self.parents.get(parent) if isinstance(parent, ast.Tuple) else None
        if (
            isinstance(subscript, ast.Subscript)
            and (self.qualname(subscript.value) or "").rpartition(".")[2] == "Annotated"
            and parent.elts[0] is not marker
        ):
            return parent.elts[0]
        if isinstance(parent, ast.arguments):
            positional = [*parent.posonlyargs, *parent.args]
            with_defaults = [
                *zip(positional[len(positional) - len(parent.defaults):], parent.defaults),
                *zip(parent.kwonlyargs, parent.kw_defaults),
            ]
            for arg, default in with_defaults:
                if default is marker:
                    return arg.annotation
        return None

    def is_dependency(self, scope: Scope) -> bool:
        """A function FastAPI calls to resolve a dependency: named in `Depends(...)` / `Security(...)` (see
        `is_named_dependency`), or, route handlers aside, one whose own parameters FastAPI fills."""
        return self.is_named_dependency(scope) or (
            scope.kind == "function" and not self.is_route_handler(scope) and self.takes_dependencies(scope)
        )

    def is_named_dependency(self, scope: Scope) -> bool:
        """A function named in `Depends(...)` / `Security(...)` anywhere in the file (a class stands for its
        `__init__`, an instance for its `__call__`) or in another module of the project."""
        if self._dependencies is None:
            self._dependencies = set()
            for s in self.scopes:
                for call in s.calls:
                    function = self._dependency_function(call) if self.is_dependency_marker(call) else None
                    if function is not None:
                        self._dependencies.add(function)
            functions = [s for s in self.module_scope.children if s.kind == "function" and not self.is_route_handler(s)]
            if self.index is not None and functions:
                # Named in Depends(...) by another module of the project (deps.py used from routers/).
                targets = set(self.index.dependency_targets_among([s.qualname for s in functions], self.path))
                self._dependencies.update(s for s in functions if s.qualname in targets)
        return scope in self._dependencies

    def per_request_functions(self) -> dict[Scope, Scope]:
        """Functions that run on every request, each mapped to the route handler or dependency it is reached
        from: those, what they call in this module and the functions defined in them, transitively
        (cached functions and the lifespan excepted)."""
        if self._per_request is None:
            found: dict[Scope, Scope] = {}
            pending = [
                (s, s)
                for s in self.scopes
                if s.kind == "function" and not self.is_cached(s) and (self.is_route_handler(s) or self.is_dependency(s))
            ]
            while pending:
                scope, root = pending.pop()
                if scope in found:
                    continue
                found[scope] = root
                called = (self.called_function(call, scope) for call in scope.calls if not self.is_memoised(call, scope))
                for callee in [*filter(None, called), *(c for c in scope.children if c.kind == "function")]:
                    if callee not in found and not self.is_cached(callee) and not self.is_lifespan(callee):
                        pending.append((callee, root))
            self._per_request = found
        return self._per_request

    def is_lifespan(self, scope: Scope) -> bool:
        """The app's lifespan: a function of this module passed as `lifespan=` or set as an app's
        `router.lifespan_context`, or an async context manager named after it."""
        if self._lifespans is None:
            self._lifespans = set()
            for s in self.scopes:
                values = [keyword(call, "lifespan") for call in s.calls]
                values.extend(
                    assign.value
                    for assign in s.assigns
                    if isinstance(assign, ast.Assign) and any(_sets_lifespan_context(target) for target in assign.targets)
                )
                for value in values:
                    if isinstance(value, ast.Name) and isinstance(self.local_defs.get(value.id), FUNCTION_NODES):
                        self._lifespans.add(self.scope_of[self.local_defs[value.id]])
            for s in self.scopes:
                if s.kind == "function" and "lifespan" in s.name.lower() and any(
                    q in names.CONTEXT_MANAGER_DECORATORS for q in self.decorator_qualnames(s)
                ):
                    self._lifespans.add(s)
        return scope in self._lifespans

    def runs_at_startup(self, scope: Scope) -> bool:
        """The app's lifespan, or a startup event handler (`@app.on_event("startup")`,
        `add_event_handler("startup", f)`, `on_startup=[f]`)."""
        return self.is_lifespan(scope) or scope in self._startup_handlers

    @cached_property
    def _startup_handlers(self) -> frozenset[Scope]:
        found = set()
        for scope in self.scopes:
            for call in scope.calls:
                method = call_method(call)
                handlers: list[ast.expr] = []
                if method is not None and method[1] in names.EVENT_HANDLER_METHODS and call.args:
                    first = call.args[0]
                    if isinstance(first, ast.Constant) and first.value == "startup":
                        handlers = call.args[1:2]
                        parent = self.parents.get(call)
                        if isinstance(parent, FUNCTION_NODES) and call in parent.decorator_list:
                            found.add(self.scope_of[parent])
                startup = keyword(call, "on_startup")
                if isinstance(startup, (ast.List, ast.Tuple)):
                    handlers = list(startup.elts)
                for handler in handlers:
                    node = self.local_defs.get(handler.id) if isinstance(handler, ast.Name) else None
                    if isinstance(node, FUNCTION_NODES):
                        found.add(self.scope_of[node])
        return frozenset(found)

    def runs_only_at_startup(self, scope: Scope) -> bool:
        """Whether a function is called, across the project, only at startup (see `ProjectIndex.runs_only_at_startup`)."""
        return self.index is not None and self.index.runs_only_at_startup(scope.qualname, self.path)

    def is_cached(self, scope: Scope) -> bool:
        return any(q in names.CACHING_DECORATORS for q in self.decorator_qualnames(scope))

    def is_test(self, scope: Scope) -> bool:
        """A test function pytest collects (`test_*`): it serves no requests, and may discard its writes on purpose."""
        return scope.kind == "function" and scope.name.startswith("test_")


def _sets_lifespan_context(target: ast.AST) -> bool:
    """`<app>.router.lifespan_context = ...`: Starlette's lifespan, set after the app is made."""
    return (
        isinstance(target, ast.Attribute)
        and target.attr == "lifespan_context"
        and isinstance(target.value, ast.Attribute)
        and target.value.attr == "router"
    )
