"""`make bench`: every performance target of the issues, measured in one run.

    python -m bench            # the sizes the issues name (1,000,000 clients: long)
    python -m bench --quick    # the same measurements at small sizes, to try the harness

Runs each benchmark below in turn (each starts and removes its own PostgreSQL, Redis and
servers), then prints one table: each target beside the baseline measured in the same run,
MET or NOT MET. The exit status is 1 when a benchmark failed to run, not when a target is
missed: the table is the answer.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from rich.console import Console

from bench import (
    automation,
    client_detail,
    clients_query,
    email_delivery,
    import_rows,
    scale,
    subscriptions,
)
from bench.targets import Target, print_targets

BENCHMARKS = (
    clients_query,
    client_detail,
    email_delivery,
    scale,
    automation,
    import_rows,
    subscriptions,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the harness")
    args = parser.parse_args(argv)
    console = Console()
    results: list[Target] = []
    failed = []
    for module in BENCHMARKS:
        name = module.__name__.removeprefix("bench.")
        console.rule(name)
        try:
            results += module.targets(args.quick)
        except Exception:  # one broken benchmark must not hide the others
            console.print(f"[red]{name} failed:[/]\n{traceback.format_exc()}")
            failed.append(name)
    print_targets(results, console)
    if failed:
        console.print(f"[red]Did not run to the end: {', '.join(failed)}[/]")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
