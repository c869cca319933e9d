"""Helpers for the legacy-read tests: raw legacy events written with esdbclient, and a fold
of chosen order streams into every read model through the projector's batch core."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable
from typing import Any

from esdbclient import EventStoreDBClient, NewEvent, StreamState

from orders import codec
from projections import database
from projections.batch import BatchApplier, BatchOutcome, Delivery
from projections.esdb import OrderLog
from projections.read_models import registry


def ts_placed(total: float, *items: tuple[str, int], customer: str = "c-1") -> NewEvent:
    """The TypeScript service's OrderPlacedEvent, stored as it stored it (no metadata)."""
    body = {
        "customerId": customer,
        "items": [{"productId": sku, "quantity": quantity} for sku, quantity in items],
        "totalAmount": total,
    }
    return raw("OrderPlacedEvent", body)


def ts_paid(transaction: str, amount: float) -> NewEvent:
    """The TypeScript service's OrderPaidEvent."""
    return raw("OrderPaidEvent", {"transactionId": transaction, "amount": amount})


def raw(event_type: str, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> NewEvent:
    """An event with exactly this type, JSON data and metadata (none: empty bytes)."""
    return NewEvent(
        type=event_type,
        data=json.dumps(data, separators=(",", ":")).encode(),
        metadata=b"" if metadata is None else json.dumps(metadata).encode(),
    )


def write(client: EventStoreDBClient, order_id: str, *events: NewEvent) -> None:
    """Create the order's stream with `events`, as the old services did."""
    client.append_to_stream(
        f"order-{order_id}", current_version=StreamState.NO_STREAM, events=list(events)
    )


def stored_events(client: EventStoreDBClient, order_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(type, metadata) of every event in the order's stream, straight from the store."""
    return [
        (e.type, json.loads(e.metadata) if e.metadata else {})
        for e in client.get_stream(f"order-{order_id}")
    ]


def fold_read_models(
    client: EventStoreDBClient, order_ids: Iterable[str]
) -> tuple[dict[str, sqlite3.Connection], dict[str, BatchOutcome]]:
    """Every read model folded from these orders' streams (in memory), and the outcomes.

    Uses the projectors' `BatchApplier` with `park_after=0`, so an event that cannot be
    decoded comes back as a failure whose action is `park`.
    """
    log = OrderLog(client)
    models: dict[str, sqlite3.Connection] = {}
    outcomes: dict[str, BatchOutcome] = {}
    streams = [f"order-{order_id}" for order_id in order_ids]
    for name, projection in registry.PROJECTIONS.items():
        conn = database.open_memory(projection)
        applier = BatchApplier(projection, codec.decode, log, park_after=0)
        deliveries = [Delivery(e, uuid.uuid4()) for s in streams for e in log.stream(s)]
        outcomes[name] = applier.apply(conn, deliveries)
        models[name] = conn
    return models, outcomes


def rows(conn: sqlite3.Connection, sql: str, *params: object) -> list[dict[str, Any]]:
    """The rows of a query as dicts."""
    cursor = conn.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
