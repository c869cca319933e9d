"""The registry: current schema versions, and every step keyed by the (type, version) it reads.

Checked when imported: one step per (type, version), no step reads a current version, and
following steps from any registered (type, version) reaches a current one without a loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from upcasters import order_placed, payment_received
from upcasters.step import SchemaKey, Step

CURRENT_VERSIONS: Mapping[str, int] = MappingProxyType(
    {
        "OrderPlaced": 3,
        "ShippingAddressChanged": 1,
        "PaymentReceived": 2,
        "OrderPaid": 1,
        "OrderShipped": 1,
        "OrderDelivered": 1,
        "OrderCancelled": 1,
        "RefundIssued": 1,
    }
)
"""Stored event type -> its current schema version (as in orders.events and domain.md)."""


class InvalidRegistry(RuntimeError):
    """The registered steps contradict each other (a programming error, found at import)."""


def is_current(key: SchemaKey) -> bool:
    """True when (type, version) is a current schema: nothing to upcast."""
    return CURRENT_VERSIONS.get(key[0]) == key[1]


def build(steps: Iterable[Step]) -> Mapping[SchemaKey, Step]:
    """Index `steps` by source; raises InvalidRegistry when they do not form a chain."""
    index: dict[SchemaKey, Step] = {}
    for step in steps:
        if step.source in index:
            raise InvalidRegistry(f"two steps read {step.source}: {step.describe()}")
        if is_current(step.source):
            raise InvalidRegistry(f"{step.describe()} reads a current schema")
        index[step.source] = step
    for source in index:
        _check_reaches_current(source, index)
    return MappingProxyType(index)


def _check_reaches_current(source: SchemaKey, index: Mapping[SchemaKey, Step]) -> None:
    key, seen = source, {source}
    while not is_current(key):
        step = index.get(key)
        if step is None:
            raise InvalidRegistry(f"the chain from {source} stops at {key}, not a current schema")
        key = step.target
        if key in seen:
            raise InvalidRegistry(f"the chain from {source} loops at {key}")
        seen.add(key)


STEPS: Mapping[SchemaKey, Step] = build((*order_placed.STEPS, *payment_received.STEPS))
"""Every step, keyed by the (stored type, schema version) it reads."""
