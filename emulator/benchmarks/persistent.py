"""Persistent-subscription delivery rate beside the catch-up subscription rate.

    .venv/bin/python emulator/benchmarks/persistent.py [--events N] [--rounds N]
        [--buffer-size N] [--check]

Two servers, each in its own process: the emulator (durable, `synchronous=FULL`,
file database in a temporary directory), which gets one stream of N events (default
20,000), written once; and the stand-in (`standin_server.py`), which streams N
prebuilt events to any subscription and does no other work (its persistent consumer
gets at most `buffer_size` unacknowledged events; acks are only counted). Then, in
alternating order per round, against each server in turn:

- catch-up: the sync esdbclient's `subscribe_to_stream` from the start, iterated to
  the N-th event;
- persistent: a fresh group from the start of the stream (the client's defaults:
  DispatchToSingle, 150 events in flight), one consumer acking every event as
  esdbclient does (batched: 50 ids or 0.2 s), timed to the N-th event received.

The table shows events/s (median over rounds) and the ratio persistent / catch-up
(also as the median of each round's ratio, which shared machines disturb less),
plus the CPU each side spent per event (the server process with any children,
and this client process with its gRPC and ack threads): CPU time is much less
disturbed than wall time when other work shares the machine, and it shows which
side a difference comes from. "Client CPU busy" is the client's CPU over the wall
time (about 1 core is all one Python process gets, under the GIL). The client-bound
ceiling is the client's CPU per catch-up event over its CPU per persistent event:
the ratio a server that costs the client nothing more than its events could reach
while the client is the bottleneck. Its persistent consumer does more work per event
(an ack put on a queue that another thread drains) than its catch-up subscription.
Target: ratio >= 0.7. Exit status 0 whether or not the target is met (--check makes
a miss exit 1); non-zero on errors.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from _common import bench_event, format_table, median, settle, tree_cpu_seconds
from esdbclient import EventStoreDBClient, StreamState
from standin_server import READ_STREAM_NAME, StandinProcess

from esdb_emulator.node.launcher import EmulatorProcess

TARGET_RATIO = 0.7
WRITE_BATCH = 500
#: The consumer's events in flight: esdbclient's default.
BUFFER_SIZE = 150
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


def persistent_rate(
    client: EventStoreDBClient, stream: str, count: int, buffer_size: int = BUFFER_SIZE
) -> float:
    """Events/s of one acking consumer of a fresh group reading the whole stream,
    with at most `buffer_size` events in flight."""
    group = f"bench-{uuid.uuid4().hex}"
    client.create_subscription_to_stream(group, stream)
    started = time.perf_counter()
    subscription = client.read_subscription_to_stream(
        group, stream, event_buffer_size=buffer_size, timeout=DEADLINE
    )
    for received, event in enumerate(subscription, start=1):
        subscription.ack(event)
        if received == count:
            break
    elapsed = time.perf_counter() - started
    subscription.stop()
    client.delete_subscription(group, stream)
    return count / elapsed


@dataclass
class Figures:
    """What one kind of subscription measured, round by round."""

    rates: list[float] = field(default_factory=list)
    server_cpu_us: list[float] = field(default_factory=list)
    client_cpu_us: list[float] = field(default_factory=list)
    client_cores: list[float] = field(default_factory=list)


def own_cpu() -> float:
    """CPU seconds this process (all its threads) has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_once(
    measure: Callable[[EventStoreDBClient, str, int], float],
    client: EventStoreDBClient,
    stream: str,
    events: int,
    server_pid: int | None,
    figures: Figures,
) -> None:
    """Run one measurement and record its rate and CPU per event."""
    server_before, client_before = tree_cpu_seconds(server_pid), own_cpu()
    rate = measure(client, stream, events)
    client_cpu = own_cpu() - client_before
    figures.rates.append(rate)
    figures.server_cpu_us.append((tree_cpu_seconds(server_pid) - server_before) / events * 1e6)
    figures.client_cpu_us.append(client_cpu / events * 1e6)
    figures.client_cores.append(client_cpu / (events / rate))


@dataclass
class Server:
    """One server's client, stream and figures."""

    name: str
    pid: int | None
    client: EventStoreDBClient
    stream: str
    catch_up: Figures = field(default_factory=Figures)
    persistent: Figures = field(default_factory=Figures)


def run(events: int, rounds: int, buffer_size: int) -> list[Server]:
    """Catch-up and persistent figures over `rounds` rounds, emulator and stand-in."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-persistent-") as folder,
        EmulatorProcess(Path(folder) / "events.db") as node,
        StandinProcess(events) as floor,
    ):
        servers = [
            Server("emulator", node.pid, EventStoreDBClient(node.uri), f"bench-{uuid.uuid4().hex}"),
            Server("stand-in", floor.pid, EventStoreDBClient(floor.uri), READ_STREAM_NAME),
        ]
        try:
            write_stream(servers[0].client, servers[0].stream, events)
            settle(node.pid)
            for round_number in range(rounds):
                kinds: list[Callable[[EventStoreDBClient, str, int], float]] = [
                    catch_up_rate,
                    partial(persistent_rate, buffer_size=buffer_size),
                ]
                order = servers if round_number % 2 == 0 else servers[::-1]
                for measure in kinds if round_number % 2 == 0 else kinds[::-1]:
                    for server in order:
                        figures = server.catch_up if measure is catch_up_rate else server.persistent
                        measure_once(
                            measure, server.client, server.stream, events, server.pid, figures
                        )
                        settle(server.pid)
        finally:
            for server in servers:
                server.client.close()
    return servers


def ratios(server: Server) -> tuple[float, float]:
    """Persistent / catch-up: of the medians, and the median of each round's."""
    overall = median(server.persistent.rates) / median(server.catch_up.rates)
    rounds = zip(server.persistent.rates, server.catch_up.rates, strict=True)
    return overall, median([p / c for p, c in rounds])


def ceiling(server: Server) -> float:
    """The ratio a client kept busy by both kinds of subscription allows: its CPU per
    event on catch-up over its CPU per event on persistent. When one client process
    can use about one core (the GIL) and uses it in both, no server can do better."""
    return median(server.catch_up.client_cpu_us) / median(server.persistent.client_cpu_us)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--buffer-size",
        type=int,
        default=BUFFER_SIZE,
        help="the consumer's events in flight (esdbclient's default: 150)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the target is missed")
    args = parser.parse_args(argv)
    emulator, standin = run(args.events, args.rounds, args.buffer_size)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs,")
    print(f"{args.events} events, median of {args.rounds} rounds, load average {load},")
    print(f"persistent consumer buffer size {args.buffer_size}\n")

    def row(label: str, unit: str, pick: Callable[[Server], float], fmt: str) -> list[str]:
        e, f = pick(emulator), pick(standin)
        return [label, unit, format(e, fmt), format(f, fmt), f"{e / f:.2f}" if f else "-", "", ""]

    rows = []
    for kind in ("catch_up", "persistent"):
        name = kind.replace("_", "-")

        def figures(server: Server, kind: str = kind) -> Figures:
            return getattr(server, kind)  # type: ignore[no-any-return]

        rows.append(row(f"{name} subscription", "events/s",
                        lambda s: median(figures(s).rates), ",.0f"))  # fmt: skip
        rows.append(row("  server CPU per event", "us",
                        lambda s: median(figures(s).server_cpu_us), ".0f"))  # fmt: skip
        rows.append(row("  client CPU per event", "us",
                        lambda s: median(figures(s).client_cpu_us), ".0f"))  # fmt: skip
        rows.append(row("  client CPU busy", "cores",
                        lambda s: median(figures(s).client_cores), ".2f"))  # fmt: skip
    ratio, paired = ratios(emulator)
    floor_ratio, floor_paired = ratios(standin)
    verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
    rows.append(["persistent / catch-up", "x", f"{ratio:.2f}", f"{floor_ratio:.2f}", "",
                 f">= {TARGET_RATIO}", verdict])  # fmt: skip
    rows.append(["  same, per round (median)", "x", f"{paired:.2f}", f"{floor_paired:.2f}", "",
                 "", ""])  # fmt: skip
    rows.append(["  client-bound ceiling", "x", f"{ceiling(emulator):.2f}",
                 f"{ceiling(standin):.2f}", "", "", ""])  # fmt: skip
    headers = ["measurement", "unit", "emulator", "stand-in", "ratio", "target", "verdict"]
    print(format_table(headers, rows))
    return 1 if args.check and verdict == "FAIL" else 0


if __name__ == "__main__":
    sys.exit(main())
