"""How long the language server takes to answer an edit, through the protocol, on the generated project.

Starts `flake8-async-sqla server`, opens a router, its service and the request dependencies of the generated
project (`generate_corpus.py`), then edits the router: each figure is the wall time from sending the change to
receiving its diagnostics. The first analysis (opening the buffers, the project index cold) is printed apart.
Then an edit that changes the service's interface: the time until the router, which rests on it, is published
again, less the pause the server waits for the edits to stop (`DEPENDENTS_DELAY`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from flake8_async_sqla.adapters.lsp import DEPENDENTS_DELAY

HERE = Path(__file__).resolve().parent
OPENED = ("shopfloor/routers/account.py", "shopfloor/services/account.py", "shopfloor/deps.py")


class Client(LanguageClient):
    def __init__(self) -> None:
        super().__init__("editor-benchmark", "1")
        self.waiting: dict[tuple[str, int | None], asyncio.Future[list[types.Diagnostic]]] = {}

        @self.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(params: types.PublishDiagnosticsParams) -> None:
            future = self.waiting.pop((params.uri, params.version), None)
            if future is not None:
                future.set_result(list(params.diagnostics))

    def expect(self, uri: str, version: int) -> asyncio.Future[list[types.Diagnostic]]:
        future = self.waiting[(uri, version)] = asyncio.get_running_loop().create_future()
        return future

    async def open(self, path: Path) -> float:
        uri, text = path.as_uri(), path.read_text(encoding="utf-8")
        answered = self.expect(uri, 1)
        start = time.perf_counter()
        self.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, text)))
        await answered
        return time.perf_counter() - start

    async def edit(self, path: Path, version: int, text: str, wait_for: tuple[str, int] | None = None) -> float:
        """Send the whole new text; the seconds until `wait_for` (uri, version; default: this buffer's) is published."""
        answered = self.expect(*(wait_for or (path.as_uri(), version)))
        start = time.perf_counter()
        self.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=path.as_uri(), version=version),
            [types.TextDocumentContentChangeWholeDocument(text=text)],
        ))
        await answered
        return time.perf_counter() - start


def milliseconds(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    return (
        f"median {statistics.median(ordered) * 1000:.0f} ms, p90 {ordered[int(len(ordered) * 0.9) - 1] * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms ({len(ordered)} edits)"
    )


async def measure(project: Path, edits: int) -> None:
    client = Client()
    await client.start_io(sys.executable, "-m", "flake8_async_sqla", "server")
    await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities(), root_uri=project.as_uri()))
    client.initialized(types.InitializedParams())
    router, service, _ = (project / name for name in OPENED)
    first = [await client.open(project / name) for name in OPENED]
    print(f"first analysis (open {', '.join(OPENED)}): " + ", ".join(f"{s * 1000:.0f} ms" for s in first))

    text = router.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    handler = next(n for n, line in enumerate(lines) if line.startswith("async def ") and line.rstrip().endswith(":"))
    answers = []
    for version in range(2, edits + 2):
        # Alternately add a line to the body of a handler and take it away again.
        edited = "".join([*lines[: handler + 1], "    marker = 1\n", *lines[handler + 1 :]]) if version % 2 else text
        answers.append(await client.edit(router, version, edited))
        await asyncio.sleep(0.05)  # a typist's pace
    print(f"an edit of {OPENED[0]}, answered: {milliseconds(answers)}")

    await asyncio.sleep(2 * DEPENDENTS_DELAY)
    service_text = service.read_text(encoding="utf-8")
    renamed = service_text.replace("def summarize_accounts(", "def summarise_accounts(")
    dependents = []
    for version in range(2, 8):
        waited = await client.edit(service, version, service_text if version % 2 else renamed, (router.as_uri(), edits + 1))
        dependents.append(waited - DEPENDENTS_DELAY)
    print(f"an interface edit of {OPENED[1]}: {OPENED[0]} published again after the pause in {milliseconds(dependents)}")
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="a project generated by generate_corpus.py (default: generate one)")
    parser.add_argument("--edits", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="asq-editor-") as scratch:
        project = args.corpus
        if project is None:
            project = Path(scratch)
            subprocess.run([sys.executable, str(HERE / "generate_corpus.py"), "--out", scratch, "--seed", "1"], check=True)
        asyncio.run(measure(project.resolve(), args.edits))


if __name__ == "__main__":
    main()
