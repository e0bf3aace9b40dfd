"""Name, contact and address fields that clients and contacts share."""

from __future__ import annotations

from typing import Any

import strawberry


@strawberry.type(description="A postal address.")
class Address:
    address1: str | None = strawberry.field(description="First line of the street address.")
    address2: str | None = strawberry.field(description="Second line of the street address.")
    city: str | None = strawberry.field(description="City or town.")
    state: str | None = strawberry.field(description="State, county or region.")
    postcode: str | None = strawberry.field(description="Postal or ZIP code.")
    country: str | None = strawberry.field(description="ISO 3166 alpha-2 country code.")

    @classmethod
    def of(cls, person: Any) -> Address:
        """The address of a client or contact row."""
        return cls(
            address1=person.address1,
            address2=person.address2,
            city=person.city,
            state=person.state,
            postcode=person.postcode,
            country=person.country,
        )


@strawberry.input(description="Company, phone and postal address of a person.")
class PersonInput:
    company_name: str | None = strawberry.field(
        default=strawberry.UNSET, description="Company name."
    )
    phone_number: str | None = strawberry.field(
        default=strawberry.UNSET, description="Phone number."
    )
    address1: str | None = strawberry.field(
        default=strawberry.UNSET, description="First line of the street address."
    )
    address2: str | None = strawberry.field(
        default=strawberry.UNSET, description="Second line of the street address."
    )
    city: str | None = strawberry.field(default=strawberry.UNSET, description="City or town.")
    state: str | None = strawberry.field(
        default=strawberry.UNSET, description="State, county or region."
    )
    postcode: str | None = strawberry.field(
        default=strawberry.UNSET, description="Postal or ZIP code."
    )
    country: str | None = strawberry.field(
        default=strawberry.UNSET, description="ISO 3166 alpha-2 country code, e.g. GB."
    )


@strawberry.input(description="A person's fields, each optional: omitted ones keep their value.")
class PersonChangesInput(PersonInput):
    first_name: str | None = strawberry.field(default=strawberry.UNSET, description="First name.")
    last_name: str | None = strawberry.field(default=strawberry.UNSET, description="Last name.")
    email: str | None = strawberry.field(default=strawberry.UNSET, description="Email address.")
