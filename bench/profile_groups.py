"""Group a py-spy profile of the GraphQL server by who spends the time.

    py-spy record --pid <graphql pid> --duration 30 --format raw --output profile.raw
    python -m bench.profile_groups profile.raw [more.raw …]

Each sample goes to the innermost frame that belongs to a known group (a sample whose
innermost frames are the standard library — asyncio, json, enum … — goes to the code that
called it): graphql-core, Strawberry, our code (app, schema, resolvers, domain), asyncpg,
HTTP (Starlette, uvicorn, httptools), else "other" (uvloop, orjson, the standard library
called from nowhere we know). bench/README.md shows the groups before and after a change.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

# The file of a py-spy raw frame: "function (path/to/file.py:123)".
_FILE = re.compile(r"\(([^():]+):\d+\)$")
GROUPS = (
    ("graphql-core", ("graphql/",)),
    ("Strawberry", ("strawberry/",)),
    ("our code", ("app/", "schema/", "resolvers/", "domain/")),
    ("asyncpg", ("asyncpg/",)),
    ("HTTP (Starlette, uvicorn)", ("starlette/", "uvicorn/", "httptools/", "h11/")),
)
OTHER = "other"


def group_of(stack: str) -> str:
    for frame in reversed(stack.split(";")):
        found = _FILE.search(frame)
        if not found:
            continue
        path = found.group(1)
        for name, prefixes in GROUPS:
            if path.startswith(prefixes):
                return name
    return OTHER


def group_samples(lines: list[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            counts[group_of(stack)] += int(count)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile_groups", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("profiles", nargs="+", type=Path, help="py-spy --format raw files")
    args = parser.parse_args(argv)
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("group")
    for path in args.profiles:
        table.add_column(path.stem, justify="right")
    counts = [group_samples(path.read_text().splitlines()) for path in args.profiles]
    for name in (*(name for name, _ in GROUPS), OTHER):
        table.add_row(name, *(f"{c[name] / max(1, sum(c.values())):.1%}" for c in counts))
    table.add_row("samples", *(str(sum(c.values())) for c in counts))
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
