"""Phase 5 made concrete: the project's pre-commit config and CI workflows, and the exact lines to add to them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from flake8_async_sqla import __version__

HOOK_REPOSITORY = "https://github.com/flake8-async-sqla/flake8-async-sqla"
BASELINE = ".asq-baseline.json"
INSTALL = f'pip install "flake8-async-sqla @ git+{HOOK_REPOSITORY}@v{__version__}"'


@dataclass(frozen=True)
class GateEdit:
    file: str  # the project's file to edit (or create), relative to the project
    exists: bool
    where: str  # where in the file the lines go
    lines: str  # the exact text to add


def gate_edits(project: Path, repository: Path) -> list[GateEdit]:
    """The edits that make `check --phase 5` the gate, for each place the project runs checks (its pre-commit
    config, GitHub Actions workflows, GitLab CI), looked up from the project folder to its repository root;
    a new GitHub workflow when it has none of them."""
    found: list[GateEdit] = []
    for folder in _folders(project, repository):
        shown = lambda path: str(path.relative_to(folder)) if folder == project else str(path.relative_to(repository))  # noqa: E731
        precommit = folder / ".pre-commit-config.yaml"
        if precommit.is_file() and not any(e.file.endswith(".pre-commit-config.yaml") for e in found):
            found.append(GateEdit(shown(precommit), True, "under `repos:`", _hook(precommit.read_text(encoding="utf-8", errors="replace"))))
        workflows = sorted((folder / ".github" / "workflows").glob("*.y*ml")) if (folder / ".github").is_dir() else []
        lint = next((w for w in workflows if _runs_linters(w)), workflows[0] if workflows else None)
        if lint is not None and not any(".github/workflows" in e.file for e in found):
            found.append(GateEdit(shown(lint), True, "as steps of the job that lints (after the checkout and Python set-up)", GITHUB_STEPS))
        gitlab = folder / ".gitlab-ci.yml"
        if gitlab.is_file() and not any(e.file.endswith(".gitlab-ci.yml") for e in found):
            found.append(GateEdit(shown(gitlab), True, "as a job of the `test` stage (or the stage that lints)", GITLAB_JOB))
    if not found:
        found.append(GateEdit(".github/workflows/flake8-async-sqla.yml", False, "a new workflow", GITHUB_WORKFLOW))
    return found


def gates_in_place(project: Path, repository: Path) -> list[str]:
    """The project's pre-commit config and CI files that already run `check --phase 5` (or the pre-commit hook
    with `--phase 5`), relative to the repository: the gate phase 5 asks for is there."""
    found = []
    for folder in _folders(project, repository):
        workflows = sorted((folder / ".github" / "workflows").glob("*.y*ml")) if (folder / ".github").is_dir() else []
        for path in [folder / ".pre-commit-config.yaml", folder / ".gitlab-ci.yml", *workflows]:
            if path.is_file() and PHASE_5_GATE.search(path.read_text(encoding="utf-8", errors="replace")):
                found.append(str(path.relative_to(repository)))
    return sorted(set(found))


# flake8-async-sqla run at phase 5: `check --phase 5`, `--phase=5`, or the hook's `args: [--phase, "5", ...]`.
PHASE_5_GATE = re.compile(r"flake8-async-sqla[\s\S]*?--phase[\s=,\"']*5\b")


def _folders(project: Path, repository: Path) -> list[Path]:
    folders = [project]
    while folders[-1] != repository and folders[-1].parent != folders[-1] and repository in folders[-1].parents:
        folders.append(folders[-1].parent)
    return folders


def _runs_linters(workflow: Path) -> bool:
    text = workflow.read_text(encoding="utf-8", errors="replace")
    return any(word in text for word in ("ruff", "flake8", "pre-commit", "mypy", "lint"))


def _hook(config: str) -> str:
    indent = "  " if "\n  - repo:" in config or config.startswith("  - repo:") else ""
    lines = [
        f"- repo: {HOOK_REPOSITORY}",
        f"  rev: v{__version__}",
        "  hooks:",
        "    - id: flake8-async-sqla",
        f"      args: [--phase, \"5\", --baseline, {BASELINE}]",
    ]
    return "\n".join(indent + line for line in lines)


GITHUB_STEPS = f"""\
- run: {INSTALL}
# The gate: only findings not in the baseline fail; raise nothing, shrink the baseline instead.
- run: flake8-async-sqla check --phase 5 --baseline {BASELINE} --output-format github
# Every finding for code scanning (needs `permissions: security-events: write`); never fails.
- run: flake8-async-sqla check --phase 5 --output-format sarif --output-file flake8-async-sqla.sarif --exit-zero
  if: always()
- uses: github/codeql-action/upload-sarif@v3
  if: always()
  with:
    sarif_file: flake8-async-sqla.sarif"""

GITHUB_WORKFLOW = f"""\
name: flake8-async-sqla
on: [push, pull_request]
jobs:
  lint:
    runs-on: ubuntu-latest
    permissions:
      contents: read
      security-events: write
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.12"
""" + "\n".join("      " + line for line in GITHUB_STEPS.splitlines())

GITLAB_JOB = f"""\
flake8-async-sqla:
  image: python:3.12
  script:
    - {INSTALL}
    - flake8-async-sqla check --phase 5 --output-format gitlab --output-file gl-code-quality-report.json --exit-zero
    - flake8-async-sqla check --phase 5 --baseline {BASELINE}
  artifacts:
    when: always
    reports:
      codequality: gl-code-quality-report.json"""

RATCHET = (
    f"Record what is left once: `flake8-async-sqla check --write-baseline {BASELINE}` and commit it; from then on "
    "only new findings fail. Each merged unit shrinks it: `flake8-async-sqla check --baseline "
    f"{BASELINE} --prune-baseline`, committed with the unit. Phase 5 is done when the file is empty and deleted, "
    "and `--baseline` is dropped from the lines above."
)
