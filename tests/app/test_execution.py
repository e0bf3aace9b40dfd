"""The executor's shortcut for plain leaf fields changes no answer: values that coerce pass
in the order of the selection, anything else is completed (and refused) by graphql-core
exactly as before, with the same errors and paths."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import strawberry
from graphql import GraphQLError

from app.execution import ClientdeskExecutor


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Inner:
    label: str
    when: datetime | None


@strawberry.type
class Thing:
    name: str
    code: strawberry.ID
    flag: bool
    number: int
    amount: Decimal
    colour: Colour
    maybe: str | None
    inner: Inner
    # Values of the wrong Python type, as a resolver might hand them over.
    number_as_name: str
    too_big: int | None
    not_a_colour: Colour | None
    missing: str
    # A refusal held as the value, as schema/access.py withholds a field.
    withheld: str | None

    @strawberry.field
    def computed(self) -> str:
        return self.name.upper()


@strawberry.type
class Query:
    @strawberry.field
    def things(self) -> list[Thing]:
        values: dict[str, Any] = {
            "name": "Ada",
            "code": "VGhpbmc6MQ==",
            "flag": False,
            "number": 7,
            "amount": Decimal("12.50"),
            "colour": Colour.BLUE,
            "maybe": None,
            "inner": Inner(label="in", when=datetime(2026, 11, 25, 9, tzinfo=UTC)),
            "number_as_name": 12,
            "too_big": 2**40,
            "not_a_colour": "green",
            "missing": None,
            "withheld": GraphQLError("This needs the permission PROFILE."),
        }
        return [Thing(**values), Thing(**{**values, "name": "Bo", "missing": "here"})]


def executed(document: str) -> tuple[Any, Any]:
    ours = strawberry.Schema(Query, execution_context_class=ClientdeskExecutor)
    theirs = strawberry.Schema(Query)
    return ours.execute_sync(document), theirs.execute_sync(document)


def errors(result: Any) -> list[tuple[str, list[Any]]]:
    return [(e.message, e.path) for e in result.errors or ()]


@pytest.mark.parametrize(
    "document",
    [
        "{ things { name code flag number amount colour maybe numberAsName computed } }",
        # Plain leaves between computed and object fields, aliased and repeated.
        "{ things { computed first: name inner { when label } colour n: number name } }",
        "{ things { tooBig notAColour name } }",
        "{ things { name withheld flag } }",
        # A null for a non-null field nulls the item, up to the nullable list... and beyond.
        "{ things { name missing } }",
        "{ things { __typename name ...F } } fragment F on Thing { flag name amount }",
    ],
)
def test_answers_errors_and_key_order_are_graphql_cores(document: str) -> None:
    result, expected = executed(document)
    assert result.data == expected.data
    if result.data is not None:
        # Dicts compare equal whatever their order; the answer's keys follow the selection.
        for ours, theirs in zip(result.data["things"], expected.data["things"], strict=True):
            assert list(ours) == list(theirs)
    assert errors(result) == errors(expected)


def test_values_of_every_kind_reach_the_answer() -> None:
    result, _ = executed("{ things { name flag number amount colour maybe inner { when } } }")
    assert result.errors is None
    assert result.data["things"][0] == {
        "name": "Ada",
        "flag": False,
        "number": 7,
        "amount": "12.50",
        "colour": "BLUE",
        "maybe": None,
        "inner": {"when": "2026-11-25T09:00:00+00:00"},
    }
