"""SARIF 2.1.0, with every rule's metadata and a help URI to its docs page."""

from __future__ import annotations

import json
import os
from urllib.parse import quote

from flake8_async_sqla import PROJECT_URL, __version__, rule_doc_url
from flake8_async_sqla.core.rule import AutoFix, Finding, all_rules
from flake8_async_sqla.runner import RunOutcome

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def uri(path: str) -> str:
    """A reported path as the relative URI SARIF wants: forward slashes, other characters percent-encoded."""
    return quote(path.replace(os.sep, "/"), safe="/")


def rule_descriptors() -> list[dict[str, object]]:
    descriptors = []
    for code, rule in all_rules().items():
        sections = rule.doc_sections()
        descriptors.append(
            {
                "id": code,
                "name": rule.name,
                # The name, not the message template, whose {placeholders} only a finding fills in.
                "shortDescription": {"text": rule.name.replace("-", " ").capitalize()},
                "fullDescription": {"text": sections.get("What it does", rule.name)},
                "help": {"text": sections.get("Use instead", rule.message)},
                "helpUri": rule_doc_url(code),
                "defaultConfiguration": {"level": "note" if rule.is_advisory() else "error"},
                "properties": {"phase": str(rule.phase), "tags": ["sqlalchemy", "fastapi", "asyncio"]},
            }
        )
    return descriptors


def _fix(path: str, finding: Finding, fix: AutoFix) -> dict[str, object]:
    """The finding's fix as SARIF states it: the regions of one file to replace, and with what."""
    replacements = [
        {
            "deletedRegion": {
                "startLine": edit.line, "startColumn": edit.col + 1, "endLine": edit.end_line, "endColumn": edit.end_col + 1,
            },
            "insertedContent": {"text": edit.text},
        }
        for edit in finding.edits
    ]
    return {
        "description": {"text": fix.title},
        "artifactChanges": [{"artifactLocation": {"uri": uri(path)}, "replacements": replacements}],
        "properties": {"safety": fix.safety},
    }


def render(outcome: RunOutcome, show_source: bool) -> str:
    del show_source
    descriptors = rule_descriptors()
    rules = all_rules()
    index = {d["id"]: i for i, d in enumerate(descriptors)}
    results = []
    for result in outcome.results:
        finding = result.finding
        entry: dict[str, object] = {
            "ruleId": finding.code,
            "level": "error" if result.fails else "warning",
            "message": {"text": finding.message.partition(" ")[2]},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri(result.path)},
                        "region": {
                            "startLine": finding.line,
                            "startColumn": finding.col + 1,
                            "endLine": max(finding.end_line, finding.line),
                            "endColumn": finding.end_col + 1,
                        },
                    }
                }
            ],
            "partialFingerprints": {"asqFingerprint/v1": result.fingerprint},
        }
        if finding.code in index:
            entry["ruleIndex"] = index[finding.code]
        rule = rules.get(finding.code)
        if finding.edits and rule is not None and rule.fix is not None:
            entry["fixes"] = [_fix(result.path, finding, rule.fix)]
        results.append(entry)
    notifications = [
        {"level": "error", "message": {"text": f"{error.path}: {error.problem}"}, "locations": [
            {"physicalLocation": {"artifactLocation": {"uri": uri(error.path)}}}
        ]}
        for error in outcome.errors
    ]
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "flake8-async-sqla",
                        "version": __version__,
                        "informationUri": PROJECT_URL,
                        "rules": descriptors,
                    }
                },
                "invocations": [
                    {"executionSuccessful": not outcome.errors, "toolExecutionNotifications": notifications}
                ],
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"
