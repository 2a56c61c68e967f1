import os  # loaded with the interpreter itself, before any folder of the import path is searched
import sys

# `python -m` puts the working folder first on the import path, so a project's own `tomllib.py` (or `ast.py`, or a
# `pathspec` package) would be imported in place of the module the tool means. The tool never imports the code it
# checks: drop that entry before importing anything else (as `python -P` and PYTHONSAFEPATH do).
if not getattr(sys.flags, "safe_path", False) and sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from flake8_async_sqla.cli import main  # noqa: E402 - after the import path is made safe

sys.exit(main())
