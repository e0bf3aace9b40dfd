"""Fuzzing the GraphQL API with schemathesis (hypothesis-graphql): every root field of the
schema the app serves, with generated arguments and selections, as a staff member, a client
and a sub-account; a server error (a 5xx, or an INTERNAL_SERVER_ERROR in the body) is a
failure. Used by tests/api/test_fuzz.py (few examples, fixed seed) and bench/fuzz.py (a
longer campaign).

Hypothesis drives synchronous functions, so the app runs, with its lifespan (database and
Redis pools), on an event loop of its own thread and each request is handed to that loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import asyncpg
import httpx
import schemathesis
from graphql import GraphQLScalarType, GraphQLSchema, is_specified_scalar_type
from hypothesis import HealthCheck, Phase, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from schemathesis import GenerationMode
from schemathesis.core.result import Err
from schemathesis.schemas import APIOperation
from schemathesis.specs.graphql.scalars import get_extra_scalar_strategies

from app.graphql import build_schema
from app.settings import Settings
from app.web import create_app
from domain.auth import sessions
from domain.files.storage import FileStore
from tests.world import World, make_world

T = TypeVar("T")
ROLES = ("staff", "client", "sub-account")


class InProcessAPI:
    """The real app, served in-process on an event loop of its own thread."""

    def __init__(self, settings: Settings) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.app = create_app(settings)
        self._lifespan = self.app.router.lifespan_context(self.app)
        self.run(self._lifespan.__aenter__())
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://fuzz")

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    def post(self, body: Any, token: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return self.run(self._client.post("/graphql", json=body, headers=headers))

    @property
    def pool(self) -> asyncpg.Pool:
        pool: asyncpg.Pool = self.app.state.services.pool
        return pool

    @property
    def redis(self) -> Redis:
        redis: Redis = self.app.state.services.redis
        return redis

    @property
    def files(self) -> FileStore:
        return self.app.state.services.files  # type: ignore[no-any-return]

    async def make_world(self) -> World:
        """The world of tests/world.py, made anew: rows in every list."""
        return await make_world(self.pool, self.redis, self.files)

    def close(self) -> None:
        self.run(self._client.aclose())
        self.run(self._lifespan.__aexit__(None, None, None))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


async def open_sessions(api: InProcessAPI, world: World) -> dict[str, str]:
    """A fresh session per role (a generated `logout` or password change ends the last one),
    in a world made anew when generated cases deleted a login or closed the account."""
    async with api.pool.acquire() as conn:
        intact = await conn.fetchval(
            """SELECT count(*) = $2 FROM logins WHERE id = ANY($1::bigint[])
                 AND NOT EXISTS (SELECT 1 FROM clients WHERE status = 'CLOSED')""",
            list(world.login_ids.values()),
            len(world.login_ids),
        )
    if not intact:
        world = await api.make_world()
    async with api.pool.acquire() as conn:
        return {
            role: await sessions.start_session(conn, login_id, ttl=timedelta(hours=1))
            for role, login_id in world.login_ids.items()
        }


def operations(settings: Settings) -> list[APIOperation[Any, Any, Any, Any]]:
    """Every root field of the schema the app serves: none is listed by hand, so operations
    added to the schema are fuzzed as they come."""
    api_schema = build_schema(settings)
    _register_scalars(api_schema._schema)
    loaded = schemathesis.graphql.from_file(str(api_schema))
    found = []
    for result in loaded.get_all_operations():
        # An operation schemathesis cannot read would otherwise go unfuzzed without a word.
        if isinstance(result, Err):
            raise result.err()
        found.append(result.ok())
    return found


# Values for our own scalars; hypothesis-graphql knows only GraphQL's and a few common ones.
_SCALAR_VALUES: dict[str, st.SearchStrategy[str]] = {
    "Decimal": st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str) | st.text(),
}


def _register_scalars(api_schema: GraphQLSchema) -> None:
    """Give every custom scalar of the schema a strategy (text, unless known better), so that
    an input of a new scalar type is fuzzed rather than failing to generate."""
    known = get_extra_scalar_strategies()
    for type_ in api_schema.type_map.values():
        if (
            isinstance(type_, GraphQLScalarType)
            and not is_specified_scalar_type(type_)
            and type_.name not in known
        ):
            values = _SCALAR_VALUES.get(type_.name, st.text())
            schemathesis.graphql.scalar(type_.name, values.map(schemathesis.graphql.nodes.String))


def server_error(response: httpx.Response) -> str | None:
    """What is wrong with a response that shows a server error; None when there is none."""
    if response.status_code >= 500:
        return f"HTTP {response.status_code}: {response.text[:500]}"
    if response.headers.get("content-type", "").startswith("application/json"):
        errors = response.json().get("errors") or []
        if any((e.get("extensions") or {}).get("code") == "INTERNAL_SERVER_ERROR" for e in errors):
            return f"INTERNAL_SERVER_ERROR: {response.text[:500]}"
    return None


@dataclass
class Campaign:
    """Counts of one fuzzing run and the server errors found (query, role, what went wrong)."""

    cases: int = 0
    requests: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)


def fuzz_operation(
    api: InProcessAPI,
    operation: APIOperation[Any, Any, Any, Any],
    *,
    max_examples: int,
    campaign: Campaign,
    mode: GenerationMode = GenerationMode.POSITIVE,
    random_seed: int | None = None,
    stop_at_first: bool = True,
) -> None:
    """Run `max_examples` generated cases of `operation`, each as every role, from a fresh
    world (tests/world.py: rows in every list): valid documents (POSITIVE) or documents
    with arguments of the wrong type or missing (NEGATIVE). With `random_seed` None the run
    is derandomised: the same cases every time."""
    world = api.run(api.make_world())

    def check(case: Any) -> None:
        campaign.cases += 1
        tokens = api.run(open_sessions(api, world))
        for role in ROLES:
            campaign.requests += 1
            # The generated case is the GraphQL document; the request body as schemathesis
            # itself would send it.
            response = api.post({"query": case.body}, tokens[role])
            problem = server_error(response)
            if problem is not None:
                campaign.failures.append((case.body, role, problem))
                if stop_at_first:
                    raise AssertionError(f"{operation.label} as {role}: {problem}")

    run: Callable[[], None] = given(case=operation.as_strategy(generation_mode=mode))(check)
    run = hypothesis_settings(
        max_examples=max_examples,
        derandomize=random_seed is None,
        database=None,
        deadline=None,
        # Shrinking would re-run many cases against a database the cases change.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )(run)
    if random_seed is not None:
        run = seed(random_seed)(run)
    run()
