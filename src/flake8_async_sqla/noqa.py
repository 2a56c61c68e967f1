"""`# noqa` exactly as flake8 reads it: per physical line, a multi-line string counting as one line; and
adding codes to it (`check --add-noqa`)."""

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
    for first, last in _multi_line_runs(source, len(lines)):
        joined = "".join(lines[first - 1 : last])
        ranges.update(dict.fromkeys(range(first, last + 1), joined))
    return ranges


def _multi_line_runs(source: str, line_count: int) -> list[tuple[int, int]]:
    """The (first, last) lines of each run of tokens between line ends that spans lines (a multi-line string)."""
    runs: list[tuple[int, int]] = []
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return runs
    first, last = line_count + 2, -1
    for token in tokens:
        if token.type in (tokenize.ENDMARKER, tokenize.DEDENT):
            continue
        first = min(first, token.start[0])
        last = max(last, token.end[0])
        if token.type in (tokenize.NL, tokenize.NEWLINE):
            if last > first:
                runs.append((first, last))
            first, last = line_count + 2, -1
    return runs


def with_codes(source: str, codes_by_line: dict[int, set[str]]) -> tuple[str, int, list[int]]:
    """`source` with `# noqa: CODE` for each line's codes, kept with the codes a noqa comment there already
    lists; for a line of a multi-line string, on the line the string ends on (where flake8 reads it). Returns
    the new text, how many lines got codes, and the lines that cannot take a comment (a backslash continuation)."""
    lines = source.splitlines(keepends=True)
    last_of_run = {line: last for first, last in _multi_line_runs(source, len(lines)) for line in range(first, last + 1)}
    wanted: dict[int, set[str]] = {}
    for line, codes in codes_by_line.items():
        wanted.setdefault(last_of_run.get(line, line), set()).update(codes)
    changed, refused = 0, []
    for number, codes in sorted(wanted.items()):
        if not 0 < number <= len(lines):
            continue
        text = lines[number - 1]
        body = text.rstrip("\r\n")
        ending = text[len(body) :]
        if body.rstrip().endswith("\\"):
            refused.append(number)
            continue
        existing = NOQA_INLINE.search(body)
        if existing is not None and existing.group("codes") is None:
            continue  # a bare `# noqa` already silences every code
        if existing is not None:
            listed = [c for c in re.split(r"[,\s]+", existing.group("codes")) if c]
            added = sorted(code for code in codes if not code.startswith(tuple(listed)))
            if not added:
                continue
            end = existing.start("codes") + len(existing.group("codes").rstrip(", \t"))
            body = body[:end] + ", " + ", ".join(added) + body[end:]
        else:
            body = body.rstrip() + "  # noqa: " + ", ".join(sorted(codes))
        lines[number - 1] = body + ending
        changed += 1
    return "".join(lines), changed, refused
