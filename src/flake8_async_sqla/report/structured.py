"""JSON output: a list of finding objects, schema documented in docs/command-line.md."""

from __future__ import annotations

import json

from flake8_async_sqla.core.rule import Finding, Rule, all_rules
from flake8_async_sqla.report import FILE_ERROR, UNREAD_MODULE, error_fingerprint
from flake8_async_sqla.runner import FileError, Result, RunOutcome, UnreadModule


def as_dict(result: Result) -> dict[str, object]:
    finding = result.finding
    rule = all_rules().get(finding.code)
    return {
        "code": finding.code,
        "name": rule.name if rule else "internal-error",
        "phase": rule.phase if rule else None,
        "severity": "error" if result.fails else "warning",
        "path": result.path,
        "role": result.role,
        "line": finding.line,
        "column": finding.col + 1,
        "end_line": finding.end_line,
        "end_column": finding.end_col + 1,
        "message": finding.message.partition(" ")[2],
        "fingerprint": result.fingerprint,
        "fix": _fix(finding, rule),
    }


def _fix(finding: Finding, rule: type[Rule] | None) -> dict[str, object] | None:
    """ruff's shape: the fix's safety, what it does, and its edits (1-based lines and columns, in characters)."""
    if not finding.edits or rule is None or rule.fix is None:
        return None
    return {
        "applicability": rule.fix.safety,
        "message": rule.fix.title,
        "edits": [
            {
                "content": edit.text,
                "location": {"row": edit.line, "column": edit.col + 1},
                "end_location": {"row": edit.end_line, "column": edit.end_col + 1},
            }
            for edit in finding.edits
        ],
    }


def error_as_dict(error: FileError) -> dict[str, object]:
    """A file that could not be read or parsed, as a result with no code (as ruff reports a syntax error)."""
    line = error.line or 1
    return {
        "code": None,
        "name": FILE_ERROR,
        "phase": None,
        "severity": "error",
        "path": error.path,
        "role": "",
        "line": line,
        "column": 1,
        "end_line": line,
        "end_column": 1,
        "message": error.problem,
        "fingerprint": error_fingerprint(error),
    }


def unread_as_dict(module: UnreadModule) -> dict[str, object]:
    """A project module the index could not read (and that was not checked): a warning, as the results resting
    on it may lack findings."""
    item = error_as_dict(FileError(module.path, module.problem, module.line))
    rested_on = ", ".join(module.rested_on_by)
    item.update(name=UNREAD_MODULE, severity="warning", message=f"the project index could not read this module "
                f"({module.problem}); results resting on it may lack findings: {rested_on}")
    return item


def render(outcome: RunOutcome, show_source: bool) -> str:
    del show_source  # a structured format carries positions, not frames
    items = [as_dict(result) for result in outcome.results] + [error_as_dict(error) for error in outcome.errors]
    items += [unread_as_dict(module) for module in outcome.unread_unchecked()]
    return json.dumps(sorted(items, key=lambda item: str(item["path"])), indent=2) + "\n"
