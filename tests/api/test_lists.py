"""Every list of the API with rows in it (tests/world.py), through the API: each has rows,
and each paged list pages forward to a second page and back. An empty list hid that the
automation runs' list failed on its first row."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from graphql import (
    GraphQLSchema,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_schema,
    get_named_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    parse,
    visit,
)

from domain.auth import sessions
from tests.conftest import gid, gql
from tests.world import EVERY_LIST, World, empty_lists, every_list_variables

TTL = timedelta(hours=1)
# Each paged list: its root field and arguments, and how to tell its items apart.
PAGED = {
    "clients": ("clients", "", "id"),
    "auditLog": ("auditLog", "", "id"),
    "auditLog of a client": ("auditLog", "clientId: $client", "id"),
    "automationRuns": ("automationRuns", "", "asOf"),
    "transactions": ("transactions", "", "id"),
    "transactions of a client": ("transactions", "clientId: $client", "id"),
    "failedEmails": ("failedEmails", "", "id"),
    "invoices": ("invoices", "", "id"),
    "invoices of a client": ("invoices", "clientId: $client", "id"),
    "services": ("services", "", "id"),
    "tickets": ("tickets", "", "id"),
    "products": ("products", "", "id"),
    "cancellationRequests": ("cancellationRequests", "", "id"),
}


async def token_of(conn: asyncpg.Connection, world: World, role: str) -> str:
    return await sessions.start_session(conn, world.login_ids[role], ttl=TTL)


def list_fields(schema: GraphQLSchema) -> set[str]:
    """Every list field (`Type.field`) of the object types a query reaches."""
    found, seen, reaching = set(), set(), ["Query"]
    while reaching:
        name = reaching.pop()
        if name in seen:
            continue
        seen.add(name)
        kind = schema.type_map[name]
        if not hasattr(kind, "fields"):
            continue
        if not is_object_type(kind):  # an interface: what implements it
            reaching += [o.name for o in schema.get_implementations(kind).objects]  # type: ignore[arg-type]
        for field_name, field in kind.fields.items():
            of = field.type.of_type if is_non_null_type(field.type) else field.type
            if is_list_type(of) and is_object_type(kind):
                found.add(f"{name}.{field_name}")
            reaching.append(get_named_type(field.type).name)
    return found


def selected_fields(schema: GraphQLSchema, document: str) -> set[str]:
    """Every field (`Type.field`) a document selects."""
    type_info = TypeInfo(schema)
    found: set[str] = set()

    class Fields(Visitor):
        def enter_field(self, *_: Any) -> None:
            parent = type_info.get_parent_type()
            definition = type_info.get_field_def()
            if parent is not None and definition is not None:
                name = next(n for n, f in parent.fields.items() if f is definition)  # type: ignore[union-attr]
                found.add(f"{parent.name}.{name}")

    visit(parse(document), TypeInfoVisitor(type_info, Fields()))
    return found


def test_the_query_of_every_list_selects_every_list_of_the_schema() -> None:
    with open("schema.graphql") as sdl:
        schema = build_schema(sdl.read())

    assert list_fields(schema) - selected_fields(schema, EVERY_LIST) == set()


async def test_every_list_has_rows_in_the_world_and_reads_without_error(
    api: httpx.AsyncClient, conn: asyncpg.Connection, world: World
) -> None:
    token = await token_of(conn, world, "staff")

    body = await gql(api, EVERY_LIST, every_list_variables(world), token=token)

    assert empty_lists(body["data"]) == []


async def test_the_client_areas_lists_have_rows(
    api: httpx.AsyncClient, conn: asyncpg.Connection, world: World
) -> None:
    mine = """{ me { emails { id } creditLog { id } services { id } addons { id } domains { id }
                     invoices { id items { description } } transactions { id }
                     contacts { id permissions } tickets { id messages { id } } files { id }
                     quotes { id lines { description } }
                     affiliate { balance { amount } referrals { referredAt }
                                 commissions { amount } } } }"""

    for role in ("client", "sub-account"):
        body = await gql(api, mine, token=await token_of(conn, world, role))
        assert empty_lists(body["data"]) == [], role


async def test_an_orders_items_are_listed(
    api: httpx.AsyncClient, conn: asyncpg.Connection, world: World
) -> None:
    place = """mutation($client: ID!) {
      placeOrder(clientId: $client, input: {items: [{kind: SERVICE, name: "VPS", amount: "5.00"}]})
      { order { items { kind name status } } errors { code } } }"""

    body = await gql(
        api,
        place,
        {"client": gid("Client", world.other_client_id)},
        token=await token_of(conn, world, "staff"),
    )

    assert body["data"]["placeOrder"]["order"]["items"] == [
        {"kind": "SERVICE", "name": "VPS", "status": "PENDING"}
    ]


@pytest.mark.parametrize("paged", list(PAGED))
async def test_a_paged_list_pages_to_its_second_page_and_back(
    api: httpx.AsyncClient, conn: asyncpg.Connection, world: World, paged: str
) -> None:
    field, arguments, key = PAGED[paged]
    given = f"{arguments}, " if arguments else ""
    variables = "$client: ID!, " if arguments else ""
    page = f"""query({variables}$first: Int, $after: String, $last: Int, $before: String) {{
      {field}({given}first: $first, after: $after, last: $last, before: $before) {{
        edges {{ node {{ {key} }} }}
        pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
      }}
    }}"""
    token = await token_of(conn, world, "staff")
    client = {"client": gid("Client", world.client_id)} if arguments else {}

    async def read(**paging: Any) -> dict[str, Any]:
        body = await gql(api, page, {**client, **paging}, token=token)
        connection: dict[str, Any] = body["data"][field]
        return connection

    first = await read(first=1)
    second = await read(first=1, after=first["pageInfo"]["endCursor"])
    back = await read(last=1, before=second["pageInfo"]["startCursor"])

    def items(connection: dict[str, Any]) -> list[Any]:
        return [edge["node"][key] for edge in connection["edges"]]

    assert len(items(first)) == len(items(second)) == 1
    assert items(first) != items(second)
    assert first["pageInfo"]["hasNextPage"] and second["pageInfo"]["hasPreviousPage"]
    assert items(back) == items(first)
