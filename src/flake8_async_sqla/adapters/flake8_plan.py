"""`flake8 --format=asq-plan`: the modernization plan from a flake8 run, for teams that only run flake8."""

from __future__ import annotations

from pathlib import Path

from flake8.formatting.base import BaseFormatter
from flake8.violation import Violation

from flake8_async_sqla.config import load_settings
from flake8_async_sqla.plan.builder import build_plan
from flake8_async_sqla.plan.render import markdown


class PlanFormatter(BaseFormatter):
    def after_init(self) -> None:
        self.checked: list[str] = []

    def beginning(self, filename: str) -> None:
        self.checked.append(filename)

    def handle(self, error: Violation) -> None:
        """Findings are regrouped into the plan at the end, not printed one by one."""

    def stop(self) -> None:
        files = sorted({Path(name) for name in self.checked if name.endswith((".py", ".pyi"))})
        if files:
            settings = load_settings(None, files[0])
            self._write(markdown(build_plan(settings, files)).rstrip("\n"))
        super().stop()
