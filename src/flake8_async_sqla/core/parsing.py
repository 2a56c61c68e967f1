"""Parsing a file the way every front end must: deep trees built, failures explained."""

from __future__ import annotations

import ast
import sys
import threading

# CPython refuses to build the AST of a deeply nested expression (a 5,000-term sum, a
# 3,000-link attribute chain) under the default recursion limit. Such files are retried
# in a thread with a large stack and a raised limit, so they are analysed, not skipped.
DEEP_RECURSION_LIMIT = 200_000
DEEP_STACK_BYTES = 512 * 1024 * 1024


class ParseFailure(Exception):
    """A file that cannot be parsed, with the reason a user can act on."""


def parse(data: bytes | str, filename: str) -> ast.Module:
    try:
        return ast.parse(data, filename=filename)
    except RecursionError:
        return _parse_deep(data, filename)
    except SyntaxError as error:
        raise ParseFailure(_explain(error)) from error
    except (ValueError, MemoryError) as error:
        raise ParseFailure(f"cannot parse: {type(error).__name__}: {error}") from error


def _parse_deep(data: bytes | str, filename: str) -> ast.Module:
    outcome: list[ast.Module | BaseException] = []

    def work() -> None:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(DEEP_RECURSION_LIMIT)
        try:
            outcome.append(ast.parse(data, filename=filename))
        except BaseException as error:  # noqa: BLE001 - handed back to the caller's thread
            outcome.append(error)
        finally:
            sys.setrecursionlimit(limit)

    previous = threading.stack_size(DEEP_STACK_BYTES)
    try:
        worker = threading.Thread(target=work, name="asq-deep-parse")
        worker.start()
        worker.join()
    finally:
        threading.stack_size(previous)
    result = outcome[0] if outcome else ParseFailure("cannot parse: the parser thread failed")
    if isinstance(result, SyntaxError):
        raise ParseFailure(_explain(result)) from result
    if isinstance(result, BaseException):
        raise ParseFailure(f"cannot parse: {type(result).__name__}: {result}") from result
    return result


def _explain(error: SyntaxError) -> str:
    where = f"line {error.lineno}: " if error.lineno else ""
    if "codec" in str(error.msg) or "unicode error" in str(error.msg):
        return f"cannot decode: {where}{error.msg}"
    if "null bytes" in str(error.msg):
        return f"cannot parse: {where}{error.msg} (a binary file?)"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return (
        f"parse failed under Python {version}: {where}{error.msg}; "
        "if the project uses newer syntax, run the tool with the project's Python"
    )
