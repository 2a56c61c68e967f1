"""Each rule's declaration is complete, and its own examples behave as declared."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from flake8_async_sqla import docs
from flake8_async_sqla.core.checker import check_tree
from flake8_async_sqla.core.project import ProjectIndex
from flake8_async_sqla.core.rule import ADVISORY, DOC_SECTIONS, all_rules, rule_codes

from harness import MARKER, ROOT

RULES = list(all_rules().values())
FAMILY_FOLDERS = {"1": "engine", "2": "session", "3": "transaction", "4": "legacy", "5": "implicit_io", "6": "resilience"}


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_declaration_is_complete(rule) -> None:
    assert re.fullmatch(r"ASQ[1-6]\d\d", rule.code)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name)
    assert rule.phase in (1, 2, 3, 4, 5, ADVISORY)
    assert rule.message and "\n" not in rule.message and ":" in rule.message, "the message says what to do instead"
    sections = rule.doc_sections()
    for section in DOC_SECTIONS:
        assert sections.get(section), f"{rule.code} docstring lacks '## {section}'"
    assert rule.invalid and rule.valid
    module = rule.__module__.rsplit(".", 2)
    assert module[1] == FAMILY_FOLDERS[rule.code[3]]
    assert module[2].startswith(rule.code.lower() + "_")


def test_codes_and_names_are_unique() -> None:
    assert len({r.name for r in RULES}) == len(RULES)


def test_rule_codes_are_read_from_the_module_names_without_importing_them() -> None:
    """`rule_codes` (what selection and a cached run use) lists exactly the declared rules: one per module."""
    assert rule_codes() == list(all_rules())


def _markers(snippet: str) -> list[tuple[int, str]]:
    found = []
    for number, line in enumerate(snippet.splitlines(), 1):
        match = MARKER.search(line)
        if match:
            found.extend((number, code) for code in re.findall(r"ASQ\d{3}", match.group(1)))
    return sorted(found)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_examples_behave_as_declared(rule, tmp_path: Path) -> None:
    for snippet in rule.invalid + rule.valid:
        path = tmp_path / "example.py"
        path.write_text(snippet)
        findings = check_tree(ast.parse(snippet), str(path), snippet, index=ProjectIndex())
        got = sorted((f.line, f.code) for f in findings)
        assert got == _markers(snippet), snippet
    assert _markers(rule.invalid[0]), "the docs example must show the finding"


def test_docs_are_in_sync() -> None:
    stale = [str(p) for p, text in docs.expected_files(ROOT).items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    assert not stale, f"run `python -m flake8_async_sqla.docs`: stale {stale}"
    pages = {p.stem for p in (ROOT / "docs" / "rules").glob("ASQ*.md")}
    assert pages == set(all_rules()), "a docs page exists for a rule that is gone"


# Rules whose problem shows at runtime: each has a proof run against real databases.
RUNTIME_RULES = {
    "ASQ101", "ASQ201", "ASQ202", "ASQ203", "ASQ205", "ASQ207", "ASQ209", "ASQ301", "ASQ302",
    "ASQ303", "ASQ304", "ASQ401", "ASQ501", "ASQ503", "ASQ504",
}


@pytest.mark.parametrize("code", sorted(RUNTIME_RULES))
def test_runtime_rules_link_their_proof_and_what_each_backend_showed(code: str) -> None:
    rule = all_rules()[code]
    assert rule.runtime_proof, f"{code} has no runtime proof"
    assert (ROOT / rule.runtime_proof).is_file()
    backends = " ".join(rule.observed)
    assert "SQLite" in backends and "PostgreSQL" in backends, rule.observed
