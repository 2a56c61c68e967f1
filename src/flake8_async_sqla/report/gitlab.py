"""GitLab Code Quality: the subset of the Code Climate issue format GitLab reads (description, check_name,
fingerprint, severity, location.path, location.lines.begin), one issue per finding and per file that could
not be checked."""

from __future__ import annotations

import json
import os

from flake8_async_sqla.report import FILE_ERROR, error_fingerprint
from flake8_async_sqla.runner import RunOutcome

# GitLab's severities: info, minor, major, critical, blocker.
FAILING, WARNING, UNCHECKED = "major", "minor", "critical"


def _issue(description: str, check_name: str, fingerprint: str, severity: str, path: str, line: int) -> dict[str, object]:
    return {
        "description": description,
        "check_name": check_name,
        "fingerprint": fingerprint,
        "severity": severity,
        "location": {"path": path.replace(os.sep, "/"), "lines": {"begin": line}},
    }


def render(outcome: RunOutcome, show_source: bool) -> str:
    del show_source
    issues = [
        _issue(
            result.finding.message, result.finding.code, result.fingerprint, FAILING if result.fails else WARNING,
            result.path, result.finding.line,
        )
        for result in outcome.results
    ]
    issues += [
        _issue(error.problem, FILE_ERROR, error_fingerprint(error), UNCHECKED, error.path, error.line or 1)
        for error in outcome.errors
    ]
    return json.dumps(issues, indent=2) + "\n"
