"""The ORM's facts about a file's classes: which are mapped, their columns and relationships (with the loader
strategy each declares), the fields of Pydantic and SQLModel schemas, and a class's lineage across the project.
A part of the semantic model (one of its bases), over the model's names and the project index."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from flake8_async_sqla.core import names
from flake8_async_sqla.core.summaries import ClassSummary, Relationship
from flake8_async_sqla.core.syntax import COLLECTION_TYPES, assigned_names, dotted, keyword, literal_str

if TYPE_CHECKING:
    from flake8_async_sqla.core.model import Scope

# A relationship's loader strategy that the source computes (a variable, `**options`).
UNKNOWN_STRATEGY = "<unknown>"
# Annotations that choose the loader strategy when `lazy=` is not given.
IMPLIED_STRATEGIES = {"WriteOnlyMapped": "write_only", "DynamicMapped": "dynamic"}


class MappingFacts:
    """The ORM part of `SemanticModel`, a base of it: its methods use the model's names and project index."""

    def __init__(self) -> None:
        # Its memos, on each model (`SemanticModel.__init__` calls this).
        self._model_relationships: dict[str, dict[str, Relationship] | None] = {}
        self._lazy_reached: dict[str, frozenset[str]] = {}
        self._lineages: dict[str, list[tuple[str, ClassSummary | None]]] = {}

    def _class_attributes(
        self, body: list[ast.Assign | ast.AnnAssign], relationships: dict[str, Relationship]
    ) -> tuple[frozenset[str], dict[str, str | None]]:
        """(attributes mapped to columns, annotated fields with the attribute each reads) of a class body."""
        columns: set[str] = set()
        fields: dict[str, str | None] = {}
        for statement in body:
            value = statement.value
            maps_column = isinstance(value, ast.Call) and self.api(value.func) in names.COLUMN_CONSTRUCTORS
            for name in assigned_names(statement):
                if name in relationships:
                    continue
                if isinstance(statement, ast.Assign):
                    if maps_column:
                        columns.add(name)
                    continue
                annotation = self._parse_string_annotation(statement.annotation)
                head = annotation.value if isinstance(annotation, ast.Subscript) else annotation
                if maps_column or self.api(head) in names.MAPPED_ANNOTATIONS:
                    columns.add(name)
                elif (dotted(head) or [""])[-1] != "ClassVar" and not name.startswith("_") and name != "model_config":
                    fields[name] = self._field_reads(name, value, annotation)
        return frozenset(columns), fields

    def _field_reads(self, name: str, value: ast.AST | None, annotation: ast.AST) -> str | None:
        """The attribute that validating a field from an object reads: its alias when `Field(...)` (as the
        value or in `Annotated[...]`) gives one; None when the alias is computed."""
        calls = [value] if isinstance(value, ast.Call) else []
        if (
            isinstance(annotation, ast.Subscript)
            and (dotted(annotation.value) or [""])[-1] == "Annotated"
            and isinstance(annotation.slice, ast.Tuple)
        ):
            calls += [meta for meta in annotation.slice.elts[1:] if isinstance(meta, ast.Call)]
        for call in calls:
            if self.qualname(call.func) not in names.PYDANTIC_FIELD_FUNCTIONS:
                continue
            if any(kw.arg is None for kw in call.keywords):
                return None
            for key in names.FIELD_READ_ALIASES:
                alias = keyword(call, key)
                if alias is not None:
                    return alias.value if isinstance(alias, ast.Constant) and isinstance(alias.value, str) else None
        return name

    def _renames_fields(self, scope: Scope, body: list[ast.Assign | ast.AnnAssign]) -> bool:
        """Whether a class's Pydantic config may make validation read other attributes than its field
        names: an `alias_generator`, or a `model_config` / `class Config` this cannot read."""
        node = scope.node
        if any(kw.arg in (None, "alias_generator") for kw in node.keywords):  # type: ignore[attr-defined]
            return True
        for statement in body:
            if "model_config" not in assigned_names(statement):
                continue
            value = statement.value
            if isinstance(value, ast.Dict):
                keys = [literal_str(key) if key is not None else None for key in value.keys]
            elif isinstance(value, ast.Call) and (dotted(value.func) or [""])[-1] == "ConfigDict":
                keys = [kw.arg for kw in value.keywords]
            else:
                return True
            if None in keys or "alias_generator" in keys:
                return True
        return any(
            child.kind == "class" and child.name == "Config" and any("alias_generator" in assigned_names(a) for a in child.assigns)
            for child in scope.children
        )

    def _is_relationship_call(self, value: ast.AST | None) -> bool:
        return isinstance(value, ast.Call) and names.sqlalchemy_api(self.qualname(value.func)) in names.RELATIONSHIP_FACTORIES

    def _relationship(self, name: str, call: ast.Call, annotation: ast.AST | None, node: ast.AST) -> Relationship:
        strategy = self._relationship_strategy(call, annotation)
        target = self._relationship_target(annotation, call)
        back_populates = literal_str(keyword(call, "back_populates"))
        return Relationship(name, strategy, target, node, back_populates, self._is_collection(call, annotation), call)

    def _is_collection(self, call: ast.Call, annotation: ast.AST | None) -> bool | None:
        """`uselist=`, else the annotation: `Mapped[list[X]]` / `list[X]` (SQLModel) a collection, `Mapped[X]` not."""
        uselist = literal_str(keyword(call, "uselist"))
        if uselist in ("True", "False"):
            return uselist == "True"
        if annotation is None:
            return None
        node = self._parse_string_annotation(annotation)
        if isinstance(node, ast.Subscript) and names.sqlalchemy_api(self.qualname(node.value)) == "Mapped":
            node = self._parse_string_annotation(node.slice)
        elif isinstance(node, ast.Subscript) and names.sqlalchemy_api(self.qualname(node.value)) in IMPLIED_STRATEGIES:
            return True
        if isinstance(node, ast.BinOp):  # `Shipment | None`
            node = node.left
        head = node.value if isinstance(node, ast.Subscript) else node
        if isinstance(head, (ast.Name, ast.Attribute)):
            return (dotted(head) or [""])[-1] in COLLECTION_TYPES
        return False if isinstance(node, ast.Constant) else None

    def _relationship_strategy(self, call: ast.Call, annotation: ast.AST | None) -> str | None:
        """The `lazy=` strategy (also in SQLModel's `sa_relationship_kwargs`, or implied by the annotation)."""
        lazy = keyword(call, "lazy")
        sa_kwargs = keyword(call, "sa_relationship_kwargs")
        if lazy is None and isinstance(sa_kwargs, ast.Dict):
            for key, item in zip(sa_kwargs.keys, sa_kwargs.values):
                if key is None:
                    return UNKNOWN_STRATEGY  # `**options` may carry it
                if literal_str(key) == "lazy":
                    lazy = item
        elif lazy is None and sa_kwargs is not None:
            return UNKNOWN_STRATEGY
        if lazy is not None:
            return literal_str(lazy) or UNKNOWN_STRATEGY
        if keyword(call, "sa_relationship") is not None or any(kw.arg is None for kw in call.keywords):
            return UNKNOWN_STRATEGY
        if annotation is not None:
            annotation = self._parse_string_annotation(annotation)
            head = annotation.value if isinstance(annotation, ast.Subscript) else annotation
            return IMPLIED_STRATEGIES.get(names.sqlalchemy_api(self.qualname(head)) or "")
        return None

    def _relationship_target(self, annotation: ast.AST | None, call: ast.Call) -> str | None:
        first = call.args[0] if call.args else keyword(call, "argument")
        if first is None and annotation is not None:
            first = _mapped_target(annotation)
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
        if qualname not in self._model_relationships:  # asked once per attribute access: memoise
            self._model_relationships[qualname] = self._collect_relationships(qualname)
        return self._model_relationships[qualname]

    def lazy_relationships_reached(self, qualname: str) -> frozenset[str]:
        """The names of the lazily loading relationships of a mapped class and of every class its
        relationships lead to, transitively: memoised, as every scope that selects the class asks."""
        if qualname not in self._lazy_reached:
            found: set[str] = set()
            seen: set[str] = set()
            pending = [qualname]
            while pending:
                mapped = pending.pop()
                if mapped in seen:
                    continue
                seen.add(mapped)
                for name, relationship in (self.model_relationships(mapped) or {}).items():
                    if relationship.loads_lazily:
                        found.add(name)
                    if relationship.target is not None:
                        pending.append(relationship.target)
            self._lazy_reached[qualname] = frozenset(found)
        return self._lazy_reached[qualname]

    def _collect_relationships(self, qualname: str) -> dict[str, Relationship] | None:
        summaries = [summary for _, summary in self.class_lineage(qualname) if summary is not None]
        if not summaries:
            return None
        relationships: dict[str, Relationship] = {}
        for summary in summaries:
            for name, rel in summary.own_relationships.items():
                relationships.setdefault(name, rel)
        return relationships

    def class_lineage(self, qualname: str | None) -> list[tuple[str, ClassSummary | None]]:
        """A class and its bases, transitively, leftmost base first as in the MRO; a class outside the
        project (or one that cannot be found) comes without a summary, and its bases are not followed."""
        if not qualname:
            return []
        if qualname not in self._lineages:
            lineage: list[tuple[str, ClassSummary | None]] = []
            seen: set[str] = set()
            pending = [qualname]
            while pending:
                current = pending.pop()
                if current in seen:
                    continue
                seen.add(current)
                symbol = self.symbol(current)
                klass = symbol.klass if symbol is not None else None
                lineage.append((current, klass))
                if klass is not None:
                    pending.extend(reversed(klass.base_qualnames))
            self._lineages[qualname] = lineage
        return self._lineages[qualname]

    def is_mapped_class(self, qualname: str | None) -> bool:
        """Whether a class is an ORM-mapped one: it or a base declares a table, columns or relationships,
        or is a declarative base."""
        return any(
            summary is not None and (summary.is_table or summary.is_declarative_root or summary.columns or summary.own_relationships)
            for _, summary in self.class_lineage(qualname)
        )

    def mapped_attributes(self, qualname: str | None) -> frozenset[str] | None:
        """The attributes a mapped class maps (columns and relationships, inherited ones too; for a SQLModel
        table model, every field), or None when the class is not known to be mapped."""
        if not self.is_mapped_class(qualname):
            return None
        lineage = self.class_lineage(qualname)
        summaries = [summary for _, summary in lineage if summary is not None]
        sqlmodel_table = any(s.is_table for s in summaries) and any(
            name in names.PYDANTIC_MODEL_ROOTS and name.startswith("sqlmodel.") for name, summary in lineage if summary is None
        )
        found: set[str] = set()
        for summary in summaries:
            found.update(summary.columns, summary.own_relationships)
            if sqlmodel_table:
                found.update(summary.fields)
        return frozenset(found)

    def schema_fields(self, qualname: str | None) -> dict[str, str | None] | None:
        """The fields of a Pydantic model (or SQLModel non-table model) of the project, inherited ones
        too, each with the attribute that validating it from an object reads (None: unknown); None when
        the class is not such a model, or a base or config this cannot read may add or rename fields."""
        lineage = self.class_lineage(qualname)
        outside = [name for name, summary in lineage if summary is None]
        summaries = [summary for _, summary in lineage if summary is not None]
        if not summaries or names.PYDANTIC_MODEL_ROOTS.isdisjoint(outside):
            return None
        if any(name not in names.PYDANTIC_MODEL_ROOTS | names.FIELDLESS_BASES for name in outside):
            return None
        if any(summary.is_table or summary.aliases_unknown for summary in summaries):
            return None
        fields: dict[str, str | None] = {}
        for summary in summaries:
            for name, reads in summary.fields.items():
                fields.setdefault(name, reads)
        return fields

    def _subclasses_app(self, qualname: str | None) -> bool:
        """Whether a project class derives from FastAPI's or Starlette's app or router classes."""
        return any(names.fastapi_api(name) in names.APP_CLASSES for name, summary in self.class_lineage(qualname) if summary is None)

    def has_base(self, qualname: str | None, api: str) -> bool:
        """Whether a class has the SQLAlchemy class `api` (`AsyncAttrs`) among its bases, transitively."""
        return any(names.sqlalchemy_api(name) == api for name, summary in self.class_lineage(qualname) if summary is None)


def maps_column(statement: ast.AnnAssign) -> bool:
    """`id: Mapped[int] = ...` in a mapped class: a column, which no session annotation looks like."""
    annotation = statement.annotation
    return isinstance(annotation, ast.Subscript) and (dotted(annotation.value) or [""])[-1] in names.MAPPED_ANNOTATIONS


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
