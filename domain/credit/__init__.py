"""The client's credit: a signed ledger whose sum is the balance (SPEC 3)."""
