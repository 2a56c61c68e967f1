"""What the files of a project say by their text alone, read without parsing: the words a file mentions (and a
filter of them), the names it defines plainly, its imports of the frameworks' names and of SQLAlchemy's asyncio
extension, where it stores something; and the text itself, an editor's unsaved buffer standing in for the file."""

from __future__ import annotations

import os
import re
from collections import Counter
from typing import Iterable

from flake8_async_sqla.core.layout import MAX_FILE_SIZE, content_digest

# `from <framework module> import a, b as c, (d, e)`: the names a module may re-export (an `as` rename is not).
API_IMPORT = re.compile(
    rb"^[ \t]*from[ \t]+((?:sqlalchemy|sqlmodel|fastapi|starlette)(?:\.\w+)*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)",
    re.MULTILINE,
)
# Import lines that make a module use the asyncio extension, or a synchronous session or engine.
ASYNCIO_IMPORT = re.compile(rb"^[ \t]*(?:from|import)[ \t]+(?:sqlalchemy|sqlmodel)\.ext\.asyncio\b", re.MULTILINE)
SYNC_DATABASE_IMPORT = re.compile(
    rb"^[ \t]*from[ \t]+(?:sqlalchemy|sqlalchemy\.orm|sqlmodel)[ \t]+import[ \t]+\(?[^)\n]*"
    rb"\b(?:Session|sessionmaker|scoped_session|create_engine)\b",
    re.MULTILINE,
)
DATABASE_IMPORTS = {"asyncio": ASYNCIO_IMPORT, "sync": SYNC_DATABASE_IMPORT}
# A store into `<x>.state.<attribute>` (`request.state.db = ...`), and into `["<item>"]` (`ctx["db"] = ...`, the
# holder's name just before it): each starts with a literal, which the search skips to.
STATE_STORE = re.compile(rb"\.state\.(\w+)\s*(?::[^=\n]*)?=(?!=)")
ITEM_STORE = re.compile(rb"\[\s*['\"](\w+)['\"]\s*\]\s*(?::[^=\n]*)?=(?!=)")
HOLDER = re.compile(rb"(\w+)$")
# A word as `files_mentioning` looks for it, and the width of the filter that says which files may hold one.
WORD = re.compile(rb"\w+")
WORD_BITS = 4096
# Each byte `WORD` does not match (a bytes pattern's `\w` is [A-Za-z0-9_]) made a space: see `words_in`.
NOT_WORD_TO_SPACE = bytes(byte if bytes([byte]).isalnum() or byte == ord("_") else ord(" ") for byte in range(256))
# A top-level `class`/`def`, the first word of a line, an import line: each searched for as a newline and what
# follows it (the text given a newline in front), which the search skips to, where a multi-line `^` would be
# tried at every byte (six times slower).
TOP_LEVEL_DEFINITION = re.compile(rb"\n(?:async[ \t]+def|def|class)[ \t]+(\w+)")
TOP_LEVEL_WORD = re.compile(rb"\n(\w+)")
TOP_LEVEL_IMPORT = re.compile(rb"\n(?:from|import)[ \t].*")
# The unsaved buffers of an editor (the language server's open files): path -> content, read in place of the file.
UNSAVED_BUFFERS: dict[str, bytes] = {}


def listing_digest(files: tuple[str, ...] | None) -> str | None:
    return None if files is None else content_digest("\n".join(files).encode("utf-8", "surrogateescape"))


def words_in(text: bytes) -> set[bytes]:
    """The words `WORD` finds in `text`: split at every other byte, which costs a third less than the regex."""
    return set(text.translate(NOT_WORD_TO_SPACE).split())


def word_bits(words: Iterable[bytes]) -> int:
    """A Bloom filter of `words`, WORD_BITS wide with two bits per word: a file's filter holding a word's bits
    may mention the word (about one file in a hundred that does not), one lacking them does not."""
    bits = 0
    for word in words:
        digest = hash(word)
        bits |= 1 << (digest % WORD_BITS) | 1 << (digest // WORD_BITS % WORD_BITS)
    return bits


def plain_definitions(path: str) -> frozenset[bytes]:
    """The names that exactly one top-level `class`/`def` of the file defines and that no other top-level
    line starts with (`Name = ...`, `Name.attr = ...`) or imports: read from the text alone."""
    try:
        text = read_file(path)
    except OSError:
        return frozenset()
    text = b"\n" + text  # each line then starts after a newline, see TOP_LEVEL_DEFINITION
    defined = Counter(TOP_LEVEL_DEFINITION.findall(text))
    once = {name for name, count in defined.items() if count == 1}
    bound = set(TOP_LEVEL_WORD.findall(text))
    for line in TOP_LEVEL_IMPORT.findall(text):
        bound.update(WORD.findall(line))
    return frozenset(once - bound)


def read_file(path: str) -> bytes:
    buffer = UNSAVED_BUFFERS.get(path)
    if buffer is not None:
        return buffer
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size > MAX_FILE_SIZE:
            raise OSError(f"larger than {MAX_FILE_SIZE} bytes (max-file-size), not read")
        return handle.read()


def file_mentions(path: str, word: bytes) -> bool:
    try:
        text = read_file(path)
    except OSError:
        return False
    return text_mentions(text, word)


def store_keys_in(text: bytes) -> frozenset[str]:
    """The places a module's text stores something in, as `session_stores` keys (`state.db`, `ctx[db]`)."""
    found = {f"state.{attribute.decode()}" for attribute in STATE_STORE.findall(text)}
    for store in ITEM_STORE.finditer(text):
        holder = HOLDER.search(text, max(0, store.start() - 64), store.start())
        if holder is not None:
            found.add(f"{holder.group(1).decode()}[{store.group(1).decode()}]")
    return frozenset(found)


def names_without_holder(file: str, home: str) -> bool:
    """Whether `file` may name a function of the module file `home` without naming what holds it: `home` itself, or,
    when `home` is a package's `__init__`, a module of the package (`from . import get_db` names no package)."""
    return file == home or os.path.basename(home) == "__init__.py" and file.startswith(os.path.dirname(home) + os.sep)


def dependency_filters(qualnames: list[str]) -> list[tuple[int, int]]:
    """For each function, the `word_bits` a module naming it in `Depends(...)` has: its name and what holds it
    (`deps` of `app.deps.get_db`, which the import or the attribute chain naming it names), or in its own module
    its name alone."""
    filters = []
    for qualname in qualnames:
        name, holder = name_and_holder(qualname)
        words = [name.encode(), holder.encode()] if holder else [name.encode()]
        filters.append((word_bits(words), word_bits([name.encode()])))
    return filters


def name_and_holder(qualname: str) -> tuple[str, str]:
    """A function's name and the last part of what holds it: (`get_db`, `deps`) of `app.deps.get_db`, (`get`, `Repo`)
    of `app.repo.Repo.get`; "" for none."""
    holder, _, name = qualname.rpartition(".")
    return name, holder.rpartition(".")[2]


def names_dependencies(text: bytes) -> bool:
    """Whether a file's text mentions `Depends` or `Security` (see `_dependency_namers`)."""
    return text_mentions(text, b"Depends") or text_mentions(text, b"Security")


def text_mentions(text: bytes, word: bytes) -> bool:
    # The substring test is fast and rules out most files before the whole-word search.
    return word in text and re.search(rb"\b" + re.escape(word) + rb"\b", text) is not None
