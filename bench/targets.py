"""The performance targets of the issues, each measured beside its baseline in one run.

Every benchmark module that answers a target has `targets(quick: bool) -> list[Target]`:
it runs itself with the arguments `make bench` uses (smaller ones when `quick`) and returns
one row per target. `python -m bench` (= `make bench`) runs them all in turn and prints the
rows as one MET / NOT MET table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Target:
    """One target: what was measured, the goal, the baseline measured in the same run."""

    name: str
    goal: str
    baseline: str
    measured: str
    met: bool


def print_targets(targets: Sequence[Target], console: Console | None = None) -> None:
    table = Table(title="Targets", box=box.SIMPLE_HEAD)
    for column in ("target", "goal", "baseline (same run)", "measured", ""):
        table.add_column(column)
    for t in targets:
        verdict = "[green]MET[/]" if t.met else "[red]NOT MET[/]"
        table.add_row(t.name, t.goal, t.baseline, t.measured, verdict)
    (console or Console()).print(table)
