"""Project rules: a team's own forbidden patterns, declared in pyproject.toml as `[[tool.flake8-async-sqla.rules]]`
tables, or one a YAML file in the `rule-dirs` folders (ast-grep's rule file shape), in ast-grep's rule language,
and reported like the built-in rules (ASQ900-ASQ999).

They match the concrete syntax tree (ast-grep), not the semantic model: a file is parsed with tree-sitter only
when a project rule is selected for it. ast-grep is imported only then, and to check the rules when they load;
PyYAML only when a rule folder holds rule files.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flake8_async_sqla.core.edits import SourceText
from flake8_async_sqla.core.roles import ROLES
from flake8_async_sqla.core.rule import ADVISORY, SAFE, UNSAFE, AutoFix, Finding, Rule

if TYPE_CHECKING:
    from ast_grep_py import SgNode

PROJECT_CODE = re.compile(r"ASQ9\d\d")
# The keys a rule table may hold.
KEYS = ("code", "name", "message", "phase", "roles", "rule", "constraints", "fix", "fix-safety", "note", "url", "valid", "invalid")
# A rule file's keys: ast-grep's (`id` is the rule's name; `language` must be Python; `severity` only says
# whether the rule is on, the phase decides whether a finding fails the run) and the keys of a table.
FILE_KEYS = ("id", "language", "severity", *(key for key in KEYS if key != "name"))
SEVERITIES = ("hint", "info", "warning", "error", "off")
RULE_FILE_SUFFIXES = (".yml", ".yaml")
# `$NAME` and `$$$NAME` in a fix or message: the text the rule's metavariable matched.
METAVARIABLE = re.compile(r"\$\$\$([A-Z_][A-Z0-9_]*)|\$([A-Z_][A-Z0-9_]*)")


class ProjectRuleError(ValueError):
    """A malformed project rule: the message names the rule and the problem."""


@dataclass(frozen=True)
class ProjectRuleSpec:
    """One project rule as declared (plain data: hashable, picklable, part of the settings' fingerprint)."""

    code: str
    name: str
    message: str
    phase: int | str
    roles: tuple[str, ...]
    matcher: str  # ast-grep's rule config (`rule` and `constraints`) as JSON
    fix: str | None
    fix_safety: str
    origin: str  # the file declaring it
    note: str | None = None  # what to do instead, shown by `rule CODE`
    url: str | None = None
    # Code the rule must report (`invalid`) and must not (`valid`): `test-rules` runs them.
    valid: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()

    @property
    def config(self) -> dict:
        return json.loads(self.matcher)

    @property
    def required_words(self) -> tuple[str, ...]:
        """Words any match contains: those of a top-level `pattern` that are not metavariables. A file
        without one of them needs no parse for this rule."""
        pattern = self.config["rule"].get("pattern")
        return tuple(re.findall(r"(?<![$\w])[A-Za-z_]\w*", pattern)) if isinstance(pattern, str) else ()


def parse_spec(table: object, origin: str, position: str) -> ProjectRuleSpec:
    """A rule table checked field by field; raises ProjectRuleError naming `position` (or the code) and the problem."""
    where = f"{origin}: project rule {position}"
    if not isinstance(table, dict):
        raise ProjectRuleError(f"{where}: expected a table, not {type(table).__name__}")
    code = table.get("code")
    if isinstance(code, str):
        where = f"{origin}: project rule {code}"
    if not isinstance(code, str) or not PROJECT_CODE.fullmatch(code):
        raise ProjectRuleError(f"{where}: `code` must be a code of the project range ASQ900-ASQ999, not {code!r}")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise ProjectRuleError(f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(KEYS)}")
    message = table.get("message")
    if not isinstance(message, str) or not message.strip():
        raise ProjectRuleError(f"{where}: `message` must be a non-empty string")
    phase = table.get("phase")
    if phase != ADVISORY and (not isinstance(phase, int) or isinstance(phase, bool) or not 1 <= phase <= 5):
        raise ProjectRuleError(f"{where}: `phase` must be a whole number from 1 to 5 or \"advisory\", not {phase!r}")
    roles = table.get("roles", list(ROLES))
    if not isinstance(roles, list) or not roles or any(role not in ROLES for role in roles):
        raise ProjectRuleError(f"{where}: `roles` must be a list of roles ({', '.join(ROLES)}), not {roles!r}")
    name = table.get("name", code.lower())
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name):
        raise ProjectRuleError(f"{where}: `name` (`id` in a rule file) must be kebab-case, not {name!r}")
    rule, constraints = table.get("rule"), table.get("constraints")
    if not isinstance(rule, dict) or not rule:
        raise ProjectRuleError(f"{where}: `rule` must be an ast-grep rule table, such as {{ pattern = \"get_db($$$)\" }}")
    if constraints is not None and not isinstance(constraints, dict):
        raise ProjectRuleError(f"{where}: `constraints` must be a table of metavariable = rule")
    fix = table.get("fix")
    if fix is not None and not isinstance(fix, str):
        raise ProjectRuleError(f"{where}: `fix` must be the replacement text, a string")
    safety = table.get("fix-safety", SAFE)
    if safety not in (SAFE, UNSAFE):
        raise ProjectRuleError(f"{where}: `fix-safety` must be {SAFE!r} or {UNSAFE!r}, not {safety!r}")
    for key in ("note", "url"):
        if not isinstance(table.get(key, ""), str):
            raise ProjectRuleError(f"{where}: `{key}` must be a string")
    examples = {key: table.get(key, []) for key in ("valid", "invalid")}
    for key, snippets in examples.items():
        if not isinstance(snippets, list) or not all(isinstance(snippet, str) for snippet in snippets):
            raise ProjectRuleError(f"{where}: `{key}` must be a list of code snippets (strings)")
    config = {"rule": rule, **({"constraints": constraints} if constraints else {})}
    _check_matcher(config, where)
    return ProjectRuleSpec(
        code, name, message.strip(), phase, tuple(roles), json.dumps(config, sort_keys=True), fix, safety, origin,
        table.get("note"), table.get("url"), tuple(examples["valid"]), tuple(examples["invalid"]),
    )


def rule_files(folder: Path) -> list[Path]:
    """The rule files of a `rule-dirs` folder and its subfolders (`*.yml`, `*.yaml`), in path order."""
    return sorted(path for path in folder.rglob("*") if path.suffix in RULE_FILE_SUFFIXES and path.is_file())


def parse_rule_file(path: Path) -> list[ProjectRuleSpec]:
    """The rules of one rule file: a YAML document a rule (several may be separated by `---`, as ast-grep
    allows), in ast-grep's shape; a rule of severity `off` is left out, as ast-grep leaves it."""
    try:
        import yaml
    except ImportError:
        raise ProjectRuleError(f"{path}: reading rule files needs PyYAML: pip install 'flake8-async-sqla[rule-dirs]'") from None
    try:
        with open(path, encoding="utf-8") as handle:
            documents = list(yaml.load_all(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        place = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ProjectRuleError(f"{path}: not a YAML rule file: {place}{error.problem or error.context}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ProjectRuleError(f"{path}: cannot read the rule file: {error}") from None
    specs = []
    for number, document in enumerate((document for document in documents if document is not None), 1):
        table = _rule_file_table(document, str(path), number)
        if table is not None:
            specs.append(parse_spec(table, str(path), _label(document, number)))
    return specs


def _rule_file_table(document: object, origin: str, number: int) -> dict | None:
    """A rule file's document as a rule table (`id` as its `name`); None for a rule of severity `off`."""
    where = f"{origin}: project rule {_label(document, number)}"
    if not isinstance(document, dict):
        raise ProjectRuleError(f"{where}: expected a mapping of keys ({', '.join(FILE_KEYS)}), not {type(document).__name__}")
    unknown = sorted(set(document) - set(FILE_KEYS), key=str)
    if unknown:
        raise ProjectRuleError(f"{where}: unknown key {unknown[0]!r}; known keys in a rule file: {', '.join(FILE_KEYS)}")
    language = document.get("language", "python")
    if not isinstance(language, str) or language.lower() not in ("python", "py"):
        raise ProjectRuleError(f"{where}: `language` must be python (this tool checks Python), not {language!r}")
    severity = document.get("severity", "error")
    if severity is False:
        severity = "off"  # YAML 1.1 reads an unquoted `off` as false
    if severity not in SEVERITIES:
        raise ProjectRuleError(f"{where}: `severity` must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    if severity == "off":
        return None
    table = {key: value for key, value in document.items() if key not in ("id", "language", "severity")}
    if "id" in document:
        table["name"] = document["id"]
    return table


def _label(document: object, number: int) -> str:
    """How an error names a rule of a rule file before its code is checked: its code, else its id, else its number."""
    if isinstance(document, dict):
        for key in ("code", "id"):
            if isinstance(document.get(key), str):
                return document[key]
    return f"#{number}"


def _check_matcher(config: dict, where: str) -> None:
    """Let ast-grep judge the rule (unknown fields, invalid kinds, a rule with nothing to match) on an empty file."""
    from ast_grep_py import SgRoot

    try:
        SgRoot("", "python").root().find(config=config)
    except Exception as error:  # noqa: BLE001 - ast-grep raises plain Exception and RuntimeError alike
        raise ProjectRuleError(f"{where}: invalid `rule`: {_ast_grep_problem(error)}") from None


def _ast_grep_problem(error: Exception) -> str:
    """ast-grep's error without its stack backtrace: its causes, innermost last, on one line."""
    text = str(error).split("Stack backtrace:")[0]
    causes = [re.sub(r"^\d+:\s*", "", line.strip()) for line in text.splitlines() if line.strip()]
    causes = [cause for cause in causes if cause not in ("Caused by:", "cannot get matcher")]
    return "; ".join(causes) or type(error).__name__


class ProjectRule(Rule):
    """Base of the rule classes made from project rule declarations."""

    spec: ProjectRuleSpec

    def check(self, model: object) -> Iterator:  # pragma: no cover - project rules run on the text (find_all)
        return iter(())


def rule_class(spec: ProjectRuleSpec) -> type[ProjectRule]:
    """A rule class for `spec`, so that `rule CODE`, roles, phases and reports treat it like a built-in rule."""
    config = json.dumps(spec.config, indent=2)
    use_instead = spec.note or "What the project's guidelines say."
    fix_safety = f"Declared {spec.fix_safety} by the project: replaces the match with `{spec.fix}`." if spec.fix else "No fix."
    link = f"- <{spec.url}>\n\n" if spec.url else ""
    doc = (
        f"## What it does\nReports code matching a rule the project declared in {spec.origin}.\n\n"
        f"## Why is this bad?\n{spec.message}\n\n"
        f"## Use instead\n{use_instead}\n\n"
        f"## Known false alarms\nThe rule matches syntax only: it does not know what names refer to.\n\n"
        f"## Fix safety\n{fix_safety}\n\n"
        f"## References\n{link}The ast-grep rule:\n\n```json\n{config}\n```\n"
    )
    return type(
        f"ProjectRule{spec.code[3:]}",
        (ProjectRule,),
        {
            "__doc__": doc, "spec": spec, "code": spec.code, "name": spec.name, "phase": spec.phase,
            "message": spec.message, "roles": frozenset(spec.roles),
            "fix": AutoFix(spec.fix_safety, f"replace with `{spec.fix}`") if spec.fix is not None else None,
            "valid": spec.valid, "invalid": spec.invalid,
        },
    )


def find_all(rules: Iterable[type[ProjectRule]], tree: ast.Module, text: str, fixes: bool) -> list[Finding]:
    """The findings of the project `rules` in one file's `text` (one tree-sitter parse for them all); with
    `fixes`, each carries its fix's edit."""
    rules = [rule for rule in rules if all(word in text for word in rule.spec.required_words)]
    if not rules:
        return []
    from ast_grep_py import SgRoot

    source = SourceText(text)
    root = SgRoot(text, "python").root()
    contexts = _Contexts(tree)
    findings = []
    for rule in rules:
        spec = rule.spec
        for node in root.find_all(config=spec.config):
            start, end = node.range().start.index, node.range().end.index
            line, col = _ast_position(source, start)
            end_line, end_col = _ast_position(source, end)
            edits = (source.edit(start, end, _expand(spec.fix, node, text)),) if fixes and spec.fix is not None else ()
            message = f"{spec.code} {_expand(spec.message, node, text)}"
            findings.append(Finding(line, col, spec.code, message, end_line, end_col, contexts.at(line), (), edits))
    return findings


def _ast_position(source: SourceText, offset: int) -> tuple[int, int]:
    """(line, UTF-8 byte column) of a character offset, as ast and flake8 count."""
    line = source.line_number(offset)
    column = offset - source.line_starts[line - 1]
    return line, len(source.line(line)[:column].encode("utf-8"))


def _expand(template: str, node: SgNode, text: str) -> str:
    """`template` with each `$NAME` / `$$$NAME` replaced by the text the metavariable matched ("" if none)."""

    def matched(found: re.Match[str]) -> str:
        if found.group(1):
            nodes = node.get_multiple_matches(found.group(1))
            return text[nodes[0].range().start.index : nodes[-1].range().end.index] if nodes else ""
        single = node.get_match(found.group(2))
        return single.text() if single is not None else ""

    return METAVARIABLE.sub(matched, template)


class _Contexts:
    """The enclosing function or class of a line, as `Finding.context` names it (`Class.method`)."""

    def __init__(self, tree: ast.Module) -> None:
        self.spans: list[tuple[int, int, str]] = []
        self._collect(tree.body, "")

    def _collect(self, body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + node.name
                self.spans.append((node.lineno, node.end_lineno or node.lineno, name))
                self._collect(node.body, name + ".")
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    inner = getattr(node, field, None)
                    if isinstance(inner, list):
                        self._collect([n for n in inner if isinstance(n, ast.stmt)] + [
                            s for h in inner if isinstance(h, ast.ExceptHandler) for s in h.body
                        ], prefix)

    def at(self, line: int) -> str:
        inside = [span for span in self.spans if span[0] <= line <= span[1]]
        return max(inside, key=lambda span: span[0])[2] if inside else ""
