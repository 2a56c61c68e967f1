"""Precision and recall per rule, from the hand-checked labels and the whole-app findings of `run.py`.

Usage: python benchmarks/realworld/score.py [--results DIR] [--markdown] [--unreviewed N]

Two measures, both per rule:
- Labelled lines (`labels/<app>.csv`): a `violation` line the run reports is a true positive, one it
  does not report a false negative; a `clean` line it reports is a false positive.
- Whole-app review: each finding of the run in application code (any role but test and migration) that a
  label judges counts as true (`violation`) or false (`clean`); the rest are unreviewed. A rule's
  precision is true / (true + false) over its reviewed findings; the estimated number of true findings
  is that precision times the rule's findings in application code. Findings in test code and
  migrations count as false: the goal is none. The overall figure is estimated true / all findings.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from layout import HERE, load_corpus  # noqa: E402

from flake8_async_sqla.core.roles import classify  # noqa: E402

LABEL_COLUMNS = ["repo", "commit", "path", "line", "code", "verdict", "reason"]
VERDICTS = ("violation", "clean")
UNREPORTED_ROLES = ("test", "migration")

Key = tuple[str, str, int, str]  # (app, path, line, code)


@dataclass
class Tally:
    true_positive: int = 0
    false_negative: int = 0
    false_positive: int = 0
    true_negative: int = 0
    found: int = 0  # whole-app findings of the rule
    reviewed_true: int = 0
    reviewed_false: int = 0
    outside_scope: int = 0  # findings in test code and migrations
    unreviewed: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        return ratio(self.true_positive, self.true_positive + self.false_positive)

    @property
    def recall(self) -> float | None:
        return ratio(self.true_positive, self.true_positive + self.false_negative)

    @property
    def whole_app_precision(self) -> float | None:
        return ratio(self.reviewed_true, self.reviewed_true + self.reviewed_false)

    @property
    def estimated_true(self) -> float:
        return (self.whole_app_precision or 0.0) * (self.found - self.outside_scope)


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def load_labels(folder: Path = HERE / "labels") -> dict[Key, tuple[str, str]]:
    """(app, path, line, code) -> (verdict, reason); ValueError on a malformed row or a contradiction."""
    apps = {app["name"]: app for app in load_corpus()}
    labels: dict[Key, tuple[str, str]] = {}
    for path in sorted(folder.glob("*.csv")):
        app = apps.get(path.stem)
        if app is None:
            raise ValueError(f"{path.name}: no app of that name in corpus.toml")
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames != LABEL_COLUMNS:
                raise ValueError(f"{path.name}: header must be {','.join(LABEL_COLUMNS)}")
            for number, row in enumerate(reader, 2):
                where = f"{path.name}:{number}"
                if (row["repo"], row["commit"]) != (app["repo"], app["commit"]):
                    raise ValueError(f"{where}: repo/commit differ from corpus.toml")
                if row["verdict"] not in VERDICTS or not row["reason"].strip() or not row["line"].isdigit():
                    raise ValueError(f"{where}: needs a line number, a verdict of {VERDICTS} and a reason")
                key = (path.stem, row["path"], int(row["line"]), row["code"])
                if key in labels and labels[key][0] != row["verdict"]:
                    raise ValueError(f"{where}: contradicts an earlier label of the same line and code")
                labels[key] = (row["verdict"], row["reason"])
    return labels


def load_findings(results: Path) -> tuple[dict[Key, dict], set[str]]:
    """Every finding of the whole-app runs by key, and the apps that have results."""
    findings: dict[Key, dict] = {}
    apps = set()
    for app in load_corpus():
        path = results / f"{app['name']}.json"
        if not path.is_file():
            continue
        apps.add(app["name"])
        for finding in json.loads(path.read_text()):
            findings[(app["name"], finding["path"], finding["line"], finding["code"])] = finding
    return findings, apps


def score(labels: dict[Key, tuple[str, str]], findings: dict[Key, dict], apps: set[str]) -> dict[str, Tally]:
    tallies: dict[str, Tally] = collections.defaultdict(Tally)
    for key, (verdict, _) in labels.items():
        if key[0] not in apps:
            continue
        tally = tallies[key[3]]
        reported = key in findings
        if verdict == "violation":
            tally.true_positive += reported
            tally.false_negative += not reported
        else:
            tally.false_positive += reported
            tally.true_negative += not reported
    for key, finding in findings.items():
        tally = tallies[key[3]]
        tally.found += 1
        # Results of a version without roles: judged by the path alone.
        if (finding.get("role") or classify(finding["path"])) in UNREPORTED_ROLES:
            tally.outside_scope += 1
            continue
        verdict = labels.get(key, (None, ""))[0]
        if verdict == "violation":
            tally.reviewed_true += 1
        elif verdict == "clean":
            tally.reviewed_false += 1
        else:
            tally.unreviewed.append(f"{key[0]}:{key[1]}:{key[2]} {key[3]} {finding['message'][:100]}")
    return dict(sorted(tallies.items()))


def estimated_precision(tallies: dict[str, Tally]) -> float | None:
    """Estimated true findings over all findings (test code and migrations included, as false)."""
    return ratio(sum(t.estimated_true for t in tallies.values()), sum(t.found for t in tallies.values()))  # type: ignore[arg-type]


def total(tallies: dict[str, Tally]) -> Tally:
    overall = Tally()
    for tally in tallies.values():
        for name in ("true_positive", "false_negative", "false_positive", "true_negative", "found",
                     "reviewed_true", "reviewed_false", "outside_scope"):
            setattr(overall, name, getattr(overall, name) + getattr(tally, name))
        overall.unreviewed.extend(tally.unreviewed)
    return overall


def shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def table(tallies: dict[str, Tally], markdown: bool) -> str:
    header = ("rule", "labels", "TP", "FP", "FN", "precision", "recall", "findings", "tests+migr.", "reviewed",
              "app precision")
    rows = []
    for code, tally in [*tallies.items(), ("all", total(tallies))]:
        labelled = tally.true_positive + tally.false_positive + tally.false_negative + tally.true_negative
        rows.append((
            code, str(labelled), str(tally.true_positive), str(tally.false_positive), str(tally.false_negative),
            shown(tally.precision), shown(tally.recall), str(tally.found), str(tally.outside_scope),
            str(tally.reviewed_true + tally.reviewed_false),
            shown(estimated_precision(tallies) if code == "all" else tally.whole_app_precision),
        ))
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines) + "\n"
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in (header, *rows)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--unreviewed", type=int, default=0, metavar="N", help="list up to N unreviewed findings")
    args = parser.parse_args(argv)
    findings, apps = load_findings(args.results)
    if not apps:
        print(f"no results under {args.results}: run benchmarks/realworld/run.py first", file=sys.stderr)
        return 2
    tallies = score(load_labels(), findings, apps)
    sys.stdout.write(table(tallies, args.markdown))
    for line in total(tallies).unreviewed[: args.unreviewed]:
        print("unreviewed:", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
