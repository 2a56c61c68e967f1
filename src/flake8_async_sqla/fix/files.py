"""Reading a file to fix and writing it back the way it was: encoding, BOM, line breaks and mode kept, the new
content put in place by a rename, so a reader never sees half a file."""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path

from flake8_async_sqla.core.edits import LINE_BREAK


class UnfixableFile(Exception):
    """A file that cannot be rewritten faithfully (its bytes do not decode, or would not come back the same)."""


@dataclass(frozen=True)
class SourceFile:
    path: Path
    encoding: str  # as its coding cookie or BOM says ("utf-8-sig" for a BOM)
    text: str  # decoded, without the BOM: the text the rules analysed
    newline: str  # the file's first line break, for the lines a fix inserts

    @classmethod
    def read(cls, path: Path) -> SourceFile:
        data = path.read_bytes()
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
            text = data.decode(encoding)
        except (SyntaxError, LookupError, UnicodeDecodeError) as error:
            raise UnfixableFile(f"cannot decode: {error}") from error
        source = cls(path, encoding, text, _newline(text))
        if source.encode(text) != data:
            raise UnfixableFile(f"its {encoding} text would not be written back unchanged")
        return source

    def encode(self, text: str) -> bytes:
        try:
            return text.encode(self.encoding)
        except UnicodeEncodeError as error:
            raise UnfixableFile(f"the fixed text cannot be encoded as {self.encoding}: {error}") from error

    def write(self, text: str) -> None:
        write_atomically(self.path, self.encode(text))


def _newline(text: str) -> str:
    found = LINE_BREAK.search(text)
    return found.group() if found else "\n"


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside the target and rename it over the target (through a symlink
    to the file it names), keeping the target's permission bits."""
    target = Path(os.path.realpath(path))
    mode = stat.S_IMODE(target.stat().st_mode)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".asq-fix")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
