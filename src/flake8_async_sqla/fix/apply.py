"""Applying fixes to a text: in order of position, each whole or not at all, none over another."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flake8_async_sqla.core.edits import LINE_BREAK, Edit, SourceText

Span = tuple[int, int, str]  # (start offset, end offset, replacement)


@dataclass(frozen=True)
class PendingFix:
    """One finding's fix."""

    code: str
    line: int  # the finding's line, to name the fix
    edits: tuple[Edit, ...]


def apply_fixes(text: str, fixes: Sequence[PendingFix], newline: str = "\n") -> tuple[str, list[PendingFix], list[PendingFix]]:
    """`text` with the fixes applied that touch nothing an earlier one (by position) changed: the new text, the
    fixes applied and the fixes left for another pass. An edit two fixes share (the same import added for
    both) is made once. Inserted line breaks become `newline`."""
    source = SourceText(text)
    taken: list[Span] = []
    applied: list[PendingFix] = []
    deferred: list[PendingFix] = []
    for fix, spans in sorted(((fix, _spans(source, fix)) for fix in fixes), key=lambda item: _first(item[1])):
        if spans is None:
            continue  # positions outside the text, or edits that overlap each other: a broken fix, never applied
        if any(span not in taken and any(_clash(span, other) for other in taken) for span in spans):
            deferred.append(fix)
            continue
        taken.extend(span for span in spans if span not in taken)
        applied.append(fix)
    for start, end, replacement in sorted(taken, key=lambda span: (span[0], span[1]), reverse=True):
        text = text[:start] + LINE_BREAK.sub(newline, replacement) + text[end:]
    return text, applied, deferred


def _spans(source: SourceText, fix: PendingFix) -> list[Span] | None:
    spans = []
    for edit in fix.edits:
        if not (0 < edit.line <= len(source.line_starts) and 0 < edit.end_line <= len(source.line_starts)):
            return None
        start = source.line_starts[edit.line - 1] + edit.col
        end = source.line_starts[edit.end_line - 1] + edit.end_col
        if not 0 <= start <= end <= len(source.text):
            return None
        spans.append((start, end, edit.text))
    if any(_clash(a, b) for i, a in enumerate(spans) for b in spans[i + 1 :]):
        return None
    return spans


def _first(spans: list[Span] | None) -> tuple[int, int]:
    return min(((start, end) for start, end, _ in spans), default=(0, 0)) if spans else (0, 0)


def _clash(a: Span, b: Span) -> bool:
    """Whether two edits touch the same text, or the same place (where their order would be a guess)."""
    return a[0] == b[0] or (a[0] < b[1] and b[0] < a[1])
