"""F10, commit-order gaps: 64 concurrent appenders, each sleeping a random time between
deciding and appending (so commits land in an order unrelated to when they were decided,
with many in flight at once), while a catch-up projector and two persistent-subscription
workers (processes, RoundRobin) consume.

What would go wrong: a server that allocated positions before commit (Marten #4953) lets a
reader pass a position whose transaction commits later, skipping its events for ever.

Pass: the catch-up projector received exactly the order events of `$all` read afterwards,
in that order, each once, with strictly increasing positions and no gap it had to read
back from a stream; both read models equal the oracle (the fold of the streams by the
pure code), each (stream, revision) once. Runs against `ESDB_URI` too (groups and files
are the test's own; the oracle folds the whole log).
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from catchup_projector import CatchUpProjector
from esdbclient import EventStoreDBClient
from readside_harness import applied, check_oracle, counter, order_events

from demo.fleet import WorkerProcess
from demo.workload import run_orders
from esdb_emulator.testing.waiting import wait_until
from orders.ports import AppendResult, EncodedEvent, OrderStore, StoredEvent
from orders.store import EsdbStore
from projections.esdb import ORDER_STREAMS_REGEX, GroupSettings, ensure_group

APPENDERS = 64
ORDERS = 128
MAX_DELAY = 0.02
"""Seconds an appender may sleep between reading its stream and appending."""


class DelayedStore:
    """An `OrderStore` whose appends wait a random time first (seeded per thread)."""

    def __init__(self, store: OrderStore, seed: int) -> None:
        self.store, self.seed = store, seed
        self._local = threading.local()

    def read(
        self, order_id: str, *, from_revision: int = 0, limit: int | None = None
    ) -> Sequence[StoredEvent]:
        return self.store.read(order_id, from_revision=from_revision, limit=limit)

    def append(
        self, order_id: str, expected_revision: int | None, events: Sequence[EncodedEvent]
    ) -> AppendResult:
        rng: random.Random | None = getattr(self._local, "rng", None)
        if rng is None:
            rng = self._local.rng = random.Random(f"{self.seed}-{threading.get_ident()}")
        threading.Event().wait(rng.uniform(0, MAX_DELAY))  # the injected commit delay
        return self.store.append(order_id, expected_revision, events)

    def claim(self, key: UUID, claim: EncodedEvent) -> StoredEvent | None:
        return self.store.claim(key, claim)

    def close(self) -> None:
        self.store.close()


def test_concurrent_appenders_with_random_delays_leave_no_gap_for_any_reader(
    server_uri: str, tmp_path: Path
) -> None:
    es = EventStoreDBClient(server_uri)
    stores = [EsdbStore(server_uri) for _ in range(4)]
    group = f"f10-{uuid.uuid4().hex[:8]}"
    ensure_group(es, group, GroupSettings(consumer_strategy="RoundRobin"))
    catchup_db, persistent_db = tmp_path / "catchup.db", tmp_path / "persistent.db"
    catchup = CatchUpProjector(server_uri, "order_summary", catchup_db).start()
    workers = [
        WorkerProcess(
            server_uri, "order_summary", persistent_db, tmp_path / f"w{i}.log",
            "--group", group, "--batch-size", "50", strategy="RoundRobin",
        ).start()
        for i in range(2)
    ]  # fmt: skip
    try:
        writers = [
            threading.Thread(
                target=run_orders,
                args=(DelayedStore(stores[i % len(stores)], seed=100 + i), ORDERS // 8),
                kwargs={"seed": 100 + i, "threads": APPENDERS // 8},
            )
            for i in range(8)
        ]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(120)
        assert not any(w.is_alive() for w in writers)
        total = order_events(es)
        print(f"F10: {total} order events from {APPENDERS} concurrent appenders")
        wait_until(lambda: len(catchup.received) >= total, 60, f"the catch-up receiving {total}")
        wait_until(lambda: applied(catchup_db) == total, 60, "the catch-up applying all")
        wait_until(lambda: applied(persistent_db) == total, 60, "the workers applying all")
    finally:
        catchup.stop()
        codes = [w.stop() for w in workers]
        for store in stores:
            store.close()
    assert catchup.error is None, catchup.error
    assert codes == [0, 0]

    log = [
        (e.commit_position or 0, e.id)
        for e in es.read_all(filter_include=[ORDER_STREAMS_REGEX], filter_by_stream_name=True)
    ]
    assert catchup.received == log, "the catch-up skipped, repeated or reordered events"
    positions = [p for p, _ in log]
    assert positions == sorted(set(positions))
    assert counter(catchup_db, "gap_events_read") == 0
    check_oracle(es, "order_summary", catchup_db)
    check_oracle(es, "order_summary", persistent_db)
    es.close()
