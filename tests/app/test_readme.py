"""The README's GraphQL examples run as written, in order, against the app.

Conventions (stated in the README): `<the printed password>` is the admin password `make dev`
prints, and an operation that needs an id takes it as a variable `$<object>Id`, filled from the
`id` of the last `<object> { id }` an earlier example returned (`$clientId` from
`addClient { client { id } }`). Ids are never written into the examples.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from graphql import OperationDefinitionNode, parse

from domain.auth.permissions import StaffRole
from domain.auth.staff import create_staff
from domain.automation import runs
from tests.world import RUN_TOOLS

README = Path(__file__).resolve().parents[2] / "README.md"
ADMIN_PASSWORD = "readme-admin-password"
PASSWORD_PLACEHOLDER = "<the printed password>"


def readme_operations() -> list[tuple[str, str, list[str]]]:
    """(document, operation name, variable names) of every operation, in README order."""
    operations = []
    for block in re.findall(r"^```graphql\n(.*?)^```", README.read_text(), re.S | re.M):
        document = block.replace(PASSWORD_PLACEHOLDER, ADMIN_PASSWORD)
        written_ids = re.findall(r'\b\w*(?:id|Id)\s*:\s*"[^"]*"', document)
        assert written_ids == [], "ids change format; take them from earlier results"
        for node in parse(document).definitions:
            assert isinstance(node, OperationDefinitionNode) and node.name, block
            names = [v.variable.name.value for v in node.variable_definitions or ()]
            operations.append((document, node.name.value, names))
    return operations


def remember_ids(value: Any, known: dict[str, str]) -> None:
    """Record `<key>Id` for every `<key>: {id: …}` object of a result, depth first."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                known[f"{key}Id"] = item["id"]
            remember_ids(item, known)
    elif isinstance(value, list):
        for item in value:
            remember_ids(item, known)


def payload_errors(data: dict[str, Any]) -> list[Any]:
    return [
        e
        for payload in data.values()
        if isinstance(payload, dict)
        for e in payload.get("errors", [])
    ]


async def test_every_graphql_example_of_the_readme_runs_in_order(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    await create_staff(
        conn,
        email="admin@localhost",
        password=ADMIN_PASSWORD,
        first_name="Admin",
        last_name="User",
        role=StaffRole.ADMIN,
    )
    # A day's run, as every installation has after its first day: the list of runs has one.
    await runs.perform_run(conn, date.today(), RUN_TOOLS)
    operations = readme_operations()
    assert len(operations) >= 5
    known: dict[str, str] = {}
    for document, name, variable_names in operations:
        missing = [v for v in variable_names if v not in known]
        assert missing == [], f"README example {name} needs ${missing[0]}; none came before"
        # The session cookie the LogIn example sets authenticates the rest, as in GraphiQL.
        response = await api.post(
            "/graphql",
            json={
                "query": document,
                "operationName": name,
                "variables": {v: known[v] for v in variable_names},
            },
        )
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, (name, body)
        assert payload_errors(body["data"]) == [], (name, body["data"])
        remember_ids(body["data"], known)
    assert {"clientId", "contactId"} <= set(known)
