"""Micro-measurements of `EventLog` alone (no gRPC): is SQLite ever the bottleneck?

Run: `PYTHONPATH=. .venv/bin/python benchmarks/storage_micro.py [--synchronous NORMAL]`.
Prints single-event append latency (sequential, through the writer thread),
throughput of 100-event batches, concurrent single-event appends (group commit) and
the read rate of a 20k-event stream in pages of 500.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Literal

from esdb_emulator.records import ProposedEvent
from esdb_emulator.storage import EventLog

LINE = b'{"sku":"ABC-123","qty":2,"price":"9.95"}'
PAYLOAD = b'{"order_id":"' + b"x" * 36 + b'","lines":[' + b",".join([LINE] * 5) + b"]}"


def event() -> ProposedEvent:
    return ProposedEvent(str(uuid.uuid4()), "OrderPlaced", "application/json", b"{}", PAYLOAD)


def percentile(samples: list[float], q: float) -> float:
    return sorted(samples)[min(len(samples) - 1, int(q * len(samples)))]


async def single_appends(log: EventLog, n: int) -> None:
    latencies = []
    for i in range(n):
        start = time.perf_counter()
        await log.append(f"single-{i % 100}", "any", [event()])
        latencies.append((time.perf_counter() - start) * 1e6)
    warm = latencies[n // 10 :]
    print(
        f"single-event append x{len(warm)}: p50 {percentile(warm, 0.5):.0f} us,"
        f" p99 {percentile(warm, 0.99):.0f} us, mean {statistics.fmean(warm):.0f} us"
    )


async def batch_appends(log: EventLog, batches: int, size: int) -> None:
    payloads = [[event() for _ in range(size)] for _ in range(batches)]
    start = time.perf_counter()
    for i, batch in enumerate(payloads):
        await log.append(f"batch-{i}", "no_stream", batch)
    elapsed = time.perf_counter() - start
    print(f"{size}-event batches x{batches}: {batches * size / elapsed:,.0f} events/s")


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


async def stream_read(log: EventLog, size: int, page: int) -> None:
    for _ in range(0, size, 100):
        await log.append("big", "any", [event() for _ in range(100)])
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        revision, read = 0, 0
        while True:
            events = log.read_stream(
                "big", revision=revision, backwards=False, limit=page, resolve_links=False
            )
            read += len(events)
            if len(events) < page:
                break
            revision = events[-1].event.revision + 1
        best = min(best, time.perf_counter() - start)
        assert read == size
    print(f"read a {size}-event stream in pages of {page}: {size / best:,.0f} events/s")
    start = time.perf_counter()
    position, read = None, 0
    while True:
        records = log.read_all(position=position, backwards=False, limit=page, resolve_links=False)
        read += len(records)
        if len(records) < page:
            break
        position = records[-1].event.position + 1
    rate = read / (time.perf_counter() - start)
    print(f"read $all ({read} records) in pages of {page}: {rate:,.0f} records/s")


async def main(synchronous: Literal["FULL", "NORMAL"]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log = EventLog(Path(tmp) / "events.db", synchronous=synchronous)
        await log.start()
        try:
            print(f"synchronous={synchronous}")
            await single_appends(log, 2000)
            await batch_appends(log, 300, 100)
            await concurrent_appends(log, 3200, 32)
            await stream_read(log, 20_000, 500)
        finally:
            await log.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--synchronous", choices=["FULL", "NORMAL"], default="FULL")
    asyncio.run(main(parser.parse_args().synchronous))
