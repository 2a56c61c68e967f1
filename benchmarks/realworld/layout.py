"""Lay out the corpus applications under `apps/` from fetched snapshots (git directories).

Usage: python benchmarks/realworld/layout.py [--mirror DIR] [--apps DIR] [NAME ...]

Each snapshot is a bare git directory as the search tool's `fetch` leaves it
(`<mirror>/<owner>+<name>/repo`, or `.../repo/.git`). The pinned commit's whole tree is written to
`<apps>/<name>/` as a checkout would have it (an empty `.git` folder marks its top), Python sources and
the files that configure a project (pyproject.toml, setup.cfg, .gitignore, alembic.ini, requirements)
only; runs check the app's `root` folder inside it, as a user would in that checkout. Nothing here is
committed.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
# Beside the checkout, not inside it: inside, this project's pyproject.toml and .gitignore would
# be taken for an app's own (an app without a pyproject.toml would be checked as an ignored folder).
APPS = Path(os.environ.get("ASQ_REALWORLD_APPS", HERE.parents[2] / "realworld-apps"))
KEPT_SUFFIXES = (".py", ".pyi", ".toml", ".cfg", ".ini")
KEPT_NAMES = (".gitignore", ".flake8", "requirements.txt")


def load_corpus(path: Path = HERE / "corpus.toml") -> list[dict[str, str]]:
    with open(path, "rb") as handle:
        return tomllib.load(handle)["app"]


def app_folder(apps: Path, app: dict[str, str]) -> Path:
    """Where the app's own code is in its laid-out checkout: the folder a run checks."""
    return apps / app["name"] / app.get("root", "").strip("/")


def git_dir(mirror: Path, repo: str) -> Path | None:
    folder = mirror / repo.replace("/", "+") / "repo"
    for candidate in (folder / ".git", folder):
        if (candidate / "HEAD").is_file():
            return candidate
    return None


def is_kept(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.endswith(KEPT_SUFFIXES) or base in KEPT_NAMES or base.startswith("requirements")


def lay_out(app: dict[str, str], mirror: Path, apps: Path) -> str:
    """Write one app's tree; returns a one-line status."""
    source = git_dir(mirror, app["repo"])
    if source is None:
        return f"{app['name']}: no snapshot of {app['repo']} under {mirror} (fetch it first)"
    treeish = app["commit"]
    # ls-tree and cat-file, not git archive: a snapshot lacks its largest blobs, which archive fails on.
    listing = subprocess.run(
        ["git", f"--git-dir={source}", "ls-tree", "-r", "-z", treeish], capture_output=True, check=False
    )
    if listing.returncode != 0:
        return f"{app['name']}: git ls-tree failed: {listing.stderr.decode(errors='replace').strip()}"
    blobs = []
    for entry in listing.stdout.decode("utf-8", "surrogateescape").split("\0"):
        meta, _, name = entry.partition("\t")
        parts = meta.split()
        if len(parts) == 3 and parts[1] == "blob" and is_kept(name) and ".." not in Path(name).parts:
            blobs.append((parts[2], name))
    contents = subprocess.run(
        ["git", f"--git-dir={source}", "cat-file", "--batch"],
        input="".join(f"{sha}\n" for sha, _ in blobs).encode(),
        capture_output=True,
        check=False,
    ).stdout
    target = apps / app["name"]
    shutil.rmtree(target, ignore_errors=True)
    (target / ".git").mkdir(parents=True)  # the checkout's top: where a user's project root is found
    count = 0
    stream = io.BytesIO(contents)
    for _, name in blobs:
        header = stream.readline().split()
        if len(header) != 3:  # "<sha> missing": a blob the snapshot lacks
            continue
        data = stream.read(int(header[2]))
        stream.readline()
        destination = target / name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(data)
        count += 1
    return f"{app['name']}: {count} files from {app['repo']}@{app['commit'][:10]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--apps", type=Path, default=APPS)
    parser.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    missing = 0
    for app in load_corpus():
        if args.names and app["name"] not in args.names:
            continue
        status = lay_out(app, args.mirror, args.apps)
        missing += "no snapshot" in status or "failed" in status
        print(status)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
