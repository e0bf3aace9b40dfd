"""Stored cards (SPEC 4): validation, encryption and the staff use cases."""
