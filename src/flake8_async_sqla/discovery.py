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
            subfolders[:] = sorted(d for d in subfolders if not self._skipped(Path(folder, d), is_dir=True))
            for name in sorted(filenames):
                path = Path(folder, name)
                if name.endswith((".py", ".pyi")) and not self._skipped(path, is_dir=False):
                    yield path

    def _skipped(self, path: Path, is_dir: bool) -> bool:
        relative = relative_path(path, self.settings.root) + ("/" if is_dir else "")
        if self.exclude.match_file(relative) or self.exclude.match_file(path.name + ("/" if is_dir else "")):
            return True
        if is_dir and (path / "pyvenv.cfg").is_file():
            return True
        return self.settings.respect_gitignore and self._git_ignored(path, is_dir)

    def _git_ignored(self, path: Path, is_dir: bool) -> bool:
        """Matched by a .gitignore in any folder from the project root down to the file's own."""
        root = Path(os.path.abspath(self.settings.root))
        absolute = Path(os.path.abspath(path))
        folder = absolute.parent
        while True:
            spec = self._gitignore(folder)
            if spec is not None:
                relative = absolute.relative_to(folder).as_posix() + ("/" if is_dir else "")
                if spec.match_file(relative):
                    return True
            if folder == root or folder.parent == folder or root not in folder.parents:
                return False
            folder = folder.parent

    def _gitignore(self, folder: Path) -> pathspec.GitIgnoreSpec | None:
        key = str(folder)
        if key not in self._gitignores:
            try:
                lines = (folder / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                lines = None
            self._gitignores[key] = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None
        return self._gitignores[key]
