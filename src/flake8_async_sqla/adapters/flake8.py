"""The flake8 plugin: a thin adapter over the core checker."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

from flake8_async_sqla import __version__
from flake8_async_sqla.core.checker import check_tree
from flake8_async_sqla.core.rule import all_rules


class AsyncSqlaPlugin:
    name = "flake8-async-sqla"
    version = __version__

    def __init__(self, tree: ast.Module, filename: str, lines: list[str]) -> None:
        self.tree = tree
        self.filename = filename
        self.lines = lines

    @classmethod
    def add_options(cls, parser: Any) -> None:
        # Advisory rules are off by default, the flake8 convention for opinionated codes
        # (like bugbear's B9): `--extend-select ASQ5` or an explicit `--select ASQ` enables them.
        parser.extend_default_ignore([code for code, rule in all_rules().items() if rule.is_advisory()])

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        for finding in check_tree(self.tree, self.filename, "".join(self.lines)):
            yield finding.line, finding.col, finding.message, type(self)
