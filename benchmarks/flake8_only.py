"""flake8 with only the named plugin packages loaded, so a plugin's cost can be told apart.

    python benchmarks/flake8_only.py flake8-async-sqla -- --isolated --select ASQ,E9 DIR
    python benchmarks/flake8_only.py "" -- --isolated --select E9 DIR        # flake8's own work alone

flake8 runs every installed check plugin whatever `--select` says (it filters their output only), so the
only way to leave a plugin out of a run is not to load it. flake8's own work (finding, reading, tokenizing
and parsing each file, E999/E902) and its own report formatters stay; pyflakes, pycodestyle and mccabe are
plugins too, and go unless named.
"""

import sys

from flake8.main.cli import main
from flake8.plugins import finder


def only(packages: set[str]) -> None:
    found = finder._find_importlib_plugins  # flake8 has no option to leave an installed plugin out

    def kept() -> object:
        return (p for p in found() if p.package in packages or p.package == "flake8")

    finder._find_importlib_plugins = kept


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[2] != "--":
        sys.exit(__doc__)
    only({name for name in sys.argv[1].split(",") if name})
    sys.exit(main(sys.argv[3:]))
