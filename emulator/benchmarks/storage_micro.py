"""Micro-measurements of `EventLog` alone (no gRPC): is SQLite ever the bottleneck?

Run: `.venv/bin/python emulator/benchmarks/storage_micro.py [--synchronous NORMAL]`.

Prints, each beside the same work done on a bare SQLite connection with the same
schema and settings (the floor on this machine):
- single-event append latency, sequential, through the writer;
- throughput of 100-event batches to fresh streams;
- 32 concurrent single-event appends (group commit: commits per append);
- reading a 20k-event stream, and `$all`, in pages of 500.
Throughputs are the best of several runs: other load on the machine only slows runs.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from esdb_emulator.log.event_log import EventLog
from esdb_emulator.log.records import ProposedEvent
from esdb_emulator.log.schema import SCHEMA, connect, insert_rows

LINE = b'{"sku":"ABC-123","qty":2,"price":"9.95"}'
PAYLOAD = b'{"order_id":"' + b"x" * 36 + b'","lines":[' + b",".join([LINE] * 5) + b"]}"
RUNS = 5


def event() -> ProposedEvent:
    return ProposedEvent(str(uuid.uuid4()), "OrderPlaced", "application/json", b"{}", PAYLOAD)


def percentile(samples: list[float], q: float) -> float:
    return sorted(samples)[min(len(samples) - 1, int(q * len(samples)))]


def latency_line(what: str, samples_us: list[float]) -> str:
    p50, p99 = percentile(samples_us, 0.5), percentile(samples_us, 0.99)
    return f"{what}: p50 {p50:.0f} us, p99 {p99:.0f} us"


class BareSqlite:
    """The same inserts on one connection, no thread, no rules: the floor."""

    def __init__(self, db: Path, synchronous: Literal["FULL", "NORMAL"]) -> None:
        self.conn = connect(db, synchronous, writer=True)
        self.conn.executescript(SCHEMA)
        self.position = 1000

    def commit(self, stream: str, first: int, events: list[ProposedEvent]) -> None:
        values: list[object] = []
        for offset, e in enumerate(events):
            self.position += 400
            values.extend((self.position, stream, first + offset, e.event_id, e.type,
                           e.content_type, e.metadata, e.data, time.time_ns() // 100))  # fmt: skip
        self.conn.execute("BEGIN IMMEDIATE")
        insert_rows(self.conn, values)
        self.conn.execute("COMMIT")


async def single_appends(log: EventLog, bare: BareSqlite, n: int) -> None:
    ours, floor = [], []
    for i in range(n):
        e = event()
        start = time.perf_counter()
        await log.append(f"single-{i % 100}", "any", [e])
        middle = time.perf_counter()
        bare.commit(f"single-{i % 100}", i, [e])
        floor.append((time.perf_counter() - middle) * 1e6)
        ours.append((middle - start) * 1e6)
    print(latency_line(f"single-event append x{n}", ours[n // 10 :]))
    print(latency_line("  bare SQLite commit", floor[n // 10 :]))


def best_rate(run: Callable[[], float], count: int) -> float:
    return max(count / run() for _ in range(RUNS))


async def batch_appends(log: EventLog, bare: BareSqlite, batches: int, size: int) -> None:
    async def ours() -> float:
        payloads = [[event() for _ in range(size)] for _ in range(batches)]
        start = time.perf_counter()
        for batch in payloads:
            await log.append(f"batch-{uuid.uuid4()}", "no_stream", batch)
        return time.perf_counter() - start

    def floor() -> float:
        payloads = [[event() for _ in range(size)] for _ in range(batches)]
        start = time.perf_counter()
        for batch in payloads:
            bare.commit(f"bare-{uuid.uuid4()}", 0, batch)
        return time.perf_counter() - start

    rate = max([batches * size / await ours() for _ in range(RUNS)])
    print(f"{size}-event batches x{batches}: {rate:,.0f} events/s (best of {RUNS})")
    print(f"  bare SQLite: {best_rate(floor, batches * size):,.0f} events/s")


async def concurrent_appends(log: EventLog, n: int, concurrency: int) -> None:
    commits = log.commit_count
    start = time.perf_counter()
    for offset in range(0, n, concurrency):
        await asyncio.gather(
            *(log.append(f"conc-{offset + i}", "no_stream", [event()]) for i in range(concurrency))
        )
    elapsed = time.perf_counter() - start
    print(
        f"{concurrency} concurrent single-event appends x{n}: {n / elapsed:,.0f} appends/s,"
        f" {log.commit_count - commits} commits"
    )


async def reads(log: EventLog, size: int, page: int) -> None:
    for _ in range(0, size, 100):
        await log.append("big", "any", [event() for _ in range(100)])

    def stream() -> float:
        start, revision = time.perf_counter(), 0
        while events := log.read_stream(
            "big", revision=revision, backwards=False, limit=page, resolve_links=False
        ):
            revision = events[-1].event.revision + 1
        return time.perf_counter() - start

    total = len(log.read_all(position=None, backwards=False, limit=10**9, resolve_links=False))

    def all_records() -> float:
        start, position = time.perf_counter(), 0
        while records := log.read_all(
            position=position, backwards=False, limit=page, resolve_links=False
        ):
            position = records[-1].event.position + 1
        return time.perf_counter() - start

    print(f"read a {size}-event stream, pages of {page}: {best_rate(stream, size):,.0f} events/s")
    print(f"read $all ({total} records), pages of {page}: {best_rate(all_records, total):,.0f}/s")


async def main(synchronous: Literal["FULL", "NORMAL"], directory: Path | None) -> None:
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        log = EventLog(Path(tmp) / "events.db", synchronous=synchronous)
        bare = BareSqlite(Path(tmp) / "bare.db", synchronous)
        await log.start()
        try:
            print(f"synchronous={synchronous}, databases in {tmp} (tmpfs would hide fsync)")
            await single_appends(log, bare, 2000)
            await batch_appends(log, bare, 100, 100)
            await concurrent_appends(log, 3200, 32)
            await reads(log, 20_000, 500)
        finally:
            await log.close()
            bare.conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--synchronous", choices=["FULL", "NORMAL"], default="FULL")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the databases")
    args = parser.parse_args()
    asyncio.run(main(args.synchronous, args.dir))
