"""The cache's own files: a folder the tool owns, and a document read whole or not at all, written fresh.

The tool writes only into a folder it created, or one holding nothing but its own files; never into the project
root or a folder above it, never through a symbolic link. Each file is created fresh (`O_EXCL | O_NOFOLLOW`) and
renamed into place, so no file the tool did not create is ever written or replaced. Standard library only: a warm
`check` reads the cache and loads no analysis code.
"""

from __future__ import annotations

import itertools
import json
import os
import stat
from typing import Callable, Iterable

from flake8_async_sqla.core.layout import blake2b, content_digest  # BLAKE2 without loading OpenSSL (see layout)

# The document's first line: `flake8-async-sqla-cache <shape> <digest of the rest>`; a cache of another shape is
# started afresh, one whose digest does not match was damaged (or edited) and is discarded whole.
HEADER = "flake8-async-sqla-cache"
SHAPE = 8
GITIGNORE = ".gitignore"
TAG = "CACHEDIR.TAG"  # https://bford.info/cachedir/: backup tools skip the folder
TAG_TEXT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by flake8-async-sqla.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)
NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)  # not on Windows, where links are rare and need privileges anyway


class DamagedCache(Exception):
    """A cache document that cannot be trusted: discarded whole, with one warning."""


def is_own_file(name: str) -> bool:
    """Whether a file of this name in the cache folder is one the tool writes (documents, their temporary files)."""
    return name in (GITIGNORE, TAG) or (name.startswith("check-") and name.endswith((".json", ".tmp")))


def folder_refused(folder: str, root: str) -> str | None:
    """Why the tool must not write into `folder` (absolute) for the project at `root`, or None when it may: it does
    not exist yet, or holds only the tool's own regular files."""
    if folder == root or root.startswith(folder.rstrip(os.sep) + os.sep):
        return "it is the project root or a folder above it; name a folder of its own"
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        return None
    except OSError as error:
        return error.strerror or str(error)
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(info.st_mode):
        return "it is not a folder"
    try:
        entries = list(os.scandir(folder))
    except OSError as error:
        return error.strerror or str(error)
    for entry in entries:
        if not is_own_file(entry.name) or entry.is_symlink() or not entry.is_file(follow_symlinks=False):
            return f"it holds {entry.name!r}, which flake8-async-sqla did not create"
    return None


def read_document(path: str) -> tuple[dict | None, int]:
    """The document at `path` and when it was written (ns): (None, 0) when there is none or it has another shape.
    Raises DamagedCache when it cannot be trusted."""
    body, written_ns = read_body(path)
    if body is None:
        return None, 0
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise DamagedCache(f"not valid JSON ({type(error).__name__})") from None
    if not isinstance(document, dict):
        raise DamagedCache("not a JSON object")
    return document, written_ns


def read_body(path: str) -> tuple[bytes | None, int]:
    """The content of the cache file at `path`, checked against its checksum, and when it was written (ns): (None, 0)
    when there is none or it has another shape. Raises DamagedCache when it cannot be trusted."""
    try:
        descriptor = os.open(path, os.O_RDONLY | NO_FOLLOW)
    except (FileNotFoundError, NotADirectoryError):
        return None, 0
    except OSError as error:
        raise DamagedCache(error.strerror or str(error)) from None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise DamagedCache("not a regular file")
        data = handle.read()
    header, _, body = data.partition(b"\n")
    fields = header.decode("ascii", errors="replace").split(" ")
    if len(fields) != 3 or fields[0] != HEADER:
        raise DamagedCache("not a flake8-async-sqla cache")
    if fields[1] != str(SHAPE):
        return None, 0
    if content_digest(body) != fields[2]:
        raise DamagedCache("its content does not match its checksum")
    return body, info.st_mtime_ns


def write_document(path: str, document: dict, root: str) -> None:
    """Write `document` at `path` (its folder created, with a `.gitignore` and a cache tag, unless it exists and the
    tool owns it). Raises OSError, or PermissionError saying why the folder is refused."""
    body = json.dumps(document).encode()
    write_body(path, lambda: (body,), root)


def write_body(path: str, pieces: Callable[[], Iterable[bytes]], root: str) -> None:
    """Write the body `pieces()` gives (asked twice: for its checksum, then to write it) at `path` under its
    checksum, as `write_document` does: a large body is never held whole."""
    folder = os.path.dirname(os.path.abspath(path))
    refused = folder_refused(folder, root)
    if refused is not None:
        raise PermissionError(0, refused)
    os.makedirs(folder, exist_ok=True)
    for name, text in ((GITIGNORE, "*\n"), (TAG, TAG_TEXT)):
        try:
            _create(os.path.join(folder, name), [text.encode()])
        except FileExistsError:  # written by an earlier run (a link or a folder there was refused above)
            pass
    checksum = blake2b(digest_size=16)
    for piece in pieces():
        checksum.update(piece)
    temporary = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    _create(temporary, itertools.chain([f"{HEADER} {SHAPE} {checksum.hexdigest()}\n".encode()], pieces()))
    try:
        os.replace(temporary, path)
    except OSError:
        os.unlink(temporary)
        raise


def _create(path: str, data: Iterable[bytes]) -> None:
    """A new file with the pieces of `data`: never an existing file, never through a link."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NO_FOLLOW, 0o644)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.writelines(data)
    except OSError:
        os.unlink(path)
        raise
