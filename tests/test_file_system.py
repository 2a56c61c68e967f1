"""The file system as it is: FIFOs, sockets and devices, huge files, file names that are not UTF-8, folders that
cannot be listed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flake8_async_sqla.core.layout import FolderListings, module_file
from harness import ENGINE_IN_HANDLER

posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs, sockets and byte file names")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "routes.py").write_text(ENGINE_IN_HANDLER)
    return tmp_path


def check(project: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "flake8_async_sqla", "check", *args], cwd=project, capture_output=True, text=True,
        check=False, timeout=timeout,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


@posix_only
def test_fifos_sockets_and_devices_are_skipped_with_a_note_never_opened(project: Path) -> None:
    os.mkfifo(project / "app" / "pipe.py")  # opening it would wait for a writer for ever
    (project / "app" / "zeros.py").symlink_to("/dev/zero")  # reading it would never end
    listening = socket.socket(socket.AF_UNIX)
    try:
        listening.bind(str(project / "app" / "socket.py"))
        for args in ([], ["--no-cache"], ["app/pipe.py", "app/routes.py"]):
            result = check(project, *args)
            assert result.returncode == 1 and "app/routes.py:9:12: ASQ101" in result.stdout
            assert "flake8-async-sqla: warning: app/pipe.py: skipped: a FIFO, not a regular file" in result.stderr
            if not args or args[0] != "app/pipe.py":
                assert "app/zeros.py: skipped: a device, not a regular file" in result.stderr
                assert "app/socket.py: skipped: a socket, not a regular file" in result.stderr
    finally:
        listening.close()


def test_a_file_over_the_size_limit_is_skipped_with_a_note(project: Path) -> None:
    (project / "app" / "generated.py").write_text("import sqlalchemy\nDATA = [\n" + "    1,\n" * 2_000 + "]\n")
    size = (project / "app" / "generated.py").stat().st_size
    result = check(project, "--max-file-size", "10000")
    assert result.returncode == 1 and "app/routes.py:9:12: ASQ101" in result.stdout
    assert f"app/generated.py: skipped: {size} bytes, more than max-file-size (10000)" in result.stderr
    assert "generated" not in check(project).stderr  # the default is a few MiB
    (project / "pyproject.toml").write_text("[tool.flake8-async-sqla]\nmax-file-size = 1000\n")
    assert "app/generated.py: skipped" in check(project).stderr
    (project / "pyproject.toml").write_text("[tool.flake8-async-sqla]\nmax-file-size = 0\n")
    refused = check(project)
    assert refused.returncode == 2 and "max-file-size must be a positive number of bytes" in refused.stderr


def test_a_project_module_over_the_size_limit_is_not_read_by_the_index(project: Path) -> None:
    """A checked file importing a huge generated module: the index does not read it (an unreadable module, said
    with `-v`), and the file's own check goes on."""
    (project / "app" / "__init__.py").write_text("")
    (project / "app" / "table.py").write_text("import sqlalchemy\nDATA = [\n" + "    1,\n" * 800_000 + "]\n")
    (project / "app" / "use.py").write_text(
        "from fastapi import FastAPI\nfrom app.table import make_engine\n\napp = FastAPI()\n\n\n"
        "@app.get('/')\nasync def index():\n    return make_engine()\n"
    )
    result = check(project, "-v", "app/use.py", "app/routes.py")
    assert result.returncode == 1 and "app/routes.py:9:12: ASQ101" in result.stdout
    assert "table.py" in result.stderr and "max-file-size" in result.stderr


NAME = b"caf\xe9_routes.py"  # Latin-1, not UTF-8
SHOWN = "app/caf\\xe9_routes.py"


@pytest.fixture
def badly_named(project: Path) -> Path:
    try:
        (Path(os.fsdecode(bytes(project))) / "app" / os.fsdecode(NAME)).write_text(ENGINE_IN_HANDLER)
    except (OSError, UnicodeError):
        pytest.skip("this file system takes UTF-8 names only")
    return project


def strings(document: object) -> list[str]:
    if isinstance(document, dict):
        return [text for value in document.values() for text in strings(value)]
    if isinstance(document, list):
        return [text for value in document for text in strings(value)]
    return [document] if isinstance(document, str) else []


@posix_only
@pytest.mark.parametrize("output_format", ["text", "json", "sarif", "junit", "github", "gitlab"])
def test_file_names_that_are_not_utf8_in_every_output_format(badly_named: Path, output_format: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flake8_async_sqla", "check", "--output-format", output_format], cwd=badly_named,
        capture_output=True, check=False,
    )
    assert b"Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1
    document = result.stdout.decode("utf-8")  # valid UTF-8, whatever the file names
    if output_format == "json":
        assert sorted(item["path"] for item in json.loads(document)) == [SHOWN, "app/routes.py"]
    elif output_format == "sarif":
        assert "app/caf%5Cxe9_routes.py" in strings(json.loads(document))  # the shown name, as a URI
    elif output_format == "gitlab":
        assert SHOWN in strings(json.loads(document))
    elif output_format == "junit":
        names = [case.get("classname") for case in ElementTree.fromstring(document).iter("testcase")]
        assert sorted(names) == [SHOWN, "app/routes.py"]
    else:
        assert SHOWN in document
    for args in (["--write-baseline", "baseline.json"], ["--baseline", "baseline.json"], ["--show-files"]):
        again = subprocess.run(
            [sys.executable, "-m", "flake8_async_sqla", "check", *args], cwd=badly_named, capture_output=True, check=False
        )
        assert b"Traceback" not in again.stderr and again.returncode == 0, again.stderr


def test_a_folder_that_cannot_be_listed_is_reported_like_an_unreadable_file(project: Path, monkeypatch, capsys) -> None:
    """As the superuser reads any folder, the listing is refused in-process (as a mode of 0 refuses it)."""
    from flake8_async_sqla.cli import main

    (project / "app" / "private").mkdir()
    (project / "app" / "private" / "secrets.py").write_text(ENGINE_IN_HANDLER)
    refused = str(project / "app" / "private")
    real_scandir = os.scandir

    def scandir(path="."):
        if os.path.abspath(os.fspath(path)) == refused:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.chdir(project)
    for output_format in ("text", "json"):
        status = main(["check", "--no-cache", "--jobs", "1", "--output-format", output_format])
        out, err = capsys.readouterr()
        assert status == 2
        assert "app/private: error: cannot read the folder: Permission denied" in err
        if output_format == "json":
            assert any(item["path"] == "app/private" and item["name"] == "file-error" for item in json.loads(out))
        else:
            assert "app/routes.py:9:12: ASQ101" in out and "1 file could not be checked." in out


# A small tree of modules and packages (a package's `__init__.py` may be missing, a name may be a file and a folder).
TREE_ENTRIES = ["a.py", "b/__init__.py", "b/c.py", "b/d/e.py", "f/g.py", "h.py", "h/__init__.py", "b/d.py", "i/j/__init__.py"]
MODULES = ["a", "b", "b.c", "b.d", "b.d.e", "f", "f.g", "h", "i", "i.j", "x", "b.x", "a.b"]


@settings(max_examples=40, deadline=None)
@given(entries=st.sets(st.sampled_from(TREE_ENTRIES)), links=st.booleans())
def test_folder_listings_find_the_module_files_that_stat_finds(entries: set[str], links: bool) -> None:
    """The cache checks stored module resolutions from folder listings (`FolderListings`): they find what
    `module_file` finds with a `stat` per candidate, links to files and folders included."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "project"
        root.mkdir()
        for entry in sorted(entries):
            (root / entry).parent.mkdir(parents=True, exist_ok=True)
            (root / entry).write_text("")
        if links and (root / "a.py").exists():
            (root / "k.py").symlink_to(root / "a.py")
            (root / "m").symlink_to(root / "b") if (root / "b").is_dir() else None
        listings = FolderListings()
        for module in [*MODULES, "k", "m", "m.c"]:
            base = os.path.join(str(root), *module.split("."))
            assert listings.module_file(base) == module_file(base), module
