"""The "Never crash, and be fast" benchmark: the linter's cost as multiples of parsing.

    python benchmarks/run.py                       # generated 50k-line project + the stdlib
    python benchmarks/run.py --corpus DIR ...      # these folders instead
    python benchmarks/run.py --realworld           # the laid-out real apps, and a size ladder of the largest
    python benchmarks/run.py --realworld --flake8-max-lines 0   # ... without the plugin's cost inside flake8
    python benchmarks/run.py --repeat 3 --profile 25

Every figure is a ratio measured in this one run on the same files, the median of
--repeat repetitions, so it does not depend on how fast the machine is. In process the
clock is this process's CPU time; whole processes are judged on wall time, with their
CPU time (user + system) beside it. Not a test: it prints a table with each goal and
PASS/FAIL, and exits 0 either way.
"""

from __future__ import annotations

import argparse
import ast
import cProfile
import gc
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from flake8_async_sqla.config import DEFAULT_EXCLUDE, load_settings
from flake8_async_sqla.core.checker import INTERNAL_ERROR, check_tree, is_relevant
from flake8_async_sqla.core.model import SemanticModel
from flake8_async_sqla.core.project import ProjectIndex
from flake8_async_sqla.discovery import Discovery
from flake8_async_sqla.noqa import NoqaMap
from flake8_async_sqla.runner import read_source

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from generate_corpus import write_corpus  # noqa: E402 - a sibling script, not a package

sys.path.insert(0, str(HERE / "realworld"))
from layout import APPS, app_folder, load_corpus  # noqa: E402 - the real-app corpus's own script

STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()

# Goals of the issue. G1 depends on the corpus: a project where every module touches
# the database may cost 2x its parse; the stdlib, nearly all irrelevant, 0.3x.
G1_GOAL = {"project": 2.0, "stdlib": 0.3}
G2_GOAL = 2.5
JOBS_SPEEDUP_GOAL = 1.5
G3_GOAL = 0.2
G5_GOAL = 1.5
FLAKE8_GOAL = 2.5
# The plugin's cost inside flake8 is measured on the real apps (and --corpus folders) up to this many lines (four
# flake8 runs a repetition: over onyx's 728k lines, minutes each).
FLAKE8_MAX_LINES = 500_000
NONLINEAR_FLAG = 10.0
# In process, CPU time of this process: other processes on a shared machine do not count.
CLOCK = time.process_time
# Files parsed faster than this have a ratio that is mostly timer noise.
MIN_PARSE_SECONDS = 0.001


@dataclass
class Corpus:
    name: str
    path: Path
    kind: str  # "project" (G1 goal 2.0x, whole-process figures) or "stdlib"
    compare_flake8: bool = True  # G4 runs flake8 over the whole corpus: minutes on the largest real apps
    flake8_marginal: bool = False  # the plugin's cost inside flake8 (real apps and --corpus, up to --flake8-max-lines)
    cpu_seconds: tuple[float, float] = (0.0, 0.0)  # floor script and check --jobs 1, once measured


@dataclass
class SourceFile:
    path: str
    data: bytes
    text: str
    tree: ast.Module


@dataclass
class Row:
    corpus: str
    figure: str
    value: str
    goal: str
    verdict: str  # PASS, FAIL or "-" (information only)


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def add(self, corpus: str, figure: str, value: str, goal: str = "", ok: bool | None = None) -> None:
        verdict = "-" if ok is None else ("PASS" if ok else "FAIL")
        self.rows.append(Row(corpus, figure, value, goal, verdict))
        print(f"  {figure}: {value}" + (f"  (goal {goal}: {verdict})" if goal else ""), flush=True)

    def table(self) -> str:
        header = Row("corpus", "figure", "measured", "goal", "result")
        rows = [header, *self.rows]
        widths = [max(len(getattr(r, f)) for r in rows) for f in ("corpus", "figure", "value", "goal", "verdict")]

        def line(row: Row) -> str:
            cells = (row.corpus, row.figure, row.value, row.goal, row.verdict)
            return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

        rule = "| " + " | ".join("-" * w for w in widths) + " |"
        return "\n".join([line(header), rule, *(line(r) for r in self.rows)])


# ---------------------------------------------------------------- files


@contextmanager
def chdir(folder: Path) -> Iterator[None]:  # contextlib.chdir is 3.11+
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def discover(corpus: Corpus) -> list[Path]:
    """The files `check DIR` reads, found the way it finds them (run from DIR, as the subprocesses are)."""
    with chdir(corpus.path):
        settings = load_settings(None, Path("."))
        return [corpus.path / p for p in Discovery(settings).files([Path(".")])]


def load(paths: list[Path]) -> tuple[list[SourceFile], list[str]]:
    """Parsed files, and the ones that do not parse (left out of the in-process figures)."""
    loaded, failed = [], []
    for path in paths:
        data, text = read_source(path)
        try:
            tree = ast.parse(data, filename=str(path))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            failed.append(str(path))
            continue
        loaded.append(SourceFile(str(path), data, text, tree))
    return loaded, failed


def line_count(files: list[SourceFile]) -> int:
    return sum(f.text.count("\n") for f in files)


# ---------------------------------------------------------------- in process


class GcClock:
    """Seconds spent in garbage collections since it was installed."""

    def __init__(self) -> None:
        self.spent = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = CLOCK()
        else:
            self.spent += CLOCK() - self._started


@dataclass
class Pass:
    """One timed pass over the corpus: total seconds (collections included) and per-file
    seconds with the collections that happened to fall into that file taken out."""

    total: float
    gc: float
    per_file: dict[str, float]


def timed_pass(files: list[SourceFile], work: Callable[[SourceFile], object]) -> Pass:
    clock = GcClock()
    gc.collect()  # the previous pass's garbage is not this pass's cost
    gc.callbacks.append(clock)
    per_file = {}
    try:
        total = 0.0
        for f in files:
            collected = clock.spent
            start = CLOCK()
            work(f)
            spent = CLOCK() - start
            total += spent
            per_file[f.path] = spent - (clock.spent - collected)
    finally:
        gc.callbacks.remove(clock)
    return Pass(total, clock.spent, per_file)


def read_and_parse(f: SourceFile) -> None:
    with open(f.path, "rb") as handle:
        ast.parse(handle.read(), filename=f.path)


class Checker:
    """check_tree over a corpus with one ProjectIndex; remembers internal errors (ASQ000)."""

    def __init__(self) -> None:
        self.index = ProjectIndex()
        self.internal_errors: dict[str, str] = {}

    def __call__(self, f: SourceFile) -> None:
        for finding in check_tree(f.tree, f.path, f.text, index=self.index):
            if finding.code == INTERNAL_ERROR:
                self.internal_errors[f.path] = finding.message


@dataclass
class InProcess:
    floor: float
    check: float
    check_gc: float
    parse_times: dict[str, float]
    own_times: dict[str, float]
    internal_errors: dict[str, str]


def in_process(files: list[SourceFile], repeat: int) -> InProcess:
    """Per repetition: the floor (read + parse, tree dropped), check_tree with a fresh
    ProjectIndex (G1), then check_tree again over that now warm index, where a file's time
    is its own analysis, not that of the modules it is the first to import. Alternating, so
    that load from elsewhere falls on all alike; medians of `repeat` repetitions."""
    floors, checks, own = [], [], []
    internal_errors: dict[str, str] = {}
    gc.collect()
    gc.freeze()  # the benchmark's own pre-parsed trees are no one's garbage to scan
    try:
        for _ in range(repeat):
            floors.append(timed_pass(files, read_and_parse))
            checker = Checker()
            checks.append(timed_pass(files, checker))
            own.append(timed_pass(files, checker))
            internal_errors.update(checker.internal_errors)
            del checker
    finally:
        gc.unfreeze()

    def per_file_median(passes: list[Pass]) -> dict[str, float]:
        return {f.path: statistics.median(p.per_file[f.path] for p in passes) for f in files}

    return InProcess(
        statistics.median(p.total for p in floors),
        statistics.median(p.total for p in checks),
        statistics.median(p.gc for p in checks),
        per_file_median(floors),
        per_file_median(own),
        internal_errors,
    )


def walk_every_node(f: SourceFile) -> None:
    for _ in ast.walk(f.tree):
        pass


def build_model_alone(f: SourceFile) -> None:
    if is_relevant(f.text):
        SemanticModel(f.tree, f.path)


def build_noqa_map(f: SourceFile) -> None:
    NoqaMap(f.text)


# What bounds G1 and G2: the parts of the work, each as a multiple of the floor.
PARTS = (
    ("part: ast.walk of every tree (any Python pass)", walk_every_node),
    ("part: SemanticModel alone, no index", build_model_alone),
    ("part: NoqaMap of every file (check's runner)", build_noqa_map),
)


def parts(files: list[SourceFile], repeat: int) -> dict[str, float]:
    """Median CPU seconds of each part over the corpus."""
    gc.collect()
    gc.freeze()
    try:
        return {name: statistics.median(timed_pass(files, work).total for _ in range(repeat)) for name, work in PARTS}
    finally:
        gc.unfreeze()


def index_memory(files: list[SourceFile]) -> tuple[float, float]:
    """MiB the ProjectIndex retains after check_tree of every file of the corpus (the names of each
    checked module; its tree is let go), and the peak while doing so (the trees are the benchmark's)."""
    gc.collect()
    tracemalloc.start()
    index = ProjectIndex()
    for f in files:
        check_tree(f.tree, f.path, f.text, index=index)
    gc.collect()
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del index
    return retained / 2**20, peak / 2**20


def profile(files: list[SourceFile], top: int) -> str:
    """cProfile of one check_tree pass over the corpus: the functions with the most own time.
    Collections are off while it runs: a pause would be charged to whichever function allocated
    last (the "G1 share in garbage collection" row gives their cost)."""
    profiler = cProfile.Profile()
    index = ProjectIndex()
    gc.collect()
    gc.disable()
    profiler.enable()
    try:
        for f in files:
            check_tree(f.tree, f.path, f.text, index=index)
    finally:
        profiler.disable()
        gc.enable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in stats.values())
    lines = [f"cProfile of check_tree over {len(files)} files, collections off ({total:.2f} s under the profiler)"]
    lines.append(f"{'own s':>7} {'own %':>6} {'cum s':>7} {'calls':>9}  function")

    def listing(entries: list) -> None:
        for (filename, lineno, name), (_, calls, own, cumulative, _) in entries:
            where = f"{shorten(filename)}:{lineno}:{name}"
            lines.append(f"{own:7.2f} {100 * own / total:5.1f}% {cumulative:7.2f} {calls:9d}  {where}")

    listing(sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top])
    # Cumulative time names the culprits the own-time list spreads over builtins.
    lines.append("\nthe package's functions by cumulative time (checker.py, which holds all of it, left out):")
    ours = [item for item in stats.items() if "flake8_async_sqla" in item[0][0] and not item[0][0].endswith("checker.py")]
    listing(sorted(ours, key=lambda item: item[1][3], reverse=True)[:top])
    return "\n".join(lines)


def shorten(filename: str) -> str:
    marker = "flake8_async_sqla" + os.sep
    if marker in filename:
        return filename[filename.index(marker) :]
    return os.path.basename(filename) if os.sep in filename else filename


# ---------------------------------------------------------------- whole processes


@dataclass
class Command:
    name: str
    argv: list[str]
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)


# Runs the command as its only child, so RUSAGE_CHILDREN is that command's alone: wall
# seconds, CPU seconds (user + system) and peak RSS (KiB on Linux); start-up not counted.
PROBE = """
import resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, done.returncode)
sys.stderr.write(done.stderr)
"""


def child_env(pycache: Path) -> dict[str, str]:
    """Bytecode cached (outside the tree) as on a user's machine, so start-up is not compilation."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def run_once(command: Command, cwd: Path, env: dict[str, str], record: bool = True) -> None:
    """One run; a crash (a traceback, an exit status other than 0, 1, 2) ends the benchmark."""
    done = subprocess.run([sys.executable, "-c", PROBE, *command.argv], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"the probe failed: {done.stderr[-3000:]}")
    wall, cpu, rss, returncode = done.stdout.split()
    if int(returncode) not in (0, 1, 2) or "Traceback" in done.stderr:
        sys.exit(f"{command.name} failed ({returncode}): {' '.join(command.argv)}\n{done.stderr[-3000:]}")
    if record:
        command.wall.append(float(wall))
        command.cpu.append(float(cpu))
        command.rss.append(int(rss) / 1024)


def median(values: list[float]) -> float:
    return statistics.median(values)


def measure_processes(corpus: Corpus, files: list[Path], repeat: int, scratch: Path, report: Report, cold: bool = True) -> None:
    env = child_env(scratch / "pycache")
    cache = scratch / f"cache-{corpus.name}"
    tool = [sys.executable, "-m", "flake8_async_sqla", "check"]
    floor = Command("floor script", [sys.executable, str(HERE / "floor.py"), ".", "--exclude", *DEFAULT_EXCLUDE])
    jobs1 = Command("check --jobs 1", [*tool, "--no-cache", "--jobs", "1", "."])
    jobs2 = Command("check --jobs 2", [*tool, "--no-cache", "--jobs", "2", "."])
    warm = Command("check, warm cache", [*tool, "--cache-dir", str(cache), "."])
    edited = Command("check, warm cache, one file edited", [*tool, "--cache-dir", str(cache), "."])
    # The file edited: one in the middle of the corpus, in sorted order (a router in the generated project).
    edited_file = sorted(files)[len(files) // 2]
    # Most projects have a .gitignore, which makes discovery load pathspec: the warm run again, with one.
    ignoring = Command("check, warm cache, with a .gitignore", [*tool, "--cache-dir", str(cache), "."])
    gitignore = corpus.path / ".gitignore"
    temporary_files = {
        edited.name: (edited_file, edited_file.read_bytes() + b"\n# an edit the cache has not seen\n"),
        ignoring.name: (
            gitignore,
            gitignore.read_bytes() if gitignore.exists() else b"__pycache__/\n*.py[cod]\n.venv/\nbuild/\ndist/\n",
        ),
    }
    select = Command("check --select ASQ", [*tool, "--select", "ASQ", "--no-cache", "."])
    flake8 = Command("flake8 --select ASQ", [sys.executable, "-m", "flake8", "--isolated", "--select", "ASQ", "."])
    commands = [floor, *([jobs1, jobs2] if cold else []), warm, edited, ignoring, *([select, flake8] if corpus.compare_flake8 and cold else [])]

    parsed = subprocess.run(floor.argv, cwd=corpus.path, env=env, capture_output=True, text=True, check=True)
    if int(parsed.stdout) != len(files):
        print(f"  note: the floor script parses {parsed.stdout.strip()} files, check reads {len(files)}")
    # Warm-up, not recorded: bytecode of both tools, the OS file cache, and the check cache.
    for command in (warm, flake8) if corpus.compare_flake8 else (warm,):
        run_once(command, corpus.path, env, record=False)
    # Interleaved, so that a burst of load from elsewhere hits every command alike.
    for _ in range(repeat):
        for command in commands:
            if command in (warm, edited, ignoring):  # refilled first: a rule added to the tree meanwhile voids the cache
                run_once(warm, corpus.path, env, record=False)
            if command.name in temporary_files:
                with written(*temporary_files[command.name]):
                    run_once(command, corpus.path, env)
            else:
                run_once(command, corpus.path, env)
    for command in commands:
        print(f"  {command.name}: wall {fmt_s(median(command.wall))}, cpu {fmt_s(median(command.cpu))}, "
              f"peak RSS {median(command.rss):.0f} MiB")

    name = corpus.name
    if cold:
        _cold_rows(corpus, floor, jobs1, jobs2, report)
    g3 = median(warm.wall) / median(floor.wall)
    g3_cpu = median(warm.cpu) / median(floor.cpu)
    report.add(
        name, "G3 check, warm cache / floor script", f"{g3:.2f}x (cpu {g3_cpu:.2f}x; {fmt_s(median(warm.wall))})",
        f"<= {G3_GOAL}x", g3 <= G3_GOAL,
    )
    report.add(
        name, "check, warm cache, with a .gitignore / floor script",
        f"{median(ignoring.wall) / median(floor.wall):.2f}x (cpu {median(ignoring.cpu) / median(floor.cpu):.2f}x; "
        f"{fmt_s(median(ignoring.wall))})",
    )
    one_edit = median(edited.wall) / median(floor.wall)
    report.add(
        name, "check after one file edited (warm cache) / floor script",
        f"{one_edit:.2f}x ({fmt_s(median(edited.wall))}; {edited_file.relative_to(corpus.path)})",
    )
    if corpus.compare_flake8 and cold:
        g4 = median(select.wall) / median(flake8.wall)
        both = f"{fmt_s(median(select.wall))} / {fmt_s(median(flake8.wall))}"
        report.add(name, "G4 check / flake8, both --select ASQ", f"{g4:.2f}x ({both})")


def _cold_rows(corpus: Corpus, floor: Command, jobs1: Command, jobs2: Command, report: Report) -> None:
    name = corpus.name
    g2 = median(jobs1.wall) / median(floor.wall)
    g2_cpu = median(jobs1.cpu) / median(floor.cpu)
    corpus.cpu_seconds = (median(floor.cpu), median(jobs1.cpu))
    report.add(name, "G2 check --jobs 1 / floor script", f"{g2:.2f}x (cpu {g2_cpu:.2f}x)", f"<= {G2_GOAL}x", g2 <= G2_GOAL)
    speedup = median(jobs1.wall) / median(jobs2.wall)
    report.add(
        name, "G2 --jobs 2 speed-up over --jobs 1", f"{speedup:.2f}x", f">= {JOBS_SPEEDUP_GOAL}x",
        speedup >= JOBS_SPEEDUP_GOAL,
    )
    g5 = median(jobs1.rss) / median(floor.rss)
    report.add(
        name, "G5 peak RSS check --jobs 1 / floor script", f"{g5:.2f}x ({median(jobs1.rss):.0f} / {median(floor.rss):.0f} MiB)",
        f"<= {G5_GOAL}x", g5 <= G5_GOAL,
    )


def measure_flake8(corpus: Corpus, repeat: int, scratch: Path, report: Report) -> None:
    """The plugin's marginal cost inside flake8: the CPU time of `flake8 --select ASQ,E9` with the plugin loaded,
    less that of `flake8 --select E9` without it (flake8 runs every loaded plugin whatever `--select` says), over
    the floor script's; with flake8's default jobs (one worker process per core, each with its own index) and
    with `-j 1`. Both runs pay flake8's own work (finding, reading, tokenizing and parsing every file); flake8's
    other plugins (pyflakes, pycodestyle, mccabe) are left out of both: the same with and without the plugin,
    they would only add their noise to the difference."""
    env = child_env(scratch / "pycache")
    only = [sys.executable, str(HERE / "flake8_only.py")]
    floor = Command("floor script", [sys.executable, str(HERE / "floor.py"), ".", "--exclude", *DEFAULT_EXCLUDE])
    pairs = {
        label: (
            Command(f"flake8 ({label}), without the plugin", [*only, "", "--", "--isolated", *jobs, "--select", "E9", "."]),
            Command(
                f"flake8 ({label}), with the plugin",
                [*only, "flake8-async-sqla", "--", "--isolated", *jobs, "--select", "ASQ,E9", "."],
            ),
        )
        for label, jobs in (("default jobs", []), ("-j 1", ["-j", "1"]))
    }
    commands = [floor, *(command for pair in pairs.values() for command in pair)]
    for without, _ in pairs.values():  # warm-up, not recorded: flake8's bytecode and the OS file cache
        run_once(without, corpus.path, env, record=False)
    for _ in range(repeat):
        for command in commands:
            run_once(command, corpus.path, env)
    for command in commands:
        print(f"  {command.name}: wall {fmt_s(median(command.wall))}, cpu {fmt_s(median(command.cpu))}")
    for label, (without, with_plugin) in pairs.items():
        marginal = (median(with_plugin.cpu) - median(without.cpu)) / median(floor.cpu)
        report.add(
            corpus.name, f"flake8 ({label}): the plugin's marginal cpu / floor script",
            f"{marginal:.2f}x ({fmt_s(median(with_plugin.cpu))} - {fmt_s(median(without.cpu))})", f"<= {FLAKE8_GOAL}x",
            marginal <= FLAKE8_GOAL,
        )


@contextmanager
def written(path: Path, content: bytes) -> Iterator[None]:
    """`path` holds `content` for the duration; then what it held before, or nothing."""
    original = path.read_bytes() if path.exists() else None
    path.write_bytes(content)
    try:
        yield
    finally:
        if original is None:
            path.unlink()
        else:
            path.write_bytes(original)


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


# ---------------------------------------------------------------- one corpus


def measure(corpus: Corpus, args: argparse.Namespace, scratch: Path, report: Report) -> list[SourceFile]:
    paths = discover(corpus)
    files, failed = load(paths)
    print(f"\n== {corpus.name}: {corpus.path} — {len(files)} files, {line_count(files):,} lines"
          + (f", {len(failed)} that do not parse (left out in process)" if failed else ""), flush=True)

    if not files:
        print("  no Python file to measure")
        return files
    if args.processes_only:
        measure_processes(corpus, paths, args.repeat, scratch, report, cold=not args.no_cold)
        measure_flake8_if_small(corpus, files, args, scratch, report)
        return files
    timing = in_process(files, args.repeat)
    floor, checked = timing.floor, timing.check
    parse_times, check_times = timing.parse_times, timing.own_times
    report.add(corpus.name, "floor: read + ast.parse, in process", fmt_s(floor))
    goal = G1_GOAL[corpus.kind]
    g1 = checked / floor
    report.add(corpus.name, "G1 check_tree / floor", f"{g1:.2f}x ({fmt_s(checked)})", f"<= {goal}x", g1 <= goal)
    report.add(corpus.name, "G1 share of it in garbage collection", f"{100 * timing.check_gc / checked:.0f}%")
    crashed = sorted((os.path.relpath(p, corpus.path), message) for p, message in timing.internal_errors.items())
    named = ", ".join(path for path, _ in crashed[:3]) + (", ..." if len(crashed) > 3 else "")
    report.add(
        corpus.name, "files with an internal error (ASQ000)", f"{len(crashed)} ({named})" if crashed else "0",
        "0", not crashed,
    )
    for path, message in crashed[:3]:
        print(f"    {path}: {message}")

    slowest = max(check_times, key=check_times.__getitem__)
    ratio = check_times[slowest] / parse_times[slowest]
    report.add(
        corpus.name,
        "slowest file: own analysis / its parse",
        f"{ratio:.1f}x ({fmt_s(check_times[slowest])}, {os.path.relpath(slowest, corpus.path)})",
        f"<= {NONLINEAR_FLAG:.0f}x",
        ratio <= NONLINEAR_FLAG,
    )
    measurable = [p for p in check_times if parse_times[p] >= MIN_PARSE_SECONDS] or list(check_times)
    worst = max(measurable, key=lambda p: check_times[p] / parse_times[p])
    worst_ratio = check_times[worst] / parse_times[worst]
    report.add(
        corpus.name,
        f"worst ratio, files parsed in >= {MIN_PARSE_SECONDS * 1000:.0f} ms",
        f"{worst_ratio:.1f}x ({fmt_s(check_times[worst])}, {os.path.relpath(worst, corpus.path)})",
        f"<= {NONLINEAR_FLAG:.0f}x",
        worst_ratio <= NONLINEAR_FLAG,
    )

    if corpus.kind == "project" or args.process_all:
        for name, seconds in parts(files, args.repeat).items():
            report.add(corpus.name, name, f"{seconds / floor:.2f}x ({fmt_s(seconds)})")
        retained, peak = index_memory(files)
        memory = f"{retained:.1f} MiB retained, {peak:.1f} MiB peak"
        report.add(corpus.name, "project index memory, after checking every file", memory)
        measure_processes(corpus, paths, args.repeat, scratch, report)
    measure_flake8_if_small(corpus, files, args, scratch, report)
    return files


def measure_flake8_if_small(corpus: Corpus, files: list[SourceFile], args: argparse.Namespace, scratch: Path, report: Report) -> None:
    """The plugin's cost inside flake8 (`measure_flake8`), for a corpus of at most --flake8-max-lines lines."""
    if not corpus.flake8_marginal:
        return
    lines = line_count(files)
    if lines <= args.flake8_max_lines:
        measure_flake8(corpus, args.repeat, scratch, report)
    elif args.flake8_max_lines:
        print(f"  flake8 left out: {lines:,} lines, more than --flake8-max-lines {args.flake8_max_lines:,}")


LADDER_PREFIX = "ladder "
GROWTH_GOAL = 1.1


def realworld_corpora(scratch: Path) -> list[Corpus]:
    """Every laid-out app of the real-app corpus, and the largest one again as a quarter and a half of its
    files (the first ones in path order, copied with the project's configuration) and whole."""
    apps = [(app["name"], app_folder(APPS, app)) for app in load_corpus()]
    apps = [(name, folder) for name, folder in apps if folder.is_dir()]
    if not apps:
        raise SystemExit(f"no real app is laid out under {APPS}: see benchmarks/realworld/README.md")
    corpora = [Corpus(name, folder, "project", compare_flake8=False, flake8_marginal=True) for name, folder in apps]
    name, folder = max(apps, key=lambda app: sum(1 for _ in app[1].rglob("*.py")))
    files = sorted(path.relative_to(folder) for path in folder.rglob("*.py"))
    for label, share in (("quarter", 4), ("half", 2)):
        target = scratch / f"{name}-{label}"
        for relative in files[: len(files) // share]:
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / relative, target / relative)
        (target / "pyproject.toml").write_text("")
        corpora.append(Corpus(f"{LADDER_PREFIX}{name} {label}", target, "project", compare_flake8=False))
    corpora.append(Corpus(f"{LADDER_PREFIX}{name} all", folder, "project", compare_flake8=False))
    return corpora


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--corpus", type=Path, action="append", help="folder to measure (repeatable); default: generated + stdlib"
    )
    parser.add_argument(
        "--realworld", action="store_true",
        help=f"the real-app corpus laid out under {APPS} (benchmarks/realworld), and a quarter/half/all ladder of its largest app",
    )
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of each measurement; the median is reported")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated corpus")
    parser.add_argument("--lines", type=int, default=50_000, help="size of the generated corpus")
    parser.add_argument("--process-all", action="store_true", help="whole-process figures (G2-G5) on the stdlib too (slow)")
    parser.add_argument(
        "--flake8-max-lines", type=int, default=FLAKE8_MAX_LINES, metavar="N",
        help="the plugin's marginal cost inside flake8, measured on the real apps and --corpus folders of at most N "
        f"lines (default {FLAKE8_MAX_LINES:,}; 0: on none)",
    )
    parser.add_argument(
        "--processes-only", action="store_true",
        help="only the whole-process figures (the floor script, check cold, warm and after an edit, and the plugin's "
        "cost inside flake8 up to --flake8-max-lines), not the in-process ones",
    )
    parser.add_argument("--no-cold", action="store_true", help="with --processes-only: the cached runs alone, no cold check")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N",
        help="print the N functions with the most own time in a cProfile of check_tree on the first corpus",
    )
    args = parser.parse_args()

    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="asq-bench-") as temporary:
        scratch = Path(temporary)
        if args.realworld:
            corpora = realworld_corpora(scratch)
        elif args.corpus:
            corpora = [
                Corpus(p.resolve().name, p.resolve(), "stdlib" if p.resolve() == STDLIB else "project", flake8_marginal=True)
                for p in args.corpus
            ]
        else:
            generated = scratch / "generated"
            written = write_corpus(generated, args.seed, args.lines)
            print(f"generated corpus: seed {args.seed}, {written:,} lines in {generated}")
            corpora = [Corpus("generated", generated, "project"), Corpus("stdlib", STDLIB, "stdlib")]

        report = Report()
        profiled = None
        for corpus in corpora:
            files = measure(corpus, args, scratch, report)
            if args.profile and profiled is None:
                profiled = profile(files, args.profile)
            del files
            gc.collect()

        ladder = [c for c in corpora if c.name.startswith(LADDER_PREFIX)]
        if len(ladder) == 3 and all(c.cpu_seconds[0] for c in ladder):
            (floor_half, check_half), (floor_all, check_all) = ladder[1].cpu_seconds, ladder[2].cpu_seconds
            growth = (check_all / check_half) / (floor_all / floor_half)
            report.add(
                ladder[2].name, "growth: check all/half over floor all/half (cpu)", f"{growth:.2f}x",
                f"<= {GROWTH_GOAL}x", growth <= GROWTH_GOAL,
            )
        cores = os.cpu_count() or 1
        load = os.getloadavg()[0]
        print(f"\n{cores} cores, Python {platform.python_version()} ({platform.python_implementation()}), "
              f"{platform.machine()}, median of {args.repeat}; load average {load_at_start:.1f} at the start, "
              f"{load:.1f} at the end")
        if max(load, load_at_start) > cores:
            print("the machine was busy with other work: wall-time figures (G2-G4) are unreliable, CPU figures hold")
        print()
        print(report.table())
        if profiled:
            print("\n" + profiled)
        shutil.rmtree(scratch / "pycache", ignore_errors=True)


if __name__ == "__main__":
    main()
