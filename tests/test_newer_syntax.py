"""Files written for a newer Python than the one running the tool are read as that Python reads them.

The differential tests run a newer interpreter when one is installed (`ASQ_NEWER_PYTHON`, else the newest
`python3.1x` on the path or under pyenv) and compare its trees with the ones the tool reads here.
"""

from __future__ import annotations

import ast
import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import hypothesmith
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from flake8_async_sqla.core.newer_syntax import downgrade, parse_newer, string_groups
from flake8_async_sqla.core.parsing import ParseFailure, parse

from ast_shapes import parts, shape
from harness import FIXTURES, run_cli

NEWER = '''\
from sqlalchemy.ext.asyncio import AsyncSession

type Pair[T] = tuple[T, T]


class Repository[ModelType: object]:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def save[T](
        self, obj: T,
    ) -> T:
        self.session.add(obj)
        await self.session.commit()
        return obj


def first[T](items: list[T]) -> T:
    try:
        return items[0]
    except IndexError, KeyError: items.clear()
    label = t"first of {items}"
    return label
'''
RUNS_NEWER_SYNTAX = sys.version_info >= (3, 12)

# PEP 701 f-strings, each with what makes it unreadable before 3.12.
FSTRINGS = {
    "quotes reused": 'value = f"{row["name"]}: {row["id"]!r:>{width}}"\n',
    "backslash": "lines = f\"{'\\n'.join(items)}\\t{len(items)}\"\n",
    "comment": 'text = f"""{\n    session.info  # what the session holds\n}"""\n',
    "multi-line field": 'query = f"SELECT {", ".join(\n    columns\n)} FROM {table}"\n',
    "nested same quotes": 'message = f"{f"{f"{user["name"]}"}"}"\n',
    "debug": 'shown = f"{row["id"] = !s:^{width}} {total=}"\n',
    "concatenated": 'url = (\n    "postgresql+asyncpg://"  # the driver\n    f"{env["USER"]}@{host}/"\n    rf"{db}\\{n}"\n)\n',
    "unicode": 'label = f"é{names["é"]}" + suffix\n',
    "tuple": 'pair = f"{a, b,}{d["k"]}"\n',
    "in a call": 'await session.execute(text(f"SELECT * FROM {tables["user"]}"), {"x": 1})\n',
    "escaped braces": 'template = f"{{literal}} {d["k"]} }}}}"\n',
    "hash in a string": 'tag = f"{"#".join(tags)} {d["k"]=}"\n',
}


def newest_python() -> str | None:
    """A Python 3.12 or newer to compare with, if one is installed (a pyenv shim may name one that is not)."""
    if os.environ.get("ASQ_NEWER_PYTHON"):
        return os.environ["ASQ_NEWER_PYTHON"]
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    installed = sorted(
        glob.glob(f"{pyenv}/versions/3.1[2-9]*/bin/python"),
        key=lambda path: [int(part) for part in Path(path).parent.parent.name.split(".") if part.isdigit()], reverse=True,
    )
    for candidate in installed + [shutil.which(f"python3.{minor}") for minor in range(20, 11, -1)]:
        if candidate and subprocess.run(
            [candidate, "-c", "import sys; sys.exit(sys.version_info < (3, 12))"], capture_output=True, check=False,
        ).returncode == 0:
            return candidate
    return None


NEWER_PYTHON = newest_python()
needs_newer_python = pytest.mark.skipif(NEWER_PYTHON is None, reason="no Python 3.12+ installed to compare with")


class NewerPython:
    """A newer interpreter serving the shapes of the trees it parses (see `ast_shapes.serve`)."""

    def __init__(self, executable: str) -> None:
        script = Path(__file__).parent / "ast_shapes.py"
        self.process = subprocess.Popen(
            [executable, "-u", str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
        )

    def read(self, source: str, statement_parts: bool = False, fstring_parts: bool = True) -> dict:
        """The shape of `source`'s tree (see `ast_shapes.shape`; `statement_parts`: `ast_shapes.parts`)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        request = {"source": source, "parts": statement_parts, "fstring_parts": fstring_parts}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def newer_python():
    if NEWER_PYTHON is None:
        pytest.skip("no Python 3.12+ installed to compare with")
    server = NewerPython(NEWER_PYTHON)
    yield server
    server.close()


def read_here(source: str) -> ast.Module:
    return parse(source.encode(), "newer.py")


# ------------------------------------------------------------------ the rewrites themselves
def test_each_construct_is_rewritten_in_place() -> None:
    rewritten = downgrade(NEWER)
    assert rewritten is not None
    before, after = NEWER.splitlines(), rewritten.text.splitlines()
    assert len(before) == len(after)
    for old, new in zip(before, after):
        if "except" in old:
            assert new == "    except(IndexError, KeyError): items.clear()"
        else:
            assert len(old) == len(new), (old, new)
    assert after[2] == "Pair         = tuple[T, T]"
    assert after[5] == "class Repository                   :"
    assert after[9] == "    async def save   ("


@pytest.mark.skipif(RUNS_NEWER_SYNTAX, reason="this Python parses PEP 695 itself")
def test_parse_reads_newer_files_with_their_positions() -> None:
    tree = read_here(NEWER)
    nodes = {(type(node).__name__, getattr(node, "attr", "")): node for node in ast.walk(tree)}
    commit = nodes["Attribute", "commit"]
    assert (commit.lineno, commit.col_offset) == (14, 14)
    clear = nodes["Attribute", "clear"]  # after the colon of `except A, B:`, where the rewrite added a character
    assert (clear.lineno, clear.col_offset, clear.end_col_offset) == (21, 33, 44)
    label = nodes["JoinedStr", ""]
    assert (label.lineno, label.col_offset, label.end_col_offset) == (22, 12, 31)


def test_a_real_syntax_error_still_fails_with_its_reason() -> None:
    with pytest.raises(ParseFailure, match="parse failed under Python"):
        parse(b"def broken(:\n    pass\n", "broken.py")
    assert downgrade("x = 1\n") is None
    assert downgrade("def f(:\n") is None
    for broken in ('x = f"{d["k"]"\n', 'x = f"{}"\n', 'x = f"{x!z}"\n', 'f"{d["k"]}" = 1\n', 'x = b"a" f"{d["k"]}"\n'):
        assert parse_newer(broken) is None, broken


def test_the_scanner_takes_time_in_proportion_to_the_text() -> None:
    # Long runs of blanks and comments between strings that are not concatenated once backtracked exponentially.
    gaps = ('x = f"{d["k"]}"' + " " * 80 + ' + "b"  # a # b # c # d # e # f # g # h # i # j # k # l\n') * 200
    assert len(string_groups(gaps)) == 200


@pytest.mark.skipif(RUNS_NEWER_SYNTAX, reason="this Python parses PEP 695 and PEP 701 itself")
def test_a_target_version_reads_only_the_syntax_it_has() -> None:
    # 3.12 has type parameters and the new f-strings, not `except A, B:` (3.14).
    assert parse_newer("def f[T](x: T) -> T:\n    return f\"{x[\"k\"]}\"\n", target=(3, 12)) is not None
    assert parse_newer("try:\n    pass\nexcept A, B:\n    pass\n", target=(3, 12)) is None
    assert parse_newer('x = t"{y}"\n', target=(3, 13)) is None
    assert parse_newer('x = t"{y}"\n', target=(3, 14)) is not None
    with pytest.raises(ParseFailure, match="syntax newer than the target Python 3.13"):
        parse(b"try:\n    pass\nexcept A, B:\n    pass\n", "newer.py", (3, 13))
    with pytest.raises(ParseFailure, match="syntax newer than the target Python 3.11"):
        parse(FSTRINGS["quotes reused"].encode(), "newer.py", (3, 11))


@pytest.mark.skipif(RUNS_NEWER_SYNTAX, reason="this Python parses PEP 695 itself")
def test_check_reports_in_newer_files(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "repository.py").write_text(NEWER)
    result = subprocess.run(
        [sys.executable, "-m", "flake8_async_sqla", "check", "--no-cache", "."],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    assert "error: parse" not in result.stderr, result.stderr
    assert "repository.py:14:15: ASQ301 " in result.stdout


@pytest.mark.parametrize("source", FSTRINGS.values(), ids=FSTRINGS.keys())
def test_pep701_fstrings_are_read_with_every_position(source: str) -> None:
    tree = read_here(source)
    names = [node for node in ast.walk(tree) if isinstance(node, ast.Name)]
    lines = source.splitlines()
    for name in names:  # each name is where the source has it
        assert lines[name.lineno - 1].encode()[name.col_offset:name.end_col_offset].decode() == name.id


# ------------------------------------------------------------------ against a newer Python
@needs_newer_python
@pytest.mark.parametrize("source", FSTRINGS.values(), ids=FSTRINGS.keys())
def test_pep701_fstrings_read_as_a_newer_python_reads_them(source: str, newer_python: NewerPython) -> None:
    assert newer_python.read(source) == {"shape": shape(read_here(source))}


@needs_newer_python
def test_pep695_parts_read_as_a_newer_python_reads_them(newer_python: NewerPython) -> None:
    without_314 = NEWER.replace("except IndexError, KeyError:", "except (IndexError, KeyError):").replace("t\"", "\"")
    assert newer_python.read(without_314, statement_parts=True) == {"shape": parts(read_here(without_314).body)}


NAMES = st.sampled_from(["x", "row", "é", "items"])
QUOTES = st.sampled_from(['"', "'", '"""', "'''"])
TEXT = st.text(alphabet="ab é{}", max_size=4).map(lambda text: text.replace("{", "{{").replace("}", "}}"))
ESCAPES = st.sampled_from(["", "\\n", "\\t", "\\\\", "\\x41", "\\N{BULLET}"])


@st.composite
def plain_strings(draw: st.DrawFn) -> str:
    # No `#`: in a field shown with `=`, Python 3.11 and 3.12 show a string holding one differently.
    quote = draw(st.sampled_from(['"', "'"]))
    return quote + draw(st.text(alphabet="k é{}", max_size=3)) + draw(ESCAPES) + quote


def expressions(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Expressions as a replacement field may hold them in 3.12: any quotes, backslashes, comments, line breaks."""
    return st.one_of(
        NAMES, plain_strings(), st.integers(0, 99).map(str),
        st.tuples(inner, plain_strings()).map(lambda pair: f"{pair[0]}[{pair[1]}]"),
        st.tuples(plain_strings(), inner).map(lambda pair: f"{pair[0]}.join({pair[1]})"),
        st.tuples(inner, inner).map(lambda pair: f"{pair[0]} + {pair[1]}"),
        st.tuples(inner, inner).map(lambda pair: f"(\n    {pair[0]},  # a comment\n    {pair[1]}\n)"),
        st.tuples(inner, inner).map(lambda pair: f"{pair[0]} if {pair[1]} else None"),
        fstrings(inner),
    )


def fstrings(expression: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    field = st.tuples(
        expression, st.sampled_from(["", "=", " = "]), st.sampled_from(["", "!r", "!s"]),
        st.sampled_from(["", ":>4", ":{x}", ":^{row['w']}"]),
    ).map(lambda parts: "{" + "".join(parts) + "}")
    return st.tuples(st.sampled_from(["f", "F", "rf", "fR"]), QUOTES, st.lists(st.one_of(TEXT, field), max_size=4)).map(
        lambda built: built[0] + built[1] + "".join(built[2]) + built[1]
    )


PEP701_PROGRAMS = st.recursive(NAMES, lambda inner: fstrings(expressions(inner)), max_leaves=6).map(
    lambda fstring: f"value = {fstring}\n"
)


@needs_newer_python
@pytest.mark.filterwarnings("ignore::SyntaxWarning", "ignore::DeprecationWarning", "ignore::hypothesis.errors.HypothesisWarning")
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(program=PEP701_PROGRAMS)
def test_generated_fstrings_read_as_a_newer_python_reads_them(program: str, newer_python: NewerPython) -> None:
    newer = newer_python.read(program, fstring_parts=False)
    assume("shape" in newer)  # a combination the newer Python refuses too
    # Strings this Python reads itself (nested ones among them) give their fields the whole string's position.
    assert newer == {"shape": shape(read_here(program), fstring_parts=False)}


# ------------------------------------------------------------------ code this Python reads is left alone
@pytest.mark.filterwarnings("ignore::SyntaxWarning", "ignore::DeprecationWarning")
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(program=hypothesmith.from_grammar())
def test_code_the_running_python_parses_is_never_changed_in_meaning(program: str) -> None:
    try:
        original = ast.dump(ast.parse(program))
    except (SyntaxError, ValueError):
        return
    rewritten = downgrade(program)
    assert rewritten is None or ast.dump(ast.parse(rewritten.text)) == original
    tree = parse_newer(program)
    assert tree is None or ast.dump(tree) == original


OLD_FSTRINGS = st.tuples(
    st.sampled_from(["f", "rf", "F"]), st.sampled_from(['"', "'", '"""']),
    st.lists(st.one_of(TEXT, ESCAPES, st.sampled_from(["{x}", "{x!r:>{w}}", "{ x = }", "{d['k']}", "{x:{{}}}"])), max_size=5),
).map(lambda built: built[0] + built[1] + "".join(built[2]) + built[1])


@pytest.mark.filterwarnings("ignore::SyntaxWarning", "ignore::DeprecationWarning")
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(strings=st.lists(st.one_of(OLD_FSTRINGS, plain_strings()), min_size=1, max_size=3))
def test_fstrings_this_python_reads_are_left_alone_and_built_alike(strings: list[str]) -> None:
    """Strings the running Python reads are never rewritten; the tree the scanner builds for them is the one
    it parses (which checks the builder without a newer Python)."""
    program = f"value = (\n    {' '.join(strings)}\n)\n"
    try:
        original = ast.parse(program)
    except SyntaxError:
        return
    groups = string_groups(program)
    assert all(group.parses_here() for group in groups)
    if groups:
        (group,) = groups
        assert shape(group.tree("program.py", None), fstring_parts=False) == shape(original.body[0].value, fstring_parts=False)


# ------------------------------------------------------------------ modules the index cannot read are said
@pytest.fixture
def bookshop(tmp_path: Path) -> Path:
    """The newer-syntax fixture package as a project of its own, its models broken for every Python."""
    shutil.copytree(FIXTURES / "newer_syntax_pkg", tmp_path / "shop")
    (tmp_path / "pyproject.toml").write_text("")
    with (tmp_path / "shop" / "models.py").open("a") as models:
        models.write('\n\nbroken = f"{\n')
    return tmp_path


def test_a_module_the_index_cannot_read_is_said(bookshop: Path) -> None:
    routes_only = run_cli("check", "--no-cache", "-v", "shop/routes.py", cwd=bookshop)
    # ASQ501 needs the relationships of the unreadable models: missing, and the run says why.
    assert "ASQ501" not in routes_only.stdout and "shop/routes.py:18:14: ASQ208" in routes_only.stdout
    assert "warning: shop/models.py: the project index could not read it (parse failed" in routes_only.stderr
    assert "findings in shop/routes.py may be missing" in routes_only.stderr
    assert "the project index could not read 1 module:\n  shop/models.py: parse failed" in routes_only.stderr
    assert "    results resting on it: shop/routes.py\n" in routes_only.stderr
    assert routes_only.returncode == 1  # only the findings fail the run: the module was not checked

    reported = json.loads(run_cli("check", "--no-cache", "--output-format", "json", "shop/routes.py", cwd=bookshop).stdout)
    (unread,) = [item for item in reported if item["code"] is None]
    assert (unread["name"], unread["severity"], unread["path"]) == ("unread-module", "warning", "shop/models.py")
    assert unread["message"].endswith("results resting on it may lack findings: shop/routes.py")


def test_a_checked_module_that_cannot_be_read_is_one_error_and_listed_with_what_rests_on_it(bookshop: Path) -> None:
    for cache in ("--no-cache", "--cache-dir=.cache", "--cache-dir=.cache"):  # the last one from the cache
        whole = run_cli("check", cache, "-v", "shop", cwd=bookshop)
        assert whole.stderr.count("shop/models.py: error: parse failed") == 1, whole.stderr
        assert "could not read it" not in whole.stderr  # no warning besides the error
        assert "    results resting on it: shop/crud.py, shop/routes.py, shop/routes_newer.py\n" in whole.stderr
        assert whole.returncode == 2


def test_an_index_that_reads_every_module_says_nothing_of_it(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "newer_syntax_pkg", tmp_path / "shop")
    (tmp_path / "pyproject.toml").write_text("")
    result = run_cli("check", "--no-cache", "-v", "shop/routes.py", cwd=tmp_path)
    assert "could not read" not in result.stderr
    assert "shop/routes.py:34:36: ASQ501" in result.stdout
