"""Real processes on loopback for the scale-out test (issue 19): three `clientdesk serve`,
two `clientdesk worker`, the shipped nginx configuration with the three APIs as its upstream,
and PgBouncer in transaction pooling mode before the suite's PostgreSQL."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from app.devservices import free_port
from tests.app.conftest import command_env, wait_for_http
from tests.conftest import CARD_KEY, Services

PROJECT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "app.cli"]
PGBOUNCER = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/sbin")
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
LOGIN_MAX_FAILURES = 5
API_KEY_RATE_LIMIT = 6


@dataclass
class Cluster:
    proxy_url: str
    api_urls: list[str]
    apis: list[subprocess.Popen[bytes]]
    logs: Path
    killed: list[int] = field(default_factory=list)

    def kill_api(self, index: int) -> int:
        """SIGKILL one API process (its uvicorn, in its own process group); its pid."""
        process = self.apis[index]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        self.killed.append(process.pid)
        return process.pid


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def pgbouncer_config(directory: Path, database_url: str, port: int) -> Path:
    """Transaction pooling before `database_url`, the one database under the name `clientdesk`."""
    server = urlsplit(database_url)
    host = server.hostname or parse_qs(server.query)["host"][0]  # the embedded one: a socket
    target = (
        f"host={host} port={server.port or 5432} dbname={server.path.lstrip('/')} "
        f"user={server.username}" + (f" password={server.password}" if server.password else "")
    )
    config = directory / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"clientdesk = {target}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        "auth_type = any\n"
        "pool_mode = transaction\n"
        "max_client_conn = 500\ndefault_pool_size = 20\n"
        # Set for the whole database instead (ALTER DATABASE … SET, docs/scale.md): a
        # transaction-pooled server connection cannot keep one client's startup settings.
        "ignore_startup_parameters = clientdesk.mail_domain\n"
    )
    return config


def nginx_config(directory: Path, port: int, api_ports: list[int]) -> Path:
    """deploy/nginx.conf as shipped, the Docker name `api` made an upstream of loopback ports."""
    deploy = PROJECT / "deploy"
    main = (deploy / "nginx.conf").read_text()
    main = main.replace("listen 80;", f"listen 127.0.0.1:{port};")
    main = main.replace("resolver 127.0.0.11 valid=10s ipv6=off;", "")
    servers = "".join(f"        server 127.0.0.1:{p};\n" for p in api_ports)
    main = main.replace("http {", "http {\n    upstream clientdesk_api {\n" + servers + "    }", 1)
    proxy = (deploy / "clientdesk-proxy.conf").read_text()
    proxy = proxy.replace("set $clientdesk_api api:8000;", "")
    proxy = proxy.replace("proxy_pass http://$clientdesk_api;", "proxy_pass http://clientdesk_api;")
    assert "$clientdesk_api" not in proxy and "http://clientdesk_api;" in proxy, (
        "deploy/ changed shape"
    )
    (directory / "clientdesk-proxy.conf").write_text(proxy)
    (directory / "clientdesk.d").mkdir()
    (directory / "logs").mkdir()
    config = directory / "nginx.conf"
    config.write_text(main)
    return config


@contextmanager
def cluster(services: Services, database_url: str) -> Iterator[Cluster]:
    """Everything started, every API ready; everything stopped afterwards."""
    assert PGBOUNCER and NGINX
    # PgBouncer runs as PostgreSQL's user and nginx's workers as nobody: both read here.
    home = Path(tempfile.mkdtemp(prefix="clientdesk-scale-"))
    home.chmod(0o755)
    pgbouncer_port, proxy_port = free_port(), free_port()
    api_ports = [free_port() for _ in range(3)]
    # Redis database 7: the suite's other tests' queue is not ours.
    redis_url = services.redis_url.rsplit("/", 1)[0] + "/7"
    env = command_env(
        DATABASE_URL=f"postgresql://clientdesk@127.0.0.1:{pgbouncer_port}/clientdesk",
        DATABASE_DIRECT_URL=database_url,
        DATABASE_STATEMENT_CACHE_SIZE="0",
        REDIS_URL=redis_url,
        SMTP_URL=services.mail.url,
        ENVIRONMENT="development",
        CC_ENCRYPTION_HASH="test-card-secret",
        CARD_ENCRYPTION_KEYS=CARD_KEY,
        FILE_STORAGE="postgres",
        LOGIN_MAX_FAILURES=str(LOGIN_MAX_FAILURES),
        API_KEY_RATE_LIMIT=str(API_KEY_RATE_LIMIT),
        FORWARDED_ALLOW_IPS="127.0.0.1",
        AUTOMATION_WAIT_SECONDS="30",
        EMAIL_RELAY_INTERVAL_SECONDS="2",
        DB_POOL_MAX="5",
        VAR_DIR=str(home / "var"),
    )
    root = os.geteuid() == 0
    # PgBouncer refuses to run as root: as the owner of PostgreSQL's socket directory.
    socket_dir = parse_qs(urlsplit(database_url).query).get("host", ["/"])[0]
    pgbouncer_user = pwd.getpwuid(os.stat(socket_dir).st_uid).pw_name if root else ""
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, home, ignore_errors=True)
        config = pgbouncer_config(home, database_url, pgbouncer_port)
        started = [
            _start(
                [PGBOUNCER, *(["-u", pgbouncer_user] if root else []), str(config)],
                env,
                home / "pgbouncer.out",
            )
        ]
        stack.callback(lambda: [_stop(p) for p in reversed(started)])
        apis = []
        for index, port in enumerate(api_ports):
            api = _start([*CLI, "serve", "--port", str(port)], env, home / f"api{index}.log")
            apis.append(api)
            started.append(api)
        for index in range(2):
            started.append(_start([*CLI, "worker"], env, home / f"worker{index}.log"))
        nginx_conf = nginx_config(home, proxy_port, api_ports)
        globals_ = f"daemon off; pid {home}/nginx.pid; error_log stderr;" + (
            " user root;" if root else ""
        )
        started.append(
            _start(
                [NGINX, "-p", f"{home}/", "-c", str(nginx_conf), "-g", globals_],
                env,
                home / "nginx.log",
            )
        )
        api_urls = [f"http://127.0.0.1:{port}" for port in api_ports]
        for url in api_urls:
            wait_for_http(f"{url}/readyz", timeout=40)
        proxy_url = f"http://127.0.0.1:{proxy_port}"
        wait_for_http(f"{proxy_url}/readyz", timeout=10)
        time.sleep(0.5)  # the workers' first poll
        yield Cluster(proxy_url, api_urls, apis, home)
