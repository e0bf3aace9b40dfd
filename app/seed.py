"""Realistic demo data for development and benchmarks, inserted set-wise in batches."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import asyncpg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from domain.auth.passwords import hash_password

DEMO_PASSWORD = "demo-password"  # noqa: S105 -- published in the README

FIRST_NAMES = (
    "Joe Jane Amelia Oliver Isla Noah Ava Leo Mia Arthur Sofia Liam Emma Lucas Hannah Elias "
    "Chloe Mateo Ines Hugo Freya Jonas Maja Luca Giulia Pedro Aiko Ravi Priya Chen Yuki "
    "Omar Fatima Kwame Amara Sven Ingrid Pierre Camille"
).split()
LAST_NAMES = (
    "Bloggs Smith Jones Taylor Brown Williams Wilson Evans Thomas Johnson Roberts Walker "
    "Wright Müller Schmidt Schneider Fischer Dubois Martin Bernard Rossi Russo Ferrari "
    "Silva Santos García López Novak Kowalski Nowak Jansen de Vries Tanaka Sato Patel "
    "Sharma Okafor Mensah Andersson Nielsen"
).split()
COMPANY_WORDS = (
    "Acme Northwind Contoso Globex Initech Umbrella Stark Wayne Hooli Vandelay Pied Piper "
    "Blue Sky Red Oak Silver Line Bright Hosting Cloudnine Pixel Forge Byte Harbor"
).split()
COMPANY_SUFFIXES = ("Ltd", "LLC", "GmbH", "SARL", "BV", "Inc.", "Studio", "Digital")
PLACES = (
    ("London", "Greater London", "GB"),
    ("Manchester", "Lancashire", "GB"),
    ("Berlin", "Berlin", "DE"),
    ("Munich", "Bavaria", "DE"),
    ("Paris", "Île-de-France", "FR"),
    ("Lyon", "Rhône", "FR"),
    ("Amsterdam", "North Holland", "NL"),
    ("Milan", "Lombardy", "IT"),
    ("Madrid", "Madrid", "ES"),
    ("New York", "NY", "US"),
    ("Austin", "TX", "US"),
    ("Toronto", "ON", "CA"),
    ("Sydney", "NSW", "AU"),
    ("Tokyo", "Tokyo", "JP"),
)
CURRENCY_BY_COUNTRY = {"GB": "GBP", "US": "USD", "CA": "CAD", "AU": "AUD", "JP": "JPY"}
STATUSES = ("ACTIVE",) * 7 + ("INACTIVE",) * 2 + ("CLOSED",)
BATCH = 1000


def _client_row(rng: random.Random, serial: int, run: str) -> tuple[object, ...]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    company = (
        f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIXES)}"
        if rng.random() < 0.4
        else None
    )
    city, state, country = rng.choice(PLACES)
    email = f"{first}.{last}.{run}{serial}@example.com".lower().replace(" ", "")
    return (
        email,
        first,
        last,
        company,
        f"+{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.randint(100000, 9999999)}",
        f"{rng.randint(1, 250)} {rng.choice(LAST_NAMES)} Street",
        city,
        state,
        f"{rng.randint(10000, 99999)}",
        country,
        CURRENCY_BY_COUNTRY.get(country, "EUR"),
        rng.choice(STATUSES),
        rng.choice(("banktransfer", "testcard", None)),
    )


async def seed_clients(
    conn: asyncpg.Connection,
    count: int,
    *,
    seed: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Insert `count` demo clients (each with an owner login using DEMO_PASSWORD)."""
    rng = random.Random(seed)
    run = f"{rng.randrange(36**4):04x}"
    # One hash for all: argon2 is slow on purpose.
    password_hash = await hash_password(DEMO_PASSWORD)
    done = 0
    while done < count:
        rows = [_client_row(rng, done + i, run) for i in range(min(BATCH, count - done))]
        columns = list(zip(*rows, strict=True))
        async with conn.transaction():
            await conn.execute(
                """WITH data AS (
                       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                            $5::text[], $6::text[], $7::text[], $8::text[],
                                            $9::text[], $10::text[], $11::text[], $12::text[],
                                            $13::text[])
                           AS d(email, first_name, last_name, company_name, phone_number,
                                address1, city, state, postcode, country, currency, status,
                                default_payment_method)
                   ), new_logins AS (
                       INSERT INTO logins (email, password_hash)
                       SELECT email, $14 FROM data RETURNING id, email
                   )
                   INSERT INTO clients (owner_login_id, email, first_name, last_name,
                                        company_name, phone_number, address1, city, state,
                                        postcode, country, currency, status,
                                        default_payment_method)
                   SELECT l.id, d.email, d.first_name, d.last_name, d.company_name,
                          d.phone_number, d.address1, d.city, d.state, d.postcode, d.country,
                          d.currency, d.status, d.default_payment_method
                     FROM data d JOIN new_logins l ON l.email = d.email""",
                *[list(column) for column in columns],
                password_hash,
            )
        done += len(rows)
        if progress is not None:
            progress(len(rows))
    return done


async def seed_clients_with_progress(
    conn: asyncpg.Connection, count: int, *, console: Console, seed: int | None = None
) -> int:
    """`seed_clients` with a progress bar on `console`."""
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("Seeding clients", total=count)
        return await seed_clients(
            conn, count, seed=seed, progress=lambda n: progress.advance(task, n)
        )


# Nine clients in ten (among those with an id above `$3`) hold an ACTIVE monthly service;
# the first `$1` of them fall due within 14 days of `$2`, the others 60 days after it.
SERVICES_SQL = """
INSERT INTO services (client_id, name, amount, billing_cycle, status, payment_method,
                      next_due_date)
SELECT c.id, 'Hosting', 9.99, 'MONTHLY', 'ACTIVE',
       CASE WHEN c.id % 5 = 0 THEN 'banktransfer' ELSE 'testcard' END,
       CASE WHEN c.n < $1 THEN $2::date + (c.n % 14)::int ELSE $2::date + 60 END
  FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM clients
         WHERE id % 10 <> 0 AND id > $3) c"""

# `$1` unpaid invoices of the clients with an id above `$3` (ids without gaps, as seeded),
# due from 10 days after `$2` to 10 days before it.
INVOICES_SQL = """
INSERT INTO invoices (client_id, due_date, payment_method, currency, billed_to, subtotal)
SELECT c.id, $2::date + 10 - (g % 21)::int, 'banktransfer', c.currency,
       jsonb_build_object('name', c.first_name || ' ' || c.last_name,
                          'company_name', c.company_name, 'address1', c.address1,
                          'city', c.city, 'postcode', c.postcode, 'country', c.country),
       20.00
  FROM generate_series(0, $1 - 1) AS g
  JOIN clients c ON c.id = $3 + 1 + g * 7 % (SELECT max(id) - $3 FROM clients)"""


@dataclass(frozen=True)
class Billing:
    services: int
    invoices: int


async def seed_services_and_invoices(
    conn: asyncpg.Connection,
    *,
    due: int,
    invoices: int,
    as_of: date,
    after_client_id: int = 0,
) -> Billing:
    """Give the clients with an id above `after_client_id` (all by default; the ones added
    since, when a database grows) services and unpaid invoices, set-wise: nine in ten hold an
    ACTIVE service, `due` of those due within 14 days of `as_of`; `invoices` unpaid invoices
    due around `as_of`, spread over those clients."""
    async with conn.transaction():
        services = await conn.execute(SERVICES_SQL, due, as_of, after_client_id)
        added = await conn.execute(INVOICES_SQL, invoices, as_of, after_client_id)
    return Billing(int(services.split()[-1]), int(added.split()[-1]))
