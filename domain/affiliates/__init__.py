"""Affiliates (SPEC 14.3): a client's referral code, the clients it referred, the commissions
their paid invoices earned it, and its balance paid out as credit."""
