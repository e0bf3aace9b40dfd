"""This checkout's CPU per request against another checkout's, alternated burst by burst.

    python -m bench.ab_compare /work/main                    # this branch against main
    python -m bench.ab_compare ../before --rounds 60 --burst 60

bench.cpu_per_request run on two checkouts one after the other moved ±15 % between runs of
the same code on the shared 2-core machine: the neighbours change between the runs. Here
both checkouts' apps run at once, each in its own process (bench/in_process.py, with the same
interpreter and packages, only the code differs), on one database seeded as
bench.cpu_per_request seeds it, and take turns: a burst of `--burst` requests on one, then
on the other, `--rounds` times per query, the one going first alternating. A round's two
bursts run within a fraction of a second of each other, so each round's ratio (this /
other) sees the same neighbours; the median of those ratios and their quartiles are the
figure, the best burst of each beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.client_detail import DETAIL, add_detail
from bench.clients_query import CLIENTS, Bench, prepare_database
from bench.cpu_per_request import request_body, staff_token
from bench.harness import ROOT, console, first_difference, set_parent_death_signal
from bench.scratch import Services, run_in_scratch, start_services

IN_PROCESS = Path(__file__).resolve().with_name("in_process.py")


@dataclass
class Checkout:
    """One checkout's app in its own process (bench/in_process.py), answering bursts."""

    name: str
    path: Path
    process: subprocess.Popen[str]

    def line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} ({self.path}) stopped: see its error above")
        return line.strip()

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def burst(self, index: int, requests: int) -> float:
        self.send(f"{index} {requests}")
        return float(self.line())

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_checkout(
    stack: contextlib.ExitStack, name: str, path: Path, services: Services
) -> Checkout:
    process = subprocess.Popen(  # noqa: S603 -- our own interpreter and script
        # -P: the script's folder (bench/) is not put first on the path; PYTHONPATH is.
        [sys.executable, "-P", str(IN_PROCESS), services.database_url, services.redis_url],
        cwd=path,
        env={**os.environ, "PYTHONPATH": str(path)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # Ctrl-C reaches us only; we stop the checkouts in order
        preexec_fn=set_parent_death_signal,
    )
    checkout = Checkout(name, path, process)
    stack.callback(checkout.stop)
    return checkout


def first_answers(
    checkout: Checkout, token: str, benches: list[Bench], warmup: int
) -> list[dict[str, Any]]:
    """Each bench's first answer from `checkout`, once it is warm; raises if one is wrong."""
    bodies = [request_body(bench).decode() for bench in benches]
    checkout.send(orjson.dumps({"token": token, "bodies": bodies, "warmup": warmup}).decode())
    answers = [orjson.loads(checkout.line()) for _ in benches]
    if checkout.line() != "ready":
        raise RuntimeError(f"{checkout.name}: no 'ready' after the first answers")
    for bench, answer in zip(benches, answers, strict=True):
        if "errors" in answer:
            raise RuntimeError(f"{checkout.name}, {bench.title}: {answer['errors']}")
    return answers


def compare(
    checkouts: tuple[Checkout, Checkout], index: int, rounds: int, burst: int
) -> tuple[list[float], list[float]]:
    """Each checkout's CPU ms per request of each round's burst of bench `index`."""
    ms: dict[str, list[float]] = {checkout.name: [] for checkout in checkouts}
    for round_ in range(rounds):
        for checkout in checkouts if round_ % 2 == 0 else checkouts[::-1]:
            ms[checkout.name].append(checkout.burst(index, burst))
    return ms[checkouts[0].name], ms[checkouts[1].name]


def report(title: str, this: list[float], other: list[float]) -> str:
    ratios = [mine / theirs for mine, theirs in zip(this, other, strict=True)]
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    return (
        f"[bold]{title}[/], {len(ratios)} rounds\n"
        f"  CPU per request, best burst: this [bold]{min(this):.3f} ms[/], "
        f"other [bold]{min(other):.3f} ms[/]\n"
        f"  this / other per round: median [bold]{statistics.median(ratios):.3f}[/] "
        f"(quartiles {q1:.3f}–{q3:.3f}); load average {os.getloadavg()[0]:.1f}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ab_compare", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("other", type=Path, help="the other checkout (its root folder)")
    parser.add_argument("--clients", type=int, default=2000, help="clients to seed")
    parser.add_argument("--rounds", type=int, default=60, help="rounds per query (≥ 2)")
    parser.add_argument("--burst", type=int, default=60, help="requests per burst")
    parser.add_argument("--warmup", type=int, default=100, help="requests before the rounds")
    args = parser.parse_args(argv)
    if args.rounds < 2:
        parser.error("--rounds must be at least 2 (quartiles of the ratios)")
    if not (args.other / "app" / "main.py").is_file():
        parser.error(f"{args.other} is not a checkout of clientdesk (no app/main.py)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    benches = [CLIENTS, DETAIL]

    def run(stack: contextlib.ExitStack, tmp: Path) -> int:
        services = start_services(
            stack, tmp, console, lambda url: prepare_database(url, args.clients, add_detail)
        )
        token = asyncio.run(staff_token(services.database_url))
        checkouts = (
            start_checkout(stack, "this", ROOT, services),
            start_checkout(stack, "other", args.other.resolve(), services),
        )
        answers = [first_answers(c, token, benches, args.warmup) for c in checkouts]
        console.print(f"this: {ROOT}\nother: {args.other.resolve()}")
        for index, bench in enumerate(benches):
            for answer in answers:
                bench.check(answer[index]["data"], args.clients)
            difference = first_difference(answers[0][index], answers[1][index])
            if difference is not None:
                console.print(f"[yellow]{bench.title}: the answers differ at {difference}[/]")
            this, other = compare(checkouts, index, args.rounds, args.burst)
            console.print(report(bench.title, this, other), soft_wrap=True)
        return 0

    return run_in_scratch(run, console)


if __name__ == "__main__":
    sys.exit(main())
