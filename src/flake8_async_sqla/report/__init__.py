"""Output formats of `check`: each renders the run's results as one string."""

from __future__ import annotations

import importlib
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


def error_fingerprint(error: FileError) -> str:
    """A file error's fingerprint, shaped like a finding's: the same while the file keeps failing."""
    import hashlib

    return hashlib.sha1(f"{error.path}|{FILE_ERROR}".encode()).hexdigest()[:16]
