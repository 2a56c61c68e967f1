"""Where a project's files are: its root, the folders imports resolve against, its Python files, and a
digest of a file's content. Standard library only: a warm `check` needs these and no analysis code."""

from __future__ import annotations

import functools
import os
from typing import Callable

try:  # CPython's BLAKE2 module: importing `hashlib` would load OpenSSL too (3.7 MiB), which BLAKE2 does not need
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - other interpreters
    from hashlib import blake2b

ROOT_MARKERS = ("pyproject.toml", "setup.cfg", ".git")
# Folders that hold no code of the project itself (hidden folders and virtualenvs are skipped too).
SKIPPED_FOLDERS = {"__pycache__", "node_modules", "site-packages"}
# Past this many files the project-wide facts are not built, and the rules needing them stay silent.
MAX_PROJECT_FILES = 10_000
# Files larger than this are not parsed (generated code, data saved as `.py`): 4 MiB. The checked files' limit is
# configurable (`max-file-size`); project modules the index reads beyond it are unreadable modules.
MAX_FILE_SIZE = 4 * 1024 * 1024
# The coarsest clock a file system stamps times with (FAT's two seconds): a folder or file stamped this close to when
# something read it, or later, may have changed after it was read, with the same stamp.
CLOCK_GRAIN_NS = 2 * 10**9


def project_root(path: str) -> str:
    """The nearest folder above `path` holding pyproject.toml, setup.cfg or .git (else its folder)."""
    if os.path.isabs(path):  # asked for the same files over and over (a run's every question names its file)
        return _root_of_file(path)
    return _root_of_folder(os.path.dirname(os.path.abspath(path)))


@functools.lru_cache(maxsize=4096)
def _root_of_file(path: str) -> str:
    return _root_of_folder(os.path.dirname(os.path.normpath(path)))


@functools.lru_cache(maxsize=4096)
def _root_of_folder(start: str) -> str:
    folder = start
    while True:
        if has_root_marker(folder):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return start
        folder = parent


def search_folders(path: str) -> tuple[str, ...]:
    """Folders a module import is resolved against: from the file's own folder up to the project root."""
    return _folders_up_to_root(os.path.dirname(os.path.abspath(path)))


@functools.lru_cache(maxsize=4096)
def _folders_up_to_root(start: str) -> tuple[str, ...]:
    root = _root_of_folder(start)
    folders = [start]
    folder = start
    while folder != root:
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folders.append(parent)
        folder = parent
    return tuple(folders)


def _ancestors(folder: str) -> list[str]:
    found = []
    while (parent := os.path.dirname(folder)) != folder:
        found.append(parent)
        folder = parent
    return found


def folders_unchanged(stamps: dict[str, int | None], before_ns: int) -> bool:
    """Whether every folder of `stamps` (see `FolderListings.stamps`) has the modification time it had, one taken before
    `before_ns` (a folder changed within the clock tick its time was taken in may have changed again since)."""
    for folder, recorded in stamps.items():
        try:
            now: int | None = os.stat(folder).st_mtime_ns
        except OSError:
            now = None
        if now != recorded or recorded is not None and recorded >= before_ns:
            return False
    return True


def python_files(root: str) -> tuple[str, ...] | None:
    """The project's Python files below `root`, folder by folder in name order; only regular files (a FIFO, a
    socket or a link to a device named `*.py` is never opened). None past MAX_PROJECT_FILES."""
    found: list[str] = []
    folders = [root]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError:
            continue
        subfolders = []
        for entry in entries:
            if entry.is_dir():
                if not entry.is_symlink() and _holds_project_code(entry):
                    subfolders.append(entry.path)
            elif entry.name.endswith(".py") and entry.is_file():
                found.append(entry.path)
        if len(found) > MAX_PROJECT_FILES:
            return None
        folders.extend(reversed(subfolders))  # depth first, in name order
    return tuple(found)


def _holds_project_code(folder: os.DirEntry) -> bool:
    return (
        not folder.name.startswith(".") and folder.name not in SKIPPED_FOLDERS
        and not os.path.isfile(os.path.join(folder.path, "pyvenv.cfg"))
    )


def find_module_file(module: str, folder: str, file_of: Callable[[str], str | None] | None = None) -> str | None:
    """The project file of the dotted `module` imported from a file in `folder`: searched from that folder up to
    the project root (`file_of`, `module_file` by default, tells which file a path without suffix names)."""
    return _first_module_file(module, _folders_up_to_root(folder), file_of or module_file)


def _first_module_file(module: str, folders: tuple[str, ...], file_of: Callable[[str], str | None]) -> str | None:
    relative = module.replace(".", os.sep)
    for base in folders:
        found = file_of(os.path.join(base, relative))
        if found is not None:
            return found
    return None


def has_root_marker(folder: str) -> bool:
    """Whether `folder` holds a project root marker (`ROOT_MARKERS`)."""
    return any(os.path.exists(os.path.join(folder, marker)) for marker in ROOT_MARKERS)


def module_file(base: str) -> str | None:
    """The file of the module at `base` (a path without suffix): `base.py`, else `base/__init__.py`."""
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            return os.path.abspath(candidate)
    return None


class FolderListings:
    """`module_file` and `find_module_file` from what each folder holds, listed once, instead of a `stat` per
    candidate: a warm run checks thousands of stored module resolutions, most of them against the same few hundred
    folders. A name must match exactly, as Python's imports ask (a case-insensitive file system's `stat` would also
    take another case). `stamps` holds the modification time of every folder whose content the answers rest on
    (None for one that does not exist, then its parent's too): while they hold, no file the answers depend on was
    created, deleted or renamed, so they hold too."""

    def __init__(self) -> None:
        self._folders: dict[str, dict[str, tuple[bool, bool]]] = {}  # folder -> name -> (regular file, folder)
        self._found: dict[str, str | None] = {}  # base -> its module file
        self._searched: dict[str, tuple[str, ...]] = {}  # folder -> `_folders_up_to_root`
        self.stamps: dict[str, int | None] = {}

    def _note(self, folder: str) -> None:
        while folder not in self.stamps:
            try:
                self.stamps[folder] = os.stat(folder).st_mtime_ns
                return
            except OSError:
                self.stamps[folder] = None  # created, it changes its parent's time
            parent = os.path.dirname(folder)
            if parent == folder:
                return
            folder = parent

    def find_module_file(self, module: str, folder: str) -> str | None:
        """`find_module_file(module, folder)`."""
        return _first_module_file(module, self._search_folders(folder), self.module_file)

    def _search_folders(self, folder: str) -> tuple[str, ...]:
        """`_folders_up_to_root(folder)`, each folder noted: a root marker created or deleted in one of them moves the
        root. When none has a marker, one created in any folder above would: each is noted too."""
        known = self._searched.get(folder)
        if known is None:
            known = self._searched[folder] = _folders_up_to_root(folder)
            for searched in known:
                self._note(searched)
            if not has_root_marker(known[-1]):
                for above in _ancestors(known[-1]):
                    self._note(above)
        return known

    def _listing(self, folder: str) -> dict[str, tuple[bool, bool]]:
        known = self._folders.get(folder)
        if known is None:
            self._note(folder)  # before listing it: a change meanwhile shows
            try:
                with os.scandir(folder) as entries:
                    known = {entry.name: (entry.is_file(), entry.is_dir()) for entry in entries}
            except OSError:
                known = {}
            self._folders[folder] = known
        return known

    def module_file(self, base: str) -> str | None:
        """`module_file(base)`."""
        if base not in self._found:
            self._found[base] = self._module_file(base)
        return self._found[base]

    def _module_file(self, base: str) -> str | None:
        folder, name = os.path.split(base)
        listing = self._listing(folder)
        if listing.get(name + ".py", (False, False))[0]:
            return os.path.abspath(base + ".py")
        if listing.get(name, (False, False))[1] and self._listing(base).get("__init__.py", (False, False))[0]:
            return os.path.abspath(os.path.join(base, "__init__.py"))
        return None


def file_stamp(path: str) -> tuple[int, int] | None:
    """Modification time (ns) and size: what tells a changed file from an unchanged one without reading it."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size)


def stored_stamp(path: str) -> list[int] | None:
    """`file_stamp` as the cache stores it (JSON has no tuples)."""
    stamp = file_stamp(path)
    return list(stamp) if stamp is not None else None


def content_digest(data: bytes) -> str:
    return blake2b(data, digest_size=16).hexdigest()
