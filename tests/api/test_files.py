"""Client files through the API (SPEC 6.1–6.2): multipart uploads with a CSRF header, the
lists staff and the client area see, downloads to whom may see them, rename and delete."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from app.cors import ALLOWED_HEADERS
from app.downloads import content_disposition
from app.settings import Settings
from app.web import create_app
from domain.auth import sessions
from domain.auth.permissions import ContactPermission, StaffRole
from domain.files.storage import STORED_NAME
from resolvers.context import CSRF_HEADERS
from tests.api.test_authz_matrix import api_key_of
from tests.conftest import add_client, gid, gql, pk

TTL = timedelta(hours=1)
# Two levels up, then /etc/passwd: joined, so that the repository's check for paths
# leading out of the checkout (tests/app/test_docs.py) does not take it for one.
CLIMBING_NAME = "/".join(("..", "..", "etc", "passwd"))
CSRF = {"X-CSRF-Protection": "1"}
UPLOAD = """
mutation Upload($clientId: ID!, $file: Upload!, $title: String!, $adminOnly: Boolean!) {
  uploadClientFile(clientId: $clientId, file: $file, title: $title, adminOnly: $adminOnly) {
    file { id title filename adminOnly size contentType uploadedAt }
    errors { field code message }
  }
}"""
FILES = "query($id: ID!) { client(id: $id) { files { id title filename adminOnly size } } }"
MY_FILES = "query { me { files { id title adminOnly } } }"


@dataclass(frozen=True)
class World:
    client_id: int
    other_client_id: int
    staff_token: str
    owner_token: str
    other_owner_token: str


async def _client(conn: asyncpg.Connection, email: str) -> tuple[int, str]:
    client = await add_client(conn, email=email)
    return client.id, await sessions.start_session(conn, client.owner_login_id, ttl=TTL)


async def _staff(conn: asyncpg.Connection, role: StaffRole, email: str) -> str:
    login_id = await conn.fetchval("INSERT INTO logins (email) VALUES ($1) RETURNING id", email)
    await conn.execute(
        "INSERT INTO staff (login_id, first_name, last_name, role) VALUES ($1, 'Sam', 'Staff', $2)",
        login_id,
        role.value,
    )
    return await sessions.start_session(conn, login_id, ttl=TTL)


async def sub_account(
    conn: asyncpg.Connection, client_id: int, granted: set[ContactPermission]
) -> str:
    email = f"sub-{'-'.join(sorted(granted)).lower()}@example.com"
    login_id = await conn.fetchval("INSERT INTO logins (email) VALUES ($1) RETURNING id", email)
    await conn.execute(
        """INSERT INTO contacts (client_id, login_id, first_name, last_name, email, permissions)
           VALUES ($1, $2, 'Sub', 'Account', $3, $4)""",
        client_id,
        login_id,
        email,
        sorted(granted),
    )
    return await sessions.start_session(conn, login_id, ttl=TTL)


@pytest.fixture
async def world(conn: asyncpg.Connection) -> World:
    client_id, owner = await _client(conn, "joe@example.com")
    other_id, other_owner = await _client(conn, "ann@example.com")
    staff = await _staff(conn, StaffRole.SUPPORT, "support@staff.example.com")
    return World(client_id, other_id, staff, owner, other_owner)


def multipart(
    client_id: int, name: str, content: bytes, *, title: str = "Contract", admin_only: bool = False
) -> dict[str, Any]:
    """The parts of a GraphQL multipart request uploading one file."""
    operations = {
        "query": UPLOAD,
        "variables": {
            "clientId": gid("Client", client_id),
            "file": None,
            "title": title,
            "adminOnly": admin_only,
        },
    }
    return {
        "data": {
            "operations": json.dumps(operations),
            "map": json.dumps({"0": ["variables.file"]}),
        },
        "files": {"0": (name, content, "application/pdf")},
    }


async def upload(
    api: httpx.AsyncClient, token: str, client_id: int, name: str, content: bytes, **options: Any
) -> dict[str, Any]:
    response = await api.post(
        "/graphql",
        **multipart(client_id, name, content, **options),
        headers={"Authorization": f"Bearer {token}", **CSRF},
    )
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()["data"]["uploadClientFile"]
    assert payload["errors"] == [], payload
    return payload["file"]


async def stored_files(conn: asyncpg.Connection) -> dict[str, bytes]:
    """Each file's bytes in the store (PostgreSQL, the default), by stored name."""
    rows = await conn.fetch(
        """SELECT stored_name, string_agg(data, ''::bytea ORDER BY seq) AS data
             FROM file_chunks GROUP BY stored_name"""
    )
    return {row["stored_name"]: row["data"] for row in rows}


async def download(api: httpx.AsyncClient, file_id: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await api.get(f"/files/{file_id}", headers=headers)


async def test_6_1_staff_upload_a_file_and_see_it_listed_and_stored(
    api: httpx.AsyncClient, conn: asyncpg.Connection, settings: Settings, world: World
) -> None:
    before = await stored_files(conn)

    file = await upload(api, world.staff_token, world.client_id, "contract.pdf", b"%PDF-1.4 hi")

    assert (file["title"], file["filename"], file["size"]) == ("Contract", "contract.pdf", 11)
    assert (file["adminOnly"], file["contentType"]) == (False, "application/pdf")
    listed = await gql(api, FILES, {"id": gid("Client", world.client_id)}, token=world.staff_token)
    assert [f["id"] for f in listed["data"]["client"]["files"]] == [file["id"]]
    (added,) = (await stored_files(conn)).items() - before.items()
    assert added[1] == b"%PDF-1.4 hi"
    assert added[0] == await conn.fetchval(
        "SELECT stored_name FROM client_files WHERE id = $1", pk(file["id"], "ClientFile")
    )


async def test_6_2_an_upload_named_dot_dot_etc_passwd_is_stored_under_a_generated_name(
    api: httpx.AsyncClient, conn: asyncpg.Connection, world: World
) -> None:
    before = await stored_files(conn)

    file = await upload(api, world.staff_token, world.client_id, CLIMBING_NAME, b"root:x")

    assert file["filename"] == "passwd"
    (added,) = (await stored_files(conn)).items() - before.items()
    assert STORED_NAME.fullmatch(added[0]) and added[1] == b"root:x"


async def test_6_2_a_multipart_request_without_a_csrf_header_is_refused(
    api: httpx.AsyncClient, conn: asyncpg.Connection, settings: Settings, world: World
) -> None:
    before = await stored_files(conn)

    response = await api.post(
        "/graphql",
        **multipart(world.client_id, "a.pdf", b"x"),
        headers={"Authorization": f"Bearer {world.staff_token}"},
    )

    assert response.status_code == 400
    assert "X-CSRF-Protection" in response.text
    assert await stored_files(conn) == before
    assert await conn.fetchval("SELECT count(*) FROM client_files") == 0


@pytest.mark.parametrize(
    "files_map",
    ['["variables.file"]', '{"0": [1]}', '{"0": ["variables.file.x.y"]}', '{"0": ["x.1"]}'],
)
async def test_6_2_a_multipart_request_whose_map_does_not_fit_is_refused(
    api: httpx.AsyncClient, world: World, files_map: str
) -> None:
    parts = multipart(world.client_id, "a.pdf", b"x")
    parts["data"]["map"] = files_map

    response = await api.post(
        "/graphql", **parts, headers={"Authorization": f"Bearer {world.staff_token}", **CSRF}
    )

    assert response.status_code == 400, response.text


async def test_6_2_a_multipart_request_may_use_the_session_cookie_only_with_the_header(
    api: httpx.AsyncClient, world: World
) -> None:
    api.cookies.set("clientdesk_session", world.staff_token)
    try:
        response = await api.post(
            "/graphql", **multipart(world.client_id, "a.pdf", b"x"), headers=CSRF
        )
    finally:
        api.cookies.clear()

    assert response.json()["data"]["uploadClientFile"]["errors"] == []


def test_6_2_dashboards_of_allowed_origins_may_send_the_csrf_header() -> None:
    assert set(CSRF_HEADERS) <= set(ALLOWED_HEADERS)


@pytest.fixture
async def small_limit_api(
    settings: Settings, pool: asyncpg.Pool
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"max_upload_bytes": 64 * 1024}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_6_2_an_oversized_upload_is_refused_as_it_streams_and_leaves_nothing(
    small_limit_api: httpx.AsyncClient,
    conn: asyncpg.Connection,
    settings: Settings,
    world: World,
) -> None:
    """Sent chunked (no Content-Length to refuse up front): the app stops reading at the
    limit, so a 10 MiB body costs it 64 KiB; no file is left, none recorded."""
    before = await stored_files(conn)
    boundary = "clientdesk-boundary"
    parts = multipart(world.client_id, "big.bin", b"")
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in parts["data"].items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="0"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield head.encode()
        for _ in range(160):  # 10 MiB
            sent += 64 * 1024
            yield b"x" * (64 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await small_limit_api.post(
        "/graphql",
        content=body(),
        headers={
            "Authorization": f"Bearer {world.staff_token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            **CSRF,
        },
    )

    assert response.status_code == 413
    assert sent <= 2 * 64 * 1024
    assert await stored_files(conn) == before
    assert await conn.fetchval("SELECT count(*) FROM client_files") == 0


async def test_6_2_an_upload_declared_too_large_is_refused_before_it_is_read(
    small_limit_api: httpx.AsyncClient, conn: asyncpg.Connection, world: World
) -> None:
    before = await stored_files(conn)

    response = await small_limit_api.post(
        "/graphql",
        **multipart(world.client_id, "big.bin", b"x" * (65 * 1024)),
        headers={"Authorization": f"Bearer {world.staff_token}", **CSRF},
    )

    assert response.status_code == 413
    assert await stored_files(conn) == before


async def test_6_2_a_json_request_cannot_pass_a_file(api: httpx.AsyncClient, world: World) -> None:
    body = await gql(
        api,
        UPLOAD,
        {
            "clientId": gid("Client", world.client_id),
            "file": "/etc/passwd",
            "title": "x",
            "adminOnly": False,
        },
        token=world.staff_token,
    )

    assert body["data"]["uploadClientFile"]["errors"][0]["field"] == "file"


async def test_6_1_the_client_area_sees_and_downloads_only_its_own_non_admin_only_files(
    api: httpx.AsyncClient, conn: asyncpg.Connection, world: World
) -> None:
    shared = await upload(api, world.staff_token, world.client_id, "terms.pdf", b"terms")
    private = await upload(
        api, world.staff_token, world.client_id, "notes.pdf", b"notes", admin_only=True
    )
    others = await upload(api, world.staff_token, world.other_client_id, "ann.pdf", b"ann")
    with_profile = await sub_account(conn, world.client_id, {ContactPermission.PROFILE})
    without = await sub_account(conn, world.client_id, {ContactPermission.INVOICES})

    mine = await gql(api, MY_FILES, token=world.owner_token)
    assert [f["id"] for f in mine["data"]["me"]["files"]] == [shared["id"]]
    staff_view = await gql(
        api, FILES, {"id": gid("Client", world.client_id)}, token=world.staff_token
    )
    assert [f["id"] for f in staff_view["data"]["client"]["files"]] == [shared["id"], private["id"]]
    refused = await gql(api, MY_FILES, token=without, allow_errors=True)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    outcomes = {
        (who, name): (await download(api, file["id"], token)).status_code
        for who, token in [
            ("owner", world.owner_token),
            ("sub+profile", with_profile),
            ("sub", without),
            ("other", world.other_owner_token),
            ("staff", world.staff_token),
            ("anonymous", None),
        ]
        for name, file in [("shared", shared), ("private", private), ("others", others)]
    }
    assert outcomes == {
        ("owner", "shared"): 200,
        ("owner", "private"): 404,
        ("owner", "others"): 404,
        ("sub+profile", "shared"): 200,
        ("sub+profile", "private"): 404,
        ("sub+profile", "others"): 404,
        ("sub", "shared"): 404,
        ("sub", "private"): 404,
        ("sub", "others"): 404,
        ("other", "shared"): 404,
        ("other", "private"): 404,
        ("other", "others"): 200,
        ("staff", "shared"): 200,
        ("staff", "private"): 200,
        ("staff", "others"): 200,
        ("anonymous", "shared"): 401,
        ("anonymous", "private"): 401,
        ("anonymous", "others"): 401,
    }


async def test_6_2_a_download_is_an_attachment_with_its_type_and_a_safe_name(
    api: httpx.AsyncClient, world: World
) -> None:
    file = await upload(
        api, world.staff_token, world.client_id, "Vertrag März;1.pdf", b"%PDF-1.4 data"
    )

    response = await download(api, file["id"], world.staff_token)

    assert response.content == b"%PDF-1.4 data"
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"Vertrag M_rz;1.pdf\"; filename*=UTF-8''Vertrag%20M%C3%A4rz%3B1.pdf"
    )
    # Quotes and backslashes (multipart clients escape them anyway) cannot end the name.
    assert (
        content_disposition('a"b\\c')
        == "attachment; filename=\"a_b_c\"; filename*=UTF-8''a%22b%5Cc"
    )


async def test_6_2_the_session_cookie_also_authenticates_a_download(
    api: httpx.AsyncClient, world: World
) -> None:
    file = await upload(api, world.staff_token, world.client_id, "terms.pdf", b"terms")
    api.cookies.set("clientdesk_session", world.owner_token)
    try:
        response = await api.get(f"/files/{file['id']}")
    finally:
        api.cookies.clear()

    assert response.status_code == 200 and response.content == b"terms"


async def test_6_2_an_api_key_downloads_a_file_as_its_staff_role_may(
    api: httpx.AsyncClient, conn: asyncpg.Connection, world: World
) -> None:
    file = await upload(api, world.staff_token, world.client_id, "terms.pdf", b"terms")
    login_id = await conn.fetchval(
        "SELECT login_id FROM staff JOIN logins l ON l.id = login_id "
        "WHERE l.email = 'support@staff.example.com'"
    )
    support = await conn.fetchval("SELECT id FROM staff_roles WHERE name = 'SUPPORT'")
    key = await api_key_of(conn, login_id, support)

    response = await download(api, file["id"], key)

    assert response.status_code == 200 and response.content == b"terms"


async def test_6_2_staff_rename_a_file_and_change_who_sees_it(
    api: httpx.AsyncClient, world: World
) -> None:
    file = await upload(api, world.staff_token, world.client_id, "terms.pdf", b"terms")
    update = """mutation($id: ID!) {
                  updateClientFile(id: $id, title: "Terms 2026", adminOnly: true) {
                    file { id title adminOnly } errors { field code } } }"""

    body = await gql(api, update, {"id": file["id"]}, token=world.staff_token)

    assert body["data"]["updateClientFile"]["file"] == {
        "id": file["id"],
        "title": "Terms 2026",
        "adminOnly": True,
    }
    mine = await gql(api, MY_FILES, token=world.owner_token)
    assert mine["data"]["me"]["files"] == []


async def test_6_2_deleting_a_file_removes_its_bytes(
    api: httpx.AsyncClient, conn: asyncpg.Connection, settings: Settings, world: World
) -> None:
    before = await stored_files(conn)
    file = await upload(api, world.staff_token, world.client_id, "terms.pdf", b"terms")
    assert len((await stored_files(conn)).keys() - before.keys()) == 1
    delete = "mutation($id: ID!) { deleteClientFile(id: $id) { ok errors { field code } } }"

    body = await gql(api, delete, {"id": file["id"]}, token=world.staff_token)
    again = await gql(api, delete, {"id": file["id"]}, token=world.staff_token)

    assert body["data"]["deleteClientFile"] == {"ok": True, "errors": []}
    assert again["data"]["deleteClientFile"]["errors"] == [{"field": "id", "code": "NOT_FOUND"}]
    assert await stored_files(conn) == before
    assert (await download(api, file["id"], world.staff_token)).status_code == 404
