"""`flake8-async-sqla test-rules`: each project rule against its own examples, as ast-grep's `sg test` runs a
rule's `valid` and `invalid` cases. An `invalid` example must give the rule's finding, a `valid` one must not,
and a rule with a fix must fix each `invalid` example into Python it no longer reports.

The examples are matched by the rule alone: roles, noqa comments and the selection do not apply to them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from flake8_async_sqla.config import relative_path

from flake8_async_sqla.core.project_rules import ProjectRule, find_all
from flake8_async_sqla.core.rule import Finding
from flake8_async_sqla.fix.apply import PendingFix, apply_fixes
from flake8_async_sqla.fix.passes import MAX_PASSES


@dataclass(frozen=True)
class RuleTest:
    """One rule's examples run: how many, and what went wrong (one line each, then the example's lines)."""

    rule: type[ProjectRule]
    examples: int
    failures: tuple[str, ...]


def run_examples(rule: type[ProjectRule]) -> RuleTest:
    spec = rule.spec
    failures = []
    for kind, examples in (("invalid", spec.invalid), ("valid", spec.valid)):
        for number, example in enumerate(examples, 1):
            problem = _problem(rule, example, kind == "invalid")
            if problem is not None:
                failures.append(f"{kind} example {number}: {problem[0]}\n{_quoted(example)}{problem[1]}")
    return RuleTest(rule, len(spec.invalid) + len(spec.valid), tuple(failures))


def _problem(rule: type[ProjectRule], example: str, invalid: bool) -> tuple[str, str] | None:
    """What is wrong with the rule on one of its examples (and the fixed text, when the fix is), or None."""
    try:
        found = _findings(rule, example)
    except SyntaxError as error:
        return f"not Python: {error.msg} (line {error.lineno})", ""
    if not invalid:
        return (f"reported on line {found[0].line}, but it is a `valid` example", "") if found else None
    if not found:
        return "not reported, but it is an `invalid` example", ""
    return _fix_problem(rule, example, found) if rule.spec.fix is not None else None


def _fix_problem(rule: type[ProjectRule], text: str, found: list[Finding]) -> tuple[str, str] | None:
    """Whether fixing the example, pass after pass as `check --fix` does, gives Python that the rule no longer reports."""
    for _ in range(MAX_PASSES):
        text, _, _ = apply_fixes(text, [PendingFix(finding.code, finding.line, finding.edits) for finding in found])
        try:
            found = _findings(rule, text)
        except SyntaxError as error:
            return f"its fix gives code that is not Python ({error.msg})", f"  fixed into:\n{_quoted(text)}"
        if not found:
            return None
    return f"still reported after its fix was applied {MAX_PASSES} times", f"  fixed into:\n{_quoted(text)}"


def _findings(rule: type[ProjectRule], text: str) -> list[Finding]:
    return find_all([rule], ast.parse(text), text, fixes=True)


def _quoted(text: str) -> str:
    return "".join(f"    | {line}\n" for line in text.rstrip("\n").split("\n"))


def render(tests: list[RuleTest], root: Path) -> str:
    """Pass or fail per rule (its file named relative to `root`), the failures under it, and a summary line."""
    lines = []
    for test in tests:
        rule = test.rule
        if not test.examples:
            status = "no examples"
        elif test.failures:
            status = f"FAILED ({len(test.failures)} of {test.examples} examples)"
        else:
            status = f"ok ({len(rule.spec.invalid)} invalid, {len(rule.spec.valid)} valid)"
        lines.append(f"{rule.code} {rule.name} ({relative_path(rule.spec.origin, root)}): {status}\n")
        lines += [f"  {failure}" for failure in test.failures]
    failed = sum(1 for test in tests if test.failures)
    without = sum(1 for test in tests if not test.examples)
    lines.append(
        f"{len(tests)} project rule{'' if len(tests) == 1 else 's'}: {len(tests) - failed - without} passed, {failed} failed"
        f"{f', {without} without examples' if without else ''}\n"
    )
    return "".join(lines)
