"""Which append RPC: Append (unary) against BatchAppend (a bidirectional stream).

esdbclient's `append_to_stream` sends a lone `NewEvent` as Append and any list, even of
one event, as BatchAppend; `orders.store` sends one event as a lone `NewEvent` and more
as a list. This measures the two side by side on one emulator subprocess (file database,
synchronous=FULL): appends of 1 and of 2 events (a payment's PaymentReceived +
OrderPaid) to fresh streams, the four ways interleaved append by append, for several
rounds.

Prints, per way: median wall time and client CPU per append over the rounds (min-max),
and the ratios BatchAppend / Append.
Run: `.venv/bin/python benchmarks/append_rpc.py [--appends 300] [--rounds 5]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE.parent))
sys.path.insert(1, str(_HERE.parent / "emulator" / "benchmarks"))

from _common import bench_event, format_table, settle  # noqa: E402
from esdbclient import EventStoreDBClient, StreamState  # noqa: E402

from esdb_emulator.node.launcher import EmulatorProcess  # noqa: E402

Way = Callable[[EventStoreDBClient, str], None]


def _unary(count: int) -> Way:
    def append(client: EventStoreDBClient, stream: str) -> None:
        events = [bench_event(i) for i in range(count)]
        client.streams.append(  # what append_to_stream does for a lone NewEvent, for a list
            stream_name=stream,
            current_version=StreamState.NO_STREAM,
            events=events,
            timeout=10,
            metadata=client._call_metadata,
            credentials=client._call_credentials,
        )

    return append


def _batch(count: int) -> Way:
    def append(client: EventStoreDBClient, stream: str) -> None:
        events = [bench_event(i) for i in range(count)]
        client.append_to_stream(stream, current_version=StreamState.NO_STREAM, events=events)

    return append


WAYS: dict[str, Way] = {
    "Append, 1 event": _unary(1),
    "BatchAppend, 1 event": _batch(1),
    "Append, 2 events": _unary(2),
    "BatchAppend, 2 events": _batch(2),
}


def one_round(
    client: EventStoreDBClient, appends: int, lead: int
) -> dict[str, tuple[float, float]]:
    """(wall ms, client CPU ms) per append for each way, interleaved append by append."""
    names = list(WAYS)
    wall = dict.fromkeys(names, 0.0)
    cpu = dict.fromkeys(names, 0.0)
    for i in range(appends):
        shift = (i + lead) % len(names)
        for name in names[shift:] + names[:shift]:
            stream = f"rpc-{uuid.uuid4()}"
            started, started_cpu = time.perf_counter(), time.process_time()
            WAYS[name](client, stream)
            wall[name] += time.perf_counter() - started
            cpu[name] += time.process_time() - started_cpu
    return {n: (wall[n] * 1000 / appends, cpu[n] * 1000 / appends) for n in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=300, help="per way and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmulatorProcess(Path(tmp) / "events.db") as server,
    ):
        client = EventStoreDBClient(server.uri)  # both RPCs on one client and channel
        try:
            one_round(client, 30, 0)  # warm up channel and server
            settle(server.pid)
            rounds = [one_round(client, args.appends, r) for r in range(args.rounds)]
        finally:
            client.close()
    print(f"{args.appends} appends per way and round, {args.rounds} rounds; medians (min-max)")
    rows = []
    for name in WAYS:
        walls = [r[name][0] for r in rounds]
        cpus = [r[name][1] for r in rounds]
        rows.append([name, _spread(walls), _spread(cpus)])
    print(format_table(["way", "wall ms/append", "client CPU ms/append"], rows))
    for count in ("1 event", "2 events"):
        unary, batch = f"Append, {count}", f"BatchAppend, {count}"
        wall = statistics.median(r[batch][0] / r[unary][0] for r in rounds)
        cpu = statistics.median(r[batch][1] / r[unary][1] for r in rounds)
        print(f"BatchAppend / Append, {count}: wall {wall:.2f}, client CPU {cpu:.2f}")


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


if __name__ == "__main__":
    main()
