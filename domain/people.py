"""The name, email, phone and address fields that clients and contacts share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.validation import InputCheck

REQUIRED_TEXT = {"first_name": "First name", "last_name": "Last name"}
OPTIONAL_TEXT = {
    "company_name": "Company name",
    "address1": "Address line 1",
    "address2": "Address line 2",
    "city": "City",
    "state": "State/region",
    "postcode": "Postcode",
}
PERSON_FIELDS = frozenset({*REQUIRED_TEXT, *OPTIONAL_TEXT, "email", "phone_number", "country"})


def clean_person(check: InputCheck, values: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """Normalise the person fields present in `values` (all required ones when creating),
    noting each problem in `check`. Whether an email is free is the caller's rule."""
    cleaned: dict[str, Any] = {}
    for field, label in REQUIRED_TEXT.items():
        if creating or field in values:
            cleaned[field] = check.required_text(field, values.get(field), label)
    for field, label in OPTIONAL_TEXT.items():
        if field in values:
            cleaned[field] = check.optional_text(field, values[field], label)
    if "phone_number" in values:
        cleaned["phone_number"] = check.phone("phone_number", values["phone_number"])
    if "country" in values:
        cleaned["country"] = check.country("country", values["country"])
    if creating or "email" in values:
        cleaned["email"] = check.email("email", values.get("email"))
    return cleaned
