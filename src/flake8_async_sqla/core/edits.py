"""Fixes as text edits: positions in a file's text, and the rewrites several rules share.

A rule builds its fix from the positions the Python AST gives (lines, UTF-8 byte columns), and asks the
concrete syntax tree (ast-grep's tree-sitter parse, made only when a fix is asked for) for what the AST
leaves out: commas, parentheses, comments. Compiling stays the judge of whether a fixed file is Python.
"""

from __future__ import annotations

import ast
import bisect
import functools
import re
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ast_grep_py import SgNode

    from flake8_async_sqla.core.model import Scope, SemanticModel

# Where `await` cannot simply be added before an expression: it would be a syntax error (a lambda), or turn a
# generator expression or comprehension into an asynchronous one.
NO_AWAIT_BETWEEN = (ast.Lambda, ast.GeneratorExp, ast.ListComp, ast.SetComp, ast.DictComp)

# Python's line breaks (the tokenizer's, not str.splitlines', which also breaks at form feeds and others).
LINE_BREAK = re.compile(r"\r\n|\r|\n")


class Edit(NamedTuple):
    """Replace the text from (line, col) to (end_line, end_col) with `text`: lines 1-based, columns 0-based
    in characters; an insertion starts and ends at the same place. The line breaks in `text` become the
    file's own when the fix is applied."""

    line: int
    col: int
    end_line: int
    end_col: int
    text: str


class SourceText:
    """One file's text (as analysed: decoded, without a BOM), for building edits."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.line_starts = [0] + [match.end() for match in LINE_BREAK.finditer(text)]

    # Positions

    def offset(self, line: int, byte_col: int) -> int:
        """The character offset of an AST position (1-based line, UTF-8 byte column)."""
        start = self.line_starts[line - 1]
        text = self.line(line)
        if text.isascii():
            return start + byte_col
        return start + len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))

    def start(self, node: ast.AST) -> int:
        return self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]

    def end(self, node: ast.AST) -> int:
        return self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]

    def line(self, number: int) -> str:
        """Line `number` (1-based) without its line break."""
        start = self.line_starts[number - 1]
        stop = self.line_starts[number] if number < len(self.line_starts) else len(self.text)
        return self.text[start:stop].rstrip("\r\n")

    def line_end(self, offset: int) -> int:
        """The offset of the line break ending the line of `offset` (or of the end of the text)."""
        number = self.line_number(offset)
        return self.line_starts[number - 1] + len(self.line(number))

    def line_number(self, offset: int) -> int:
        return bisect.bisect_right(self.line_starts, offset)

    def indentation(self, offset: int) -> str:
        """The leading whitespace of the line of `offset`."""
        text = self.line(self.line_number(offset))
        return text[: len(text) - len(text.lstrip(" \t"))]

    def edit(self, start: int, end: int, text: str) -> Edit:
        line, end_line = self.line_number(start), self.line_number(end)
        return Edit(line, start - self.line_starts[line - 1], end_line, end - self.line_starts[end_line - 1], text)

    def insert(self, offset: int, text: str) -> Edit:
        return self.edit(offset, offset, text)

    def replace(self, node: ast.AST, text: str) -> Edit:
        return self.edit(self.start(node), self.end(node), text)

    def segment(self, node: ast.AST) -> str:
        return self.text[self.start(node) : self.end(node)]

    # The concrete syntax tree

    @functools.cached_property
    def syntax(self) -> SgNode:
        """The tree-sitter tree of the text (ast-grep), parsed when a fix first needs it."""
        from ast_grep_py import SgRoot

        return SgRoot(self.text, "python").root()

    def syntax_node(self, node: ast.AST, kind: str) -> SgNode | None:
        """The concrete-syntax node of `kind` spanning exactly what the AST node spans."""
        start, end = self.start(node), self.end(node)
        return self.syntax.find(kind=kind, range={"start": self._point(start), "end": self._point(end)})

    def _point(self, offset: int) -> dict[str, int]:
        """tree-sitter's position of an offset: it breaks lines at "\\n" only, and counts columns in characters."""
        line_start = self.text.rfind("\n", 0, offset) + 1
        return {"line": self.text.count("\n", 0, offset), "column": offset - line_start}


# Shared rewrites


def add_keyword(source: SourceText, call: ast.Call, keyword: str) -> list[Edit] | None:
    """Edits that pass `keyword` (`name=value`) to `call` as its last argument (see `append_item`); None for a
    call that takes none (`f(x for x in y)`)."""
    syntax = source.syntax_node(call, "call")
    arguments = syntax.field("arguments") if syntax is not None else None
    if arguments is None or arguments.kind() != "argument_list":
        return None
    return append_item(source, arguments, keyword)


def add_entry(source: SourceText, mapping: ast.Dict, entry: str) -> list[Edit] | None:
    """Edits that add `entry` (`"key": value`) to a dict display (see `append_item`)."""
    syntax = source.syntax_node(mapping, "dictionary")
    return append_item(source, syntax, entry) if syntax is not None else None


def append_item(source: SourceText, brackets: SgNode, item: str) -> list[Edit]:
    """Edits that add `item` after the last item between `brackets` (an argument list, a dict display), in
    their own layout: on the same line when the closing bracket is on the last item's line, else on a line of
    its own under the last item (with a trailing comma when the items have one)."""
    children = brackets.children()
    closing = children[-1]
    items = [child for child in children[1:-1] if child.is_named() and child.kind() != "comment"]
    if not items:
        return [source.insert(closing.range().start.index, item)]
    last = items[-1]
    after_last = children[children.index(last) + 1 : -1]
    comma = next((child for child in after_last if child.kind() == ","), None)
    last_end = (comma or last).range().end.index
    if source.line_number(closing.range().start.index) == source.line_number(last_end):
        if comma is not None:
            return [source.insert(last_end, f" {item}")]
        return [source.insert(last_end, f", {item}")]
    # One item a line: a new line under the last item, after any comment ending its line.
    indent = source.indentation(last.range().start.index)
    new_line = source.insert(source.line_end(last_end), f"\n{indent}{item}{',' if comma else ''}")
    return [new_line] if comma is not None else [source.insert(last_end, ","), new_line]


def statement_lines(source: SourceText, statement: ast.stmt) -> tuple[int, int] | None:
    """The offsets from the start of the statement's first line to past the line break of its last line, when
    the statement has those lines to itself (a comment after it on its last line goes with it); else None."""
    start, end = source.start(statement), source.end(statement)
    line_start = source.line_starts[source.line_number(start) - 1]
    if source.text[line_start:start].strip():
        return None
    rest = source.text[end : source.line_end(end)].strip()
    if rest and not rest.startswith("#"):
        return None  # `a; b`
    last = source.line_number(end)
    return line_start, source.line_starts[last] if last < len(source.line_starts) else len(source.text)


def import_edit(source: SourceText, tree: ast.Module, module: str, name: str) -> Edit:
    """An edit importing `name` (one or more, comma-separated) from `module`: added to the module's first
    top-level `from module import ...`, or else on a line of its own, after the module's docstring and its
    `from __future__` imports, before the first other statement (or after the last of them)."""
    body = tree.body
    existing = next(
        (
            statement for statement in body
            if isinstance(statement, ast.ImportFrom) and statement.module == module and not statement.level
            and statement.names[-1].name != "*"
        ),
        None,
    )
    if existing is not None:
        return source.insert(source.end(existing.names[-1]), f", {name}")
    position = 1 if body and _is_docstring(body[0]) else 0
    while position < len(body) and isinstance(body[position], ast.ImportFrom) and body[position].module == "__future__":  # type: ignore[attr-defined]
        position += 1
    line = f"from {module} import {name}\n"
    if position < len(body):
        first = body[position]
        decorators = getattr(first, "decorator_list", None)
        anchor = source.start(decorators[0] if decorators else first)
        line_start = source.line_starts[source.line_number(anchor) - 1]
        if source.text[line_start:anchor].strip() in ("", "@"):
            return source.insert(line_start, line)
    if position == 0:
        return source.insert(0, line)
    kept = statement_lines(source, body[position - 1])
    offset = kept[1] if kept is not None else len(source.text)
    return source.insert(offset, line if offset == 0 or source.text[offset - 1] in "\r\n" else "\n" + line)


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str)


def await_allowed(model: SemanticModel, node: ast.AST, function: Scope | None) -> bool:
    """Whether `await` can be added before `node`: it is directly in the `async def` of `function`."""
    if function is None or not isinstance(function.node, ast.AsyncFunctionDef):
        return False
    for ancestor in model.ancestors(node):
        if ancestor is function.node:
            return True
        if isinstance(ancestor, NO_AWAIT_BETWEEN):
            return False
    return False


def await_around(model: SemanticModel, node: ast.AST) -> tuple[str, str]:
    """What goes before and after an expression replacing `node` to await it: `await `, or `(await ` and `)`
    where `node` is the receiver of an attribute, a subscript or a call (which would bind tighter)."""
    parent = model.parents.get(node)
    if isinstance(parent, (ast.Attribute, ast.Subscript)) and parent.value is node or isinstance(parent, ast.Call) and parent.func is node:
        return "(await ", ")"
    return "await ", ""


def bound_names(tree: ast.AST) -> set[str]:
    """Every name the module (or function) binds or reads anywhere (imports, assignments, definitions, parameters,
    reads): a name not among them can be imported without shadowing or being shadowed."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif isinstance(node, ast.arg):
            found.add(node.arg)
        elif isinstance(node, ast.alias):
            found.add((node.asname or node.name).partition(".")[0])
    return found


def indent_unit(source: SourceText, function: ast.AST) -> str:
    """One level of indentation as the function's body uses it (four spaces when that cannot be told)."""
    outer = source.indentation(source.start(function))
    inner = source.indentation(source.start(function.body[0]))  # type: ignore[attr-defined]
    return inner[len(outer) :] if inner.startswith(outer) and len(inner) > len(outer) else "    "


def indented(text: str, unit: str) -> str:
    """`text` (whole lines) with `unit` before every line that is not blank."""
    return "".join(unit + line if line.strip() else line for line in re.split(r"(?<=\n)|(?<=\r)(?!\n)", text) if line)


def spans_lines_in_a_string(statements: list[ast.stmt]) -> bool:
    """Whether a string literal in the statements spans lines: indenting its lines would change its value."""
    return any(
        isinstance(node, (ast.Constant, ast.JoinedStr)) and node.end_lineno != node.lineno  # type: ignore[attr-defined]
        for statement in statements
        for node in ast.walk(statement)
    )
