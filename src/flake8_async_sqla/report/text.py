"""ruff-like text: `path:line:col: CODE message`, optionally with a code frame."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from flake8_async_sqla.core.rule import all_rules
from flake8_async_sqla.runner import Result, RunOutcome, read_source


def render(outcome: RunOutcome, show_source: bool) -> str:
    lines = []
    sources: dict[str, list[str]] = {}
    for result in outcome.results:
        finding = result.finding
        label = "" if result.fails else " [warning]"
        lines.append(f"{result.path}:{finding.line}:{finding.col + 1}: {finding.message}{label}")
        if show_source:
            if result.path not in sources:
                sources[result.path] = _source_lines(result.path)
            lines.extend(code_frame(sources[result.path], result))
    return "".join(line + "\n" for line in lines)


def _source_lines(path: str) -> list[str]:
    try:
        return read_source(Path(path))[1].splitlines()
    except OSError:
        return []


def code_frame(source: list[str], result: Result, context: int = 1) -> list[str]:
    """The reported line with one line around it and a caret under the column."""
    finding = result.finding
    first = max(1, finding.line - context)
    last = min(len(source), finding.line + context)
    width = len(str(last))
    frame = []
    for number in range(first, last + 1):
        frame.append(f"  {number:>{width}} | {source[number - 1]}")
        if number == finding.line:
            span = max(1, (finding.end_col - finding.col) if finding.end_line == finding.line else 1)
            frame.append(f"  {'':>{width}} | {' ' * finding.col}{'^' * span}")
    return frame + [""]


def statistics(outcome: RunOutcome) -> str:
    counts = Counter(result.finding.code for result in outcome.results)
    rules = all_rules()
    rows = []
    for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        name = rules[code].name if code in rules else "internal-error"
        rows.append(f"{count:>6}  {code}  {name}")
    return "".join(row + "\n" for row in rows)
