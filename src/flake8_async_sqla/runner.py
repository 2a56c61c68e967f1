"""`check` without the printing: read, cache, analyse in parallel, filter, fingerprint.

The analysis (the checker, the rules, the project index) is imported when a file is analysed or a cached
result must be checked against the index, not before: a run answered from the cache loads none of it.
"""

from __future__ import annotations

import functools
import gc
import io
import json
import os
import re
import stat
import time
import tokenize
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable, Collection, Iterator, NamedTuple

from flake8_async_sqla import __version__
from flake8_async_sqla.config import Settings, relative_path
from flake8_async_sqla.core.edits import Edit
from flake8_async_sqla.core.layout import (
    CLOCK_GRAIN_NS, ROOT_MARKERS, FolderListings, content_digest, folders_unchanged, module_file,
    project_root, python_files, stored_stamp,
)
from flake8_async_sqla.core.options import AnalysisOptions
from flake8_async_sqla.core.roles import RolePolicy
from flake8_async_sqla.core.rule import Finding, rule_phase

if TYPE_CHECKING:
    from multiprocessing.synchronize import Event

    from flake8_async_sqla.core.module_facts import ModuleFacts
    from flake8_async_sqla.core.project import ProjectIndex

# Below this many files to analyse, starting worker processes costs more than it saves.
MIN_PARALLEL_FILES = 16
# How many waves worker processes take the files in (see `_analyse_all`), and the wave files each has taken.
SHARED_WAVES = 8
# The share of the files the main process analyses itself before it starts the workers (1/HEAD_SHARE).
HEAD_SHARE = 16
# How many files at a time the helper takes that checks files needing no tree while the main process analyses the
# first files (see `_analyse_all`); it leaves the files of a batch it has not reached when that is done to the workers.
TREELESS_BATCH = 16
_ADOPTED: set[str] = set()
# An import statement's first line: `from .pkg.mod import a, b as c` or `import pkg.mod, other as o`. Searched for
# after a newline (the text given one in front), which the search skips to, where a multi-line `^` would be tried
# at every byte (twice slower).
IMPORT_STATEMENT = re.compile(
    rb"\n[ \t]*(?:from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+([\w., \t]*)|import[ \t]+([\w., \t]+))"
)


@dataclass(frozen=True)
class Result:
    """A finding as the command reports it."""

    path: str  # as shown: relative to the working folder when below it
    finding: Finding
    fails: bool
    role: str  # the file's role in its project (core.roles)
    # What the fingerprint digests: the path relative to the project root (so the same from any folder), code,
    # enclosing function, the line's text, and which occurrence of all that in the file this is; no line numbers,
    # so it survives unrelated edits.
    basis: str
    project_path: str  # relative to the project root (the folder of its configuration), as the baseline records it

    @functools.cached_property
    def fingerprint(self) -> str:
        """Computed when a report or baseline asks: the text report never does."""
        import hashlib  # here, not at the top: only the reports that show fingerprints pay for loading it

        return hashlib.sha1(self.basis.encode("utf-8", "surrogateescape")).hexdigest()[:16]  # any file name


class FileError(NamedTuple):
    """A file that could not be checked."""

    path: str  # as shown
    problem: str
    line: int = 0  # the line at fault, when the parser names one


class UnreadModule(NamedTuple):
    """A project module the index could not read: what other modules would have learnt of it is missing."""

    path: str  # as shown
    problem: str
    line: int  # the line at fault, when the parser names one
    rested_on_by: list[str]  # the checked files (as shown) whose results rest on it


@dataclass
class FileOutcome:
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    error_line: int = 0  # the line the parser failed at (0: none named)
    role: str = ""  # the file's role in its project (core.roles)
    # The text of each finding's line, whitespace collapsed (for its fingerprint: no file is read again).
    lines: list[str] = field(default_factory=list)
    depends_on: dict[str, list[int]] = field(default_factory=dict)  # path -> [mtime_ns, size]
    # Of those, the files its names and imports were resolved through: it holds only while their own results do.
    rests_on: list[str] = field(default_factory=list)
    # Project-wide answers the result rests on: [question, path, name, answer] (see ProjectIndex.answer).
    answers: list[list] = field(default_factory=list)
    # The module names its check looked up: [module, importing folder, the file found or None] (see
    # ProjectIndex.resolved); it holds only while each still resolves to the same file.
    resolved: list[list] = field(default_factory=list)
    # Module facts the index built while analysing this file: path -> [digest, facts as JSON].
    new_facts: dict[str, list] = field(default_factory=dict)
    modelled: int = 0  # modules the index parsed while it was analysed (its own model, when checked later, is reused)
    # What other files may learn of this one through the project index (`ProjectIndex.interface_digest`), and
    # that of each file in `rests_on` when it was read: while those hold, an edit there leaves this result as it is.
    interface: str | None = None
    interfaces: dict[str, str | None] = field(default_factory=dict)
    # What the worker's index kept of the modules it let go while analysing it (see `ProjectIndex.shared`).
    shared: dict[str, list] = field(default_factory=dict)
    # Project modules its check rested on that the index could not read: path -> [why, line at fault or 0].
    unread: dict[str, list] = field(default_factory=dict)
    # The records of the modules the index let go while analysing it, for the cache (see `ProjectIndex.records`).
    records: dict[str, str] = field(default_factory=dict)


@dataclass
class RunOutcome:
    results: list[Result]
    errors: list[FileError]
    files: int
    analysed: int = 0  # files analysed in this run
    cached: int = 0  # files whose outcome came from the cache
    confirmed: int = 0  # of those, files read and hashed because their stamp alone proved nothing
    modelled: int = 0  # modules the project index parsed (each at most once per process)
    roles: dict[str, str] = field(default_factory=dict)  # shown path -> the file's role, for files read this run or cached
    warnings: list[str] = field(default_factory=list)  # problems that did not stop the run (an unwritable cache)
    # When the findings carry their fixes: which of them `--fix` applies (as `--unsafe-fixes` says).
    fixable: Callable[[Finding], bool] | None = None
    unread_modules: list[UnreadModule] = field(default_factory=list)  # project modules the index could not read
    # `run_source`'s file as analysed, with what its result rests on: an editor checks it again when that changes.
    source_outcome: FileOutcome | None = None

    def unread_unchecked(self) -> list[UnreadModule]:
        """The unread modules not already reported as files that could not be checked."""
        failed = {error.path for error in self.errors}
        return [module for module in self.unread_modules if module.path not in failed]


def read_source(path: Path) -> tuple[bytes, str]:
    """Bytes and decoded text (coding cookie and BOM honoured, undecodable bytes replaced)."""
    return decode_source(path.read_bytes())


def decode_source(data: bytes) -> tuple[bytes, str]:
    """`data` and its text, decoded as `read_source` decodes a file."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:
        encoding = "utf-8"
    try:
        text = data.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        text = data.decode("utf-8", errors="replace")
    return data, text.removeprefix("\ufeff")


def analyse(
    path: str, codes: frozenset[str], options: AnalysisOptions, roles: RolePolicy,
    target: tuple[int, int] | None = None, source: bytes | None = None, rested_on: bool = False, fixes: bool = False,
    cached: bool = True,
) -> FileOutcome:
    """One file: read (or take its `source`), parse for Python `target`, check the rules its role reports,
    drop `# noqa`ed findings (with `fixes`, each finding carries its fix's edits). Never raises. When stored
    results rest on the file (`rested_on`), its interface is computed even if its check needed no model. What a
    cached result needs to be proven later (the files, answers and interfaces it rests on) is recorded only when
    the outcome is `cached`."""
    index = _index(options, roles)
    try:
        data, text = read_source(Path(path)) if source is None else decode_source(source)
    except OSError as error:
        return FileOutcome(error=_unreadable(error))
    index.consulted, index.consulted_widely = set(), set()
    index.answers, index.resolved = {}, {}
    index.checking(path, data)
    modelled_before = index.modelled
    unread_before = set(index.unreadable)
    outcome = check_source(path, data, text, codes, roles, index, fixes, target)
    if outcome.error is not None:
        return outcome
    consulted = index.consulted | index.consulted_widely
    if not consulted.issuperset(unread_before.intersection(index.unreadable)):  # only then can what they read matter
        consulted = index.read_behind(consulted)
    outcome.unread = {
        other: list(why) for other, why in index.unreadable.items() if other in consulted or other not in unread_before
    }
    if cached and index.recording:
        _rest_on_interface_reads(index, path)
    outcome.new_facts = _drain_new_facts(index)  # also shared with other workers
    outcome.modelled = index.modelled - modelled_before
    if not cached:
        return outcome
    consulted = index.consulted | index.consulted_widely
    outcome.depends_on = {other: stamp for other in consulted if (stamp := _stamp_this_run(other)) is not None}
    # A file whose text the check read (not only its names) holds the result by its content, interface or not.
    outcome.rests_on = sorted(index.consulted - index.consulted_widely)
    outcome.answers = [[*question, answer] for question, answer in sorted(index.answers.items())]
    resolved = {(module, os.path.abspath(folder)): found for (module, folder), found in index.resolved.items()}
    outcome.resolved = [[module, folder, found] for (module, folder), found in sorted(resolved.items())]
    outcome.interfaces = {other: index.interface_digest(other) for other in outcome.rests_on}
    outcome.interface = index.interface_digest(path, build=rested_on)
    if index.sharing:  # a worker's: the parent stores them (its own index's records are taken when it saves)
        outcome.records = dict(index.records())
    return outcome


def _rest_on_interface_reads(index: ProjectIndex, path: str) -> None:
    """Make the result of `path` rest on what its interface read too (see `ProjectIndex.interface_reads`): other
    results hold while that interface does, which they learn by this result being computed again."""
    reads = index.interface_reads(path)
    if reads is not None:
        index.rest_result_on(reads, path)


def check_source(
    path: str, data: bytes | str, text: str, codes: frozenset[str], roles: RolePolicy, index: ProjectIndex, fixes: bool,
    target: tuple[int, int] | None = None,
) -> FileOutcome:
    """The findings, role and line texts of one file's source (`data` as read, `text` decoded), as `analyse`
    reports them: also for text not (yet) written, which `check --fix` checks between its passes."""
    from flake8_async_sqla.core.checker import check_tree, codes_for_role, needs_tree
    from flake8_async_sqla.core.parsing import ParseFailure, check_syntax, parse
    from flake8_async_sqla.noqa import NoqaMap

    role = roles.role_of(path, text)
    selected = codes_for_role(role, roles, codes)
    index.target = target  # the modules it reads for lookups are parsed for it first (see `ProjectIndex.parsed`)
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    try:
        if not needs_tree(selected, text, index.options):
            # No finding, only whether it parses: known when the index read it for another file's lookups.
            if not index.parsed(path, raw, target):
                check_syntax(data, path, target)
            return FileOutcome([], None, 0, role, [])
        tree = parse(data, path, target)
    except ParseFailure as failure:
        return FileOutcome(error=str(failure), error_line=failure.line)
    findings = check_tree(tree, path, text, selected, index, fixes)
    kept = findings
    if findings and "noqa" in text.lower():  # tokenizing costs more than parsing: only where it can matter
        noqa = NoqaMap(text)
        kept = [f for f in findings if not noqa.suppresses(f.line, f.code)]
    source = text.splitlines() if kept else []
    lines = [" ".join(source[f.line - 1].split()) if 0 < f.line <= len(source) else "" for f in kept]
    return FileOutcome(kept, None, 0, role, lines)


# This process's project index (the main process's, a worker's, a language server's), kept between the files
# it analyses; see `_index`.
_PROCESS_INDEX: ProjectIndex | None = None


def _index(options: AnalysisOptions, roles: RolePolicy) -> ProjectIndex:
    """This process's project index for `options` and the project's roles: a new one when they change (what it
    knew was computed under others)."""
    global _PROCESS_INDEX
    if _PROCESS_INDEX is None or _PROCESS_INDEX.options != options or _PROCESS_INDEX.roles != roles:
        from flake8_async_sqla.core.project import ProjectIndex

        _PROCESS_INDEX = ProjectIndex(options, roles)
        # A result records the files its check read, for the cache: a model kept from another file's check
        # would have read them then. The imports-first order makes keeping them pointless here anyway.
        _PROCESS_INDEX.kept_lookup_models = 0
    return _PROCESS_INDEX


def current_index() -> ProjectIndex | None:
    """The project index this process analysed with last, if any (a language server forgets edited files in it)."""
    return _PROCESS_INDEX


def _drain_new_facts(index: ProjectIndex) -> dict[str, list]:
    """The module facts `index` built since last asked, as the cache stores them."""
    drained = {path: [digest, facts.to_json()] for path, (digest, facts) in index.new_facts.items()}
    index.stored_facts.update(index.new_facts)
    index.new_facts = {}
    return drained


# `analyse`'s arguments: path, codes, options, roles, target, source (None: read the file), rested_on, fixes, cached.
Job = tuple[str, frozenset[str], AnalysisOptions, RolePolicy, tuple[int, int] | None, None, bool, bool, bool]


def _analyse_job(job: Job) -> FileOutcome:
    return analyse(*job)


# The stamps of the files results depend on, each read once a run (a run's results share them): a file that
# changes after its stamp was read only makes the results resting on it be computed again next time.
_RUN_STAMPS: dict[str, list[int] | None] = {}


def _stamp_this_run(path: str) -> list[int] | None:
    if path not in _RUN_STAMPS:
        _RUN_STAMPS[path] = stored_stamp(path)
    return _RUN_STAMPS[path]


def _unreadable(error: OSError) -> str:
    return f"cannot read: {error.strerror or error}"


def _not_checked(path: str, info: os.stat_result, max_size: int) -> str:
    """Why a path that is not a regular file of at most `max_size` bytes is not checked: a folder discovery could
    not list is an error (as an unreadable file is); a FIFO, socket or device is never opened (a FIFO would block,
    /dev/zero never ends), and a larger file is not parsed (minutes, gigabytes): those are skipped with a note."""
    if stat.S_ISDIR(info.st_mode):
        try:
            os.scandir(path).close()
        except OSError as error:
            return f"cannot read the folder: {error.strerror or error}"
        return "cannot read the folder"
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode) else "a device"
        return f"skipped: {kind}, not a regular file"
    return f"skipped: {info.st_size} bytes, more than max-file-size ({max_size})"


# What each stored outcome holds, and of which type: a cache whose entries differ is discarded whole.
ENTRY_FIELDS: dict[str, type | tuple[type, ...]] = {
    "digest": str, "stamp": list, "findings": list, "fixes": bool, "error": (str, type(None)), "error_line": int,
    "role": str, "lines": list, "depends_on": dict, "rests_on": list, "answers": list, "resolved": list,
    "interface": (str, type(None)), "interfaces": dict, "unread": dict,
}
DOCUMENT_FIELDS: dict[str, type] = {
    "settings": str, "files": dict, "index": dict, "project": dict, "phases": dict, "folders": dict, "markers": list,
}


def damage_in(document: dict) -> str | None:
    """What makes a cache document of the current shape unusable, or None."""
    for key, kind in DOCUMENT_FIELDS.items():
        if not isinstance(document.get(key), kind):
            return f"{key!r} is missing or not a {kind.__name__}"
    for path, entry in document["files"].items():
        if not isinstance(entry, dict) or set(entry) != set(ENTRY_FIELDS):
            return f"the entry of {path} has other fields"
        for key, kind in ENTRY_FIELDS.items():
            if not isinstance(entry[key], kind):
                return f"the entry of {path} has a {key!r} of the wrong type"
        if len(entry["findings"]) != len(entry["lines"]) or not all(isinstance(f, dict) for f in entry["findings"]):
            return f"the findings of {path} do not match their lines"
    return None


class Cache:
    """Per-file outcomes, and the project index's module facts, keyed by content, settings and tool
    version, in one JSON file (see cache_files: a damaged one is discarded whole, with one warning)."""

    def __init__(self, folder: Path | None, settings_key: str, root: Path | str = ".") -> None:
        self.path = folder / f"check-{__version__}.json" if folder else None
        # The module records (see `ProjectIndex.records`), in a file of their own: a run in which no file changed
        # needs none of them, and does not read them.
        self.records_path = folder / f"check-modules-{__version__}.json" if folder else None
        self._records: dict[str, str] | None = None  # path -> record, once read
        self._records_written_ns = 0
        # The records made in this run, each written as it comes to a temporary file rather than held (they grow
        # with the project: 4 MB for mlrun), and the paths they are of.
        self._spool: IO[bytes] | None = None
        self._spooled: set[str] = set()
        self._spooled_resolutions: list[list] = []  # the module resolutions of those (see `_folders_to_store`)
        # Whether this run judged the module resolutions of every stored record (see `usable_records`).
        self._records_resolutions_judged = False
        self._records_failed: set[str] = set()  # stored records whose own file, texts or resolutions changed
        self._records_taken: set[str] | None = None  # those the index judged to hold, once it judged them (see `save`)
        self.settings_key = settings_key
        self.root = os.path.abspath(root)  # the project's: the cache never writes there or above it
        self.entries: dict[str, dict] = {}
        self.facts: dict[str, list] = {}  # path -> [digest, ModuleFacts as JSON]
        # Every project file's stamp when the stored answers (of the results and the module records) were last all
        # checked: they held for the project as it was then.
        self.project: dict[str, list[int]] = {}
        # Whether every stored answer was checked against the project as `project` stamps it, not some against a later
        # one (a run over some of the files keeps the stamps, but checks the answers of its own files against the
        # files as they are): only then do the files' module facts then judge the answers (see `facts_when_answered`).
        self.project_exact = False
        self.phases: dict[str, int | str] = {}  # the phase of each rule with a stored finding
        self.current: dict[str, list[int]] = {}  # the stamps of the project's files in this run, when known
        self.other_stamps: dict[str, list[int] | None] = {}  # of the files outside it, read in this run
        self.resolutions: dict[tuple[str, str], str | None] = {}  # (module, folder) -> its file in this run
        self._folders = FolderListings()  # for `resolutions_hold`
        # The folders every stored result's module resolutions rest on, with their modification times (see
        # `FolderListings.stamps`): while they hold, the resolutions need no check (see `trust_folders`).
        self.folders: dict[str, int | None] = {}
        self.markers: list[str] = []  # the root markers that decide the checked files' module names (`root_markers`)
        self.resolutions_trusted = False
        # When the run started, less the coarsest clock a file system stamps times with: a folder changed since may
        # have changed after the index looked in it.
        self.started_ns = time.time_ns() - CLOCK_GRAIN_NS
        self._visited: set[str] = set()  # the stored results asked for in this run
        self._fresh: set[str] = set()  # the results computed in this run
        self.changed = False
        self.problems: list[str] = []  # a damaged cache, discarded; a cache that could not be written
        # When the cache was written. A file modified in the same clock tick may have changed again after
        # it was read without its stamp changing ("racy git"): its stamp alone proves nothing.
        self.written_ns = 0
        if self.path is not None:
            self._load(settings_key)

    def _load(self, settings_key: str) -> None:
        from flake8_async_sqla.cache_files import DamagedCache, read_document

        try:
            stored, written_ns = read_document(str(self.path))
            damage = damage_in(stored) if stored is not None else None
        except DamagedCache as error:
            stored, damage = None, str(error)
        if damage is not None:
            self.problems.append(f"the cache {self.path} cannot be trusted ({damage}): discarded, every file is analysed again")
            self.changed = True  # written afresh
        elif stored is not None and stored["settings"] == settings_key:
            self.written_ns = written_ns
            self.entries, self.facts = stored["files"], stored["index"]
            self.project, self.phases, self.folders = stored["project"], stored["phases"], stored["folders"]
            self.project_exact = stored.get("project_exact", False)
            self.markers = stored["markers"]

    def stored_records(self) -> dict[str, str]:
        """The module records earlier runs stored: path -> record; read when first asked. A damaged file, or one
        written under other settings, holds none: the records are made again."""
        from flake8_async_sqla.cache_files import DamagedCache, read_body

        if self._records is None:
            self._records = {}
            try:
                body, written_ns = read_body(str(self.records_path)) if self.records_path is not None else (None, 0)
                head, *lines = body.decode().split("\n") if body is not None else ("null",)
                if json.loads(head) == {"settings": self.settings_key}:
                    for line in lines:
                        path, _, record = line.partition("\t")
                        self._records[json.loads(path)] = record
                    self._records_written_ns = written_ns
            except (DamagedCache, ValueError):
                self._records = {}
        return self._records

    def usable_records(self) -> dict[str, tuple[dict, str | None]]:
        """The stored module records (path -> (what it read, the module as JSON text)), the module None where its own
        file, a text it read or a module name it looked up changed: the index judges the rest (see
        `ProjectIndex.take_records`), and takes what those read first."""
        usable: dict[str, tuple[dict, str | None]] = {}
        for path, record in self.stored_records().items():
            deps_text, _, module_json = record.partition("\t")
            try:
                deps = json.loads(deps_text)
                holds = self._record_unchanged(path, deps)
                usable[path] = (deps, module_json if holds else None)
                if not holds:  # judged against this run's files: not written again (see `_write_records`)
                    self._records_failed.add(path)
            except (KeyError, TypeError, ValueError, OSError):
                continue
        self._records_resolutions_judged = True
        return usable

    def _record_unchanged(self, path: str, deps: dict) -> bool:
        """Whether a stored record's own file, the texts it read and its module resolutions are as they were."""
        stamp = self.stamp_now(path)
        if stamp is None:
            return False
        if not (stamp == deps["stamp"] and stamp[0] < self._records_written_ns):
            if content_digest(Path(path).read_bytes()) != deps["digest"]:
                return False
            deps["stamp"] = stamp
        if deps["whole_project"] and self.current != self.project:
            return False
        if not all(self.stamp_now(other) == stamp for other, stamp in deps["texts"].items()):
            return False
        return self.resolutions_trusted or self.resolutions_hold(deps)

    def changed_since_answers(self) -> frozenset[str] | None:
        """The project files changed, created or deleted since the stored answers were last checked; None when no
        stored answer was (see `ProjectIndex.still_answers`)."""
        if not self.project:
            return None
        stored, now = self.project, self.current
        return frozenset(
            path for path in stored.keys() | now.keys()
            if not (path in stored and path in now and self.proves(now[path], stored[path]))
        )

    def facts_when_answered(self, path: str) -> tuple[bool, ModuleFacts | None]:
        """Whether the module facts of a file as it was when the stored answers were last checked are known, and
        they: the stored facts of the content its stored result was computed from, if that result is of the file as it
        was then; none if no stored facts are of that content (no answer read them: it would have stored them)."""
        entry = self.entries.get(path)
        if not self.project_exact or entry is None or entry.get("stamp") != self.project.get(path):
            return False, None
        stored = self.stored_facts.get(path)
        if stored is None:
            return path not in self.facts, None  # stored but unreadable: not known
        return True, stored[1] if stored[0] == entry.get("digest") else None

    def records_judged(self, taken: set[str]) -> None:
        """The index judged the stored module records, and `taken` hold: the others are not written again (their
        answers were not those of the project the next run judges the stored ones by)."""
        self._records_taken = taken

    def unchecked(self) -> set[str]:
        """The stored results this run neither took (their answers checked) nor computed again."""
        return set(self.entries) - self._visited - self._fresh

    @functools.cached_property
    def stored_facts(self) -> dict[str, tuple[str, ModuleFacts]]:
        """The stored module facts, for the project index (an entry that does not load is left out)."""
        from flake8_async_sqla.core.module_facts import ModuleFacts

        loaded = {}
        for path, (digest, facts) in self.facts.items():
            try:
                loaded[path] = (str(digest), ModuleFacts.from_json(facts))
            except (KeyError, TypeError, AttributeError, ValueError):
                continue
        return loaded

    def get(
        self, path: str, stamp: list[int], digest: str | None, index: ProjectIndex | None, fixes: bool = False
    ) -> FileOutcome | None:
        """The stored outcome, if the file (same content: same digest, or when `digest` is None, the same
        modification time and size), the files it consulted, and the project-wide answers it rests on, as
        `index` gives them (no index: they all hold, as no project file changed), are all unchanged. A file its
        names were resolved through may have changed if it recorded that file's interface: the caller then
        compares interfaces (see `interface_holds`). With `fixes`, only one whose findings carry their fixes."""
        entry = self.entries.get(path)
        if entry is None or (not self.proves(stamp, entry.get("stamp")) if digest is None else entry.get("digest") != digest):
            return None
        if fixes and entry.get("findings") and not entry.get("fixes"):
            return None
        self._visited.add(path)
        if path in self.stale or not (self.resolutions_trusted or self.resolutions_hold(entry)):
            return None
        try:
            for *question, answer in entry["answers"] if index is not None else ():
                if not index.still_answers(tuple(question), answer):
                    return None
            findings = [
                Finding(**{**f, "fields": tuple(map(tuple, f["fields"])), "edits": tuple(Edit(*e) for e in f["edits"])})
                for f in entry["findings"]
            ]
            outcome = FileOutcome(
                findings, entry["error"], entry["error_line"], entry["role"], entry["lines"], entry["depends_on"],
                entry["rests_on"], entry["answers"], entry["resolved"], interface=entry["interface"],
                interfaces=entry["interfaces"], unread=entry["unread"],
            )
        except (KeyError, TypeError, ValueError):
            return None  # an entry written by another shape of this file
        if entry.get("stamp") != stamp:  # same content, touched: next time the stamp alone will do
            entry["stamp"] = stamp
            self.changed = True
        return outcome

    @functools.cached_property
    def stale(self) -> set[str]:
        """The stored outcomes that no longer hold: a file they consulted changed, unless the outcome recorded
        that file's interface (then it holds while the interface does: see `interface_holds`)."""
        stale: set[str] = set()
        for path, entry in self.entries.items():
            try:
                consulted, interfaces = list(entry["depends_on"].items()), dict(entry["interfaces"])
            except (KeyError, AttributeError, TypeError, ValueError):
                stale.add(path)
                continue
            for other, recorded in consulted:
                if self.stamp_now(other) != recorded and interfaces.get(other) is None:
                    stale.add(path)
        return stale

    def resolutions_hold(self, entry: dict) -> bool:
        """Whether every module name the stored outcome looked up still resolves to the same file (a module created,
        renamed or deleted since, or a nearer one that now shadows it, changes what the outcome would say)."""
        for module, folder, found in entry["resolved"]:
            key = (module, folder)
            if key not in self.resolutions:
                self.resolutions[key] = self._folders.find_module_file(module, folder)
            if self.resolutions[key] != found:
                return False
        return True

    def forget_deleted(self) -> None:
        """Drop the stored results of files that no longer exist."""
        self.entries = {path: entry for path, entry in self.entries.items() if self.stamp_now(path) is not None}

    def forget_all(self) -> None:
        """Use nothing stored: the results, module facts and module records are all computed afresh."""
        self.entries, self.facts, self.project, self.folders = {}, {}, {}, {}
        self._records = {}
        self.__dict__.pop("stored_facts", None)
        self.__dict__.pop("stale", None)
        self.__dict__.pop("rested_on", None)
        self.changed = True

    def trust_folders(self) -> None:
        """Take the module resolutions of the stored results and module records as holding when no folder they rest
        on changed (no file created, deleted or renamed there): a run then checks none of them."""
        # The same files too: a link whose target appears adds a file without changing the folder it is in.
        self.resolutions_trusted = (
            bool(self.folders) and self.current.keys() == self.project.keys() and folders_unchanged(self.folders, self.written_ns)
        )

    def folders_renewed(self) -> bool:
        """Whether this run checked every stored result's resolutions against folders that changed since: what it
        noted of them is worth writing, so that later runs trust it."""
        return self.path is not None and not self.resolutions_trusted and bool(self.entries) and not self.unchecked()

    def _folders_to_store(self) -> dict[str, int | None]:
        """The folders the stored results' resolutions rest on, as `save` writes them: those listed to check them in
        this run, and the trusted ones; none when some result's resolutions were neither checked nor trusted (a run
        over some of the files, when a folder changed)."""
        if not self.resolutions_trusted and (self.unchecked() or not self._records_resolutions_hold()):
            return {}
        # Made in this run, their resolutions were the index's: noted now. The records' too, which the stamps cover.
        made = [*(self.entries[path] for path in self._fresh), *({"resolved": found} for found in self._spooled_resolutions)]
        for resolutions in made:
            if not self.resolutions_hold(resolutions):
                return {}  # a module created or removed while the run went on
        stamps = {**(self.folders if self.resolutions_trusted else {}), **self._folders.stamps}
        return stamps if all(stamp is None or stamp < self.started_ns for stamp in self._folders.stamps.values()) else {}

    def _records_resolutions_hold(self) -> bool:
        """Whether the module resolutions of every stored module record hold, judged now if this run did not."""
        if self._records_resolutions_judged:
            return True
        for record in self.stored_records().values():
            try:
                if not self.resolutions_hold(json.loads(record.partition("\t")[0])):
                    return False
            except (KeyError, TypeError, ValueError):
                return False
        return True

    def stamp_now(self, path: str) -> list[int] | None:
        """A file's stamp in this run: the one taken of the project's files, else read once."""
        if path in self.current:
            return self.current[path]
        if path not in self.other_stamps:
            self.other_stamps[path] = stored_stamp(path)
        return self.other_stamps[path]

    @functools.cached_property
    def rested_on(self) -> set[str]:
        """The files some stored outcome resolved names through."""
        return {other for entry in self.entries.values() for other in entry.get("rests_on", ())}

    def interface_holds(
        self, path: str, outcome: FileOutcome, interface_now: Callable[[str], str | None], analysed: Collection[str],
        unproven: Callable[[str, str], bool],
    ) -> bool:
        """Whether every file the stored outcome resolved names through and that changed since, was `analysed` again
        in this run, or is `unproven` (unchanged, but its interface rests on files that changed: an alias naming
        another module's dependency), still has the interface the outcome recorded (`interface_now(file)` tells it);
        when so, the outcome is stored as read against the files as they are."""
        moved = {}
        for other in outcome.rests_on:
            stamp = self.stamp_now(other)
            recorded = outcome.interfaces.get(other)
            # With no interface recorded, what the outcome read of it was its text (a plain definition): its own.
            if stamp == outcome.depends_on.get(other) and other not in analysed and (recorded is None or not unproven(other, recorded)):
                continue
            if recorded is None or interface_now(other) != recorded:
                return False
            if stamp is not None:
                moved[other] = stamp
        if moved:
            self.entries[path]["depends_on"].update(moved)
            self.changed = True
        return True

    def stamp_proves(self, path: str, stamp: list[int]) -> bool:
        """Whether the file's stored outcome was computed from the content it has now, by its stamp alone."""
        entry = self.entries.get(path)
        return entry is not None and self.proves(stamp, entry.get("stamp"))

    def proves(self, stamp: list[int], stored: object) -> bool:
        """Whether an unchanged stamp proves unchanged content: it was taken before the cache was written."""
        return stamp == stored and stamp[0] < self.written_ns

    def put(self, path: str, stamp: list[int], digest: str, outcome: FileOutcome, fixes: bool = False) -> None:
        for finding in outcome.findings:
            phase = rule_phase(finding.code)
            if phase is not None:
                self.phases[finding.code] = phase
        if self.path is None:
            return  # nothing is kept of a run without a cache
        self.entries[path] = {
            "digest": digest,
            "stamp": stamp,
            "findings": [asdict(f) for f in outcome.findings],
            "fixes": fixes,  # whether the findings carry their fixes
            "error": outcome.error,
            "error_line": outcome.error_line,
            "role": outcome.role,
            "lines": outcome.lines,
            "depends_on": outcome.depends_on,
            "rests_on": outcome.rests_on,
            "answers": outcome.answers,
            "resolved": outcome.resolved,
            "interface": outcome.interface,
            "interfaces": outcome.interfaces,
            "unread": outcome.unread,
        }
        self.facts.update(outcome.new_facts)
        self._spool_records(iter(outcome.records.items()))
        self._fresh.add(path)

    def save(self, records: Iterator[tuple[str, str]] = iter(())) -> None:
        """Write the results, and the module records: those workers made (see `put`) and `records`, each written as
        it is made."""
        if self.path is None:
            return
        from flake8_async_sqla.cache_files import write_document

        self._spool_records(records)  # before the folders their resolutions rest on are written
        document = {
            "settings": self.settings_key, "files": self.entries, "index": self.facts, "project": self.project,
            "project_exact": self.project_exact,
            "phases": self.phases, "folders": self._folders_to_store(), "markers": self.markers,
        }
        try:
            write_document(str(self.path), document, self.root)
            self._write_records()
        except OSError as error:  # a read-only tree, a folder it does not own: the results, just not cached
            self.problems.append(
                f"cannot write the cache in {self.path.parent}: {error.strerror or error}; running without it"
            )

    def _write_records(self) -> None:
        from flake8_async_sqla.cache_files import write_body

        if self._spool is None:
            return  # no record made: the stored ones stand
        stored = self.stored_records()
        # Those made in this run replace the stored ones; a file deleted since takes its record with it.
        kept = [
            path for path in stored
            if path not in self._spooled and path not in self._records_failed and self.stamp_now(path) is not None
            and (self._records_taken is None or path in self._records_taken)
        ]
        spool = self._spool

        def lines() -> Iterator[bytes]:
            yield json.dumps({"settings": self.settings_key}).encode()
            for path in kept:
                yield f"\n{json.dumps(path)}\t{stored[path]}".encode()
            spool.seek(0)  # type: ignore[union-attr]
            yield from iter(lambda: spool.read(1 << 20), b"")  # type: ignore[union-attr]

        write_body(str(self.records_path), lines, self.root)

    def _spool_records(self, records: Iterator[tuple[str, str]]) -> None:
        """Keep module records made in this run (see `ProjectIndex.records`) for `save`, in a temporary file."""
        if self.records_path is None:
            return
        for path, record in records:
            if self._spool is None:
                import tempfile  # only here: a warm run makes no record

                self._spool = tempfile.TemporaryFile()
            self._spool.write(f"\n{json.dumps(path)}\t{record}".encode())
            self._spooled.add(path)
            self._spooled_resolutions.append(json.loads(record.partition("\t")[0])["resolved"])


def _tune_collector() -> None:
    """The analysis allocates many small, long-lived objects (trees, models): collecting them
    over and over costs a quarter of the run and frees nothing, so collect far less often."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def _load_analysis() -> None:
    """Import the checker and every rule."""
    import flake8_async_sqla.core.checker  # noqa: F401 - imported for its effect
    from flake8_async_sqla.core.rule import all_rules

    all_rules()


def _start_worker(
    options: AnalysisOptions, roles: RolePolicy, facts: dict[str, tuple[str, ModuleFacts]], parent: int
) -> None:
    _end_with(parent)
    _tune_collector()
    _index(options, roles).stored_facts.update(facts)


# In the helper process (see `_analyse_all`): set once the main process has analysed the first files.
_HEAD_DONE: Event | None = None


def _start_helper(head_done: Event, *initargs: object) -> None:
    global _HEAD_DONE
    _HEAD_DONE = head_done
    _start_worker(*initargs)


def _end_with(parent: int) -> None:
    """Make this worker end when the `parent` process does (killed, say): a worker waiting for work would otherwise
    wait for ever, holding open the pipes of the caller's output. It writes nothing itself, so it lets them go at
    once (its results go back through the pool)."""
    import threading
    import time

    devnull = os.open(os.devnull, os.O_RDWR)
    for descriptor in (0, 1):
        os.dup2(devnull, descriptor)
    os.close(devnull)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def _prepare_index(options: AnalysisOptions, roles: RolePolicy, cache: Cache) -> ProjectIndex:
    """The process's index, given what the cache stored: module facts, and the module records that hold."""
    index = _index(options, roles)
    index.stored_facts.update(cache.stored_facts)
    index.recording = cache.path is not None
    index.changed_since_answers = changed = cache.changed_since_answers()
    index.facts_when_answered = {}
    for path in {*changed, *index.facts_resting_on(changed)} if changed is not None else ():
        known, facts = cache.facts_when_answered(path)
        if known:
            index.facts_when_answered[path] = facts
    index.take_records(cache.usable_records() if cache.path is not None else {})
    cache.records_judged(index.records_taken)
    return index


def run(settings: Settings, files: list[Path], jobs: int, cache_folder: Path | None, fixes: bool = False) -> RunOutcome:
    """Check `files`; with `fixes`, each finding carries its fix's edits."""
    _tune_collector()
    _RUN_STAMPS.clear()
    codes = frozenset(settings.selected_codes())
    cache = Cache(cache_folder, settings.fingerprint(), settings.root)
    options = settings.analysis_options()
    outcomes: dict[str, FileOutcome] = {}
    # Only names go to the analysis (each worker reads its files): the parent holds no file's text.
    pending: list[str] = []
    # Stored outcomes that hold if the files their names were resolved through keep their interfaces.
    provisional: dict[str, FileOutcome] = {}
    roles = settings.role_policy()
    target = settings.python_version()
    stamps: dict[str, list[int]] = {}
    digests: dict[str, str] = {}
    # When no file of the project changed since the cache was written, every project-wide answer a
    # cached result rests on still holds, and an unchanged stamp means unchanged content: a warm run
    # then reads no file it has no finding for.
    project = cache.current = project_stamps(files) if cache.path is not None else {}
    markers = root_markers(files) if cache.path is not None else []
    # A package made or unmade, or a project root marked or unmarked, renames the modules below it in every stored fact.
    if markers != cache.markers or any(os.path.basename(path) == "__init__.py" for path in set(project) ^ set(cache.project)):
        cache.forget_all()
        cache.markers = markers
    answers_hold = bool(project) and project == cache.project and all(cache.proves(s, s) for s in project.values())
    cache.trust_folders()
    # Otherwise cached results are checked against the index's answers.
    index = None if answers_hold else _prepare_index(options, roles, cache)
    skipped: list[str] = []  # the files left out, each with why (as warnings)
    process_problems: list[str] = []  # worker processes that could not start or ended abruptly (as warnings)
    for path in files:
        key = str(path)
        try:
            info = os.stat(key)
            if not stat.S_ISREG(info.st_mode) or info.st_size > settings.max_file_size:
                problem = _not_checked(key, info, settings.max_file_size)
                if problem.startswith("skipped"):
                    skipped.append(f"{display_path(key, os.getcwd())}: {problem}")
                else:
                    outcomes[key] = FileOutcome(error=problem)
                continue
            stamps[key] = [info.st_mtime_ns, info.st_size]
            if cache.path is None:  # nothing to prove, nothing to store
                pending.append(key)
                continue
            # Its content is read only when its stamp proves nothing.
            if not cache.stamp_proves(os.path.abspath(key), stamps[key]):
                digests[key] = content_digest(path.read_bytes())
            cached = cache.get(os.path.abspath(key), stamps[key], digests.get(key), None if answers_hold else index, fixes)
            if cached is None:
                if key not in digests:  # read once: `setdefault` would read it again
                    digests[key] = content_digest(path.read_bytes())
                pending.append(key)
            else:
                provisional[key] = cached
        except OSError as error:
            outcomes[key] = FileOutcome(error=_unreadable(error))
    analysed: dict[str, str | None] = {}  # absolute path -> its interface, for the files analysed in this run
    modelled_in_workers = 0
    def interface_now(other: str) -> str | None:
        nonlocal index
        if other in analysed:
            return analysed[other]
        if index is None:
            index = _prepare_index(options, roles, cache)
        return index.interface_digest(other, build=True)

    def unproven(other: str, recorded: str) -> bool:
        # What its interface read may have changed since the outcome recorded it: unless its stored module record
        # holds and has that interface, it is compared now (no index: no file changed).
        return index is not None and (other not in index.records_taken or index.interface_digest(other) != recorded)

    while True:
        # The files analysed first, then the stored outcomes resting on a file whose interface that changed
        # (analysed in this run, or not among the files checked, as pre-commit passes only the changed ones).
        if pending:
            if index is None:
                index = _prepare_index(options, roles, cache)
            work = [
                (key, codes, options, roles, target, None, os.path.abspath(key) in cache.rested_on, fixes, cache.path is not None)
                # With workers, the files first are the ones the main process analyses before they start (see
                # `_analyse_all`): database modules, whose facts they then share, not files that only have to parse.
                for key in imports_first(pending, index, codes if jobs <= 1 else None)
            ]
            fresh, elsewhere, problems = _analyse_all(work, jobs, options, roles, cache)
            process_problems += problems
            for number, (job, outcome) in enumerate(zip(work, fresh)):
                outcomes[job[0]] = outcome
                cache.put(os.path.abspath(job[0]), stamps[job[0]], digests.get(job[0], ""), outcome, fixes)
                analysed[os.path.abspath(job[0])] = outcome.interface
                modelled_in_workers += outcome.modelled if number in elsewhere else 0
        pending = [
            key for key, outcome in provisional.items()
            if not cache.interface_holds(os.path.abspath(key), outcome, interface_now, analysed, unproven)
        ]
        if not pending:
            break
        for key in pending:
            del provisional[key]
            if key not in digests:
                digests[key] = content_digest(Path(key).read_bytes())
    outcomes.update(provisional)
    hits, confirmed = len(provisional), sum(key in digests for key in provisional)
    built_here = _drain_new_facts(index) if index is not None else {}  # while checking cached results
    cache.facts.update(built_here)
    if analysed or built_here or cache.changed or not answers_hold or cache.folders_renewed():
        cache.forget_deleted()
        # Else some stored answers were checked against the project as it was before, and others against it as it is.
        cache.project_exact = not cache.unchecked()
        if cache.project_exact:
            cache.project = project
        cache.save(index.records() if index is not None else iter(()))
    modelled = (index.modelled if index is not None else 0) + modelled_in_workers
    unread_modules = _unread_modules(outcomes, lambda: index if index is not None else _index(options, roles))
    return replace(
        _reported(outcomes, len(files), settings, cache.phases), analysed=len(analysed), cached=hits, confirmed=confirmed,
        modelled=modelled, warnings=cache.problems + skipped + process_problems, unread_modules=unread_modules,
    )


def run_source(settings: Settings, path: str, source: bytes, fixes: bool = False) -> RunOutcome:
    """`source` checked as the content of `path` (standard input an editor pipes in, an editor's unsaved
    buffer), without the cache; with `fixes`, each finding carries its fix's edits."""
    _RUN_STAMPS.clear()
    outcome = analyse(
        path, frozenset(settings.selected_codes()), settings.analysis_options(), settings.role_policy(),
        settings.python_version(), source, fixes=fixes,
    )
    phases = {finding.code: phase for finding in outcome.findings if (phase := rule_phase(finding.code)) is not None}
    unread_modules = _unread_modules({path: outcome}, lambda: _index(settings.analysis_options(), settings.role_policy()))
    return replace(_reported({path: outcome}, 1, settings, phases), analysed=1, source_outcome=outcome, unread_modules=unread_modules)


def _reported(outcomes: dict[str, FileOutcome], files: int, settings: Settings, phases: dict[str, int | str]) -> RunOutcome:
    """The run's results and errors, from each file's outcome, in path order, per-file ignores applied."""
    results: list[Result] = []
    errors: list[FileError] = []
    shown_roles: dict[str, str] = {}
    cwd = os.getcwd()
    for key in sorted(outcomes):
        outcome = outcomes[key]
        shown = display_path(key, cwd)
        if outcome.role:
            shown_roles[shown] = outcome.role
        if outcome.error is not None:
            errors.append(FileError(shown, outcome.error, outcome.error_line))
        ignored = tuple(settings.ignored_for_file(key))
        kept = [(f, line) for f, line in zip(outcome.findings, outcome.lines) if not (ignored and f.code.startswith(ignored))]
        results.extend(_fingerprinted(shown, relative_path(key, settings.root), outcome.role, kept, settings, phases))
    return RunOutcome(results, errors, files, roles=shown_roles)


def _unread_modules(outcomes: dict[str, FileOutcome], index_of: Callable[[], ProjectIndex]) -> list[UnreadModule]:
    """The project modules the checks could not read (in this run, or when their stored results were computed), each
    with the checked files whose import statements reach it, directly or through other project modules: the same
    whichever check tried it first, and whether that was in this run or an earlier one. A module no checked file
    imports is left out."""
    found: dict[str, tuple[str, int]] = {}
    for outcome in outcomes.values():
        for module, (why, line) in outcome.unread.items():
            found.setdefault(module, (why, line))
    if not found:
        return []
    checked = {os.path.abspath(key): key for key, outcome in outcomes.items() if outcome.error is None}
    importers = _importers(set(found), list(checked), index_of())
    cwd = os.getcwd()
    return [
        UnreadModule(display_path(module, cwd), why, line, sorted(display_path(checked[path], cwd) for path in importers[module]))
        for module, (why, line) in sorted(found.items())
        if importers[module]
    ]


def _importers(modules: set[str], files: list[str], index: ProjectIndex) -> dict[str, set[str]]:
    """For each of `modules`, which of `files` (absolute paths) import it, directly or through the project modules
    they import, as their import statements' first lines tell."""
    imported_by: dict[str, list[str]] = {}
    read: set[str] = set()
    pending = list(files)
    while pending:
        path = pending.pop()
        if path in read:
            continue
        read.add(path)
        for module in _imported_files(path, _text_or_nothing(path), index):
            imported_by.setdefault(module, []).append(path)
            pending.append(module)
    wanted = set(files)
    found: dict[str, set[str]] = {}
    for module in modules:
        reached, stack = {module}, [module]
        while stack:
            for importer in imported_by.get(stack.pop(), ()):
                if importer not in reached:
                    reached.add(importer)
                    stack.append(importer)
        found[module] = (reached - {module}) & wanted
    return found


class Analysed(NamedTuple):
    """What `_analyse_all` computed: each job's outcome, in order; the numbers of those another process computed
    (what those modelled is counted there); and what to warn of."""

    outcomes: list[FileOutcome]
    elsewhere: frozenset[int]
    problems: list[str]


def _analyse_all(work: list[Job], jobs: int, options: AnalysisOptions, roles: RolePolicy, cache: Cache) -> Analysed:
    """The outcomes of `work`. The first files (imports first: the project's database modules) ask most of the
    project-wide facts (which functions serve requests or are dependencies, the project's words): the main process
    analyses them itself, once, and the workers forked afterwards start with its index. Meanwhile a helper process
    checks the files that need no tree (tests, files naming no database: see `_analyse_treeless`), from the end of
    `work`, where `imports_first` puts most of them: their checks need none of those facts, and the other cores
    would otherwise wait for the main process. The workers take the files left in SHARED_WAVES waves, in the order
    given; after each wave, what the workers' indexes kept of the modules they let go, and the module facts they
    built, are handed to every worker, so a module is modelled once for the project rather than once per worker
    that looks names up in it. A process that ends abruptly (killed, out of memory) loses no file: the workers
    take the helper's, and the main process analyses what the workers had left."""
    if jobs <= 1 or len(work) < MIN_PARALLEL_FILES:
        return Analysed([_analyse_job(job) for job in work], frozenset(), [])
    import multiprocessing  # only here: a warm run starts no process
    import tempfile
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    try:
        head_done = multiprocessing.Event()  # a semaphore, as the pools' queues need
    except (OSError, ImportError) as error:  # none on this system (some sandboxes): one process analyses them all
        problem = f"cannot start worker processes ({error}): the files were analysed in one process"
        return Analysed([_analyse_job(job) for job in work], frozenset(), [problem])
    head = len(work) // HEAD_SHARE
    initargs = (options, roles, cache.stored_facts, os.getpid())
    outcomes, problems = _head_beside_helper(work, head, head_done, initargs)
    _load_analysis()  # before the pool forks its workers, which then start with it loaded
    left = [number for number in range(head, len(work)) if number not in outcomes]
    lost: list[int] = []  # the numbers of those the main process analysed after all
    try:
        with tempfile.TemporaryDirectory(prefix="asq-shared-") as folder, ProcessPoolExecutor(
            max_workers=jobs, initializer=_start_worker, initargs=initargs
        ) as pool:
            shared_files: list[str] = []
            size = max(1, -(-len(left) // SHARED_WAVES))
            for start in range(0, len(left), size):
                numbers = left[start : start + size]
                wave = [(work[number], tuple(shared_files)) for number in numbers]
                done = list(pool.map(_analyse_shared_job, wave, chunksize=max(1, len(wave) // (jobs * 4))))
                shared: dict[str, dict] = {"modules": {}, "facts": {}, "records": {}}
                for number, outcome in zip(numbers, done):
                    shared["modules"].update(outcome.shared)
                    shared["records"].update(outcome.records)
                    shared["facts"].update(outcome.new_facts)
                    outcome.shared = {}
                    outcomes[number] = outcome
                if start + size < len(left):
                    shared_files.append(os.path.join(folder, f"wave-{len(shared_files)}.json"))
                    Path(shared_files[-1]).write_text(json.dumps(shared), encoding="utf-8")
    except BrokenProcessPool:
        lost = [number for number in left if number not in outcomes]
        problems.append(f"a worker process ended abruptly: the main process analysed the {len(lost)} files left")
        outcomes.update((number, _analyse_job(work[number])) for number in lost)
    elsewhere = frozenset(range(head, len(work))).difference(lost)
    return Analysed([outcomes[number] for number in range(len(work))], elsewhere, problems)


def _head_beside_helper(
    work: list[Job], head: int, head_done: Event, initargs: tuple
) -> tuple[dict[int, FileOutcome], list[str]]:
    """The outcomes of the first `head` jobs, analysed here, and of those the helper checked meanwhile (by their
    numbers in `work`); and what to warn of."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    outcomes: dict[int, FileOutcome] = {}
    problems: list[str] = []
    with ProcessPoolExecutor(max_workers=1, initializer=_start_helper, initargs=(head_done, *initargs)) as helper:
        tail = range(len(work) - 1, head - 1, -1)
        batches = [tail[start : start + TREELESS_BATCH] for start in range(0, len(tail), TREELESS_BATCH)]
        asked = [(batch, helper.submit(_analyse_treeless, [work[number] for number in batch])) for batch in batches]
        outcomes.update((number, _analyse_job(work[number])) for number in range(head))
        # The batches the helper has not started come back empty: the workers take their files. (Cancelling them
        # instead races with the helper ending abruptly: Python 3.11's executor then fails on the cancelled ones.)
        head_done.set()
        try:
            for batch, future in asked:
                outcomes.update((number, outcome) for number, outcome in zip(batch, future.result()) if outcome is not None)
        except BrokenProcessPool:
            problems.append("the process checking files that need no tree ended abruptly: the workers checked them")
    return outcomes, problems


def _analyse_treeless(jobs: list[Job]) -> list[FileOutcome | None]:
    """The helper's work (see `_analyse_all`): the outcome of each job whose file needs no tree (its check only
    asks whether it parses), None for the others, and for a file it cannot read (a worker reports that)."""
    from flake8_async_sqla.core.checker import codes_for_role, needs_tree

    outcomes: list[FileOutcome | None] = []
    for job in jobs:
        if _HEAD_DONE is not None and _HEAD_DONE.is_set():
            return outcomes + [None] * (len(jobs) - len(outcomes))
        path, codes, options, roles = job[:4]
        try:
            _, text = read_source(Path(path))
        except OSError:
            outcomes.append(None)
            continue
        treeless = not needs_tree(codes_for_role(roles.role_of(path, text), roles, codes), text, options)
        outcomes.append(_analyse_job(job) if treeless else None)
    return outcomes


def _analyse_shared_job(job: tuple[Job, tuple[str, ...]]) -> FileOutcome:
    """A worker's job: first take what the waves so far shared (each file once per worker), then analyse the
    file, noting what the index lets go for the next waves."""
    from flake8_async_sqla.core.module_facts import ModuleFacts

    analysis, shared_files = job
    index = _index(analysis[2], analysis[3])
    for path in shared_files:
        if path not in _ADOPTED:
            _ADOPTED.add(path)
            shared = json.loads(Path(path).read_text(encoding="utf-8"))
            index.adopt(shared["modules"], shared["records"])
            index.stored_facts.update(
                {module: (digest, ModuleFacts.from_json(facts)) for module, (digest, facts) in shared["facts"].items()}
            )
    index.sharing = True
    outcome = _analyse_job(analysis)
    outcome.shared = index.shared()
    return outcome


def imports_first(paths: list[str], index: ProjectIndex, codes: frozenset[str] | None = None) -> list[str]:
    """`paths` reordered so that a module comes before the files that import it (otherwise, and around
    import cycles, in the order given): the index then finds the names of an imported module kept from its
    own check, rather than modelling it once for its importer and once more for its check. The files whose text
    names no database or framework come last: their check needs no model, and their parse none either once the
    index has read them for another file's lookups (see `check_source`). Given the `codes` checked, the files whose
    role reports none of them (tests, migrations) come first: their check only asks whether they parse, and asked
    while the index is small, what that costs in memory (a large test module) adds least to the run's peak."""
    from flake8_async_sqla.core.checker import codes_for_role, is_relevant

    absolute = {os.path.abspath(path): path for path in paths}
    imported: dict[str, list[str]] = {}
    relevant: set[str] = set()
    unreported: set[str] = set()
    for path in absolute:
        text = _text_or_nothing(path)
        imported[path] = [m for m in _imported_files(path, text, index) if m in absolute and m != path]
        # The words it looks for are ASCII: found in any ASCII-compatible encoding's bytes read as Latin-1.
        words = text.decode("latin-1")
        if is_relevant(words, index.options):
            relevant.add(absolute[path])
        if codes is not None and not codes_for_role(index.roles.role_of(path, words), index.roles, codes):
            unreported.add(absolute[path])
    ordered: list[str] = []
    placed: set[str] = set()
    for start in absolute:
        if start in placed:
            continue
        placed.add(start)
        stack = [(start, iter(imported[start]))]
        while stack:  # depth first, post-order, without recursion
            module, dependencies = stack[-1]
            dependency = next(dependencies, None)
            if dependency is None:
                stack.pop()
                ordered.append(absolute[module])
            elif dependency not in placed:
                placed.add(dependency)
                stack.append((dependency, iter(imported[dependency])))
    first = [path for path in paths if path in unreported]
    rest = [path for path in ordered if path not in unreported]
    return first + [path for path in rest if path in relevant] + [path for path in rest if path not in relevant]


def _text_or_nothing(path: str) -> bytes:
    """The bytes of a file, none when it cannot be read (an import hint from it is only missed)."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _imported_files(path: str, text: bytes, index: ProjectIndex) -> list[str]:
    """The project files `path` imports, as far as its import statements' first lines in `text` tell (an ordering
    hint, not a fact: a module it misses is only modelled twice)."""
    found: list[str | None] = []
    for dots, module, names, plain in IMPORT_STATEMENT.findall(b"\n" + text):
        if plain:
            found.extend(index.find_module(name, path) for name in _imported_names(plain))
            continue
        if dots:  # relative to the file's package
            base = os.path.dirname(path)
            for _ in range(len(dots) - 1):
                base = os.path.dirname(base)
            imported = module_file(os.path.join(base, *module.decode().split(".")) if module else base)
        else:
            imported = index.find_module(module.decode(), path)
        found.append(imported)
        if imported is not None and os.path.basename(imported) == "__init__.py":  # `from pkg import module`
            package = os.path.dirname(imported)
            found.extend(module_file(os.path.join(package, name)) for name in _imported_names(names))
    return [file for file in found if file is not None]


def _imported_names(names: bytes) -> list[str]:
    """`a, b as c` -> ["a", "b"]."""
    return [part.split()[0].decode() for part in names.split(b",") if part.split()]


def root_markers(files: list[Path]) -> list[str]:
    """The project root markers (`pyproject.toml`, `setup.cfg`, `.git`) in the folders of `files` and above them, up
    to the first marked one: they decide the files' module names."""
    found: set[str] = set()
    seen: set[str] = set()
    for file in files:
        folder = os.path.dirname(os.path.abspath(file))
        while folder not in seen:
            seen.add(folder)
            here = [marker for name in ROOT_MARKERS if os.path.exists(marker := os.path.join(folder, name))]
            found.update(here)
            parent = os.path.dirname(folder)
            if here or parent == folder:
                break
            folder = parent
    return sorted(found)


def project_stamps(files: list[Path]) -> dict[str, list[int]]:
    """Modification time and size of every Python file of the projects `files` belong to."""
    stamps: dict[str, list[int]] = {}
    one_a_folder = {os.path.dirname(str(path)): str(path) for path in files}  # a folder's files share a root
    for root in sorted({project_root(path) for path in one_a_folder.values()}):
        for path in python_files(root) or ():
            stamp = stored_stamp(path)
            if stamp is not None:
                stamps[path] = stamp
    return stamps


def display_path(path: str, cwd: str) -> str:
    shown = relative_path(path, cwd)
    return shown if not shown.startswith("/") else path


def _fingerprinted(
    path: str, project_path: str, role: str, findings: list[tuple[Finding, str]], settings: Settings,
    phases: dict[str, int | str],
) -> list[Result]:
    """Results of one file's findings (`path` as shown, `project_path` relative to the project root), each with the
    text of its line."""
    seen: dict[str, int] = {}
    results = []
    for finding, line in sorted(findings):
        basis = "|".join((project_path, finding.code, finding.context, line))
        seen[basis] = seen.get(basis, 0) + 1
        fails = settings.fails(phases.get(finding.code))
        results.append(Result(path, finding, fails, role, f"{basis}|{seen[basis]}", project_path))
    return results

