"""The API's Strawberry types, inputs, enums and payloads.

A domain enum is registered once, with its description, by `X = strawberry.enum(domain.X,
description=...)`, which returns the domain class itself; fields are annotated with the
domain class (`status: models.InvoiceStatus`), the one spelling mypy accepts as a type.
"""
