"""Billing through GraphQL: orders, statuses, invoices, payments, the payment method, currency,
the staff session's service status filter, client-area billing fields, tax rules and the
billing settings (SPEC 1.5, 1.6, 1.9, 3.4, 3.5, 9.5).

Sessions are opened on the domain directly, so that argon2 does not dominate the run time.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from domain.auth import sessions
from domain.auth.permissions import ContactPermission, StaffRole
from domain.billing import generation
from domain.contacts import services as contact_services
from tests.api.test_credit import open_staff_session, payload_of
from tests.conftest import CountedApi, add_client, gid, gql

TTL = timedelta(hours=1)
ERRORS = "errors { field code message }"
INVOICE = """id number status dueDate subtotal taxRate tax total credit amountPaid balance
    paymentMethod billedTo { name companyName address { city country } }
    items { description amount taxed }"""
PLACE_ORDER = f"""
mutation PlaceOrder($clientId: ID!, $input: OrderInput!, $key: String) {{
  placeOrder(clientId: $clientId, input: $input, idempotencyKey: $key) {{
    order {{ id status currency paymentMethod items {{ kind id name status }}
             invoice {{ {INVOICE} }} }}
    {ERRORS}
  }}
}}"""
ACCEPT_ORDER = f"""
mutation AcceptOrder($id: ID!) {{
  acceptOrder(id: $id) {{ order {{ id status items {{ kind status }} }} {ERRORS} }}
}}"""
SET_SERVICE_STATUS = f"""
mutation SetServiceStatus($id: ID!, $status: ServiceStatus!) {{
  setServiceStatus(id: $id, status: $status) {{ service {{ id kind status }} {ERRORS} }}
}}"""
SET_DOMAIN_STATUS = f"""
mutation SetDomainStatus($id: ID!, $status: DomainStatus!) {{
  setDomainStatus(id: $id, status: $status) {{ domain {{ id name status }} {ERRORS} }}
}}"""
CREATE_INVOICE = f"""
mutation CreateInvoice($clientId: ID!, $input: InvoiceInput!, $key: String) {{
  createInvoice(clientId: $clientId, input: $input, idempotencyKey: $key) {{
    invoice {{ {INVOICE} }} {ERRORS}
  }}
}}"""
RECORD_PAYMENT = f"""
mutation RecordPayment($invoiceId: ID!, $amount: Decimal!, $gateway: String!,
                       $transactionId: String, $fees: Decimal = "0", $key: String) {{
  recordPayment(invoiceId: $invoiceId, amount: $amount, gateway: $gateway,
                transactionId: $transactionId, fees: $fees, idempotencyKey: $key) {{
    invoice {{ id status balance amountPaid }}
    transaction {{ id gateway transactionId amount fees currency invoiceId clientId }}
    {ERRORS}
  }}
}}"""
SET_PAYMENT_METHOD = f"""
mutation SetClientPaymentMethod($id: ID!, $paymentMethod: String!) {{
  setClientPaymentMethod(id: $id, paymentMethod: $paymentMethod) {{
    client {{ defaultPaymentMethod services {{ paymentMethod }} domains {{ paymentMethod }}
             invoices {{ status paymentMethod }} }}
    {ERRORS}
  }}
}}"""
CLIENT_BILLING = """
query ClientBilling($id: ID!, $statuses: [ServiceStatus!]) {
  client(id: $id) {
    creditBalance
    services(statuses: $statuses) { name status }
    addons { name kind }
    domains { name status }
    invoices { number status total balance }
    transactions { amount gateway }
  }
}"""
SERVICES = """
query Services($id: ID!, $statuses: [ServiceStatus!]) {
  client(id: $id) { services(statuses: $statuses) { name } }
}"""
TRANSACTIONS = """
query Transactions($clientId: ID, $first: Int = 50, $after: String) {
  transactions(clientId: $clientId, first: $first, after: $after) {
    edges { cursor node { amount clientId } } pageInfo { hasNextPage endCursor }
  }
}"""


@pytest.fixture
async def staff_token(conn: asyncpg.Connection) -> str:
    return await open_staff_session(conn, StaffRole.BILLING, "billing@staff.example.com")


def codes(payload: dict[str, Any]) -> set[tuple[str | None, str]]:
    return {(e["field"], e["code"]) for e in payload["errors"]}


def order_input(*lines: tuple[str, str, str], **extra: Any) -> dict[str, Any]:
    return {
        "items": [{"kind": kind, "name": name, "amount": amount} for kind, name, amount in lines],
        **extra,
    }


async def place(
    api: httpx.AsyncClient, token: str, client_pk: int, *lines: tuple[str, str, str], **extra: Any
) -> dict[str, Any]:
    key = extra.pop("key", None)
    return await payload_of(
        api,
        token,
        PLACE_ORDER,
        clientId=gid("Client", client_pk),
        input=order_input(*lines, **extra),
        key=key,
    )


async def test_orders_are_placed_with_their_invoice_and_accepted(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn, city="London", country="GB")

    placed = await place(
        api,
        staff_token,
        client.id,
        ("SERVICE", "Hosting", "10"),
        ("ADDON", "Backups", "2.5"),
        ("DOMAIN", "example.com", "12.00"),
        paymentMethod="banktransfer",
    )

    assert placed["errors"] == []
    order = placed["order"]
    assert (order["status"], order["currency"], order["paymentMethod"]) == (
        "PENDING",
        "USD",
        "banktransfer",
    )
    assert [(i["kind"], i["name"], i["status"]) for i in order["items"]] == [
        ("SERVICE", "Hosting", "PENDING"),
        ("ADDON", "Backups", "PENDING"),
        ("DOMAIN", "example.com", "PENDING"),
    ]
    invoice = order["invoice"]
    assert (invoice["status"], invoice["subtotal"], invoice["total"], invoice["balance"]) == (
        "UNPAID",
        "24.50",
        "24.50",
        "24.50",
    )
    assert invoice["billedTo"] == {
        "name": "Joe Bloggs",
        "companyName": None,
        "address": {"city": "London", "country": "GB"},
    }
    assert [item["amount"] for item in invoice["items"]] == ["10.00", "2.50", "12.00"]

    accepted = await payload_of(api, staff_token, ACCEPT_ORDER, id=order["id"])
    assert accepted["order"]["status"] == "ACCEPTED"
    assert [i["status"] for i in accepted["order"]["items"]] == ["ACTIVE"] * 3
    body = await gql(api, CLIENT_BILLING, {"id": gid("Client", client.id)}, token=staff_token)
    assert body["data"]["client"] == {
        "creditBalance": "0.00",
        "services": [{"name": "Hosting", "status": "ACTIVE"}],
        "addons": [{"name": "Backups", "kind": "ADDON"}],
        "domains": [{"name": "example.com", "status": "ACTIVE"}],
        "invoices": [
            {"number": invoice["number"], "status": "UNPAID", "total": "24.50", "balance": "24.50"}
        ],
        "transactions": [],
    }
    again = await payload_of(api, staff_token, ACCEPT_ORDER, id=order["id"])
    assert codes(again) == {("id", "CONFLICT")}


async def test_orders_are_refused_per_field(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn)

    refused = await place(
        api, staff_token, client.id, ("SERVICE", "", "1.001"), paymentMethod="nosuch"
    )
    unknown = await place(api, staff_token, 404, ("SERVICE", "Hosting", "1"))

    assert refused["order"] is None
    assert codes(refused) == {
        ("items.0.name", "REQUIRED"),
        ("items.0.amount", "INVALID"),
        ("paymentMethod", "INVALID"),
    }
    assert codes(unknown) == {("clientId", "NOT_FOUND")}


async def test_service_addon_and_domain_status_are_set(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn)
    order = (
        await place(
            api,
            staff_token,
            client.id,
            ("SERVICE", "Hosting", "1"),
            ("ADDON", "Backups", "1"),
            ("DOMAIN", "a.com", "1"),
        )
    )["order"]
    service, addon, domain = (item["id"] for item in order["items"])

    suspended = await payload_of(api, staff_token, SET_SERVICE_STATUS, id=service, status="FRAUD")
    cancelled = await payload_of(api, staff_token, SET_SERVICE_STATUS, id=addon, status="CANCELLED")
    expired = await payload_of(api, staff_token, SET_DOMAIN_STATUS, id=domain, status="EXPIRED")
    not_a_service = await payload_of(
        api, staff_token, SET_SERVICE_STATUS, id=domain, status="ACTIVE"
    )

    assert suspended["service"] == {"id": service, "kind": "SERVICE", "status": "FRAUD"}
    assert cancelled["service"] == {"id": addon, "kind": "ADDON", "status": "CANCELLED"}
    assert expired["domain"] == {"id": domain, "name": "a.com", "status": "EXPIRED"}
    assert codes(not_a_service) == {("id", "NOT_FOUND")}


async def test_3_4_invoices_payments_and_overpayment_through_the_api(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn, currency="EUR")
    created = await payload_of(
        api,
        staff_token,
        CREATE_INVOICE,
        clientId=gid("Client", client.id),
        input={
            "items": [{"description": "Consulting", "amount": "100"}],
            "dueDate": "2030-01-31",
            "paymentMethod": "banktransfer",
        },
    )
    invoice = created["invoice"]
    assert (invoice["dueDate"], invoice["total"], invoice["paymentMethod"]) == (
        "2030-01-31",
        "100.00",
        "banktransfer",
    )

    part = await payload_of(
        api,
        staff_token,
        RECORD_PAYMENT,
        invoiceId=invoice["id"],
        amount="40",
        gateway="banktransfer",
        transactionId="BANK-1",
        fees="0.40",
    )
    rest = await payload_of(
        api, staff_token, RECORD_PAYMENT, invoiceId=invoice["id"], amount=90, gateway="mailin"
    )

    assert part["invoice"] == {
        "id": invoice["id"],
        "status": "UNPAID",
        "balance": "60.00",
        "amountPaid": "40.00",
    }
    assert part["transaction"]["transactionId"] == "BANK-1"
    assert (part["transaction"]["fees"], part["transaction"]["currency"]) == ("0.40", "EUR")
    assert part["transaction"]["invoiceId"] == invoice["id"]
    assert part["transaction"]["clientId"] == gid("Client", client.id)
    assert (rest["invoice"]["status"], rest["invoice"]["balance"]) == ("PAID", "0.00")
    body = await gql(
        api,
        "query($id: ID!) { invoice(id: $id) { status amountPaid } }",
        {"id": invoice["id"]},
        token=staff_token,
    )
    assert body["data"]["invoice"] == {"status": "PAID", "amountPaid": "100.00"}
    log = await gql(
        api,
        "query($id: ID!) { client(id: $id) { creditBalance creditLog { description amount } } }",
        {"id": gid("Client", client.id)},
        token=staff_token,
    )
    assert log["data"]["client"] == {
        "creditBalance": "30.00",
        "creditLog": [
            {"description": f"Credit for Overpayment of Invoice #{invoice['number']}",
             "amount": "30.00"}
        ],
    }  # fmt: skip


async def test_3_5_credit_is_applied_to_a_staff_invoice(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn)
    await gql(
        api,
        'mutation($id: ID!) { addCredit(clientId: $id, amount: "150", description: "Gift")'
        " { errors { code } } }",
        {"id": gid("Client", client.id)},
        token=staff_token,
    )

    created = await payload_of(
        api,
        staff_token,
        CREATE_INVOICE,
        clientId=gid("Client", client.id),
        input={"items": [{"description": "Setup", "amount": "100"}]},
    )

    assert (created["invoice"]["status"], created["invoice"]["credit"]) == ("PAID", "100.00")


async def test_money_mutations_with_an_idempotency_key_have_one_effect(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn)

    first = await place(api, staff_token, client.id, ("SERVICE", "Hosting", "10"), key="k-1")
    retry = await place(api, staff_token, client.id, ("SERVICE", "Hosting", "10.00"), key="k-1")
    other = await place(api, staff_token, client.id, ("SERVICE", "Hosting", "11"), key="k-1")
    paid = {
        "invoiceId": first["order"]["invoice"]["id"],
        "amount": "10",
        "gateway": "banktransfer",
        "key": "p-1",
    }
    payment = await payload_of(api, staff_token, RECORD_PAYMENT, **paid)
    payment_retry = await payload_of(api, staff_token, RECORD_PAYMENT, **paid)
    invoice_input = {"items": [{"description": "Setup", "amount": "5"}]}
    invoice = await payload_of(
        api, staff_token, CREATE_INVOICE, clientId=gid("Client", client.id),
        input=invoice_input, key="i-1",
    )  # fmt: skip
    invoice_retry = await payload_of(
        api, staff_token, CREATE_INVOICE, clientId=gid("Client", client.id),
        input=invoice_input, key="i-1",
    )  # fmt: skip

    assert retry["order"]["id"] == first["order"]["id"]
    assert codes(other) == {("idempotencyKey", "IDEMPOTENCY_CONFLICT")}
    assert payment_retry["transaction"] == payment["transaction"]
    assert payment_retry["errors"] == []
    assert invoice_retry["invoice"]["id"] == invoice["invoice"]["id"]
    counts = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM orders) AS orders,
                  (SELECT count(*) FROM transactions) AS transactions,
                  (SELECT count(*) FROM invoices) AS invoices"""
    )
    assert dict(counts) == {"orders": 1, "transactions": 1, "invoices": 2}


async def test_1_5_set_client_payment_method_through_the_api(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn)
    await place(
        api,
        staff_token,
        client.id,
        ("SERVICE", "Hosting", "10"),
        ("DOMAIN", "a.com", "10"),
        paymentMethod="banktransfer",
    )

    payload = await payload_of(
        api, staff_token, SET_PAYMENT_METHOD, id=gid("Client", client.id), paymentMethod="mailin"
    )
    refused = await payload_of(
        api, staff_token, SET_PAYMENT_METHOD, id=gid("Client", client.id), paymentMethod="nope"
    )

    assert payload["client"] == {
        "defaultPaymentMethod": "mailin",
        "services": [{"paymentMethod": "mailin"}],
        "domains": [{"paymentMethod": "mailin"}],
        "invoices": [{"status": "UNPAID", "paymentMethod": "mailin"}],
    }
    assert codes(refused) == {("paymentMethod", "INVALID")}


async def test_1_6_a_billed_clients_currency_is_refused_to_orders_and_update_client(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn)
    first = await place(api, staff_token, client.id, ("SERVICE", "Hosting", "10"), currency="EUR")
    later = await place(api, staff_token, client.id, ("SERVICE", "More", "1"), currency="GBP")

    changed = await payload_of(
        api,
        staff_token,
        """mutation($id: ID!) { updateClient(id: $id, input: {currency: "GBP"}) {
             client { currency { code } } warnings errors { field code } } }""",
        id=gid("Client", client.id),
    )

    assert first["order"]["currency"] == "EUR"
    assert codes(later) == {("currency", "CURRENCY_IN_USE")}
    assert codes(changed) == {("currency", "CURRENCY_IN_USE")}
    assert changed["client"] is None


async def test_1_9_the_service_status_filter_is_remembered_for_the_staff_session(
    api: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    first = await add_client(conn)
    second = await add_client(conn, email="second@example.com")
    for client in (first, second):
        order = (
            await place_as_admin(
                api, conn, client.id, ("SERVICE", "Active", "1"), ("SERVICE", "Pending", "1")
            )
        )["order"]
        await gql(
            api,
            SET_SERVICE_STATUS,
            {"id": order["items"][0]["id"], "status": "ACTIVE"},
            token=await admin_token(conn),
        )
    token = await open_staff_session(conn, StaffRole.SUPPORT, "support@staff.example.com")
    other_token = await open_staff_session(conn, StaffRole.READ_ONLY, "ro@staff.example.com")

    async def names(client_pk: int, tok: str, statuses: list[str] | None = None) -> list[str]:
        variables: dict[str, Any] = {"id": gid("Client", client_pk)}
        if statuses is not None:
            variables["statuses"] = statuses
        body = await gql(api, SERVICES, variables, token=tok)
        return [s["name"] for s in body["data"]["client"]["services"]]

    assert await names(first.id, token) == ["Active", "Pending"]  # nothing chosen: all
    assert await names(first.id, token, ["ACTIVE"]) == ["Active"]
    # Remembered for this session, on another client and in a later request...
    assert await names(second.id, token) == ["Active"]
    # ...but not for another staff member's session...
    assert await names(second.id, other_token) == ["Active", "Pending"]
    # ...and not beyond the session's end.
    login_id = await conn.fetchval(
        "SELECT id FROM logins WHERE email = 'support@staff.example.com'"
    )
    await sessions.end_session(conn, token)
    new_token = await sessions.start_session(conn, login_id, ttl=TTL)
    assert await names(second.id, new_token) == ["Active", "Pending"]


async def admin_token(conn: asyncpg.Connection) -> str:
    existing = await conn.fetchval(
        "SELECT l.id FROM logins l WHERE l.email = 'admin@staff.example.com'"
    )
    if existing is None:
        return await open_staff_session(conn, StaffRole.ADMIN, "admin@staff.example.com")
    return await sessions.start_session(conn, existing, ttl=TTL)


async def place_as_admin(
    api: httpx.AsyncClient, conn: asyncpg.Connection, client_pk: int, *lines: tuple[str, str, str]
) -> dict[str, Any]:
    return await place(api, await admin_token(conn), client_pk, *lines)


ME_BILLING = {
    "invoices": "query { me { invoices { number total } } }",
    "creditLog": "query { me { creditLog { amount } } }",
    "transactions": "query { me { transactions { amount } } }",
    "services": "query { me { services { name } addons { name } } }",
    "domains": "query { me { domains { name } } }",
}
NEEDS = {
    "invoices": ContactPermission.INVOICES,
    "creditLog": ContactPermission.INVOICES,
    "transactions": ContactPermission.INVOICES,
    "services": ContactPermission.PRODUCTS,
    "domains": ContactPermission.DOMAINS,
}


async def test_client_area_billing_fields_follow_the_sub_account_permissions(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn)
    await place(api, staff_token, client.id, ("SERVICE", "Hosting", "1"), ("DOMAIN", "a.com", "1"))
    owner = await sessions.start_session(conn, client.owner_login_id, ttl=TTL)
    contact = await contact_services.add_contact(
        conn,
        client.id,
        {
            "first_name": "Sub",
            "last_name": "Account",
            "email": "sub@example.com",
            "sub_account": True,
            "password": "sub-password-1",
            "permissions": [ContactPermission.INVOICES, ContactPermission.DOMAINS],
        },
        staff_id=None,
        may_grant_access=True,
    )
    assert contact.login_id is not None
    sub = await sessions.start_session(conn, contact.login_id, ttl=TTL)

    for field, document in ME_BILLING.items():
        as_owner = await gql(api, document, token=owner)
        assert as_owner["data"]["me"], field
        as_sub = await gql(api, document, token=sub, allow_errors=True)
        if NEEDS[field] in (ContactPermission.INVOICES, ContactPermission.DOMAINS):
            assert "errors" not in as_sub, field
        else:
            assert as_sub["errors"][0]["extensions"]["code"] == "FORBIDDEN", field
    body = await gql(api, ME_BILLING["invoices"], token=sub)
    assert body["data"]["me"]["invoices"][0]["total"] == "2.00"


async def test_transactions_are_paged_newest_first_and_filtered_by_client(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    client = await add_client(conn)
    other = await add_client(conn, email="other@example.com")
    for who, amount in ((client, "1"), (client, "2"), (other, "3"), (client, "4")):
        invoice = await payload_of(
            api,
            staff_token,
            CREATE_INVOICE,
            clientId=gid("Client", who.id),
            input={"items": [{"description": "X", "amount": "10"}]},
        )
        await payload_of(
            api,
            staff_token,
            RECORD_PAYMENT,
            invoiceId=invoice["invoice"]["id"],
            amount=amount,
            gateway="banktransfer",
        )

    page = (
        await gql(
            api, TRANSACTIONS, {"clientId": gid("Client", client.id), "first": 2}, token=staff_token
        )
    )["data"]["transactions"]
    after = page["pageInfo"]["endCursor"]
    rest = (
        await gql(
            api,
            TRANSACTIONS,
            {"clientId": gid("Client", client.id), "first": 2, "after": after},
            token=staff_token,
        )
    )["data"]["transactions"]
    everyone = (await gql(api, TRANSACTIONS, {}, token=staff_token))["data"]["transactions"]

    assert [e["node"]["amount"] for e in page["edges"]] == ["4.00", "2.00"]
    assert page["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["amount"] for e in rest["edges"]] == ["1.00"]
    assert rest["pageInfo"]["hasNextPage"] is False
    assert [e["node"]["amount"] for e in everyone["edges"]] == ["4.00", "3.00", "2.00", "1.00"]


async def test_tax_rules_are_managed_by_staff_with_the_settings_permission(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    admin = await admin_token(conn)
    set_rule = f"""mutation($input: TaxRuleInput!) {{
        setTaxRule(input: $input) {{ taxRule {{ id country state name rate }} {ERRORS} }} }}"""

    rule = await payload_of(
        api, admin, set_rule, input={"country": "gb", "name": "VAT", "rate": "20"}
    )
    refused = await payload_of(api, admin, set_rule, input={"country": "GB", "name": "", "rate": 0})
    billing_staff = await gql(
        api, set_rule, {"input": {"country": "GB", "name": "VAT", "rate": "5"}},
        token=staff_token, allow_errors=True,
    )  # fmt: skip
    listed = await gql(api, "query { taxRules { country name rate } }", token=staff_token)

    assert rule["taxRule"]["country"] == "GB" and rule["taxRule"]["state"] is None
    assert rule["taxRule"]["rate"] == "20.00"
    assert codes(refused) == {("name", "REQUIRED"), ("rate", "INVALID")}
    assert billing_staff["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert listed["data"]["taxRules"] == [{"country": "GB", "name": "VAT", "rate": "20.00"}]
    deleted = await payload_of(
        api,
        admin,
        "mutation($id: ID!) { deleteTaxRule(id: $id) { ok errors { code } } }",
        id=rule["taxRule"]["id"],
    )
    assert deleted == {"ok": True, "errors": []}


async def test_9_5_billing_settings_are_read_and_changed_and_drive_generation(
    api: httpx.AsyncClient, conn: asyncpg.Connection, staff_token: str
) -> None:
    admin = await admin_token(conn)
    update = f"""mutation($input: GeneralSettingsInput!) {{
        updateGeneralSettings(input: $input) {{
            settings {{ createInvoiceDaysBefore applyCreditAutomatically }} {ERRORS} }} }}"""
    defaults = await gql(
        api,
        "query { generalSettings { createInvoiceDaysBefore applyCreditAutomatically } }",
        token=admin,
    )

    changed = await payload_of(
        api, admin, update, input={"createInvoiceDaysBefore": 40, "applyCreditAutomatically": False}
    )
    refused = await payload_of(api, admin, update, input={"createInvoiceDaysBefore": 400})

    assert defaults["data"]["generalSettings"] == {
        "createInvoiceDaysBefore": 14,
        "applyCreditAutomatically": True,
    }
    assert changed["settings"] == {"createInvoiceDaysBefore": 40, "applyCreditAutomatically": False}
    assert codes(refused) == {("createInvoiceDaysBefore", "INVALID")}
    client = await add_client(conn)
    order = (await place(api, staff_token, client.id, ("SERVICE", "Hosting", "1")))["order"]
    await payload_of(api, staff_token, ACCEPT_ORDER, id=order["id"])
    # A month ahead falls within the 40 days now set.
    result = await generation.generate_invoices(conn, as_of=date.today())
    assert result.invoices_created == 1


async def test_billing_lists_of_a_page_of_clients_take_one_query_per_level(
    counted_api: CountedApi,
    conn: asyncpg.Connection,
    staff_token: str,
) -> None:
    for n in range(10):
        client = await add_client(conn, email=f"c{n}@example.com")
        await place(
            counted_api.api,
            staff_token,
            client.id,
            ("SERVICE", f"Hosting {n}", "1"),
            ("ADDON", "Backups", "1"),
            ("DOMAIN", f"c{n}.com", "1"),
        )
    # Pages of 20 of each list keep the query within MAX_QUERY_COST (200 each would not).
    document = """query { clients(first: 50) { edges { node {
        services(first: 20) { name } addons(first: 20) { name } domains(first: 20) { name }
        transactions(first: 20) { amount } invoices(first: 20) { number items { description } }
    } } } }"""

    await counted_api.count(document, {}, staff_token)

    nodes = [e["node"] for e in counted_api.last_body["data"]["clients"]["edges"]]
    assert [node["services"] for node in nodes] == [[{"name": f"Hosting {n}"}] for n in range(10)]
    assert all(len(node["invoices"][0]["items"]) == 3 for node in nodes)
    for table in ("services", "addons", "domains", "transactions", "invoices", "invoice_items"):
        reads = [sql for sql in counted_api.statements if re.search(rf"\bFROM {table}\b", sql)]
        assert len(reads) == 1, (table, reads)
