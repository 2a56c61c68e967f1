"""The project index: facts about other modules of the project, loaded lazily and cached.

Only the modules that a checked file actually imports from are read, so a file
that imports nothing from the project costs nothing here.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
from collections import Counter
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import Callable, Collection, Iterable, Iterator

from flake8_async_sqla.core.engines import EngineFate, SqliteFacts, engine_fate, module_uses, sqlite_facts
from flake8_async_sqla.core.layout import (
    content_digest, file_stamp, module_file, project_root, python_files, search_folders,
)
from flake8_async_sqla.core.manifests import declared_dialects, manifest_files
from flake8_async_sqla.core.model import SemanticModel
from flake8_async_sqla.core.module_facts import ModuleFacts, ModuleReads, ReleasedModule
from flake8_async_sqla.core.names import EXTERNAL_ROOTS
from flake8_async_sqla.core.options import DEFAULT_OPTIONS, AnalysisOptions
from flake8_async_sqla.core.parsing import ParseFailure, parse
from flake8_async_sqla.core.project_text import (
    API_IMPORT, DATABASE_IMPORTS, UNSAVED_BUFFERS, WORD, dependency_filters, file_mentions, listing_digest,
    name_and_holder, names_dependencies, names_without_holder, plain_definitions, read_file, store_keys_in,
    text_mentions, word_bits, words_in,
)
from flake8_async_sqla.core.roles import DEFAULT_POLICY, SERVING_ROLES, RolePolicy
from flake8_async_sqla.core.summaries import SOLVER, UNKNOWN_EFFECTS, FunctionSummary, Symbol

# How many names a module-level engine is followed under (re-exports: `from .db import engine`).
MAX_ENGINE_ALIASES = 32
# The project-wide questions whose answers read nothing of a module but its facts (and its path, and the project's
# files): they hold while the changed files keep their facts (see `ProjectIndex.still_answers`).
FACTS_QUESTIONS = frozenset({"dependency_targets", "startup_only", "app_arguments", "session_stores", "asyncio_only"})
# Beyond this many files changed since a cache stored its answers, they are answered again rather than judged by
# the changes (see `ProjectIndex.still_answers`).
MAX_CHANGED_FILES_JUDGED = 64
# How many names a run judging by changes looks for file by file before it reads the words of every file instead.
MAX_NAME_SEARCHES = 4
# How many released modules' models are kept once rebuilt (for the rules that read another module's code).
MAX_REBUILT_MODELS = 8
# How many modules modelled to answer another file's lookups are kept for their own check, which then
# reuses the model (flake8 checks files in name order: a router before the services it calls). About a
# quarter of a MiB each.
MAX_KEPT_LOOKUP_MODELS = 64


class ProjectIndex:
    def __init__(self, options: AnalysisOptions = DEFAULT_OPTIONS, roles: RolePolicy = DEFAULT_POLICY) -> None:
        self.options = options
        self.roles = roles  # where the project's tests, migrations and scripts are, for what runs in the app
        self._models: dict[str, tuple[tuple[int, int], SemanticModel | None]] = {}
        self._released: dict[str, tuple[tuple[int, int], ReleasedModule]] = {}
        # Models rebuilt for a released module (a rule needing its code, not just its names): the latest few.
        self._rebuilt: dict[str, tuple[tuple[int, int], SemanticModel | None]] = {}
        # What the index kept of a file let go before its own check (a module modelled for a lookup), set aside
        # while the check's model stands in: the same content, so the same summaries when that model goes.
        self._released_earlier: dict[str, tuple[tuple[int, int], ReleasedModule]] = {}
        # Modules modelled only to answer lookups, oldest first: beyond `kept_lookup_models`, let go (see `release`).
        self._modelled_for_lookups: dict[str, None] = {}
        self._held_for_this_check: list[SemanticModel] = []  # see `_model_for_this_check`
        # Whether modules let go are noted for other processes (see `shared`), and those noted since last asked.
        self.sharing = False
        self.newly_released: list[str] = []
        self.kept_lookup_models = MAX_KEPT_LOOKUP_MODELS
        self._following: set[tuple[str, str]] = set()  # re-exports being followed, against import cycles
        self._stamps: dict[str, tuple[int, int] | None] = {}  # read during one file's check (see `refresh`)
        self._found_modules: dict[tuple[str, str], str | None] = {}
        self._folders_of: dict[str, str] = {}  # importing file -> its folder, for `find_module` (asked ~25 times a file)
        # (module as a path without suffix, folder) -> its file, searched from that folder up (see `_find_module_file`).
        self._found_from: dict[tuple[str, str], str | None] = {}
        self._folders: dict[str, bool] = {}  # path -> whether it is a folder (see `_find_module_file`)
        # Files whose names or imports were read since the last reset: a cached result depends on them, and
        # on whatever their own cached results depend on (what a module exports rests on what it imports).
        self.consulted: set[str] = set()
        # Files read for project-wide facts since the last reset (every file of the project): a cached result
        # depends on them too, but only on their own content.
        self.consulted_widely: set[str] = set()
        # Module names looked up since the last reset, (module, importing folder) -> the file found (None: not a
        # project module): a cached result holds only while each resolves as it did (a module created, renamed,
        # or shadowed by a nearer one changes what the result would say).
        self.resolved: dict[tuple[str, str], str | None] = {}
        # Project-wide answers given since the last reset, (question, path, name) -> answer: a cached
        # result holds only while the project still gives the same ones (see `answer`).
        self.answers: dict[tuple[str, str, str], object] = {}
        # Module facts by path and content digest: those a cache handed in, and those built here since.
        self.stored_facts: dict[str, tuple[str, ModuleFacts]] = {}
        self.new_facts: dict[str, tuple[str, ModuleFacts]] = {}
        self._facts: dict[str, tuple[tuple[int, int] | None, ModuleFacts | None]] = {}
        self.modelled = 0  # files read and modelled, for `check --verbose`
        # The content digest of each file the index parsed without fault (for the newest syntax): a file whose own
        # check needs no tree need not be parsed again only to learn that it parses (see `parsed`).
        self._parsed: dict[str, str] = {}
        # Project files the index could not read or parse: path -> (why, the line at fault or 0). A result that
        # rests on one may lack what it would have told; `check` says which they are.
        self.unreadable: dict[str, tuple[str, int]] = {}
        # Project-wide facts, built lazily and kept per project root.
        self._project_files: dict[str, tuple[str, ...] | None] = {}
        self._namers: dict[str, list[str]] = {}
        # Per module, by its text: the names a top-level `class`/`def` defines once and nothing else binds.
        self._plain_definitions: dict[str, tuple[tuple[int, int] | None, frozenset[bytes]]] = {}
        self._mentions: dict[tuple[str, str], tuple[str, ...] | None] = {}
        self._file_words: dict[str, int] = {}  # path -> `word_bits` of its words
        self._shared_words: dict[str, frozenset[bytes] | None] = {}  # root -> words of two files or more
        self.effects_rebuilt = 0  # effects of forgone functions asked after all (see `_forgone`): how often it misses
        self._interfaces: dict[str, tuple[ReleasedModule, str]] = {}  # path -> (module, `interface_digest`)
        self._reexports: dict[tuple[str, str], str | None] = {}  # (module file, name) -> the API it re-exports
        self._engine_fates: dict[tuple[str, str], tuple[EngineFate | None, ModuleReads]] = {}  # with what computing each read
        self._file_store_keys: dict[str, frozenset[str]] = {}  # path -> `_store_keys`
        self._digests_now: dict[str, tuple[tuple[int, int] | None, str | None]] = {}  # see `_digest_now`
        self._resting: dict[frozenset[str], set[str]] = {}  # see `facts_resting_on`
        self._stems: tuple[frozenset[str], frozenset[str]] | None = None  # see `_changed_stems`
        self._answers_now: dict[tuple[str, str, str], object] = {}  # see `answer_now`
        # Module records (see `records`): whether reads are noted, those being noted per reading file (absolute
        # path), the files whose code is asking the index now (innermost last: each read is theirs too), and the
        # modules let go since their records were last drained, with what they read.
        self._recording = False
        self._reads: dict[str, ModuleReads] = {}
        # The functions of other modules whose effects each module's functions read (by module name), and the
        # modules known here by name, to tell which module a function is of (see `_effect_read`).
        self._effect_reads: dict[str, set[str]] = {}
        self._module_names: set[str] = set()
        self._module_of_function: dict[str, tuple[str | None, int]] = {}  # see `_function_module`
        self._readers: list[str] = []
        self._absolute_paths: dict[str, str] = {}  # see `_absolute`
        self._checked_digests: dict[str, str] = {}  # see `checking`
        self._unrecorded: dict[str, ModuleReads] = {}
        # What each module kept on release read (see `interface_reads`).
        self._interface_reads: dict[str, ModuleReads] = {}
        # Stored module records that hold (see `take_records`): path -> (stamp, what it read, module as JSON text).
        self._adoptable: dict[str, tuple[tuple[int, int], dict, str]] = {}
        self.records_taken: set[str] = set()  # the paths of those, also once adopted: the others are not stored again
        # The project files changed, created or deleted since the stored answers were last checked, when the cache
        # knows (see `still_answers`).
        self.changed_since_answers: frozenset[str] | None = None
        # The module facts of those files then, where the cache knows them; None for a file whose facts no stored
        # answer read (see `_facts_hold`).
        self.facts_when_answered: dict[str, ModuleFacts | None] = {}
        self._facts_held: dict[tuple[str, str, str], bool] = {}  # question -> see `_facts_hold`
        self._changed_texts: dict[str, dict[str, tuple[bytes, set[bytes]]] | None] = {}  # root -> see `_changed_in_project`
        self._namers_stored: dict[str, list[str]] | None = None  # see `_stored_namers`
        # Of the stored records whose modules are modelled again: the names each forwent, and the files it noted
        # naming others (see `_named_elsewhere_by_changes`).
        self._names_before: dict[str, tuple[set[str], dict[str, str]]] = {}
        self._file_sets: dict[str, frozenset[str]] = {}  # root -> its project's files (see `_project_file_set`)
        self._read_by: dict[str, set[str]] = {}  # path -> the files whose code read its names, when noted (see `_forgone`)
        self._searches_left = MAX_NAME_SEARCHES  # see `_named_by_words`

    def refresh(self) -> None:
        """Forget the files' modification stamps read so far: a file may change between two checks (an
        editor's, a long-lived process), but is taken as unchanged within one."""
        self._stamps.clear()

    def forget(self, path: str) -> None:
        """Drop what the index learnt of `path` and every project-wide answer (a long-lived process, an editor's:
        the file was saved, created, deleted, or its unsaved buffer changed or closed)."""
        path = os.path.abspath(path)
        self._adoptable.clear()  # judged against the project as it was
        self._answers_now.clear()
        self.changed_since_answers = None  # the stored answers' project is not this one
        for per_file in (
            self._models, self._released, self._released_earlier, self._rebuilt, self._facts, self._interfaces, self._file_words,
            self._plain_definitions, self._file_store_keys, self._digests_now, self._reads, self._interface_reads, self._read_by,
        ):
            per_file.pop(path, None)
        for other in [other for other, (_, facts) in self._facts.items() if facts is not None and path in facts.reads]:
            del self._facts[other]  # their stores rest on its names
        for project_wide in (
            self._project_files, self._shared_words, self._namers, self._mentions, self._found_modules, self._found_from, self._folders,
            self._reexports, self._engine_fates, self._changed_texts, self._facts_held, self._file_sets, self._resting,
        ):
            project_wide.clear()
        self._stamps.clear()

    def _stamp(self, path: str) -> tuple[int, int] | None:
        if path not in self._stamps:
            buffer = UNSAVED_BUFFERS.get(path)
            # An unsaved buffer's stamp stands for its content: what the index kept of it holds while the text does.
            self._stamps[path] = file_stamp(path) if buffer is None else (-1, int(content_digest(buffer), 16))
        return self._stamps[path]

    def cached_model(self, path: str) -> SemanticModel | None:
        """The model already built for `path` (as another file's import), if the file is unchanged."""
        path = os.path.abspath(path)
        cached = self._models.get(path)
        if cached is not None and cached[1] is not None and cached[0] == self._stamp(path):
            return cached[1]
        return None

    def register(self, model: SemanticModel) -> None:
        """Make the model of a file being checked the one other modules see for that path."""
        self._module_names.add(model.module)
        path = os.path.abspath(model.path)
        stamp = self._stamp(path)
        if stamp is not None:
            replaced = self._models.get(path, (None, None))[1]
            self._models[path] = (stamp, model)
            self._adopted(path)  # a stored record that holds: its summaries answer for this model's
            earlier = self._released.pop(path, None)
            # When reads are noted, it stands in only if what it read is known: the check's result rests on that.
            if earlier is not None and earlier[0] == stamp and (not self.recording or path in self._interface_reads):
                self._released_earlier[path] = earlier
            self._modelled_for_lookups.pop(path, None)
            if replaced is not None and replaced is not model:
                replaced.detach()  # one modelled for lookups: else it lingers as cyclic garbage

    def release(self, path: str) -> None:
        """Let the model of a checked file go, keeping what other modules look up in it: the index then
        holds names, not trees, and its memory follows the project's names rather than its code. Of the
        models built meanwhile to answer lookups, the latest `kept_lookup_models` stay for their own check
        (what was asked of them, a dependency's session say, was computed while they were at hand); the
        others go too."""
        path = os.path.abspath(path)
        self._modelled_for_lookups.pop(path, None)
        self._let_go(path)
        for held in self._held_for_this_check:
            held.detach()
        self._held_for_this_check.clear()
        while len(self._modelled_for_lookups) > self.kept_lookup_models:
            oldest = next(iter(self._modelled_for_lookups))
            del self._modelled_for_lookups[oldest]
            self._let_go(oldest)

    def _let_go(self, path: str) -> None:
        entry = self._models.get(path)
        if entry is None or entry[1] is None:
            return
        stamp, model = entry
        del self._models[path]
        earlier = self._released_earlier.pop(path, None)
        if earlier is not None and earlier[0] == stamp:
            self._reads.pop(path, None)  # the record made when it was let go first stands
            # Kept already: its summaries answer for this model's, whose effects need not be computed again.
            self._released[path] = earlier
            model.detach(lambda summary: partial(self._earlier_effect, earlier[1], path, stamp, summary.qualname))
            return
        if path in (self.changed_since_answers or ()) and path not in self._facts:
            self._facts_of_model(path, stamp, model)  # judging the stored answers asks them (see `_facts_hold`)
        # The names modules import repeat across the project (`sqlalchemy.orm.Session`): each is kept once.
        imports = {local: sys.intern(imported) for local, imported in model.imports.items()}
        with self.reading(path):  # what computing its names and summaries reads is the module's
            self._released[path] = (stamp, ReleasedModule(model.module, imports, model.defined_symbols(), sqlite_facts(model)))
            if self.sharing:
                self.newly_released.append(path)
            model.detach(self._forgone(path, stamp, model))
        if self.recording:  # once the summaries settled: what they read while settling counts
            self._unrecorded[path] = self._interface_reads[path] = self._reads.pop(path, None) or ModuleReads()

    def _earlier_effect(self, module: ReleasedModule, path: str, stamp: tuple[int, int], qualname: str, effect: str) -> object:
        """An effect of a function of a file let go twice (see `_released_earlier`), from the summary kept the
        first time; from the model built again for a function it does not keep (a nested one)."""
        kept = next((summary for summary in _function_summaries(module) if summary.qualname == qualname), None)
        return SOLVER.value(kept, effect) if kept is not None else self._rebuilt_effect(path, stamp, qualname, effect)

    def _forgone(self, path: str, stamp: tuple[int, int], model: SemanticModel) -> Callable[[FunctionSummary], Callable[[str], object] | None]:
        """Which summaries of a model being let go keep only what was asked of them so far, each with its fallback:
        those of functions that no other project file names and that their own module uses only by calling them
        (a route handler, a private helper). Other modules ask a function through its name (a call, an import, an
        attribute, `Depends(f)`), so computing the effects of these could only serve a question nobody asks; one
        asked after all is computed from a model built again. Special methods (`__init__`, `__aenter__`) run
        without being named and are always kept."""
        # Judged one name at a time in a run judging by changes (few modules are let go); else by the words every file
        # names, read once for the project.
        named = self._words_of_several_files(path) if self.changed_since_answers is None else None
        readers = sorted(self._read_by.get(path, ())) if self.recording and named is not None else []

        def fallback_of(summary: FunctionSummary) -> Callable[[str], object] | None:
            name = summary.qualname.rpartition(".")[2]
            # A name with other than ASCII letters is not one word to the filter: taken as named.
            if name.startswith("__") or not name.isascii():
                return None
            if self.changed_since_answers is not None:  # what this module says first: it asks no other file
                if _referenced_by_value(model, name) or self._named_elsewhere(path, name) is not False:
                    return None
            elif named is None:
                return None
            elif name.encode() in named:
                self._note_witness(path, name, self._likely_namer(path, name, readers))
                return None
            if _referenced_by_value(model, name):
                return None
            for reads in self._readings(path):  # kept only while no other file names it
                reads.answers[("several_files", path, name)] = False
            return partial(self._rebuilt_effect, path, stamp, summary.qualname)

        return fallback_of

    def _named_elsewhere(self, path: str, name: str) -> bool | None:
        """Whether a project file other than `path` names `name` (None when the project is too big to read): judged by
        the files changed since the stored record of `path` was checked where that decides it, else from the words
        of every file. In a run judging by changes (see `still_answers`), a file found naming it is noted with the
        module's record, for the next run to look at first."""
        decided = self._named_elsewhere_by_changes(path, name)
        return decided if decided is not None else self._named_by_words(path, name)

    def _named_by_words(self, path: str, name: str) -> bool | None:
        """`_named_elsewhere` from the words of every file of the project: in a run judging by changes, a search for
        the name (a few, before the words of every file are read), which ends at the first file naming it."""
        if self.changed_since_answers is not None and project_root(path) not in self._shared_words and self._searches_left:
            self._searches_left -= 1
            files = self.project_files(path)
            if files is None:
                return None
            word = name.encode()
            witness = next((f for f in files if f != path and file_mentions(f, word)), None)
            self._note_witness(path, name, witness)
            return witness is not None
        named = self._words_of_several_files(path)
        if named is None:
            return None
        if name.encode() not in named:
            return False
        if self.changed_since_answers is not None:
            self._note_witness(path, name, next((f for f in self.files_mentioning(path, name) or () if f != path), None))
        return True

    def _named_elsewhere_by_changes(self, path: str, name: str) -> bool | None:
        """`_named_elsewhere` from the stored record of `path`: a name it forgoes (no other file named it then) is named
        elsewhere now only if a changed file names it; a name it noted a file naming is, if that file still does."""
        before = self._names_before.get(path)
        changed = self._changed_in_project(path)
        if before is None or changed is None:
            return None
        forgone, witnesses = before
        word = name.encode()
        if name in forgone:
            witness = next((f for f, (_, words) in changed.items() if f != path and word in words), None)
            self._note_witness(path, name, witness)
            return witness is not None
        witness = witnesses.get(name)
        if witness is not None and witness != path and witness in self._project_file_set(path) and file_mentions(witness, word):
            self._note_witness(path, name, witness)
            return True
        return None

    def _likely_namer(self, path: str, name: str, readers: list[str]) -> str | None:
        """Of `readers` (the files whose code read the names of `path`), one whose word filter holds `name`: likely
        one naming it (whoever takes it as a witness checks it does)."""
        wanted = word_bits([name.encode()])
        return next((f for f in readers if f != path and self._word_bits(f) & wanted == wanted), None)

    def _note_witness(self, path: str, name: str, witness: str | None) -> None:
        if witness is not None and self.recording:
            self._reads.setdefault(self._absolute(path), ModuleReads()).witnesses[name] = witness

    def _project_file_set(self, path: str) -> frozenset[str]:
        root = project_root(path)
        if root not in self._file_sets:
            self._file_sets[root] = frozenset(self.project_files(path) or ())
        return self._file_sets[root]

    def _rebuilt_effect(self, path: str, stamp: tuple[int, int], qualname: str, effect: str) -> object:
        """An effect of a forgone function (see `_forgone`), from its module's model built again. What the module
        kept does not hold it: the result and the modules asking rest on the module's text instead."""
        self.consult_text(path, None)
        model = self.model_for(path) if self._stamp(path) == stamp else None
        scope = next((s for s in model.scopes if s.kind == "function" and s.qualname == qualname), None) if model is not None else None
        if scope is None:
            return UNKNOWN_EFFECTS[effect]
        self.effects_rebuilt += 1
        return SOLVER.value(model.function_summary(scope), effect)  # type: ignore[union-attr]

    def shared(self) -> dict[str, list]:
        """What the index kept of the modules it let go since last asked, for other processes (see `adopt`):
        path -> [stamp, module as JSON]."""
        found = {}
        for path in self.newly_released:
            released = self._released.get(path)
            if released is not None:
                found[path] = [list(released[0]), released[1].to_json()]
        self.newly_released = []
        return found

    def adopt(self, modules: dict[str, list], records: dict[str, str]) -> None:
        """Take what another process kept of modules it let go (`shared`), for the files unchanged since and not
        at hand here: lookups in them then need no model. `records` gives what each read, where it was noted
        (see `records`)."""
        for path, (stamp, data) in modules.items():
            if tuple(stamp) == self._stamp(path) and path not in self._released and path not in self._models:
                module = ReleasedModule.from_json(data)
                for summary in _function_summaries(module):
                    if not summary.complete:
                        summary.fallback = partial(self._rebuilt_effect, path, tuple(stamp), summary.qualname)
                self._released[path] = (tuple(stamp), module)
                self._module_names.add(module.module)
                if path in records:
                    self._interface_reads[path] = _reads_of_record(json.loads(records[path].partition("\t")[0]))

    def lookup(self, qualname: str, from_path: str) -> Symbol | None:
        parts = qualname.split(".")
        if parts[0] in EXTERNAL_ROOTS:
            return None  # the standard library and the frameworks are not project modules
        if not self.recording:
            return self._lookup(parts, from_path)
        self._readers.append(self._absolute(from_path))
        try:
            return self._lookup(parts, from_path)
        finally:
            self._readers.pop()

    def _lookup(self, parts: list[str], from_path: str) -> Symbol | None:
        for split in range(len(parts) - 1, 0, -1):
            path = self.find_module(".".join(parts[:split]), from_path)
            if path is None:
                continue
            rest = parts[split:]
            self.consult(path, from_path)
            return self._export(path, rest[0]) if len(rest) == 1 else None
        return None

    # ------------------------------------------------------ module records
    def consult(self, path: str, from_path: str) -> None:
        """The code of `from_path` read the names of the project file `path` (the cached results and records depend
        on them)."""
        self.consulted.add(path)
        for reads in self._readings(from_path):
            reads.interfaces.add(path)
        if self.recording:
            self._read_by.setdefault(path, set()).add(self._absolute(from_path))

    def consult_text(self, path: str, from_path: str | None) -> None:
        """The code of `from_path` (and of the files asking now) read the text of the project file `path`, not
        through its names."""
        self.consulted_widely.add(path)
        for reads in self._readings(from_path):
            reads.texts.add(path)

    def _readings(self, from_path: str | None) -> list[ModuleReads]:
        """The reads of each file whose code is asking now: `from_path`'s, and those of the files that asked what it
        is computing (a name another module imports: what computes it is read for both)."""
        if not self.recording:
            return []
        readers = {*self._readers, self._absolute(from_path)} if from_path is not None else set(self._readers)
        return [self._reads.setdefault(reader, ModuleReads()) for reader in readers]

    def checking(self, path: str, data: bytes) -> None:
        """The runner is about to check `data` as the content of `path`: a record of the module names it."""
        if self.recording:
            self._checked_digests[os.path.abspath(path)] = content_digest(data)

    @contextmanager
    def reading(self, path: str) -> Iterator[None]:
        """What is read meanwhile is read for the code of `path` too (see `records`)."""
        if not self.recording:
            yield
            return
        self._readers.append(self._absolute(path))
        try:
            yield
        finally:
            self._readers.pop()

    def _absolute(self, path: str) -> str:
        """`os.path.abspath(path)`, for the few paths that ask the index (asked for every read)."""
        found = self._absolute_paths.get(path)
        if found is None:
            found = self._absolute_paths[path] = os.path.abspath(path)
        return found

    @property
    def recording(self) -> bool:
        """Whether reads are noted, for module records (see `records`)."""
        return self._recording

    @recording.setter
    def recording(self, on: bool) -> None:
        self._recording = on
        SOLVER.on_read = self._effect_read if on else None

    def _effect_read(self, reader: str, read: str) -> None:
        """A probe of the function `reader` read an effect of the function `read`: noted for `reader`'s module when
        `read` is another module's (a package's submodule is another module)."""
        module = self._function_module(reader)
        if module is not None and self._function_module(read) != module:
            self._effect_reads.setdefault(module, set()).add(read)

    def _function_module(self, qualname: str) -> str | None:
        """The module a function is of: the longest prefix of its qualified name that names a module known here."""
        known = self._module_of_function.get(qualname)
        if known is None or known[1] != len(self._module_names):  # a module learnt since may be a longer prefix
            parts = qualname.split(".")
            prefixes = (".".join(parts[:end]) for end in range(len(parts) - 1, 0, -1))
            module = next((prefix for prefix in prefixes if prefix in self._module_names), None)
            known = self._module_of_function[qualname] = (module, len(self._module_names))
        return known[0]

    def records(self) -> Iterator[tuple[str, str]]:
        """The modules let go since last asked, each with a record that a later run can take instead of modelling the
        module again (see `take_records`): one line of text, the module's stamp, content digest, interface digest
        and what it read (the interfaces, file stamps, answers and module resolutions that held), a tab, and the
        module as JSON. Asked once every model the modules read was let go (after a file's check); each record is
        made as it is taken, so that a large project's are not all held at once."""
        pending, self._unrecorded = self._unrecorded, {}
        for path, reads in pending.items():
            released = self._released.get(path)
            # The content it was modelled from: parsed by the index for a lookup, or by the runner for its check.
            digest = self._parsed.get(path) or self._checked_digests.get(path)
            if released is None or digest is None:
                continue
            stamp, module = released
            module_json = _module_text(module)
            interfaces, texts = {}, set(reads.texts)
            for other in reads.interfaces - reads.texts - {path}:  # a text read holds it by its content
                interface = self.interface_digest(other)
                if interface is None:  # read from its text, or unreadable: it holds while the text does
                    texts.add(other)
                else:
                    interfaces[other] = interface
            deps = {
                "stamp": list(stamp),
                "digest": digest,
                "interface": self._interface_of(path, module, module_json),
                "interfaces": interfaces,
                "texts": {
                    other: list(text_stamp) if (text_stamp := self._stamp(other)) is not None else None
                    for other in sorted(texts)
                },
                "answers": [[*question, answer] for question, answer in sorted(reads.answers.items())],
                "resolved": [[*key, found] for key, found in sorted(_absolute_folders(reads.resolved).items())],
                "whole_project": reads.whole_project,
                "witnesses": dict(sorted(reads.witnesses.items())),
                "module": module.module,
                # The functions of other modules whose effects its functions read (see `_group_taken_on_trust`).
                "effect_reads": sorted(self._effect_reads.get(module.module, ())),
            }
            yield path, json.dumps(deps, sort_keys=True) + "\t" + module_json

    def take_records(self, records: dict[str, tuple[dict, str | None]]) -> None:
        """Take stored module records (`records`: path -> (what it read, the module as JSON text, None when its own
        file, a text or a module resolution it read changed, as the caller checked): those whose project-wide
        answers and the interfaces of the modules they read still hold are kept, and then stand for the module
        (its names and summaries) without a model. The records are judged in groups that read each other, those read
        first: a group holds when the interfaces its members read outside it hold, each the one recorded if its
        record held, else computed now from a model (which reads the groups judged before). Starts a run: what the
        index took or answered for an earlier run's cache is forgotten."""
        self._adoptable.clear()
        self._answers_now.clear()
        self._resting.clear()
        self.records_taken.clear()
        self._names_before = {
            path: (
                {name for kind, of, name, answer in deps["answers"] if kind == "several_files" and of == path and answer is False},
                dict(deps.get("witnesses", {})),
            )
            for path, (deps, module_json) in records.items() if module_json is None  # its module is modelled again
        }
        for group in _groups_read_first({path: deps["interfaces"] for path, (deps, _) in records.items()}):
            held = [path for path in group if records[path][1] is not None]
            if not held or not all(self._record_holds(records[path][0], group) for path in held):
                continue
            for path in held:
                deps, module_json = records[path]
                self._adoptable[path] = (tuple(deps["stamp"]), deps, module_json)  # type: ignore[arg-type]
                self._module_names.add(deps["module"])
            self.records_taken.update(held)
            if len(held) < len(group):
                self._group_taken_on_trust(group, held, records)

    def _group_taken_on_trust(
        self, group: set[str], held: list[str], records: dict[str, tuple[dict, str | None]]
    ) -> None:
        """A group of records that read each other, some of whose modules changed (`held`: those whose records hold on
        their own): the others are modelled again with the held records standing for their modules. The held ones
        stand for good when the changed modules keep the interfaces recorded, and no effect of a changed module reads,
        through held records, an effect that read one of the changed modules (an effect kept alive by a cycle of
        calls through an edited module could outlive the edit that removed its cause). Otherwise what was computed
        meanwhile is dropped, and every module of the group is modelled again when asked."""
        changed = [path for path in group if records[path][1] is None]
        released_before = set(self._unrecorded)
        kept = all(self.interface_digest(path, build=True) == records[path][0]["interface"] for path in changed)
        if kept and not self._feedback(changed, held, records):
            return
        for path in held:
            self._adoptable.pop(path, None)
            self.records_taken.discard(path)
        for path in {*held, *(set(self._unrecorded) - released_before)}:
            for table in (self._released, self._interfaces, self._interface_reads, self._unrecorded, self._rebuilt):
                table.pop(path, None)

    def _feedback(self, changed: list[str], held: list[str], records: dict[str, tuple[dict, str | None]]) -> bool:
        """Whether an effect of a changed module (as computed now) reads an effect of a held module that (as recorded)
        reads, through held modules, an effect of a changed one."""
        names = {path: records[path][0].get("module", "") for path in held}
        changed_names = [released[1].module for path in changed if (released := self._released.get(path)) is not None]

        def of(functions: Iterable[str], among: dict[str, str]) -> set[str]:
            return {
                path for path, name in among.items() for function in functions if name and function.startswith(name + ".")
            }

        pending = of((read for name in changed_names for read in self._effect_reads.get(name, ())), names)
        seen: set[str] = set()
        while pending:
            path = pending.pop()
            seen.add(path)
            reads = records[path][0].get("effect_reads", [])
            if any(read.startswith(name + ".") for name in changed_names for read in reads):
                return True
            pending |= of(reads, names) - seen
        return False

    def _record_holds(self, deps: dict, group: set[str]) -> bool:
        if not all(self.still_answers(tuple(question), answer) for *question, answer in deps["answers"]):  # type: ignore[arg-type]
            return False
        return all(
            other in group or self.interface_digest(other, build=True) == recorded
            for other, recorded in deps["interfaces"].items()
        )

    def read_behind(self, paths: Collection[str]) -> set[str]:
        """`paths`, the files that what the index keeps of each read when it was computed, and so on (see
        `interface_reads`, noted while `recording`): a module read before a check, for another file or to judge a
        stored record, is read for that check too when it rests on one that read it."""
        found, pending = set(paths), list(paths)
        while pending:
            reads = self._interface_reads.get(pending.pop())
            for other in (*reads.interfaces, *reads.texts) if reads is not None else ():
                if other not in found:
                    found.add(other)
                    pending.append(other)
        return found

    def interface_reads(self, path: str) -> ModuleReads | None:
        """What the names and summaries the index keeps of `path` read, when noted (see `recording`): a result
        recording the file's interface rests on them too, as its own check may not have read them (the module was let
        go before, for another file's lookups, and its summaries stand for the check's)."""
        path = os.path.abspath(path)
        self._released_module(path)  # a stored record that holds is taken now
        return self._interface_reads.get(path)

    def _adopted(self, path: str) -> None:
        """Make a stored record that holds for `path` what the index kept of the module (see `take_records`)."""
        stored = self._adoptable.pop(path, None)
        if stored is None or path in self._released:
            return
        stamp, deps, module_json = stored
        interface = deps["interface"]
        self._interface_reads[path] = _reads_of_record(deps)
        module = ReleasedModule.from_json(json.loads(module_json))
        for summary in _function_summaries(module):
            if not summary.complete:
                summary.fallback = partial(self._rebuilt_effect, path, stamp, summary.qualname)
        self._released[path] = (stamp, module)
        self._interfaces[path] = (module, interface)

    def _export(self, path: str, name: str) -> Symbol | None:
        module = self._released_module(path)
        if module is None:
            built = self._built(path, self._stamp(path))
            model = built[1] if built is not None else self._model_for_lookups(path)
            if model is None:
                return None
            if name in model.local_defs or name not in model.imports:
                # The file being checked, one a rule needed the code of, or one modelled for a lookup.
                return model.export(name)
            imports = model.imports
        elif name in module.symbols:
            return module.symbols[name]
        else:
            imports = module.imports
        # A name it imports is followed anew for each module asking, as from a module let go: the model memoises what it
        # exports, so the modules behind the name would be noted as read for the first module asking alone, and the
        # record of another would rest on this module's interface only, which does not change when they do.
        if name not in imports or (path, name) in self._following:
            return None
        self._following.add((path, name))
        try:
            return self.lookup(imports[name], path)
        finally:
            self._following.discard((path, name))

    def _model_for_lookups(self, path: str) -> SemanticModel | None:
        """A model built to answer lookups: let go with a later release (see `release`), unless it is among the
        latest few kept for the module's own check."""
        model = self.model_for(path)
        if model is not None and self._released_module(path) is None:
            self._modelled_for_lookups[path] = None
        return model

    def interface_digest(self, path: str, build: bool = False) -> str | None:
        """A digest of everything other modules may learn of a project module through the index: what it kept
        of the module when it let its model go (its names, their summaries), and which names its text defines
        plainly. A result resting on the module holds while this digest does, whatever else changed in it (a
        comment, a function body with the same effects). None when the module was not modelled here, unless
        `build`: then it is, for this question."""
        path = os.path.abspath(path)
        adoptable = self._adoptable.get(path)
        if adoptable is not None and adoptable[0] == self._stamp(path):
            return adoptable[1]["interface"]
        module = self._released_module(path)
        if module is None and build and self._model_for_lookups(path) is not None:
            self.release(path)
            module = self._released_module(path)
        if module is None:
            return None
        return self._interface_of(path, module)

    def _interface_of(self, path: str, module: ReleasedModule, module_text: str | None = None) -> str:
        """`interface_digest` of a module the index keeps, from its JSON text when given (`_module_text`)."""
        known = self._interfaces.get(path)
        if known is None or known[0] is not module:
            plain = sorted(name.decode() for name in plain_definitions(path))
            text = (module_text or _module_text(module)) + json.dumps(plain)
            known = self._interfaces[path] = (module, content_digest(text.encode()))
        return known[1]

    def sqlite_facts(self, path: str) -> SqliteFacts | None:
        """What a project module says about SQLite savepoints (see `engines.SqliteFacts`)."""
        path = os.path.abspath(path)
        module = self._released_module(path)
        if module is not None:
            return module.sqlite
        model = self._model_for_lookups(path)
        return sqlite_facts(model) if model is not None else None

    def imports_of(self, path: str) -> dict[str, str] | None:
        """What a project module imports (local name -> qualified name); None when it does not parse."""
        path = os.path.abspath(path)
        module = self._released_module(path)
        if module is not None:
            return module.imports
        model = self._model_for_lookups(path)
        return model.imports if model is not None else None

    def _released_module(self, path: str) -> ReleasedModule | None:
        """What the index kept of `path` after its check, while the file is unchanged."""
        if path in self._adoptable:
            self._adopted(path)
        released = self._released.get(path)
        return released[1] if released is not None and released[0] == self._stamp(path) else None

    def method_summary(
        self, class_qualname: str, method: str, from_path: str, seen: frozenset[str] = frozenset()
    ) -> FunctionSummary | None:
        """The summary of the method `method` of the project class `class_qualname`, or of the nearest of its bases
        in the project that defines it; None when it cannot be found."""
        symbol = self.lookup(class_qualname, from_path) if class_qualname not in seen else None
        klass = symbol.klass if symbol is not None else None
        if klass is None:
            return None
        if method in klass.methods:
            return klass.methods[method]
        for base in klass.base_qualnames:
            found = self.method_summary(base, method, from_path, seen | {class_qualname})
            if found is not None:
                return found
        return None

    def defines_plainly(self, qualname: str, from_path: str) -> bool:
        """Whether `qualname` is, by its module's text alone, a class or function defined once at the top of
        a project module and bound nowhere else there (so not, say, a session alias), when that module is
        not at hand: it spares modelling the module a router imports its request schemas from only to
        learn that an annotation names a class."""
        module, _, name = qualname.rpartition(".")
        path = self.find_module(module, from_path) if module else None
        if path is None:
            return False  # no project module
        stamp = self._stamp(path)
        if self._released_module(path) is not None or self._built(path, stamp) is not None:
            return False  # its names are at hand
        self.consult(path, from_path)
        known = self._plain_definitions.get(path)
        if known is None or known[0] != stamp:
            known = self._plain_definitions[path] = (stamp, plain_definitions(path))
        return name.encode() in known[1]

    def find_module(self, module: str, from_path: str, reader: str | None = None) -> str | None:
        """The project file of `module` imported from `from_path` (none for the standard library and the
        frameworks: they are not project modules), looked up for the code of `reader` (by default `from_path`'s:
        following a URL through another module, the code judging it is another's)."""
        if module.partition(".")[0] in EXTERNAL_ROOTS:
            return None
        folder = self._folders_of.get(from_path)
        if folder is None:
            folder = self._folders_of[from_path] = os.path.dirname(from_path)
        key = (module, folder)  # the search depends on the folder alone
        found = self.resolved[key] = self._resolved_now(module, folder)
        for reads in self._readings(from_path) + (self._readings(reader) if reader is not None else []):
            reads.resolved[key] = found
        return found

    def _find_module_file(self, relative: str, folders: tuple[str, ...]) -> str | None:
        """`find_module_file` of the module at `relative` (a path without suffix) from a file whose search folders are
        `folders`, the answer kept for each folder tried: the search from a folder (there, then from the one above)
        is the same for every file below it. Most folders tried lack the module's own folder: they are answered
        without asking for its files."""
        tried = []
        found = None
        for folder in folders:
            key = (relative, folder)
            if key in self._found_from:
                found = self._found_from[key]
                break
            tried.append(key)
            base = os.path.join(folder, relative)
            found = module_file(base) if self._is_folder(os.path.dirname(base)) else None
            if found is not None:
                break
        for key in tried:
            self._found_from[key] = found
        return found

    def _is_folder(self, path: str) -> bool:
        """Whether `path` is a folder (links followed), known without asking when its parent is not one."""
        known = self._folders.get(path)
        if known is None:
            parent = os.path.dirname(path)
            known = self._folders[path] = (parent == path or self._is_folder(parent)) and os.path.isdir(path)
        return known

    def model_for(self, path: str) -> SemanticModel | None:
        """The model of a project file. A released file's model is rebuilt and kept among the latest
        few such, not in the index for good."""
        path = os.path.abspath(path)
        stamp = self._stamp(path)
        cached = self._built(path, stamp)
        if cached is not None:
            return cached[1]
        if stamp is None:
            return None
        try:
            data = read_file(path)
        except OSError as error:
            self._cannot_read(path, error)
            return None
        return self._build(path, stamp, data)

    def _built(self, path: str, stamp: tuple[int, int] | None) -> tuple[tuple[int, int], SemanticModel | None] | None:
        built = (self._rebuilt if self._released_module(path) is not None else self._models).get(path)
        return built if built is not None and built[0] == stamp else None

    def _facts_of_model(self, path: str, stamp: tuple[int, int], model: SemanticModel) -> None:
        """Keep the module facts of a model about to be let go, as `facts` would give them."""
        try:
            data = read_file(path)
        except OSError:
            return
        digest = content_digest(data)
        if digest == self._parsed.get(path):  # the content the model is of
            facts = self._module_facts(path, model, data)
            self._facts[path] = (stamp, facts)
            self.new_facts[path] = (digest, facts)

    def _facts_from_model(self, path: str, stamp: tuple[int, int], data: bytes) -> ModuleFacts | None:
        """From the model built already, else from one built for this alone and let go at once (the file's
        own check, if it comes, builds its model again rather than the index holding every tree until then)."""
        built = self._built(path, stamp)
        if built is not None:
            return self._module_facts(path, built[1], data) if built[1] is not None else None
        if path in (self.changed_since_answers or ()):  # its interface is judged too: one model for both
            model = self._model_for_lookups(path)
            return self._module_facts(path, model, data) if model is not None else None
        self.modelled += 1
        model = self._model_of(path, data)
        if model is None:
            return None
        facts = self._module_facts(path, model, data)
        # Nothing outside holds the summaries this model made: they are left to their fallbacks.
        model.detach(lambda summary: partial(self._rebuilt_effect, path, stamp, summary.qualname))
        return facts

    def _module_facts(self, path: str, model: SemanticModel, data: bytes) -> ModuleFacts:
        """`ModuleFacts.of` the model, with the files its stores rest on (see `ModuleFacts.reads`) when reads are noted."""
        facts = ModuleFacts.of(model, data)
        if not facts.store_keys or not self.recording:
            return facts
        # What it read, and what computing the names it read read in turn (a re-export's resolves in another module,
        # maybe read first for another file).
        read: set[str] = set()
        resolved: dict[tuple[str, str], str | None] = {}
        pending = [path]
        while pending:
            reader = pending.pop()
            for reads in (self._reads.get(reader), self._interface_reads.get(reader)):
                if reads is not None:
                    pending.extend(reads.interfaces - read - {path})
                    read |= reads.interfaces
                    resolved.update(reads.resolved)
        read.discard(path)
        digests = {file: self._digest_now(file) for file in sorted(read)}
        return replace(
            facts,
            reads={file: digest for file, digest in digests.items() if digest is not None},
            resolved=tuple(sorted((module, folder, found or "") for (module, folder), found in resolved.items())),
        )

    def _digest_now(self, path: str) -> str | None:
        """The content digest of a file as it is now (read once per stamp); None when it cannot be read."""
        stamp = self._stamp(path)
        known = self._digests_now.get(path)
        if known is None or known[0] != stamp:
            try:
                digest = content_digest(read_file(path)) if stamp is not None else None
            except OSError:
                digest = None
            known = self._digests_now[path] = (stamp, digest)
        return known[1]

    def _reads_hold(self, facts: ModuleFacts, changed_only: bool = False) -> bool:
        """Whether the files stored facts rest on (see `ModuleFacts.reads`) have the content they had, and the module
        names they looked up resolve as they did; with `changed_only`, of those only the ones a file changed since the
        stored answers were checked may name (a module's name ends in its file's), when the cache knows which
        changed (facts stored earlier still, not read by an answer since, are checked whole when taken into use)."""
        stems = self._changed_stems() if changed_only else None
        return all(self._digest_now(file) == digest for file, digest in facts.reads.items()) and all(
            (self._resolved_now(module, folder) or "") == found
            for module, folder, found in facts.resolved
            if stems is None or module.rpartition(".")[2] in stems
        )

    def _changed_stems(self) -> frozenset[str] | None:
        """The last part of the module name of each file changed since the stored answers were checked (a package's
        for its `__init__`): a module created, deleted or renamed changes how a name ending so resolves, and no other."""
        changed = self.changed_since_answers
        if changed is None:
            return None
        if self._stems is None or self._stems[0] is not changed:
            stems = set()
            for file in changed:
                stem = os.path.splitext(os.path.basename(file))[0]
                stems.add(os.path.basename(os.path.dirname(file)) if stem == "__init__" else stem)
            self._stems = (changed, frozenset(stems))
        return self._stems[1]

    def _resolved_now(self, module: str, folder: str) -> str | None:
        """The project file of `module` imported from a file of `folder` (`find_module` without noting it as read)."""
        key = (module, folder)
        if key not in self._found_modules:
            self._found_modules[key] = self._find_module_file(module.replace(".", os.sep), search_folders(os.path.join(folder, "_")))
        return self._found_modules[key]

    def facts_resting_on(self, changed: Collection[str]) -> set[str]:
        """The files whose stored facts rest on one of `changed`, or on a module name that no longer resolves as it
        did (see `ModuleFacts.reads`)."""
        key = frozenset(changed)
        if key not in self._resting:
            self._resting[key] = {
                path for path, (_, facts) in self.stored_facts.items()
                if not key.isdisjoint(facts.reads) or facts.resolved and not self._reads_hold(facts, changed_only=True)
            }
        return self._resting[key]

    def _build(self, path: str, stamp: tuple[int, int], data: bytes) -> SemanticModel | None:
        model = self._model_of(path, data)
        self.modelled += 1
        if self._released_module(path) is not None:
            while len(self._rebuilt) >= MAX_REBUILT_MODELS:
                evicted = self._rebuilt.pop(next(iter(self._rebuilt)))[1]
                if evicted is not None:
                    # Detached (else it lingers as cyclic garbage, which the runner collects seldom) once the check
                    # ends: a computation up the stack may still be reading it.
                    self._held_for_this_check.append(evicted)
            self._rebuilt[path] = (stamp, model)
        else:
            self._models[path] = (stamp, model)
        return model

    def _cannot_read(self, path: str, error: OSError) -> None:
        self.unreadable[path] = (f"cannot read: {error.strerror or error}", 0)

    def _model_of(self, path: str, data: bytes) -> SemanticModel | None:
        """The model of a project file's content; None when it does not parse (said in `unreadable`)."""
        try:
            model = SemanticModel(parse(data, path), path, index=self)
            self._module_names.add(model.module)
        except ParseFailure as failure:
            self.unreadable[path] = (str(failure), failure.line)
            return None
        self.unreadable.pop(path, None)  # fixed since
        self._parsed[path] = content_digest(data)
        return model

    def parsed(self, path: str, data: bytes) -> bool:
        """Whether the index parsed `data` as the content of `path`, for the newest syntax, without fault."""
        known = self._parsed.get(os.path.abspath(path))
        return known is not None and known == content_digest(data)

    def facts(self, path: str) -> ModuleFacts | None:
        """The module facts of a project file: from memory while it is unchanged, else from the facts a
        cache handed in when its content is the same, else from its model (and kept in `new_facts`)."""
        path = os.path.abspath(path)
        stamp = self._stamp(path)
        cached = self._facts.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        facts = None
        self._facts[path] = (stamp, None)  # a question asked while building them sees none
        if stamp is not None:
            try:
                data = read_file(path)
            except OSError as error:
                self._cannot_read(path, error)
                data = None
            if data is not None:
                digest = content_digest(data)
                stored = self.stored_facts.get(path)
                if stored is not None and stored[0] == digest and self._reads_hold(stored[1]):
                    facts = stored[1]
                else:
                    facts = self._facts_from_model(path, stamp, data)
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

    def _model_for_this_check(self, path: str) -> SemanticModel | None:
        """A project file's model that stays usable until the file being checked is released: a released
        module's is built afresh and let go then (not among the few rebuilt ones, which a later rebuild may
        let go while the caller still holds it)."""
        path = os.path.abspath(path)
        if self._released_module(path) is None:
            return self._model_for_lookups(path)
        try:
            data = read_file(path)
        except OSError as error:
            self._cannot_read(path, error)
            return None
        model = self._model_of(path, data)
        if model is None:
            return None
        self.modelled += 1
        self._held_for_this_check.append(model)
        return model

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

    @contextmanager
    def _gathering_reads(self) -> Iterator[ModuleReads]:
        """What is read meanwhile, gathered apart too (for those who ask later what is computed: see `_rest_on`)."""
        reads = ModuleReads()
        if not self.recording:
            yield reads
            return
        gatherer = f"\0{id(reads)}"  # not a path: a reader of its own
        self._reads[gatherer] = reads
        self._readers.append(gatherer)
        try:
            yield reads
        finally:
            self._readers.pop()
            del self._reads[gatherer]

    def _rest_on(self, reads: ModuleReads, path: str) -> None:
        """Make the result being computed, and the code of the files asking now, rest on `reads` (gathered when what
        they ask was computed for another)."""
        self.rest_result_on(reads, path)
        for mine in self._readings(path):
            mine.interfaces |= reads.interfaces
            mine.texts |= reads.texts
            mine.answers.update(reads.answers)
            mine.resolved.update(reads.resolved)
            mine.whole_project = mine.whole_project or reads.whole_project

    def rest_result_on(self, reads: ModuleReads, path: str) -> None:
        """Make the result of `path` being computed rest on `reads` (its own file's interface aside)."""
        self.consulted |= reads.interfaces - {os.path.abspath(path)}
        self.consulted_widely |= reads.texts
        self.answers.update(reads.answers)
        self.resolved.update(reads.resolved)
        if reads.whole_project:
            self.consulted_widely.update(self.project_files(path) or ())

    def _consult_project(self, path: str) -> None:
        """A result built from project-wide facts depends on every file of the project, and on which they are."""
        self.consulted_widely.update(self.project_files(path) or ())
        for reads in self._readings(path):
            reads.whole_project = True
        self._answered(("project_files", os.path.abspath(path), ""))


def _module_text(module: ReleasedModule) -> str:
    return json.dumps(module.to_json(), sort_keys=True)


def _reads_of_record(deps: dict) -> ModuleReads:
    """What a module record (see `ProjectIndex.records`) says its module read."""
    return ModuleReads(
        set(deps["interfaces"]), set(deps["texts"]), {tuple(question): answer for *question, answer in deps["answers"]},  # type: ignore[misc]
        {(module, folder): found for module, folder, found in deps["resolved"]}, deps["whole_project"],
    )


def _absolute_folders(resolved: dict[tuple[str, str], str | None]) -> dict[tuple[str, str], str | None]:
    return {(module, os.path.abspath(folder)): found for (module, folder), found in resolved.items()}


def _groups_read_first(reads: dict[str, dict[str, str]]) -> list[set[str]]:
    """The strongly connected components of the graph in which each path reads the paths `reads` gives it (those
    among its keys), each after every component it reads: Tarjan's algorithm, without recursion."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for start in reads:
        if start in index:
            continue
        work = [(start, iter([other for other in reads[start] if other in reads]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for other in successors:
                if other not in index:
                    index[other] = low[other] = len(index)
                    stack.append(other)
                    on_stack.add(other)
                    work.append((other, iter([o for o in reads[other] if o in reads])))
                    break
                if other in on_stack:
                    low[node] = min(low[node], index[other])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    groups.append(group)
    return groups


def _function_summaries(module: ReleasedModule) -> Iterable[FunctionSummary]:
    """The summaries of the functions, dependency providers and methods a released module keeps."""
    for symbol in module.symbols.values():
        if symbol is None:
            continue
        yield from (summary for summary in (symbol.function, symbol.provider) if summary is not None)
        if symbol.klass is not None:
            yield from symbol.klass.methods.values()


def _referenced_by_value(model: SemanticModel, name: str) -> bool:
    """Whether the module reads `name` other than to call it (`get_db = _get_db`, `Depends(name)`,
    `partial(name)`): another module may then reach it under another name."""
    for load in model.name_loads.get(name, ()):
        parent = model.parents.get(load)
        if not (isinstance(parent, ast.Call) and parent.func is load):
            return True
    return False


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


