"""Fixes: each rule's fix on its examples and fixtures, and the guarantees every fix keeps (the fixed file
parses, fixing twice equals fixing once, a re-check reports neither what was fixed nor anything new)."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flake8_async_sqla.config import Settings
from flake8_async_sqla.core.checker import check_tree
from flake8_async_sqla.core.project import ProjectIndex
from flake8_async_sqla.core.rule import SAFE, UNSAFE, all_rules
from flake8_async_sqla.fix.passes import FileFix, applicable, fix_file, rechecker
from flake8_async_sqla.runner import read_source

from harness import FIXTURES
from test_properties import identifiers, local_names

RULES = list(all_rules().values())
FIXABLE = [rule for rule in RULES if rule.fix is not None]
# Every example of every rule, and every single-file fixture: the programs the guarantees are checked on.
PROGRAMS = {f"{rule.code}-{kind}{n}": snippet for rule in RULES for kind, snippets in (("invalid", rule.invalid), ("valid", rule.valid)) for n, snippet in enumerate(snippets)}
PROGRAMS.update({path.name: path.read_text(encoding="utf-8") for path in sorted(FIXTURES.glob("*.py"))})


def write_app(tmp_path: Path, source: str | bytes, name: str = "example.py") -> Path:
    """`source` as an application module of a project of its own."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    folder = tmp_path / "app"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(source if isinstance(source, bytes) else source.encode("utf-8"))
    return path


def fix_path(path: Path, unsafe: bool = True, settings: Settings | None = None) -> FileFix:
    settings = settings or Settings(root=path.parent.parent)
    recheck = rechecker(settings)
    return fix_file(str(path), recheck(str(path), read_source(path)[1]), recheck, applicable(unsafe))


def fix_source(tmp_path: Path, source: str, unsafe: bool = True) -> FileFix:
    return fix_path(write_app(tmp_path, source), unsafe)


def codes(tmp_path: Path, source: str) -> Counter[str]:
    path = write_app(tmp_path, source, "recheck.py")
    return Counter(f.code for f in rechecker(Settings(root=tmp_path))(str(path), source))


def test_fix_safety_is_declared_with_the_fix_and_explained() -> None:
    for rule in RULES:
        section = rule.doc_sections()["Fix safety"]
        if rule.fix is None:
            assert section.startswith("No automatic fix"), rule.code
        else:
            assert rule.fix.safety in (SAFE, UNSAFE) and rule.fix.title, rule.code
            assert section.startswith(f"The fix is {rule.fix.safety}"), rule.code


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_a_rule_has_fixes_exactly_when_it_declares_one(rule, tmp_path: Path) -> None:
    """A rule with a fix fixes at least one of its own examples; one without never offers edits."""
    fixed_some = False
    for snippet in rule.invalid:
        findings = check_tree(ast.parse(snippet), str(tmp_path / "example.py"), snippet, index=ProjectIndex(), fixes=True)
        fixed_some |= any(f.edits for f in findings if f.code == rule.code)
        assert all(not f.edits for f in findings if all_rules()[f.code].fix is None)
    assert fixed_some == (rule.fix is not None)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_every_fix_keeps_the_guarantees(name: str, tmp_path: Path) -> None:
    source = PROGRAMS[name]
    once = fix_source(tmp_path, source)
    if not once.applied:
        assert once.text == source
        return
    assert not once.rejected and not once.pending
    compile(once.text, name, "exec", dont_inherit=True)  # the fixed file is Python (`await` only in `async def`)
    assert fix_source(tmp_path / "again", once.text).text == once.text, "fixing twice equals fixing once"
    before, after = codes(tmp_path / "before", source), codes(tmp_path / "after", once.text)
    for code, count in once.applied.items():
        assert after[code] <= before[code] - count, f"{code} still reported after its fix"
    assert not after - before, f"the fixes introduced {after - before}"


def without_markers(source: str) -> str:
    return re.sub(r"  # error: ASQ\d{3}(, ASQ\d{3})*", "", source)


@pytest.mark.parametrize(
    ("code", "number"), [("ASQ205", 0), ("ASQ209", 0), ("ASQ209", 1)], ids=lambda value: str(value)
)
def test_the_fixed_example_is_the_use_instead(code: str, number: int, tmp_path: Path) -> None:
    rule = all_rules()[code]
    assert without_markers(fix_source(tmp_path, rule.invalid[number]).text) == rule.valid[number]


# Each fix on a rule's own example: what it changes (removed line -> added lines; imports added at the top).
FIXED_EXAMPLES = {
    ("ASQ303", 2): ("        await session.commit()  # error: ASQ303\n", ""),
    ("ASQ401", 0): (
        "    return session.query(User).filter_by(email=email).first()  # error: ASQ401\n",
        "    return await session.scalar(select(User).filter_by(email=email).limit(1))  # error: ASQ401\n",
    ),
    ("ASQ502", 0): (
        '    books: Mapped[list["Book"]] = relationship(back_populates="author")  # error: ASQ502\n',
        '    books: Mapped[list["Book"]] = relationship(back_populates="author", lazy="raise")  # error: ASQ502\n',
    ),
    ("ASQ502", 1): (
        '    heroes: list["Hero"] = Relationship(back_populates="team")  # error: ASQ502\n',
        '    heroes: list["Hero"] = Relationship(back_populates="team", sa_relationship_kwargs={"lazy": "raise"})  # error: ASQ502\n',
    ),
    ("ASQ601", 0): (
        'engine = create_async_engine("postgresql+asyncpg://app@db/app")  # error: ASQ601\n',
        'engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_pre_ping=True)  # error: ASQ601\n',
    ),
    ("ASQ104", 0): (
        "    yield\n    await engine.dispose()  # error: ASQ104\n",
        "    try:\n        yield\n    finally:\n        await engine.dispose()  # error: ASQ104\n",
    ),
    ("ASQ103", 0): (
        'app = FastAPI()\n',
        "\n@asynccontextmanager\nasync def lifespan(app: FastAPI):\n    async with AsyncExitStack() as stack:\n"
        "        stack.push_async_callback(dispose_engine)\n        yield\n\n\napp = FastAPI(lifespan=lifespan)\n",
    ),
}
ADDED_IMPORTS = {"ASQ401": "from sqlalchemy import select\n", "ASQ103": "from contextlib import AsyncExitStack, asynccontextmanager\n"}


@pytest.mark.parametrize(("code", "number"), sorted(FIXED_EXAMPLES), ids=lambda value: str(value))
def test_each_fix_on_its_example(code: str, number: int, tmp_path: Path) -> None:
    source = all_rules()[code].invalid[number]
    removed, added = FIXED_EXAMPLES[code, number]
    expected = ADDED_IMPORTS.get(code, "") + source.replace(removed, added)
    if code == "ASQ103":
        expected = expected.replace('@app.on_event("shutdown")  # error: ASQ103\n', "")
    assert removed in source
    assert fix_source(tmp_path, source).text == expected


# Programs with a fix to apply: the property edits them at random and fixes them again.
FIXED_PROGRAMS = sorted(
    name for name, source in PROGRAMS.items()
    if any(f.edits for f in check_tree(ast.parse(source), "/virtual/app/example.py", source, index=ProjectIndex(), fixes=True))
)


def statement_starts(source: str) -> list[int]:
    """The lines (0-based) on which a top-level statement after the `__future__` imports starts, where a line can
    be inserted."""
    body = ast.parse(source).body
    futures = [n for n, node in enumerate(body) if isinstance(node, ast.ImportFrom) and node.module == "__future__"]
    after = body[futures[-1] + 1 :] if futures else body
    return sorted({(getattr(node, "decorator_list", None) or [node])[0].lineno - 1 for node in after})


def logical_line_ends(source: str) -> list[int]:
    """The lines (0-based) that end a logical line or a line inside brackets, with no comment: a comment can follow."""
    ends = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.NEWLINE, tokenize.NL) and token.line.strip() and "#" not in token.line:
            ends.add(token.start[0] - 1)
    return sorted(ends)


def renamed(source: str, old: str, new: str) -> str:
    """`source` with every name token `old` spelled `new`, formatting and comments kept."""
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    lines = source.splitlines(keepends=True)
    for token in reversed(tokens):
        if token.type == tokenize.NAME and token.string == old:
            (row, col), (_, end) = token.start, token.end
            lines[row - 1] = lines[row - 1][:col] + new + lines[row - 1][end:]
    return "".join(lines)


@st.composite
def edited_programs(draw) -> tuple[str, str]:
    name = draw(st.sampled_from(FIXED_PROGRAMS))
    source = PROGRAMS[name]
    candidates = local_names(ast.parse(source))
    if candidates and draw(st.booleans()):
        new = draw(identifiers.filter(lambda word: word not in source))
        source = renamed(source, draw(st.sampled_from(candidates)), new)
    lines = source.splitlines(keepends=True)
    for line in draw(st.lists(st.sampled_from(logical_line_ends(source)), max_size=4, unique=True)):
        lines[line] = lines[line].rstrip("\n") + "  # a comment\n"
    extras = ["\n", "# a note\n", "   \n", "_padding = 1\n", "import os\n"]
    for line in sorted(draw(st.lists(st.sampled_from(statement_starts(source)), max_size=4)), reverse=True):
        lines.insert(line, draw(st.sampled_from(extras)))
    edited = "".join(lines)
    if draw(st.booleans()):
        edited = edited.replace("\n", "\r\n")
    return name, edited


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=edited_programs())
def test_fixes_of_edited_programs_parse_and_recheck_clean(program: tuple[str, str], tmp_path_factory) -> None:
    name, source = program
    ast.parse(source)  # the edits keep the program parseable
    folder = tmp_path_factory.mktemp("edited")
    path = write_app(folder, source)
    fixed = fix_path(path)
    assert not fixed.rejected and not fixed.pending, name
    compile(fixed.text, name, "exec", dont_inherit=True)
    before, after = codes(folder / "before", source), codes(folder / "after", fixed.text)
    for code, count in fixed.applied.items():
        assert after[code] <= before[code] - count, f"{name}: {code} still reported after its fix"
    assert not after - before, f"{name}: the fixes introduced {after - before}"


# ASQ103's fix into a lifespan the app has: (the lifespan, as the fix leaves it), or None where its shape is too odd.
LIFESPAN_HANDLERS = (
    '\n\napp = FastAPI(lifespan=lifespan)\n\n\n@app.on_event("startup")  # error: ASQ103\nasync def connect() -> None:\n'
    '    pass\n\n\n@app.on_event("shutdown")  # error: ASQ103\ndef close() -> None:\n    pass\n'
)
MERGES = {
    "exit-stack": (
        "    async with AsyncExitStack() as stack:\n        stack.push_async_callback(dispose)\n        yield\n",
        "    async with AsyncExitStack() as stack:\n        stack.push_async_callback(dispose)\n        await connect()\n"
        "        stack.callback(close)\n        yield\n",
    ),
    "finally": (
        "    try:\n        yield  # serve\n    finally:\n        await dispose()\n",
        "    try:\n        await connect()\n        yield  # serve\n    finally:\n        close()\n        await dispose()\n",
    ),
    "bare-yield": ("    app.state.ready = True\n    yield\n", "    app.state.ready = True\n    await connect()\n    try:\n        yield\n    finally:\n        close()\n"),
    "state-yield": ('    yield {"ready": True}\n', '    await connect()\n    try:\n        yield {"ready": True}\n    finally:\n        close()\n'),
    "two-yields": ("    if app.debug:\n        yield\n        return\n    yield\n", None),
    "yield-in-a-loop": ("    for _ in range(1):\n        yield\n", None),
    "yield-value-used": ("    state = yield\n", None),
    "teardown-after-the-yield": ("    yield\n    await dispose()\n", None),
    "calls-a-handler": ("    await connect()\n    yield\n", None),
}


def lifespan_module(body: str, decorator: str = "@asynccontextmanager", after: str = "") -> str:
    return (
        "from contextlib import AsyncExitStack, asynccontextmanager\n\nfrom fastapi import FastAPI\n\n\n"
        f"async def dispose() -> None:\n    pass\n\n\n{decorator}\nasync def lifespan(app: FastAPI):\n{body}{after}"
        + LIFESPAN_HANDLERS
    )


@pytest.mark.parametrize("shape", sorted(MERGES))
def test_asq103_merges_the_handlers_into_the_lifespan_the_app_has(shape: str, tmp_path: Path) -> None:
    body, merged = MERGES[shape]
    source = lifespan_module(body)
    fixed = fix_source(tmp_path, source)
    if merged is None:
        assert fixed.text == source
        return
    assert fixed.text == without_markers(lifespan_module(merged)).replace('@app.on_event("startup")\n', "").replace('@app.on_event("shutdown")\n', "")
    assert fixed.applied == Counter({"ASQ103": 2})
    assert not codes(tmp_path / "after", fixed.text)


@pytest.mark.parametrize(
    ("decorator", "after"),
    [("@asynccontextmanager\n@traced", ""), ("@traced", ""), ("@asynccontextmanager", "\n\nlifespan = traced(lifespan)\n")],
    ids=["another-decorator", "no-context-manager", "rebound"],
)
def test_asq103_leaves_a_lifespan_of_another_shape_alone(decorator: str, after: str, tmp_path: Path) -> None:
    source = "def traced(function):\n    return function\n\n\n" + lifespan_module("    yield\n", decorator, after)
    assert fix_source(tmp_path, source).text == source


def test_asq103_merges_after_asq104_moves_the_teardown_into_a_finally(tmp_path: Path) -> None:
    """Code after the `yield` outside a `finally:` waits for ASQ104's fix; the next pass merges into its `finally:`."""
    source = (
        "from contextlib import asynccontextmanager\n\nfrom fastapi import FastAPI\n"
        "from sqlalchemy.ext.asyncio import create_async_engine\n\n"
        'engine = create_async_engine("postgresql+asyncpg://app@db/app", pool_pre_ping=True)\n\n\n'
        "@asynccontextmanager\nasync def lifespan(app: FastAPI):\n    yield\n    await engine.dispose()  # error: ASQ104\n"
        + LIFESPAN_HANDLERS
    )
    fixed = fix_source(tmp_path, source)
    assert fixed.applied == Counter({"ASQ103": 2, "ASQ104": 1})
    assert (
        "async def lifespan(app: FastAPI):\n    try:\n        await connect()\n        yield\n    finally:\n        close()\n"
        "        await engine.dispose()  # error: ASQ104\n"
    ) in fixed.text
    assert fix_path(write_app(tmp_path / "only", source), settings=Settings(root=tmp_path / "only", select=["ASQ103"])).text == source


def test_asq103_does_not_edit_a_lifespan_of_another_module(tmp_path: Path) -> None:
    package = FIXTURES / "ASQ103_lifespan_pkg"
    path = write_app(tmp_path, (package / "main.py").read_text(), "main.py")
    (path.parent / "lifecycle.py").write_text((package / "lifecycle.py").read_text())
    (path.parent / "__init__.py").write_text("")
    assert not fix_path(path).applied
