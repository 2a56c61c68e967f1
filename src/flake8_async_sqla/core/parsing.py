"""Parsing a file the way every front end must: deep trees built, failures explained."""

from __future__ import annotations

import ast
import io
import sys
import threading
import tokenize
import warnings

from flake8_async_sqla.core.newer_syntax import parse_newer

# CPython refuses to build the AST of a deeply nested expression (a 5,000-term sum, a
# 3,000-link attribute chain) under the default recursion limit. Such files are retried
# in a thread with a large stack and a raised limit, so they are analysed, not skipped.
DEEP_RECURSION_LIMIT = 200_000
DEEP_STACK_BYTES = 512 * 1024 * 1024


class ParseFailure(Exception):
    """A file that cannot be parsed, with the reason a user can act on, and the line at fault (0: unknown)."""

    def __init__(self, reason: str, line: int = 0) -> None:
        super().__init__(reason)
        self.line = line


RUNNING = sys.version_info[:2]


def for_newest_syntax(target: tuple[int, int] | None) -> bool:
    """Whether `parse` reads a file for Python `target` as it reads it for the newest syntax the tool knows."""
    return target is None or target > RUNNING


def parse(data: bytes | str, filename: str, target: tuple[int, int] | None = None) -> ast.Module:
    """The tree of `data`, accepting the syntax of Python `target` (None: the newest the tool can read).

    A target up to the running Python rejects what that version cannot parse; a newer one (or None)
    accepts, through `newer_syntax.parse_newer`, the syntax it has that the running Python does not parse itself.
    """
    feature_version = target if target is not None and target <= RUNNING else None
    try:
        return ast.parse(data, filename=filename, feature_version=feature_version)
    except RecursionError:
        return _parse_deep(data, filename, feature_version)
    except SyntaxError as error:
        tree = _parse_newer_syntax(data, filename, target) if feature_version is None else None
        if tree is None:
            too_new = target is not None and _parses_for_newer_python(data, filename)
            raise ParseFailure(_explain(error, target if too_new else None), error.lineno or 0) from error
        return tree
    except (ValueError, MemoryError) as error:
        raise ParseFailure(f"cannot parse: {type(error).__name__}: {error}") from error


def check_syntax(data: bytes | str, filename: str, target: tuple[int, int] | None = None) -> None:
    """Raise the ParseFailure `parse` would raise, without keeping a tree: for a file whose checks need none (a test
    file, whose role is not reported). For the newest syntax, compiling the file to bytecode tells first: it builds
    no Python objects for the tree, and whatever it accepts parses; anything it rejects (also what only the compiler
    rejects, `return` outside a function) is judged by `parse` itself."""
    if for_newest_syntax(target):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the compiler's own warnings (`is` with a literal) are not ours to give
                compile(data, filename, "exec", dont_inherit=True)
            return
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass
    parse(data, filename, target)


def _parses_for_newer_python(data: bytes | str, filename: str) -> bool:
    """Whether a file the target version rejects is valid for a newer one (its syntax is the problem, not a typo)."""
    try:
        ast.parse(data, filename=filename)
    except SyntaxError:
        return _parse_newer_syntax(data, filename) is not None
    except (ValueError, RecursionError, MemoryError):
        return False
    return True


def _parse_newer_syntax(data: bytes | str, filename: str, target: tuple[int, int] | None = None) -> ast.Module | None:
    """The tree of a file written for a newer Python (up to `target`), read through `newer_syntax.parse_newer`;
    None when that does not make it parse (a real syntax error)."""
    try:
        text = data if isinstance(data, str) else data.decode(tokenize.detect_encoding(io.BytesIO(data).readline)[0])
    except (SyntaxError, LookupError, UnicodeDecodeError):
        return None
    tree = parse_newer(text.removeprefix("\ufeff"), filename, target)
    return tree if isinstance(tree, ast.Module) else None


def _parse_deep(data: bytes | str, filename: str, feature_version: tuple[int, int] | None) -> ast.Module:
    outcome: list[ast.Module | BaseException] = []

    def work() -> None:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(DEEP_RECURSION_LIMIT)
        try:
            outcome.append(ast.parse(data, filename=filename, feature_version=feature_version))
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
        raise ParseFailure(_explain(result), result.lineno or 0) from result
    if isinstance(result, BaseException):
        raise ParseFailure(f"cannot parse: {type(result).__name__}: {result}") from result
    return result


def _explain(error: SyntaxError, too_new_for: tuple[int, int] | None = None) -> str:
    """The reason a user can act on; `too_new_for`: the target version whose syntax the file goes beyond."""
    where = f"line {error.lineno}: " if error.lineno else ""
    if "codec" in str(error.msg) or "unicode error" in str(error.msg):
        return f"cannot decode: {where}{error.msg}"
    if "null bytes" in str(error.msg):
        return f"cannot parse: {where}{error.msg} (a binary file?)"
    if too_new_for is not None:
        return (
            f"syntax newer than the target Python {too_new_for[0]}.{too_new_for[1]}: {where}{error.msg}; "
            "if the project needs a newer Python, raise `requires-python` or set `target-version`"
        )
    version = f"{RUNNING[0]}.{RUNNING[1]}"
    return (
        f"parse failed under Python {version}: {where}{error.msg}; "
        "if the file is valid for a newer Python, run the tool with the project's Python"
    )
