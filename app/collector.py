"""Python's cyclic garbage collector in a serving process.

A request makes and drops thousands of container objects (rows, the types built from them,
the answer's dicts), so the collector runs its young collection about once a request and, now
and then, a full one that walks every object of the process: with the ~115,000 that start-up
made and that live as long as the process (modules, the GraphQL schema with Strawberry's and
graphql-core's types), one full collection cost ≈ 56 ms, ≈ 0.17 ms per `clients(first: 50)`
request on average (bench/README.md). Moving those objects to the collector's permanent
generation once, after start-up, keeps them out of every later collection; a higher young
threshold makes young collections rarer (each walks only what is still alive then, mostly
one request's objects). Only the objects' collection changes: nothing is kept or cached.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import TypeVar

# Allocations (net of frees) between two young collections; Python's default is 700.
YOUNG_THRESHOLD = 5_000

T = TypeVar("T")


def settle_startup_objects() -> None:
    """Collect what start-up dropped, then keep everything alive out of later collections."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def collected_young(work: Callable[[], T]) -> T:
    """`work()` with the collector's automatic runs held off, then one young collection.

    Validating a document makes garbage in cycles that stays reachable until the rule is
    done (graphql-core's OverlappingFieldsCanBeMergedRule keeps one object per pair of
    fields: 233,000 objects for 300 `viewer { kind }`). Collected as it goes, that garbage
    is promoted while alive and then waits for a full collection, which walks it and every
    other old object while holding the interpreter, the event loop's thread included:
    100-200 ms at a time. Left young and collected once afterwards, it costs one walk of
    itself alone (≈ 25 ms for those 233,000). Called from one thread only (the documents'
    worker), so nothing else switches the collector meanwhile."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return work()
    finally:
        if was_enabled:
            gc.enable()
            gc.collect(0)
