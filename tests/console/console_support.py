"""What the console tests share: a console served by uvicorn in this process, seeded
orders (current and legacy), a parked message made for real by a worker, and waits with
deadlines."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from esdbclient.exceptions import NotFound

from console import ConsoleConfig
from console.server import ConsoleThread
from demo.legacy_seed import LegacyOrder, legacy_orders, write_legacy
from esdb_emulator.testing.waiting import wait_until
from orders import place_order, record_payment
from orders.codec import RecordedOrderEvent, decode
from orders.ports import StoredEvent
from orders.store import EsdbStore
from projections import database
from projections.errors import ReadModelMissing
from projections.location import ReadModelFile
from projections.read_models import registry
from projections.worker import Worker, WorkerConfig

PROJECTION = "order_summary"
GROUP = f"projection-{PROJECTION}"


@dataclass
class Seeded:
    """Orders written through the command functions, and legacy ones as stored long ago."""

    order_id: str
    correlation_id: str
    placed_at: datetime
    legacy: list[LegacyOrder] = field(default_factory=list)

    @property
    def stream(self) -> str:
        return f"order-{self.order_id}"

    @property
    def legacy_order(self) -> LegacyOrder:
        """A legacy order whose first event is stored at an older schema."""
        return self.legacy[0]


def seed(store: EsdbStore, legacy: int = 4) -> Seeded:
    """One order placed then paid in full (PENDING at revision 0, PAID at its head), the
    payment under its own correlation id; plus `legacy` legacy orders."""
    order_id = str(uuid.uuid4())
    correlation = f"corr-{uuid.uuid4().hex[:12]}"
    at = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    lines = [{"sku": "sku-1", "quantity": 2, "unit_price": 1250}]
    place_order(order_id, "cust-console", lines, "EUR", store=store, at=at)
    record_payment(
        order_id,
        "pay-1",
        2500,
        "EUR",
        store=store,
        at=at + timedelta(hours=1),
        correlation_id=correlation,
    )
    orders = legacy_orders(legacy, seed=uuid.uuid4().int % 10_000)
    write_legacy(store, orders)
    return Seeded(order_id, correlation, at, orders)


def serve(uri: str, directory: Path, *, allow_actions: bool = False) -> ConsoleThread:
    """A started console over `uri` and the read models in `directory`."""
    config = ConsoleConfig(
        uri, projections_dir=directory, allow_actions=allow_actions, refresh_ms=300
    )
    return ConsoleThread(config).start()


def failing_for(stream: str) -> Callable[[StoredEvent], RecordedOrderEvent]:
    """The real decoder, except that it refuses every event of `stream` (a bug deployed)."""

    def decode_or_fail(stored: StoredEvent) -> RecordedOrderEvent:
        if stored.stream == stream:
            raise ValueError(f"simulated decoder bug on {stream}")
        return decode(stored)

    return decode_or_fail


class RunningWorker:
    """A projection worker in a daemon thread of this process."""

    def __init__(
        self,
        uri: str,
        db: Path,
        decode_with: Callable[[StoredEvent], RecordedOrderEvent] = decode,
    ) -> None:
        config = WorkerConfig(uri, registry.get(PROJECTION), db, park_after=1, linger=0.01)
        self.worker = Worker(config, decode=decode_with)
        self.thread = threading.Thread(target=self.worker.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.worker.request_stop()
        self.thread.join(20)
        assert not self.thread.is_alive(), "the worker did not stop within 20 s"


def summary_has(db: Path, order_id: str) -> bool:
    """True when the order_summary read model holds a row for `order_id`."""
    try:
        conn = database.open_for_reading(ReadModelFile(db))
    except ReadModelMissing:
        return False
    try:
        row = conn.execute("SELECT 1 FROM order_summary WHERE order_id = ?", (order_id,))
        return row.fetchone() is not None
    except Exception:  # noqa: BLE001  not prepared yet
        return False
    finally:
        conn.close()


def applied(db: Path) -> int:
    """Events applied to the read model (its ledger), 0 before it exists."""
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


@dataclass
class ParkedScenario:
    """An order whose event a buggy worker parked; a fixed worker now runs."""

    seeded: Seeded
    parked_order: str
    db: Path
    worker: RunningWorker


def park_one(
    uri: str, store: EsdbStore, directory: Path, parked_count: Callable[[], int]
) -> ParkedScenario:
    """Seed orders, let a worker with a decoder bug park the one event of a fresh order,
    then stop it and start a fixed worker (parked messages wait for a replay)."""
    seeded = seed(store)
    parked_order = str(uuid.uuid4())
    lines = [{"sku": "sku-9", "quantity": 1, "unit_price": 999}]
    place_order(parked_order, "cust-parked", lines, "USD", store=store)
    db = directory / f"{PROJECTION}.db"
    broken = RunningWorker(uri, db, failing_for(f"order-{parked_order}"))

    def parked_one() -> bool:
        try:
            return parked_count() == 1
        except NotFound:  # the worker has not created its group yet
            return False

    try:
        wait_until(parked_one, 60, "the bad order's event parked")
        wait_until(lambda: summary_has(db, seeded.order_id), 30, "the other orders applied")
    finally:
        broken.stop()
    return ParkedScenario(seeded, parked_order, db, RunningWorker(uri, db))
