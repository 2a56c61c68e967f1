"""What other modules may know of a module's functions and classes once its model is let go: their
summaries, computed from the module's model (and, for what a function does with what it calls, from the
summaries of its callees), in a form that holds no syntax and round-trips through JSON, for the result
cache and for worker processes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace
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


# The effects a function summary holds, each with the value it starts from while a cycle of calls is solved
# (see `EffectSolver`): what the function is known to do before any call of the cycle is followed.
EFFECTS: dict[str, Callable[[FunctionSummary], object]] = {
    "session_io_names": lambda summary: frozenset(),
    "handout": lambda summary: NO_HANDOUT,
    "ends_transactions": lambda summary: frozenset(),
    "returns_new_engine": lambda summary: None,
    # Borrowing holds until a use keeps the parameter: a call of the cycle lends it until shown otherwise.
    "borrowed_parameters": lambda summary: frozenset(summary.parameters),
    "blocking_io": lambda summary: None,
    "creates_engine": lambda summary: None,
    "hidden_commits": lambda summary: frozenset(),
    "attribute_parameters": lambda summary: {},
}
# What an effect is for a summary that has no probe for it (one made up for a configured dependency).
UNKNOWN_EFFECTS: dict[str, object] = {
    "session_io_names": frozenset(), "handout": NO_HANDOUT, "ends_transactions": frozenset(), "returns_new_engine": None,
    "borrowed_parameters": frozenset(), "blocking_io": None, "creates_engine": None, "hidden_commits": frozenset(),
    "attribute_parameters": {},
}


# The probes of a summary that has none left (settled, forgone, or read from JSON): one mapping shared by all of
# them, never written (only a summary with probes is ever solved).
NO_PROBES: dict[str, Callable[[], object]] = {}
# Effect values that compare equal are one object: a project keeps the effects of every function its other modules
# name, most of them the same few (an empty frozenset is 200 bytes).
SHARED_VALUES: dict[object, object] = {}


def shared(value: object) -> object:
    """The one object kept for `value` (itself, when it is not hashable)."""
    try:
        return SHARED_VALUES.setdefault(value, value)
    except TypeError:
        return value


@dataclass(slots=True)
class FunctionSummary:
    """What other modules need to know about a function."""

    qualname: str
    is_async: bool
    # Its named parameters, positional ones first, and how many are positional.
    parameters: tuple[str, ...] = ()
    positional_count: int = 0
    bound: bool = False  # a method whose first parameter (`self`/`cls`) the call fills in
    # Per effect, the function computing it from the model when first asked (they may look callees up in other
    # modules, and most functions are never asked); `EffectSolver` calls them.
    probes: dict[str, Callable[[], object]] = field(default_factory=lambda: NO_PROBES, repr=False, compare=False)
    # The effects computed for good, and the current values of those being solved in a cycle of calls (None when
    # none is).
    settled: dict[str, object] = field(default_factory=dict, repr=False, compare=False)
    solving: dict[str, object] | None = field(default=None, repr=False, compare=False)
    # For a function whose model was let go before all its effects were computed (no other module names it, see
    # `forgo`): what computes an effect asked after all, from a model built again.
    fallback: Callable[[str], object] | None = field(default=None, repr=False, compare=False)

    @property
    def session_io_names(self) -> frozenset[str]:
        """Parameters (`db`) and `self` attributes (`self.db`) the function does session I/O through."""
        return SOLVER.value(self, "session_io_names")  # type: ignore[return-value]

    @property
    def ends_transactions(self) -> frozenset[str]:
        """Parameters whose session the function may commit or roll back: itself, or through code it hands
        the session to (code it cannot see counts as doing so)."""
        return SOLVER.value(self, "ends_transactions")  # type: ignore[return-value]

    @property
    def borrowed_parameters(self) -> frozenset[str]:
        """Parameters the function only uses while it runs: it neither disposes, closes, keeps, returns nor hands
        them to code that might (an engine passed to `create_tables(engine)` stays its caller's to dispose, a
        session passed to `crud.get_user(db, id)` its caller's to close)."""
        return SOLVER.value(self, "borrowed_parameters")  # type: ignore[return-value]

    @property
    def returns_new_engine(self) -> str | None:
        """The kind of engine ("async"/"sync") the function creates and returns to its caller on every call (a
        wrapper of `create_async_engine`), None when it returns none or one it keeps (a memoised getter)."""
        return SOLVER.value(self, "returns_new_engine")  # type: ignore[return-value]

    @property
    def handout(self) -> SessionHandout:
        """The session the function yields or returns to its caller."""
        return SOLVER.value(self, "handout")  # type: ignore[return-value]

    @property
    def blocking_io(self) -> str | None:
        """The synchronous database object a (synchronous) function waits on, whoever calls it, shown for a
        message ("sync session `SessionLocal()`", "sync engine `engine`"): I/O on a sync session, connection or
        engine it opens itself, a module-level one or one its object holds, or through a synchronous function it
        calls that does. None when it does none, or only through what its caller hands it (`session_io_names`)."""
        return SOLVER.value(self, "blocking_io")  # type: ignore[return-value]

    @property
    def creates_engine(self) -> str | None:
        """The kind of engine ("async"/"sync") the function creates anew on every call, itself (not memoised), by
        a function it calls or by constructing an object whose `__init__` does: one engine (and pool) per call."""
        return SOLVER.value(self, "creates_engine")  # type: ignore[return-value]

    @property
    def hidden_commits(self) -> frozenset[str]:
        """Parameters whose session the function commits, itself or through project functions it hands it to,
        where no function on the way knows the parameter holds a session (`def save(db, obj)`): nothing reports
        that commit where it is made, so the calls that hand it a session are where it shows."""
        return SOLVER.value(self, "hidden_commits")  # type: ignore[return-value]

    @property
    def attribute_parameters(self) -> dict[str, str]:
        """For a constructor: the `self` attributes it sets to a parameter (`self.db = db`, also through
        `super().__init__(db)`), each with that parameter: `{"self.db": "db"}`."""
        return SOLVER.value(self, "attribute_parameters")  # type: ignore[return-value]

    def settle(self) -> None:
        """Compute every effect not computed yet, while the model the probes ask is still at hand, and drop
        the probes: the summary then outlives its model (a released module keeps it) and holds no tree."""
        for effect in EFFECTS:
            SOLVER.value(self, effect)
        self.probes = NO_PROBES

    def forgo(self, fallback: Callable[[str], object]) -> None:
        """Drop the probes without computing what is left, for a function no other module names (so none asks
        it): an effect asked after all comes from `fallback`. Its JSON form then holds no effects."""
        self.probes = NO_PROBES
        self.fallback = fallback

    @property
    def complete(self) -> bool:
        """Whether every effect is known or can be computed from the model at hand."""
        return self.fallback is None

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


@dataclass(eq=False)
class _Frame:
    """An effect being computed: where it sits on the solver's stack, the lowest frame a cycle read from in it, and
    the effects computed under it that belong to its cycle (they are final only once the cycle is)."""

    summary: FunctionSummary
    effect: str
    depth: int
    low: int = 0
    members: list[tuple[FunctionSummary, str]] = field(default_factory=list)
    changed: bool = False  # a value of the cycle changed in this round
    cyclic: bool = False  # a value of the cycle was read before it was final


class EffectSolver:
    """Computes the effects of function summaries on demand, each the least fixed point of what its probe says
    of the effects of the functions it calls: Tarjan's strongly connected components found on the way (the
    probes are the edges), each solved by computing its members again, from their values so far, until none
    changes. So a result does not depend on which function of a cycle is asked first (nor on the order files
    are checked in), and the functions outside cycles are computed once."""

    def __init__(self) -> None:
        self.frames: list[_Frame] = []
        self.on_stack: dict[tuple[int, str], _Frame] = {}
        # Members of a cycle computed in the current round of the frame solving it, with the lowest frame they
        # read from: asked again in that round, their value so far serves (computing them again could take as
        # many times as there are paths through the cycle).
        self.fresh: dict[tuple[int, str], int] = {}
        # Told of each effect a probe reads, as (the qualified name of the function whose probe runs, that of the
        # function read), when set (see `ProjectIndex.records`).
        self.on_read: Callable[[str, str], None] | None = None

    def value(self, summary: FunctionSummary, effect: str) -> object:
        if self.on_read is not None and self.frames:
            self.on_read(self.frames[-1].summary.qualname, summary.qualname)
        settled = summary.settled
        if effect in settled:
            return settled[effect]
        key = (id(summary), effect)
        running = self.on_stack.get(key)
        low = running.depth if running is not None else self.fresh.get(key)
        if low is not None:  # a value of a cycle not solved yet: the asker belongs to the cycle
            asker = self.frames[-1]
            asker.low = min(asker.low, low)
            asker.cyclic = True
            return (summary.solving or {}).get(effect, EFFECTS[effect](summary))
        probe = summary.probes.get(effect)
        if probe is None:
            settled[effect] = shared(summary.fallback(effect) if summary.fallback is not None else UNKNOWN_EFFECTS[effect])
            return settled[effect]
        frame = _Frame(summary, effect, len(self.frames))
        self.frames.append(frame)
        self.on_stack[key] = frame
        try:
            while True:
                for member, member_effect in frame.members:  # a new round computes them again
                    self.fresh.pop((id(member), member_effect), None)
                frame.low, frame.members, frame.changed, frame.cyclic = frame.depth, [], False, False
                found = probe()
                if summary.solving is None:
                    summary.solving = {}
                if found != summary.solving.get(effect, EFFECTS[effect](summary)):
                    frame.changed = True
                summary.solving[effect] = found
                if frame.low < frame.depth or not (frame.cyclic and frame.changed):
                    break  # part of a cycle a lower frame solves, or solved
        except BaseException:
            for member, member_effect in frame.members:
                self.fresh.pop((id(member), member_effect), None)
            raise
        finally:
            self.frames.pop()
            del self.on_stack[key]
        if frame.low < frame.depth:
            self.fresh[key] = frame.low
            asker = self.frames[-1]
            asker.low = min(asker.low, frame.low)
            asker.members += [(summary, effect), *frame.members]
            asker.changed = asker.changed or frame.changed
            asker.cyclic = True
            return found
        for member, member_effect in frame.members:
            self.fresh.pop((id(member), member_effect), None)
        for member, member_effect in [(summary, effect), *frame.members]:
            member.settled[member_effect] = shared(member.solving.pop(member_effect))  # type: ignore[union-attr]
            if not member.solving:
                member.solving = None
            if member.probes is not NO_PROBES:
                member.probes.pop(member_effect, None)
        return found


# The one solver of the process: its stack is that of the computation of effects, wherever they are asked from.
SOLVER = EffectSolver()


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

    kind: str  # "app", "factory", "engine", "session", "alias", "function", "class", "object"
    flavour: str | None = None  # async/sync for factories, engines, sessions and aliases
    function: FunctionSummary | None = None
    klass: ClassSummary | None = None
    provider: FunctionSummary | None = None  # for an alias: the dependency in it
    # For an alias: `Annotated[T, Depends(f)]`, so a parameter annotated with it is injected.
    declares_dependency: bool = False
    expires_on_commit: bool | None = None  # for a session factory or session, when known
    # For a factory: a `scoped_session` registry, whose call returns the scope's current session.
    registry: bool = False
    # For an object: the project class it is an instance of (`user = CRUDUser(User)`), whose methods its calls run.
    instance_of: str | None = None


def function_to_json(summary: FunctionSummary) -> dict:
    """A summary with every effect computed (computing what is not yet), unless it was forgone: then without
    effects (see `FunctionSummary.forgo`)."""
    return {
        "qualname": summary.qualname,
        "is_async": summary.is_async,
        "parameters": list(summary.parameters),
        "positional_count": summary.positional_count,
        "bound": summary.bound,
        "effects": _effects_to_json(summary) if summary.complete else None,
    }


def _effects_to_json(summary: FunctionSummary) -> dict:
    handout = summary.handout
    return {
        "session_io_names": sorted(summary.session_io_names),
        "handout": [handout.yields, handout.returns, handout.provides_transaction, handout.expires_on_commit, handout.factory],
        "ends_transactions": sorted(summary.ends_transactions),
        "returns_new_engine": summary.returns_new_engine,
        "borrowed_parameters": sorted(summary.borrowed_parameters),
        "blocking_io": summary.blocking_io,
        "creates_engine": summary.creates_engine,
        "hidden_commits": sorted(summary.hidden_commits),
        "attribute_parameters": dict(sorted(summary.attribute_parameters.items())),
    }


def function_from_json(data: dict) -> FunctionSummary:
    summary = FunctionSummary(
        str(data["qualname"]), bool(data["is_async"]), tuple(map(str, data["parameters"])),
        int(data["positional_count"]), bool(data["bound"]),
    )
    data = data["effects"]
    if data is None:  # forgone: the index that adopts it gives it a fallback computing its effects
        summary.forgo(UNKNOWN_EFFECTS.__getitem__)
        return summary
    yields, returns, provides_transaction, expires_on_commit, factory = data["handout"]
    summary.settled.update((effect, shared(value)) for effect, value in dict(
        session_io_names=frozenset(map(str, data["session_io_names"])),
        handout=SessionHandout(yields, returns, bool(provides_transaction), expires_on_commit, factory),
        ends_transactions=frozenset(map(str, data["ends_transactions"])),
        returns_new_engine=data["returns_new_engine"],
        borrowed_parameters=frozenset(map(str, data["borrowed_parameters"])),
        blocking_io=data["blocking_io"],
        creates_engine=data["creates_engine"],
        hidden_commits=frozenset(map(str, data["hidden_commits"])),
        attribute_parameters={str(attribute): str(parameter) for attribute, parameter in data["attribute_parameters"].items()},
    ).items())
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
        "instance_of": symbol.instance_of,
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
        data["instance_of"],
    )
