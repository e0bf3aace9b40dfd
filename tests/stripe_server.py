"""A real localstripe server (PyPI `localstripe`: a local, stateful Stripe API) for the
Stripe gateway's tests, in a process of its own on a free loopback port, like the SMTP
servers of tests/smtp_servers.py.

Run as `python -m tests.stripe_server PORT`: localstripe's own `start()` listens on every
interface and saves its store to one file in /tmp shared by every instance on the machine,
so this serves its application on 127.0.0.1 alone and keeps the store in memory.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from app.devservices import free_port

# What the tests give Stripe as its secret key (localstripe takes any `sk_…`) and sign
# webhook payloads with.
SECRET_KEY = "sk_test_clientdesk"
WEBHOOK_SECRET = "whsec_clientdesk_tests"


class LocalStripe:
    def __init__(self) -> None:
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalStripe:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.stripe_server", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # until it listens, at most 20 s
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self._process.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("localstripe did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


def _serve(port: int) -> None:
    from aiohttp import web
    from localstripe import resources, server

    resources.Store.dump_to_disk = lambda self: None
    web.run_app(server.app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
