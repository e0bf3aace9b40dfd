"""What the HTTP benchmarks print: each endpoint's figures, the ratios between them, and the
targets of issue 24, all ratios measured in one run (absolute milliseconds vary threefold
between these machines; ratios do not).

The endpoints are named as bench.clients_query starts them: `graphql` (our API, one process),
`raw` (bench/raw_app.py: the same answer from a few SQL statements), `graphql×N` (our API
with N processes) and `postgraphile` (bench/postgraphile.py over the same rows).
"""

from __future__ import annotations

import argparse
import os

from rich import box
from rich.table import Table

from bench.harness import Totals, console
from bench.targets import Target


def report(
    totals: dict[str, Totals], args: argparse.Namespace, title: str, ratio_goal: str
) -> None:
    """The table of every endpoint's figures and the ratios between them, on the console."""
    table = Table(
        title=f"{title}, {args.concurrency} connections",
        caption="CPU used by the endpoint's server, by PostgreSQL and by the load generator "
        "(1 = a core); server CPU ms per request",
        box=box.SIMPLE_HEAD,
    )
    columns = ("endpoint", "req/s", "p50 ms", "p95 ms", "errors", "server", "db", "client")
    for column in (*columns, "ms/req"):
        table.add_column(
            column, justify="left" if column == "endpoint" else "right", min_width=len(column)
        )
    for name, t in totals.items():
        table.add_row(
            name,
            f"{t.rate:,.1f}",
            f"{t.percentile(0.50) * 1000:.1f}",
            f"{t.percentile(0.95) * 1000:.1f}",
            str(t.errors),
            f"{t.server_cpu / t.seconds:.2f}",
            f"{t.db_cpu / t.seconds:.2f}",
            f"{t.client_cpu / t.seconds:.2f}",
            f"{t.server_cpu / t.requests * 1000:.2f}" if t.requests else "-",
        )
    console.print(table)
    graphql, raw = totals["graphql"], totals["raw"]
    ratio = graphql.rate / raw.rate if raw.rate else float("nan")
    per_round = [g / r for g, r in zip(graphql.rounds, raw.rounds, strict=True) if r]
    console.print(
        f"GraphQL / raw = [bold]{ratio:.1%}[/] "
        f"(per round {min(per_round):.1%}–{max(per_round):.1%}{ratio_goal})"
    )
    for name, t in totals.items():
        if name.startswith("graphql×") and graphql.rate:
            console.print(f"{name} / graphql (one worker) = [bold]{t.rate / graphql.rate:.0%}[/]")
    if graphql.requests and raw.requests and graphql.server_cpu:
        cpu_ratio = (raw.server_cpu / raw.requests) / (graphql.server_cpu / graphql.requests)
        console.print(f"Server CPU per request, raw / GraphQL = {cpu_ratio:.1%}")
    peer = totals.get("postgraphile")
    if peer is not None and peer.rate and graphql.requests and peer.requests:
        console.print(
            f"GraphQL / PostGraphile = [bold]{graphql.rate / peer.rate:.2f}×[/] req/s; server + "
            f"PostgreSQL CPU per request {total_cpu_per_request_ms(graphql):.2f} ms against "
            f"{total_cpu_per_request_ms(peer):.2f} ms"
        )
    busiest = max(t.client_cpu / t.seconds for t in totals.values())
    if busiest > 0.5:
        console.print(
            f"[yellow]The load generator used {busiest:.0%} of a core: it may be what limits "
            "the faster endpoint, which makes the ratio look better than it is.[/]"
        )
    if graphql.errors or raw.errors:
        console.print("[red]Some requests failed or returned a different body; see errors.[/]")


def cpu_per_request_ms(totals: Totals) -> float:
    return totals.server_cpu / totals.requests * 1000 if totals.requests else float("nan")


def total_cpu_per_request_ms(totals: Totals) -> float:
    """The server's CPU and PostgreSQL's per request: what serving one costs the machine."""
    cpu = totals.server_cpu + totals.db_cpu
    return cpu / totals.requests * 1000 if totals.requests else float("nan")


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def ratio_targets(
    title: str,
    totals: dict[str, Totals],
    *,
    peer_rate: float,
    raw_share: float | None = None,
    workers: float | None = None,
) -> list[Target]:
    """`title`'s targets from one run: req/s ≥ `peer_rate` × PostGraphile's and server +
    PostgreSQL CPU per request ≤ PostGraphile's (when it ran), the raw endpoint's server CPU
    per request ≥ `raw_share` of ours, and N processes ≥ `workers` × one."""
    graphql, raw = totals["graphql"], totals["raw"]
    rows = []
    peer = totals.get("postgraphile")
    if peer is not None and peer.rate:
        rows.append(
            Target(
                name=f"{title}: req/s against PostGraphile",
                goal=f"≥ {peer_rate:.1f}×",
                baseline=f"PostGraphile {peer.rate:,.1f} req/s",
                measured=f"{graphql.rate:,.1f} req/s ({graphql.rate / peer.rate:.2f}×)",
                met=graphql.rate >= peer_rate * peer.rate,
            )
        )
        ours, theirs = total_cpu_per_request_ms(graphql), total_cpu_per_request_ms(peer)
        rows.append(
            Target(
                name=f"{title}: server + PostgreSQL CPU per request",
                goal="≤ PostGraphile's",
                baseline=f"PostGraphile {theirs:.2f} ms",
                measured=f"{ours:.2f} ms",
                met=ours <= theirs,
            )
        )
    if raw_share is not None:
        share = cpu_per_request_ms(raw) / cpu_per_request_ms(graphql)
        rows.append(
            Target(
                name=f"{title}: raw / GraphQL server CPU per request",
                goal=f"≥ {raw_share:.0%}",
                baseline=f"raw endpoint {cpu_per_request_ms(raw):.2f} ms",
                measured=f"{cpu_per_request_ms(graphql):.2f} ms ({share:.1%})",
                met=share >= raw_share,
            )
        )
    several = [(name, t) for name, t in totals.items() if name.startswith("graphql×")]
    if workers is not None and several and graphql.rate:
        name, n = several[0]
        rows.append(
            Target(
                name=f"{title}: req/s with {name.removeprefix('graphql×')} processes",
                goal=f"≥ {workers:.1f}× one",
                baseline=f"1 process {graphql.rate:,.1f} req/s",
                measured=f"{n.rate:,.1f} req/s ({n.rate / graphql.rate:.2f}×; load {_load()})",
                met=n.rate >= workers * graphql.rate,
            )
        )
    return rows
