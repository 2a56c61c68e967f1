"""Output formats of `check`: each renders the run's results as one string."""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable

from flake8_async_sqla.runner import FileError, RunOutcome

Renderer = Callable[[RunOutcome, bool], str]

# Format name -> the module of this package whose `render` writes it (imported when asked for).
FORMATS = {
    "text": "text", "json": "structured", "sarif": "sarif", "github": "github", "gitlab": "gitlab", "junit": "junit",
}
# What the formats that list results call a file that could not be read or parsed, and a project module
# that was not checked and that the project index could not read.
FILE_ERROR = "file-error"
UNREAD_MODULE = "unread-module"


def renderer(name: str) -> Renderer:
    return importlib.import_module(f"{__name__}.{FORMATS[name]}").render


def printable(path: str) -> str:
    """`path` as a report shows it: the bytes of a file name that are not UTF-8 (which Python holds as lone
    surrogates, and no report could encode) escaped as `\\xNN`, so that every format stays valid."""
    return path if path.isascii() else os.fsencode(path).decode("utf-8", "backslashreplace")


def printable_paths(outcome: RunOutcome) -> RunOutcome:
    """`outcome` with every path it reports `printable` (the fingerprints stay those of the names as they are)."""
    return dataclasses.replace(
        outcome,
        results=[dataclasses.replace(result, path=printable(result.path)) for result in outcome.results],
        errors=[error._replace(path=printable(error.path)) for error in outcome.errors],
        roles={printable(path): role for path, role in outcome.roles.items()},
        unread_modules=[
            module._replace(path=printable(module.path), rested_on_by=[printable(path) for path in module.rested_on_by])
            for module in outcome.unread_modules
        ],
    )


def error_fingerprint(error: FileError) -> str:
    """A file error's fingerprint, shaped like a finding's: the same while the file keeps failing."""
    import hashlib

    return hashlib.sha1(f"{error.path}|{FILE_ERROR}".encode()).hexdigest()[:16]
