"""Function effects that follow calls across the project: the probes of `FunctionSummary`'s blocking I/O,
engine creation, hidden commits and constructor attributes, and the objects whose class is known, through
which method calls are resolved (`self.repo.save()`, `Service(db).run()`, `repo.get()` after `repo = Repo(db)`).

Each probe reads one function's own code and the summaries of what it calls; `summaries.EffectSolver` solves
them over cycles of calls, so a probe may ask any callee, itself included.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Callable, Iterator

from flake8_async_sqla.core import names
from flake8_async_sqla.core.syntax import all_args, assigned_names, call_method, dotted
from flake8_async_sqla.core.summaries import FunctionSummary

if TYPE_CHECKING:
    from flake8_async_sqla.core.model import Scope, SemanticModel

# Methods of a sync Core connection that wait on the database.
CONNECTION_IO_METHODS = frozenset({"execute", "scalar", "scalars", "exec_driver_sql", "commit", "rollback", "begin_nested"})
# Methods of a sync engine that check a connection out of its pool (opening one when none is idle).
ENGINE_IO_METHODS = frozenset({"connect", "begin", "raw_connection", "execute", "scalar"})
# The method names whose call on a sync session, connection or engine waits on the database (`_blocking_call`): what
# the receiver of any other method is needs no asking (`self.log.info(...)`).
DATABASE_IO_METHODS = frozenset({*names.SYNC_SESSION_IO_METHODS, "begin", *CONNECTION_IO_METHODS, *ENGINE_IO_METHODS})
# Decorators that make a method an attribute read (`self.repo`, not `self.repo()`).
PROPERTY_DECORATORS = frozenset({"property", "functools.cached_property"})
# Parameters a call fills in for a method: what a body reads through them is its object's, not its caller's.
RECEIVERS = ("self", "cls")


def probes(model: SemanticModel, scope: Scope, summary: FunctionSummary) -> dict[str, Callable[[], object]]:
    """The probes of the effects this module computes, for `FunctionSummary.probes`."""
    return {
        "blocking_io": lambda: blocking_io(model, scope),
        "creates_engine": lambda: creates_engine(model, scope),
        "hidden_commits": lambda: hidden_commits(model, scope, summary.parameters),
        "attribute_parameters": lambda: attribute_parameters(model, scope),
    }


# ----------------------------------------------------------------------------- objects and their classes
def object_class(model: SemanticModel, node: ast.AST, scope: Scope) -> str | None:
    """The qualified name of the project class whose instance `node` holds, when the code says: a `Cls(...)`
    call, `self`/`cls` in a method, a local name annotated `Cls` or only ever assigned `Cls(...)`,
    `self.attr` where the class only assigns `Cls(...)` to it, annotates it `Cls`, or makes it a property
    (or `cached_property`) returning one, and a module-level object a class built (`crud.user`)."""
    if isinstance(node, ast.Name):
        function = scope.function_scope
        if node.id in RECEIVERS and function is not None and function.klass is not None:
            return _class_qualname(model, function.klass)
        binder = model.binding_function(node.id, scope)
        if binder is None:
            return _module_object_class(model, node)
        annotation = _annotation_of(model, node.id, binder)
        if annotation is not None:
            return _annotated_class(model, annotation)
    built = construction(model, node, scope)
    if built is not None:
        return built[0]
    if _is_self_attribute(node):
        return _attribute_class(model, node, scope)  # type: ignore[arg-type]
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and not model.binds_locally(node.value.id, scope):
        return _module_object_class(model, node)  # `crud.user`, after `from app import crud`
    return None


def _module_object_class(model: SemanticModel, node: ast.Name | ast.Attribute) -> str | None:
    """The project class of a module-level object, of this module or another (`user` after `from app.crud import
    user`, `crud.user`), when a class built it there; None for a module or anything else."""
    symbol = model.symbol_of(node)
    return symbol.instance_of if symbol is not None and symbol.kind == "object" else None


def construction(model: SemanticModel, node: ast.AST, scope: Scope) -> tuple[str, ast.Call, Scope] | None:
    """The call that built the object `node` holds, when known: `Cls(...)` itself, the one value of a local
    name, or what the class assigns to `self.attr` or returns from a property `attr`; with the class's
    qualified name and the scope of the call (its arguments are read there)."""
    if isinstance(node, ast.Call):
        klass = _called_class(model, node.func, scope)
        return (klass, node, scope) if klass is not None else None
    if isinstance(node, ast.Name):
        function = model.binding_function(node.id, scope)
        if function is None or any(arg.arg == node.id for arg in all_args(function.node)):
            return None
        values = [getattr(assign, "value", None) for assign in model._assignments(function).get(node.id, [])]
        if len(values) == 1 and isinstance(values[0], ast.Call):
            return construction(model, values[0], function)
        return None
    if _is_self_attribute(node):
        found = _attribute_values(model, node, scope)  # type: ignore[arg-type]
        if found is not None and len(found) == 1 and isinstance(found[0][0], ast.Call):
            value, where = found[0]
            return construction(model, value, where)
    return None


def _called_class(model: SemanticModel, func: ast.AST, scope: Scope) -> str | None:
    """The project class a call of `func` constructs."""
    if isinstance(func, ast.Name) and model.binds_locally(func.id, scope):
        return None
    qualname = model.qualname(func)
    symbol = model.symbol(qualname) if qualname else None
    return symbol.klass.qualname if symbol is not None and symbol.klass is not None else None


def _class_qualname(model: SemanticModel, klass: Scope) -> str | None:
    """A module-level class of this file, by the name the index knows it under."""
    return f"{model.module}.{klass.name}" if klass.parent is model.module_scope else None


def _annotation_of(model: SemanticModel, name: str, function: Scope) -> ast.expr | None:
    """The annotation of a parameter of `function` (or of the one annotated assignment there) binding `name`."""
    for arg in all_args(function.node):
        if arg.arg == name:
            return arg.annotation
    annotated = [a for a in function.assigns if isinstance(a, ast.AnnAssign) and name in assigned_names(a)]
    plain = [a for a in model._assignments(function).get(name, []) if not isinstance(a, ast.AnnAssign)]
    return annotated[0].annotation if len(annotated) == 1 and not plain else None


def _annotated_class(model: SemanticModel, annotation: ast.AST) -> str | None:
    """The project class an annotation names: `Repo`, `"Repo"`, `Annotated[Repo, Depends()]`, `Optional[Repo]`."""
    node = model._parse_string_annotation(annotation)
    for _ in range(3):  # wrappers in wrappers; never loop forever
        if not isinstance(node, ast.Subscript):
            break
        head = (dotted(node.value) or [""])[-1]
        if head not in ("Annotated", "Optional"):
            return None
        node = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) else node.slice
        node = model._parse_string_annotation(node)
    if not isinstance(node, (ast.Name, ast.Attribute)):
        return None
    symbol = model.symbol_of(node)
    return symbol.klass.qualname if symbol is not None and symbol.klass is not None else None


def _is_self_attribute(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"


def _attribute_values(model: SemanticModel, node: ast.Attribute, scope: Scope) -> list[tuple[ast.expr, Scope]] | None:
    """What the class of the method around `scope` sets `self.<attr>` to, each value with the method setting it;
    for a property (or `cached_property`) `attr`, what it returns. None outside a method of a module-level class,
    and when the class does neither (a base class may)."""
    function = scope.function_scope
    klass = function.klass if function is not None else None
    if klass is None or klass.parent is not model.module_scope:
        return None
    values = model.attribute_values.get(klass)
    if values is None:
        values = model.attribute_values[klass] = _class_attribute_values(model, klass)
    found = values.get(node.attr)
    if not found or any(value is None for value, _ in found):
        return None  # `self.repo: Repo` without a value: see `_attribute_class`
    return found  # type: ignore[return-value]


def _class_attribute_values(model: SemanticModel, klass: Scope) -> dict[str, list[tuple[ast.expr | None, Scope]]]:
    """For each `self` attribute of a class, in the order of its methods: what they set it to (None for an annotation
    without a value), or what a property (or `cached_property`) of that name returns."""
    values: dict[str, list[tuple[ast.expr | None, Scope]]] = {}
    for method in klass.children:
        if method.kind != "function":
            continue
        is_property = _is_property(model, method)
        if is_property:
            values.setdefault(method.name, []).extend(
                (returned.value, method) for returned in method.returns if returned.value is not None
            )
        for assign in method.assigns:
            targets = assign.targets if isinstance(assign, ast.Assign) else [getattr(assign, "target", None)]
            attributes = dict.fromkeys(
                target.attr for target in targets if _is_self_attribute(target)  # type: ignore[union-attr]
            )
            for attribute in attributes:
                if not (is_property and attribute == method.name):  # a property's own name is what it returns
                    values.setdefault(attribute, []).append((getattr(assign, "value", None), method))
    return values


def _attribute_class(model: SemanticModel, node: ast.Attribute, scope: Scope) -> str | None:
    """The class `self.<attr>` holds: the one class of every value the class sets it to, or the one its
    annotations (`self.repo: Repo = ...`, `repo: Repo` in the class body, a property's return) name."""
    function = scope.function_scope
    klass = function.klass if function is not None else None
    if klass is None or klass.parent is not model.module_scope:
        return None
    annotations = [
        statement.annotation
        for statement in klass.node.body  # type: ignore[attr-defined]
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) and statement.target.id == node.attr
    ]
    for method in klass.children:
        if method.kind != "function":
            continue
        returns = getattr(method.node, "returns", None)
        if method.name == node.attr and _is_property(model, method) and returns is not None:
            annotations.append(returns)
        annotations += [
            assign.annotation
            for assign in method.assigns
            if isinstance(assign, ast.AnnAssign) and _is_self_attribute(assign.target)
            and assign.target.attr == node.attr  # type: ignore[union-attr]
        ]
    classes = {_annotated_class(model, annotation) for annotation in annotations}
    for value, where in _attribute_values(model, node, scope) or ():
        built = construction(model, value, where) if isinstance(value, ast.Call) else None
        classes.add(built[0] if built is not None else None)
    return classes.pop() if len(classes) == 1 else None


def _is_property(model: SemanticModel, method: Scope) -> bool:
    decorators = getattr(method.node, "decorator_list", [])
    return any(
        (model.qualname(decorator) or (decorator.id if isinstance(decorator, ast.Name) else "")) in PROPERTY_DECORATORS
        for decorator in decorators
    )


def method_summary(model: SemanticModel, klass: str, method: str) -> FunctionSummary | None:
    """The summary of method `method` of the project class `klass`: its own, or the nearest base's (bases in
    other modules too)."""
    for _, summary in model.class_lineage(klass):
        if summary is not None and method in summary.methods:
            return summary.methods[method]
    return None


def method_call_summary(model: SemanticModel, call: ast.Call, scope: Scope) -> FunctionSummary | None:
    """The summary of the method `receiver.m(...)` runs, when the receiver's class is known (see `object_class`);
    for a class named itself (`Repo.create(...)`), a class or static method only (an instance method called on
    its class takes its object as an argument)."""
    if not isinstance(call.func, ast.Attribute):
        return None
    receiver = call.func.value
    if is_super(receiver):  # `super().get(db, ...)`: the nearest base's method
        function = scope.function_scope
        klass = _class_qualname(model, function.klass) if function is not None and function.klass is not None else None
        for _, summary in model.class_lineage(klass)[1:] if klass is not None else ():
            if summary is not None and call.func.attr in summary.methods:
                return summary.methods[call.func.attr]
        return None
    klass = object_class(model, receiver, scope)
    if klass is not None:
        return method_summary(model, klass, call.func.attr)
    parts = dotted(receiver)
    if not parts or not parts[-1].lstrip("_")[:1].isupper() or model.binds_locally(parts[0], scope):
        return None  # classes by convention (`Repo.create`): spares a lookup for every `logger.info`
    symbol = model.symbol_of(receiver)
    if symbol is None or symbol.klass is None:
        return None
    summary = method_summary(model, symbol.klass.qualname, call.func.attr)
    return summary if summary is not None and (not summary.bound or summary.parameters[:1] == ("cls",)) else None


def constructor_summary(model: SemanticModel, call: ast.Call, scope: Scope) -> FunctionSummary | None:
    """The `__init__` a call of a project class runs (the class's own or a base's)."""
    klass = _called_class(model, call.func, scope)
    return method_summary(model, klass, "__init__") if klass is not None else None


def callee_summaries(model: SemanticModel, call: ast.Call, scope: Scope) -> Iterator[FunctionSummary]:
    """The project code a call runs on the spot: the function or method, or a class's constructor."""
    summary = model.call_summary(call, scope)
    if summary is not None:
        yield summary
        return
    constructor = constructor_summary(model, call, scope)
    if constructor is not None:
        yield constructor


def blocking_callee(summary: FunctionSummary) -> str | None:
    """The blocking I/O of a synchronous callee, unless it hands out a session (`with get_session() as db:`): what
    opening and closing that costs goes with the session, whose use its caller is judged by."""
    if summary.is_async or summary.handout.yields or summary.handout.returns:
        return None
    return summary.blocking_io


def held_arguments(model: SemanticModel, call: ast.Call, scope: Scope) -> list[tuple[ast.expr, Scope]]:
    """For `obj.m(...)` where `obj` was built by `Cls(...)` and the synchronous method `m` does session I/O through
    `self` attributes: the arguments of that construction the constructor stores in those attributes, each with
    the scope it is read in (`db` of `UserRepo(db).by_email(email)`)."""
    receiver = call.func.value if isinstance(call.func, ast.Attribute) else None
    if isinstance(receiver, ast.Name) and receiver.id in model.imports:
        return []  # a module, or an object of another module whose construction is not known here
    if not (isinstance(receiver, (ast.Call, ast.Name)) or _is_self_attribute(receiver)):
        return []
    built = construction(model, receiver, scope)
    if built is None:
        return []
    klass, constructed, where = built
    method = method_summary(model, klass, call.func.attr)
    if method is None or method.is_async or not any(name.startswith("self.") for name in method.session_io_names):
        return []
    constructor = method_summary(model, klass, "__init__")
    if constructor is None:
        return []
    stored = constructor.attribute_parameters
    wanted = {stored[name] for name in method.session_io_names if name in stored}
    return [
        (argument, where) for argument in _arguments(constructed) if constructor.parameter_for(constructed, argument) in wanted
    ]


def _arguments(call: ast.Call) -> list[ast.expr]:
    return [*call.args, *(item.value for item in call.keywords)]


# ----------------------------------------------------------------------------------------- the probes
def blocking_io(model: SemanticModel, scope: Scope) -> str | None:
    """What `FunctionSummary.blocking_io` says of a function."""
    if scope.is_async or scope.kind != "function":
        return None
    flags = _opt_in_flags(scope)
    for call in scope.calls:
        if isinstance(model.parents.get(call), ast.Await) or flags and _opted_in(model, call, scope, flags):
            continue
        found = _blocking_call(model, call, scope)
        if found is not None:
            return found
    return None


def _opt_in_flags(scope: Scope) -> set[str]:
    """The parameters of a function that default to `False`: flags a caller sets to ask for more (`blocking=True`)."""
    arguments = scope.node.args  # type: ignore[attr-defined]
    positional = [*arguments.posonlyargs, *arguments.args]
    pairs = [
        *zip(positional[len(positional) - len(arguments.defaults):], arguments.defaults),
        *zip(arguments.kwonlyargs, arguments.kw_defaults),
    ]
    return {arg.arg for arg, default in pairs if isinstance(default, ast.Constant) and default.value is False}


def _opted_in(model: SemanticModel, call: ast.Call, scope: Scope, flags: set[str]) -> bool:
    """Whether a call runs only when the caller sets one of `flags` (`if blocking: return work()`): by default the
    function does not do it (a fire-and-forget helper that hands the work to a thread unless asked to wait)."""
    child: ast.AST = call
    for ancestor in model.ancestors(call):
        if ancestor is scope.node:
            return False
        if isinstance(ancestor, ast.If) and child in ancestor.body:
            test = ancestor.test
            tests = test.values if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And) else [test]
            if any(isinstance(test, ast.Name) and test.id in flags for test in tests):
                return True
        child = ancestor
    return False


def _blocking_call(model: SemanticModel, call: ast.Call, scope: Scope) -> str | None:
    where = f"`{scope.qualname}`"
    method = call_method(call)
    if method is not None and method[1] in DATABASE_IO_METHODS:
        receiver, name = method
        if not _is_parameter(model, receiver, scope):
            session = model.session_method_call(call, scope)
            if session is not None:
                binding = session[0]
                if binding.kind == "sync" and binding.origin not in ("param", "dependency") and _blocks(model, call, name):
                    return f"sync session `{'.'.join(dotted(receiver) or [binding.name])}` in {where}"
            elif name in names.SYNC_SESSION_IO_METHODS and _module_sync_session(model, receiver, scope):
                return f"sync session `{'.'.join(dotted(receiver) or ['...'])}` in {where}"
            elif name in CONNECTION_IO_METHODS and model.connection_kind(receiver, scope) == "sync":
                return f"sync connection `{'.'.join(dotted(receiver) or ['...'])}` in {where}"
            elif name in ENGINE_IO_METHODS and model.engine_kind(receiver, scope) == "sync":
                return f"sync engine `{'.'.join(dotted(receiver) or ['...'])}` in {where}"
    if model.api(call.func) == "inspect" and call.args and not _is_parameter(model, call.args[0], scope):
        if model.engine_kind(call.args[0], scope) == "sync" or model.connection_kind(call.args[0], scope) == "sync":
            return f"`inspect()` of a sync engine in {where}"
    for summary in callee_summaries(model, call, scope):
        if summary.is_async:
            continue
        if blocking_callee(summary) is not None:
            return summary.blocking_io
        for argument in _arguments(call):
            binding = model.session_binding(argument, scope)
            if (
                binding is not None and binding.kind == "sync" and binding.origin not in ("param", "dependency")
                and summary.parameter_for(call, argument) in summary.session_io_names
            ):
                return f"sync session `{'.'.join(dotted(argument) or [binding.name])}` in {where}"
    for argument, where_read in held_arguments(model, call, scope):
        binding = model.session_binding(argument, where_read)
        if binding is not None and binding.kind == "sync" and binding.origin not in ("param", "dependency"):
            return f"sync session `{'.'.join(dotted(argument) or [binding.name])}` in {where}"
    return None


def _module_sync_session(model: SemanticModel, node: ast.AST, scope: Scope) -> bool:
    """A module-level sync session, or `scoped_session` registry, of this module or another one
    (`from app.db import db_session`): each call on it waits on the database."""
    if not isinstance(node, ast.Name) or model.binds_locally(node.id, scope):
        return False
    symbol = model.symbol_of(node)
    if symbol is None or symbol.flavour != "sync":
        return False
    return symbol.kind == "session" or symbol.kind == "factory" and symbol.registry


def _blocks(model: SemanticModel, call: ast.Call, method: str) -> bool:
    if method == "begin":
        return isinstance(model.parents.get(call), ast.withitem)  # the block commits as it ends
    return method in names.SYNC_SESSION_IO_METHODS


def _is_parameter(model: SemanticModel, node: ast.AST, scope: Scope) -> bool:
    """A parameter of the function (not `self`): what it does through one is for its caller to judge."""
    return isinstance(node, ast.Name) and node.id not in RECEIVERS and model.binding_function(node.id, scope) is scope and any(
        arg.arg == node.id for arg in all_args(scope.node)
    )


def creates_engine(model: SemanticModel, scope: Scope) -> str | None:
    """What `FunctionSummary.creates_engine` says of a function: cached functions create theirs once, and an
    engine built from what the caller passes (its URL, a config) is one per database the caller names."""
    if scope.kind != "function" or model.is_cached(scope):
        return None
    from_caller: set[str] | None = None  # computed for the first call that creates an engine
    for call in scope.calls:
        factory = model.engine_factory(call)
        if factory is not None:
            kind: str | None = names.ENGINE_FACTORIES.get(factory, "async")
        else:
            kind = next((s.creates_engine for s in callee_summaries(model, call, scope) if s.creates_engine is not None), None)
        if kind is None or model.is_memoised(call, scope) or _guarded_once(model, call, scope):
            continue
        if from_caller is None:
            from_caller = _derived_from_parameters(model, scope)
        if _decided_by_caller(model, call, scope, from_caller):
            continue
        if factory is None or not any(isinstance(node, ast.Name) and node.id in from_caller for node in ast.walk(call)):
            return kind
    return None


def _guarded_once(model: SemanticModel, call: ast.Call, scope: Scope) -> bool:
    """Whether a call runs under a check that what it makes is not kept yet, where it outlives the call:
    `if dsn not in _engines: _init_engine(dsn)`, `if _engine is None: _init()`, `if not self._engine: ...`."""
    child: ast.AST = call
    for ancestor in model.ancestors(call):
        if ancestor is scope.node:
            return False
        if isinstance(ancestor, ast.If) and child in ancestor.body and _tests_kept_unset(model, ancestor.test, scope):
            return True
        child = ancestor
    return False


def _tests_kept_unset(model: SemanticModel, test: ast.AST, scope: Scope) -> bool:
    """`key not in <kept>`, `<kept> is None`, `not <kept>` (also in an `or`), where `<kept>` is a module-level
    name or an attribute."""
    def kept(node: ast.AST) -> bool:
        if isinstance(node, ast.Attribute):
            return True
        if not isinstance(node, ast.Name):
            return False
        return node.id in scope.global_names or node.id in model.local_defs and not model.binds_locally(node.id, scope)

    pending = [test]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            pending.extend(node.values)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not) and kept(node.operand):
            return True
        elif isinstance(node, ast.Compare) and len(node.ops) == 1:
            op, right = node.ops[0], node.comparators[0]
            if isinstance(op, ast.NotIn) and kept(right) or isinstance(op, ast.Is) and _is_none(right) and kept(node.left):
                return True
    return False


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _derived_from_parameters(model: SemanticModel, scope: Scope) -> set[str]:
    """The function's parameters (`self` aside) and the local names it computes from them (`url = cfg.url`)."""
    derived = {arg.arg for arg in all_args(scope.node)} - set(RECEIVERS)
    assigns = [(assigned_names(a), getattr(a, "value", None)) for a in scope.assigns]
    for _ in range(3):  # a short chain of derivations; never loop forever
        grown = {
            name
            for targets, value in assigns
            if value is not None and any(isinstance(node, ast.Name) and node.id in derived for node in ast.walk(value))
            for name in targets
        }
        if grown <= derived:
            break
        derived |= grown
    return derived


def _decided_by_caller(model: SemanticModel, call: ast.Call, scope: Scope, parameters: set[str]) -> bool:
    """Whether a call runs only as a fallback for what the caller may pass: `engine or create_engine(url)`,
    `create_engine(url) if engine is None else engine`, `if engine is None: engine = ...`."""
    child: ast.AST = call
    for ancestor in model.ancestors(call):
        if ancestor is scope.node:
            return False
        if isinstance(ancestor, ast.BoolOp):
            tests = ancestor.values[: ancestor.values.index(child)] if child in ancestor.values else []
        elif isinstance(ancestor, (ast.If, ast.IfExp)) and child is not ancestor.test:
            tests = [ancestor.test]
        else:
            tests = []
        if any(isinstance(node, ast.Name) and node.id in parameters for test in tests for node in ast.walk(test)):
            return True
        child = ancestor
    return False


def hidden_commits(model: SemanticModel, scope: Scope, parameters: tuple[str, ...]) -> frozenset[str]:
    """What `FunctionSummary.hidden_commits` says of a function."""
    known = model.sessions(scope)
    unknown = {name for name in parameters if name not in known and name not in RECEIVERS}
    found: set[str] = set()
    for call, where in model.calls_within(scope):
        method = call_method(call)
        if method is not None and method[1] == "commit" and isinstance(method[0], ast.Name):
            if method[0].id in unknown and model.binding_function(method[0].id, where) is scope:
                found.add(method[0].id)
            continue
        for argument in _arguments(call):
            handed = isinstance(argument, ast.Name) and argument.id in unknown - found
            if handed and model.binding_function(argument.id, where) is scope:  # type: ignore[attr-defined]
                summary = model.call_summary(call, where)
                if summary is not None and summary.parameter_for(call, argument) in summary.hidden_commits:
                    found.add(argument.id)
    return frozenset(found)


def attribute_parameters(model: SemanticModel, scope: Scope) -> dict[str, str]:
    """What `FunctionSummary.attribute_parameters` says of a constructor."""
    if scope.name != "__init__" or scope.klass is None:
        return {}
    parameters = {arg.arg for arg in all_args(scope.node)} - set(RECEIVERS)
    stored: dict[str, str] = {}
    for call in scope.calls:
        base = _base_constructor(model, call, scope)
        if base is not None:
            for argument in _arguments(call):
                if isinstance(argument, ast.Name) and argument.id in parameters:
                    parameter = base.parameter_for(call, argument)
                    stored.update(
                        {attribute: argument.id for attribute, kept in base.attribute_parameters.items() if kept == parameter}
                    )
    for assign in scope.assigns:
        value = getattr(assign, "value", None)
        targets = assign.targets if isinstance(assign, ast.Assign) else [getattr(assign, "target", None)]
        for target in targets:
            if _is_self_attribute(target):
                name = f"self.{target.attr}"  # type: ignore[union-attr]
                if isinstance(value, ast.Name) and value.id in parameters:
                    stored[name] = value.id
                else:
                    stored.pop(name, None)
    return stored


def _base_constructor(model: SemanticModel, call: ast.Call, scope: Scope) -> FunctionSummary | None:
    """For `super().__init__(...)` in a constructor: the base class's constructor (a `Base.__init__(self, ...)`
    call passes `self` itself, which `parameter_for` would misplace)."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr == "__init__" and is_super(func.value):
        return method_call_summary(model, call, scope)
    return None


def is_super(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"

