"""ruff-like text: `path:line:col: CODE message`, optionally with a code frame, in colour on a terminal."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from flake8_async_sqla.core.rule import all_rules
from flake8_async_sqla.runner import Result, RunOutcome, read_source

if TYPE_CHECKING:
    from flake8_async_sqla.fix.passes import FileFix


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
        fixable = " [*]" if outcome.fixable is not None and outcome.fixable(finding) else ""
        code = paint(code, f"{BOLD};{RED if result.fails else YELLOW}", color)
        lines.append(f"{paint(result.path, BOLD, color)}:{finding.line}:{finding.col + 1}: {code} {message}{label}{fixable}")
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
    # Fixable ones are counted when the run built the fixes (`--fix`, `--show-fixes`, JSON, SARIF).
    fixable = sum(outcome.fixable(result.finding) for result in outcome.results) if outcome.fixable else 0
    notes = [_counted(warnings, "warning")] * bool(warnings) + [f"{fixable} fixable"] * bool(fixable)
    line = f"Found {found}" + (f" ({', '.join(notes)})" if notes else "") + "."
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


def fixes_summary(outcome: RunOutcome, fixed: list[FileFix], applied: bool, unsafe: bool) -> str:
    """`--show-fixes`: after `--fix`, the fixes applied per file and code; else how many findings are fixable."""
    rules = all_rules()
    if applied:
        count = sum(sum(file_fix.applied.values()) for file_fix in fixed)
        rows = [f"fixed {count} finding{'' if count == 1 else 's'}:"] if count else []
        for file_fix in fixed:
            if file_fix.applied:
                rows.append(f"- {file_fix.path}:")
                rows += [f"    {n} x {code} ({rules[code].name})" for code, n in sorted(file_fix.applied.items())]
        return "".join(row + "\n" for row in rows)
    fixable = outcome.fixable or (lambda finding: False)
    count = sum(1 for result in outcome.results if fixable(result.finding))
    hidden = 0 if unsafe else sum(
        1 for result in outcome.results
        if result.finding.edits and not fixable(result.finding) and result.finding.code in rules
    )
    summary = f"[*] {count} fixable with --fix" if count else "no finding is fixable with --fix"
    if hidden:
        summary += f" ({hidden} more with --unsafe-fixes)"
    return summary + "\n"
