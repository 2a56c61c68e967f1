"""What other modules may know of a module's functions and classes once its model is let go: their
summaries, computed from the module's model (and, for what a function does with what it calls, from the
summaries of its callees), in a form that holds no syntax and round-trips through JSON, for the result
cache and for worker processes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Callable

@dataclass(frozen=True)
class SessionHandout:
    """The session a function hands its caller, if any."""

    yields: str | None = None  # kind of session it yields, if it does
    returns: str | None = None
    provides_transaction: bool = False
    expires_on_commit: bool | None = None  # of the session it yields or returns, when known
    factory: str | None = None  # kind of sessions the session factory it returns opens, if it returns one


NO_HANDOUT = SessionHandout()


@dataclass
class FunctionSummary:
    """What other modules need to know about a function."""

    qualname: str
    is_async: bool
    # Its named parameters, positional ones first, and how many are positional.
    parameters: tuple[str, ...] = ()
    positional_count: int = 0
    bound: bool = False  # a method whose first parameter (`self`/`cls`) the call fills in
    # Compute `session_io_names` and `handout` when first asked (they may look callees up in other
    # modules, and most functions are never asked).
    session_io_probe: Callable[[], frozenset[str]] | None = field(default=None, repr=False, compare=False)
    handout_probe: Callable[[], SessionHandout] | None = field(default=None, repr=False, compare=False)
    transaction_probe: Callable[[], frozenset[str]] | None = field(default=None, repr=False, compare=False)
    engine_probe: Callable[[], str | None] | None = field(default=None, repr=False, compare=False)
    borrow_probe: Callable[[], frozenset[str]] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def session_io_names(self) -> frozenset[str]:
        """Parameters (`db`) and `self` attributes (`self.db`) the function does session I/O through."""
        return self.session_io_probe() if self.session_io_probe is not None else frozenset()

    @cached_property
    def ends_transactions(self) -> frozenset[str]:
        """Parameters whose session the function may commit or roll back: itself, or through code it hands
        the session to (code it cannot see counts as doing so)."""
        # Dropped while it runs, as `handout`'s: a recursive call finds nothing ended (the rest of the cycle decides).
        probe, self.transaction_probe = self.transaction_probe, None
        return probe() if probe is not None else frozenset()

    @cached_property
    def borrowed_parameters(self) -> frozenset[str]:
        """Parameters the function only uses while it runs: it neither disposes, keeps, returns nor hands them to
        code that might (an engine passed to `create_tables(engine)` stays its caller's to dispose)."""
        probe, self.borrow_probe = self.borrow_probe, None
        return probe() if probe is not None else frozenset()

    @cached_property
    def returns_new_engine(self) -> str | None:
        """The kind of engine ("async"/"sync") the function creates and returns to its caller on every call (a
        wrapper of `create_async_engine`), None when it returns none or one it keeps (a memoised getter)."""
        probe, self.engine_probe = self.engine_probe, None
        return probe() if probe is not None else None

    @cached_property
    def handout(self) -> SessionHandout:
        """The session the function yields or returns to its caller."""
        # The probe is dropped while it runs: a recursive ask (`return get_session()`) finds nothing handed out.
        probe, self.handout_probe = self.handout_probe, None
        return probe() if probe is not None else NO_HANDOUT

    def settle(self) -> None:
        """Compute every effect not computed yet, while the model the probes ask is still at hand, and drop
        the probes: the summary then outlives its model (a released module keeps it) and holds no tree."""
        for effect in ("session_io_names", "handout", "ends_transactions", "returns_new_engine", "borrowed_parameters"):
            getattr(self, effect)
        self.session_io_probe = self.handout_probe = self.transaction_probe = None
        self.engine_probe = self.borrow_probe = None

    @property
    def yields_session(self) -> str | None:
        return self.handout.yields

    @property
    def returns_session(self) -> str | None:
        return self.handout.returns

    @property
    def provides_transaction(self) -> bool:
        return self.handout.provides_transaction

    @property
    def session_expires_on_commit(self) -> bool | None:
        return self.handout.expires_on_commit

    @property
    def returns_factory(self) -> str | None:
        return self.handout.factory

    def parameter_for(self, call: ast.Call, argument: ast.expr) -> str | None:
        """The parameter of this function that receives `argument` of `call`, when it can be told."""
        for item in call.keywords:
            if item.value is argument:
                return item.arg if item.arg in self.parameters else None
        for position, passed in enumerate(call.args):
            if isinstance(passed, ast.Starred):
                return None  # the positions after it are unknown
            if passed is argument:
                position += self.bound
                return self.parameters[position] if position < self.positional_count else None
        return None


@dataclass
class Relationship:
    name: str
    lazy: str | None  # the declared loader strategy, None when not given (UNKNOWN_STRATEGY when computed)
    target: str | None  # target class qualname, when known
    node: ast.AST | None = None
    back_populates: str | None = None  # the relationship on the target that points back
    collection: bool | None = None  # a list of objects (True) or one object (False), when declared
    call: ast.Call | None = None  # the `relationship(...)` call

    @property
    def loads_lazily(self) -> bool:
        return self.lazy is None or self.lazy in ("select", "True")


def without_nodes(symbol: Symbol | None) -> Symbol | None:
    klass = symbol.klass if symbol is not None else None
    if klass is None or not klass.own_relationships:
        return symbol
    relationships = {name: replace(rel, node=None, call=None) for name, rel in klass.own_relationships.items()}
    return replace(symbol, klass=replace(klass, own_relationships=relationships))


@dataclass
class ClassSummary:
    qualname: str
    base_qualnames: tuple[str, ...]
    own_relationships: dict[str, Relationship]
    is_declarative_root: bool = False
    columns: frozenset[str] = frozenset()  # attributes it maps to columns (`Mapped[...]`, `mapped_column()`, `Column()`)
    # Annotated class attributes (a Pydantic/SQLModel class's fields), each with the attribute that
    # validation from an object reads for it (its alias; None when the alias is computed).
    fields: dict[str, str | None] = field(default_factory=dict)
    is_table: bool = False  # `__tablename__` / `__table__`, or SQLModel's `table=True`
    aliases_unknown: bool = False  # an alias generator (or a config this cannot read) renames its fields
    defines_init: bool = False
    # `self.x = <session>` in its methods: attribute -> (kind, origin), for subclasses in other modules.
    session_attributes: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    # Class-level attributes annotated as sessions (`session: ClassVar[scoped_session[Session]]`): name -> kind.
    class_sessions: dict[str, str | None] = field(default_factory=dict)
    methods: dict[str, FunctionSummary] = field(default_factory=dict)  # the functions its body defines, by name


@dataclass
class Symbol:
    """What a module-level name is, as far as the rules care."""

    kind: str  # "app", "factory", "engine", "session", "alias", "function", "class"
    flavour: str | None = None  # async/sync for factories, engines, sessions and aliases
    function: FunctionSummary | None = None
    klass: ClassSummary | None = None
    provider: FunctionSummary | None = None  # for an alias: the dependency in it
    # For an alias: `Annotated[T, Depends(f)]`, so a parameter annotated with it is injected.
    declares_dependency: bool = False
    expires_on_commit: bool | None = None  # for a session factory or session, when known
    # For a factory: a `scoped_session` registry, whose call returns the scope's current session.
    registry: bool = False


def function_to_json(summary: FunctionSummary) -> dict:
    """A summary with every effect computed (computing what is not yet)."""
    handout = summary.handout
    return {
        "qualname": summary.qualname,
        "is_async": summary.is_async,
        "parameters": list(summary.parameters),
        "positional_count": summary.positional_count,
        "bound": summary.bound,
        "session_io_names": sorted(summary.session_io_names),
        "handout": [handout.yields, handout.returns, handout.provides_transaction, handout.expires_on_commit, handout.factory],
        "ends_transactions": sorted(summary.ends_transactions),
        "returns_new_engine": summary.returns_new_engine,
        "borrowed_parameters": sorted(summary.borrowed_parameters),
    }


def function_from_json(data: dict) -> FunctionSummary:
    summary = FunctionSummary(
        str(data["qualname"]), bool(data["is_async"]), tuple(map(str, data["parameters"])),
        int(data["positional_count"]), bool(data["bound"]),
    )
    yields, returns, provides_transaction, expires_on_commit, factory = data["handout"]
    settled = vars(summary)  # the effects are cached properties: set what they would compute
    settled["session_io_names"] = frozenset(map(str, data["session_io_names"]))
    settled["handout"] = SessionHandout(yields, returns, bool(provides_transaction), expires_on_commit, factory)
    settled["ends_transactions"] = frozenset(map(str, data["ends_transactions"]))
    settled["returns_new_engine"] = data["returns_new_engine"]
    settled["borrowed_parameters"] = frozenset(map(str, data["borrowed_parameters"]))
    return summary


def class_to_json(summary: ClassSummary) -> dict:
    return {
        "qualname": summary.qualname,
        "base_qualnames": list(summary.base_qualnames),
        "own_relationships": {
            name: [rel.lazy, rel.target, rel.back_populates, rel.collection] for name, rel in summary.own_relationships.items()
        },
        "is_declarative_root": summary.is_declarative_root,
        "columns": sorted(summary.columns),
        "fields": summary.fields,
        "is_table": summary.is_table,
        "aliases_unknown": summary.aliases_unknown,
        "defines_init": summary.defines_init,
        "session_attributes": {name: list(found) for name, found in summary.session_attributes.items()},
        "class_sessions": summary.class_sessions,
        "methods": {name: function_to_json(method) for name, method in summary.methods.items()},
    }


def class_from_json(data: dict) -> ClassSummary:
    return ClassSummary(
        str(data["qualname"]),
        tuple(map(str, data["base_qualnames"])),
        {
            str(name): Relationship(str(name), lazy, target, back_populates=back, collection=collection)
            for name, (lazy, target, back, collection) in data["own_relationships"].items()
        },
        bool(data["is_declarative_root"]),
        columns=frozenset(map(str, data["columns"])),
        fields=dict(data["fields"]),
        is_table=bool(data["is_table"]),
        aliases_unknown=bool(data["aliases_unknown"]),
        defines_init=bool(data["defines_init"]),
        session_attributes={str(name): (kind, origin) for name, (kind, origin) in data["session_attributes"].items()},
        class_sessions=dict(data["class_sessions"]),
        methods={str(name): function_from_json(method) for name, method in data["methods"].items()},
    )


def symbol_to_json(symbol: Symbol | None) -> dict | None:
    if symbol is None:
        return None
    return {
        "kind": symbol.kind,
        "flavour": symbol.flavour,
        "function": function_to_json(symbol.function) if symbol.function is not None else None,
        "klass": class_to_json(symbol.klass) if symbol.klass is not None else None,
        "provider": function_to_json(symbol.provider) if symbol.provider is not None else None,
        "declares_dependency": symbol.declares_dependency,
        "expires_on_commit": symbol.expires_on_commit,
        "registry": symbol.registry,
    }


def symbol_from_json(data: dict | None) -> Symbol | None:
    if data is None:
        return None
    return Symbol(
        str(data["kind"]),
        data["flavour"],
        function_from_json(data["function"]) if data["function"] is not None else None,
        class_from_json(data["klass"]) if data["klass"] is not None else None,
        function_from_json(data["provider"]) if data["provider"] is not None else None,
        bool(data["declares_dependency"]),
        data["expires_on_commit"],
        bool(data["registry"]),
    )
