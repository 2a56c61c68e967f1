"""Trees as plain data, the same under every Python from 3.8 on: the differential tests compare what the tool
reads on the running Python with what a newer interpreter reads itself.

Run as a script (`python ast_shapes.py`), it serves a newer interpreter's shapes: one JSON request a line,
{"source": ..., "parts": bool, "fstring_parts": bool}, one JSON answer a line, {"shape": ...} or {"error": ...}.
"""

from __future__ import annotations

import ast
import json
import sys


def shape(node: object, fstring_parts: bool = True, in_fstring: bool = False) -> object:
    """`node` as nested dicts and lists, with each node's position under "at". The literal parts of an
    f-string carry no position (Python 3.11 gives them the whole string's), nor, unless `fstring_parts`, do its
    fields and format specs; an empty literal part (3.12 leaves some in format specs) is left out."""
    if isinstance(node, list):
        return [shape(item, fstring_parts, in_fstring) for item in node]
    if not isinstance(node, ast.AST):
        return repr(node)
    shown: dict[str, object] = {"node": type(node).__name__}
    for name, value in ast.iter_fields(node):
        if name == "type_params":
            continue  # Python 3.12+: the running Python's tree has no such field
        if isinstance(node, ast.JoinedStr) and name == "values":
            value = [item for item in value if not (isinstance(item, ast.Constant) and item.value == "")]
        part_of_fstring = isinstance(node, ast.JoinedStr) or isinstance(node, ast.FormattedValue) and name == "format_spec"
        shown[name] = shape(value, fstring_parts, part_of_fstring)
    literal = isinstance(node, ast.Constant) and in_fstring
    if hasattr(node, "lineno") and not literal and (fstring_parts or not in_fstring):
        shown["at"] = [node.lineno, node.col_offset, node.end_lineno, node.end_col_offset]
    return shown


def parts(statements: list[ast.stmt]) -> list[object]:
    """What a PEP 695 rewrite keeps of `statements`: a `type` alias or an assignment as its value, a function
    or class as its signature and body, every other statement whole."""
    kept: list[object] = []
    for statement in statements:
        if type(statement).__name__ in ("TypeAlias", "Assign"):
            kept.append(["value", shape(statement.value)])
        elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            signature = [shape(statement.args), shape(statement.returns), shape(statement.decorator_list)]
            kept.append(["def", statement.name, signature, parts(statement.body)])
        elif isinstance(statement, ast.ClassDef):
            kept.append(["class", statement.name, shape(statement.bases), shape(statement.keywords), parts(statement.body)])
        else:
            kept.append(shape(statement))
    return kept


def serve() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        try:
            tree = ast.parse(request["source"])
            shown = parts(tree.body) if request.get("parts") else shape(tree, request.get("fstring_parts", True))
            answer: dict[str, object] = {"shape": shown}
        except SyntaxError as error:
            answer = {"error": f"{error.msg} (line {error.lineno})"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")  # invalid escapes in generated strings
    serve()
