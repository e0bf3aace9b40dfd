"""The executor's shortcuts change no answer: plain leaf values that coerce pass in the order
of the selection; plain objects, lists of objects and prefetched fields are completed without
a resolver call; anything else (a null in a non-null position, an error held as a value, an
abstract type, an awaitable) is completed (and refused) by graphql-core exactly as before,
with the same errors and paths — also for errors raised inside list items."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import strawberry
from graphql import GraphQLError

from app.execution import ClientdeskExecutor
from schema.prefetched import prefetched_in


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Inner:
    label: str
    when: datetime | None


@strawberry.interface
class Named:
    label: str


@strawberry.type
class Part(Named):
    """An object type that checks its values (`is_type_of`, as every Node type does)."""

    label: str


@strawberry.type
class Piece:
    label: str
    # None in a broken piece: an error inside a list item.
    strict: str | None = strawberry.field(graphql_type=str)

    @strawberry.field
    async def later(self) -> str:
        if self.strict is None:
            raise ValueError(f"{self.label} is broken")
        return self.label


def piece(label: str) -> Piece:
    return Piece(label=label, strict=label)


BROKEN = Piece(label="broken", strict=None)


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
    # Plain objects and lists of objects, with what graphql-core must refuse.
    part: Part
    piece: Piece
    maybe_piece: Piece | None
    withheld_piece: Piece | None
    pieces: list[Piece]
    maybe_pieces: list[Piece | None] | None
    broken_pieces: list[Piece] | None
    null_in_pieces: list[Piece] | None
    parts: list[Part]
    named: Named
    # Values a type that checks its values (`is_type_of`) refuses.
    mistaken_part: Part | None
    mistaken_parts: list[Part] | None
    held: strawberry.Private[list[Piece] | None] = None

    @strawberry.field(metadata=prefetched_in("held"))
    def loaded(self) -> list[Piece]:
        return self.held if self.held is not None else [piece("loaded")]

    # Nullable: None in `held` still means "call the resolver", not null.
    @strawberry.field(metadata=prefetched_in("held"))
    def maybe_loaded(self) -> list[Piece] | None:
        return self.held if self.held is not None else [piece("loaded")]

    @strawberry.field
    def computed_pieces(self) -> list[Piece | None]:
        return [piece("c"), None, BROKEN]

    @strawberry.field
    async def async_pieces(self) -> list[Piece]:
        return [piece("a1"), piece("a2")]

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
            "part": Part(label="p"),
            "piece": piece("one"),
            "maybe_piece": None,
            "withheld_piece": GraphQLError("This needs the permission INVOICES."),
            "pieces": (piece("t1"), piece("t2")),  # a tuple is a list too
            "maybe_pieces": [piece("m1"), None, BROKEN, GraphQLError("refused item")],
            "broken_pieces": [piece("b1"), BROKEN],
            "null_in_pieces": [piece("n1"), None],
            "parts": [Part(label="q1"), Part(label="q2")],
            "named": Part(label="n"),
            "mistaken_part": piece("not a part"),
            "mistaken_parts": [Part(label="r1"), piece("not a part")],
        }
        return [
            Thing(**values),
            Thing(**{**values, "name": "Bo", "missing": "here", "held": [piece("held")]}),
        ]


OURS = strawberry.Schema(Query, execution_context_class=ClientdeskExecutor)
THEIRS = strawberry.Schema(Query)


def executed(document: str) -> tuple[Any, Any]:
    return OURS.execute_sync(document), THEIRS.execute_sync(document)


def errors(result: Any) -> list[tuple[str, list[Any]]]:
    return [(e.message, e.path) for e in result.errors or ()]


def same_answer(result: Any, expected: Any) -> None:
    """Same data, with every object's keys in the same order, and the same errors."""
    assert result.data == expected.data
    assert keys_in_order(result.data) == keys_in_order(expected.data)
    assert errors(result) == errors(expected)


def keys_in_order(value: Any) -> Any:
    # Dicts compare equal whatever their order; the answer's keys follow the selection.
    if isinstance(value, dict):
        return [(key, keys_in_order(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [keys_in_order(item) for item in value]
    return None


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
    same_answer(*executed(document))


@pytest.mark.parametrize(
    "document",
    [
        # Objects and lists of objects, with leaves, objects and computed fields around them.
        "{ things { name piece { label strict } part { label } pieces { label } flag } }",
        "{ things { parts { label __typename } named { label } maybePiece { label } } }",
        # An error held as an object's value; errors inside items, nulled or propagated.
        "{ things { name withheldPiece { label } } }",
        "{ things { name maybePieces { label strict } } }",
        "{ things { name brokenPieces { label strict } } }",
        "{ things { name nullInPieces { label } } }",
        # Values of another type where the type checks its values: refused, with the path.
        "{ things { name mistakenPart { label } mistakenParts { label } flag } }",
        # Lists a resolver returns, and a field answered from what its parent prefetched.
        "{ things { computedPieces { label strict } loaded { label } maybeLoaded { label } } }",
        # The same list twice under aliases, and through a fragment.
        "{ things { a: pieces { label } b: pieces { strict } ...P } } fragment P on Thing "
        "{ pieces { label } }",
    ],
)
def test_objects_and_lists_answer_as_graphql_core(document: str) -> None:
    same_answer(*executed(document))


@pytest.mark.parametrize(
    "document",
    [
        # Awaitable fields inside list items: the error of one item, the values of others.
        "{ things { name maybePieces { label later } pieces { later } } }",
        "{ things { brokenPieces { later } asyncPieces { label later } } }",
        "{ things { computedPieces { later } piece { later } } }",
    ],
)
async def test_awaitables_inside_lists_answer_as_graphql_core(document: str) -> None:
    same_answer(await OURS.execute(document), await THEIRS.execute(document))


def test_plain_objects_and_lists_need_no_resolve_info() -> None:
    built: list[str] = []

    class Counting(ClientdeskExecutor):
        def build_resolve_info(self, field_def: Any, field_nodes: Any, *args: Any) -> Any:
            built.append(field_nodes[0].name.value)
            return super().build_resolve_info(field_def, field_nodes, *args)

    schema = strawberry.Schema(Query, execution_context_class=Counting)
    result = schema.execute_sync("{ things { piece { label } pieces { label } loaded { label } } }")
    assert result.errors is None
    # The root field's resolver; nothing below it (the second thing prefetched `loaded`).
    assert built == ["things", "loaded"]


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
