"""ruff-like text: `path:line:col: CODE message`, optionally with a code frame, in colour on a terminal."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from flake8_async_sqla.core.rule import all_rules
from flake8_async_sqla.runner import Result, RunOutcome, read_source


# ANSI styles (SGR codes).
BOLD, RED, YELLOW, GREEN = "1", "31", "33", "32"


def paint(text: str, style: str, color: bool) -> str:
    """`text` in `style` when `color`, else as it is."""
    return f"\x1b[{style}m{text}\x1b[0m" if color else text


def render(outcome: RunOutcome, show_source: bool, color: bool = False) -> str:
    lines = []
    sources: dict[str, list[str]] = {}
    for result in outcome.results:
        finding = result.finding
        code, _, message = finding.message.partition(" ")
        label = "" if result.fails else " " + paint("[warning]", YELLOW, color)
        code = paint(code, f"{BOLD};{RED if result.fails else YELLOW}", color)
        lines.append(f"{paint(result.path, BOLD, color)}:{finding.line}:{finding.col + 1}: {code} {message}{label}")
        if show_source:
            if result.path not in sources:
                sources[result.path] = _source_lines(result.path)
            lines.extend(code_frame(sources[result.path], result, color=color))
    return "".join(line + "\n" for line in lines)


def summary(outcome: RunOutcome, color: bool = False) -> str:
    """The line that ends a text run: "All checks passed!" or "Found N findings (W warnings)."."""
    if not outcome.results and not outcome.errors:
        return paint("All checks passed!", GREEN, color) + "\n"
    found = _counted(len(outcome.results), "finding")
    warnings = sum(not result.fails for result in outcome.results)
    line = f"Found {found}" + (f" ({_counted(warnings, 'warning')})" if warnings else "") + "."
    if outcome.errors:
        line += f" {_counted(len(outcome.errors), 'file')} could not be checked."
    return paint(line, BOLD, color) + "\n"


def _counted(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _source_lines(path: str) -> list[str]:
    try:
        return read_source(Path(path))[1].splitlines()
    except OSError:
        return []


def code_frame(source: list[str], result: Result, context: int = 1, color: bool = False) -> list[str]:
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
            frame.append(f"  {'':>{width}} | {' ' * finding.col}{paint('^' * span, RED, color)}")
    return frame + [""]


def statistics(outcome: RunOutcome) -> str:
    counts = Counter(result.finding.code for result in outcome.results)
    rules = all_rules()
    rows = []
    for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        name = rules[code].name if code in rules else "internal-error"
        rows.append(f"{count:>6}  {code}  {name}")
    return "".join(row + "\n" for row in rows)
