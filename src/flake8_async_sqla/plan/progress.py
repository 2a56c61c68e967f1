"""`plan --baseline EARLIER.json`: what was done per phase since an earlier JSON plan."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


class BaselineError(Exception):
    """The earlier plan cannot be read."""


@dataclass(frozen=True)
class PhaseProgress:
    phase: str
    before: int  # findings in the earlier plan
    now: int
    closed: int
    new: int
    done: str  # closed / before, as a percentage ("—" when there was nothing)
    units_closed: tuple[str, ...]  # keys of the earlier plan's units that are gone
    units_new: tuple[str, ...]


def load(path: Path) -> dict:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BaselineError(f"{path}: cannot read the earlier plan: {error}") from None
    if not isinstance(document, dict) or "phases" not in document:
        raise BaselineError(f"{path}: not a JSON plan (write one with `plan --format json`)")
    return document


def compare(earlier: dict, current: dict) -> list[PhaseProgress]:
    """Per phase: findings matched by file, rule and message (lines move as code is edited), units by key."""
    result = []
    before_phases = {str(p["number"]): p for p in earlier.get("phases", [])}
    for phase in current["phases"]:
        number = str(phase["number"])
        old = before_phases.get(number, {})
        before, now = _findings(old), _findings(phase)
        closed = sum((before - now).values())
        new = sum((now - before).values())
        total = sum(before.values())
        old_units = {u["key"] for u in old.get("units", [])}
        new_units = {u["key"] for u in phase.get("units", [])}
        result.append(
            PhaseProgress(
                number, total, sum(now.values()), closed, new,
                f"{100 * closed // total}%" if total else "—",
                tuple(sorted(old_units - new_units)), tuple(sorted(new_units - old_units)),
            )
        )
    return result


def _findings(phase: dict) -> Counter:
    return Counter((f["path"], f["code"], f["message"]) for f in phase.get("items", []))
