"""Global ids: the one place that makes them and reads them back."""

from __future__ import annotations

import base64

import pytest

from schema.ids import decode_id, global_id, split_id


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_an_id_is_standard_relay_base64_of_type_name_and_row_id() -> None:
    assert global_id("Client", 1) == "Q2xpZW50OjE=" == b64("Client:1")


@pytest.mark.parametrize("type_name", ["Client", "Contact", "Email"])
@pytest.mark.parametrize("pk", [0, 1, 42, 10**9, 2**63 - 1])
def test_every_id_reads_back_as_its_type_and_row(type_name: str, pk: int) -> None:
    made = global_id(type_name, pk)

    assert split_id(made) == (type_name, pk)
    assert decode_id(made, type_name) == pk


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(global_id("Contact", 1), id="another-types-id"),
        pytest.param("1", id="a-bare-row-id"),
        pytest.param("", id="empty"),
        pytest.param("not an id!", id="garbage"),
        pytest.param(global_id("Client", 1).rstrip("="), id="padding-missing"),
        pytest.param(b64("Client:01"), id="leading-zero"),
        pytest.param(b64("Client:-1"), id="negative"),
        pytest.param(b64("Client:+1"), id="plus-sign"),
        pytest.param(b64("Client: 1"), id="space"),
        pytest.param(b64("Client:1_0"), id="underscore"),
        pytest.param(b64("Client:١"), id="arabic-indic-digit"),
        pytest.param(b64("Client:²"), id="superscript-digit"),
        pytest.param(b64("Client:"), id="no-row-id"),
        pytest.param(b64("Client"), id="no-separator"),
        pytest.param(b64("Client:1:2"), id="two-separators"),
        pytest.param(b64(f"Client:{2**63}"), id="beyond-bigint"),
        pytest.param(b64("Client:" + "9" * 200), id="very-long"),
        pytest.param(base64.b64encode(b"\xff\xfe:1").decode(), id="not-utf8"),
        pytest.param(global_id("Client", 1) + "é", id="non-ascii"),
        pytest.param("Q2xpZW50OjF=", id="second-spelling-of-client-1"),
    ],
)
def test_anything_but_an_id_of_the_type_reads_as_nothing(value: str) -> None:
    assert decode_id(value, "Client") is None
