"""GraphQL fuzzing in the suite: every operation of the schema, a few derandomised (fixed
seed) cases each, as staff, a client and a sub-account, against a world with rows in every
list (tests/world.py); no case may cause a server error.
`python -m bench.fuzz` runs a longer campaign with random seeds."""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
import pytest
from schemathesis import GenerationMode
from schemathesis.schemas import APIOperation

from app.settings import Settings
from tests.fuzzing import Campaign, InProcessAPI, fuzz_operation, open_sessions, operations
from tests.world import EVERY_LIST, empty_lists, every_list_variables

# Valid documents find most; a few invalid ones exercise the refusals before execution.
EXAMPLES = {GenerationMode.POSITIVE: 20, GenerationMode.NEGATIVE: 5}
# The schema is the same whatever the services' addresses: read once, at collection.
OPERATIONS = operations(Settings(_env_file=None))


@pytest.fixture(scope="module")
def fuzz_api(settings: Settings, pool: asyncpg.Pool) -> Iterator[InProcessAPI]:
    api = InProcessAPI(settings)
    yield api
    api.close()


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=str)
@pytest.mark.parametrize("operation", OPERATIONS, ids=[o.label for o in OPERATIONS])
def test_no_generated_operation_causes_a_server_error(
    fuzz_api: InProcessAPI, operation: APIOperation, mode: GenerationMode
) -> None:
    campaign = Campaign()
    fuzz_operation(fuzz_api, operation, max_examples=EXAMPLES[mode], mode=mode, campaign=campaign)
    assert campaign.cases > 0 and campaign.failures == []


def test_the_fuzzed_world_has_rows_in_every_list(fuzz_api: InProcessAPI) -> None:
    # What each operation is fuzzed against: an empty list hides what fails on its rows.
    world = fuzz_api.run(fuzz_api.make_world())
    tokens = fuzz_api.run(open_sessions(fuzz_api, world))

    response = fuzz_api.post(
        {"query": EVERY_LIST, "variables": every_list_variables(world)},
        tokens["staff"],
    )

    body = response.json()
    assert "errors" not in body and empty_lists(body["data"]) == []
