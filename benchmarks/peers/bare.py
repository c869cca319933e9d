"""Peer (c): bare esdbclient, written by hand.

Commands read the stream (for its revision), decide nothing and append the same JSON
events as this project writes (same types, data and metadata shape), at the expected
revision. Reading folds the JSON into a dict. The catch-up loop is a catch-up subscription
to `$all` (filtered by stream name) writing `order_summary` rows with a hand-written
tracking row (last commit position) in batched transactions.

Streams are `bare-order-{id}`, so this project's `order-.*` filter never sees them.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, datetime
from typing import Any

from esdbclient import EventStoreDBClient, NewEvent, StreamState
from esdbclient.exceptions import NotFound

from benchmarks.peers.workload import (
    ADDRESS,
    CARRIER,
    CURRENCY,
    LINES,
    PAID_SQL,
    PAYMENT_SQL,
    PLACE_SQL,
    SHIPPED_SQL,
    TOTAL,
)

PREFIX = "bare-order-"
STREAMS_REGEX = r"bare-order-.*"
TIMEOUT_S = 10.0  # the deadline EsdbStore sets on every call
BATCH = 500  # events per transaction, as this project's worker


def stream_of(order_id: str) -> str:
    return f"{PREFIX}{order_id}"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _revision(client: EventStoreDBClient, stream: str) -> int | StreamState:
    try:
        return len(client.get_stream(stream, timeout=TIMEOUT_S)) - 1
    except NotFound:
        return StreamState.NO_STREAM


def _event(
    kind: str, version: int, command: uuid.UUID, index: int, data: dict[str, Any]
) -> NewEvent:
    at = _now()
    metadata = {
        "schema_version": version,
        "$correlationId": str(command),
        "$causationId": str(command),
        "command_id": str(command),
        "actor": "bench",
        "occurred_at": at,
    }
    return NewEvent(
        type=kind,
        data=json.dumps(data, separators=(",", ":")).encode(),
        metadata=json.dumps(metadata, separators=(",", ":")).encode(),
        id=uuid.uuid5(command, str(index)),
    )


def _append(client: EventStoreDBClient, order_id: str, events: list[NewEvent]) -> None:
    stream = stream_of(order_id)
    client.append_to_stream(
        stream, current_version=_revision(client, stream), events=events, timeout=TIMEOUT_S
    )


def place(client: EventStoreDBClient, order_id: str) -> None:
    data = {
        "order_id": order_id,
        "customer_id": "cust-1",
        "lines": LINES,
        "currency": CURRENCY,
        "total": TOTAL,
        "shipping_address": ADDRESS,
        "placed_at": _now(),
    }
    _append(client, order_id, [_event("OrderPlaced", 3, uuid.uuid4(), 0, data)])


def pay(client: EventStoreDBClient, order_id: str) -> None:
    command, at = uuid.uuid4(), _now()
    received = {
        "order_id": order_id,
        "payment_id": f"pay-{order_id}",
        "amount": TOTAL,
        "currency": CURRENCY,
        "received_at": at,
    }
    paid = {"order_id": order_id, "total": TOTAL, "paid_at": at}
    events = [
        _event("PaymentReceived", 2, command, 0, received),
        _event("OrderPaid", 1, command, 1, paid),
    ]
    _append(client, order_id, events)


def ship(client: EventStoreDBClient, order_id: str) -> None:
    data = {
        "order_id": order_id,
        "carrier": CARRIER,
        "tracking_number": f"trk-{order_id[:8]}",
        "shipped_at": _now(),
    }
    _append(client, order_id, [_event("OrderShipped", 1, uuid.uuid4(), 0, data)])


def get_order(client: EventStoreDBClient, order_id: str) -> dict[str, Any]:
    """The order's current state, folded by hand from its JSON events."""
    state: dict[str, Any] = {}
    for recorded in client.get_stream(stream_of(order_id), timeout=TIMEOUT_S):
        data = json.loads(recorded.data)
        kind = recorded.type
        if kind == "OrderPlaced":
            state = data | {"status": "PENDING", "paid": 0}
        elif kind == "PaymentReceived":
            state["paid"] += data["amount"]
        elif kind == "OrderPaid":
            state["status"] = "PAID"
        elif kind == "OrderShipped":
            state["status"] = "SHIPPED"
        elif kind == "ShippingAddressChanged":
            state["shipping_address"] = data["shipping_address"]
        state["revision"] = recorded.stream_position
    return state


TRACKING_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS bare_tracking (id INTEGER PRIMARY KEY, position INTEGER)"
)


def _statements(kind: str, data: dict[str, Any], rev: int) -> list[tuple[str, tuple[Any, ...]]]:
    order_id = data["order_id"]
    if kind == "OrderPlaced":
        address = data.get("shipping_address") or {}
        row = (
            order_id,
            data["customer_id"],
            data["currency"],
            data["total"],
            len(data["lines"]),
            address.get("city"),
            address.get("country"),
            data["placed_at"],
            rev,
        )
        return [(PLACE_SQL, row)]
    if kind == "PaymentReceived":
        return [(PAYMENT_SQL, (data["amount"], rev, order_id))]
    if kind == "OrderPaid":
        return [(PAID_SQL, (data["paid_at"], rev, order_id))]
    if kind == "OrderShipped":
        return [(SHIPPED_SQL, (data["shipped_at"], rev, order_id))]
    return []


def catch_up(client: EventStoreDBClient, conn: sqlite3.Connection, after: int, total: int) -> int:
    """Project `total` bare order events after commit position `after` into `conn`'s
    `order_summary`, a transaction per `BATCH` events (and one for the tail) that also
    records the last commit position; returns the events applied."""
    conn.execute(TRACKING_SCHEMA)
    subscription = client.subscribe_to_all(
        commit_position=after,
        filter_include=[STREAMS_REGEX],
        filter_by_stream_name=True,
        timeout=60.0,
    )
    applied = 0
    pending: list[tuple[str, tuple[Any, ...]]] = []
    in_batch = 0
    try:
        for recorded in subscription:
            pending += _statements(
                recorded.type, json.loads(recorded.data), recorded.stream_position
            )
            in_batch += 1
            applied += 1
            if in_batch == BATCH or applied == total:
                conn.execute("BEGIN IMMEDIATE")
                for sql, params in pending:
                    conn.execute(sql, params)
                conn.execute(
                    "INSERT OR REPLACE INTO bare_tracking (id, position) VALUES (1, ?)",
                    (recorded.commit_position,),
                )
                conn.execute("COMMIT")
                pending, in_batch = [], 0
            if applied == total:
                break
    finally:
        subscription.stop()
    return applied
