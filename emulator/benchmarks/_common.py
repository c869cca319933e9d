"""Shared helpers for the benchmark scripts in this folder.

- `bench_event(i)`: the payload every benchmark writes (a ~250-byte JSON order event),
  so figures from different scripts and servers compare like with like.
- `bounded(count, seconds)`: loop indices that stop at a count *or* a time limit,
  whichever comes first; every benchmark loop must be bounded in both.
- `percentile`, `median`: statistics over plain lists.
- `format_table`: a fixed-width text table for the console.
- `fsync_latency(directory)`: p50/p99 of write+fsync there, to publish with durable figures.
- `tree_cpu_seconds(pid)`: CPU used by a server process and its children (a server
  that hands work to a child process must be charged for it).

Benchmarks only ever target 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from esdbclient import NewEvent

EVENT_TYPE = "OrderPlaced"
EVENT_METADATA = b'{"$correlationId":"bench","schema":1}'


def event_data(i: int) -> bytes:
    """A deterministic JSON body of about 250 bytes for the i-th event."""
    body = {
        "order_id": f"ord-{i:010d}",
        "customer_id": f"cust-{i % 997:05d}",
        "currency": "EUR",
        "lines": [
            {"sku": f"SKU-{(i + k) % 5000:05d}", "qty": 1 + (i + k) % 3, "unit_cents": 1999}
            for k in range(2)
        ],
        "total_cents": 5997,
        "placed_at": "2024-10-01T12:00:00Z",
    }
    return json.dumps(body, separators=(",", ":")).encode()


def bench_event(i: int) -> NewEvent:
    """The i-th benchmark event, with a fresh random id (as an application would send)."""
    return NewEvent(type=EVENT_TYPE, data=event_data(i), metadata=EVENT_METADATA, id=uuid.uuid4())


def bounded(count: int, seconds: float) -> Iterator[int]:
    """Yield 0, 1, 2, ... until `count` values were yielded or `seconds` have passed."""
    deadline = time.perf_counter() + seconds
    for i in range(count):
        if time.perf_counter() >= deadline:
            return
        yield i


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; raises ValueError on no values."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    """The median; raises ValueError on no values."""
    if not values:
        raise ValueError("median of no values")
    return statistics.median(values)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned first column, right-aligned others, columns padded to fit."""
    widths = [max(len(str(r[c])) for r in [headers, *rows]) for c in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        first = str(cells[0]).ljust(widths[0])
        rest = [str(cell).rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest])

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def fsync_latency(directory: str | os.PathLike[str], count: int = 50) -> tuple[float, float]:
    """(p50, p99) seconds of a 256-byte write + fsync in `directory` (a temporary file)."""
    latencies = []
    with tempfile.TemporaryFile(dir=directory) as file:
        for _ in range(count):
            file.write(b"x" * 256)
            file.flush()
            started = time.perf_counter()
            os.fsync(file.fileno())
            latencies.append(time.perf_counter() - started)
    return percentile(latencies, 50), percentile(latencies, 99)


def tree_cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds used so far by process `pid` and its live descendants
    (Linux /proc); 0.0 if unknown. CPU per operation is much less sensitive to a noisy
    machine than rates."""
    if pid is None:
        return 0.0
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def settle(pid: int | None, *, idle_share: float = 0.05, seconds: float = 15.0) -> None:
    """Wait (at most `seconds`) until process `pid` and its children use less than
    `idle_share` of a core over half a second: background work a setup step left
    (a WAL checkpoint, say) should not be charged to the next measurement."""
    deadline = time.monotonic() + seconds
    before = tree_cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        after = tree_cpu_seconds(pid)
        if after - before < idle_share * 0.5:
            return
        before = after
