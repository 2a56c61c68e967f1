"""The standalone command: `check`, `rule` and `plan`, shaped the way ruff users expect."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from flake8_async_sqla import __version__, baseline
from flake8_async_sqla.config import TARGET_VERSIONS, ConfigError, Settings, apply, describe, load_settings
from flake8_async_sqla.discovery import Discovery, discover
from flake8_async_sqla.runner import RunOutcome, run, run_source

if TYPE_CHECKING:
    from flake8_async_sqla.fix.passes import FileFix

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
STDIN = Path("-")


class OutputError(Exception):
    """A report or plan that cannot be written; reported with exit status 2."""


def comma_separated(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def job_count(text: str) -> int:
    count = int(text)
    if count < 0:
        raise argparse.ArgumentTypeError(f"{count} is negative: give 0 (every core) or a number of processes")
    return count


ROLES_HELP = "roles of files to report, comma-separated (application, script, example, test, migration, or all; default: application,script,example)"

# Options that set a setting: (option, setting, whether the option replaces the configured value or adds to it).
OVERRIDES = (
    ("select", "select", True),
    ("extend_select", "extend_select", False),
    ("ignore", "extend_ignore", False),
    ("extend_ignore", "extend_ignore", False),
    ("exclude", "exclude", True),
    ("extend_exclude", "extend_exclude", False),
    ("respect_gitignore", "respect_gitignore", True),
    ("phase", "phase", True),
    ("target_version", "target_version", True),
    ("report_roles", "report_roles", True),
    ("max_file_size", "max_file_size", True),
)


def build_parser() -> argparse.ArgumentParser:
    from flake8_async_sqla.report import FORMATS

    parser = argparse.ArgumentParser(
        prog="flake8-async-sqla",
        description="Lint FastAPI + SQLAlchemy code against the SQLAlchemy 2.x asyncio model.",
    )
    parser.add_argument("--version", action="version", version=f"flake8-async-sqla {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="lint files and folders (default: .)")
    check.add_argument("paths", nargs="*", type=Path, default=[Path(".")], help="files and folders, or - for standard input")
    check.add_argument("--config", type=Path, help="pyproject.toml to read (default: the nearest one)")
    check.add_argument("--select", type=comma_separated, help="rule codes or prefixes to enable (replaces the config)")
    check.add_argument("--extend-select", type=comma_separated, help="codes or prefixes to enable as well")
    check.add_argument("--ignore", type=comma_separated, help="codes or prefixes to disable")
    check.add_argument("--extend-ignore", type=comma_separated, help="codes or prefixes to disable as well")
    check.add_argument(
        "--exclude", type=comma_separated, help="patterns of files and folders to skip (replaces the config and the defaults)"
    )
    check.add_argument("--extend-exclude", type=comma_separated, help="patterns of files and folders to skip as well")
    check.add_argument(
        "--respect-gitignore", action=argparse.BooleanOptionalAction, help="skip what .gitignore files ignore (default: yes)"
    )
    check.add_argument("--report-roles", type=comma_separated, help=ROLES_HELP)
    check.add_argument("--phase", type=int, choices=range(1, 6), help="only rules of phases <= N fail the run")
    check.add_argument(
        "--target-version", choices=TARGET_VERSIONS, help="the Python whose syntax to accept (default: from requires-python)"
    )
    check.add_argument("--output-format", choices=sorted(FORMATS), default="text")
    check.add_argument("--output-file", type=Path, help="write the report here instead of standard output")
    check.add_argument("--show-source", action="store_true", help="show a code frame under each finding")
    check.add_argument("--statistics", action="store_true", help="print the number of findings per code")
    check.add_argument("--no-color", action="store_true", help="no colour, even on a terminal (also: NO_COLOR=1)")
    check.add_argument(
        "--quiet", "-q", action="store_true", help="print only the findings that fail the run: no warnings, no summary"
    )
    check.add_argument(
        "--verbose", "-v", action="store_true", help="say how many files were analysed, cached, and parsed for the index"
    )
    check.add_argument("--exit-zero", action="store_true", help="exit 0 even when findings or unreadable files fail the run")
    check.add_argument("--show-settings", action="store_true", help="print the settings in effect and exit")
    check.add_argument("--show-files", action="store_true", help="print the files that would be checked and exit")
    check.add_argument("--stdin-filename", help="with - as the path: the file standard input is the text of")
    check.add_argument("--jobs", "-j", type=job_count, default=0, help="processes (default 0: one per CPU core)")
    check.add_argument(
        "--max-file-size", type=int, metavar="BYTES", help="skip larger files, with a note (default: 4194304, 4 MiB)"
    )
    check.add_argument("--no-cache", action="store_true", help="analyse every file again")
    check.add_argument("--cache-dir", type=Path, help="cache folder (default: .asq_cache in the project root)")
    check.add_argument("--baseline", type=Path, help="report and fail only on findings not in this baseline")
    check.add_argument("--write-baseline", type=Path, metavar="FILE", help="record the current findings and exit 0")
    check.add_argument("--prune-baseline", action="store_true", help="with --baseline: drop entries fixed since")
    check.add_argument("--fix", action="store_true", help="apply the safe fixes, then report what is left")
    check.add_argument("--unsafe-fixes", action="store_true", help="with --fix or --diff: apply the unsafe fixes too")
    check.add_argument(
        "--show-fixes", action="store_true", help="list the fixes applied; without --fix, mark the fixable findings [*]"
    )
    check.add_argument("--diff", action="store_true", help="print the fixes as a unified diff and write nothing")
    check.add_argument("--add-noqa", action="store_true", help="add `# noqa: CODE` to the line of every finding")

    check.add_argument("--plan", action="store_true", help="write the modernization plan instead (as `plan`)")

    plan = commands.add_parser("plan", help="write the modernization plan (Markdown or JSON)")
    plan.add_argument("paths", nargs="*", type=Path, default=[Path(".")])
    plan.add_argument("--config", type=Path, help="pyproject.toml to read (default: the nearest one)")
    plan.add_argument("--report-roles", type=comma_separated, help=ROLES_HELP)
    plan.add_argument("--format", choices=("md", "json", "csv"), default="md", help="csv only with --backlog")
    plan.add_argument("--backlog", action="store_true", help="export only the advisory implicit-I/O backlog")
    plan.add_argument("--output-file", type=Path, help="write the plan here instead of standard output")
    plan.add_argument(
        "--baseline", dest="plan_baseline", type=Path, metavar="FILE",
        help="an earlier `plan --format json`: show what was done per phase since then",
    )

    rule = commands.add_parser("rule", help="show a rule's documentation")
    rule.add_argument("code", nargs="?")
    rule.add_argument("--all", action="store_true", help="list every rule")
    rule.set_defaults(parser=rule)

    test_rules = commands.add_parser(
        "test-rules", help="run each project rule's own valid/invalid examples (as ast-grep's `sg test`)",
        description="Each project rule (ASQ9xx) against its `valid` and `invalid` examples: an invalid one must be "
        "reported (and, with a fix, fixed into Python the rule no longer reports), a valid one must not. Exit 1 on a failure.",
    )
    test_rules.add_argument("codes", nargs="*", metavar="CODE", help="the rules to test (default: every project rule)")
    test_rules.add_argument("--config", type=Path, help="pyproject.toml to read (default: the nearest one)")

    commands.add_parser(
        "server", help="run the language server on standard input and output (needs the lsp extra)",
        description="The language server for editors: see docs/editors.md. Install it with `pip install 'flake8-async-sqla[lsp]'`.",
    )
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """The configuration found from the first path (for standard input, from --stdin-filename), then the options."""
    if STDIN in args.paths:
        start = Path(getattr(args, "stdin_filename", None) or ".")
    else:
        start = args.paths[0] if args.paths else Path(".")
    settings = load_settings(args.config, start)
    for option, name, replaces in OVERRIDES:
        value = getattr(args, option, None)
        if value is not None:
            apply(settings, name, value if replaces else getattr(settings, name) + value, f"--{option.replace('_', '-')}")
    return settings


def emit(document: str) -> None:
    """Write to standard output; a reader that went away (`... | head`) ends the output quietly."""
    try:
        sys.stdout.write(document)
        sys.stdout.flush()
    except BrokenPipeError:
        # Standard output is flushed again at exit: let that go nowhere rather than fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def write_output(path: Path | None, document: str, what: str) -> None:
    """`document` into `path`, or to standard output when there is none."""
    if path is None:
        emit(document)
        return
    try:
        path.write_text(document, encoding="utf-8")
    except OSError as error:
        raise OutputError(f"{path}: cannot write the {what}: {error.strerror or error}") from error


def command_plan(args: argparse.Namespace) -> int:
    from flake8_async_sqla.plan import render
    from flake8_async_sqla.plan.builder import build_plan

    missing = [str(path) for path in args.paths if not path.exists()]
    if missing:
        raise ConfigError(f"no such file or folder: {', '.join(missing)}")
    settings = settings_from(args)
    fmt = getattr(args, "format", "md")
    backlog = getattr(args, "backlog", False)
    if fmt == "csv" and not backlog:
        raise ConfigError("--format csv is for --backlog only")
    earlier = None
    if getattr(args, "plan_baseline", None) is not None:
        from flake8_async_sqla.plan import progress

        try:
            earlier = progress.load(args.plan_baseline)
        except progress.BaselineError as error:
            raise ConfigError(str(error)) from None
    plan = build_plan(settings, list(Discovery(settings).files(args.paths)), earlier)
    if backlog:
        writers = {"md": render.backlog_markdown, "csv": render.backlog_csv, "json": render.backlog_json}
        document = writers[fmt](plan.backlog)
    else:
        document = render.as_json(plan) if fmt == "json" else render.markdown(plan)
    write_output(args.output_file, document, "plan")
    return EXIT_ERROR if plan.errors else EXIT_CLEAN


def command_check(args: argparse.Namespace) -> int:
    if args.plan:
        return command_plan(args)
    settings = settings_from(args)
    if args.show_settings:
        emit(describe(settings))
        return EXIT_CLEAN
    stdin = stdin_name(args)
    cache_folder = None if args.no_cache else (args.cache_dir or settings.root / settings.cache_dir)
    # Listing the files writes nothing, no cache either.
    files = [] if stdin else discover(settings, args.paths, None if args.show_files else cache_folder)
    if args.show_files:
        from flake8_async_sqla.report import printable

        emit("".join(f"{printable(str(path))}\n" for path in ([stdin] if stdin else files)))
        return EXIT_CLEAN
    jobs = args.jobs or os.cpu_count() or 1
    fixing = (args.fix or args.diff) and not stdin  # standard input is reported, never rewritten
    # The fixes are built only when something shows or applies them (they load ast-grep).
    with_fixes = fixing or args.show_fixes or args.output_format in ("json", "sarif")
    if stdin:
        outcome = run_source(settings, stdin, sys.stdin.buffer.read())
    else:
        outcome = run(settings, files, jobs, cache_folder, with_fixes)
    for warning in outcome.warnings:
        print(f"flake8-async-sqla: warning: {warning}", file=sys.stderr)
    for module in outcome.unread_unchecked():  # a checked file that could not be read is an error already
        others = " and others" if len(module.rested_on_by) > 1 else ""
        print(
            f"flake8-async-sqla: warning: {module.path}: the project index could not read it ({module.problem}); "
            f"findings in {module.rested_on_by[0]}{others} may be missing",
            file=sys.stderr,
        )
    if args.verbose:
        print(
            f"checked {outcome.files} files: {outcome.analysed} analysed, {outcome.cached} from the cache "
            f"({outcome.confirmed} of them read to confirm); the project index parsed {outcome.modelled} module{'' if outcome.modelled == 1 else 's'}",
            file=sys.stderr,
        )
        print_roles(outcome)
        print_unread_modules(outcome)

    if args.add_noqa:
        return add_noqa(outcome)
    fixed: list[FileFix] = []
    if fixing:
        from flake8_async_sqla.fix.passes import fix_outcome

        fixed, problems = fix_outcome(outcome, settings, args.unsafe_fixes)
        if args.diff:
            return show_diff(outcome, fixed, problems)
        if write_fixes(fixed, problems):  # check again what the fixes left
            outcome = run(settings, files, jobs, cache_folder, with_fixes)
        outcome.errors.extend(problems)
    if with_fixes:
        from flake8_async_sqla.fix.passes import applicable

        outcome.fixable = applicable(args.unsafe_fixes)

    if args.write_baseline:
        kept = baseline.outside(args.write_baseline, settings.root, args.paths)
        baseline.write(args.write_baseline, kept + baseline.entries_of(outcome.results))
        if not args.quiet:
            others = f" (and kept {len(kept)} of files outside {' '.join(map(str, args.paths))})" if kept else ""
            print(f"wrote {len(outcome.results)} findings to {args.write_baseline}{others}", file=sys.stderr)
        return EXIT_ERROR if outcome.errors and not args.exit_zero else EXIT_CLEAN
    if args.baseline:
        recorded = baseline.load(args.baseline)
        new, stale = baseline.compare(outcome.results, recorded, settings.root, args.paths)
        outcome = dataclasses.replace(outcome, results=new)
        if not args.quiet:
            for entry in stale:
                print(f"stale baseline entry: {entry.path} {entry.code} {entry.message}", file=sys.stderr)
        if args.prune_baseline and stale:
            baseline.write(args.baseline, baseline.without(recorded, stale))
            if not args.quiet:
                print(f"pruned {len(stale)} stale entries from {args.baseline}", file=sys.stderr)
    if args.quiet:
        outcome = dataclasses.replace(outcome, results=[r for r in outcome.results if r.fails])

    write_output(args.output_file, report(args, outcome, fixed, fixing), "report")
    for error in outcome.errors:
        print(f"{error.path}: error: {error.problem}", file=sys.stderr)
    if fixing:
        print_fix_outcome(fixed, outcome)
    return exit_status(args, outcome)


def stdin_name(args: argparse.Namespace) -> str | None:
    """The name standard input is checked as, when the path is `-`; None when files are checked."""
    if STDIN not in args.paths:
        if args.stdin_filename:
            raise ConfigError("--stdin-filename names what standard input holds: pass - as the path to read it")
        return None
    if args.paths != [STDIN]:
        raise ConfigError("- (standard input) cannot be combined with other paths")
    return args.stdin_filename or "-"


def report(args: argparse.Namespace, outcome: RunOutcome, fixed: list[FileFix], fixing: bool) -> str:
    """The report in the chosen format (with `--show-fixes`, what was or would be fixed); a text report ends with
    a summary line, in colour on a terminal."""
    from flake8_async_sqla.report import printable_paths, renderer, text

    outcome = printable_paths(outcome)
    as_text = args.output_format == "text"
    color = not args.no_color and not os.environ.get("NO_COLOR") and args.output_file is None and sys.stdout.isatty()
    if as_text:
        document = text.render(outcome, args.show_source, color)
    else:
        document = renderer(args.output_format)(outcome, args.show_source)
    if args.statistics:
        document += text.statistics(outcome)
    if args.show_fixes and as_text:
        document += text.fixes_summary(outcome, fixed, fixing, args.unsafe_fixes)
    if as_text and not args.quiet:
        document += text.summary(outcome, color)
    return document


def exit_status(args: argparse.Namespace, outcome: RunOutcome) -> int:
    if args.exit_zero:
        return EXIT_CLEAN
    if outcome.errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if any(r.fails for r in outcome.results) else EXIT_CLEAN


def write_fixes(fixed: list[FileFix], problems: list[tuple[str, str]]) -> bool:
    """Write the fixed files; whether any was written (a file that cannot be, goes to `problems`)."""
    written = False
    for file_fix in fixed:
        if not file_fix.changed:
            continue
        try:
            file_fix.write()
            written = True
        except OSError as error:
            problems.append((file_fix.path, f"not fixed: cannot write: {error.strerror or error}"))
            file_fix.applied.clear()
    return written


def show_diff(outcome: RunOutcome, fixed: list[FileFix], problems: list[tuple[str, str]]) -> int:
    """`--diff`: the fixes as a unified diff, nothing written; exit 1 when there is something to fix."""
    sys.stdout.write("".join(file_fix.diff() for file_fix in fixed if file_fix.changed))
    count = sum(sum(file_fix.applied.values()) for file_fix in fixed)
    print(f"would fix {count} finding{'' if count == 1 else 's'}", file=sys.stderr)
    for file_fix in fixed:
        print_pending(file_fix)
    for path, problem in outcome.errors + problems:
        print(f"{path}: error: {problem}", file=sys.stderr)
    if outcome.errors or problems:
        return EXIT_ERROR
    return EXIT_FINDINGS if count else EXIT_CLEAN


def print_fix_outcome(fixed: list[FileFix], outcome: RunOutcome) -> None:
    """How many findings `--fix` fixed and how many are left, on standard error."""
    count = sum(sum(file_fix.applied.values()) for file_fix in fixed)
    remaining = len(outcome.results)
    print(f"fixed {count} finding{'' if count == 1 else 's'}, {remaining} remaining", file=sys.stderr)
    for file_fix in fixed:
        print_pending(file_fix)


def print_pending(file_fix: FileFix) -> None:
    """What a file's passes could not finish, on standard error."""
    from flake8_async_sqla.fix.passes import MAX_PASSES

    if file_fix.pending:
        print(
            f"{file_fix.path}: {file_fix.pending} fixes still pending after {MAX_PASSES} passes: run --fix again",
            file=sys.stderr,
        )
    for fix in file_fix.rejected:
        print(f"{file_fix.path}: the fix of {fix} was left out: the fixed file would not compile (please report it)", file=sys.stderr)


def add_noqa(outcome: RunOutcome) -> int:
    """`--add-noqa`: `# noqa: CODE` on the line of every finding, kept with the codes already there."""
    from flake8_async_sqla.fix.files import SourceFile, UnfixableFile
    from flake8_async_sqla.noqa import with_codes

    by_path: dict[str, dict[int, set[str]]] = {}
    for result in outcome.results:
        if result.finding.code != "ASQ000":  # an internal error is to be reported, not silenced
            by_path.setdefault(result.path, {}).setdefault(result.finding.line, set()).add(result.finding.code)
    added = 0
    problems = list(outcome.errors)
    for path, codes_by_line in sorted(by_path.items()):
        try:
            source = SourceFile.read(Path(path))
            text, changed, refused = with_codes(source.text, codes_by_line)
            if changed:
                source.write(text)
        except (OSError, UnfixableFile) as error:
            problems.append((path, f"no noqa added: {error}"))
            continue
        added += changed
        problems += [(path, f"line {line} ends in a backslash continuation: no noqa added") for line in refused]
    print(f"added noqa to {added} line{'' if added == 1 else 's'}", file=sys.stderr)
    for path, problem in problems:
        print(f"{path}: error: {problem}", file=sys.stderr)
    return EXIT_ERROR if problems else EXIT_CLEAN


def print_roles(outcome: RunOutcome) -> None:
    """How many files of each role were checked, and the role of each file with a finding."""
    counts: dict[str, int] = {}
    for role in outcome.roles.values():
        counts[role] = counts.get(role, 0) + 1
    print("roles: " + ", ".join(f"{count} {role}" for role, count in sorted(counts.items())), file=sys.stderr)
    for path in sorted({result.path for result in outcome.results}):
        print(f"  {path}: {outcome.roles.get(path, 'unknown')}", file=sys.stderr)


def print_unread_modules(outcome: RunOutcome) -> None:
    """The project modules the index could not read, each with the checked files whose results rest on it."""
    if not outcome.unread_modules:
        return
    count = len(outcome.unread_modules)
    print(f"the project index could not read {count} module{'' if count == 1 else 's'}:", file=sys.stderr)
    for module in outcome.unread_modules:
        print(f"  {module.path}: {module.problem}", file=sys.stderr)
        print(f"    results resting on it: {', '.join(module.rested_on_by)}", file=sys.stderr)


def command_rule(args: argparse.Namespace) -> int:
    from flake8_async_sqla.core.rule import all_rules
    from flake8_async_sqla.docs import fix_label, phase_label, render_rule

    load_settings(None, Path("."))  # the project's own rules (ASQ9xx) are among the rules
    rules = all_rules()
    if args.all:
        emit("".join(
            f"{r.code}  {r.name:<36} phase {phase_label(r):<9} fix {fix_label(r):<6} {r.message}\n" for r in rules.values()
        ))
        return EXIT_CLEAN
    if not args.code:
        args.parser.error("name a rule code (such as ASQ101), or --all to list them")  # usage, and exit 2
    rule = rules.get(args.code.upper())
    if rule is None:
        print(f"flake8-async-sqla: unknown rule code {args.code!r} (see `rule --all`)", file=sys.stderr)
        return EXIT_ERROR
    emit(render_rule(rule).split("\n", 1)[1])
    return EXIT_CLEAN


def command_test_rules(args: argparse.Namespace) -> int:
    from flake8_async_sqla.core import rule as rule_registry
    from flake8_async_sqla.rule_tests import render, run_examples

    load_settings(args.config, Path("."))  # makes the project's rules the process's
    rules = rule_registry.PROJECT_RULES
    asked = {code.upper() for code in args.codes}
    unknown = sorted(asked - set(rules))
    if unknown:
        raise ConfigError(f"no project rule {unknown[0]} (see `rule --all`)")
    tests = [run_examples(rule) for code, rule in sorted(rules.items()) if not asked or code in asked]  # type: ignore[arg-type]
    if not tests:
        print("flake8-async-sqla: no project rules to test: declare them in pyproject.toml or rule-dirs (docs/project-rules.md)", file=sys.stderr)
        return EXIT_CLEAN
    emit(render(tests, Path.cwd()))
    return EXIT_FINDINGS if any(test.failures for test in tests) else EXIT_CLEAN


def command_server(args: argparse.Namespace) -> int:
    try:
        from flake8_async_sqla.adapters import lsp  # pygls is loaded only here: it is an optional extra
    except ImportError as error:
        raise ConfigError(f"the server needs pygls ({error}): pip install 'flake8-async-sqla[lsp]'") from None
    return lsp.main()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        commands = {
            "check": command_check, "plan": command_plan, "rule": command_rule, "test-rules": command_test_rules,
            "server": command_server,
        }
        return commands[args.command](args)
    except (ConfigError, baseline.BaselineError, OutputError) as error:
        print(f"flake8-async-sqla: error: {error}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
