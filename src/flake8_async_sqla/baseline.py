"""The CI ratchet: record today's findings, then fail only on new ones.

Entries match on path, code and a fingerprint of the offending line and its enclosing
function, never on line numbers, so unrelated edits above a finding keep it matched. Paths are
relative to the project root (the folder of its configuration), so a baseline written from one
folder serves from any other.
"""

from __future__ import annotations

import json
import os
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from flake8_async_sqla import __version__
from flake8_async_sqla.config import relative_path
from flake8_async_sqla.runner import Result

FORMAT = "flake8-async-sqla-baseline"
FORMAT_VERSION = 1
ENTRY_KEYS = {"path": str, "code": str, "fingerprint": str, "line": int, "message": str}


class BaselineError(Exception):
    """A baseline file that is missing, corrupt, not ours, or cannot be written; reported with exit status 2."""


@dataclass(frozen=True)
class Entry:
    path: str
    code: str
    fingerprint: str
    line: int
    message: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.path, self.code, self.fingerprint)


def entries_of(results: list[Result]) -> list[Entry]:
    return [
        Entry(r.project_path, r.finding.code, r.fingerprint, r.finding.line, r.finding.message.partition(" ")[2])
        for r in results
    ]


def write(path: Path, entries: list[Entry]) -> None:
    document = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "tool_version": __version__,
        "findings": [entry.__dict__ for entry in sorted(entries, key=lambda e: (e.path, e.line, e.code))],
    }
    try:
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        raise BaselineError(f"{path}: cannot write the baseline: {error.strerror or error}") from error


def load(path: Path) -> list[Entry]:
    """The entries of the baseline at `path` (a UTF-8 BOM is allowed); BaselineError for anything else than a
    regular file holding a baseline of this format."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block, a device never end
            raise BaselineError(f"{path}: cannot read the baseline: not a regular file")
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as error:
        raise BaselineError(f"{path}: cannot read the baseline: {error.strerror or error}") from error
    except (ValueError, RecursionError) as error:  # a decoding error is a ValueError too
        problem = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise BaselineError(f"{path}: the baseline is not valid JSON ({problem}); rewrite it with --write-baseline") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BaselineError(f"{path}: not a flake8-async-sqla baseline (no \"format\": \"{FORMAT}\")")
    if document.get("version") != FORMAT_VERSION:
        raise BaselineError(f"{path}: baseline format version {document.get('version')!r} is not {FORMAT_VERSION}")
    findings = document.get("findings")
    if not isinstance(findings, list):
        raise BaselineError(f"{path}: \"findings\" must be a list")
    entries = []
    for number, item in enumerate(findings, 1):
        if not isinstance(item, dict) or set(item) != set(ENTRY_KEYS) or not all(
            isinstance(item[k], t) for k, t in ENTRY_KEYS.items()
        ):
            raise BaselineError(
                f"{path}: entry {number} must have exactly the keys {sorted(ENTRY_KEYS)} with string/int values"
            )
        entries.append(Entry(**item))
    return entries


def compare(
    results: list[Result], baseline: list[Entry], root: Path, checked: list[Path]
) -> tuple[list[Result], list[Entry]]:
    """(results not in the baseline, baseline entries no longer found), matched as multisets. Only entries of files
    below the `checked` paths can be found no more: a run over one folder leaves the others' entries alone."""
    remaining = Counter(entry.key for entry in baseline)
    new = []
    for result, entry in zip(results, entries_of(results)):
        if remaining[entry.key] > 0:
            remaining[entry.key] -= 1
        else:
            new.append(result)
    scope = [relative_path(path, root) for path in checked]
    stale = []
    for entry in baseline:
        if remaining[entry.key] > 0 and any(_below(entry.path, folder) for folder in scope):
            remaining[entry.key] -= 1
            stale.append(entry)
    return new, stale


def outside(path: Path, root: Path, checked: list[Path]) -> list[Entry]:
    """The entries of the baseline at `path` for files that are not below the `checked` paths: writing a baseline
    from a run over one folder keeps the rest of the project's. None of a missing or unreadable baseline (it is
    being written anew)."""
    try:
        entries = load(path)
    except BaselineError:
        return []
    scope = [relative_path(folder, root) for folder in checked]
    return [entry for entry in entries if not any(_below(entry.path, folder) for folder in scope)]


def _below(path: str, checked: str) -> bool:
    """Whether the project path `path` is the checked path `checked` (both relative to the root), or below it."""
    return checked == "." or path == checked or path.startswith(checked.rstrip("/") + "/")


def without(entries: list[Entry], dropped: list[Entry]) -> list[Entry]:
    """`entries` less one occurrence of each entry in `dropped`."""
    to_drop = Counter(entry.key for entry in dropped)
    kept = []
    for entry in entries:
        if to_drop[entry.key] > 0:
            to_drop[entry.key] -= 1
        else:
            kept.append(entry)
    return kept
