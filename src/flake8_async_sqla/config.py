"""Settings of the standalone command: `[tool.flake8-async-sqla]` in pyproject.toml, then CLI overrides."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from flake8_async_sqla.core.layout import MAX_FILE_SIZE
from flake8_async_sqla.core.options import AnalysisOptions
from flake8_async_sqla.core.roles import DEFAULT_REPORTED, ROLES, RolePolicy, parse_roles
from flake8_async_sqla.core.rule import ADVISORY, rule_codes

if TYPE_CHECKING:
    import pathspec

    from flake8_async_sqla.core.project_rules import ProjectRuleSpec

SECTION = "flake8-async-sqla"
CODE_PREFIX = re.compile(r"ASQ\d{0,3}")
DEFAULT_EXCLUDE = (
    ".bzr", ".direnv", ".eggs", ".git", ".git-rewrite", ".hg", ".mypy_cache", ".nox", ".pants.d",
    ".pytype", ".ruff_cache", ".svn", ".tox", ".venv", "__pypackages__", "_build", "buck-out",
    "build", "dist", "node_modules", "site-packages", "venv", ".asq_cache",
)
DEFAULT_MAX_FILE_SIZE = MAX_FILE_SIZE
# The Python versions `target-version` names, as ruff spells them (`py37` ... `py314`).
TARGET_VERSIONS = tuple(f"py3{minor}" for minor in range(7, 15))
# A lower bound in `requires-python`: `>=3.10`, `~=3.9`, `==3.11.*`, `>3.8`.
LOWER_BOUND = re.compile(r"^\s*(?:>=|~=|==|>)\s*3\.(\d+)")
# Fields of Settings that are not configuration keys.
NOT_KEYS = {"root", "config_file", "project_rules"}
# The array of tables declaring the project's own rules (ASQ9xx, core.project_rules).
RULES_KEY = "rules"
# The folders of rule files: read before the other keys, which may name the rules' codes.
RULE_DIRS_KEY = "rule-dirs"


class ConfigError(Exception):
    """A configuration the tool cannot honour; reported with exit status 2."""


@dataclass
class Settings:
    select: list[str] = field(default_factory=lambda: ["ASQ"])
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    extend_ignore: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    exclude: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDE))
    extend_exclude: list[str] = field(default_factory=list)
    respect_gitignore: bool = True
    phase: int | None = None
    cache_dir: str = ".asq_cache"
    max_file_size: int = DEFAULT_MAX_FILE_SIZE  # bytes; a larger file is skipped with a note
    engine_factories: list[str] = field(default_factory=list)
    session_factories: list[str] = field(default_factory=list)
    session_dependencies: list[str] = field(default_factory=list)
    session_types: list[str] = field(default_factory=list)
    # Roles of files (application, script, example, test, migration) whose findings are reported.
    report_roles: list[str] = field(default_factory=lambda: sorted(DEFAULT_REPORTED))
    role_paths: dict[str, list[str]] = field(default_factory=dict)  # role -> patterns overriding the heuristics
    # The Python whose syntax files are parsed for (`py311`); None: the newest the tool can read.
    target_version: str | None = None
    # Folders of rule files (one YAML file a project rule), relative to the project root.
    rule_dirs: list[str] = field(default_factory=list)
    project_rules: tuple[ProjectRuleSpec, ...] = ()  # from the `[[tool.flake8-async-sqla.rules]]` tables and rule-dirs
    root: Path = field(default_factory=Path.cwd)
    config_file: Path | None = None  # the pyproject.toml read, if any

    def python_version(self) -> tuple[int, int] | None:
        """`target_version` as (3, minor)."""
        return (3, int(self.target_version[3:])) if self.target_version else None

    def analysis_options(self) -> AnalysisOptions:
        return AnalysisOptions(**{name: tuple(getattr(self, name)) for name in AnalysisOptions.names()})

    def role_policy(self) -> RolePolicy:
        return RolePolicy(
            parse_roles(self.report_roles, "report-roles"),
            tuple((role, tuple(patterns)) for role, patterns in self.role_paths.items()),
        )

    # ------------------------------------------------------------ selection
    def selected_codes(self) -> set[str]:
        return {code for code in rule_codes() if self.is_selected(code)}

    def is_selected(self, code: str) -> bool:
        """ruff's rule: the most specific matching prefix wins; on a tie, ignore wins."""
        selected = _longest_prefix(code, self.select + self.extend_select)
        ignored = _longest_prefix(code, self.ignore + self.extend_ignore)
        return selected >= 0 and selected > ignored

    def ignored_for_file(self, path: Path | str) -> list[str]:
        """Codes that per-file-ignores switch off for `path` (patterns relative to the project root)."""
        if not self._per_file_specs:
            return []
        relative = relative_path(path, self.root)
        return [code for spec, codes in self._per_file_specs for code in codes if spec.match_file(relative)]

    @functools.cached_property
    def _per_file_specs(self) -> list[tuple[pathspec.GitIgnoreSpec, list[str]]]:
        if not self.per_file_ignores:
            return []
        import pathspec  # here, not at the top: a run without per-file-ignores does not need it

        return [(pathspec.GitIgnoreSpec.from_lines([p]), codes) for p, codes in self.per_file_ignores.items()]

    def fails(self, phase: int | str | None) -> bool:
        """Whether a finding of a rule of `phase` fails the run: advisory and later-phase findings are
        warnings; a finding of no rule (None: ASQ000, an internal error) always needs attention."""
        if phase is None:
            return True
        if phase == ADVISORY:
            return False
        return self.phase is None or int(phase) <= self.phase

    def fingerprint(self) -> str:
        """What the cache key must change with."""
        return repr(
            (
                sorted(self.selected_codes()), sorted(self.per_file_ignores.items()), self.phase,
                self.analysis_options(), sorted(self.role_policy().reported), self.role_policy().paths,
                self.target_version, self.project_rules,
            )
        )


def _check_roles(entries: list[str], where: str) -> None:
    if not all(isinstance(entry, str) for entry in entries):
        raise ConfigError(f"{where}: expected role names ({', '.join(ROLES)}, or all)")
    try:
        parse_roles(entries, where)
    except ValueError as error:
        raise ConfigError(str(error)) from error


def _longest_prefix(code: str, prefixes: list[str]) -> int:
    return max((len(p) for p in prefixes if code.startswith(p)), default=-1)


def relative_path(path: Path | str, root: Path | str) -> str:
    """`path` relative to `root` with forward slashes ("." for the root itself); as given when outside it.
    String operations, not pathlib: this runs for every file of a run."""
    absolute, base = os.path.abspath(path), os.path.abspath(root)
    if absolute == base:
        return "."
    prefix = base if base.endswith(os.sep) else base + os.sep
    if absolute.startswith(prefix):
        return absolute[len(prefix):].replace(os.sep, "/")
    return Path(path).as_posix()


def find_pyproject(start: Path) -> Path | None:
    folder = start.resolve()
    if folder.is_file():
        folder = folder.parent
    for candidate in (folder, *folder.parents):
        path = candidate / "pyproject.toml"
        if path.is_file():
            return path
    return None


def validate_codes(codes: list[str], where: str) -> list[str]:
    known = rule_codes()
    for code in codes:
        if not CODE_PREFIX.fullmatch(code) or not any(k.startswith(code) for k in known):
            raise ConfigError(f"{where}: unknown rule code or prefix {code!r} (see `flake8-async-sqla rule --all`)")
    return codes


def target_of(requires_python: object) -> str | None:
    """The oldest Python a `requires-python` specifier admits, as a target version (None when it names no
    lower bound), within the versions `target-version` knows."""
    if not isinstance(requires_python, str):
        return None
    minors = [int(m.group(1)) for clause in requires_python.split(",") if (m := LOWER_BOUND.match(clause))]
    if not minors:
        return None
    return f"py3{min(max(max(minors), 7), int(TARGET_VERSIONS[-1][3:]))}"


def load_settings(config: Path | None, start: Path) -> Settings:
    """Settings from the given pyproject.toml, else the nearest one above `start`; the target version from
    its `requires-python` unless `target-version` is set."""
    path = config or find_pyproject(start)
    settings = Settings(root=path.parent if path else Path.cwd(), config_file=path)
    if path is None:
        return settings
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: cannot read configuration: {error}") from error
    project, table = document.get("project", {}), document.get("tool", {}).get(SECTION, {})
    settings.target_version = target_of(project.get("requires-python") if isinstance(project, dict) else None)
    settings.rule_dirs = _rule_dirs(table, path)
    settings.project_rules = project_rules(table.get(RULES_KEY, []), path, settings.rule_dirs)
    known = {f.name.replace("_", "-") for f in fields(Settings)} - NOT_KEYS | {RULES_KEY}
    for key, value in table.items():
        if key in (RULES_KEY, RULE_DIRS_KEY):
            continue
        if key not in known:
            raise ConfigError(f"{path}: unknown key {key!r} in [tool.{SECTION}]; known keys: {', '.join(sorted(known))}")
        apply(settings, key.replace("-", "_"), value, f"{path} [tool.{SECTION}] {key}")
    return settings


def load_project_rules(start: Path) -> tuple[ProjectRuleSpec, ...]:
    """The project rules of the nearest pyproject.toml above `start`, for the flake8 plugin: flake8's INI files
    cannot hold rule tables."""
    path = find_pyproject(start)
    if path is None:
        return project_rules([], Path("pyproject.toml"), [])
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: cannot read configuration: {error}") from error
    table = document.get("tool", {}).get(SECTION, {})
    if not isinstance(table, dict):
        return project_rules([], path, [])
    return project_rules(table.get(RULES_KEY, []), path, _rule_dirs(table, path))


def _rule_dirs(table: dict, path: Path) -> list[str]:
    """The `rule-dirs` of a `[tool.flake8-async-sqla]` table, checked."""
    folders = table.get(RULE_DIRS_KEY, [])
    if not isinstance(folders, list) or not all(isinstance(folder, str) and folder for folder in folders):
        raise ConfigError(f"{path} [tool.{SECTION}] {RULE_DIRS_KEY}: expected a list of folders, not {folders!r}")
    return folders


def project_rules(tables: object, path: Path, rule_dirs: list[str]) -> tuple[ProjectRuleSpec, ...]:
    """The project rules declared in `path`'s `[[tool.flake8-async-sqla.rules]]` tables and in the rule files of
    `rule_dirs` (relative to `path`'s folder), made the process's (rule codes, roles, phases and `rule CODE` then
    know them); none when it declares none."""
    from flake8_async_sqla.core.rule import use_project_rules

    if not tables and not rule_dirs:
        use_project_rules({})
        return ()
    from flake8_async_sqla.core.project_rules import ProjectRuleError, parse_rule_file, parse_spec, rule_class, rule_files

    if not isinstance(tables, list):
        raise ConfigError(f"{path}: [tool.{SECTION}] {RULES_KEY} must be an array of tables ([[tool.{SECTION}.{RULES_KEY}]])")
    folders = [path.parent / folder for folder in rule_dirs]
    for folder in folders:
        if not folder.is_dir():
            raise ConfigError(f"{path} [tool.{SECTION}] {RULE_DIRS_KEY}: no such folder: {folder}")
    try:
        specs = tuple(parse_spec(table, str(path), f"#{number}") for number, table in enumerate(tables, 1))
        specs += tuple(spec for folder in folders for file in rule_files(folder) for spec in parse_rule_file(file))
    except ProjectRuleError as error:
        raise ConfigError(str(error)) from None
    codes = [spec.code for spec in specs]
    repeated = sorted({code for code in codes if codes.count(code) > 1})
    if repeated:
        origins = list(dict.fromkeys(spec.origin for spec in specs if spec.code == repeated[0]))  # in declaration order
        elsewhere = f" (also in {origins[0]})" if len(origins) > 1 else ""
        raise ConfigError(f"{origins[-1]}: project rule {repeated[0]}: declared more than once{elsewhere}")
    use_project_rules({spec.code: rule_class(spec) for spec in specs})
    return specs


def apply(settings: Settings, name: str, value: object, where: str) -> None:
    """Set one option, checking its type and, for rule codes, that the codes exist."""
    expected = type(getattr(settings, name))
    if name == "phase":
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5:
            raise ConfigError(f"{where}: phase must be a whole number from 1 to 5, not {value!r}")
    elif name == "max_file_size":
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{where}: max-file-size must be a positive number of bytes, not {value!r}")
    elif name == "target_version":
        if value not in TARGET_VERSIONS:
            raise ConfigError(f"{where}: target version must be one of {', '.join(TARGET_VERSIONS)}, not {value!r}")
    elif name == "per_file_ignores":
        if not isinstance(value, dict) or not all(isinstance(v, list) for v in value.values()):
            raise ConfigError(f"{where}: expected a table of pattern = [codes]")
        for pattern, codes in value.items():
            validate_codes(codes, f"{where} {pattern!r}")
    elif name == "role_paths":
        if not isinstance(value, dict) or not all(
            isinstance(v, list) and all(isinstance(p, str) for p in v) for v in value.values()
        ):
            raise ConfigError(f"{where}: expected a table of role = [patterns]")
        if "all" in value:
            raise ConfigError(f"{where}: name roles one by one ({', '.join(ROLES)})")
        _check_roles(list(value), where)
    elif not isinstance(value, expected):
        raise ConfigError(f"{where}: expected {expected.__name__}, not {type(value).__name__}")
    elif name == "report_roles":
        _check_roles(value, where)  # type: ignore[arg-type]
    elif name in ("select", "extend_select", "ignore", "extend_ignore"):
        validate_codes(value, where)  # type: ignore[arg-type]
    elif name in AnalysisOptions.names():
        for entry in value:  # type: ignore[attr-defined]
            if not isinstance(entry, str) or not all(part.isidentifier() for part in entry.split(".")):
                raise ConfigError(f"{where}: {entry!r} is not a dotted Python name")
    setattr(settings, name, value)


def describe(settings: Settings) -> str:
    """The effective settings, as the `[tool.flake8-async-sqla]` table that would give them."""
    lines = [
        f"# configuration: {settings.config_file or 'none found, defaults'}",
        f"# project root: {settings.root}",
        f"[tool.{SECTION}]",
    ]
    for name in (f.name for f in fields(Settings) if f.name not in NOT_KEYS):
        key, value = name.replace("_", "-"), getattr(settings, name)
        if value is None:
            lines.append(f"# {key}: not set")
        elif isinstance(value, dict):
            entries = ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in value.items())
            lines.append(f"{key} = {{ {entries} }}" if entries else f"{key} = {{}}")
        else:
            lines.append(f"{key} = {json.dumps(value)}")  # JSON strings, numbers, booleans and lists are TOML
    lines.append(f"# rules enabled: {', '.join(sorted(settings.selected_codes()))}")
    return "".join(line + "\n" for line in lines)
