"""The floor of any AST linter, as a whole process: find, read and parse every Python file.

    python benchmarks/floor.py DIR [--exclude NAME ...]

Folders named in --exclude (run.py passes the linter's default excludes) and virtual
environments are skipped, as `check` skips them. Prints the number of files parsed.
Imports nothing but the standard library, so its start-up is the interpreter's.
"""

import argparse
import ast
import os


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("top")
    parser.add_argument("--exclude", nargs="*", default=[])
    args = parser.parse_args()
    excluded = set(args.exclude)
    parsed = 0
    for folder, subfolders, filenames in os.walk(args.top):
        subfolders[:] = sorted(
            d for d in subfolders
            if d not in excluded and not os.path.isfile(os.path.join(folder, d, "pyvenv.cfg"))
        )
        for name in sorted(filenames):
            if not name.endswith((".py", ".pyi")):
                continue
            with open(os.path.join(folder, name), "rb") as handle:
                data = handle.read()
            try:
                ast.parse(data, filename=name)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue
            parsed += 1
    print(parsed)


if __name__ == "__main__":
    main()
