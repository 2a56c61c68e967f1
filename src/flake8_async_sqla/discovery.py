"""Which files `check` reads: Python files under the given paths, minus excluded and git-ignored ones."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pathspec

from flake8_async_sqla.config import Settings, relative_path


class Discovery:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.exclude = pathspec.GitIgnoreSpec.from_lines([*settings.exclude, *settings.extend_exclude])
        self._gitignores: dict[str, pathspec.GitIgnoreSpec | None] = {}
        self._chains: dict[str, list[tuple[str, pathspec.GitIgnoreSpec]]] = {}

    def files(self, paths: list[Path]) -> Iterator[Path]:
        """Files in a stable order; a file named on the command line is always checked."""
        seen: set[str] = set()
        for path in paths:
            if path.is_file() or not path.exists():
                yield path  # a missing path is reported by the reader, not silently dropped
                continue
            yield from self._walk(path, seen)

    def _walk(self, top: Path, seen: set[str]) -> Iterator[Path]:
        for folder, subfolders, filenames in os.walk(top, followlinks=True):
            real = os.path.realpath(folder)
            if real in seen:  # a symlink loop, or a folder reached twice
                subfolders[:] = []
                continue
            seen.add(real)
            subfolders[:] = sorted(d for d in subfolders if not self._skipped(folder, d, is_dir=True))
            for name in sorted(filenames):
                if name.endswith((".py", ".pyi")) and not self._skipped(folder, name, is_dir=False):
                    yield Path(folder, name)

    def _skipped(self, folder: str, name: str, is_dir: bool) -> bool:
        path = os.path.join(folder, name)
        slash = "/" if is_dir else ""
        if self.exclude.match_file(relative_path(path, self.settings.root) + slash) or self.exclude.match_file(name + slash):
            return True
        if is_dir and os.path.isfile(os.path.join(path, "pyvenv.cfg")):
            return True
        return self.settings.respect_gitignore and self._git_ignored(path, is_dir)

    def _git_ignored(self, path: str, is_dir: bool) -> bool:
        """Matched by a .gitignore in any folder from the project root down to the file's own."""
        absolute = os.path.abspath(path)
        slash = "/" if is_dir else ""
        for folder, spec in self._gitignores_above(os.path.dirname(absolute)):
            if spec.match_file(relative_path(absolute, folder) + slash):
                return True
        return False

    def _gitignores_above(self, folder: str) -> list[tuple[str, pathspec.GitIgnoreSpec]]:
        """The .gitignore files that apply in `folder`: its own and those of the folders above it, up to
        the project root (none above the root, and only its own outside it)."""
        if folder in self._chains:
            return self._chains[folder]
        root = os.path.abspath(self.settings.root)
        found = []
        current = folder
        while True:
            spec = self._gitignore(current)
            if spec is not None:
                found.append((current, spec))
            parent = os.path.dirname(current)
            if current == root or parent == current or not current.startswith(root + os.sep):
                break
            current = parent
        self._chains[folder] = found
        return found

    def _gitignore(self, folder: str) -> pathspec.GitIgnoreSpec | None:
        if folder not in self._gitignores:
            try:
                with open(os.path.join(folder, ".gitignore"), encoding="utf-8", errors="replace") as handle:
                    lines = handle.read().splitlines()
            except OSError:
                lines = None
            self._gitignores[folder] = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None
        return self._gitignores[folder]
