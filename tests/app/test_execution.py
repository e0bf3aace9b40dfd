"""The executor's shortcut for leaf values changes no answer: strings and booleans pass as
they are, anything else is completed (and refused) by graphql-core as before."""

from __future__ import annotations

from typing import Any

import strawberry

from app.execution import ClientdeskExecutor


@strawberry.type
class Thing:
    name: str
    code: strawberry.ID
    flag: bool
    number: int
    maybe: str | None
    # Values of the wrong Python type, as a resolver might hand them over.
    number_as_name: str
    missing: str


@strawberry.type
class Query:
    @strawberry.field
    def thing(self) -> Thing:
        values: dict[str, Any] = {
            "name": "Ada",
            "code": "VGhpbmc6MQ==",
            "flag": False,
            "number": 7,
            "maybe": None,
            "number_as_name": 12,
            "missing": None,
        }
        return Thing(**values)


DOCUMENT = "{ thing { name code flag number maybe numberAsName missing } }"


async def test_leaf_values_are_completed_as_graphql_core_completes_them() -> None:
    ours = strawberry.Schema(Query, execution_context_class=ClientdeskExecutor)
    theirs = strawberry.Schema(Query)
    result, expected = await ours.execute(DOCUMENT), await theirs.execute(DOCUMENT)
    assert result.data == expected.data
    assert [(e.message, e.path) for e in result.errors or ()] == [
        (e.message, e.path) for e in expected.errors or ()
    ]
    # A null for a non-null field is still refused, up to the nullable root.
    assert result.data is None
    assert [e.path for e in result.errors or ()] == [["thing", "missing"]]


async def test_values_of_every_kind_reach_the_answer() -> None:
    document = "{ thing { name code flag number maybe numberAsName } }"
    result = await strawberry.Schema(Query, execution_context_class=ClientdeskExecutor).execute(
        document
    )
    assert result.errors is None
    assert result.data == {
        "thing": {
            "name": "Ada",
            "code": "VGhpbmc6MQ==",
            "flag": False,
            "number": 7,
            "maybe": None,
            "numberAsName": "12",
        }
    }
