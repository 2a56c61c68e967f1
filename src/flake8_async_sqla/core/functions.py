"""The functions of a file as the project sees them: which function a call runs (of this module, or of the
project through the index), and the summary of each function and class, whose effects' probes read the model.
A part of the semantic model (one of its bases): the model reads them as its own methods."""

from __future__ import annotations

import ast
import sys
from functools import cached_property
from typing import TYPE_CHECKING, Iterator

from flake8_async_sqla.core import effects, names
from flake8_async_sqla.core.summaries import NO_HANDOUT, ClassSummary, FunctionSummary, Relationship, SessionHandout
from flake8_async_sqla.core.syntax import (
    FUNCTION_NODES, UNRESOLVED, all_args, assigned_names, call_method, dotted, literal_str, names_an_engine, nested_def,
    statement_blocks,
)

if TYPE_CHECKING:
    from flake8_async_sqla.core.model import Scope, SemanticModel
    from flake8_async_sqla.core.sessions import SessionBinding

# Where reading a parameter only looks at it or uses it in place.
BORROWING_PARENTS = (ast.Compare, ast.UnaryOp, ast.If, ast.While, ast.Assert, ast.Expr, ast.FormattedValue, ast.withitem, ast.BoolOp)
# Methods that release what they are called on: a function calling one on a parameter takes it over.
RELEASING_METHODS = frozenset({"dispose", *names.SESSION_CLOSE_METHODS})


class FunctionFacts:
    """The functions part of `SemanticModel`, a base of it: its methods use the model's names, values, sessions
    and project index."""

    def __init__(self) -> None:
        # Its memos, on each model (`SemanticModel.__init__` calls this).
        self._call_summaries: dict[ast.Call, FunctionSummary | None] = {}
        # Per module-level class, what its methods set each `self` attribute to (see `effects._attribute_values`).
        self.attribute_values: dict[Scope, dict[str, list[tuple[ast.expr | None, Scope]]]] = {}

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
        summary = self.call_summary(call, scope) if names_an_engine(call) else None
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


def _same_session_call(model: SemanticModel, call: ast.Call, scope: Scope, binding: SessionBinding, method: str) -> bool:
    found = model.session_method_call(call, scope)
    return found is not None and found[1] == method and found[0].name == binding.name
