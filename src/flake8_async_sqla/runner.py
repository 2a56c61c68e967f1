"""`check` without the printing: read, cache, analyse in parallel, filter, fingerprint."""

from __future__ import annotations

import gc
import hashlib
import io
import json
import os
import tokenize
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flake8_async_sqla import __version__
from flake8_async_sqla.config import Settings, relative_path
from flake8_async_sqla.core.checker import check_tree
from flake8_async_sqla.core.parsing import ParseFailure, parse
from flake8_async_sqla.core.options import AnalysisOptions
from flake8_async_sqla.core.project import DEFAULT_INDEX, use_options
from flake8_async_sqla.core.rule import Finding
from flake8_async_sqla.noqa import NoqaMap


@dataclass(frozen=True)
class Result:
    """A finding as the command reports it."""

    path: str  # as shown: relative to the working folder when below it
    finding: Finding
    fails: bool
    fingerprint: str


@dataclass
class FileOutcome:
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    depends_on: dict[str, list[int]] = field(default_factory=dict)  # path -> [mtime_ns, size]


@dataclass
class RunOutcome:
    results: list[Result]
    errors: list[tuple[str, str]]  # (path, problem)
    files: int


def read_source(path: Path) -> tuple[bytes, str]:
    """Bytes and decoded text (coding cookie and BOM honoured, undecodable bytes replaced)."""
    data = path.read_bytes()
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:
        encoding = "utf-8"
    try:
        text = data.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        text = data.decode("utf-8", errors="replace")
    return data, text.removeprefix("\ufeff")


def analyse(path: str, data: bytes, text: str, codes: frozenset[str], options: AnalysisOptions) -> FileOutcome:
    """One file: parse, check, drop `# noqa`ed findings. Never raises."""
    use_options(options)
    try:
        tree = parse(data, path)
    except ParseFailure as failure:
        return FileOutcome(error=str(failure))
    DEFAULT_INDEX.consulted = set()
    findings = check_tree(tree, path, text, codes)
    kept = findings
    if findings and "noqa" in text.lower():  # tokenizing costs more than parsing: only where it can matter
        noqa = NoqaMap(text)
        kept = [f for f in findings if not noqa.suppresses(f.line, f.code)]
    depends_on = {}
    for other in DEFAULT_INDEX.consulted:
        try:
            info = os.stat(other)
        except OSError:
            continue
        depends_on[other] = [info.st_mtime_ns, info.st_size]
    return FileOutcome(kept, None, depends_on)


def _analyse_job(job: tuple[str, bytes, str, frozenset[str], AnalysisOptions]) -> FileOutcome:
    return analyse(*job)


class Cache:
    """Per-file outcomes keyed by content, settings and tool version, in one JSON file."""

    def __init__(self, folder: Path | None, settings_key: str) -> None:
        self.path = folder / f"check-{__version__}.json" if folder else None
        self.settings_key = settings_key
        self.entries: dict[str, dict] = {}
        if self.path is not None and self.path.is_file():
            try:
                stored = json.loads(self.path.read_text(encoding="utf-8"))
                if stored.get("settings") == settings_key:
                    self.entries = stored["files"]
            except (OSError, ValueError, KeyError, TypeError):
                self.entries = {}

    def get(self, path: str, digest: str) -> FileOutcome | None:
        entry = self.entries.get(path)
        if entry is None or entry.get("digest") != digest:
            return None
        for other, stamp in entry["depends_on"].items():
            try:
                info = os.stat(other)
            except OSError:
                return None
            if [info.st_mtime_ns, info.st_size] != stamp:
                return None
        findings = [Finding(**{**f, "fields": tuple(map(tuple, f["fields"]))}) for f in entry["findings"]]
        return FileOutcome(findings, entry["error"], entry["depends_on"])

    def put(self, path: str, digest: str, outcome: FileOutcome) -> None:
        self.entries[path] = {
            "digest": digest,
            "findings": [asdict(f) for f in outcome.findings],
            "error": outcome.error,
            "depends_on": outcome.depends_on,
        }

    def save(self) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            (self.path.parent / ".gitignore").write_text("*\n")
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps({"settings": self.settings_key, "files": self.entries}), encoding="utf-8")
            temporary.replace(self.path)
        except OSError:
            pass  # a read-only tree still gets its results, just not cached


def _tune_collector() -> None:
    """The analysis allocates many small, long-lived objects (trees, models): collecting them
    over and over costs a quarter of the run and frees nothing, so collect far less often."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def run(settings: Settings, files: list[Path], jobs: int, cache_folder: Path | None) -> RunOutcome:
    _tune_collector()
    codes = frozenset(settings.selected_codes())
    cache = Cache(cache_folder, settings.fingerprint())
    outcomes: dict[str, FileOutcome] = {}
    sources: dict[str, str] = {}
    pending: list[tuple[str, bytes, str, frozenset[str], AnalysisOptions]] = []
    options = settings.analysis_options()
    digests: dict[str, str] = {}
    for path in files:
        key = str(path)
        try:
            data, text = read_source(path)
        except OSError as error:
            outcomes[key] = FileOutcome(error=f"cannot read: {error.strerror or error}")
            continue
        sources[key] = text
        digests[key] = hashlib.blake2b(data, digest_size=16).hexdigest()
        cached = cache.get(os.path.abspath(key), digests[key])
        if cached is not None:
            outcomes[key] = cached
        else:
            pending.append((key, data, text, codes, options))
    if jobs > 1 and len(pending) > 1:
        with ProcessPoolExecutor(max_workers=jobs, initializer=_tune_collector) as pool:
            fresh = list(pool.map(_analyse_job, pending, chunksize=max(1, len(pending) // (jobs * 8))))
    else:
        fresh = [_analyse_job(job) for job in pending]
    for job, outcome in zip(pending, fresh):
        outcomes[job[0]] = outcome
        cache.put(os.path.abspath(job[0]), digests[job[0]], outcome)
    if pending:
        cache.save()
    results: list[Result] = []
    errors: list[tuple[str, str]] = []
    for key in sorted(outcomes):
        outcome = outcomes[key]
        shown = display_path(key)
        if outcome.error is not None:
            errors.append((shown, outcome.error))
        ignored = tuple(settings.ignored_for_file(Path(key)))
        kept = [f for f in outcome.findings if not (ignored and f.code.startswith(ignored))]
        results.extend(_fingerprinted(shown, kept, sources.get(key, ""), settings))
    return RunOutcome(results, errors, len(files))


def display_path(path: str) -> str:
    shown = relative_path(Path(path), Path.cwd())
    return shown if not shown.startswith("/") else path


def _fingerprinted(path: str, findings: list[Finding], text: str, settings: Settings) -> list[Result]:
    """A fingerprint per finding that survives unrelated edits: no line numbers in it."""
    lines = text.splitlines()
    seen: dict[str, int] = {}
    results = []
    for finding in sorted(findings):
        line = lines[finding.line - 1] if 0 < finding.line <= len(lines) else ""
        basis = "|".join((path, finding.code, finding.context, " ".join(line.split())))
        seen[basis] = seen.get(basis, 0) + 1
        digest = hashlib.sha1(f"{basis}|{seen[basis]}".encode()).hexdigest()[:16]
        results.append(Result(path, finding, settings.fails(finding.code), digest))
    return results
