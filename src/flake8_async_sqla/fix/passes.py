"""Fixing files in passes: apply what does not overlap, check the result again, repeat (a bounded number of
times). Nothing is written here: `FileFix` holds the fixed text, for `--fix` to write or `--diff` to show."""

from __future__ import annotations

import difflib
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flake8_async_sqla.config import Settings
from flake8_async_sqla.core.parsing import ParseFailure, parse
from flake8_async_sqla.core.project import ProjectIndex
from flake8_async_sqla.core.rule import SAFE, Finding, all_rules
from flake8_async_sqla.fix.apply import PendingFix, apply_fixes
from flake8_async_sqla.fix.files import SourceFile, UnfixableFile
from flake8_async_sqla.runner import RunOutcome, check_source

# A fix can make another one possible, or wait for one it overlaps: each pass re-checks the fixed text.
MAX_PASSES = 10

Recheck = Callable[[str, str], list[Finding]]  # (path, text) -> the findings of that text, with their fixes


@dataclass
class FileFix:
    path: str
    source: SourceFile
    text: str  # the fixed text
    applied: Counter[str] = field(default_factory=Counter)  # code -> fixes applied
    pending: int = 0  # applicable fixes left when the passes ran out
    rejected: list[str] = field(default_factory=list)  # fixes left out because their result was not Python

    @property
    def changed(self) -> bool:
        return self.text != self.source.text

    def write(self) -> None:
        self.source.write(self.text)

    def diff(self) -> str:
        before = self.source.text.splitlines(keepends=True)
        after = self.text.splitlines(keepends=True)
        lines = difflib.unified_diff(before, after, f"a/{self.path}", f"b/{self.path}")
        return "".join(line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n" for line in lines)


def applicable(unsafe: bool) -> Callable[[Finding], bool]:
    """Whether `--fix` applies a finding's fix: it has one, and it is safe, or unsafe ones are allowed."""
    rules = all_rules()

    def applies(finding: Finding) -> bool:
        rule = rules.get(finding.code)
        return bool(finding.edits) and rule is not None and rule.fix is not None and (unsafe or rule.fix.safety == SAFE)

    return applies


def fix_outcome(outcome: RunOutcome, settings: Settings, unsafe: bool) -> tuple[list[FileFix], list[tuple[str, str]]]:
    """The files of a checked run (its findings carrying their fixes) with their applicable fixes applied:
    those that changed, and the files that could not be fixed (path, why)."""
    applies = applicable(unsafe)
    by_path: dict[str, list[Finding]] = {}
    for result in outcome.results:
        by_path.setdefault(result.path, []).append(result.finding)
    recheck = rechecker(settings)
    fixed, errors = [], []
    for path, findings in sorted(by_path.items()):
        if not any(applies(finding) for finding in findings):
            continue
        try:
            file_fix = fix_file(path, findings, recheck, applies)
        except (OSError, UnfixableFile) as error:
            errors.append((path, f"not fixed: {error}"))
            continue
        if file_fix.changed or file_fix.rejected:
            fixed.append(file_fix)
    return fixed, errors


def rechecker(settings: Settings) -> Recheck:
    """Checks a fixed text not yet written, as `check` would check the file: its role, selection, noqa and
    per-file ignores. Each text gets an index of its own: the process's index knows the file as written."""
    codes = frozenset(settings.selected_codes())
    options = settings.analysis_options()
    roles = settings.role_policy()

    def recheck(path: str, text: str) -> list[Finding]:
        outcome = check_source(path, text, text, codes, roles, ProjectIndex(options), fixes=True)
        ignored = tuple(settings.ignored_for_file(path))
        return [finding for finding in outcome.findings if not (ignored and finding.code.startswith(ignored))]

    return recheck


def fix_file(path: str, findings: list[Finding], recheck: Recheck, applies: Callable[[Finding], bool]) -> FileFix:
    """Apply the fixes of `findings` (found in the file as it is on disk) and then of each re-check, until none
    is left or MAX_PASSES passes have run. A pass whose result is not valid Python is retried one fix at a
    time, and the fixes that break it are left out."""
    source = SourceFile.read(Path(path))
    file_fix = FileFix(path, source, source.text)
    valid = _validator(path, source.text)
    rejected: set[tuple[str, tuple]] = set()
    for _ in range(MAX_PASSES):
        fixes = [
            PendingFix(f.code, f.line, f.edits) for f in findings if applies(f) and (f.code, f.edits) not in rejected
        ]
        if not fixes:
            return file_fix
        text, applied, _ = apply_fixes(file_fix.text, fixes, source.newline)
        if not valid(text):
            text, applied, broken = _one_at_a_time(file_fix.text, fixes, source.newline, valid)
            rejected.update((fix.code, fix.edits) for fix in broken)
            file_fix.rejected += [f"{fix.code} on line {fix.line}" for fix in broken]
        if not applied:
            return file_fix
        file_fix.text = text
        file_fix.applied.update(fix.code for fix in applied)
        findings = recheck(path, text)
    file_fix.pending = sum(1 for f in findings if applies(f) and (f.code, f.edits) not in rejected)
    return file_fix


def _one_at_a_time(
    text: str, fixes: list[PendingFix], newline: str, valid: Callable[[str], bool]
) -> tuple[str, list[PendingFix], list[PendingFix]]:
    """The fixes that, added one by one, keep the text valid: the text with them, them, and those that broke it."""
    kept: list[PendingFix] = []
    broken: list[PendingFix] = []
    result = text
    for fix in fixes:
        trial, applied, _ = apply_fixes(text, [*kept, fix], newline)
        if fix not in applied:
            continue  # overlaps one kept: the next pass
        if valid(trial):
            kept, result = applied, trial
        else:
            broken.append(fix)
    return result, kept, broken


def _validator(path: str, original: str) -> Callable[[str], bool]:
    """Whether a fixed text is Python: it compiles (which also rejects an `await` outside `async def`), or, for a
    file that only the tool's own parser reads (newer syntax than this Python's), it parses as the original did."""

    def compiles(text: str) -> bool:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like: the file's own business
            try:
                compile(text, path, "exec", dont_inherit=True)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                return False
        return True

    def parses(text: str) -> bool:
        try:
            parse(text, path)
        except ParseFailure:
            return False
        return True

    return compiles if compiles(original) else parses
