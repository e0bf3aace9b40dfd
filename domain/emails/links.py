"""Links in emails: each leads to a page of the client area that docs/client-area.md lists.

Templates build them with `client_area(route, **params)` rather than by appending paths to a
URL themselves, so a link to a page the client area does not have cannot be written.
"""

from __future__ import annotations

from string import Formatter
from urllib.parse import quote

# Route name → path under CLIENT_AREA_URL. Keep docs/client-area.md in step (a test checks).
CLIENT_AREA_ROUTES: dict[str, str] = {
    "login": "/login",
    "password_reset": "/password-reset/{token}",
    "invitation": "/invitation/{token}",
    "email_change": "/email-change/{token}",
    "invoices": "/invoices",
    "invoice": "/invoices/{invoice_id}",
    "tickets": "/tickets",
    "services": "/services",
    "domains": "/domains",
    "ticket": "/tickets/{ticket_id}",
    "quote": "/quotes/{quote_id}",
    "affiliate": "/affiliate",
    "signup": "/signup/{referral_code}",
}


class UnknownClientAreaRoute(ValueError):
    """A template asked for a page the client area does not have, or left out a parameter."""


def client_area_link(client_area_url: str, route: str, **params: object) -> str:
    """The absolute URL of a client-area page; parameters are URL-encoded into the path."""
    template = CLIENT_AREA_ROUTES.get(route)
    expected = {name for _, name, _, _ in Formatter().parse(template or "") if name}
    if template is None or set(params) != expected:
        raise UnknownClientAreaRoute(
            f"no client-area link {route!r} taking {sorted(params)}; see docs/client-area.md"
        )
    encoded = {name: quote(str(value), safe="") for name, value in params.items()}
    return client_area_url.rstrip("/") + template.format(**encoded)


def api_id_sql(type_name: str, pk_column: str) -> str:
    """SQL for the API id of row `pk_column` of `type_name`, for links in emails made in SQL.

    The same Relay global id `schema.ids.global_id` makes (a test compares the two): base64
    of "TypeName:pk". Short enough that PostgreSQL's base64 never wraps its line."""
    if not type_name.isidentifier():
        raise ValueError(f"not a type name: {type_name!r}")
    return f"encode(convert_to('{type_name}:' || {pk_column}, 'UTF8'), 'base64')"
