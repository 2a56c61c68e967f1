"""The real-application corpus: its labels, its scripts, and (where the apps are laid out) the accuracy goals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flake8_async_sqla.core.rule import all_rules

REALWORLD = Path(__file__).parent.parent / "benchmarks" / "realworld"
sys.path.insert(0, str(REALWORLD))

import layout  # noqa: E402
import score  # noqa: E402


def test_labels_are_well_formed_and_cover_the_corpus() -> None:
    labels = score.load_labels()
    assert len(labels) >= 200
    verdicts = [verdict for verdict, _ in labels.values()]
    assert verdicts.count("violation") >= 100 and verdicts.count("clean") >= 100
    assert {code for _, _, _, code in labels} <= set(all_rules())
    assert {app for app, _, _, _ in labels} == {app["name"] for app in layout.load_corpus()}
    assert len(layout.load_corpus()) >= 10


def test_scoring_counts_lines_and_findings() -> None:
    labels = {
        ("a", "app/x.py", 1, "ASQ301"): ("violation", "helper commits"),
        ("a", "app/x.py", 2, "ASQ301"): ("violation", "missed"),
        ("a", "app/x.py", 3, "ASQ301"): ("clean", "false alarm"),
        ("a", "app/x.py", 4, "ASQ301"): ("clean", "look-alike, not reported"),
    }
    findings = {
        key: {"message": "m", "role": role}
        for key, role in [
            (("a", "app/x.py", 1, "ASQ301"), "application"),
            (("a", "app/x.py", 3, "ASQ301"), "application"),
            (("a", "app/y.py", 9, "ASQ301"), "application"),
            (("a", "tests/test_x.py", 9, "ASQ301"), "test"),
        ]
    }
    tally = score.score(labels, findings, {"a"})["ASQ301"]
    assert (tally.true_positive, tally.false_positive, tally.false_negative, tally.true_negative) == (1, 1, 1, 1)
    assert (tally.precision, tally.recall) == (0.5, 0.5)
    assert (tally.found, tally.outside_scope, tally.reviewed_true, tally.reviewed_false) == (4, 1, 1, 1)
    assert tally.unreviewed == ["a:app/y.py:9 ASQ301 m"]
    assert score.estimated_precision({"ASQ301": tally}) == 0.5 * 3 / 4


def test_layout_says_which_snapshots_are_missing(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REALWORLD / "layout.py"), "--mirror", str(tmp_path), "--apps", str(tmp_path / "apps"), "fief"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 1
    assert "fief: no snapshot of fief-dev/fief" in result.stdout


def laid_out() -> bool:
    return all(layout.app_folder(layout.APPS, app).is_dir() for app in layout.load_corpus())


@pytest.mark.slow
@pytest.mark.skipif(not laid_out(), reason=f"the corpus apps are not laid out under {layout.APPS} (fetch, then layout.py)")
def test_accuracy_goals_on_the_corpus(tmp_path: Path) -> None:
    import run

    assert run.main(["--results", str(tmp_path)]) == 0
    findings, apps = score.load_findings(tmp_path)
    tallies = score.score(score.load_labels(), findings, apps)
    overall = score.total(tallies)
    assert overall.precision >= 0.95
    assert overall.outside_scope == 0
    assert score.estimated_precision(tallies) >= 0.90
    for code, tally in tallies.items():
        if tally.true_positive + tally.false_positive >= 5:
            assert tally.precision >= 0.90, code
        if tally.reviewed_true + tally.reviewed_false >= 5:
            assert tally.whole_app_precision >= 0.80, code
