"""The Zed extension's manifest (editors/zed/extension.toml): what Zed reads to start the server for Python."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    tomllib = pytest.importorskip("tomli")

ZED = Path(__file__).resolve().parents[1] / "editors" / "zed"


def test_the_manifest_declares_the_server_for_python() -> None:
    manifest = tomllib.loads((ZED / "extension.toml").read_text(encoding="utf-8"))
    assert manifest["id"] == "flake8-async-sqla"
    assert manifest["name"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert manifest["schema_version"] == 1
    assert manifest["language_servers"] == {"flake8-async-sqla": {"name": "flake8-async-sqla", "languages": ["Python"]}}


def test_the_extension_starts_the_command_the_package_installs() -> None:
    crate = tomllib.loads((ZED / "Cargo.toml").read_text(encoding="utf-8"))
    assert crate["lib"]["crate-type"] == ["cdylib"]  # a WebAssembly module, as Zed loads it
    assert "zed_extension_api" in crate["dependencies"]
    code = (ZED / "src" / "lib.rs").read_text(encoding="utf-8")
    command = re.search(r'const SERVER_COMMAND: &str = "([^"]+)";', code)
    scripts = tomllib.loads((ZED.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert command is not None and scripts[command.group(1)] == "flake8_async_sqla.cli:main"
    assert 'vec!["server".to_string()]' in code  # `flake8-async-sqla server`
