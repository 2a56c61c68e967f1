"""Rule declaration: one class per rule carries its code, name, phase, message and docs."""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pkgutil
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar, Iterator

from flake8_async_sqla.core.edits import Edit
from flake8_async_sqla.core.roles import ROLES

if TYPE_CHECKING:
    from flake8_async_sqla.core.edits import SourceText
    from flake8_async_sqla.core.model import SemanticModel

ADVISORY = "advisory"
# A fix is safe when it keeps what the code does (apart from the defect), unsafe when it may change more and
# needs a review: `check --fix` applies only safe ones unless `--unsafe-fixes` is given.
SAFE, UNSAFE = "safe", "unsafe"

PHASE_TITLES = {
    1: "central engine/session factory and lifespan",
    2: "read paths on the session dependency",
    3: "write paths in explicit transactions",
    4: "remove legacy globals and helpers",
    5: "strict lint gate",
    ADVISORY: "advisory (implicit I/O backlog)",
}

# The docstring's sections; the docs page adds "Example" (the first `invalid` snippet) after
# "Why is this bad?" and the first `valid` snippet under "Use instead".
DOC_SECTIONS = ("What it does", "Why is this bad?", "Use instead", "Known false alarms", "Fix safety", "References")
RULE_MODULE = re.compile(r"asq\d{3}_\w+\.py")


@dataclass(frozen=True, order=True)
class Finding:
    line: int
    col: int  # 0-based, as ast and flake8 count
    code: str
    message: str
    end_line: int = 0
    end_col: int = 0
    context: str = ""  # qualified name of the enclosing function or class ("" at module level)
    fields: tuple[tuple[str, str], ...] = ()  # the message's values, for reports that regroup findings
    edits: tuple[Edit, ...] = ()  # the fix, when fixes were asked for and the rule has one for this finding


@dataclass(frozen=True)
class Report:
    """What a rule yields: the node to point at and the values for its message template."""

    node: ast.AST
    fields: tuple[tuple[str, str], ...] = ()
    # Builds the fix's edits from the file's text, called only when fixes are asked for (None: no fix here).
    fix: Callable[[SourceText], Sequence[Edit] | None] | None = None

    def with_fix(self, fix: Callable[[SourceText], Sequence[Edit] | None]) -> Report:
        return replace(self, fix=fix)


def report(node: ast.AST, **fields: str) -> Report:
    return Report(node, tuple(fields.items()))


@dataclass(frozen=True)
class AutoFix:
    """A rule's automatic fix: whether it is SAFE or UNSAFE (the docstring's "Fix safety" says why), and
    what it does, as `--show-fixes`, the reports and the docs say it."""

    safety: str
    title: str


class Rule:
    """Base of every rule. Subclasses declare the class attributes and implement ``check``."""

    code: ClassVar[str]
    name: ClassVar[str]
    phase: ClassVar[int | str]
    message: ClassVar[str]
    # Code snippets: `invalid` ones must give this rule's finding, `valid` ones none.
    # The first of each is the docs' "Example" and "Use instead".
    invalid: ClassVar[tuple[str, ...]] = ()
    valid: ClassVar[tuple[str, ...]] = ()
    # For rules about runtime behaviour: the test that runs `invalid[0]` and `valid[0]`
    # against real databases, and what it observed on each backend.
    runtime_proof: ClassVar[str | None] = None
    observed: ClassVar[dict[str, str]] = {}
    # The roles of files (core.roles) whose findings of this rule mean something; a run reports a file's
    # findings only when its role is both here and among the roles the user asked for.
    roles: ClassVar[frozenset[str]] = frozenset(ROLES)
    # The rule's automatic fix, if it has one; its reports then carry the edits (`Report.with_fix`).
    fix: ClassVar[AutoFix | None] = None

    def check(self, model: SemanticModel) -> Iterator[Report]:
        raise NotImplementedError

    @classmethod
    def is_advisory(cls) -> bool:
        return cls.phase == ADVISORY

    @classmethod
    def format(cls, fields: tuple[tuple[str, str], ...]) -> str:
        return f"{cls.code} {cls.message.format(**dict(fields))}"

    @classmethod
    def doc_sections(cls) -> dict[str, str]:
        """The docstring split on its `## Heading` lines, keyed by heading."""
        sections: dict[str, str] = {}
        current = None
        for line in inspect.cleandoc(cls.__doc__ or "").splitlines():
            heading = re.fullmatch(r"## (.+)", line.strip())
            if heading:
                current = heading.group(1)
                sections[current] = ""
            elif current is not None:
                sections[current] += line + "\n"
        return {key: value.strip() for key, value in sections.items()}


REGISTRY: dict[str, type[Rule]] = {}
# The project's own rules (core.project_rules), set from its configuration: replaced as a whole, never merged.
PROJECT_RULES: dict[str, type[Rule]] = {}


def use_project_rules(rules: dict[str, type[Rule]]) -> None:
    global PROJECT_RULES
    PROJECT_RULES = dict(rules)


def register(rule: type[Rule]) -> type[Rule]:
    if rule.code in REGISTRY:
        raise ValueError(f"duplicate rule code {rule.code}")
    REGISTRY[rule.code] = rule
    return rule


def rule_codes() -> list[str]:
    """Every rule's code, in order, read from the rule modules' file names (`asq201_<name>.py`, one rule
    each) without importing them: selecting codes, and a run answered from the cache, need no analysis code."""
    from flake8_async_sqla import rules

    return sorted(
        [
            name[:6].upper()
            for folder in rules.__path__
            for _, _, names in os.walk(folder)
            for name in names
            if RULE_MODULE.fullmatch(name)
        ]
        + list(PROJECT_RULES)
    )


def rule_phase(code: str) -> int | str | None:
    """The phase of the rule `code` (None for a code no rule has, as ASQ000)."""
    rule = all_rules().get(code)
    return None if rule is None else rule.phase


def all_rules() -> dict[str, type[Rule]]:
    """Every declared rule, by code, in code order (imports the rule modules once)."""
    if not REGISTRY:
        from flake8_async_sqla import rules

        for module in pkgutil.walk_packages(rules.__path__, rules.__name__ + "."):
            importlib.import_module(module.name)
    return dict(sorted({**REGISTRY, **PROJECT_RULES}.items()))
