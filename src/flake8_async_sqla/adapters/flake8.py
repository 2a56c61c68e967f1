"""The flake8 plugin: a thin adapter over the core checker."""

from __future__ import annotations

import argparse
import ast
import gc
import multiprocessing
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from flake8_async_sqla import __version__
from flake8_async_sqla.config import ConfigError, load_project_rules
from flake8_async_sqla.core.checker import check_tree, codes_for_role
from flake8_async_sqla.core.options import OPTION_HELP, AnalysisOptions
from flake8_async_sqla.core.project import ProjectIndex
from flake8_async_sqla.core.roles import DEFAULT_POLICY, DEFAULT_REPORTED, ROLES, RolePolicy, parse_roles
from flake8_async_sqla.core.rule import ADVISORY, Finding, all_rules


# The share of the files the plugin analyses before flake8 forks its workers (see `analyse_first_files`): smaller
# than `check`'s head, since no other process works meanwhile (mlrun, 4 interleaved runs: 1/64 took less CPU and
# less wall time than 1/16).
FLAKE8_HEAD_SHARE = 64


class AsyncSqlaPlugin:
    name = "flake8-async-sqla"
    version = __version__
    roles: RolePolicy = DEFAULT_POLICY
    index: ProjectIndex | None = None  # the run's, made when flake8 hands over its options

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

        parser.add_option(
            "--report-roles",
            default=sorted(DEFAULT_REPORTED),
            parse_from_config=True,
            comma_separated_list=True,
            help=f"flake8-async-sqla: roles of files to report ({', '.join(ROLES)}, or all; default: %(default)s)",
        )
        parser.add_option(
            "--role-paths",
            default=[],
            parse_from_config=True,
            comma_separated_list=True,
            help="flake8-async-sqla: role:pattern entries that set a file's role (e.g. test:qa/**)",
        )

    @classmethod
    def parse_options(cls, options: argparse.Namespace) -> None:
        try:
            specs = load_project_rules(Path.cwd())
            # Advisory project rules are off by default like the built-in ones, which add_options could name
            # before the project's rules were read.
            options.extended_default_ignore.extend(spec.code for spec in specs if spec.phase == ADVISORY)
            cls.roles = RolePolicy(parse_roles(options.report_roles, "--report-roles"), role_paths(options.role_paths))
        except (ValueError, ConfigError) as error:
            raise SystemExit(f"flake8-async-sqla: error: {error}") from None
        # One index for the run: flake8's worker processes, forked after this, start with it and keep what they learn.
        cls.index = ProjectIndex(AnalysisOptions(**{name: tuple(getattr(options, name)) for name in OPTION_HELP}), cls.roles)
        if forks_workers(options):
            for path in options.filenames or ["."]:
                # The index finds a file's project from the file's folder: a name in the folder stands for it.
                cls.index.read_project_text(os.path.join(path, "__init__.py") if os.path.isdir(path) else path)
            frozen_after(lambda: analyse_first_files(cls.index, cls.roles, options))

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        source = "".join(self.lines)
        def check() -> list[Finding]:
            return checked(self.tree, self.filename, source, self.roles, self.index)

        for finding in check() if self.index is None else frozen_after(check):
            yield finding.line, finding.col, finding.message, type(self)


def checked(tree: ast.Module, path: str, source: str, roles: RolePolicy, index: ProjectIndex | None) -> list[Finding]:
    """The findings of the rules that `roles` report for the file's role."""
    return check_tree(tree, path, source, codes_for_role(roles.role_of(path, source), roles), index)


def forks_workers(options: argparse.Namespace) -> bool:
    """Whether flake8 will check the files in worker processes, forked after the options are parsed (it does for
    more than one job and more than one file, and never for standard input): each would otherwise read the
    project's text for itself. Workers started afresh (`spawn`, `forkserver`) parse the options themselves and
    begin with nothing this process learnt."""
    paths = options.filenames or ["."]
    jobs = multiprocessing.cpu_count() if options.jobs.is_auto else options.jobs.n_jobs
    several = jobs > 1 and "-" not in paths and (len(paths) > 1 or os.path.isdir(paths[0]))
    return several and multiprocessing.get_start_method() == "fork"


def analyse_first_files(index: ProjectIndex, roles: RolePolicy, options: argparse.Namespace) -> None:
    """Check here, before flake8 forks its workers, the first of the files it will hand them (1/FLAKE8_HEAD_SHARE),
    imports first (the project's database modules), as `check --jobs` does: the workers start with what the index
    keeps of those modules and of the modules their functions reach. flake8 hands the files out one at a time, so
    each worker would otherwise model and settle most of them for itself. The findings are dropped: a worker reports
    them."""
    from flake8.discover_files import expand_paths

    from flake8_async_sqla.runner import imports_first, read_source

    files = list(
        expand_paths(
            paths=options.filenames or ["."], stdin_display_name=options.stdin_display_name,
            filename_patterns=options.filename, exclude=(*options.exclude, *options.extend_exclude),
        )
    )
    ordered = imports_first(files, index)
    for path in ordered[: len(ordered) // FLAKE8_HEAD_SHARE]:
        try:
            data, text = read_source(Path(path))
            tree = ast.parse(data, filename=path)
        except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
            continue  # flake8 reports what it cannot read or parse
        checked(tree, path, text, roles, index)


Outcome = TypeVar("Outcome")


def frozen_after(check: Callable[[], Outcome]) -> Outcome:
    """`check()` with the collector paused; then, when it left enough new objects that a collection is due, every
    object alive is moved out of the collector's sight (`gc.freeze`). The run's index keeps what it learns until
    flake8 ends, and under flake8's collector thresholds (the defaults) each full collection would scan all of it
    again: a third of the plugin's cost on a large project. A full collection comes first, so that no garbage
    (other plugins' cycles) is frozen with it."""
    if not gc.isenabled():
        return check()
    gc.disable()
    try:
        return check()
    finally:
        if gc.get_count()[0] > gc.get_threshold()[0]:
            gc.collect()
            gc.freeze()
        gc.enable()


def role_paths(entries: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`role:pattern` entries grouped by role, in the order each role first appears."""
    grouped: dict[str, list[str]] = {}
    for entry in entries:
        role, separator, pattern = entry.partition(":")
        if not separator or role not in ROLES or not pattern:
            raise ValueError(f"--role-paths: expected role:pattern with a role of {', '.join(ROLES)}, not {entry!r}")
        grouped.setdefault(role, []).append(pattern)
    return tuple((role, tuple(patterns)) for role, patterns in grouped.items())
