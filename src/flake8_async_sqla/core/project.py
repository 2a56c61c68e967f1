"""The project index: facts about other modules of the project, loaded lazily and cached.

Only the modules that a checked file actually imports from are read, so a file
that imports nothing from the project costs nothing here.
"""

from __future__ import annotations

import ast
import json
import os
import sys
from dataclasses import replace
from functools import partial
from typing import Callable, Collection

from flake8_async_sqla.core.engines import EngineFate, SqliteFacts, sqlite_facts
from flake8_async_sqla.core.layout import content_digest, file_stamp, module_file, project_root, search_folders
from flake8_async_sqla.core.model import SemanticModel
from flake8_async_sqla.core.module_facts import ModuleFacts, ModuleReads, ReleasedModule, function_summaries
from flake8_async_sqla.core.names import EXTERNAL_ROOTS
from flake8_async_sqla.core.options import DEFAULT_OPTIONS, AnalysisOptions
from flake8_async_sqla.core.parsing import ParseFailure, for_newest_syntax, parse
from flake8_async_sqla.core.project_questions import ProjectQuestions
from flake8_async_sqla.core.project_records import ModuleRecords, reads_of_record
from flake8_async_sqla.core.project_text import UNSAVED_BUFFERS, file_mentions, plain_definitions, read_file, word_bits
from flake8_async_sqla.core.roles import DEFAULT_POLICY, RolePolicy
from flake8_async_sqla.core.summaries import SOLVER, UNKNOWN_EFFECTS, FunctionSummary, Symbol

# How many names a run judging by changes looks for file by file before it reads the words of every file instead.
MAX_NAME_SEARCHES = 4
# How many released modules' models are kept once rebuilt (for the rules that read another module's code).
MAX_REBUILT_MODELS = 8
# How many modules modelled to answer another file's lookups are kept for their own check, which then
# reuses the model (flake8 checks files in name order: a router before the services it calls). About a
# quarter of a MiB each.
MAX_KEPT_LOOKUP_MODELS = 64


class ProjectIndex(ModuleRecords, ProjectQuestions):
    """What the checks of a project's files know of its other modules: their names and function summaries (from
    their models, or kept once those are let go), module facts, and the answers to project-wide questions. Its
    parts are its bases: the records of what each module read (`project_records.py`) and the project-wide
    questions (`project_questions.py`); their state is declared here, where the parts share it."""

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
        # The content digest of each file the index parsed without fault, and the Python version whose grammar it was
        # parsed for (see `target`) where that parse succeeded: a file whose own check needs no tree need not be
        # parsed again only to learn that it parses (see `parsed`).
        self._parsed: dict[str, str] = {}
        self._parsed_for: dict[str, tuple[int, int] | None] = {}
        # The Python version the checked files are parsed for (None: the newest syntax the tool reads), set by the
        # runner: the index parses a module for it first.
        self.target: tuple[int, int] | None = None
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
        kept = next((summary for summary in function_summaries(module) if summary.qualname == qualname), None)
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
                for summary in function_summaries(module):
                    if not summary.complete:
                        summary.fallback = partial(self._rebuilt_effect, path, tuple(stamp), summary.qualname)
                self._released[path] = (tuple(stamp), module)
                self._module_names.add(module.module)
                if path in records:
                    self._interface_reads[path] = reads_of_record(json.loads(records[path].partition("\t")[0]))

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
            model = SemanticModel(self._parse(path, data), path, index=self)
            self._module_names.add(model.module)
        except ParseFailure as failure:
            self.unreadable[path] = (str(failure), failure.line)
            return None
        self.unreadable.pop(path, None)  # fixed since
        self._parsed[path] = content_digest(data)
        return model

    def _parse(self, path: str, data: bytes) -> ast.Module:
        """The tree of a project file: parsed for the `target` Python first, so that its own check, which parses for
        that version, need not parse it again only to learn that it parses (see `parsed`); else for the newest syntax,
        as a module written for a newer Python than the project declares is still one of its modules."""
        try:
            tree = parse(data, path, self.target)
        except ParseFailure:
            self._parsed_for.pop(path, None)
            if self.target is None:
                raise
            return parse(data, path)
        self._parsed_for[path] = self.target
        return tree

    def parsed(self, path: str, data: bytes, target: tuple[int, int] | None) -> bool:
        """Whether the index parsed `data` as the content of `path` without fault, for Python `target`."""
        path = os.path.abspath(path)
        known = self._parsed.get(path)
        if known is None or path not in self._parsed_for or known != content_digest(data):
            return False
        parsed_for = self._parsed_for[path]
        return parsed_for == target or parsed_for is None and for_newest_syntax(target)

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


def _referenced_by_value(model: SemanticModel, name: str) -> bool:
    """Whether the module reads `name` other than to call it (`get_db = _get_db`, `Depends(name)`,
    `partial(name)`): another module may then reach it under another name."""
    for load in model.name_loads.get(name, ()):
        parent = model.parents.get(load)
        if not (isinstance(parent, ast.Call) and parent.func is load):
            return True
    return False


