"""The harness every HTTP benchmark here shares: the servers it starts and stops, the staff
login it uses, the load generator and the totals it keeps (bench.clients_query's, first;
bench.client_detail, bench.scale and the others import it).

Each server runs in a process of its own, so that the CPU it uses can be read apart (its
process and children, `Server.cpu_seconds`), and PostgreSQL's beside it (`db_cpu_seconds`).
The load they are measured under is bench/load.py's.
"""

from __future__ import annotations

import contextlib
import importlib.util
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from rich.console import Console

from app.devservices import free_port
from domain.auth.permissions import StaffRole
from domain.auth.staff import create_staff

ROOT = Path(__file__).resolve().parent.parent
console = Console()

STAFF_EMAIL = "bench@localhost"
STAFF_PASSWORD = "bench-password-1"  # noqa: S105 -- a throw-away login in a throw-away database

LOGIN = """mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) { token errors { field code message } }
}"""


def postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


async def create_bench_staff(conn: asyncpg.Connection) -> None:
    """The staff login (ADMIN) every benchmark of the API logs in with."""
    await create_staff(
        conn,
        email=STAFF_EMAIL,
        password=STAFF_PASSWORD,
        first_name="Bench",
        last_name="Staff",
        role=StaffRole.ADMIN,
    )


def set_parent_death_signal() -> None:
    """Linux: the server gets SIGTERM should the benchmark die without cleaning up."""
    if sys.platform == "linux":
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    path: str
    log_path: Path
    _cpu: psutil.Process = field(init=False)

    def __post_init__(self) -> None:
        self._cpu = psutil.Process(self.process.pid)

    @property
    def url(self) -> str:
        return self.base_url + self.path

    def cpu_seconds(self) -> float:
        """CPU of the server and of its worker processes, if it runs several."""
        total = 0.0
        for process in (self._cpu, *self._cpu.children(recursive=True)):
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def uvicorn_options() -> list[str]:
    options = []
    if importlib.util.find_spec("uvloop"):
        options += ["--loop", "uvloop"]
    if importlib.util.find_spec("httptools"):
        options += ["--http", "httptools"]
    return options


def start_server(
    name: str, factory: str, path: str, env: dict[str, str], logs: Path, *, workers: int = 1
) -> Server:
    port = free_port()
    log_path = logs / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                factory,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                *uvicorn_options(),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop the servers in order
            preexec_fn=set_parent_death_signal,
        )
    server = Server(name, process, f"http://127.0.0.1:{port}", path, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(server.base_url + "/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{name} server did not start:\n{log_path.read_text()[-3000:]}")


def first_difference(a: Any, b: Any, path: str = "data") -> str | None:
    if type(a) is not type(b):
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)} != {list(b)}"
        for key in a:
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


async def login(app: Server) -> str:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            app.url,
            json={"query": LOGIN, "variables": {"email": STAFF_EMAIL, "password": STAFF_PASSWORD}},
        )
    payload = response.json()["data"]["login"]
    if payload["errors"]:
        raise RuntimeError(f"login failed: {payload['errors']}")
    token: str = payload["token"]
    return token


@dataclass
class Totals:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    db_cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)
    rounds: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def db_cpu_seconds(postmaster: psutil.Process | None) -> float:
    """CPU time of the PostgreSQL server and its backends (the pool connections persist)."""
    if postmaster is None:
        return 0.0
    total = 0.0
    for process in (postmaster, *postmaster.children()):
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


@contextlib.contextmanager
def sigterm_as_exit() -> Iterator[None]:
    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def event_loop_factory() -> Any:
    if importlib.util.find_spec("uvloop"):
        import uvloop

        return uvloop.new_event_loop
    return None
