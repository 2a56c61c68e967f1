"""The project index: facts about other modules of the project, loaded lazily and cached.

Only the modules that a checked file actually imports from are read, so a file
that imports nothing from the project costs nothing here.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from flake8_async_sqla.core.model import SemanticModel, Symbol
from flake8_async_sqla.core.options import DEFAULT_OPTIONS, AnalysisOptions
from flake8_async_sqla.core.parsing import ParseFailure, parse

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT_MARKERS = ("pyproject.toml", "setup.cfg", ".git")


def project_root(path: str) -> str:
    """The nearest folder above `path` holding pyproject.toml, setup.cfg or .git (else its folder)."""
    start = os.path.dirname(os.path.abspath(path))
    folder = start
    while True:
        if any(os.path.exists(os.path.join(folder, marker)) for marker in ROOT_MARKERS):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return start
        folder = parent


def search_folders(path: str) -> Iterator[str]:
    """Folders a module import is resolved against: from the file's own folder up to the project root."""
    root = project_root(path)
    folder = os.path.dirname(os.path.abspath(path))
    while True:
        yield folder
        if folder == root:
            return
        parent = os.path.dirname(folder)
        if parent == folder:
            return
        folder = parent


class ProjectIndex:
    def __init__(self, options: AnalysisOptions = DEFAULT_OPTIONS) -> None:
        self.options = options
        self._models: dict[str, tuple[tuple[int, int], SemanticModel | None]] = {}
        self._module_paths: dict[tuple[str, str], str | None] = {}
        # Files whose facts were read since the last reset: a cached result depends on them too.
        self.consulted: set[str] = set()

    def register(self, model: SemanticModel) -> None:
        """Make the model of a file being checked the one other modules see for that path."""
        path = os.path.abspath(model.path)
        stamp = _stamp(path)
        if stamp is not None:
            self._models[path] = (stamp, model)

    def lookup(self, qualname: str, from_path: str) -> Symbol | None:
        parts = qualname.split(".")
        for split in range(len(parts) - 1, 0, -1):
            path = self.find_module(".".join(parts[:split]), from_path)
            if path is None:
                continue
            rest = parts[split:]
            self.consulted.add(path)
            model = self.model_for(path)
            if model is None or len(rest) != 1:
                return None
            return model.export(rest[0])
        return None

    def find_module(self, module: str, from_path: str) -> str | None:
        relative = module.replace(".", os.sep)
        for folder in search_folders(from_path):
            key = (folder, module)
            if key not in self._module_paths:
                self._module_paths[key] = _module_file(os.path.join(folder, relative))
            found = self._module_paths[key]
            if found is not None:
                return found
        return None

    def model_for(self, path: str) -> SemanticModel | None:
        path = os.path.abspath(path)
        stamp = _stamp(path)
        cached = self._models.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        model = None
        if stamp is not None:
            try:
                with open(path, "rb") as handle:
                    tree = parse(handle.read(), path)
                model = SemanticModel(tree, path, index=self)
            except (ParseFailure, OSError):
                model = None
            self._models[path] = (stamp, model)
        return model


def _module_file(base: str) -> str | None:
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            return os.path.abspath(candidate)
    return None


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size)


DEFAULT_INDEX = ProjectIndex()


def use_options(options: AnalysisOptions) -> None:
    """Configure the process-wide index; facts computed under other options are dropped."""
    if DEFAULT_INDEX.options != options:
        DEFAULT_INDEX.__init__(options)  # type: ignore[misc]
