"""The project-wide questions the project index answers (which functions are dependencies or run only at startup,
where sessions are stored, whether the project uses asyncio only, what becomes of a module's engine), each recorded
with what it read and judged again when files change: a part of `ProjectIndex` (one of its bases)."""

from __future__ import annotations

import os
import re
from collections import Counter
from typing import TYPE_CHECKING, Iterable

from flake8_async_sqla.core.engines import EngineFate, engine_fate, module_uses
from flake8_async_sqla.core.layout import project_root, python_files
from flake8_async_sqla.core.manifests import declared_dialects, manifest_files
from flake8_async_sqla.core.module_facts import ModuleFacts
from flake8_async_sqla.core.names import EXTERNAL_ROOTS
from flake8_async_sqla.core.project_text import (
    API_IMPORT, DATABASE_IMPORTS, WORD, dependency_filters, file_mentions, listing_digest, name_and_holder,
    names_dependencies, names_without_holder, read_file, store_keys_in, text_mentions, word_bits, words_in,
)
from flake8_async_sqla.core.roles import SERVING_ROLES

if TYPE_CHECKING:
    from flake8_async_sqla.core.model import SemanticModel

# How many names a module-level engine is followed under (re-exports: `from .db import engine`).
MAX_ENGINE_ALIASES = 32
# The project-wide questions whose answers read nothing of a module but its facts (and its path, and the project's
# files): they hold while the changed files keep their facts (see `ProjectIndex.still_answers`).
FACTS_QUESTIONS = frozenset({"dependency_targets", "startup_only", "app_arguments", "session_stores", "asyncio_only"})
# Beyond this many files changed since a cache stored its answers, they are answered again rather than judged by
# the changes (see `ProjectIndex.still_answers`).
MAX_CHANGED_FILES_JUDGED = 64


class ProjectQuestions:
    """The project-wide questions of `ProjectIndex`, a base of it: which files mention a word, which functions are
    dependencies or run only at startup, where sessions are stored, whether the project uses asyncio only, what
    becomes of a module's engine; each answer recorded with what it read, and judged again when files change."""

    def project_files(self, path: str) -> tuple[str, ...] | None:
        """The Python files of the project `path` belongs to, hidden folders and virtualenvs skipped;
        None when there are more than MAX_PROJECT_FILES."""
        root = project_root(path)
        if root not in self._project_files:
            self._project_files[root] = python_files(root)
        return self._project_files[root]

    def files_mentioning(self, path: str, word: str) -> tuple[str, ...] | None:
        """The project files whose text contains `word` as a whole word: a cheap filter before parsing."""
        root = project_root(path)
        key = (root, word)
        if key not in self._mentions:
            files = self.project_files(path)
            if files is not None and WORD.fullmatch(word.encode()):
                self._words_of_several_files(path)  # one pass over the project's text makes every file's filter
                wanted = word_bits([word.encode()])
                files = tuple(f for f in files if self._word_bits(f) & wanted == wanted)
            self._mentions[key] = None if files is None else tuple(f for f in files if file_mentions(f, word.encode()))
        return self._mentions[key]

    def read_project_text(self, path: str) -> None:
        """Read the text of `path`'s project now (the word filters and the words several files share, which the
        first file let go asks for): processes forked afterwards start with them instead of each reading it."""
        self._words_of_several_files(path)

    def _words_of_several_files(self, path: str) -> frozenset[bytes] | None:
        """The words that two or more files of `path`'s project mention (a function's own file names it: another
        one names it too); None when the project is too big to read. Each file's word filter is made on the way."""
        root = project_root(path)
        if root not in self._shared_words:
            files = self.project_files(path)
            counts: Counter[bytes] = Counter()
            for file in files or ():
                try:
                    words = words_in(read_file(file))
                except OSError:
                    words = set()
                if file not in self._file_words:
                    self._file_words[file] = word_bits(words)
                counts.update(words)
            self._shared_words[root] = None if files is None else frozenset(word for word, count in counts.items() if count > 1)
        return self._shared_words[root]

    def _word_bits(self, path: str) -> int:
        """A digest of the words in a file (see `word_bits`): each file is read once for every question asked
        of the project's text, not once per question."""
        bits = self._file_words.get(path)
        if bits is None:
            try:
                bits = self._file_words[path] = word_bits(words_in(read_file(path)))
            except OSError:
                bits = self._file_words[path] = 0
        return bits

    def modules_mentioning(self, path: str, word: str, most: int) -> list[SemanticModel] | None:
        """The models of `path`'s project files that mention `word` (where a function of that name may be called);
        None when more than `most` do, or the project is too big to read. A result built on them depends on which
        files mention the word (a new caller may appear anywhere: a project-wide answer) and on those files'
        text, not on the rest of the project."""
        files = self._naming(path, word)
        if files is None:
            return None
        for file in files:
            self.consult_text(file, path)
        if len(files) > most:
            return None
        return [model for file in files if (model := self._model_for_this_check(file)) is not None]

    def dependency_targets_among(self, qualnames: list[str], path: str) -> list[str]:
        """Which of `qualnames` some module of `path`'s project names in `Depends(...)`/`Security(...)`,
        resolved in the module that names it, so a dependency defined in one module and used from
        another is known as one."""
        question = ("dependency_targets", os.path.abspath(path), "\n".join(sorted(qualnames)))
        return self._answered(question)  # type: ignore[return-value]

    def runs_only_at_startup(self, qualname: str, path: str) -> bool:
        """Whether every call of the function `qualname` in `path`'s project is made at startup: from a lifespan
        or a startup event handler, or from functions that are themselves called only at startup."""
        return self._answered(("startup_only", os.path.abspath(path), qualname))[0]  # type: ignore[index]

    def _startup_only(
        self, qualname: str, path: str, following: frozenset[str], followed: set[str], home: str | None = None
    ) -> bool:
        """`runs_only_at_startup` of the function `qualname` of the file `home` (`path` when None), noting in
        `followed` each function whose callers it looked up."""
        followed.add(qualname)
        callers: list[tuple[str, ModuleFacts, str]] = []
        for file in self._files_calling(path, qualname, home or os.path.abspath(path)):
            facts = self.facts(file)
            if facts is not None:
                callers.extend((caller, facts, file) for caller in facts.callers.get(qualname, ()))
        if not callers:
            return False  # never called where this can see it (a callback, a task runner): may run any time
        return all(
            caller in facts.startup
            or bool(caller)
            and caller not in following
            and self._startup_only(caller, path, following | {caller}, followed, file)
            for caller, facts, file in callers
        )

    def _files_calling(self, path: str, qualname: str, home: str) -> Iterable[str]:
        """The files of `path`'s project that may call the function `qualname` of the file `home` by that name: its
        own, and those mentioning both its name and what holds it (`db` of `app.db.get_session`, `Repo` of
        `app.repo.Repo.get`), which an import of it, or the attribute chain reaching it, names."""
        name, holder = name_and_holder(qualname)
        files = self.files_mentioning(path, name) or ()
        holding = set(self.files_mentioning(path, holder) or ()) if holder else None
        return [file for file in files if holding is None or file in holding or names_without_holder(file, home)]

    def _startup_callers_hold(self, followed: list[str], changed: dict[str, tuple[bytes, set[bytes]]]) -> bool | None:
        """Whether a "runs only at startup" answer holds, by the files changed since: it read, of each file, only the
        calls of the functions it `followed` (a file calling one mentions its name, so its facts were read, and kept).
        It holds when every changed file makes the same calls of those from the same functions, those that run at
        startup the same; None when that does not decide it (a file created since: its facts then are unknown)."""
        before = self.facts_when_answered
        for file in changed:
            if file not in before or _startup_calls(before[file], followed) != _startup_calls(self.facts(file), followed):
                return None
        return True

    def app_argument_keys(self, qualname: str, path: str) -> list[str]:
        """Where some call in `path`'s project passes an app to the function `qualname`: positions ("0") and
        keyword names."""
        return self._answered(("app_arguments", os.path.abspath(path), qualname))  # type: ignore[return-value]

    def _app_arguments(self, qualname: str, path: str) -> list[str]:
        keys: set[str] = set()
        for file in self.files_mentioning(path, qualname.rpartition(".")[2]) or ():
            facts = self.facts(file)
            if facts is not None:
                keys.update(facts.app_arguments.get(qualname, ()))
        return sorted(keys)

    def stored_session_kinds(self, key: str, path: str) -> list[str]:
        """The kinds of session ("async", "sync", "" when unknown) that the application modules of `path`'s project keep
        under `key` (`state.db`, `ctx[db]`: see `SemanticModel.session_stores`), from the facts of the files whose
        text has such a store."""
        return self._answered(("session_stores", os.path.abspath(path), key))  # type: ignore[return-value]

    def _session_stores(self, key: str, path: str) -> list[str]:
        holder, _, name = key.rstrip("]").replace("[", ".").partition(".")
        wanted = word_bits([holder.encode(), name.encode()])
        kinds: set[str] = set()
        for file in self.project_files(path) or ():
            if self._word_bits(file) & wanted != wanted or not self.runs_in_the_app(file):
                continue  # does not mention both words, or is a test, migration or script
            facts = self.facts(file) if key in self._store_keys(file) else None
            if facts is not None and key in facts.session_stores:
                kinds.add(facts.session_stores[key])
        return sorted(kinds)

    def _store_keys(self, path: str) -> frozenset[str]:
        """The places a file's text stores something in, as `session_stores` keys (`state.db`, `ctx[db]`): read once
        per file for every such question."""
        keys = self._file_store_keys.get(path)
        if keys is None:
            try:
                text = read_file(path)
            except OSError:
                text = b""
            keys = self._file_store_keys[path] = store_keys_in(text)
        return keys

    def declared_dialects(self, path: str) -> frozenset[str]:
        """The databases whose drivers `path`'s project declares, in any group of its dependencies (see
        core.manifests)."""
        return frozenset(self._answered(("declared_dialects", os.path.abspath(path), "")))  # type: ignore[arg-type]

    def uses_asyncio_only(self, path: str) -> bool:
        """Whether `path`'s project talks to its database through SQLAlchemy's (or SQLModel's) asyncio extension
        alone: an application module imports it, and none imports a sync `Session`, `sessionmaker`,
        `scoped_session` or `create_engine`. Read from the import lines of the files that mention them."""
        return self._answered(("asyncio_only", os.path.abspath(path), ""))  # type: ignore[return-value]

    def _asyncio_only(self, path: str) -> bool:
        files = {*(self.files_mentioning(path, "sqlalchemy") or ()), *(self.files_mentioning(path, "sqlmodel") or ())}
        uses_asyncio = False
        for file in sorted(files):
            if not self.runs_in_the_app(file):
                continue
            try:
                text = read_file(file)
            except OSError:
                continue
            if DATABASE_IMPORTS["sync"].search(text):
                return False
            uses_asyncio = uses_asyncio or DATABASE_IMPORTS["asyncio"].search(text) is not None
        return uses_asyncio

    def reexported_api(self, module: str, name: str, from_path: str) -> str | None:
        """The qualified name of a SQLAlchemy, SQLModel, FastAPI or Starlette API that the project module
        `module` imports as `name` and so re-exports (`from sqlalchemy.ext.asyncio import AsyncSession` in
        `app/db.py`), read from the module's import lines; None for anything else."""
        path = self.find_module(module, from_path)
        if path is None:
            return None
        key = (path, name)
        if key not in self._reexports:
            self._reexports[key] = None
            try:
                text = read_file(path)
            except OSError:
                text = b""
            for source, imported in API_IMPORT.findall(text):
                if re.search(rb"(?:^|[\s,(])" + name.encode() + rb"(?:$|[\s,)])", imported):
                    self._reexports[key] = f"{source.decode()}.{name}"
                    break
        self.consult(path, from_path)
        return self._reexports[key]

    def _dependency_namers(self, path: str) -> list[str]:
        """The project files that mention `Depends` or `Security`."""
        root = project_root(path)
        if root not in self._namers:
            files = {*(self.files_mentioning(path, "Depends") or ()), *(self.files_mentioning(path, "Security") or ())}
            self._namers[root] = sorted(files)
        return self._namers[root]

    def answer(self, question: tuple[str, str, str]) -> object:
        """The current answer to a project-wide question a cached result recorded, to check it still holds."""
        kind, path, name = question
        if kind == "dependency_targets":
            qualnames = name.split("\n")
            filters = dependency_filters(qualnames)
            found: set[str] = set()
            for file in self._dependency_namers(path):
                facts = self._dependency_facts(file, filters, names_without_holder(file, path))
                if facts is not None:
                    found |= facts.dependency_targets
            return [qualname for qualname in qualnames if qualname in found]
        if kind == "project_files":
            return listing_digest(self.project_files(path))
        if kind == "mentioning":
            files = self.files_mentioning(path, name)
            return None if files is None else list(files)
        if kind == "asyncio_only":
            return self._asyncio_only(path)
        if kind == "several_files":  # whether files other than its own name `name` (see `_forgone`)
            named = self._words_of_several_files(path)
            return None if named is None else name.encode() in named
        if kind == "startup_only":  # with the functions followed, by which the changed files judge it
            followed: set[str] = set()
            return [self._startup_only(name, path, frozenset({name}), followed), sorted(followed)]
        if kind == "app_arguments":
            return self._app_arguments(name, path)
        if kind == "session_stores":
            return self._session_stores(name, path)
        if kind == "declared_dialects":
            manifests = manifest_files(path)
            for manifest in manifests:  # a result depends on what they declare
                self.consult_text(manifest, path)
            return sorted(declared_dialects(manifests))
        raise ValueError(f"unknown project question {kind!r}")

    def still_answers(self, question: tuple[str, str, str], recorded: object) -> bool:
        """Whether the project still gives the answer a stored result or record recorded (as the project was when
        the stored answers were last checked): from the files changed since, where the kind of question allows,
        else by answering it again."""
        decided = self._decided_by_changes(question, recorded) if self.changed_since_answers is not None else None
        return decided if decided is not None else self.answer_now(question) == recorded

    def _decided_by_changes(self, question: tuple[str, str, str], recorded: object) -> bool | None:
        """`still_answers` for the questions about the project's text, judged by the files changed since: the others
        kept their text, so what they gave the answer stands. None when that does not decide it."""
        kind, path, name = question
        files = self.project_files(path)
        changed = self._changed_in_project(path)
        if files is None or changed is None:
            return None
        if kind in FACTS_QUESTIONS and self._facts_hold(question, changed):
            return True  # what they read of each module is in its facts: of the changed ones, the same as then
        if kind == "startup_only" and isinstance(recorded, list) and len(recorded) == 2 and isinstance(recorded[1], list):
            return self._startup_callers_hold(recorded[1], changed)
        if kind == "several_files" and recorded is False:
            # At most one file named it: unless a changed file names it now, at most one still does.
            return None if any(name.encode() in words for _, words in changed.values()) else True
        if kind == "mentioning" and isinstance(recorded, list):
            word, mentioned = name.encode(), set(recorded)
            return [f for f in files if (text_mentions(changed[f][0], word) if f in changed else f in mentioned)] == recorded
        if kind == "dependency_targets" and isinstance(recorded, list):
            # Which of them modules name in `Depends(...)`: a changed module may name one now, and each named before
            # is still named if an unchanged module the stored facts say names it still counts (see `answer`).
            qualnames = name.split("\n")
            filters = dependency_filters(qualnames)
            named: set[str] = set()
            for file, (text, _) in changed.items():
                facts = self._dependency_facts(file, filters, names_without_holder(file, path)) if names_dependencies(text) else None
                named |= facts.dependency_targets if facts is not None else set()
            if named.intersection(qualnames) - set(recorded):
                return False
            root = project_root(path)
            for qualname in set(recorded) - named:
                if not any(
                    (facts := self._still_names_dependencies(file, filters, names_without_holder(file, path))) is not None
                    and qualname in facts.dependency_targets
                    for file in self._stored_namers().get(qualname, ()) if file not in changed and project_root(file) == root
                ):
                    return None
            return True
        return None

    def _facts_hold(self, question: tuple[str, str, str], changed: dict[str, tuple[bytes, set[bytes]]]) -> bool:
        """Whether each file changed since the stored answers were checked gives `question` what it gave then: the same
        module facts (a comment, a function body that calls, stores and names the same), or, for a file whose facts no
        stored answer read, none that the question reads now."""
        if question not in self._facts_held:
            before = self.facts_when_answered
            held = True
            for file in [*changed, *self.facts_resting_on(changed) - changed.keys()]:
                now = self.facts(file)  # each one's, known before or not: the cache keeps them for the next run
                if file not in before:
                    held = False
                elif before[file] is None:
                    held = held and (now is None or not _reads_facts_of(question, now, self.runs_in_the_app(file)))
                else:
                    held = held and now == before[file]
            self._facts_held[question] = held
        return self._facts_held[question]

    def _dependency_facts(self, path: str, filters: list[tuple[int, int]], own: bool) -> ModuleFacts | None:
        """The module facts of a file that names `Depends` or `Security`, when the answer to which of some functions of
        one module modules name reads them (`filters`: see `dependency_filters`): when it mentions the name of one,
        and, unless it may name them without it (`own`: see `names_without_holder`), what holds it."""
        bits = self._word_bits(path)
        return self.facts(path) if any(bits & wanted[own] == wanted[own] for wanted in filters) else None

    def _still_names_dependencies(self, path: str, filters: list[tuple[int, int]], own: bool) -> ModuleFacts | None:
        """`_dependency_facts` of an unchanged file, when it names `Depends` or `Security`."""
        try:
            text = read_file(path)
        except OSError:
            return None
        return self._dependency_facts(path, filters, own) if names_dependencies(text) else None

    def _stored_namers(self) -> dict[str, list[str]]:
        """The files whose stored module facts name each dependency."""
        if self._namers_stored is None:
            self._namers_stored = {}
            for path, (_, facts) in self.stored_facts.items():
                for target in facts.dependency_targets:
                    self._namers_stored.setdefault(target, []).append(path)
        return self._namers_stored

    def _changed_in_project(self, path: str) -> dict[str, tuple[bytes, set[bytes]]] | None:
        """The files of `path`'s project changed since the stored answers were last checked, each with its text and
        words now (a file gone has none); None when unknown, or too many to judge answers by."""
        root = project_root(path)
        if root not in self._changed_texts:
            changed = self.changed_since_answers
            mine = [file for file in changed or () if project_root(file) == root]
            if changed is None or len(mine) > MAX_CHANGED_FILES_JUDGED:
                self._changed_texts[root] = None
            else:
                files = self._project_file_set(path)
                texts = {}
                for file in mine:
                    try:
                        text = read_file(file) if file in files else b""
                    except OSError:
                        text = b""
                    texts[file] = (text, words_in(text))
                self._changed_texts[root] = texts
        return self._changed_texts[root]

    def answer_now(self, question: tuple[str, str, str]) -> object:
        """`answer`, computed once for all the stored results and records that rest on it (the project does not
        change while they are checked)."""
        if question not in self._answers_now:
            self._answers_now[question] = self.answer(question)
        return self._answers_now[question]

    def _answered(self, question: tuple[str, str, str]) -> object:
        result = self.answers[question] = self.answer(question)
        for reads in self._readings(question[1]):
            reads.answers[question] = result
        return result

    def module_engine_fate(self, qualname: str, model: SemanticModel) -> EngineFate | None:
        """What the whole project does with the module-level engine `qualname` of `model`'s file: read in
        that file and in every file importing it (or a re-export of it), with an engine kept on an app's
        state counted as disposed when a `.dispose` may reach it. None when the project is too big to read."""
        key = (os.path.abspath(model.path), qualname)
        if key not in self._engine_fates:
            with self._gathering_reads() as reads:
                self._engine_fates[key] = (self._follow_module_engine(qualname, model), reads)
            return self._engine_fates[key][0]
        fate, reads = self._engine_fates[key]
        self._rest_on(reads, model.path)  # read once, for the first asker: each later one rests on it too
        return fate

    def disposes_state(self, store: SemanticModel, attributes: set[str]) -> bool:
        """Whether a `.dispose` of the project may reach an engine that `store`'s file keeps on an app's
        state under one of `attributes`: `<x>.state.<attr>.dispose()` or an untraced dispose, in that file,
        a file it imports from or a file importing from it. True when the project is too big to read."""
        disposers = self._naming(store.path, "dispose")
        importers = self._importers(store)
        if disposers is None or importers is None:
            return True
        neighbours = {os.path.abspath(store.path), *self._imported_files(store), *importers}
        for path in neighbours.intersection(disposers):
            self.consult_text(path, store.path)
            facts = self.facts(path)
            if facts is not None and (attributes & facts.disposed_state or facts.disposes_untraced):
                return True
        return False

    def is_imported(self, model: SemanticModel) -> bool | None:
        """Whether another file of the project imports from `model`'s file; None when the project is too big to read."""
        importers = self._importers(model)
        return None if importers is None else bool(importers)

    def _follow_module_engine(self, qualname: str, model: SemanticModel) -> EngineFate | None:
        fate = EngineFate()
        origin = os.path.abspath(model.path)
        pending = [(qualname, origin)]
        followed = {qualname}
        while pending:
            name, home = pending.pop()
            module, _, attribute = name.rpartition(".")
            # A file reading the name names it, and may import it; the module itself need not name itself.
            naming = self._naming(home, attribute)
            importing = self._may_import(module, home)
            if naming is None or importing is None:
                return None
            for path in importing.intersection(naming) | {home}:
                self.consult_text(path, origin)
                other = self.model_for(path)
                # Another project's module of the same name (a sibling example app, a vendored copy) is not it.
                if other is None or path != home and self.find_module(module, path) != home:
                    continue
                found = engine_fate(other, module_uses(other, name))
                # A test, migration or script runs in a process of its own: what it hands the engine to is not the
                # app's (an Alembic env borrowing it); a disposal there still says who is meant to dispose it.
                fate.handed_on |= found.handed_on and (path == origin or self.runs_in_the_app(path))
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
            if file == path or not self.runs_in_the_app(file):
                continue
            self.consult_text(file, path)
            facts = self.facts(file)
            if facts is not None and self._imports_file(facts.imports, file, model):
                found.append(file)
        return found

    def _may_import(self, module: str, path: str) -> set[str] | None:
        """The project files that may import from `module` (the file `path`), by their text: they name its
        last part (`db`), and name its top-level package (`app`) or lie in that package (`from . import db`)."""
        parts = module.split(".")
        naming = self._naming(path, parts[-1])
        top = self._naming(path, parts[0])
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

    def runs_in_the_app(self, path: str) -> bool:
        """Whether a project file is application (or example) code, by its path and the project's `role-paths`: a
        test, a migration or a script runs in a process of its own, so what it does with a module's engine is
        not what the app does."""
        return self.roles.role_of(path) in SERVING_ROLES

    def _naming(self, path: str, word: str) -> tuple[str, ...] | None:
        """`files_mentioning`, for code that reads those files: what it computes rests on which files mention the word
        (on every file, when the project is too big to read)."""
        files = self.files_mentioning(path, word)
        if files is None:
            self._consult_project(path)
        else:
            self._answered(("mentioning", os.path.abspath(path), word))
        return files


def _reads_facts_of(question: tuple[str, str, str], facts: ModuleFacts, in_app: bool) -> bool:
    """Whether answering `question` (one of FACTS_QUESTIONS) may read these facts of a module (`in_app`: one that runs
    in the app): what it names in `Depends(...)`, passes an app to, stores a session under, imports; for what runs
    only at startup, any call it makes (the callers are followed through the project)."""
    kind, _, name = question
    if kind == "dependency_targets":
        return not facts.dependency_targets.isdisjoint(name.split("\n"))
    if kind == "app_arguments":
        return name in facts.app_arguments
    if kind == "session_stores":
        return name in facts.session_stores
    if kind == "asyncio_only":
        return in_app and bool(facts.database_imports)
    return bool(facts.callers or facts.startup)


def _startup_calls(facts: ModuleFacts | None, followed: list[str]) -> list[tuple[str, list[str], list[str]]]:
    """What a module gives a "runs only at startup" answer that followed these functions: the functions calling each,
    and which of those run at startup."""
    if facts is None:
        return []
    calls = ((qualname, facts.callers[qualname]) for qualname in followed if qualname in facts.callers)
    return [(qualname, sorted(callers), sorted(callers & facts.startup)) for qualname, callers in calls]
