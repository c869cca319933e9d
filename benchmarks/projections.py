"""Projection catch-up throughput beside raw persistent-subscription delivery, on the same data.

    PYTHONPATH=. .venv/bin/python benchmarks/projections.py [--orders N] [--copies N] [--rounds N]

One emulator process (file database, `synchronous=FULL`) gets a seeded run of orders
through the command functions, copied into more order streams with batch appends (the
same events with new order ids) to reach a few thousand order events. Then, per round,
each on a fresh group from the start of the order streams (`$all` filtered by stream
name, Pinned, the worker's window in flight), timed until the last order event:

- raw: a consumer that acks every event and does nothing else (esdbclient's batched acks);
- worker: `projections.worker.Worker` for order_summary into a fresh SQLite file
  (decode + upcast, one transaction per batch with the ledger, ack after commit);
- naive: the same decoding and SQL, but one transaction and one ack per event.

It prints events/s (median over rounds, raw and worker alternating first) and worker / raw.
Target: >= 0.7.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This script is named like the package it measures: keep its own directory off the
# import path, or `import projections` would import this file.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))  # the repository root: the `demo` package is not installed

import argparse  # noqa: E402
import platform  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Literal  # noqa: E402

from esdbclient import EventStoreDBClient, NewEvent, StreamState  # noqa: E402

from demo.workload import run_orders  # noqa: E402
from esdb_emulator.node.launcher import EmulatorProcess  # noqa: E402
from orders import codec  # noqa: E402
from orders.logging import configure_logging  # noqa: E402
from orders.ports import StoredEvent  # noqa: E402
from orders.store import EsdbStore  # noqa: E402
from projections import database  # noqa: E402
from projections.batch import BatchApplier  # noqa: E402
from projections.esdb import GroupSettings, OrderLog, ensure_group, to_delivery  # noqa: E402
from projections.location import ReadModelFile  # noqa: E402
from projections.read_models import registry  # noqa: E402
from projections.worker import Worker, WorkerConfig  # noqa: E402

TARGET = 0.7
DEADLINE = 300.0
PROJECTION = registry.get("order_summary")


def _content_type(event: StoredEvent) -> Literal["application/json", "application/octet-stream"]:
    """The stored event's content type, as esdbclient's NewEvent accepts it."""
    json = event.content_type == "application/json"
    return "application/json" if json else "application/octet-stream"


def seed(uri: str, orders: int, copies: int) -> int:
    """Write the orders, then `copies` copies of their streams; returns order events."""
    store = EsdbStore(uri)
    run_orders(store, orders, seed=99, threads=4)
    store.close()
    client = EventStoreDBClient(uri)
    log = OrderLog(client)
    originals = [e for page in log.pages() for e in page]
    by_stream: dict[str, list[NewEvent]] = {}
    for event in originals:
        by_stream.setdefault(event.stream, []).append(
            NewEvent(event.type, event.data, event.metadata, _content_type(event), uuid.uuid4())
        )
    for _ in range(copies):
        for stream, events in by_stream.items():
            old_id, new_id = stream.removeprefix("order-"), str(uuid.uuid4())
            renamed = [
                NewEvent(
                    e.type,
                    e.data.replace(old_id.encode(), new_id.encode()),
                    e.metadata,
                    e.content_type,
                    uuid.uuid4(),
                )
                for e in events
            ]
            client.append_to_stream(
                f"order-{new_id}", current_version=StreamState.NO_STREAM, events=renamed
            )
    total = log.after(None, 10**9)[0]
    client.close()
    return total


def raw_rate(uri: str, total: int) -> float:
    """A consumer that acks and does nothing else."""
    client = EventStoreDBClient(uri)
    group = _fresh_group(client)
    started = time.perf_counter()
    defaults = WorkerConfig("", PROJECTION, Path())  # the same window and ack batching
    subscription = client.read_subscription_to_all(
        group,
        event_buffer_size=defaults.event_buffer_size,
        max_ack_batch_size=defaults.max_ack_batch_size,
        max_ack_delay=defaults.max_ack_delay,
    )
    for received, event in enumerate(subscription, start=1):
        subscription.ack(event)
        if received == total:
            break
    elapsed = time.perf_counter() - started
    subscription.stop()
    client.close()
    return total / elapsed


def worker_rate(uri: str, total: int, directory: Path) -> float:
    """The projector worker, in a thread, timed until its ledger holds every event."""
    db = directory / f"worker-{uuid.uuid4().hex[:8]}.db"
    client = EventStoreDBClient(uri)
    group = _fresh_group(client)
    client.close()
    worker = Worker(WorkerConfig(uri, PROJECTION, db, subscription_group=group))
    started = time.perf_counter()
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    _wait(lambda: _applied(db) >= total)
    elapsed = time.perf_counter() - started
    worker.request_stop()
    thread.join(30)
    return total / elapsed


def naive_rate(uri: str, total: int, directory: Path) -> float:
    """One transaction and one ack (sent alone) per event."""
    client = EventStoreDBClient(uri)
    group = _fresh_group(client)
    conn = database.open_new(directory / f"naive-{uuid.uuid4().hex[:8]}.db", PROJECTION)
    applier = BatchApplier(PROJECTION, codec.decode, OrderLog(client))
    started = time.perf_counter()
    subscription = client.read_subscription_to_all(
        group, event_buffer_size=1000, max_ack_batch_size=1, max_ack_delay=0.001
    )
    applied = 0
    for event in subscription:
        outcome = applier.apply(conn, [to_delivery(event)])
        for ack_id in outcome.acks:
            subscription.ack(ack_id)
        applied += outcome.applied
        if applied >= total:
            break
    elapsed = time.perf_counter() - started
    subscription.stop()
    client.close()
    conn.close()
    return total / elapsed


def _fresh_group(client: EventStoreDBClient) -> str:
    group = f"bench-{uuid.uuid4().hex[:10]}"
    ensure_group(client, group, GroupSettings())
    return group


def _applied(db: Path) -> int:
    """The worker's own applied counter (one row read, so polling costs next to nothing)."""
    try:
        conn = database.open_for_reading(ReadModelFile(db))
    except Exception:  # noqa: BLE001  not created yet
        return 0
    try:
        row = conn.execute("SELECT value FROM tracking_meta WHERE key = 'events_applied'")
        value = row.fetchone()
        return int(value[0]) if value else 0
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def _wait(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not catch up in time")
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=150)
    parser.add_argument("--copies", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    configure_logging(level="error")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        with EmulatorProcess(directory / "events.db") as node:
            total = seed(node.uri, args.orders, args.copies)
            rates: dict[str, list[float]] = {"raw": [], "worker": [], "naive": []}
            runs: dict[str, Callable[[], float]] = {
                "raw": lambda: raw_rate(node.uri, total),
                "worker": lambda: worker_rate(node.uri, total, directory),
                "naive": lambda: naive_rate(node.uri, total, directory),
            }
            for round_ in range(args.rounds):
                order = (
                    ["raw", "worker", "naive"] if round_ % 2 == 0 else ["worker", "raw", "naive"]
                )
                for name in order:  # alternate raw and worker so drift hits both alike
                    rates[name].append(runs[name]())
    medians = {name: statistics.median(values) for name, values in rates.items()}
    print(
        f"projection catch-up, {total} order events, {args.rounds} rounds (median), "
        f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}"
    )
    print(f"{'consumer':<40} {'events/s':>10} {'vs raw':>8}   rounds")
    labels = {
        "raw": "raw persistent delivery (ack only)",
        "worker": "projection worker (batched txn + acks)",
        "naive": "naive (1 txn + 1 ack per event)",
    }
    for name, label in labels.items():
        rounds = " ".join(f"{r:.0f}" for r in rates[name])
        ratio = medians[name] / medians["raw"]
        print(f"{label:<40} {medians[name]:>10.0f} {ratio:>8.2f}   {rounds}")
    paired = statistics.median(w / r for w, r in zip(rates["worker"], rates["raw"], strict=True))
    print(f"worker/raw paired by round (median): {paired:.2f}")
    ratio = medians["worker"] / medians["raw"]
    print(f"target worker/raw >= {TARGET}: {'met' if ratio >= TARGET else 'NOT met'} ({ratio:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
