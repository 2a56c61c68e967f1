"""The language server (`flake8-async-sqla server`): the core's findings for an editor's buffers, over pygls.

Each open buffer is checked as `check -` checks standard input (`runner.run_source`), with the configuration
found from the file, unless the project's walk would leave the file out. The process-wide project index stays
warm between edits and reads the open buffers in place of their files: an edit re-checks the edited buffer at
once, and, once the edits pause, the other open buffers whose results rest on what changed. A save (or a file
changed outside the editor) makes the index forget what it knew of the file before the open buffers are checked
again.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

from flake8_async_sqla import __version__, rule_doc_url
from flake8_async_sqla.config import ConfigError, Settings, load_settings
from flake8_async_sqla.core.edits import LINE_BREAK, Edit
from flake8_async_sqla.core.project_text import UNSAVED_BUFFERS
from flake8_async_sqla.core.rule import SAFE, all_rules
from flake8_async_sqla.discovery import Discovery
from flake8_async_sqla.docs import render_rule
from flake8_async_sqla.noqa import NOQA_INLINE, with_codes
from flake8_async_sqla.runner import FileError, FileOutcome, Result, current_index, run_source

SOURCE = "flake8-async-sqla"
RULE_CODE = re.compile(r"[A-Z]+[0-9]+")
# How long the edits pause before the buffers resting on the edited ones are checked again (seconds): while
# typing, only the edited buffer is.
DEPENDENTS_DELAY = 0.4


@dataclass(frozen=True)
class Published:
    """A finding as published, with what its code actions need: its diagnostic, and its fix in the client's units."""

    diagnostic: types.Diagnostic
    line: int  # 1-based, as the finding's
    code: str
    fix: list[types.TextEdit]
    fix_title: str
    safe: bool


class AsqLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(SOURCE, __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.published: dict[str, list[Published]] = {}  # uri -> the findings last published for it
        self.checked: dict[str, FileOutcome] = {}  # uri -> its last check, with the files and answers it rested on
        self.edited: set[str] = set()  # the files whose buffers changed since the dependents were last checked
        self.dependents_timer: asyncio.TimerHandle | None = None

    def check(self, uri: str) -> None:
        """Check the open buffer `uri` and publish its diagnostics (none for a file the project leaves out)."""
        document = self.workspace.get_text_document(uri)
        if document.path is None or not document.path.endswith((".py", ".pyi")):
            return
        settings, problem = settings_for(document.path)
        diagnostics: list[types.Diagnostic] = []
        self.published[uri] = []
        self.checked.pop(uri, None)
        # A file outside any project (or whose configuration cannot be read) is checked with the defaults.
        if settings.config_file is None or not Discovery(settings).leaves_out(document.path):
            outcome = run_source(settings, document.path, document.source.encode("utf-8"), fixes=True)
            self.published[uri] = [publishable(document, result) for result in outcome.results]
            if outcome.source_outcome is not None:
                self.checked[uri] = outcome.source_outcome
            diagnostics = [item.diagnostic for item in self.published[uri]]
            diagnostics += [error_diagnostic(document, error) for error in outcome.errors]
        if problem is not None:
            diagnostics.append(types.Diagnostic(line_range(document, 1), problem, types.DiagnosticSeverity.Error, source=SOURCE))
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=document.version)
        )

    def check_all_open(self) -> None:
        for uri in list(self.workspace.text_documents):
            self.check(uri)

    def buffer_changed(self, uri: str, text: str | None) -> None:
        """The index reads `text` in place of the file (None: the buffer closed, the file is read again) and
        forgets what it knew of it; the dependents are checked once the edits pause."""
        path = file_path(uri)
        if path is None or not path.endswith((".py", ".pyi")):
            return
        if text is None:
            UNSAVED_BUFFERS.pop(path, None)
        else:
            UNSAVED_BUFFERS[path] = text.encode("utf-8")
        forget_path(path)
        self.edited.add(path)
        if self.dependents_timer is not None:
            self.dependents_timer.cancel()
        self.dependents_timer = asyncio.get_running_loop().call_later(DEPENDENTS_DELAY, self.check_dependents)

    def check_dependents(self) -> None:
        """Check again the open buffers whose last check no longer holds after the edits since the last time."""
        self.dependents_timer = None
        edited, self.edited = self.edited, set()
        index = current_index()
        if index is not None:
            index.refresh()
        for uri, outcome in list(self.checked.items()):
            if uri in self.workspace.text_documents and not still_holds(outcome, edited):
                self.check(uri)


def still_holds(outcome: FileOutcome, edited: set[str]) -> bool:
    """Whether a buffer's check holds after edits to the `edited` files: each it resolved names through keeps the
    interface the check recorded, and the project-wide answers it rests on are the same."""
    index = current_index()
    if index is None:
        return False
    for other in outcome.rests_on:
        if other in edited and index.interface_digest(other, build=True) != outcome.interfaces.get(other):
            return False
    return all(index.answer(tuple(question)) == answer for *question, answer in outcome.answers)


def settings_for(path: str) -> tuple[Settings, str | None]:
    """The configuration `check` would read for `path`; the defaults, and what is wrong, when it cannot be read."""
    try:
        return load_settings(None, Path(path).parent), None
    except ConfigError as error:
        return Settings(root=Path(path).parent), f"configuration ignored: {error}"


def publishable(document: TextDocument, result: Result) -> Published:
    finding = result.finding
    rule = all_rules().get(finding.code)
    end_line, end_col = (finding.end_line, finding.end_col) if finding.end_line else (finding.line, finding.col)
    span = ServerTextRange(server_position(document, finding.line, finding.col), server_position(document, end_line, end_col))
    phase = rule.phase if rule is not None else None
    diagnostic = types.Diagnostic(
        range=document.range_to_client_units(span),
        message=finding.message.removeprefix(f"{finding.code} "),
        # A finding the configured phase fails on is a warning; one beyond it (or advisory) is information.
        severity=types.DiagnosticSeverity.Warning if result.fails else types.DiagnosticSeverity.Information,
        code=finding.code,
        code_description=types.CodeDescription(href=rule_doc_url(finding.code)),
        source=SOURCE,
        data={"phase": phase},
    )
    fix = rule.fix if rule is not None and finding.edits else None
    return Published(
        diagnostic, finding.line, finding.code,
        [text_edit(document, edit) for edit in finding.edits] if fix is not None else [],
        fix.title if fix is not None else "", fix is not None and fix.safety == SAFE,
    )


def error_diagnostic(document: TextDocument, error: FileError) -> types.Diagnostic:
    """A file that could not be checked (a syntax error): one diagnostic, on the line the parser names."""
    return types.Diagnostic(line_range(document, error.line or 1), error.problem, types.DiagnosticSeverity.Error, source=SOURCE)


def server_position(document: TextDocument, line: int, byte_col: int) -> ServerTextPosition:
    """A finding's position (1-based line, UTF-8 byte column, as the AST gives) in characters, 0-based."""
    lines = document.lines
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return ServerTextPosition(line - 1, len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore")))


def line_range(document: TextDocument, line: int) -> types.Range:
    """The whole of line `line` (1-based), without its line break."""
    lines = document.lines
    text = lines[line - 1].rstrip("\r\n") if 0 < line <= len(lines) else ""
    span = ServerTextRange(ServerTextPosition(line - 1, 0), ServerTextPosition(line - 1, len(text)))
    return document.range_to_client_units(span)


def text_edit(document: TextDocument, edit: Edit) -> types.TextEdit:
    """A fix's edit (characters, 1-based lines) for the client, its line breaks the document's own."""
    span = ServerTextRange(ServerTextPosition(edit.line - 1, edit.col), ServerTextPosition(edit.end_line - 1, edit.end_col))
    return types.TextEdit(document.range_to_client_units(span), LINE_BREAK.sub(newline_of(document), edit.text))


def newline_of(document: TextDocument) -> str:
    first = LINE_BREAK.search(document.source)
    return first.group() if first else "\n"


def noqa_edit(document: TextDocument, line: int, code: str) -> types.TextEdit | None:
    """The edit adding `# noqa: code` where flake8 reads it for `line` (as `check --add-noqa` does)."""
    source = document.source
    fixed, changed, _ = with_codes(source, {line: {code}})
    if not changed:
        return None
    old, new = source.splitlines(keepends=True), fixed.splitlines(keepends=True)
    number = next(n for n, (before, after) in enumerate(zip(old, new)) if before != after)
    return types.TextEdit(line_range(document, number + 1), new[number].rstrip("\r\n"))


def code_actions(server: AsqLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    uri = params.text_document.uri
    document = server.workspace.get_text_document(uri)
    wanted = params.range
    actions: list[types.CodeAction] = []
    for item in server.published.get(uri, []):
        found = item.diagnostic.range
        if (found.end.line, found.end.character) < (wanted.start.line, wanted.start.character) or (
            (wanted.end.line, wanted.end.character) < (found.start.line, found.start.character)
        ):
            continue
        if item.fix:
            actions.append(types.CodeAction(
                title=f"Fix {item.code}: {item.fix_title}" + ("" if item.safe else " (unsafe: review it)"),
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[item.diagnostic],
                edit=types.WorkspaceEdit(changes={uri: item.fix}),
                is_preferred=item.safe,
            ))
        noqa = noqa_edit(document, item.line, item.code)
        if noqa is not None:
            actions.append(types.CodeAction(
                title=f"Add `# noqa: {item.code}` to this line",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[item.diagnostic],
                edit=types.WorkspaceEdit(changes={uri: [noqa]}),
            ))
    return actions


def hover(server: AsqLanguageServer, params: types.HoverParams) -> types.Hover | None:
    """The rule's documentation, over a code in a `# noqa: ...` comment."""
    document = server.workspace.get_text_document(params.text_document.uri)
    lines = document.lines
    if params.position.line >= len(lines):
        return None
    text = lines[params.position.line]
    column = document.position_from_client_units(params.position).character
    noqa = NOQA_INLINE.search(text)
    if noqa is None or noqa.group("codes") is None:
        return None
    for code in RULE_CODE.finditer(text, noqa.start("codes"), noqa.end("codes")):
        rule = all_rules().get(code.group())
        if rule is not None and code.start() <= column <= code.end():
            span = ServerTextRange(ServerTextPosition(params.position.line, code.start()), ServerTextPosition(params.position.line, code.end()))
            return types.Hover(
                types.MarkupContent(types.MarkupKind.Markdown, render_rule(rule).split("\n", 1)[1]),
                document.range_to_client_units(span),
            )
    return None


def build_server() -> AsqLanguageServer:
    server = AsqLanguageServer()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(server: AsqLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        server.buffer_changed(params.text_document.uri, params.text_document.text)
        server.check(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(server: AsqLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        server.buffer_changed(uri, server.workspace.get_text_document(uri).source)
        server.check(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(server: AsqLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        forget(params.text_document.uri)
        server.check_all_open()  # the other buffers may rest on the saved file

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(server: AsqLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        server.buffer_changed(params.text_document.uri, None)  # the file on disk stands for it again
        server.published.pop(params.text_document.uri, None)
        server.checked.pop(params.text_document.uri, None)
        server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_files(server: AsqLanguageServer, params: types.DidChangeWatchedFilesParams) -> None:
        for change in params.changes:
            forget(change.uri)
        server.check_all_open()

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix])
    )
    def code_action(server: AsqLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        return code_actions(server, params)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def on_hover(server: AsqLanguageServer, params: types.HoverParams) -> types.Hover | None:
        return hover(server, params)

    return server


def forget(uri: str) -> None:
    """Make the project index forget a file (see `ProjectIndex.forget`)."""
    path = file_path(uri)
    if path is not None:
        forget_path(path)


def forget_path(path: str) -> None:
    """Make the project index the buffers were checked with forget a file, if there is one yet."""
    index = current_index()
    if index is not None:
        index.forget(path)


def file_path(uri: str) -> str | None:
    """The absolute path of a `file:` URI, as the project index names files."""
    path = to_fs_path(uri)
    return os.path.abspath(path) if path is not None else None


def main() -> int:
    build_server().start_io()
    return 0
