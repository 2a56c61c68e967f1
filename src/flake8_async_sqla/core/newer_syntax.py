"""Newer Python syntax rewritten to what the running interpreter parses, keeping every position that matters.

A project written for Python 3.12+ must not drop out of the analysis because the tool runs on 3.11. Its
tokens still tokenize; only the grammar is newer. Each construct is rewritten in place, with the same line
breaks, and mostly at the same length, so findings keep their lines and columns:

- PEP 695 type parameters, `def f[T](...)` and `class C[T: Base](...)`: the brackets become spaces.
- PEP 695 `type X[T] = ...` statements: `X       = ...` (the name moves to where `type` stood).
- PEP 758 `except A, B:` without parentheses: `except(A, B):` (the line grows by one character after the
  colon, where only a comment can be).
- PEP 750 template strings, `t"..."`: f-strings of the same length.

PEP 701 f-strings (quotes reused inside the braces) do not tokenize before 3.12: those files stay unread,
and the tool says so.
"""

from __future__ import annotations

import io
import keyword
import tokenize

TEMPLATE_PREFIXES = {"t": "f", "tr": "fr", "rt": "rf"}
STATEMENT_STARTS = (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.NL)


def downgrade(source: str) -> str | None:
    """`source` with the newer constructs rewritten, or None when there are none or it does not tokenize."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None
    lines = source.splitlines(keepends=True)
    edits: list[tuple[tuple[int, int], tuple[int, int], str]] = []  # (start, end, replacement), one line each
    for index, token in enumerate(tokens):
        if token.type == tokenize.NAME and token.string in ("def", "class"):
            edits += _blank_type_parameters(tokens, index + 2, lines)
        elif token.type == tokenize.NAME and token.string == "type" and _starts_statement(tokens, index):
            edits += _type_statement(tokens, index, lines)
        elif token.type == tokenize.NAME and token.string == "except":
            edits += _bare_exception_tuple(tokens, index)
        elif token.type == tokenize.NAME and token.string.lower() in TEMPLATE_PREFIXES and _prefixes_string(tokens, index):
            replacement = TEMPLATE_PREFIXES[token.string.lower()]
            edits.append((token.start, token.end, replacement.upper() if token.string.isupper() else replacement))
    if not edits:
        return None
    return _apply(lines, edits)


def _blank_type_parameters(tokens: list[tokenize.TokenInfo], index: int, lines: list[str]) -> list:
    """`[...]` right after a `def`/`class` name: spaces."""
    if index >= len(tokens) or tokens[index].string != "[" or tokens[index - 1].type != tokenize.NAME:
        return []
    closing = _matching(tokens, index)
    return _blank(tokens[index].start, tokens[closing].end, lines) if closing is not None else []


def _type_statement(tokens: list[tokenize.TokenInfo], index: int, lines: list[str]) -> list:
    """`type X[T] = value` -> `X         = value`: an assignment the running Python parses."""
    name = tokens[index + 1] if index + 1 < len(tokens) else None
    if name is None or name.type != tokenize.NAME or keyword.iskeyword(name.string) or name.start[0] != tokens[index].start[0]:
        return []
    after = index + 2
    edits = []
    if after < len(tokens) and tokens[after].string == "[":
        closing = _matching(tokens, after)
        if closing is None:
            return []
        edits = _blank(tokens[after].start, tokens[closing].end, lines)
        after = closing + 1
    if after >= len(tokens) or tokens[after].string != "=":
        return []
    start, end = tokens[index].start, name.end
    width = end[1] - start[1]
    return [(start, end, name.string.ljust(width)), *edits]


def _bare_exception_tuple(tokens: list[tokenize.TokenInfo], index: int) -> list:
    """`except A, B:` -> `except(A, B):`; `except (A, B):` and `except A as e:` are left alone."""
    first = index + 1
    if first >= len(tokens) or tokens[first].string in ("(", ":", "*"):
        return []
    depth, comma, position = 0, False, first
    while position < len(tokens):
        token = tokens[position]
        if token.string in ("(", "[", "{"):
            depth += 1
        elif token.string in (")", "]", "}"):
            depth -= 1
        elif depth == 0 and token.string == ",":
            comma = True
        elif depth == 0 and token.string in (":", "as") or token.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            break
        position += 1
    if not comma or position >= len(tokens) or tokens[position].string != ":":
        return []
    keyword_end = tokens[index].end
    opening = (keyword_end, tokens[first].start, "(") if keyword_end != tokens[first].start else (keyword_end, keyword_end, "(")
    colon = tokens[position]
    return [opening, (colon.start, colon.start, ")")]


def _starts_statement(tokens: list[tokenize.TokenInfo], index: int) -> bool:
    return index == 0 or tokens[index - 1].type in STATEMENT_STARTS or tokens[index - 1].string == ";"


def _prefixes_string(tokens: list[tokenize.TokenInfo], index: int) -> bool:
    following = tokens[index + 1] if index + 1 < len(tokens) else None
    return following is not None and following.type == tokenize.STRING and following.start == tokens[index].end


def _matching(tokens: list[tokenize.TokenInfo], index: int) -> int | None:
    depth = 0
    for position in range(index, len(tokens)):
        if tokens[position].string in ("(", "[", "{"):
            depth += 1
        elif tokens[position].string in (")", "]", "}"):
            depth -= 1
            if depth == 0:
                return position
    return None


def _blank(start: tuple[int, int], end: tuple[int, int], lines: list[str]) -> list:
    """Edits that turn the text from `start` to `end` into spaces, keeping its line breaks."""
    edits = []
    for row in range(start[0], end[0] + 1):
        line = lines[row - 1]
        first = start[1] if row == start[0] else 0
        last = end[1] if row == end[0] else len(line.rstrip("\r\n"))
        edits.append(((row, first), (row, last), " " * (last - first)))
    return edits


def _apply(lines: list[str], edits: list) -> str:
    """Apply one-line edits, right to left within each line so earlier columns stay valid."""
    result = list(lines)
    for (row, first), (_, last), replacement in sorted(edits, key=lambda edit: edit[0], reverse=True):
        line = result[row - 1]
        result[row - 1] = line[:first] + replacement + line[last:]
    return "".join(result)
