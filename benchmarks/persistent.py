"""Persistent-subscription delivery rate beside the catch-up subscription rate.

    PYTHONPATH=. .venv/bin/python benchmarks/persistent.py [--events N] [--rounds N] [--check]

One emulator process (durable, `synchronous=FULL`, file database in a temporary
directory) gets one stream of N events (default 20,000), written once. Then, in
alternating order per round:

- catch-up: the sync esdbclient's `subscribe_to_stream` from the start, iterated to
  the N-th event;
- persistent: a fresh group from the start of the stream (the client's defaults:
  DispatchToSingle, 150 events in flight), one consumer acking every event as
  esdbclient does (batched: 50 ids or 0.2 s), timed to the N-th event received.

The table shows events/s (median over rounds) and the ratio persistent / catch-up.
Target: ratio >= 0.7. Exit status 0 whether or not the target is met (--check makes
a miss exit 1); non-zero on errors.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _common import bench_event, format_table, median
from esdbclient import EventStoreDBClient, StreamState

from esdb_emulator.launcher import EmulatorProcess

TARGET_RATIO = 0.7
WRITE_BATCH = 500
DEADLINE = 300.0


def write_stream(client: EventStoreDBClient, stream: str, count: int) -> None:
    """Append `count` benchmark events to a new stream, in batches."""
    for start in range(0, count, WRITE_BATCH):
        batch = [bench_event(i) for i in range(start, min(count, start + WRITE_BATCH))]
        client.append_to_stream(stream, current_version=StreamState.ANY, events=batch)


def catch_up_rate(client: EventStoreDBClient, stream: str, count: int) -> float:
    """Events/s of a catch-up subscription reading the whole stream."""
    started = time.perf_counter()
    subscription = client.subscribe_to_stream(stream, timeout=DEADLINE)
    for received, _ in enumerate(subscription, start=1):
        if received == count:
            break
    elapsed = time.perf_counter() - started
    subscription.stop()
    return count / elapsed


def persistent_rate(client: EventStoreDBClient, stream: str, count: int) -> float:
    """Events/s of one acking consumer of a fresh group reading the whole stream."""
    group = f"bench-{uuid.uuid4().hex}"
    client.create_subscription_to_stream(group, stream)
    started = time.perf_counter()
    subscription = client.read_subscription_to_stream(group, stream, timeout=DEADLINE)
    for received, event in enumerate(subscription, start=1):
        subscription.ack(event)
        if received == count:
            break
    elapsed = time.perf_counter() - started
    subscription.stop()
    client.delete_subscription(group, stream)
    return count / elapsed


def run(events: int, rounds: int) -> tuple[float, float]:
    """Median catch-up and persistent rates over `rounds` rounds on one stream."""
    catch_up: list[float] = []
    persistent: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-persistent-") as folder,
        EmulatorProcess(Path(folder) / "events.db") as node,
    ):
        client = EventStoreDBClient(node.uri)
        try:
            stream = f"bench-{uuid.uuid4().hex}"
            write_stream(client, stream, events)
            for round_number in range(rounds):
                order = [catch_up_rate, persistent_rate]
                if round_number % 2:
                    order.reverse()
                for measure in order:
                    rate = measure(client, stream, events)
                    (catch_up if measure is catch_up_rate else persistent).append(rate)
        finally:
            client.close()
    return median(catch_up), median(persistent)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="exit 1 if the target is missed")
    args = parser.parse_args(argv)
    catch_up, persistent = run(args.events, args.rounds)
    ratio = persistent / catch_up
    verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
    print(f"{platform.python_implementation()} {platform.python_version()}, {args.events} events,")
    print(f"median of {args.rounds} rounds\n")
    print(
        format_table(
            ["measurement", "unit", "figure", "target", "verdict"],
            [
                ["catch-up subscription", "events/s", f"{catch_up:,.0f}", "", ""],
                ["persistent subscription", "events/s", f"{persistent:,.0f}", "", ""],
                ["persistent / catch-up", "x", f"{ratio:.2f}", f">= {TARGET_RATIO}", verdict],
            ],
        )
    )
    return 1 if args.check and verdict == "FAIL" else 0


if __name__ == "__main__":
    sys.exit(main())
