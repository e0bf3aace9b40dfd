"""Fields whose value a list's resolver may have fetched with the page.

A field with a resolver (it checks a permission and loads through a DataLoader when asked on
its own) can name, with `prefetched_in`, the private attribute in which its parent holds the
value when the list's resolver already fetched it with the page, for a viewer allowed to read
it. The executor (app/execution.py) then completes the field from that attribute as it
completes a plain field, without calling the resolver; when the attribute holds None it calls
the resolver as usual. The resolver must answer the attribute's value when it is not None,
so that both ways give the same answer. The executor does not read the field's arguments: a
list's resolver fills the attribute only when every selection of the field leaves them out
(their defaults are what it fetched), as `Client.emails` and its `first` (resolvers/clients.py).
"""

from __future__ import annotations

# The key of a Strawberry field's `metadata` naming the attribute.
PREFETCHED_IN = "clientdesk.prefetched_in"


def prefetched_in(attribute: str) -> dict[str, str]:
    """The `metadata` of a field whose parent may hold its value in `attribute`."""
    return {PREFETCHED_IN: attribute}
