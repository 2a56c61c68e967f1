"""Output formats of `check`: each renders the run's results as one string."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from flake8_async_sqla.runner import RunOutcome

Renderer = Callable[[RunOutcome, bool], str]

# Format name -> the module of this package whose `render` writes it (imported when asked for).
FORMATS = {"text": "text", "json": "structured", "sarif": "sarif", "github": "github", "junit": "junit"}


def renderer(name: str) -> Renderer:
    return importlib.import_module(f"{__name__}.{FORMATS[name]}").render
