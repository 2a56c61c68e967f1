"""Output formats of `check`: each renders the run's results as one string."""

from __future__ import annotations

from collections.abc import Callable

from flake8_async_sqla.report import github, junit, sarif, structured, text
from flake8_async_sqla.runner import RunOutcome

Renderer = Callable[[RunOutcome, bool], str]

FORMATS: dict[str, Renderer] = {
    "text": text.render,
    "json": structured.render,
    "sarif": sarif.render,
    "github": github.render,
    "junit": junit.render,
}
