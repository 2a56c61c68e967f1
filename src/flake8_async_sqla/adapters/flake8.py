"""The flake8 plugin: a thin adapter over the core checker."""

from __future__ import annotations

import argparse
import ast
from collections.abc import Iterator
from typing import Any

from flake8_async_sqla import __version__
from flake8_async_sqla.core.checker import check_tree
from flake8_async_sqla.core.options import OPTION_HELP, AnalysisOptions
from flake8_async_sqla.core.project import use_options
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
        for option, help_text in OPTION_HELP.items():
            parser.add_option(
                "--" + option.replace("_", "-"),
                default=[],
                parse_from_config=True,
                comma_separated_list=True,
                help=f"flake8-async-sqla: {help_text}",
            )

    @classmethod
    def parse_options(cls, options: argparse.Namespace) -> None:
        use_options(AnalysisOptions(**{name: tuple(getattr(options, name)) for name in OPTION_HELP}))

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        for finding in check_tree(self.tree, self.filename, "".join(self.lines)):
            yield finding.line, finding.col, finding.message, type(self)
