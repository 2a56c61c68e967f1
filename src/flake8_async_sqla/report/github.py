"""GitHub Actions workflow commands: one annotation per finding, and per file that could not be checked."""

from __future__ import annotations

from flake8_async_sqla.report import FILE_ERROR
from flake8_async_sqla.runner import RunOutcome


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape(text).replace(":", "%3A").replace(",", "%2C")


def render(outcome: RunOutcome, show_source: bool) -> str:
    del show_source
    lines = []
    for result in outcome.results:
        finding = result.finding
        level = "error" if result.fails else "warning"
        lines.append(
            f"::{level} file={_escape_property(result.path)},line={finding.line},col={finding.col + 1},"
            f"endLine={finding.end_line},endColumn={finding.end_col + 1},title={finding.code}::"
            f"{_escape(finding.message)}"
        )
    for error in outcome.errors:
        line = f",line={error.line}" if error.line else ""
        lines.append(f"::error file={_escape_property(error.path)}{line},title={FILE_ERROR}::{_escape(error.problem)}")
    return "".join(line + "\n" for line in lines)
