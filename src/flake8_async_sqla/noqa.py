"""`# noqa` exactly as flake8 reads it: per physical line, a multi-line string counting as one line."""

from __future__ import annotations

import io
import re
import tokenize

NOQA_INLINE = re.compile(r"# noqa(?::[\s]?(?P<codes>([A-Z]+[0-9]+(?:[,\s]+)?)+))?", re.IGNORECASE)
NOQA_FILE = re.compile(r"\s*# flake8[:=]\s*noqa", re.IGNORECASE)


class NoqaMap:
    def __init__(self, source: str) -> None:
        self.lines = source.splitlines(keepends=True)
        self.file_ignored = any(NOQA_FILE.match(line) for line in self.lines)
        self._ranges = _line_ranges(source, self.lines)

    def suppresses(self, line: int, code: str) -> bool:
        if self.file_ignored:
            return True
        text = self._ranges.get(line)
        if text is None:
            text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        match = NOQA_INLINE.search(text)
        if match is None:
            return False
        codes = match.group("codes")
        if codes is None:
            return True
        listed = tuple(c for c in re.split(r"[,\s]+", codes) if c)
        return code.startswith(listed)


def _line_ranges(source: str, lines: list[str]) -> dict[int, str]:
    """Each line of a token run that spans lines (a multi-line string) maps to the joined run."""
    ranges: dict[int, str] = {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return ranges
    first, last = len(lines) + 2, -1
    for token in tokens:
        if token.type in (tokenize.ENDMARKER, tokenize.DEDENT):
            continue
        first = min(first, token.start[0])
        last = max(last, token.end[0])
        if token.type in (tokenize.NL, tokenize.NEWLINE):
            if last > first:
                joined = "".join(lines[first - 1 : last])
                ranges.update(dict.fromkeys(range(first, last + 1), joined))
            first, last = len(lines) + 2, -1
    return ranges
