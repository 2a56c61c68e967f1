"""What the project index notes of what each module read, so that a later run can take what it kept of a module
instead of modelling it again: a part of `ProjectIndex` (one of its bases), over the index's state."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from functools import partial
from typing import Collection, Iterable, Iterator

from flake8_async_sqla.core.layout import content_digest
from flake8_async_sqla.core.module_facts import ModuleReads, ReleasedModule, function_summaries
from flake8_async_sqla.core.project_text import plain_definitions
from flake8_async_sqla.core.summaries import SOLVER


class ModuleRecords:
    """The records part of `ProjectIndex`, a base of it: what each module's names and summaries read of the rest of the
    project while they were computed, the records a later run takes instead of modelling the module again, and the
    interfaces that decide whether a stored result still holds."""

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
        self._interface_reads[path] = reads_of_record(deps)
        module = ReleasedModule.from_json(json.loads(module_json))
        for summary in function_summaries(module):
            if not summary.complete:
                summary.fallback = partial(self._rebuilt_effect, path, stamp, summary.qualname)
        self._released[path] = (stamp, module)
        self._interfaces[path] = (module, interface)

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


def reads_of_record(deps: dict) -> ModuleReads:
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
