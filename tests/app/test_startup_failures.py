"""`clientdesk serve` with a configuration it cannot start with: one clear line on stderr and
a non-zero exit, with one worker process or several (issue 19)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.devservices import free_port
from tests.app.conftest import command_env, wait_for_http
from tests.conftest import Services

CLI = [sys.executable, "-m", "app.cli"]
UNREACHABLE = {
    "DATABASE_URL": "postgresql://clientdesk@127.0.0.1:1/clientdesk",
    "REDIS_URL": "redis://127.0.0.1:1/0",
}


def serve(tmp_path: Path, workers: int, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "serve", "--workers", str(workers), "--port", str(free_port())],
        cwd=tmp_path,
        env=command_env(**{**UNREACHABLE, **env}),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_with_an_unreachable_database_says_so_and_fails(tmp_path: Path, workers: int) -> None:
    result = serve(tmp_path, workers)
    assert result.returncode != 0
    [line] = result.stderr.splitlines()
    assert line.startswith(
        "clientdesk serve: cannot connect to the database (DATABASE_URL): ConnectionRefusedError"
    ), line


def test_serve_whose_processes_fail_to_start_exits_non_zero(
    services: Services, tmp_path: Path
) -> None:
    # The database answers; Redis does not, so each process fails in its start-up.
    result = serve(tmp_path, 2, DATABASE_URL=services.database_url)
    assert result.returncode != 0, result.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_with_tracing_on_and_its_packages_missing_says_so_and_fails(
    tmp_path: Path, workers: int
) -> None:
    # A module named like the package's top level hides the installed one, as if missing.
    (tmp_path / "opentelemetry.py").write_text("")
    result = serve(
        tmp_path,
        workers,
        PYTHONPATH=str(tmp_path),
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318",
    )
    assert result.returncode != 0
    [line] = result.stderr.splitlines()
    assert line.startswith(
        "clientdesk serve: OTEL_EXPORTER_OTLP_ENDPOINT is set but the tracing packages are "
        "not installed (pip install 'clientdesk[otel]'): "
    ), line


def test_serve_with_an_unreadable_persisted_query_manifest_says_so_and_fails(
    tmp_path: Path,
) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text('["not", "a", "manifest"]')
    for path in (manifest, tmp_path / "missing.json"):
        result = serve(tmp_path, 1, PERSISTED_QUERIES_MANIFEST=str(path))
        assert result.returncode != 0
        [line] = result.stderr.splitlines()
        assert line.startswith("clientdesk serve: PERSISTED_QUERIES_MANIFEST cannot be read: "), (
            line
        )


def _children_of(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:  # the field after the state: the parent's pid
                children.append(int(stat.parent.name))
    return children


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel's parent-death signal")
def test_the_workers_of_serve_stop_when_their_parent_is_killed(
    services: Services, tmp_path: Path
) -> None:
    port = free_port()
    env = command_env(
        DATABASE_URL=services.database_url, REDIS_URL=services.redis_url, LOG_LEVEL="WARNING"
    )
    parent = subprocess.Popen(
        [*CLI, "serve", "--workers", "2", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz")
        workers = [pid for pid in _children_of(parent.pid) if Path(f"/proc/{pid}").exists()]
        assert len(workers) >= 2
    finally:
        parent.kill()  # SIGKILL: no chance to stop its workers
        parent.wait(timeout=10)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
