"""Newer Python syntax read on the running interpreter, keeping every position that matters.

A project written for Python 3.12+ must not drop out of the analysis because the tool runs on 3.11.

- PEP 695 type parameters, `def f[T](...)` and `class C[T: Base](...)`: the brackets become spaces.
- PEP 695 `type X[T] = ...` statements: `X       = ...` (the name moves to where `type` stood).
- PEP 758 `except A, B:` without parentheses: `except(A, B):`; the one character this adds is taken off the
  columns of whatever follows the colon on that line once parsed.

These are rewritten in place on the tokens, with the same line breaks and at the same length elsewhere,
so every position stays exact.

- PEP 701 f-strings (quotes reused inside the braces, backslashes and comments in a replacement field,
  nested f-strings, a single-quoted f-string whose expressions span lines) do not even tokenize before
  3.12, and PEP 750 template strings, `t"..."`, do not parse. A small scanner reads the strings as 3.12
  does; each group of concatenated strings the running Python cannot read becomes a blank placeholder
  `(   )` of the same extent, and once the file is parsed the placeholder is replaced by the `JoinedStr`
  3.12 builds (a template string too: the rules read it as an f-string). Each expression of a replacement
  field is parsed on its own at its own line and column; only literal parts (and, in a nested f-string the
  running Python reads itself, its fields) take the position of their whole string, as 3.11 gives them.

Strings the running Python reads are left as it reads them. Each construct is read only for a target
Python that has it (`target`, None: any), so a file is not accepted for Python 3.12 when it needs 3.14.
"""

from __future__ import annotations

import ast
import io
import keyword
import re
import tokenize
import warnings
from bisect import bisect_right
from dataclasses import dataclass, field

STATEMENT_STARTS = (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.NL)
# The Python that first has each construct.
TYPE_PARAMETERS = FSTRING_GRAMMAR = (3, 12)  # PEP 695, PEP 701
EXCEPT_WITHOUT_PARENTHESES = TEMPLATE_STRINGS = (3, 14)  # PEP 758, PEP 750

STRING_PREFIXES = frozenset({"", "r", "u", "b", "br", "rb", "f", "fr", "rf"})
TEMPLATE_PREFIXES = frozenset({"t", "tr", "rt"})
# Where a string may start, a bracket changes the depth, or a comment runs to the end of its line.
LEXICAL_MARK = re.compile(r"""#|(?<!\w)[rRbBuUfFtT]{1,2}['"]|['"]|[()\[\]{}]""")
STRING_PREFIX = re.compile(r"""([rRbBuUfFtT]{0,2})['"]""")


def _string_body(quote: str) -> re.Pattern[str]:
    """The rest of a plain string after its opening `quote`: escapes skipped, up to the closing quote."""
    line_break = "" if len(quote) == 3 else r"\n"
    return re.compile(rf"(?:[^\\{quote[0]}{line_break}]|\\.|{quote[0]}(?!{quote[1:]}))*{quote}", re.DOTALL)


STRING_BODY = {quote: _string_body(quote) for quote in ("'", '"', "'''", '"""')}
FSTRING_LITERAL = re.compile(r"""[^{}\\'"\n]+""")
WORD = re.compile(r"\w+")
BLANKS = re.compile(r"[ \t\f\n]*")
NOT_A_LINE_BREAK = re.compile(r"[^\n]")
TO_LINE_END = re.compile(r"#[^\n]*")
UNUSUAL_IN_FIELD = re.compile(r"""['"\\#\n]""")
UNESCAPED_QUOTE = re.compile(r'(\\.)|"', re.DOTALL)
CONVERSIONS = {"r": ord("r"), "s": ord("s"), "a": ord("a")}


class Unreadable(Exception):
    """Source the scanner cannot follow (an unterminated string, a stray brace): left to the parser to refuse."""


def parse_newer(
    source: str, filename: str = "<unknown>", target: tuple[int, int] | None = None, mode: str = "exec"
) -> ast.AST | None:
    """The tree of `source` with the constructs newer than the running Python (those `target` has) read
    as that Python would; None when there are none, or the source still does not parse."""
    source = source.replace("\r\n", "\n").replace("\r", "\n")
    strings: list[StringGroup] = []
    if _has(target, FSTRING_GRAMMAR):
        try:
            groups = string_groups(source, _has(target, TEMPLATE_STRINGS))
            strings = [group for group in groups if not group.parses_here()]
        except Unreadable:
            strings = []
    text = _with_placeholders(source, strings)
    rewritten = downgrade(text, target)
    if rewritten is None and not strings:
        return None
    try:
        tree = ast.parse(rewritten.text if rewritten else text, filename=filename, mode=mode)
        if rewritten:
            rewritten.restore_columns(tree)
        if strings:
            _splice(tree, [group.tree(filename, target) for group in strings])
    except (SyntaxError, ValueError, RecursionError, MemoryError, Unreadable):
        return None
    return tree


def _has(target: tuple[int, int] | None, version: tuple[int, int]) -> bool:
    """Whether Python `target` (None: any) has the syntax Python `version` introduced."""
    return target is None or target >= version


# ------------------------------------------------------------ token rewrites (PEP 695, PEP 758)
@dataclass
class Rewritten:
    text: str
    # (line, byte column in `text`, characters added just before it): columns to take back from that point.
    growth: list[tuple[int, int, int]] = field(default_factory=list)

    def restore_columns(self, tree: ast.AST) -> None:
        """Columns after a place where the rewrite added characters, as they are in the original text."""
        if not self.growth:
            return
        for node in ast.walk(tree):
            if hasattr(node, "lineno"):
                node.col_offset -= self._added(node.lineno, node.col_offset)
                node.end_col_offset -= self._added(node.end_lineno, node.end_col_offset)

    def _added(self, line: int, column: int) -> int:
        return sum(added for where, after, added in self.growth if where == line and column >= after)


def downgrade(source: str, target: tuple[int, int] | None = None) -> Rewritten | None:
    """`source` with the PEP 695 and PEP 758 constructs (those `target` has) rewritten, or None when there
    are none or it does not tokenize."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None
    lines = source.splitlines(keepends=True)
    edits: list[tuple[tuple[int, int], tuple[int, int], str]] = []  # (start, end, replacement), one line each
    type_parameters, bare_exceptions = _has(target, TYPE_PARAMETERS), _has(target, EXCEPT_WITHOUT_PARENTHESES)
    for index, token in enumerate(tokens):
        if token.type != tokenize.NAME:
            continue
        if type_parameters and token.string in ("def", "class"):
            edits += _blank_type_parameters(tokens, index + 2, lines)
        elif type_parameters and token.string == "type" and _starts_statement(tokens, index):
            edits += _type_statement(tokens, index, lines)
        elif bare_exceptions and token.string == "except":
            edits += _bare_exception_tuple(tokens, index)
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


def _apply(lines: list[str], edits: list) -> Rewritten:
    """Apply one-line edits, right to left within each line so earlier columns stay valid; where an edit
    adds characters, the columns that follow are taken back once parsed."""
    result = list(lines)
    growth: list[list[int]] = []  # [line, character column in the final line, characters added]
    for (row, first), (_, last), replacement in sorted(edits, key=lambda edit: edit[0], reverse=True):
        line = result[row - 1]
        result[row - 1] = line[:first] + replacement + line[last:]
        added = len(replacement) - (last - first)
        if added:
            for later in growth:
                later[1] += added if later[0] == row else 0
            growth.append([row, first + len(replacement), added])
    in_bytes = [(row, len(result[row - 1][:column].encode()), added) for row, column, added in growth]
    return Rewritten("".join(result), in_bytes)


# ------------------------------------------------------------ PEP 701 f-strings (and PEP 750 t-strings)
@dataclass
class Field:
    """A replacement field `{expression=!conversion:spec}`, by offsets in the source."""

    opening: int  # the `{`
    expression_end: int
    debug_text: str | None  # `expression=` and the blanks after it, shown before the value
    conversion: int
    spec: list | None  # the format spec's parts (as `FString.parts`), None without a `:`
    spec_span: tuple[int, int]  # from the `:` to the `}`
    closing: int  # just after the `}`
    unusual: bool  # a quote, backslash, comment or line break in its expression (or its spec's): maybe PEP 701


@dataclass
class FString:
    parts: list  # literal text (its escapes read) and `Field`s
    unusual: bool  # a template string, or one with an unusual field: the running Python may not read it


@dataclass
class StringGroup:
    """Strings Python concatenates, at least one of them an f-string: each as the text of its literal, or an
    `FString`."""

    start: int
    end: int
    strings: list[str | FString]
    lines: LineIndex

    def parses_here(self) -> bool:
        """Whether the running Python reads these strings itself (then they are left as they are)."""
        if not any(isinstance(string, FString) and string.unusual for string in self.strings):
            return True  # f-strings every Python reads: the parser need not be asked
        try:
            ast.parse(f"({self.lines.source[self.start:self.end]})", mode="eval")
        except SyntaxError:
            return False
        return True

    def tree(self, filename: str, target: tuple[int, int] | None) -> ast.JoinedStr:
        """The `JoinedStr` Python 3.12 builds for these strings, each expression at its place in the source."""
        builder = _TreeBuilder(filename, target, self.lines)
        parts: list = []
        for string in self.strings:
            if isinstance(string, FString):
                parts += string.parts
            elif isinstance(value := _literal(string), str):
                parts.append(value)
            else:
                raise Unreadable("bytes concatenated with an f-string")
        values = builder.joined(parts)
        if values and isinstance(values[0], ast.Constant) and not isinstance(self.strings[0], FString):
            values[0].kind = ast.parse(self.strings[0], mode="eval").body.kind  # a `u` prefix shows
        return builder.located(ast.JoinedStr(values=values), self.start, self.end)


@dataclass
class LineIndex:
    """Offsets in `source` as the parser counts positions: line, and column in UTF-8 bytes."""

    source: str
    starts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.starts = [0] + [match.end() for match in re.finditer("\n", self.source)]

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect_right(self.starts, offset)
        return line, len(self.source[self.starts[line - 1]:offset].encode())


def string_groups(source: str, templates: bool = False) -> list[StringGroup]:
    """The groups of concatenated strings of `source` that hold an f-string (or, when `templates`, a t-string),
    outermost only, read by the rules of Python 3.12; `Unreadable` when the scanner cannot follow them."""
    lines = LineIndex(source)
    scanner = _Scanner(source, templates)
    groups: list[StringGroup] = []
    strings: list[str | FString] = []
    start = end = depth = position = 0
    while (mark := LEXICAL_MARK.search(source, position)) is not None:
        token = mark.group()
        if token == "#":
            newline = source.find("\n", mark.start())
            position = len(source) if newline < 0 else newline
            continue
        if token in "([{" or token in ")]}":
            depth = depth + 1 if token in "([{" else max(0, depth - 1)
            _close(groups, strings, start, end, lines)
            strings, position = [], mark.end()
            continue
        prefix = token[:-1]
        if prefix.lower() not in STRING_PREFIXES and not (templates and prefix.lower() in TEMPLATE_PREFIXES):
            position = mark.end()
            continue
        if not strings or not _concatenated(source[end:mark.start()], depth > 0):
            _close(groups, strings, start, end, lines)
            strings, start = [], mark.start()
        string, end = scanner.string(mark.start(), len(prefix))
        strings.append(string)
        position = end
    _close(groups, strings, start, end, lines)
    return groups


def _concatenated(gap: str, in_brackets: bool) -> bool:
    """Whether two strings with `gap` between them are one: only blanks, comments and line continuations (and
    line breaks, inside brackets) stand between them."""
    blank = TO_LINE_END.sub("", gap).replace("\\\n", "")
    return not blank.strip(" \t\f\n" if in_brackets else " \t\f")


def _close(groups: list[StringGroup], strings: list[str | FString], start: int, end: int, lines: LineIndex) -> None:
    if any(isinstance(string, FString) for string in strings):
        groups.append(StringGroup(start, end, strings, lines))


class _Scanner:
    """Strings read the way Python 3.12 reads them: an f-string's replacement fields hold any expression,
    strings with any quotes, comments and line breaks."""

    def __init__(self, source: str, templates: bool) -> None:
        self.source = source
        self.templates = templates

    def string(self, start: int, prefix_length: int) -> tuple[str | FString, int]:
        """The string at `start` (its prefix `prefix_length` long), as its source text or an `FString`, and its end."""
        source = self.source
        prefix = source[start:start + prefix_length].lower()
        opening = start + prefix_length
        quote = source[opening] * 3 if source.startswith(source[opening] * 3, opening) else source[opening]
        if "f" in prefix or self.templates and "t" in prefix:
            parts, end = self.parts(opening + len(quote), quote, "r" in prefix, in_spec=False)
            return FString(parts, "t" in prefix or any(isinstance(part, Field) and part.unusual for part in parts)), end
        body = STRING_BODY[quote].match(source, opening + len(quote))
        if body is None:
            raise Unreadable("unterminated string")
        return source[start:body.end()], body.end()

    def parts(self, position: int, quote: str, raw: bool, in_spec: bool) -> tuple[list, int]:
        """The literal text and fields from `position` to the closing quote (in a format spec: to its `}`,
        left for the field), and the offset after them."""
        source = self.source
        parts: list = []
        text: list[str] = []
        while True:
            if position >= len(source) or in_spec and source.startswith(quote, position):
                raise Unreadable("unterminated f-string")
            char = source[position]
            if (char == "}" if in_spec else source.startswith(quote, position)):
                parts += [_decoded("".join(text), raw)] if text else []
                return parts, position + (0 if in_spec else len(quote))
            if source.startswith("{{", position) and not in_spec or source.startswith("}}", position):
                text.append(char)
                position += 2
            elif char == "{":
                parts += [_decoded("".join(text), raw)] if text else []
                text = []
                replacement, position = self.field(position, quote, raw)
                parts.append(replacement)
            elif char == "}" or char == "\n" and len(quote) == 1:
                raise Unreadable("a single '}' or a line break in an f-string")
            elif char == "\\" and not raw and source.startswith("N{", position + 1):
                closing = source.find("}", position)
                if closing < 0:
                    raise Unreadable("unterminated \\N escape")
                text.append(source[position:closing + 1])
                position = closing + 1
            elif char == "\\":  # an escaped character; a backslash before a brace stands alone (the brace is read)
                width = 1 if source[position + 1:position + 2] in ("{", "}") else 2
                text.append(source[position:position + width])
                position += width
            else:
                literal = FSTRING_LITERAL.match(source, position)
                text.append(literal.group() if literal else char)
                position = literal.end() if literal else position + 1

    def field(self, opening: int, quote: str, raw: bool) -> tuple[Field, int]:
        """The replacement field whose `{` is at `opening`, and the offset after its `}`."""
        source = self.source
        position = self._expression_end(opening + 1)
        expression_end = position
        debug_text = None
        if source[position] == "=":
            position = BLANKS.match(source, position + 1).end()
            # As Python 3.12 shows it: escapes read, from any `#` to the end of its line left out (even in a string).
            debug_text = _decoded(TO_LINE_END.sub("", source[opening + 1:position]), raw)
        conversion = -1
        if source[position] == "!":
            name = WORD.match(source, position + 1)
            if name is None or name.group() not in CONVERSIONS:
                raise Unreadable("an f-string conversion must be !r, !s or !a")
            conversion = CONVERSIONS[name.group()]
            position = BLANKS.match(source, name.end()).end()
        spec = None
        spec_start = position
        if source[position] == ":":
            spec, position = self.parts(position + 1, quote, raw, in_spec=True)
        if not source.startswith("}", position):
            raise Unreadable("replacement field not closed")
        if debug_text is not None and conversion == -1 and spec is None:
            conversion = CONVERSIONS["r"]  # `{x=}` shows the repr
        unusual = UNUSUAL_IN_FIELD.search(source, opening + 1, expression_end) is not None or any(
            isinstance(part, Field) and part.unusual for part in spec or ()
        )
        replacement = Field(opening, expression_end, debug_text, conversion, spec, (spec_start, position), position + 1, unusual)
        return replacement, replacement.closing

    def _expression_end(self, position: int) -> int:
        """Where the expression of a replacement field starting at `position` ends: at a `=`, `!`, `:` or
        `}` outside brackets that is not part of an operator."""
        source = self.source
        depth = 0
        while position < len(source):
            char = source[position]
            prefix = STRING_PREFIX.match(source, position)
            if prefix is not None:
                _, position = self.string(position, len(prefix.group(1)))
            elif char == "#":
                position = TO_LINE_END.match(source, position).end()
            elif char == "\\" or source.startswith(("!=", "==", "<=", ">="), position):
                position += 2
            elif depth == 0 and char in "=!:}":
                return position
            elif char in "([{" or char in ")]}":
                depth = depth + 1 if char in "([{" else depth - 1
                position += 1
            else:
                word = WORD.match(source, position)
                position = word.end() if word else position + 1
        raise Unreadable("unterminated replacement field")


def _literal(text: str) -> str | bytes:
    """The value of a string literal's source text."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an invalid escape: the value Python gives it, without its warning
        try:
            return ast.literal_eval(text)
        except (SyntaxError, ValueError) as error:
            raise Unreadable(str(error)) from error


def _decoded(text: str, raw: bool) -> str:
    """A literal part of an f-string, its escapes read (in a raw one there are none); a letter after it keeps
    a closing backslash from escaping the quotes around it."""
    if raw:
        return text
    quoted = UNESCAPED_QUOTE.sub(lambda match: match.group(1) or '\\"', text)
    return _literal(f'"""{quoted}_"""')[:-1]


class _TreeBuilder:
    def __init__(self, filename: str, target: tuple[int, int] | None, lines: LineIndex) -> None:
        self.filename = filename
        self.target = target
        self.lines = lines

    def joined(self, parts: list) -> list[ast.expr]:
        """The values of a `JoinedStr`: adjacent literal parts joined, empty ones left out."""
        values: list[ast.expr] = []
        for part in parts:
            texts = [part] if isinstance(part, str) else [part.debug_text] if part.debug_text is not None else []
            for text in texts:
                if values and isinstance(values[-1], ast.Constant):
                    values[-1].value += text
                else:
                    values.append(ast.Constant(value=text))
            if isinstance(part, Field):
                values.append(self.formatted(part))
        return [value for value in values if not (isinstance(value, ast.Constant) and value.value == "")]

    def formatted(self, part: Field) -> ast.FormattedValue:
        spec = None
        if part.spec is not None:
            spec = self.located(ast.JoinedStr(values=self.joined(part.spec)), *part.spec_span)
        value = ast.FormattedValue(value=self.expression(part), conversion=part.conversion, format_spec=spec)
        return self.located(value, part.opening, part.closing)

    def expression(self, part: Field) -> ast.expr:
        """The field's expression, parsed in parentheses standing where its braces are, then moved to its place."""
        code = self.lines.source[part.opening + 1:part.expression_end]
        try:
            tree = ast.parse(f"({code})", filename=self.filename, mode="eval")
        except SyntaxError:
            tree = parse_newer(f"({code})", self.filename, self.target, mode="eval")
            if tree is None:
                raise
        line, column = self.lines.position(part.opening)
        for node in ast.walk(tree):
            if hasattr(node, "lineno"):
                node.col_offset += column if node.lineno == 1 else 0
                node.end_col_offset += column if node.end_lineno == 1 else 0
                node.lineno += line - 1
                node.end_lineno += line - 1
        body = tree.body
        if isinstance(body, ast.Tuple) and (body.lineno, body.col_offset) == (line, column):
            if not body.elts:
                raise Unreadable("an empty replacement field")  # `()` is only the parentheses added here
            # A tuple without parentheses spans its items (and a trailing comma), not the braces.
            body.lineno, body.col_offset = body.elts[0].lineno, body.elts[0].col_offset
            body.end_lineno, body.end_col_offset = self.lines.position(part.opening + 1 + len(code.rstrip()))
        return body

    def located(self, node: ast.expr, start: int, end: int) -> ast.expr:
        """`node` spanning `start` to `end`, and its literal parts with it."""
        node.lineno, node.col_offset = self.lines.position(start)
        node.end_lineno, node.end_col_offset = self.lines.position(end)
        for value in getattr(node, "values", ()):
            if isinstance(value, ast.Constant):
                ast.copy_location(value, node)
        return node


def _with_placeholders(source: str, groups: list[StringGroup]) -> str:
    """`source` with each group's text turned into `(   )`: an empty tuple of the same lines and byte widths."""
    pieces, position = [], 0
    for group in groups:
        text = source[group.start + 1 : group.end - 1]
        inside = NOT_A_LINE_BREAK.sub(lambda char: " " * len(char.group().encode()), text)
        pieces += [source[position:group.start], "(", inside, ")"]
        position = group.end
    return "".join(pieces + [source[position:]])


def _splice(tree: ast.AST, strings: list[ast.JoinedStr]) -> None:
    """Each placeholder of `tree` replaced by the tree of its strings, found by its position."""
    by_position = {(node.lineno, node.col_offset): node for node in strings}
    placed = 0

    def replacement(value: object) -> object:
        nonlocal placed
        if not (isinstance(value, ast.Tuple) and not value.elts and (value.lineno, value.col_offset) in by_position):
            return value
        if not isinstance(value.ctx, ast.Load):
            raise Unreadable("an f-string assigned to")
        placed += 1
        return by_position[value.lineno, value.col_offset]

    for node in ast.walk(tree):
        for name, value in ast.iter_fields(node):
            if isinstance(value, list):
                value[:] = [replacement(item) for item in value]
            elif isinstance(value, ast.AST):
                setattr(node, name, replacement(value))
    if placed != len(by_position):
        raise Unreadable("a placeholder is not where its strings were")
