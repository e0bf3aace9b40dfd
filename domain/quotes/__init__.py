"""Quotes (SPEC 14.4): staff offer a client lines at prices until a date; the client area
accepts one, which makes it an invoice."""
