"""Conditions with deadlines, read-model counters, poison events and the oracle, for the
scenario tests (worker processes come from `demo.fleet`)."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

from esdbclient import EventStoreDBClient, NewEvent, StreamState

from orders import codec
from orders.codec import RecordedOrderEvent
from orders.ports import StoredEvent
from projections import database, tracking
from projections.batch import Decode
from projections.errors import ReadModelMissing
from projections.esdb import OrderLog
from projections.location import ReadModelFile
from projections.ops.verify import Verification, verify
from projections.read_models import registry
from projections.worker import Worker


def order_events(client: EventStoreDBClient) -> int:
    """How many order events the log holds."""
    return OrderLog(client).after(None, 10**9)[0]


def meta(db: Path) -> dict[str, object]:
    """The read model's tracking meta (counters), {} if it does not exist yet."""
    try:
        conn = database.open_for_reading(ReadModelFile(db))
    except ReadModelMissing:
        return {}
    try:
        return tracking.read_meta(conn)
    except Exception:  # noqa: BLE001  not prepared yet
        return {}
    finally:
        conn.close()


def applied(db: Path) -> int:
    """Rows in the ledger of the live generation (0 if none yet)."""
    try:
        conn = database.open_for_reading(ReadModelFile(db))
    except ReadModelMissing:
        return 0
    try:
        return int(conn.execute("SELECT count(*) FROM tracking_applied").fetchone()[0])
    except Exception:  # noqa: BLE001  not prepared yet
        return 0
    finally:
        conn.close()


def counter(db: Path, name: str) -> int:
    value = meta(db).get(name)
    return int(value) if isinstance(value, int | float) else 0


def check_oracle(
    client: EventStoreDBClient, name: str, db: Path, decode: Decode = codec.decode
) -> Verification:
    """The oracle on the live generation at `db`; asserts it holds and returns it."""
    conn = database.open_for_reading(ReadModelFile(db))
    try:
        result = verify(conn, OrderLog(client), registry.get(name), decode)
    finally:
        conn.close()
    assert result.ok, f"{name} differs from the fold of the log: {result.differences}"
    return result


def append_poison_order(client: EventStoreDBClient, stream: str) -> None:
    """Revision 0 a good OrderPlaced; 1 an OrderShipped at schema_version 9, which no
    upcaster knows (its data names the carrier `courier`); 2 a good OrderDelivered."""
    order_id = stream.removeprefix("order-")
    meta = {"$correlationId": "poison", "$causationId": "poison", "actor": "test"}
    placed = {
        "order_id": order_id,
        "customer_id": "poison-customer",
        "lines": [{"sku": "s", "quantity": 1, "unit_price": 100}],
        "currency": "USD",
        "total": 100,
        "shipping_address": None,
        "placed_at": "2024-03-01T10:00:00Z",
    }
    shipped = {"order_id": order_id, "courier": "DHL", "shipped_at": "2024-03-01T11:00:00Z"}
    delivered = {"order_id": order_id, "delivered_at": "2024-03-02T12:00:00Z"}
    events = [
        NewEvent("OrderPlaced", _json(placed), _json(meta | {"schema_version": 3})),
        NewEvent("OrderShipped", _json(shipped), _json(meta | {"schema_version": 9})),
        NewEvent("OrderDelivered", _json(delivered), _json(meta | {"schema_version": 1})),
    ]
    client.append_to_stream(stream, current_version=StreamState.NO_STREAM, events=events)


def decode_with_fix(stored: StoredEvent) -> RecordedOrderEvent:
    """The decoder after the fix is deployed: it also reads OrderShipped v9 (the event
    `append_poison_order` writes), mapping `courier` to `carrier`."""
    meta = json.loads(stored.metadata)
    if stored.type == "OrderShipped" and meta.get("schema_version") == 9:
        data = json.loads(stored.data)
        data = {
            "order_id": data["order_id"],
            "carrier": data["courier"],
            "tracking_number": "unknown",
            "shipped_at": data["shipped_at"],
        }
        stored = replace(stored, data=_json(data), metadata=_json(meta | {"schema_version": 1}))
    return codec.decode(stored)


def start_in_thread(worker: Worker) -> tuple[Worker, threading.Thread]:
    """Run `worker` in a daemon thread of this process."""
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    return worker, thread


def stop_thread(running: tuple[Worker, threading.Thread]) -> None:
    """Ask the worker to stop and check its thread ends within 20 s."""
    worker, thread = running
    worker.request_stop()
    thread.join(20)
    assert not thread.is_alive()


def _json(value: object) -> bytes:
    return json.dumps(value).encode()
