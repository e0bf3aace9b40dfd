"""One event's work done once for all the sockets of a process that receive it.

An email event reaches every staff dashboard of the process at once, one task per socket on
one event loop: the last socket served waits for the work of all the others. What does not
depend on who reads is therefore done once per event and shared:
- the event's object, read (one statement) and built once per visibility (what the viewer's
  kind and permissions let it see of it), not once per socket;
- the event without its object (what a dashboard selects to count or to refetch): one
  instance for every viewer, and its execution result once per document and variables
  (`shared_result`), since nothing in it depends on the viewer.
Whether the viewer may read the event at all is still decided per socket, against the
viewer as it is now (resolvers/subscriptions.py); only what it is then shown is shared.

Kept for the last `keep` events only: the sockets of one event are all woken by the same
commit, so a few hundred is plenty; one that comes later simply builds it again.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from graphql import ExecutionResult, OperationDefinitionNode

T = TypeVar("T")


class _Recent(OrderedDict[Hashable, Any]):
    def __init__(self, keep: int) -> None:
        super().__init__()
        self._keep = keep

    def remember(self, key: Hashable, value: Any) -> None:
        self[key] = value
        if len(self) > self._keep:
            self.popitem(last=False)


class Fanout:
    """Keyed by the event itself (its id, object and time: a database restored meanwhile
    may give an id again, to another event)."""

    def __init__(self, keep: int = 256) -> None:
        self._builds = _Recent(keep)
        # The shared object-less event of each event, and the same by its own id (what an
        # execution is handed), which the entry keeps alive so that the id stays its own.
        self._bare = _Recent(keep)
        self._shared = _Recent(keep)
        # (event, operation, variables) -> (event, operation, result), kept alive alike.
        self._results = _Recent(keep)

    async def built(self, key: Hashable, build: Callable[[], Awaitable[T]]) -> T:
        """`build()`'s value for `key`, built once: later callers wait for the first build.

        The build runs in a task of its own, so that the socket that started it going away
        (its task cancelled) stops only its own wait; a build that failed is forgotten, and
        the next caller tries again."""
        task: asyncio.Future[T] | None = self._builds.get(key)
        if task is None:
            task = asyncio.ensure_future(build())
            self._builds.remember(key, task)
            task.add_done_callback(lambda done: self._forget_failed(key, done))
        return await asyncio.shield(task)

    def _forget_failed(self, key: Hashable, done: asyncio.Future[Any]) -> None:
        if not done.cancelled() and done.exception() is None:
            return
        if self._builds.get(key) is done:
            del self._builds[key]

    def bare(self, event: Hashable, make: Callable[[], T]) -> T:
        """The one object-less `event` every viewer is shown."""
        found: T | None = self._bare.get(event)
        if found is None:
            found = make()
            self._bare.remember(event, found)
            self._shared.remember(id(found), found)
        return found

    def shared_result(
        self,
        payload: Any,
        operation: OperationDefinitionNode,
        variables: dict[str, Any],
        execute: Callable[[], Any],
    ) -> Any:
        """The execution of `operation` over `payload`: once per document and variables when
        `payload` is a shared object-less event (`bare`), else executed as usual. Each
        caller gets its own result object (extensions may change its errors) over the same
        data."""
        if self._shared.get(id(payload)) is not payload:
            return execute()
        try:
            key = (id(payload), id(operation), frozenset(variables.items()))
        except TypeError:  # a list or object among the variables: not worth a key
            return execute()
        known = self._results.get(key)
        if known is None:
            result = execute()
            if not isinstance(result, ExecutionResult) or result.errors:
                return result
            known = (payload, operation, result)
            self._results.remember(key, known)
        shared: ExecutionResult = known[2]
        return ExecutionResult(data=shared.data, errors=None, extensions=shared.extensions)
