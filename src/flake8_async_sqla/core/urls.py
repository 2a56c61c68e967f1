"""Database URLs: what the URL an engine is given says about its database.

A URL is followed through what the code spells out: a literal, an f-string, concatenation or `.format()`
that starts with a scheme, `make_url(...)`, `URL.create(...)`, module constants (of other project
modules too), settings classes (a field's default, `Field(default=...)`, a `PostgresDsn` field, a
property that builds the URL), functions returning them (`get_settings()`), and environment reads with a
default (`os.getenv("DATABASE_URL", "postgresql+asyncpg://...")`). What a default or a class attribute
says may be overridden (by the environment, or a constructor); what settings or the environment give
without a default is only known as configured, and the drivers the project declares may then tell its
database.

Each module's part is read from its text alone into `UrlFacts`, small and serialisable, with the names
of other modules left as references; the references are followed when a rule asks, through the
project index.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from flake8_async_sqla.core import names
from flake8_async_sqla.core.syntax import FUNCTION_NODES, all_args, assigned_names, call_method, keyword

if TYPE_CHECKING:
    from flake8_async_sqla.core.model import Scope, SemanticModel

# What a value is (`UrlValue.kind`), and what its text holds.
SCHEME = "scheme"  # the `dialect+driver` written at the start of the URL
DIALECT = "dialect"  # the dialect alone (a `PostgresDsn`)
CONFIGURED = "configured"  # from settings or the environment, unknown; the text references its default, if any
REFERENCE = "reference"  # the value of a qualified name (`app.config.settings.database_url`; `f()` is f's result)

VALID_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\+[A-Za-z0-9_]+)?\Z")
# Methods that return the URL they are called on, as a string or a URL (pydantic's, SQLAlchemy's, `SecretStr`'s).
SAME_URL_METHODS = {"format", "unicode_string", "render_as_string", "get_secret_value", "strip"}
# How deep expressions and references are followed (a constant naming a constant naming ...).
MAX_DEPTH = 12


@dataclass(frozen=True)
class UrlValue:
    kind: str
    text: str = ""
    # Fixed by the code, not a default that the environment or a constructor may override.
    written: bool = True

    @property
    def dialect(self) -> str | None:
        if self.kind == DIALECT:
            return self.text
        if self.kind == SCHEME:
            dialect = self.text.partition("+")[0]
            return names.DIALECT_ALIASES.get(dialect, dialect)
        return None

    def to_json(self) -> list:
        return [self.kind, self.text, self.written]

    @classmethod
    def from_json(cls, data: list) -> UrlValue:
        return cls(str(data[0]), str(data[1]), bool(data[2]))


UNKNOWN_CONFIGURED = UrlValue(CONFIGURED)


@dataclass(frozen=True)
class UrlFacts:
    """What one module's top level says about database URLs: values by name (`DATABASE_URL`,
    `get_settings()` for what a function returns, `Settings.database_url` for a class attribute or
    property), and the classes that may hold them, each with its bases among the project's classes and
    the settings classes."""

    values: dict[str, UrlValue] = field(default_factory=dict)
    classes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, model: SemanticModel) -> UrlFacts:
        values: dict[str, UrlValue] = {}
        classes: dict[str, tuple[str, ...]] = {}
        for name, node in model.local_defs.items():
            if isinstance(node, FUNCTION_NODES):
                found = _returned(model, model.scope_of[node], 0)
                if found is not None:
                    values[f"{name}()"] = found
            elif isinstance(node, ast.ClassDef):
                _read_class(model, model.scope_of[node], values, classes)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and model.module_constant(name, model.module_scope) is not None:
                found = interpret(model, node.value, model.module_scope)  # type: ignore[arg-type]
                if found is not None:
                    values[name] = found
        return cls(values, classes)

    def to_json(self) -> dict:
        return {
            "values": {name: value.to_json() for name, value in sorted(self.values.items())},
            "classes": {name: list(bases) for name, bases in sorted(self.classes.items())},
        }

    @classmethod
    def from_json(cls, data: dict) -> UrlFacts:
        return cls(
            {str(name): UrlValue.from_json(value) for name, value in data["values"].items()},
            {str(name): tuple(map(str, bases)) for name, bases in data["classes"].items()},
        )


# ------------------------------------------------------------------ what rules ask
def url_scheme(model: SemanticModel, node: ast.AST, scope: Scope) -> str | None:
    """The `dialect+driver` that a database URL spells out in the code (no default the environment may
    override): for the rules that judge the driver itself."""
    value = database_url(model, node, scope)
    return value.text if value is not None and value.kind == SCHEME and value.written else None


def url_dialect(model: SemanticModel, node: ast.AST, scope: Scope, engine_kind: str) -> str | None:
    """The database a URL given to an engine of `engine_kind` most likely names: what the code spells
    out, defaults included; for a URL from settings or the environment without one, the database of the
    drivers the project declares, when they are one database's alone and the engine is async (a sync
    engine may use SQLite through the standard library, which no project declares)."""
    value = database_url(model, node, scope)
    if value is None:
        return None
    if value.kind != CONFIGURED:
        return value.dialect
    if engine_kind != "async" or model.index is None:
        return None
    declared = model.index.declared_dialects(model.path)
    return next(iter(declared)) if len(declared) == 1 else None


def database_url(model: SemanticModel, node: ast.AST, scope: Scope) -> UrlValue | None:
    """What a URL expression says about its database, references followed: a SCHEME, a DIALECT or
    CONFIGURED; None when it is not known."""
    return _resolved(model, interpret(model, node, scope), model.path, 0)


# ------------------------------------------------------- references, followed
def _resolved(model: SemanticModel, value: UrlValue | None, from_path: str, depth: int) -> UrlValue | None:
    if value is None or depth > MAX_DEPTH:
        return None
    if value.kind == REFERENCE:
        found = _lookup(model, value.text, from_path, depth + 1)
        return found if value.written else _overridable(found)
    if value.kind == CONFIGURED and value.text:
        return _from_environment(_lookup(model, value.text, from_path, depth + 1))
    return value


def _lookup(model: SemanticModel, reference: str, from_path: str, depth: int) -> UrlValue | None:
    """The value of a qualified name, in the facts of the longest module it starts with."""
    parts = reference.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:split])
        found = _module_facts(model, module, from_path) if "(" not in module else None
        if found is not None:
            return _member(model, *found, parts[split:], depth)
    return None


def _module_facts(model: SemanticModel, module: str, from_path: str) -> tuple[UrlFacts, dict[str, str], str] | None:
    """A module's URL facts, its imports and its path: this file's from its model, another's through the index."""
    if module == model.module:
        return UrlFacts.of(model), model.imports, model.path
    index = model.index
    path = index.find_module(module, from_path, model.path) if index is not None else None
    facts = index.facts(path) if index is not None and path is not None else None
    if facts is None:
        return None
    # Read from that file's text alone: a result resting on it holds while its content does (not its interface).
    index.consult_text(path, model.path)  # type: ignore[union-attr]
    return facts.urls, facts.imports, path  # type: ignore[return-value]


def _member(
    model: SemanticModel, facts: UrlFacts, imports: dict[str, str], path: str, rest: list[str], depth: int
) -> UrlValue | None:
    """`rest` (`settings.database_url`) in a module: a class's attribute, a value, or a name it imports."""
    head, tail = rest[0], rest[1:]
    name = head.removesuffix("()")
    if name in facts.classes:
        return _class_member(model, facts, name, tail, path, depth)
    if head in facts.values:
        return _then(model, facts.values[head], tail, path, depth)
    if name in imports:
        return _resolved(model, UrlValue(REFERENCE, ".".join([imports[name] + head[len(name):], *tail])), path, depth + 1)
    return None


def _then(model: SemanticModel, value: UrlValue, tail: list[str], path: str, depth: int) -> UrlValue | None:
    """What `tail` (attributes, calls) of a value is: followed through a reference; nothing of a URL's own."""
    if value.kind == REFERENCE:
        return _resolved(model, replace(value, text=".".join([value.text, *tail])), path, depth + 1)
    return None if tail else _resolved(model, value, path, depth + 1)


def _class_member(model: SemanticModel, facts: UrlFacts, klass: str, tail: list[str], path: str, depth: int) -> UrlValue | None:
    """An attribute of a class or of its instances: its own, a base's, else configured for a settings field."""
    if not tail:
        return None  # the class or the instance itself
    value = facts.values.get(f"{klass}.{tail[0].removesuffix('()')}")
    if value is not None:
        return _then(model, value, tail[1:], path, depth)
    bases = facts.classes[klass]
    inherited = [
        _resolved(model, UrlValue(REFERENCE, ".".join([f"{base}()", *tail])), path, depth + 1)
        for base in bases
        if base not in names.SETTINGS_BASES
    ]
    known = next((v for v in inherited if v is not None and v.kind != CONFIGURED), None)
    if known is not None:
        return known
    configured = any(v is not None for v in inherited) or any(base in names.SETTINGS_BASES for base in bases)
    return UNKNOWN_CONFIGURED if configured and len(tail) == 1 else None


# -------------------------------------------------------- one module's expressions
def interpret(model: SemanticModel, node: ast.AST | None, scope: Scope, depth: int = 0) -> UrlValue | None:
    """What an expression says about a URL, from this module alone (names of other modules, and of
    this module's classes and functions, as references)."""
    if node is None or depth > MAX_DEPTH:
        return None
    depth += 1
    if isinstance(node, ast.Constant):
        return _literal(node.value)
    if isinstance(node, ast.JoinedStr):
        first = node.values[0] if node.values else None
        if isinstance(first, ast.FormattedValue):
            return interpret(model, first.value, scope, depth)
        return _literal(first.value) if isinstance(first, ast.Constant) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return interpret(model, node.left, scope, depth)
    if isinstance(node, ast.IfExp):
        return _agreed([interpret(model, node.body, scope, depth), interpret(model, node.orelse, scope, depth)])
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
        # `os.getenv("DATABASE_URL") or "postgresql://..."`: the last operand is the default.
        first, last = interpret(model, node.values[0], scope, depth), interpret(model, node.values[-1], scope, depth)
        return _from_environment(last) if first == UNKNOWN_CONFIGURED else _agreed([first, last])
    if isinstance(node, ast.Subscript):
        return UNKNOWN_CONFIGURED if model.qualname(node.value) == "os.environ" else None
    if isinstance(node, ast.Call):
        return _call_value(model, node, scope, depth)
    if isinstance(node, ast.Name):
        return _name_value(model, node.id, scope, depth)
    if isinstance(node, ast.Attribute):
        base = interpret(model, node.value, scope, depth)
        return replace(base, text=f"{base.text}.{node.attr}") if base is not None and base.kind == REFERENCE else None
    return None


def _literal(value: object) -> UrlValue | None:
    if not isinstance(value, str):
        return None
    scheme, separator, _ = value.partition("://")
    return UrlValue(SCHEME, scheme) if separator and VALID_SCHEME.match(scheme) else None


def _call_value(model: SemanticModel, call: ast.Call, scope: Scope, depth: int) -> UrlValue | None:
    qualname = model.qualname(call.func)
    if qualname in names.ENVIRONMENT_READS:
        position = names.ENVIRONMENT_READS[qualname]
        default = keyword(call, "default")
        if default is None and position is not None and len(call.args) > position:
            default = call.args[position]
        return _from_environment(interpret(model, default, scope, depth) if default is not None else None)
    if model.api(call.func) == "make_url":
        return interpret(model, call.args[0], scope, depth) if call.args else None
    dsn = names.DSN_DIALECTS.get((qualname or "").rpartition(".")[2]) if (qualname or "").startswith("pydantic.") else None
    method = call_method(call)
    if method is not None:
        receiver, name = method
        if name == "create" and model.api(receiver) == "URL":
            return _literal(_keyword_or_first(call, "drivername") + "://")
        if name in ("build", "set"):  # pydantic's `MultiHostUrl.build(scheme=...)`, SQLAlchemy's `url.set(drivername=...)`
            written = _literal(_keyword_or_first(call, "scheme" if name == "build" else "drivername", positional=False) + "://")
            if written is not None:
                return written
            dsn = names.DSN_DIALECTS.get((model.qualname(receiver) or "").rpartition(".")[2])
            return UrlValue(DIALECT, dsn) if dsn else None
        if name in SAME_URL_METHODS:
            return interpret(model, receiver, scope, depth)
    if dsn is not None:
        return UrlValue(DIALECT, dsn)
    if isinstance(call.func, ast.Name) and call.func.id == "str" and "str" not in model.imports and "str" not in model.local_defs:
        return interpret(model, call.args[0], scope, depth) if call.args else None
    function = interpret(model, call.func, scope, depth)
    return replace(function, text=function.text + "()") if function is not None and function.kind == REFERENCE else None


def _keyword_or_first(call: ast.Call, name: str, positional: bool = True) -> str:
    """A string argument given by keyword (or first), "" when it is not a literal."""
    value = keyword(call, name)
    if value is None and positional and call.args:
        value = call.args[0]
    return value.value if isinstance(value, ast.Constant) and isinstance(value.value, str) else ""


def _name_value(model: SemanticModel, name: str, scope: Scope, depth: int) -> UrlValue | None:
    function = model.binding_function(name, scope)
    if function is not None:
        return _local_value(model, name, function, depth)
    if name in model.imports:
        return _reference(model, model.imports[name])
    value = model.module_constant(name, scope)
    if value is not None:
        return interpret(model, value, model.module_scope, depth)
    if isinstance(model.local_defs.get(name), (*FUNCTION_NODES, ast.ClassDef)):
        return UrlValue(REFERENCE, f"{model.module}.{name}")
    return None


def _local_value(model: SemanticModel, name: str, function: Scope, depth: int) -> UrlValue | None:
    """A name a function binds: `self` in a method (an instance of its class), or a name it assigns once."""
    parameters = all_args(function.node) if function.kind == "function" else []
    if parameters and parameters[0].arg == name and function.parent is not None and function.parent.kind == "class":
        return UrlValue(REFERENCE, f"{function.parent.qualname}()")
    if any(parameter.arg == name for parameter in parameters):
        return None
    assigns = [a for a in function.assigns if name in assigned_names(a)]
    if len(assigns) != 1 or not isinstance(assigns[0], (ast.Assign, ast.AnnAssign)) or assigned_names(assigns[0]) != [name]:
        return None
    return interpret(model, assigns[0].value, function, depth)


def _reference(model: SemanticModel, qualname: str) -> UrlValue | None:
    """A reference to a name of the project (the frameworks' and libraries' names hold no URL)."""
    return UrlValue(REFERENCE, qualname) if qualname.partition(".")[0] in model.project_roots else None


def _from_environment(default: UrlValue | None) -> UrlValue:
    """An environment read with this default: what the default says, overridable; else configured."""
    if default is None or default.kind == CONFIGURED:
        return default or UNKNOWN_CONFIGURED
    if default.kind == REFERENCE:
        return UrlValue(CONFIGURED, default.text)
    return replace(default, written=False)


def _overridable(value: UrlValue | None) -> UrlValue | None:
    return replace(value, written=False) if value is not None and value.kind != CONFIGURED else value


def _agreed(values: list[UrlValue | None]) -> UrlValue | None:
    """What several possible values (branches, returns) say together: what they all say, else None."""
    if not values or None in values:
        return None
    first = values[0]
    assert first is not None
    if all(v == first for v in values):
        return first
    if any(v.kind == REFERENCE or v.kind == CONFIGURED for v in values):  # type: ignore[union-attr]
        return None
    written = all(v.written for v in values)  # type: ignore[union-attr]
    if len({v.text for v in values}) == 1 and all(v.kind == SCHEME for v in values):  # type: ignore[union-attr]
        return UrlValue(SCHEME, first.text, written)
    dialects = {v.dialect for v in values}  # type: ignore[union-attr]
    return UrlValue(DIALECT, dialects.pop(), written) if len(dialects) == 1 and None not in dialects else None


def _returned(model: SemanticModel, function: Scope, implicit: int) -> UrlValue | None:
    """What a getter (a function taking no arguments but its `implicit` ones: a method's instance or class)
    returns: what its returns agree on, else what its annotation says. Handlers and factories, which take
    arguments, are left out: they hold no configuration's URL, and the facts stay small."""
    if len(all_args(function.node)) > implicit:
        return None
    returned = _agreed([interpret(model, r.value, function) for r in function.returns if r.value is not None])
    annotation = function.node.returns  # type: ignore[attr-defined]
    return returned or (_annotated(model, annotation) if annotation is not None else None)


def _annotated(model: SemanticModel, annotation: ast.AST) -> UrlValue | None:
    """What a type annotation says: a database's URL type (`PostgresDsn`, `Optional[PostgresDsn]`), or an
    instance of a project class (nested settings)."""
    node = annotation
    if isinstance(node, ast.Subscript) and (model.qualname(node.value) or "").rpartition(".")[2] in ("Optional", "Annotated"):
        node = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) else node.slice
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr) and isinstance(node.right, ast.Constant):
        node = node.left if node.right.value is None else node  # `PostgresDsn | None`
    qualname = model.qualname(node) or ""
    if qualname.startswith("pydantic.") and qualname.rpartition(".")[2] in names.DSN_DIALECTS:
        return UrlValue(DIALECT, names.DSN_DIALECTS[qualname.rpartition(".")[2]])
    found = _reference(model, qualname) if qualname else None
    return replace(found, text=f"{found.text}()") if found is not None else None


def _read_class(model: SemanticModel, klass: Scope, values: dict[str, UrlValue], classes: dict[str, tuple[str, ...]]) -> None:
    """A top-level class's attributes (field defaults, overridable) and properties or methods that hold a URL."""
    node = klass.node
    assert isinstance(node, ast.ClassDef)
    bases = (model.qualname(b.value if isinstance(b, ast.Subscript) else b) for b in node.bases)
    kept = tuple(q for q in bases if q and (q in names.SETTINGS_BASES or q.partition(".")[0] in model.project_roots))
    found = False
    for statement in node.body:
        if isinstance(statement, FUNCTION_NODES):
            value = _returned(model, model.scope_of[statement], 1)
            name = statement.name
        elif isinstance(statement, (ast.Assign, ast.AnnAssign)) and len(assigned_names(statement)) == 1:
            value = _attribute_value(model, statement, klass)
            name = assigned_names(statement)[0]
        else:
            continue
        if value is not None:
            values[f"{node.name}.{name}"] = value
            found = True
    if kept or found:
        classes[node.name] = kept


def _attribute_value(model: SemanticModel, statement: ast.Assign | ast.AnnAssign, klass: Scope) -> UrlValue | None:
    annotated = _annotated(model, statement.annotation) if isinstance(statement, ast.AnnAssign) else None
    if annotated is not None and annotated.kind == DIALECT:
        return annotated
    value = statement.value
    if isinstance(value, ast.Call) and model.qualname(value.func) in names.PYDANTIC_FIELD_FUNCTIONS:
        value = keyword(value, "default") or (value.args[0] if value.args else None)
    found = _overridable(interpret(model, value, klass)) if value is not None else None
    return found or annotated
