"""The standalone command line: `flake8-async-sqla check [PATHS]` and `flake8-async-sqla rule CODE`."""

from __future__ import annotations

import argparse
import ast
import os
import sys
from collections.abc import Iterator

from flake8_async_sqla import __version__
from flake8_async_sqla.core.checker import check_tree
from flake8_async_sqla.core.rule import all_rules
from flake8_async_sqla.docs import phase_label, render_rule

SKIPPED_FOLDERS = {".git", ".hg", ".venv", "venv", "__pycache__", "node_modules", "build", "dist", ".tox", ".nox"}


def python_files(paths: list[str]) -> Iterator[str]:
    for path in paths:
        if os.path.isfile(path):
            yield path
            continue
        for folder, subfolders, files in os.walk(path):
            subfolders[:] = sorted(
                d for d in subfolders if d not in SKIPPED_FOLDERS and not os.path.isfile(os.path.join(folder, d, "pyvenv.cfg"))
            )
            yield from (os.path.join(folder, f) for f in sorted(files) if f.endswith(".py"))


def check(paths: list[str]) -> int:
    status = 0
    for path in python_files(paths):
        try:
            with open(path, "rb") as handle:
                data = handle.read()
            tree = ast.parse(data, filename=path)
            source = data.decode("utf-8", errors="replace")
        except (OSError, SyntaxError, ValueError, RecursionError, MemoryError) as error:
            print(f"{path}:1:1: E902 {type(error).__name__}: {error}", file=sys.stderr)
            status = 2
            continue
        for finding in check_tree(tree, path, source):
            print(f"{path}:{finding.line}:{finding.col + 1}: {finding.message}")
            status = max(status, 1)
    return status


def show_rule(code: str | None, show_all: bool) -> int:
    rules = all_rules()
    if show_all:
        for rule in rules.values():
            print(f"{rule.code}  {rule.name:<36} phase {phase_label(rule):<9} {rule.message}")
        return 0
    rule = rules.get((code or "").upper())
    if rule is None:
        print(f"unknown rule code: {code}", file=sys.stderr)
        return 2
    print(render_rule(rule).split("\n", 1)[1])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flake8-async-sqla", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check", help="lint files and folders")
    check_parser.add_argument("paths", nargs="*", default=["."])
    rule_parser = commands.add_parser("rule", help="show a rule's documentation")
    rule_parser.add_argument("code", nargs="?")
    rule_parser.add_argument("--all", action="store_true", help="list every rule")
    args = parser.parse_args(argv)
    if args.command == "check":
        return check(args.paths)
    return show_rule(args.code, args.all)


if __name__ == "__main__":
    sys.exit(main())
