"""How orders are named in EventStoreDB: the one place both sides (and the console) read it.

An order lives in `order-{order_id}` (category `order`, as EventStoreDB's `$ce-order`
sees it); an idempotency key's claim in `idempotency-{key}`, outside the order streams the
read side follows. `ORDER_STREAMS_REGEX` selects the order streams in `$all` by name,
which works on any server without system projections. Pure: no I/O.
"""

from __future__ import annotations

from uuid import UUID

STREAM_PREFIX = "order-"
KEY_STREAM_PREFIX = "idempotency-"
ORDER_STREAMS_REGEX = r"order-.*"
"""Stream-name filter for `$all` (esdbclient anchors it: `^(order-.*)$`)."""


def stream_name(order_id: str) -> str:
    """The stream of an order: `order-{order_id}`."""
    return f"{STREAM_PREFIX}{order_id}"


def key_stream_name(key: UUID) -> str:
    """The stream recording which request an idempotency key (a command id) names."""
    return f"{KEY_STREAM_PREFIX}{key}"


def is_order_stream(stream: str) -> bool:
    """True for an order's stream."""
    return stream.startswith(STREAM_PREFIX)


def order_id_of(stream: str) -> str | None:
    """The order id of an order stream's name; None for any other stream."""
    return stream[len(STREAM_PREFIX) :] if is_order_stream(stream) else None
