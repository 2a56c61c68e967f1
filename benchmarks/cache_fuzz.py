#!/usr/bin/env python3
"""The cache's truth, fuzzed: a cached run must report what a clean one does, after any edits.

    python benchmarks/cache_fuzz.py --sequences 200 --seed 100 --oracle      # from the repository's root
    python benchmarks/cache_fuzz.py --replay cache-fuzz-cases/case-100-00004.json [--hashseed N]

Generates small multi-module projects (a session factory, sync or async, re-exported through modules and package
`__init__`s, base repositories keeping a session on `self`, routes with `Depends`, a middleware keeping one on
`request.state`, module-level repository objects whose method a job hands its session to), applies random edit
sequences (toggles, renames, syntax errors, rewired imports, comments, a method made to close the session), and
after each edit compares a cached run with a `--no-cache` run (findings as path:line:code, and the "could not read"
notes), sometimes over a few files only (as pre-commit passes them). Clean runs are also compared across
PYTHONHASHSEED values; `--oracle` also checks that the stored record of each module keeping a session on `self`
lists every module of its factory's re-export chain as read. A divergent sequence is written to `--out` with the
project at every step, for `--replay`. Not run by CI: hundreds of sequences take minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flake8_async_sqla.core.layout import content_digest


# ----------------------------------------------------------------------------------------------- templates
DB_SYNC = '''from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

engine = create_engine("postgresql://u@h/db")
SessionLocal = sessionmaker(create_engine("postgresql://u@h/db"))


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()
'''
DB_ASYNC = '''from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine("postgresql+asyncpg://u@h/db")
SessionLocal = async_sessionmaker(create_async_engine("postgresql+asyncpg://u@h/db"))


async def get_db():
    async with SessionLocal() as db:
        yield db
'''
REEXPORT = "from {source} import SessionLocal\n"
REEXPORT_ALL = "from {source} import SessionLocal, engine\n"
BASE = '''from {source} import SessionLocal


class BaseRepo:
    def __init__(self):
        self.session = SessionLocal()
'''
REPO = '''from sqlalchemy import select

from {base} import BaseRepo


class {cls}(BaseRepo):
    async def list_items(self):
        return self.session.execute(select(1)).all()

    def sync_items(self):
        return self.session.query(int).all()

    async def save(self):
        self.session.commit()
'''
REPO_AWAITED = '''from sqlalchemy import select

from {base} import BaseRepo


class {cls}(BaseRepo):
    async def list_items(self):
        return (await self.session.execute(select(1))).all()

    def sync_items(self):
        return self.session.query(int).all()

    async def save(self):
        await self.session.commit()
'''
ROUTES_DEPENDS = '''from fastapi import APIRouter, Depends
from sqlalchemy import select

from {source} import get_db

router = APIRouter()


@router.get("/{name}")
async def {name}(db=Depends(get_db)):
    return db.execute(select(1)).all()
'''
MIDDLEWARE = '''from {source} import SessionLocal


async def db_session_middleware(request, call_next):
    request.state.db = SessionLocal()
    try:
        return await call_next(request)
    finally:
        request.state.db.close()
'''
ROUTES_STATE = '''from fastapi import APIRouter, Request
from sqlalchemy import text

router = APIRouter()


@router.get("/{name}")
async def {name}(request: Request):
    return request.state.db.execute(text("select 1")).all()
'''
HELPERS = '''from sqlalchemy import text


async def {name}(session):
    session.execute(text("select 1"))
    session.commit()


def plain_{name}(x):
    return x
'''
ROUTES_HELPER = '''from fastapi import APIRouter, Depends

from {source} import get_db
from {helpers} import {fn}

router = APIRouter()


@router.post("/{name}")
async def {name}(db=Depends(get_db)):
    await {fn}(db)
'''
SERVICE_USING_REPO = '''from {repo} import {cls}


async def {name}():
    repo = {cls}()
    return await repo.list_items()
'''
# A module-level object of a project class (`crud.user`), whose method a job hands a session to: whether the method
# closes it decides ASQ203 in the job's module.
CRUD = '''from sqlalchemy import text


class {cls}:
    def count(self, session):
        return session.execute(text("select 1")).all()


{obj} = {cls}()
'''
CRUD_COUNT_CLOSES = '''    def count(self, session):
        try:
            return session.execute(text("select 1")).all()
        finally:
            session.close()
'''
CRUD_COUNT = '''    def count(self, session):
        return session.execute(text("select 1")).all()
'''
JOB_CRUD = '''from {source} import SessionLocal
from {crud} import {obj}


def {name}():
    session = SessionLocal()
    return {obj}.count(session)
'''
FILLER = "X_{n} = {n}\n\n\ndef f_{n}(a):\n    return a + 1\n"
PKG_INIT = "from {source} import SessionLocal\n"


class Project:
    """Files as a dict path -> text; plus bookkeeping of roles for edits."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.files: dict[str, str] = {}
        self.roles: dict[str, str] = {}  # path -> role
        self.db_async = rng.random() < 0.3
        self.counter = 0
        self.removed: list[tuple[str, str, str]] = []  # (path, text, role) of the files removed, for re-adding
        self.renamed: list[tuple[str, str]] = []  # (old, new) paths of the files renamed, for restoring

    def add(self, path: str, text: str, role: str) -> None:
        self.files[path] = text
        self.roles[path] = role

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"

    def session_sources(self) -> list[str]:
        """Modules (dotted) that provide SessionLocal."""
        return [mod(p) for p, r in self.roles.items() if r in ("db", "reexport", "pkginit")]

    def modules_of(self, *roles: str) -> list[str]:
        return [p for p, r in self.roles.items() if r in roles]


def mod(path: str) -> str:
    p = path[:-3]
    if p.endswith("/__init__"):
        p = p[: -len("/__init__")]
    return p.replace("/", ".")


def generate(rng: random.Random, size: int) -> Project:
    project = Project(rng)
    project.add("db.py", DB_ASYNC if project.db_async else DB_SYNC, "db")
    # re-export chain
    sources = ["db"]
    for _ in range(rng.randint(1, 3)):
        name = project.fresh("reexport")
        src = rng.choice(sources)
        project.add(f"{name}.py", rng.choice([REEXPORT, REEXPORT_ALL]).format(source=src), "reexport")
        sources.append(name)
    if rng.random() < 0.4:
        project.add("pkg/__init__.py", PKG_INIT.format(source=rng.choice(sources)), "pkginit")
        sources.append("pkg")
    # base repos
    bases = []
    for _ in range(rng.randint(1, 2)):
        name = "base" if not bases else project.fresh("base")
        project.add(f"{name}.py", BASE.format(source=rng.choice(sources)), "base")
        bases.append(name)
    repos = []
    for _ in range(rng.randint(1, 3)):
        name = project.fresh("repo")
        cls = f"Repo{project.counter}"
        tmpl = REPO if rng.random() < 0.7 else REPO_AWAITED
        where = name if rng.random() < 0.8 else f"pkg/{name}"
        if where.startswith("pkg/") and "pkg/__init__.py" not in project.files:
            project.add("pkg/__init__.py", "", "pkginit_empty")
        project.add(f"{where}.py", tmpl.format(base=rng.choice(bases), cls=cls), "repo")
        repos.append((mod(f"{where}.py"), cls))
    # everything else, until size
    while len(project.files) < size:
        kind = rng.choice(["routes_depends", "middleware", "routes_state", "helpers", "service", "crud", "filler", "filler"])
        name = project.fresh(kind.split("_")[0])
        if kind == "routes_depends":
            src = rng.choice(["db"] + [s for s in sources if s != "db" and rng.random() < 0.2])
            project.add(f"{name}.py", ROUTES_DEPENDS.format(source=src, name=name), kind)
        elif kind == "middleware":
            project.add(f"{name}.py", MIDDLEWARE.format(source=rng.choice(sources)), kind)
        elif kind == "routes_state":
            project.add(f"{name}.py", ROUTES_STATE.format(name=name), kind)
        elif kind == "helpers":
            helpers = name
            project.add(f"{helpers}.py", HELPERS.format(name=f"h_{helpers}"), kind)
            if rng.random() < 0.7:
                r = project.fresh("routes")
                project.add(f"{r}.py", ROUTES_HELPER.format(source="db", helpers=helpers, fn=f"h_{helpers}", name=r), "routes_helper")
        elif kind == "service":
            repo, cls = rng.choice(repos)
            project.add(f"{name}.py", SERVICE_USING_REPO.format(repo=repo, cls=cls, name=name), kind)
        elif kind == "crud":
            project.add(f"{name}.py", CRUD.format(cls=f"CRUD{project.counter}", obj=f"{name}_items"), kind)
            for _ in range(rng.randint(1, 2)):
                job = project.fresh("job")
                source = rng.choice(project.session_sources() or ["db"])
                project.add(f"{job}.py", JOB_CRUD.format(source=source, crud=name, obj=f"{name}_items", name=job), "job_crud")
        else:
            project.add(f"{name}.py", FILLER.format(n=project.counter), kind)
    return project


# ----------------------------------------------------------------------------------------------- edits
def edit(project: Project) -> str:
    """Apply one random edit to the project; return its description."""
    rng = project.rng
    choices = ["toggle_db"] * 4 + ["comment"] * 2 + ["syntax_error", "fix_syntax", "rename", "remove", "add",
               "rewire_base", "rewire_reexport", "toggle_await", "toggle_crud_close", "restore"]
    for _ in range(50):
        what = rng.choice(choices)
        paths = sorted(project.files)
        if what == "toggle_db":
            if "db.py" not in project.files:
                continue
            project.db_async = not project.db_async
            project.files["db.py"] = DB_ASYNC if project.db_async else DB_SYNC
            return f"toggle db.py to {'async' if project.db_async else 'sync'}"
        if what == "comment":
            p = rng.choice(paths)
            project.files[p] = project.files[p] + f"# comment {rng.randint(0, 999)}\n"
            return f"comment appended to {p}"
        if what == "syntax_error":
            p = rng.choice(paths)
            if "def (:" in project.files[p]:
                continue
            project.files[p] = project.files[p] + "\ndef (:\n"
            return f"syntax error in {p}"
        if what == "fix_syntax":
            broken = [p for p in paths if "def (:" in project.files[p]]
            if not broken:
                continue
            p = rng.choice(broken)
            project.files[p] = project.files[p].replace("\ndef (:\n", "")
            return f"syntax fixed in {p}"
        if what == "rename":
            p = rng.choice([p for p in paths if not p.endswith("__init__.py")])
            new = p[:-3] + "_r.py" if not p.endswith("_r.py") else p[:-5] + ".py"
            if new in project.files:
                continue
            project.files[new] = project.files.pop(p)
            project.roles[new] = project.roles.pop(p)
            project.renamed.append((p, new))
            return f"rename {p} -> {new}"
        if what == "restore":
            if not project.renamed:
                continue
            old, new = project.renamed.pop()
            if new not in project.files or old in project.files:
                continue
            project.files[old] = project.files.pop(new)
            project.roles[old] = project.roles.pop(new)
            return f"rename back {new} -> {old}"
        if what == "remove":
            p = rng.choice(paths)
            project.removed.append((p, project.files.pop(p), project.roles.pop(p)))
            return f"remove {p}"
        if what == "add":
            if project.removed and rng.random() < 0.6:
                p, text, role = project.removed.pop()
                if p in project.files:
                    continue
                project.add(p, text, role)
                return f"re-add {p}"
            name = project.fresh(rng.choice(["reexport", "middleware", "filler"]))
            sources = project.session_sources() or ["db"]
            if name.startswith("reexport"):
                project.add(f"{name}.py", REEXPORT.format(source=rng.choice(sources)), "reexport")
            elif name.startswith("middleware"):
                project.add(f"{name}.py", MIDDLEWARE.format(source=rng.choice(sources)), "middleware")
            else:
                project.add(f"{name}.py", FILLER.format(n=project.counter), "filler")
            return f"add {name}.py"
        if what == "rewire_base":
            bases = project.modules_of("base")
            if not bases:
                continue
            p = rng.choice(bases)
            src = rng.choice(project.session_sources() or ["db"])
            first = project.files[p].splitlines(True)
            first[0] = f"from {src} import SessionLocal\n"
            project.files[p] = "".join(first)
            return f"rewire {p} to import from {src}"
        if what == "rewire_reexport":
            rex = project.modules_of("reexport", "pkginit")
            if not rex:
                continue
            p = rng.choice(rex)
            src = rng.choice([s for s in (project.session_sources() or ["db"]) if s != mod(p)] or ["db"])
            project.files[p] = REEXPORT.format(source=src)
            return f"rewire {p} to re-export from {src}"
        if what == "toggle_await":
            toggled = toggle(project, "repo", "self.session.commit()", "await self.session.commit()")
            if toggled is None:
                continue
            return f"toggle await of commit in {toggled[0]}"
        if what == "toggle_crud_close":
            toggled = toggle(project, "crud", CRUD_COUNT, CRUD_COUNT_CLOSES)
            if toggled is None:
                continue
            return f"{toggled[0]}: count {'no longer closes' if toggled[1] else 'closes'} the session"
    return "noop"


def toggle(project: Project, role: str, plain: str, changed: str) -> tuple[str, bool] | None:
    """In a random module of `role`, `plain` made `changed`, or `changed` back into `plain`: the module, and whether
    it went back; None when no module has that role."""
    paths = project.modules_of(role)
    if not paths:
        return None
    path = project.rng.choice(paths)
    text = project.files[path]
    back = changed in text
    project.files[path] = text.replace(changed, plain) if back else text.replace(plain, changed)
    return path, back


# ----------------------------------------------------------------------------------------------- running
def write_project(folder: Path, files: dict[str, str]) -> None:
    """Make `folder` hold exactly `files` (plus pyproject.toml and the cache folder)."""
    want = {folder / p for p in files}
    for existing in list(folder.rglob("*.py")):
        if ".asq_cache" in existing.parts:
            continue
        if existing not in want:
            existing.unlink()
    for p, text in files.items():
        target = folder / p
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
    (folder / "pyproject.toml").write_text("") if not (folder / "pyproject.toml").exists() else None


def run(folder: Path, src: str | None, seed: int, *args: str) -> tuple[list[str], list[str], str]:
    """`check` over `folder` (the tool's source from `src` when given, else the installed one)."""
    env = {**os.environ, "PYTHONHASHSEED": str(seed), **({"PYTHONPATH": src} if src else {})}
    result = subprocess.run(
        [sys.executable, "-m", "flake8_async_sqla", "check", "--output-format", "json", *args],
        cwd=folder, env=env, capture_output=True, text=True, check=False,
    )
    if "Traceback" in result.stderr:
        return ["TRACEBACK"], [], result.stderr
    try:
        items = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        return ["BADJSON"], [], result.stdout + result.stderr
    found = sorted(f"{item['path']}:{item['line']}:{item['code'] or item['name']}" for item in items)
    notes = sorted(line for line in result.stderr.splitlines() if "could not read" in line)
    return found, notes, result.stderr


def chain(files: dict[str, str], path: str) -> list[str] | None:
    """The files `from X import SessionLocal` passes through from `path` to the module defining SessionLocal."""
    import re
    seen = []
    while True:
        text = files.get(path)
        if text is None or "def (:" in text:
            return None
        if re.search(r"^SessionLocal = ", text, re.M):
            return seen
        m = re.search(r"^from ([\w.]+) import .*SessionLocal", text, re.M)
        if m is None:
            return None
        target = m.group(1).replace(".", "/")
        path = f"{target}.py" if f"{target}.py" in files else f"{target}/__init__.py"
        if path in seen:
            return None
        seen.append(path)


def resolutions_hold(resolved: list[list], root: Path) -> bool:
    """Whether each module name a record looked up still finds the file it found then (None: none), searched as the
    index searches: from the importing folder up to the project's root."""
    for module, folder, found in resolved:
        now = None
        while now is None:
            base = os.path.join(folder, *module.split("."))
            now = next((p for p in (base + ".py", os.path.join(base, "__init__.py")) if os.path.isfile(p)), None)
            if os.path.samefile(folder, root) or os.path.dirname(folder) == folder:
                break
            folder = os.path.dirname(folder)
        if now != found:
            return False
    return True


def record_oracle(folder: Path, files: dict[str, str]) -> list[str]:
    """Records of modules storing SessionLocal() on self must list every module of the re-export chain."""
    try:
        rec = next((folder / ".asq_cache").glob("check-modules-*.json"))
    except StopIteration:
        return []
    body = rec.read_bytes().partition(b"\n")[2].decode()
    head, *lines = body.split("\n")
    missing = []
    for line in lines:
        p, _, record = line.partition("\t")
        p = os.path.relpath(json.loads(p), folder)
        text = files.get(p, "")
        if "self.session = SessionLocal()" not in text:
            continue
        c = chain(files, p)
        if not c:
            continue
        deps = json.loads(record.partition("\t")[0])
        if deps["digest"] != content_digest(text.encode()) or not resolutions_hold(deps["resolved"], folder):
            continue  # its file changed, or a module was created or removed since: made again before it is used
        read = {os.path.relpath(x, folder) for x in [*deps["interfaces"], *deps["texts"]]}
        lacking = [x for x in c if x not in read]
        if lacking:
            missing.append(f"{p} lacks {lacking}")
    return missing


def sequence(index: int, rng: random.Random, src: str | None, out: Path, seeds: list[int], args) -> dict:
    size = rng.randint(args.min_size, args.max_size)
    project = generate(rng, size)
    fixed_seed = rng.random() < 0.5
    seed0 = rng.choice(seeds)
    work = Path(tempfile.mkdtemp(prefix="fz", dir=args.tmp))
    steps = []
    divergences = []
    stats = {"runs": 0}
    try:
        write_project(work, project.files)
        first_seed = seed0
        steps.append({"edit": "initial", "files": dict(project.files), "seed": first_seed})
        run(work, src, first_seed)  # warm the cache with a full run
        stats["runs"] += 1
        for step in range(rng.randint(args.min_edits, args.max_edits)):
            desc = edit(project)
            time.sleep(0.03)
            write_project(work, project.files)
            cseed = seed0 if fixed_seed else rng.choice(seeds)
            partial = []
            if rng.random() < args.partial and project.files:
                partial = sorted(rng.sample(sorted(project.files), k=min(len(project.files), rng.randint(1, 3))))
            cached = run(work, src, cseed, *partial)
            missing = record_oracle(work, project.files) if args.oracle else []
            clean = run(work, src, cseed, "--no-cache", *partial)
            stats["runs"] += 2
            record = {"edit": desc, "files": dict(project.files), "seed": cseed, "partial": partial,
                      "cached": cached[:2], "clean": clean[:2]}
            if missing:
                record["record_missing"] = missing
                divergences.append({"kind": "record", "step": step, "missing": missing})
            if cached[:2] != clean[:2]:
                record["cached_stderr"] = cached[2]
                record["clean_stderr"] = clean[2]
                divergences.append({"kind": "cache", "step": step})
            # clean runs across seeds
            if rng.random() < args.seed_check:
                other = rng.choice([s for s in seeds if s != cseed])
                alt = run(work, src, other, "--no-cache", *partial)
                stats["runs"] += 1
                record["alt_seed"] = other
                record["alt"] = alt[:2]
                if alt[:2] != clean[:2]:
                    divergences.append({"kind": "seed", "step": step, "seeds": [cseed, other]})
            steps.append(record)
            if divergences and args.stop_at_first:
                break
        if divergences:
            case = out / f"case-{args.seed}-{index:05d}.json"
            case.write_text(json.dumps({"sequence": index, "fuzz_seed": args.seed, "src": src, "seed0": seed0,
                                        "divergences": divergences, "steps": steps}, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"divergences": divergences, **stats}


def replay(case_file: Path, src: str | None, seed: int | None, keep: Path | None) -> None:
    """Replay a logged case: write each step's files, run cached then clean, print the comparison."""
    case = json.loads(case_file.read_text())
    work = keep or Path(tempfile.mkdtemp(prefix="rp"))
    work.mkdir(parents=True, exist_ok=True)
    for i, step in enumerate(case["steps"]):
        time.sleep(0.03)
        write_project(work, step["files"])
        s = seed if seed is not None else step["seed"]
        partial = step.get("partial", [])
        if i == 0:
            run(work, src, s)
            print("initial full run")
            continue
        cached = run(work, src, s, *partial)
        clean = run(work, src, s, "--no-cache", *partial)
        same = cached[:2] == clean[:2]
        print(f"step {i}: {step['edit']} partial={partial} {'OK' if same else 'DIVERGES'}")
        if not same:
            print("  cached-only:", sorted(set(cached[0]) - set(clean[0])), [n for n in cached[1] if n not in clean[1]])
            print("  clean-only: ", sorted(set(clean[0]) - set(cached[0])), [n for n in clean[1] if n not in cached[1]])
    print("project at", work)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", help="a copy of the tool's src/ folder to run (default: the installed tool)")
    parser.add_argument("--sequences", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="cache-fuzz-cases")
    parser.add_argument("--tmp", default=tempfile.gettempdir())
    parser.add_argument("--min-size", type=int, default=5)
    parser.add_argument("--max-size", type=int, default=20)
    parser.add_argument("--min-edits", type=int, default=3)
    parser.add_argument("--max-edits", type=int, default=6)
    parser.add_argument("--seed-check", type=float, default=0.3)
    parser.add_argument("--partial", type=float, default=0.2)
    parser.add_argument("--oracle", action="store_true", help="check the module records of session holders")
    parser.add_argument("--stop-at-first", action="store_true")
    parser.add_argument("--replay")
    parser.add_argument("--hashseed", type=int)
    parser.add_argument("--keep")
    args = parser.parse_args()
    if args.replay:
        replay(Path(args.replay), args.src, args.hashseed, Path(args.keep) if args.keep else None)
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    seeds = [0, 1, 2, 3, 42, 1234]
    totals = {"sequences": 0, "runs": 0, "divergent_sequences": 0, "cache": 0, "seed": 0, "record": 0}
    start = time.time()
    for i in range(args.sequences):
        result = sequence(i, random.Random(rng.random()), args.src, out, seeds, args)
        totals["sequences"] += 1
        totals["runs"] += result["runs"]
        if result["divergences"]:
            totals["divergent_sequences"] += 1
            for d in result["divergences"]:
                totals[d["kind"]] += 1
            print(f"sequence {i}: {result['divergences']}", flush=True)
    totals["seconds"] = round(time.time() - start)
    print(json.dumps(totals), flush=True)


if __name__ == "__main__":
    main()
