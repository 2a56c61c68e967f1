"""Which files `check` reads: Python files under the given paths, minus excluded and git-ignored ones."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from flake8_async_sqla import __version__
from flake8_async_sqla.config import DEFAULT_EXCLUDE, Settings, relative_path
from flake8_async_sqla.core.layout import CLOCK_GRAIN_NS, folders_unchanged, stored_stamp

# A pattern without these is a plain name: it excludes any file or folder of that name, at any depth.
NOT_PLAIN = re.compile(r"[*?\[\]!/\\#\s]")


OUTPUT_FOLDERS = ("build", "dist")


class Discovery:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = os.path.abspath(settings.root)
        patterns = [*settings.exclude, *settings.extend_exclude]
        # Plain names (all the defaults) are a set lookup per name; pathspec, imported only when a pattern
        # or a .gitignore needs it, would try every pattern's regex on every path.
        self.excluded_names = {p for p in patterns if p and not NOT_PLAIN.search(p)}
        # Default names of build output (`build`, `dist`) that a project also uses for a package of its own code
        # (`app/features/build/`, inside a package): such a package is checked unless the user names it.
        defaults = list(settings.exclude) == list(DEFAULT_EXCLUDE)
        self.output_names = {name for name in OUTPUT_FOLDERS if defaults and name not in settings.extend_exclude}
        self.exclude = _spec([p for p in patterns if p not in self.excluded_names])
        self._gitignores: dict[str, PatternSpec | None] = {}
        self._chains: dict[str, list[tuple[str, PatternSpec]]] = {}
        # What the answer rests on, for a stored walk (see `discover`): the modification time of each folder whose
        # entries it read (a name added, removed or renamed there changes it), and the stamp of each .gitignore it
        # read or looked for (None: there was none).
        self.folders: dict[str, int | None] = {}
        self.ignore_files: dict[str, list[int] | None] = {}
        self.unlisted = False  # a folder could not be listed: a fix of its permissions changes no stamp above

    def files(self, paths: list[Path]) -> Iterator[Path]:
        """Files in a stable order; a file named on the command line is always checked. A path that is missing or
        no file, and a folder that cannot be listed, are given too: the reader reports them, they never vanish."""
        seen: set[str] = set()
        for path in paths:
            if not path.is_dir():
                yield path
                continue
            yield from self._walk(path, seen)

    def leaves_out(self, path: Path | str) -> bool:
        """Whether a walk of the project root would leave the file out (an editor's buffer is checked only if
        not); a file outside the root is not left out."""
        relative = relative_path(path, self.root)
        if relative == "." or relative.startswith("/") or relative.startswith("../"):
            return False
        *folders, name = relative.split("/")
        folder = self.root
        for depth, subfolder in enumerate(folders):
            if self._skipped(folder, "/".join(folders[:depth]) or ".", subfolder, is_dir=True):
                return True
            folder = os.path.join(folder, subfolder)
        return self._skipped(folder, "/".join(folders) or ".", name, is_dir=False)

    def _walk(self, top: Path, seen: set[str]) -> Iterator[Path]:
        unlisted: list[OSError] = []
        for folder, subfolders, filenames in os.walk(top, onerror=unlisted.append, followlinks=True):
            self.unlisted |= bool(unlisted)
            yield from (Path(error.filename) for error in unlisted)
            unlisted.clear()
            real = os.path.realpath(folder)
            if real in seen:  # a symlink loop, or a folder reached twice
                subfolders[:] = []
                continue
            seen.add(real)
            self._note_folder(folder)
            relative = relative_path(folder, self.root)
            if not (self.excluded_names - self.output_names).isdisjoint(relative.split("/")):  # the walk started inside one
                subfolders[:] = []
                continue
            absolute = os.path.abspath(folder)
            subfolders[:] = sorted(d for d in subfolders if not self._skipped(absolute, relative, d, is_dir=True))
            for name in sorted(filenames):
                if name.endswith((".py", ".pyi")) and not self._skipped(absolute, relative, name, is_dir=False):
                    yield Path(folder, name)
        self.unlisted |= bool(unlisted)
        yield from (Path(error.filename) for error in unlisted)

    def _skipped(self, folder: str, relative_folder: str, name: str, is_dir: bool) -> bool:
        """Whether `name` in `folder` (absolute, and as relative_path gives it) is left out."""
        if name in self.excluded_names:
            return not (is_dir and name in self.output_names and self._in_a_package(os.path.join(folder, name)))
        slash = "/" if is_dir else ""
        relative = name if relative_folder == "." else f"{relative_folder}/{name}"
        if self.exclude is not None and (self.exclude.match_file(relative + slash) or self.exclude.match_file(name + slash)):
            return True
        path = os.path.join(folder, name)
        if is_dir and self._note_folder(path) and os.path.isfile(os.path.join(path, "pyvenv.cfg")):
            return True
        return self.settings.respect_gitignore and self._git_ignored(path, is_dir)

    def _git_ignored(self, path: str, is_dir: bool) -> bool:
        """Matched by a .gitignore in any folder from the project root down to the file's own."""
        slash = "/" if is_dir else ""
        for folder, spec in self._gitignores_above(os.path.dirname(path)):
            if spec.match_file(relative_path(path, folder) + slash):
                return True
        return False

    def _gitignores_above(self, folder: str) -> list[tuple[str, PatternSpec]]:
        """The .gitignore files that apply in `folder`: its own and those of the folders above it, up to
        the project root (none above the root, and only its own outside it)."""
        if folder in self._chains:
            return self._chains[folder]
        found = []
        current = folder
        while True:
            spec = self._gitignore(current)
            if spec is not None:
                found.append((current, spec))
            parent = os.path.dirname(current)
            if current == self.root or parent == current or not current.startswith(self.root + os.sep):
                break
            current = parent
        self._chains[folder] = found
        return found

    def _gitignore(self, folder: str) -> PatternSpec | None:
        if folder not in self._gitignores:
            path = os.path.join(folder, ".gitignore")
            self.ignore_files[path] = stored_stamp(path)
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    lines = handle.read().splitlines()
            except OSError:
                lines = []
            self._gitignores[folder] = _spec(lines)
        return self._gitignores[folder]

    def _note_folder(self, folder: str) -> bool:
        """Note the modification time of a folder whose entries decide the answer (True, for use in conditions)."""
        try:
            self.folders[folder] = os.stat(folder).st_mtime_ns
        except OSError:
            self.folders[folder] = None
        return True

    def _in_a_package(self, folder: str) -> bool:
        """A package, or a folder of one (a namespace subpackage): project code, not build output."""
        return any(
            self._note_folder(path) and os.path.isfile(os.path.join(path, "__init__.py"))
            for path in (folder, os.path.dirname(folder))
        )


def discover(settings: Settings, paths: list[Path], cache_folder: Path | None) -> list[Path]:
    """`Discovery(settings).files(paths)`; with a cache folder, the files a walk stored there when no folder it read
    and no .gitignore it read or looked for has changed since (a file's content is not its concern), else a new walk,
    stored. The walk is most of what a run costs when no file changed (its .gitignore patterns, and those of every
    folder below, are compiled and tried on every path)."""
    if cache_folder is None or not all(path.is_dir() for path in paths):  # files named: no walk to spare
        return list(Discovery(settings).files(paths))
    record_path = cache_folder / f"check-files-{__version__}.json"
    key = repr((os.getcwd(), [str(path) for path in paths], settings.exclude, settings.extend_exclude,
                settings.respect_gitignore, str(settings.root)))
    stored = _stored_walk(str(record_path), key)
    if stored is not None:
        return stored
    discovery = Discovery(settings)
    started_ns = time.time_ns()
    files = list(discovery.files(paths))
    if discovery.unlisted:
        return files
    record = {
        "key": key, "started_ns": started_ns, "folders": discovery.folders, "ignore_files": discovery.ignore_files,
        "files": [str(f) for f in files],
    }
    try:
        from flake8_async_sqla.cache_files import write_document

        write_document(str(record_path), record, os.path.abspath(settings.root))
    except OSError:  # the run's own cache write says why, when it fails too
        pass
    return files


def _stored_walk(path: str, key: str) -> list[Path] | None:
    """The files of the walk stored at `path` for `key`, if what it read is as it was, and was so long enough before
    the walk started that a change during or since the walk would show in the stamps (see CLOCK_GRAIN_NS)."""
    from flake8_async_sqla.cache_files import DamagedCache, read_document

    try:
        record, written_ns = read_document(path)
    except DamagedCache:
        return None
    if not isinstance(record, dict) or record.get("key") != key:
        return None
    try:
        trusted_before = min(record["started_ns"], written_ns, time.time_ns()) - CLOCK_GRAIN_NS
        if not folders_unchanged(record["folders"], trusted_before):
            return None
        for ignore_file, stamp in record["ignore_files"].items():
            if stamp is not None and not stamp[0] < trusted_before or stored_stamp(ignore_file) != stamp:
                return None
        return [Path(file) for file in record["files"]]
    except (KeyError, TypeError, IndexError, AttributeError):  # written by hand, not by a walk: walked again
        return None


def _spec(lines: list[str]) -> PatternSpec | None:
    return PatternSpec(lines) if lines else None


class PatternSpec:
    """Gitignore-style patterns, matched as pathspec's `GitIgnoreSpec` matches them, with one regex joining them all
    tried first: a path this misses matches none of them (most paths: a .gitignore names what is not code), so it
    is not matched, and pathspec, which tries each pattern in turn, decides only the others (the last pattern to
    match wins, a negated one keeps the path)."""

    def __init__(self, lines: list[str]) -> None:
        import pathspec
        from pathspec.util import normalize_file

        try:
            self.spec = pathspec.GitIgnoreSpec.from_lines(lines)
        except (ValueError, re.error):
            # A pattern pathspec cannot translate (`[1-.]`, a range git cannot match with either) is left out, not
            # the file: the others still apply.
            self.spec = pathspec.GitIgnoreSpec.from_lines([line for line in lines if _translatable(line)])
        self.any_pattern = any_pattern([pattern.regex for pattern in self.spec.patterns if pattern.include is not None])
        self._normalized = normalize_file  # the path as the spec matches its patterns against it

    def match_file(self, path: str) -> bool:
        if self.any_pattern is not None and self.any_pattern.search(self._normalized(path)) is None:
            return False
        return self.spec.match_file(path)


def _translatable(line: str) -> bool:
    """Whether pathspec can translate a gitignore pattern line to a regex."""
    import pathspec

    try:
        pathspec.GitIgnoreSpec.from_lines([line])
    except (ValueError, re.error):
        return False
    return True


# How pathspec's regex of a pattern without a slash starts (a name in any folder): the patterns starting so are
# joined after it, which tries the folders once for all of them rather than once for each (three times faster).
ANY_FOLDERS = "^(?:.+/)?"


def any_pattern(regexes: list[re.Pattern[str] | None]) -> re.Pattern[str] | None:
    """A regex that a text matches (`search`) wherever one of `regexes` does, at least; None when they cannot be
    joined (flags, a reference to a group)."""
    below_any_folders: list[str] = []  # each pattern that is ANY_FOLDERS then one branch: that branch
    others: list[str] = []
    for regex in regexes:
        plain = isinstance(regex, re.Pattern) and isinstance(regex.pattern, str) and regex.flags == re.UNICODE
        joinable = _unnamed_groups(regex.pattern) if plain else None  # type: ignore[union-attr]
        if joinable is None:
            return None
        text, alternation = joinable
        rest = text[len(ANY_FOLDERS):]
        if text.startswith(ANY_FOLDERS) and not alternation and rest[:1] not in ("?", "+", "*", "{"):
            below_any_folders.append(rest)
        else:
            others.append(text)
    branches = [f"{ANY_FOLDERS}(?:{'|'.join(below_any_folders)})"] if below_any_folders else []
    branches += [f"(?:{text})" for text in others]
    try:
        return re.compile("|".join(branches) or "(?!)")  # no pattern: nothing matches
    except re.error:
        return None


def _unnamed_groups(pattern: str) -> tuple[str, bool] | None:
    """`pattern` with its named groups made plain ones (pathspec names one alike in every pattern, which one regex
    cannot hold twice), and whether it has an alternation outside any group; None if it refers to a group (joined,
    the groups are numbered anew) or sets flags inside."""
    out: list[str] = []
    depth = 0
    in_class = False
    alternation = False
    position = 0
    while position < len(pattern):
        char = pattern[position]
        if char == "\\":
            if not in_class and pattern[position + 1 : position + 2].isdigit():
                return None  # a group by number (or an octal escape, let go alike)
            out.append(pattern[position : position + 2])
            position += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            end = position + 1 + (pattern[position + 1 : position + 2] == "^")
            end += pattern[end : end + 1] == "]"  # a `]` first in a class is a member of it
            out.append(pattern[position:end])
            position, in_class = end, True
            continue
        elif char == "(":
            if pattern.startswith(("(?P=", "(?(", "(?#", "(?a", "(?i", "(?L", "(?m", "(?s", "(?u", "(?x", "(?-"), position):
                return None
            depth += 1
            if pattern.startswith("(?P<", position):
                out.append("(?:")
                position = pattern.index(">", position) + 1
                continue
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            alternation = True
        out.append(char)
        position += 1
    return "".join(out), alternation
