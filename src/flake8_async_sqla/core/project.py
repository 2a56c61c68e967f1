"""The project index: facts about other modules of the project, loaded lazily and cached.

Only the modules that a checked file actually imports from are read, so a file
that imports nothing from the project costs nothing here.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import sys
from dataclasses import dataclass, field

from flake8_async_sqla.core.engines import EngineFate, engine_fate, module_uses, state_disposals
from flake8_async_sqla.core.model import SemanticModel, Symbol
from flake8_async_sqla.core.options import DEFAULT_OPTIONS, AnalysisOptions
from flake8_async_sqla.core.parsing import ParseFailure, parse

ROOT_MARKERS = ("pyproject.toml", "setup.cfg", ".git")
EXTERNAL_ROOTS = frozenset(getattr(sys, "stdlib_module_names", ())) | {
    "sqlalchemy", "sqlmodel", "fastapi", "starlette", "pydantic", "pydantic_settings", "anyio",
    "typing_extensions", "greenlet", "asyncpg", "aiosqlite", "psycopg", "psycopg2", "httpx", "alembic",
}
# Folders that hold no code of the project itself (hidden folders and virtualenvs are skipped too).
SKIPPED_FOLDERS = {"__pycache__", "node_modules", "site-packages"}
# Past this many files the project-wide facts are not built, and the rules needing them stay silent.
MAX_PROJECT_FILES = 10_000
# How many names a module-level engine is followed under (re-exports: `from .db import engine`).
MAX_ENGINE_ALIASES = 32


def project_root(path: str) -> str:
    """The nearest folder above `path` holding pyproject.toml, setup.cfg or .git (else its folder)."""
    return _root_of_folder(os.path.dirname(os.path.abspath(path)))


@functools.lru_cache(maxsize=4096)
def _root_of_folder(start: str) -> str:
    folder = start
    while True:
        if any(os.path.exists(os.path.join(folder, marker)) for marker in ROOT_MARKERS):
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


@dataclass(frozen=True)
class ModuleFacts:
    """What the project-wide questions need of one module, read from its text alone (its path gives
    its module name), so that it can be cached by content: the names it imports, the callables it
    names in `Depends(...)`/`Security(...)`, and what its `.dispose` calls reach on an app's state."""

    imports: dict[str, str] = field(default_factory=dict)
    dependency_targets: frozenset[str] = frozenset()
    disposed_state: frozenset[str] = frozenset()
    disposes_untraced: bool = False

    @classmethod
    def of(cls, model: SemanticModel) -> ModuleFacts:
        targets: set[str] = set()
        for scope in model.scopes:
            for call in scope.calls:
                target = model.dependency_target(call)
                qualname = model.qualname(target) if target is not None else None
                if qualname:
                    targets.add(qualname)
        disposed, untraced = state_disposals(model)
        return cls(dict(model.imports), frozenset(targets), disposed, untraced)

    def to_json(self) -> dict:
        return {
            "imports": self.imports,
            "dependency_targets": sorted(self.dependency_targets),
            "disposed_state": sorted(self.disposed_state),
            "disposes_untraced": self.disposes_untraced,
        }

    @classmethod
    def from_json(cls, data: dict) -> ModuleFacts:
        return cls(
            {str(k): str(v) for k, v in data["imports"].items()},
            frozenset(map(str, data["dependency_targets"])),
            frozenset(map(str, data["disposed_state"])),
            bool(data["disposes_untraced"]),
        )


def content_digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class ProjectIndex:
    def __init__(self, options: AnalysisOptions = DEFAULT_OPTIONS) -> None:
        self.options = options
        self._models: dict[str, tuple[tuple[int, int], SemanticModel | None]] = {}
        self._module_paths: dict[tuple[str, str], str | None] = {}
        # Files whose facts were read since the last reset: a cached result depends on them too.
        self.consulted: set[str] = set()
        # Project-wide answers given since the last reset, (question, path, name) -> answer: a cached
        # result holds only while the project still gives the same ones (see `answer`).
        self.answers: dict[tuple[str, str, str], object] = {}
        # Module facts by path and content digest: those a cache handed in, and those built here since.
        self.stored_facts: dict[str, tuple[str, ModuleFacts]] = {}
        self.new_facts: dict[str, tuple[str, ModuleFacts]] = {}
        self._facts: dict[str, tuple[tuple[int, int] | None, ModuleFacts | None]] = {}
        self.modelled = 0  # files read and modelled, for `check --verbose`
        # Project-wide facts, built lazily and kept per project root.
        self._project_files: dict[str, tuple[str, ...] | None] = {}
        self._dependency_targets: dict[str, frozenset[str]] = {}
        self._mentions: dict[tuple[str, str], tuple[str, ...] | None] = {}
        self._engine_fates: dict[tuple[str, str], EngineFate | None] = {}

    def cached_model(self, path: str) -> SemanticModel | None:
        """The model already built for `path` (as another file's import), if the file is unchanged."""
        path = os.path.abspath(path)
        cached = self._models.get(path)
        if cached is not None and cached[1] is not None and cached[0] == _stamp(path):
            return cached[1]
        return None

    def register(self, model: SemanticModel) -> None:
        """Make the model of a file being checked the one other modules see for that path."""
        path = os.path.abspath(model.path)
        stamp = _stamp(path)
        if stamp is not None:
            self._models[path] = (stamp, model)

    def lookup(self, qualname: str, from_path: str) -> Symbol | None:
        parts = qualname.split(".")
        if parts[0] in EXTERNAL_ROOTS:
            return None  # the standard library and the frameworks are not project modules
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
        if stamp is None:
            return None
        try:
            data = _read(path)
        except OSError:
            return None
        return self._model_of(path, stamp, data)

    def _model_of(self, path: str, stamp: tuple[int, int], data: bytes) -> SemanticModel | None:
        try:
            model = SemanticModel(parse(data, path), path, index=self)
        except ParseFailure:
            model = None
        self.modelled += 1
        self._models[path] = (stamp, model)
        return model

    def facts(self, path: str) -> ModuleFacts | None:
        """The module facts of a project file: from memory while it is unchanged, else from the facts a
        cache handed in when its content is the same, else from its model (and kept in `new_facts`)."""
        path = os.path.abspath(path)
        stamp = _stamp(path)
        cached = self._facts.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        facts = None
        if stamp is not None:
            try:
                data = _read(path)
            except OSError:
                data = None
            if data is not None:
                digest = content_digest(data)
                stored = self.stored_facts.get(path)
                if stored is not None and stored[0] == digest:
                    facts = stored[1]
                else:
                    model = self._models.get(path)
                    current = model[1] if model is not None and model[0] == stamp else self._model_of(path, stamp, data)
                    facts = ModuleFacts.of(current) if current is not None else None
                    if facts is not None:
                        self.new_facts[path] = (digest, facts)
        self._facts[path] = (stamp, facts)
        return facts

    # ------------------------------------------------------ project-wide facts
    def project_files(self, path: str) -> tuple[str, ...] | None:
        """The Python files of the project `path` belongs to, hidden folders and virtualenvs skipped;
        None when there are more than MAX_PROJECT_FILES."""
        root = project_root(path)
        if root not in self._project_files:
            self._project_files[root] = _python_files(root)
        return self._project_files[root]

    def files_mentioning(self, path: str, word: str) -> tuple[str, ...] | None:
        """The project files whose text contains `word` as a whole word: a cheap filter before parsing."""
        root = project_root(path)
        key = (root, word)
        if key not in self._mentions:
            files = self.project_files(path)
            self._mentions[key] = None if files is None else tuple(f for f in files if _mentions(f, word.encode()))
        return self._mentions[key]

    def dependency_targets(self, path: str) -> frozenset[str]:
        """Qualified names of every callable the project names in `Depends(...)` / `Security(...)`,
        each resolved in the file that names it, so a dependency defined in one module and used
        from another is known as one."""
        root = project_root(path)
        if root not in self._dependency_targets:
            self._dependency_targets[root] = frozenset()  # a cycle through a module's model sees none
            found: set[str] = set()
            files = {*(self.files_mentioning(path, "Depends") or ()), *(self.files_mentioning(path, "Security") or ())}
            for file in sorted(files):
                facts = self.facts(file)
                if facts is not None:
                    found |= facts.dependency_targets
            self._dependency_targets[root] = frozenset(found)
        return self._dependency_targets[root]

    def dependency_targets_among(self, qualnames: list[str], path: str) -> list[str]:
        """Which of `qualnames` some module of `path`'s project names in `Depends(...)`/`Security(...)`."""
        question = ("dependency_targets", os.path.abspath(path), "\n".join(sorted(qualnames)))
        return self._answered(question)  # type: ignore[return-value]

    def answer(self, question: tuple[str, str, str]) -> object:
        """The current answer to a project-wide question a cached result recorded, to check it still holds."""
        kind, path, name = question
        if kind == "dependency_targets":
            targets = self.dependency_targets(path)
            return [qualname for qualname in name.split("\n") if qualname in targets]
        if kind == "project_files":
            return _listing_digest(self.project_files(path))
        raise ValueError(f"unknown project question {kind!r}")

    def _answered(self, question: tuple[str, str, str]) -> object:
        result = self.answers[question] = self.answer(question)
        return result

    def module_engine_fate(self, qualname: str, model: SemanticModel) -> EngineFate | None:
        """What the whole project does with the module-level engine `qualname` of `model`'s file: read in
        that file and in every file importing it (or a re-export of it), with an engine kept on an app's
        state counted as disposed when a `.dispose` may reach it. None when the project is too big to read."""
        key = (os.path.abspath(model.path), qualname)
        if key not in self._engine_fates:
            self._engine_fates[key] = self._follow_module_engine(qualname, model)
        self._consult_project(model.path)
        return self._engine_fates[key]

    def disposes_state(self, store: SemanticModel, attributes: set[str]) -> bool:
        """Whether a `.dispose` of the project may reach an engine that `store`'s file keeps on an app's
        state under one of `attributes`: `<x>.state.<attr>.dispose()` or an untraced dispose, in that file,
        a file it imports from or a file importing from it. True when the project is too big to read."""
        disposers = self.files_mentioning(store.path, "dispose")
        importers = self._importers(store)
        self._consult_project(store.path)
        if disposers is None or importers is None:
            return True
        neighbours = {os.path.abspath(store.path), *self._imported_files(store), *importers}
        for path in neighbours.intersection(disposers):
            facts = self.facts(path)
            if facts is not None and (attributes & facts.disposed_state or facts.disposes_untraced):
                return True
        return False

    def is_imported(self, model: SemanticModel) -> bool | None:
        """Whether another file of the project imports from `model`'s file; None when the project is too big to read."""
        importers = self._importers(model)
        self._consult_project(model.path)
        return None if importers is None else bool(importers)

    def _follow_module_engine(self, qualname: str, model: SemanticModel) -> EngineFate | None:
        fate = EngineFate()
        pending = [(qualname, os.path.abspath(model.path))]
        followed = {qualname}
        while pending:
            name, home = pending.pop()
            module, _, attribute = name.rpartition(".")
            # A file reading the name names it, and may import it; the module itself need not name itself.
            naming = self.files_mentioning(home, attribute)
            importing = self._may_import(module, home)
            if naming is None or importing is None:
                return None
            for path in importing.intersection(naming) | {home}:
                other = self.model_for(path)
                # Another project's module of the same name (a sibling example app, a vendored copy) is not it.
                if other is None or path != home and self.find_module(module, path) != home:
                    continue
                found = engine_fate(other, module_uses(other, name))
                fate.handed_on |= found.handed_on
                fate.disposed |= found.disposed
                if found.state_attributes and self.disposes_state(other, found.state_attributes):
                    fate.disposed = True
                for local, imported in other.imports.items():
                    alias = f"{other.module}.{local}"
                    if imported == name and alias not in followed and len(followed) < MAX_ENGINE_ALIASES:
                        followed.add(alias)
                        pending.append((alias, path))
        return fate

    def _importers(self, model: SemanticModel) -> list[str] | None:
        """The other project files that import from `model`'s file."""
        path = os.path.abspath(model.path)
        files = self._may_import(model.module, path)
        if files is None:
            return None
        found = []
        for file in sorted(files):
            facts = self.facts(file) if file != path else None
            if facts is not None and self._imports_file(facts.imports, file, model):
                found.append(file)
        return found

    def _may_import(self, module: str, path: str) -> set[str] | None:
        """The project files that may import from `module` (the file `path`), by their text: they name its
        last part (`db`), and name its top-level package (`app`) or lie in that package (`from . import db`)."""
        parts = module.split(".")
        naming = self.files_mentioning(path, parts[-1])
        top = self.files_mentioning(path, parts[0])
        if naming is None or top is None:
            return None
        levels = len(parts) - 1 + (os.path.basename(path) == "__init__.py")
        package = os.path.abspath(path)
        for _ in range(levels):
            package = os.path.dirname(package)
        return {file for file in naming if file in top or levels and file.startswith(package + os.sep)}

    def _imported_files(self, model: SemanticModel) -> set[str]:
        """The project files `model`'s file imports from (the longest importable prefix of each name)."""
        found = set()
        for imported in set(model.imports.values()):
            parts = imported.split(".")
            if parts[0] in EXTERNAL_ROOTS:
                continue
            for end in range(len(parts), 0, -1):
                path = self.find_module(".".join(parts[:end]), model.path)
                if path is not None:
                    found.add(path)
                    break
        return found

    def _imports_file(self, imports: dict[str, str], path: str, target: SemanticModel) -> bool:
        """Whether the file `path`, importing `imports`, imports from `target`'s file: a name under `target`'s
        module that resolves, from `path`'s folder, to `target`'s file (not to a sibling app's module of that name)."""
        module = target.module
        return any(
            imported == module or imported.startswith(module + ".") for imported in imports.values()
        ) and self.find_module(module, path) == os.path.abspath(target.path)

    def _consult_project(self, path: str) -> None:
        """A result built from project-wide facts depends on every file of the project, and on which they are."""
        self.consulted.update(self.project_files(path) or ())
        self._answered(("project_files", os.path.abspath(path), ""))


def _python_files(root: str) -> tuple[str, ...] | None:
    found: list[str] = []
    for folder, subfolders, filenames in os.walk(root):
        subfolders[:] = sorted(
            name for name in subfolders
            if not name.startswith(".")
            and name not in SKIPPED_FOLDERS
            and not os.path.isfile(os.path.join(folder, name, "pyvenv.cfg"))
        )
        found.extend(os.path.join(folder, name) for name in sorted(filenames) if name.endswith(".py"))
        if len(found) > MAX_PROJECT_FILES:
            return None
    return tuple(found)


def _listing_digest(files: tuple[str, ...] | None) -> str | None:
    return None if files is None else content_digest("\n".join(files).encode("utf-8", "surrogateescape"))


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _mentions(path: str, word: bytes) -> bool:
    try:
        text = _read(path)
    except OSError:
        return False
    # The substring test is fast and rules out most files before the whole-word search.
    return word in text and re.search(rb"\b" + re.escape(word) + rb"\b", text) is not None


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
