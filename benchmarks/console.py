"""Console page latency on a large log, against the bare esdbclient read of the same page.

Seeds an embedded server (file database) with one `--stream-events` stream and other
streams up to `--all-events` in `$all`, with batched appends, then times, for the first
page and a deep page of `$all` and of the long stream: the console's page over HTTP
(uvicorn in this process, httpx keep-alive client) and the esdbclient read that page
needs (its floor). Prints medians and the ratio, side by side, in one run.

    .venv/bin/python benchmarks/console.py                  # 100k-event stream, 1M in $all
    .venv/bin/python benchmarks/console.py --all-events 200000 --stream-events 50000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from esdbclient import EventStoreDBClient, StreamState

# This script's own folder comes first on sys.path and its name would shadow the
# `console` package: import the package with the folder set aside, then the helpers.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(_HERE)]
from console import ConsoleConfig  # noqa: E402
from console.server import ConsoleThread  # noqa: E402
from esdb_emulator.node.launcher import EmulatorProcess  # noqa: E402

# The shared benchmark helpers live with the emulator's benchmarks.
sys.path.insert(0, str(Path(_HERE).parent / "emulator" / "benchmarks"))
from _common import bench_event, format_table, median  # noqa: E402

BATCH = 1000
PAGE = 50


def seed(client: EventStoreDBClient, stream: str, stream_events: int, all_events: int) -> None:
    """`stream_events` in `stream`, the rest spread over streams of 1000, batched."""
    began, written = time.perf_counter(), 0
    for start in range(0, stream_events, BATCH):
        n = min(BATCH, stream_events - start)
        events = [bench_event(start + i) for i in range(n)]
        client.append_to_stream(stream, current_version=StreamState.ANY, events=events)
        written += n
    other = 0
    while written < all_events:
        n = min(BATCH, all_events - written)
        events = [bench_event(written + i) for i in range(n)]
        client.append_to_stream(f"filler-{other}", current_version=StreamState.ANY, events=events)
        written, other = written + n, other + 1
        if other % 100 == 0:
            rate = written / (time.perf_counter() - began)
            print(f"  seeded {written} events ({rate:.0f}/s)", flush=True)
    print(f"seeded {written} events in {time.perf_counter() - began:.1f}s", flush=True)


def timed(call: Callable[[], object], rounds: int) -> float:
    """Median milliseconds of `call` over `rounds` (after one warm-up call)."""
    call()
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        call()
        samples.append((time.perf_counter() - began) * 1000)
    return median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--all-events", type=int, default=1_000_000)
    parser.add_argument("--stream-events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    stream = "order-bench-long"  # an order stream: its page decodes each event, as users see
    with (
        tempfile.TemporaryDirectory(prefix="console-bench-") as tmp,
        EmulatorProcess(Path(tmp) / "events.db") as node,
    ):
        if True:
            client = EventStoreDBClient(node.uri)
            seed(client, stream, args.stream_events, args.all_events)
            oldest = list(client.read_all(limit=PAGE + 1))
            deep_position = oldest[-1].commit_position  # a page from the log's very start
            config = ConsoleConfig(node.uri, projections_dir=Path(tmp) / "projections")
            with ConsoleThread(config) as console, httpx.Client(base_url=console.url) as http:

                def page(url: str) -> Callable[[], object]:
                    def get() -> object:
                        response = http.get(url)
                        assert response.status_code == 200, (url, response.status_code)
                        return response

                    return get

                def all_read(position: int | None) -> Callable[[], object]:
                    return lambda: list(
                        client.read_all(
                            commit_position=position,
                            backwards=True,
                            limit=PAGE,
                            filter_exclude=[r"\$.*"],
                            filter_by_stream_name=True,
                        )
                    )

                def stream_read(position: int | None) -> Callable[[], object]:
                    return lambda: client.get_stream(
                        stream, stream_position=position, backwards=True, limit=PAGE
                    )

                cases = [
                    ("$all first page", page(f"/streams?limit={PAGE}"), all_read(None)),
                    (
                        "$all deep page (oldest)",
                        page(f"/streams?limit={PAGE}&before={deep_position}"),
                        all_read(deep_position),
                    ),
                    (
                        f"{args.stream_events}-event stream, first page",
                        page(f"/streams/{stream}?limit={PAGE}"),
                        stream_read(None),
                    ),
                    (
                        f"{args.stream_events}-event stream, deep page (rev 50..99)",
                        page(f"/streams/{stream}?limit={PAGE}&before=100"),
                        stream_read(99),
                    ),
                ]
                rows = []
                for name, console_call, floor_call in cases:
                    ms = timed(console_call, args.rounds)
                    floor = timed(floor_call, args.rounds)
                    rows.append([name, f"{ms:.1f}", f"{floor:.1f}", f"{ms / floor:.1f}x"])
            client.close()
    print(f"\n{args.all_events} events in $all; pages of {PAGE}; medians of {args.rounds}")
    print(format_table(["page", "console ms", "esdbclient ms (floor)", "ratio"], rows))
    print(
        "The $all first page also reads the newest 200 events for the newest-streams list;"
        " stream pages decode every event through the upcaster chain."
    )


if __name__ == "__main__":
    main()
