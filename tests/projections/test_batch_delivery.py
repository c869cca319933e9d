"""The batch handler fed real events read from the server, delivered as a persistent
subscription may deliver them: duplicated, reordered, split into arbitrary batches, with
poison among them. Gaps are filled by reading the server's streams."""

from __future__ import annotations

import random
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from esdbclient import EventStoreDBClient
from readside_harness import append_poison_order

from demo.workload import run_orders
from esdb_emulator.node.launcher import EmulatorProcess
from orders import codec
from orders.ports import StoredEvent
from orders.store import EsdbStore
from projections import database, tracking
from projections.batch import BatchApplier, Delivery, is_transient
from projections.errors import GenerationRetired
from projections.esdb import OrderLog
from projections.ops.verify import compare
from projections.read_models import registry

pytestmark = pytest.mark.emulator_only


SEEDED: set[str] = set()
"""The streams of the seeded orders (other tests add streams of their own)."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """One server for the module, holding the same 50 seeded orders for every test."""
    with EmulatorProcess(tmp_path_factory.mktemp("batch") / "events.db") as node:
        store = EsdbStore(node.uri)
        SEEDED.update(f"order-{i}" for i in run_orders(store, 50, seed=21).order_ids)
        store.close()
        yield node


@pytest.fixture
def log(server: EmulatorProcess) -> Iterator[OrderLog]:
    client = EventStoreDBClient(server.uri)
    yield OrderLog(client)
    client.close()


def _all(log: OrderLog) -> list[StoredEvent]:
    """The seeded orders' events, in log order."""
    return [event for page in log.pages() for event in page if event.stream in SEEDED]


@pytest.mark.parametrize("name", list(registry.PROJECTIONS))
@pytest.mark.parametrize("seed", [1, 2])
def test_duplicated_and_reordered_deliveries_apply_each_event_once(
    log: OrderLog, name: str, seed: int
) -> None:
    """A third of the events delivered twice, all shuffled, in random batch sizes: every
    delivery is acked, each event applied once, and the model equals the ordered fold."""
    projection = registry.get(name)
    events = _all(log)
    rng = random.Random(seed)
    deliveries = [Delivery(e, uuid.uuid4()) for e in events]
    deliveries += rng.sample(deliveries, len(deliveries) // 3)
    rng.shuffle(deliveries)
    conn = database.open_memory(projection)
    applier = BatchApplier(projection, codec.decode, log)
    applied = duplicates = gap_events = 0
    while deliveries:
        size = rng.randint(1, 40)
        batch, deliveries = deliveries[:size], deliveries[size:]
        outcome = applier.apply(conn, batch)
        assert outcome.failures == []
        assert sorted(outcome.acks) == sorted(d.ack_id for d in batch)
        applied, duplicates = applied + outcome.applied, duplicates + outcome.duplicates
        gap_events += outcome.gap_events
    delivered = len(events) + len(events) // 3
    assert applied == len(events)
    assert gap_events > 0, "shuffling should have opened gaps"
    assert duplicates == delivered - (applied - gap_events)
    expected = database.open_memory(projection)
    BatchApplier(projection, codec.decode, log).apply(
        expected, [Delivery(e, uuid.uuid4()) for e in events]
    )
    result = compare(conn, expected, projection)
    assert result.ok, result.differences


def test_a_poison_event_blocks_only_its_own_stream(server: EmulatorProcess, log: OrderLog) -> None:
    """An event no upcaster knows fails, and so do later revisions of its stream (nothing
    out of order); other streams are applied; nack is retry, then park after retries."""
    stream = f"order-{uuid.uuid4()}"
    append_poison_order(log.client, stream)
    projection = registry.get("order_summary")
    conn = database.open_memory(projection)
    applier = BatchApplier(projection, codec.decode, log, park_after=2)
    others = [Delivery(e, uuid.uuid4()) for e in _all(log) if e.stream != stream]
    mine = [Delivery(e, uuid.uuid4(), retry_count=2) for e in log.stream(stream)]

    outcome = applier.apply(conn, [*others, *mine])

    failed = {f.delivery.stored.revision: f for f in outcome.failures}
    assert sorted(failed) == [1, 2]
    assert "no upcaster" in failed[1].error
    assert f"{stream}@1 (OrderShipped)" in failed[1].error
    assert "blocked behind" in failed[2].error
    assert {f.action for f in outcome.failures} == {"park"}
    assert outcome.applied == len(others) + 1
    assert tracking.last_revisions(conn, [stream]) == {stream: 0}
    retried = applier.apply(conn, [Delivery(mine[1].stored, uuid.uuid4(), retry_count=0)])
    assert [f.action for f in retried.failures] == ["retry"]


def test_an_apply_error_rolls_back_only_that_event(log: OrderLog) -> None:
    """A statement failing in SQLite (here a row already present) fails that event with no
    partial effect, while the rest of the batch commits."""
    projection = registry.get("order_summary")
    events = _all(log)
    victim = events[0]
    conn = database.open_memory(projection)
    order_id = victim.stream.removeprefix("order-")
    conn.execute(
        "INSERT INTO order_summary (order_id, customer_id, status, currency, total,"
        " line_count, placed_at, last_revision) VALUES (?, 'x', 'X', 'USD', 0, 0, '', 99)",
        (order_id,),
    )
    outcome = BatchApplier(projection, codec.decode, log).apply(
        conn, [Delivery(e, uuid.uuid4()) for e in events]
    )
    assert {f.delivery.stored.stream for f in outcome.failures} == {victim.stream}
    assert "IntegrityError" in outcome.failures[0].error
    assert conn.execute(
        "SELECT count(*) FROM tracking_applied WHERE stream = ?", (victim.stream,)
    ).fetchone() == (0,)
    assert outcome.applied == len([e for e in events if e.stream != victim.stream])


def test_a_retired_generation_refuses_the_batch(log: OrderLog, tmp_path: Path) -> None:
    """After a rebuild retires a generation, a worker's batch there rolls back untouched."""
    projection = registry.get("daily_sales")
    conn = database.open_new(tmp_path / "old.db", projection)
    conn.execute("BEGIN IMMEDIATE")
    tracking.retire(conn)
    conn.execute("COMMIT")
    with pytest.raises(GenerationRetired):
        BatchApplier(projection, codec.decode, log).apply(
            conn, [Delivery(e, uuid.uuid4()) for e in _all(log)[:5]]
        )
    assert _count(conn, "tracking_applied") == 0
    assert _count(conn, "daily_sales") == 0


def _count(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_a_full_disk_rolls_the_batch_back_and_a_retry_applies_it(
    log: OrderLog, tmp_path: Path
) -> None:
    """SQLITE_FULL (the file may not grow: max_page_count) is transient: the batch raises
    with nothing applied and nothing to ack; once space is back the same batch applies."""
    projection = registry.get("order_timeline")
    conn = database.open_new(tmp_path / "full.db", projection)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    batch = [Delivery(e, uuid.uuid4()) for e in _all(log)]
    applier = BatchApplier(projection, codec.decode, log)
    with pytest.raises(sqlite3.OperationalError) as full:
        applier.apply(conn, batch)
    assert is_transient(full.value)
    assert not conn.in_transaction
    assert _count(conn, "tracking_applied") == 0
    assert _count(conn, "order_timeline") == 0

    conn.execute("PRAGMA max_page_count = 1073741823")
    outcome = applier.apply(conn, batch)
    assert outcome.applied == len(batch)
    assert _count(conn, "order_timeline") == len(batch)
