"""Whole-application runs over the corpus: `check` on each laid-out app, findings saved per app.

Usage: python benchmarks/realworld/run.py [--apps DIR] [--results DIR] [--jobs N] [NAME ...] [-- CHECK-ARGS]

Runs `flake8-async-sqla check --output-format json --no-cache` in each app's folder with the
default configuration (plus any CHECK-ARGS), writes `<results>/<name>.json`, and prints the
number of findings per rule and per code role. Apps not laid out are skipped with a note.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from layout import APPS, HERE, app_folder, load_corpus  # noqa: E402


def run_app(app_dir: Path, jobs: int, extra: list[str]) -> tuple[list[dict], float]:
    command = [
        sys.executable, "-m", "flake8_async_sqla", "check", "--output-format", "json", "--no-cache",
        "--jobs", str(jobs), *extra, ".",
    ]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=app_dir, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1, 2) or not done.stdout.strip():
        raise RuntimeError(f"{app_dir.name}: check exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout or "[]"), elapsed


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=Path, default=APPS)
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    args.results.mkdir(parents=True, exist_ok=True)
    per_rule: collections.Counter[str] = collections.Counter()
    per_role: collections.Counter[str] = collections.Counter()
    for app in load_corpus():
        if args.names and app["name"] not in args.names:
            continue
        app_dir = app_folder(args.apps, app)
        if not app_dir.is_dir():
            print(f"{app['name']}: not laid out (run layout.py)")
            continue
        reported, elapsed = run_app(app_dir, args.jobs, extra)
        findings = [item for item in reported if item["code"] is not None]  # the others: files not checked
        unchecked = len(reported) - len(findings)
        (args.results / f"{app['name']}.json").write_text(json.dumps(findings, indent=1) + "\n")
        codes = collections.Counter(finding["code"] for finding in findings)
        roles = collections.Counter(finding.get("role", "?") for finding in findings)
        per_rule.update(codes)
        per_role.update(roles)
        summary = " ".join(f"{code}:{count}" for code, count in sorted(codes.items()))
        note = f"  ({unchecked} files not checked)" if unchecked else ""
        print(f"{app['name']:<18} {len(findings):>5} findings {elapsed:6.1f}s  {summary}{note}")
    print("per rule:", " ".join(f"{code}:{count}" for code, count in sorted(per_rule.items())))
    print("per role:", " ".join(f"{role}:{count}" for role, count in sorted(per_role.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
