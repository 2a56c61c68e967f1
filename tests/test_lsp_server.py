"""The language server, end to end through the protocol (pytest-lsp starts `flake8-async-sqla server`)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls")
pytest_lsp = pytest.importorskip("pytest_lsp")

from lsprotocol import types  # noqa: E402 - after the skips
from pytest_lsp import ClientServerConfig, LanguageClient  # noqa: E402

from flake8_async_sqla import rule_doc_url  # noqa: E402
from flake8_async_sqla.adapters.lsp import DEPENDENTS_DELAY  # noqa: E402
from flake8_async_sqla.core.rule import all_rules  # noqa: E402

SOURCE_FOLDER = str(Path(__file__).resolve().parents[1] / "src")
UNAWAITED_DELETE = all_rules()["ASQ209"].invalid[0]

pytestmark = pytest.mark.asyncio(loop_scope="function")


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=[sys.executable, "-m", "flake8_async_sqla", "server"],
        server_env={**os.environ, "PYTHONPATH": SOURCE_FOLDER},
    ),
)
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(capabilities=types.ClientCapabilities()))
    yield
    if not lsp_client.stopped:  # the shutdown test has shut it down already
        await lsp_client.shutdown_session()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "shop"\nrequires-python = ">=3.10"\n', encoding="utf-8")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("", encoding="utf-8")
    return tmp_path


async def opened(client: LanguageClient, path: Path, text: str) -> list[types.Diagnostic]:
    """Open `path` with `text` (not written to disk) and wait for its diagnostics."""
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text))
    )
    return await published(client, uri, 1)


async def published(client: LanguageClient, uri: str, version: int) -> list[types.Diagnostic]:
    """The diagnostics published next for version `version` of `uri`."""
    while True:
        params = await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        if params.uri == uri and params.version == version:
            return params.diagnostics


def line_of(text: str, marker: str) -> int:
    """The 0-based line of the first line containing `marker`."""
    return next(n for n, line in enumerate(text.splitlines()) if marker in line)


async def test_open_publishes_the_finding_of_an_unsaved_buffer(client: LanguageClient, project: Path) -> None:
    path = project / "app" / "users.py"  # never written: the buffer is checked
    [diagnostic] = await opened(client, path, UNAWAITED_DELETE)
    line = line_of(UNAWAITED_DELETE, "session.delete(user)")
    assert diagnostic.code == "ASQ209"
    assert diagnostic.source == "flake8-async-sqla"
    assert diagnostic.code_description.href == rule_doc_url("ASQ209")
    assert diagnostic.severity == types.DiagnosticSeverity.Warning
    assert diagnostic.data == {"phase": 2}
    text = UNAWAITED_DELETE.splitlines()[line]
    # The whole call, not only where it starts.
    assert diagnostic.range == types.Range(
        types.Position(line, text.index("session")), types.Position(line, text.index("(user)") + len("(user)"))
    )


async def test_change_and_save_check_again(client: LanguageClient, project: Path) -> None:
    path = project / "app" / "users.py"
    await opened(client, path, UNAWAITED_DELETE)
    line = line_of(UNAWAITED_DELETE, "session.delete(user)")
    column = UNAWAITED_DELETE.splitlines()[line].index("session")
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=path.as_uri(), version=2),
            [types.TextDocumentContentChangePartial(
                range=types.Range(types.Position(line, column), types.Position(line, column)), text="await "
            )],
        )
    )
    assert not await published(client, path.as_uri(), 2)

    path.write_text(UNAWAITED_DELETE, encoding="utf-8")  # saved as it was: the file on disk is checked again
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=path.as_uri(), version=3),
            [types.TextDocumentContentChangeWholeDocument(text=UNAWAITED_DELETE)],
        )
    )
    await published(client, path.as_uri(), 3)
    client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri=path.as_uri())))
    assert [d.code for d in await published(client, path.as_uri(), 3)] == ["ASQ209"]


DEPENDENCIES = """\
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession


async def get_session():
    ...


DbSession = Annotated[AsyncSession, Depends(get_session)]
"""
# The dependency hands out a sync Session instead: the route's call blocks rather than going unawaited.
SYNC_DEPENDENCIES = DEPENDENCIES.replace(
    "from sqlalchemy.ext.asyncio import AsyncSession", "from sqlalchemy.orm import Session"
).replace("Annotated[AsyncSession", "Annotated[Session")
ROUTES = """\
from fastapi import APIRouter
from sqlalchemy import func, select

from app.deps import DbSession

router = APIRouter()


@router.get("/count")
async def count_orders(session: DbSession):
    total = session.scalar(select(func.count()))
    return {"pages": total // 50 + 1}
"""


def edit(client: LanguageClient, path: Path, version: int, text: str) -> None:
    """Replace the whole buffer of `path` with `text` (nothing written to disk)."""
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=path.as_uri(), version=version),
            [types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def test_an_edit_checks_the_open_buffers_resting_on_it_again(client: LanguageClient, project: Path) -> None:
    deps, routes = project / "app" / "deps.py", project / "app" / "routes.py"
    deps.write_text(DEPENDENCIES, encoding="utf-8")
    routes.write_text(ROUTES, encoding="utf-8")
    assert not await opened(client, deps, DEPENDENCIES)
    assert [d.code for d in await opened(client, routes, ROUTES)] == ["ASQ209"]  # an unawaited AsyncSession call

    edit(client, deps, 2, SYNC_DEPENDENCIES)  # unsaved
    assert not await published(client, deps.as_uri(), 2)
    assert [d.code for d in await published(client, routes.as_uri(), 1)] == ["ASQ208"]

    # A change that keeps the interface (a comment) leaves the route alone; back as it was, its finding is back.
    edit(client, deps, 3, "# the session dependency\n" + SYNC_DEPENDENCIES)
    await published(client, deps.as_uri(), 3)
    unpublished: list[types.Diagnostic] = []  # replaced by whatever the server publishes for the route next
    client.diagnostics[routes.as_uri()] = unpublished
    await asyncio.sleep(3 * DEPENDENTS_DELAY)  # the edits pause
    assert client.diagnostics[routes.as_uri()] is unpublished
    edit(client, deps, 4, DEPENDENCIES)
    await published(client, deps.as_uri(), 4)
    assert [d.code for d in await published(client, routes.as_uri(), 1)] == ["ASQ209"]


async def test_closing_an_edited_buffer_reads_the_file_again(client: LanguageClient, project: Path) -> None:
    deps, routes = project / "app" / "deps.py", project / "app" / "routes.py"
    deps.write_text(DEPENDENCIES, encoding="utf-8")
    routes.write_text(ROUTES, encoding="utf-8")
    await opened(client, deps, SYNC_DEPENDENCIES)
    assert [d.code for d in await opened(client, routes, ROUTES)] == ["ASQ208"]  # the unsaved buffer, not the file
    client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=deps.as_uri())))
    assert [d.code for d in await published(client, routes.as_uri(), 1)] == ["ASQ209"]


async def test_files_the_project_leaves_out_get_no_diagnostics(client: LanguageClient, project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[project]\nname = "shop"\n\n[tool.flake8-async-sqla]\nextend-exclude = ["legacy/"]\n', encoding="utf-8"
    )
    (project / ".gitignore").write_text("generated_*.py\n", encoding="utf-8")
    for left_out in (project / "legacy" / "users.py", project / "app" / "generated_users.py", project / ".venv" / "users.py"):
        assert not await opened(client, left_out, UNAWAITED_DELETE), left_out
    # Test code is not reported by default (`report-roles`), like `check` does.
    assert not await opened(client, project / "tests" / "test_users.py", UNAWAITED_DELETE)
    assert [d.code for d in await opened(client, project / "app" / "users.py", UNAWAITED_DELETE)] == ["ASQ209"]


async def test_a_file_left_out_later_loses_its_diagnostics(client: LanguageClient, project: Path) -> None:
    path = project / "app" / "users.py"
    assert [d.code for d in await opened(client, path, UNAWAITED_DELETE)] == ["ASQ209"]
    (project / ".gitignore").write_text("app/users.py\n", encoding="utf-8")
    created = types.FileEvent(uri=(project / ".gitignore").as_uri(), type=types.FileChangeType.Created)
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams([created]))
    assert not await published(client, path.as_uri(), 1)


async def test_code_actions_fix_and_noqa(client: LanguageClient, project: Path) -> None:
    path = project / "app" / "users.py"
    [diagnostic] = await opened(client, path, UNAWAITED_DELETE)
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            types.TextDocumentIdentifier(uri=path.as_uri()), diagnostic.range, types.CodeActionContext([diagnostic])
        )
    )
    by_title = {action.title.split(":")[0]: action for action in actions}
    assert set(by_title) == {"Fix ASQ209", "Add `# noqa"}
    line = diagnostic.range.start.line
    original = UNAWAITED_DELETE.splitlines()[line]
    [fix] = by_title["Fix ASQ209"].edit.changes[path.as_uri()]
    assert fix.new_text == "await "
    assert by_title["Fix ASQ209"].is_preferred
    [noqa] = by_title["Add `# noqa"].edit.changes[path.as_uri()]
    assert noqa.range == types.Range(types.Position(line, 0), types.Position(line, len(original)))
    assert noqa.new_text.endswith("# error: ASQ209  # noqa: ASQ209")


async def test_hover_over_a_noqa_code_shows_the_rule_doc(client: LanguageClient, project: Path) -> None:
    text = "import os  # noqa: F401, ASQ209\n"
    await opened(client, project / "app" / "plain.py", text)
    hover = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(uri=(project / "app" / "plain.py").as_uri()), types.Position(0, text.index("ASQ209") + 2))
    )
    assert hover is not None and hover.contents.value.startswith("# ASQ209 async-db-call-not-awaited")
    elsewhere = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(uri=(project / "app" / "plain.py").as_uri()), types.Position(0, 2))
    )
    assert elsewhere is None


async def test_a_syntax_error_is_one_diagnostic(client: LanguageClient, project: Path) -> None:
    [diagnostic] = await opened(client, project / "app" / "broken.py", "import os\n\ndef broken(:\n    pass\n")
    assert diagnostic.severity == types.DiagnosticSeverity.Error
    assert diagnostic.range.start.line == 2
    assert diagnostic.code is None


async def test_a_file_outside_any_project(client: LanguageClient, tmp_path: Path) -> None:
    loose = tmp_path / "loose" / "script.py"  # no pyproject.toml above it, never written
    diagnostics = await opened(client, loose, UNAWAITED_DELETE)
    assert [d.code for d in diagnostics] == ["ASQ209"]


async def test_shutdown_ends_the_server(client: LanguageClient, project: Path) -> None:
    await opened(client, project / "app" / "users.py", UNAWAITED_DELETE)
    await client.shutdown_session()
    assert client._server.returncode == 0
