"""GraphiQL in a real browser: headless Chromium opens /graphql on a real uvicorn server,
logs in through the editor (the session cookie then authenticates the next query) and reads
the result pane. Driven over the DevTools protocol; nothing is downloaded at run time."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import uvicorn
import websockets

from app.devservices import free_port
from app.settings import Settings
from app.web import create_app
from domain.auth.permissions import StaffRole
from domain.auth.staff import create_staff
from tests.conftest import add_client

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
WAIT_SECONDS = 15

LOGIN = """mutation LogIn {
  login(email: "browser@staff.example.com", password: "browser-password") {
    viewer { kind email }
    errors { message }
  }
}"""
CLIENTS = "query Clients { viewer { email } clients(first: 5) { totalCount } }"


@pytest.fixture
async def server_url(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[str]:
    """The app on a real uvicorn server on a free port, against the test database."""
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "uvicorn stopped while starting"
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


class DevTools:
    """The few DevTools protocol calls the test needs, on one page session."""

    def __init__(self, socket: Any) -> None:
        self._socket = socket
        self._last_id = 0
        self.session: str | None = None

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        await self._socket.send(json.dumps(message))
        while True:  # events arrive in between; only our answer matters
            reply = json.loads(await self._socket.recv())
            if reply.get("id") == self._last_id:
                assert "error" not in reply, reply["error"]
                result: dict[str, Any] = reply["result"]
                return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    async def wait_for(self, expression: str) -> Any:
        for _ in range(WAIT_SECONDS * 10):
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {expression}: {value}")

    async def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element."""
        x, y = await self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            await self.call(
                "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1
            )


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[DevTools]:
    executable = next((found for name in BROWSERS if (found := shutil.which(name))), None)
    if executable is None:
        pytest.skip("no Chromium on this machine: `apt-get install chromium` (.ci/run does)")
    process = await asyncio.create_subprocess_exec(
        executable,
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--no-first-run",
        "--remote-debugging-port=0",
        f"--user-data-dir={tmp_path / 'profile'}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        address = ""
        while not address.startswith("ws://"):
            line = (await asyncio.wait_for(process.stderr.readline(), WAIT_SECONDS)).decode()
            assert line, "Chromium exited before opening its DevTools port"
            address = line.partition("DevTools listening on ")[2].strip()
        async with websockets.connect(address, max_size=None) as socket:
            yield DevTools(socket)
    finally:
        process.terminate()
        await process.wait()


async def press_run(page: DevTools, query: str) -> None:
    """Put `query` in the editor and press Run."""
    editor = "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror"
    await page.evaluate(f"{editor}.setValue({json.dumps(query)})")
    # GraphiQL reads the operation name from the editor after a short debounce, as a typist
    # would let it; pressing Run at once would send the previous operation's name.
    await asyncio.sleep(0.5)
    await page.click(".graphiql-execute-button")


async def result_with(page: DevTools, expect: str) -> Any:
    """The result pane, once it has `expect`."""
    result = "document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()"
    text = await page.wait_for(
        f"(() => {{ const t = {result}; return t.includes({json.dumps(expect)}) && t; }})()"
    )
    return json.loads(text)


async def run_in_graphiql(page: DevTools, query: str, expect: str) -> Any:
    """Put `query` in the editor, press Run, and return the result pane once it has `expect`."""
    await press_run(page, query)
    return await result_with(page, expect)


async def logged_in_page(server_url: str, browser: DevTools, conn: asyncpg.Connection) -> None:
    """GraphiQL open in the browser, logged in as an ADMIN staff member through its editor."""
    await create_staff(
        conn,
        email="browser@staff.example.com",
        password="browser-password",
        first_name="Bea",
        last_name="Browser",
        role=StaffRole.ADMIN,
    )
    target = await browser.call("Target.createTarget", url=f"{server_url}/graphql")
    attached = await browser.call(
        "Target.attachToTarget", targetId=target["targetId"], flatten=True
    )
    browser.session = attached["sessionId"]
    await browser.wait_for("!!document.querySelector('.graphiql-query-editor .CodeMirror')")

    login = await run_in_graphiql(browser, LOGIN, '"login"')
    assert login["data"]["login"] == {
        "viewer": {"kind": "STAFF", "email": "browser@staff.example.com"},
        "errors": [],
    }


async def test_graphiql_logs_in_and_runs_a_query_in_headless_chromium(
    server_url: str, browser: DevTools, conn: asyncpg.Connection
) -> None:
    await logged_in_page(server_url, browser, conn)
    # The HttpOnly cookie the login set is what authenticates this one.
    clients = await run_in_graphiql(browser, CLIENTS, '"clients"')
    assert clients["data"] == {
        "viewer": {"email": "browser@staff.example.com"},
        "clients": {"totalCount": 0},
    }


async def test_graphiql_runs_a_subscription_and_shows_its_events_in_headless_chromium(
    server_url: str, browser: DevTools, conn: asyncpg.Connection
) -> None:
    await logged_in_page(server_url, browser, conn)
    seen = await conn.fetchval("SELECT COALESCE(max(id), 0) FROM events")
    # Over GraphiQL's WebSocket, authenticated by the same cookie; `after` spares a race with
    # the subscription's start.
    await press_run(
        browser,
        f'subscription Watch {{ clientEvents(after: "{seen}") {{ kind client {{ firstName }} }} }}',
    )
    await add_client(conn, first_name="Streamed", email="streamed@example.com")
    event = await result_with(browser, "Streamed")
    assert event["data"]["clientEvents"] == {"kind": "CREATED", "client": {"firstName": "Streamed"}}
