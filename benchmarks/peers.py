"""This project beside its peers, the same order workload on the same embedded server.

    .venv/bin/pip install -e '.[dev,bench]'
    .venv/bin/python benchmarks/peers.py [--orders 2000] [--rounds 5] [--writers 8]

Peers: (a) this project (`orders` command functions, `get_order`, the `projections`
worker); (b) the eventsourcing library (`benchmarks/peers/es_order.py`: Aggregate +
Application on `eventsourcing_eventstoredb`, a ProcessApplication into SQLite); (c) bare
esdbclient (`benchmarks/peers/bare.py`). One emulator subprocess (file database,
synchronous=FULL) serves all of them. Each round runs every row for every peer, the
peers' order rotating from round to round (and order by order within the command path
and the reads), so load from elsewhere on a shared machine hits them alike:

1. command path: N orders each placed (3 lines), paid (PaymentReceived + OrderPaid),
   shipped: commands/s (commands over the time spent in them), p50/p99 latency and client
   CPU (process time, gRPC's threads included) per command;
2. reading: the N orders' current state loaded through each peer: orders/s;
3. catch-up: the round's 4N events of each peer into an `order_summary` SQLite table, from
   the round's start position: (a) the worker over a persistent subscription, (b) the
   library's ProcessApplication pulling the leader's notification log, one transaction
   per event with its tracking row, (c) a catch-up subscription, 500 events per
   transaction: events/s; every peer's rows are checked (N rows, all SHIPPED and paid);
4. concurrency: `--writers` processes changing shipping addresses, each on its own order
   and all on one hot order, for (a) and (b): commands/s and conflict retries.

Printed: per row and peer the median over rounds and the min-max, and the ratios
(a)/(b) and (a)/(c) paired by round (median, min-max). Targets: (a)/(b) >= 1.0 on every
row; on the command path and catch-up (a) within 25% of (c), i.e. (c)/(a) - 1 <= 25%.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Import the peers as `benchmarks.peers` from the repository root: this folder also holds
# `projections.py`, which must not shadow the `projections` package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
# The shared benchmark helpers live with the emulator's benchmarks.
sys.path.insert(1, str(_HERE.parent / "emulator" / "benchmarks"))

import argparse  # noqa: E402
import multiprocessing as mp  # noqa: E402
import platform  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402
from uuid import UUID  # noqa: E402

from _common import percentile, settle, tree_cpu_seconds  # noqa: E402
from esdbclient import EventStoreDBClient  # noqa: E402

from benchmarks.peers import bare  # noqa: E402
from benchmarks.peers.es_order import (  # noqa: E402
    Orders,
    OrderSummaryProjection,
    orders_env,
    projection_env,
)
from benchmarks.peers.workload import (  # noqa: E402
    ADDRESS,
    CARRIER,
    CURRENCY,
    EVENTS_PER_ORDER,
    LINES,
    MOVED,
    TOTAL,
    open_summary,
    summary_rows,
)
from esdb_emulator.node.launcher import EmulatorProcess  # noqa: E402
from orders import change_shipping_address, get_order, place_order, record_payment, ship_order  # noqa: E402
from orders.logging import configure_logging  # noqa: E402
from orders.store import EsdbStore  # noqa: E402
from projections import database  # noqa: E402
from projections.esdb import ORDER_STREAMS_REGEX, GroupSettings  # noqa: E402
from projections.location import ReadModelFile  # noqa: E402
from projections.read_models import registry  # noqa: E402
from projections.worker import Worker, WorkerConfig  # noqa: E402

PEERS = ("a", "b", "c")
ROWS = ("reads", "catch-up", "concurrency")
LABELS = {"a": "(a) esdb-orders", "b": "(b) eventsourcing", "c": "(c) bare esdbclient"}
CATCH_UP_DEADLINE = 600.0
PROJECTION = registry.get("order_summary")


@dataclass
class Handles:
    """One client per peer, shared by the rows of a run."""

    uri: str
    store: EsdbStore
    app: Orders
    client: EventStoreDBClient
    server_pid: int | None = None
    es_ids: dict[str, UUID] = field(default_factory=dict)  # our order key -> aggregate id

    def close(self) -> None:
        self.store.close()
        self.app.close()
        self.client.close()


# --- row 1: the command path --------------------------------------------------------------


def _ours_place(h: Handles, key: str) -> None:
    place_order(key, "cust-1", LINES, CURRENCY, ADDRESS, store=h.store)


def _ours_pay(h: Handles, key: str) -> None:
    record_payment(key, f"pay-{key}", TOTAL, CURRENCY, store=h.store)


def _ours_ship(h: Handles, key: str) -> None:
    ship_order(key, CARRIER, f"trk-{key[:8]}", store=h.store)


def _es_place(h: Handles, key: str) -> None:
    h.es_ids[key] = h.app.place_order("cust-1", LINES, CURRENCY, ADDRESS)


def _es_pay(h: Handles, key: str) -> None:
    h.app.record_payment(h.es_ids[key], f"pay-{key}", TOTAL, CURRENCY)


def _es_ship(h: Handles, key: str) -> None:
    h.app.ship_order(h.es_ids[key], CARRIER, f"trk-{key[:8]}")


COMMANDS: dict[str, tuple[Callable[[Handles, str], None], ...]] = {
    "a": (_ours_place, _ours_pay, _ours_ship),
    "b": (_es_place, _es_pay, _es_ship),
    "c": (
        lambda h, k: bare.place(h.client, k),
        lambda h, k: bare.pay(h.client, k),
        lambda h, k: bare.ship(h.client, k),
    ),
}


@dataclass
class CommandRound:
    rate: float  # commands per second spent in commands
    p50_ms: float
    p99_ms: float
    cpu_ms: float  # client CPU per command


def command_path(h: Handles, keys: Sequence[str], lead: int) -> dict[str, CommandRound]:
    """Place, pay and ship every order of `keys` through each peer, order by order,
    the peers' order rotating (starting at `lead`)."""
    latencies: dict[str, list[float]] = {p: [] for p in PEERS}
    cpu = dict.fromkeys(PEERS, 0.0)
    for index, key in enumerate(keys):
        for peer in _rotated(lead + index):
            for command in COMMANDS[peer]:
                begin_cpu, begin = time.process_time(), time.perf_counter()
                command(h, key)
                latencies[peer].append(time.perf_counter() - begin)
                cpu[peer] += time.process_time() - begin_cpu
    return {
        peer: CommandRound(
            rate=len(spent) / sum(spent),
            p50_ms=percentile(spent, 50) * 1000,
            p99_ms=percentile(spent, 99) * 1000,
            cpu_ms=cpu[peer] / len(spent) * 1000,
        )
        for peer, spent in latencies.items()
    }


# --- row 2: reading an order -----------------------------------------------------------


def reading(h: Handles, keys: Sequence[str], lead: int) -> dict[str, float]:
    """Load every order's current state through each peer; orders/s. Checks each is SHIPPED."""
    readers: dict[str, Callable[[str], str]] = {
        "a": lambda k: get_order(k, store=h.store).state.status.value,
        "b": lambda k: str(h.app.get_order(h.es_ids[k])["status"]),
        "c": lambda k: str(bare.get_order(h.client, k)["status"]),
    }
    spent = dict.fromkeys(PEERS, 0.0)
    for index, key in enumerate(keys):
        for peer in _rotated(lead + index):
            begin = time.perf_counter()
            status = readers[peer](key)
            spent[peer] += time.perf_counter() - begin
            if status != "SHIPPED":
                raise AssertionError(f"{LABELS[peer]} read order {key} as {status}")
    return {peer: len(keys) / spent[peer] for peer in PEERS}


# --- row 3: projection catch-up -------------------------------------------------------------


@dataclass
class CatchUpRound:
    rate: float  # events/s
    client_us: float  # client CPU per event (the benchmark process: every thread)
    server_us: float  # server CPU per event


def catch_up(
    h: Handles, after: int, orders: int, lead: int, directory: Path
) -> dict[str, CatchUpRound]:
    """Each peer projects its `orders` orders' events after position `after`; also `a0`,
    a consumer of the same persistent subscription that only acks (the delivery floor)."""
    total = orders * EVENTS_PER_ORDER
    runs: dict[str, Callable[[Path], float]] = {
        "a": lambda db: _ours_catch_up(h, after, total, db),
        "b": lambda db: _es_catch_up(h, after, db),
        "c": lambda db: _bare_catch_up(h, after, total, db),
        "a0": lambda db: _ack_only(h, after, total),
    }
    results = {}
    for peer in (*_rotated(lead), "a0"):
        db = directory / f"summary-{peer}-{uuid.uuid4().hex[:8]}.db"
        settle(h.server_pid)
        client_cpu, server_cpu = time.process_time(), tree_cpu_seconds(h.server_pid)
        elapsed = runs[peer](db)
        results[peer] = CatchUpRound(
            rate=total / elapsed,
            client_us=(time.process_time() - client_cpu) / total * 1e6,
            server_us=(tree_cpu_seconds(h.server_pid) - server_cpu) / total * 1e6,
        )
        if peer != "a0":
            _check_summary(peer, db, orders)
    return results


def _create_group(h: Handles, after: int) -> str:
    """A group like the worker's (GroupSettings) over the order streams, starting at the
    first order event after `after` (a group's start position is inclusive)."""
    group = f"peers-{uuid.uuid4().hex[:10]}"
    settings = GroupSettings()
    first = next(
        e.commit_position
        for e in h.client.read_all(
            commit_position=after,
            filter_include=[ORDER_STREAMS_REGEX],
            filter_by_stream_name=True,
            limit=2,
        )
        if e.commit_position is not None and e.commit_position > after
    )
    h.client.create_subscription_to_all(
        group,
        commit_position=first,
        filter_include=[ORDER_STREAMS_REGEX],
        filter_by_stream_name=True,
        consumer_strategy=settings.consumer_strategy,
        message_timeout=settings.message_timeout,
        max_retry_count=settings.max_retry_count,
        max_subscriber_count=settings.max_subscriber_count,
        checkpoint_after=settings.checkpoint_after,
        min_checkpoint_count=settings.min_checkpoint_count,
        max_checkpoint_count=settings.max_checkpoint_count,
    )
    return group


def _ack_only(h: Handles, after: int, total: int) -> float:
    """Receive and ack `total` events with the worker's window and ack batching."""
    begin = time.perf_counter()
    group = _create_group(h, after)
    defaults = WorkerConfig("", PROJECTION, Path())
    subscription = h.client.read_subscription_to_all(
        group,
        event_buffer_size=defaults.event_buffer_size,
        max_ack_batch_size=defaults.max_ack_batch_size,
        max_ack_delay=defaults.max_ack_delay,
    )
    try:
        for received, recorded in enumerate(subscription, start=1):
            subscription.ack(recorded)
            if received == total:
                break
        return time.perf_counter() - begin
    finally:
        subscription.stop()
        h.client.delete_subscription(group)


def _ours_catch_up(h: Handles, after: int, total: int, db: Path) -> float:
    """The project's worker, in a thread, on a group starting after `after`. Seconds from
    creating the group until the worker's ledger holds every event."""
    begin = time.perf_counter()
    group = _create_group(h, after)
    worker = Worker(WorkerConfig(h.uri, PROJECTION, db, subscription_group=group))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        _wait_for(lambda: _worker_applied(db) >= total, "the project's worker")
        return time.perf_counter() - begin
    finally:
        worker.request_stop()
        thread.join(30)
        h.client.delete_subscription(group)


def _es_catch_up(h: Handles, after: int, db: Path) -> float:
    """The library's way: a ProcessApplication following the Orders application, pulling
    its notification log from `after` (as its runners do on start and when prompted).
    Seconds from constructing it until it has processed everything."""
    begin = time.perf_counter()
    projection = OrderSummaryProjection(env=projection_env(str(db)))
    try:
        projection.follow(h.app.name, h.app.notification_log)
        projection.pull_and_process(h.app.name, start=after + 1)
        return time.perf_counter() - begin
    finally:
        projection.close()


def _bare_catch_up(h: Handles, after: int, total: int, db: Path) -> float:
    begin = time.perf_counter()
    conn = open_summary(db)
    try:
        bare.catch_up(h.client, conn, after, total)
        return time.perf_counter() - begin
    finally:
        conn.close()


def _worker_applied(db: Path) -> int:
    """The worker's own applied counter (one row read, so polling costs next to nothing)."""
    if not db.exists():
        return 0
    try:
        conn = database.open_for_reading(ReadModelFile(db))
    except (sqlite3.Error, OSError, ValueError):
        return 0
    try:
        row = conn.execute("SELECT value FROM tracking_meta WHERE key = 'events_applied'")
        value = row.fetchone()
        return int(value[0]) if value else 0
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def _check_summary(peer: str, db: Path, orders: int) -> None:
    rows = summary_rows(db)
    wrong = [row for row in rows if row[:4] != ("SHIPPED", TOTAL, TOTAL, len(LINES))]
    if len(rows) != orders or wrong:
        raise AssertionError(
            f"{LABELS[peer]} projected {len(rows)} rows (expected {orders}); wrong: {wrong[:3]}"
        )


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + CATCH_UP_DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not catch up within {CATCH_UP_DEADLINE:.0f} s")
        time.sleep(0.02)


# --- row 4: concurrency (writer processes) -----------------------------------------------

_writer: dict[str, Any] = {}


def _writer_init(uri: str, barrier: Any) -> None:
    configure_logging(level="error")
    _writer.update(uri=uri, barrier=barrier, store=EsdbStore(uri), app=Orders(orders_env(uri)))


def _writer_task(peer: str, order: str | None, commands: int) -> tuple[float, float, int, int]:
    """Change the address of `order` (None: a new order of this writer's own) `commands`
    times, starting with the other writers; (start, end, commands, conflict retries)."""
    store: EsdbStore = _writer["store"]
    app: Orders = _writer["app"]
    if order is None:
        if peer == "a":
            order = str(uuid.uuid4())
            place_order(order, "cust-1", LINES, CURRENCY, ADDRESS, store=store)
        else:
            order = str(app.place_order("cust-1", LINES, CURRENCY, ADDRESS))
    _writer["barrier"].wait(timeout=120)
    retries = 0
    start = time.perf_counter()
    for i in range(commands):
        address = MOVED if i % 2 == 0 else ADDRESS
        if peer == "a":
            retries += change_shipping_address(order, address, store=store).conflicts_retried
        else:
            before = app.address_attempts
            app.change_shipping_address(UUID(order), address)
            retries += app.address_attempts - before - 1
    return start, time.perf_counter(), commands, retries


@dataclass
class ConcurrencyRound:
    rate: float
    retries: int


def concurrency(
    h: Handles, pool: Any, writers: int, commands: int, lead: int
) -> dict[str, ConcurrencyRound]:
    """Keys `a-distinct`, `a-hot`, `b-distinct`, `b-hot`."""
    results = {}
    for peer in ("a", "b") if lead % 2 == 0 else ("b", "a"):
        for mode in ("distinct", "hot"):
            order: str | None = None
            if mode == "hot":
                order = str(uuid.uuid4())
                if peer == "a":
                    place_order(order, "cust-1", LINES, CURRENCY, ADDRESS, store=h.store)
                else:
                    order = str(h.app.place_order("cust-1", LINES, CURRENCY, ADDRESS))
            done = pool.starmap(_writer_task, [(peer, order, commands)] * writers, chunksize=1)
            span = max(d[1] for d in done) - min(d[0] for d in done)
            total = sum(d[2] for d in done)
            results[f"{peer}-{mode}"] = ConcurrencyRound(total / span, sum(d[3] for d in done))
    return results


# --- the run ------------------------------------------------------------------------------


def _rotated(index: int) -> tuple[str, ...]:
    start = index % len(PEERS)
    return PEERS[start:] + PEERS[:start]


@dataclass
class Results:
    commands: list[dict[str, CommandRound]] = field(default_factory=list)
    reads: list[dict[str, float]] = field(default_factory=list)
    catch_ups: list[dict[str, CatchUpRound]] = field(default_factory=list)
    concurrency: list[dict[str, ConcurrencyRound]] = field(default_factory=list)


def run(args: argparse.Namespace) -> Results:
    results = Results()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        with EmulatorProcess(directory / "events.db") as node:
            h = Handles(
                node.uri,
                EsdbStore(node.uri),
                Orders(orders_env(node.uri)),
                EventStoreDBClient(node.uri),
                node.pid,
            )
            context = mp.get_context("spawn")
            barrier = context.Barrier(args.writers)
            pool = (
                context.Pool(args.writers, _writer_init, (node.uri, barrier))
                if "concurrency" in args.rows
                else None
            )
            try:
                warm = [str(uuid.uuid4()) for _ in range(args.warmup)]
                command_path(h, warm, 0)
                reading(h, warm, 0)
                for round_ in range(args.rounds):
                    _progress(f"round {round_ + 1}/{args.rounds}")
                    after = h.client.get_commit_position()
                    keys = [str(uuid.uuid4()) for _ in range(args.orders)]
                    results.commands.append(command_path(h, keys, round_))
                    if "reads" in args.rows:
                        results.reads.append(reading(h, keys, round_))
                    if "catch-up" in args.rows:
                        results.catch_ups.append(catch_up(h, after, args.orders, round_, directory))
                    if "concurrency" in args.rows:
                        results.concurrency.append(
                            concurrency(h, pool, args.writers, args.writer_commands, round_)
                        )
            finally:
                if pool is not None:
                    pool.terminate()
                    pool.join()
                h.close()
    return results


def _progress(text: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", file=sys.stderr, flush=True)


# --- the report --------------------------------------------------------------------------


def _spread(values: Sequence[float], digits: int = 0) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:,.{digits}f} ({low:,.{digits}f}-{high:,.{digits}f})"


def _ratios(rounds: Sequence[dict[str, float]], over: str) -> str:
    paired = [r["a"] / r[over] for r in rounds]
    return f"{statistics.median(paired):.2f} ({min(paired):.2f}-{max(paired):.2f})"


def report(results: Results, args: argparse.Namespace) -> list[str]:
    """Print the tables; returns the targets missed."""
    print(
        f"peers.py: {args.rounds} rounds x {args.orders} orders, {args.writers} writers x "
        f"{args.writer_commands} commands; {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.machine()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    print("medians over rounds (min-max); ratios (a)/(b) and (a)/(c) paired by round\n")
    missed: list[str] = []

    rates = [{p: r[p].rate for p in PEERS} for r in results.commands]
    print("1. command path (place 3 lines, pay, ship)")
    print(f"   {'peer':<22} {'commands/s':>22} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/cmd':>11}")
    for p in PEERS:
        rounds = [r[p] for r in results.commands]
        p50 = statistics.median(r.p50_ms for r in rounds)
        p99 = statistics.median(r.p99_ms for r in rounds)
        cpu = statistics.median(r.cpu_ms for r in rounds)
        print(
            f"   {LABELS[p]:<22} {_spread([r.rate for r in rounds]):>22} {p50:>8.2f} {p99:>8.2f}"
            f" {cpu:>11.2f}"
        )
    cpu_rounds = [{p: 1 / r[p].cpu_ms for p in PEERS} for r in results.commands]
    print(f"   (a)/(b) commands/s {_ratios(rates, 'b')}, (a)/(c) {_ratios(rates, 'c')}")
    print(f"   CPU per command (c)/(a) {_ratios(cpu_rounds, 'c')} (1/x: (a) uses x times less)")
    missed += _targets("command path", rates, within_c=True)

    if results.reads:
        missed += _report_reads(results)
    if results.catch_ups:
        missed += _report_catch_ups(results, args)
    if results.concurrency:
        missed += _report_concurrency(results, args)
    print()
    print("targets: " + ("all met" if not missed else "MISSED: " + "; ".join(missed)))
    return missed


def _report_reads(results: Results) -> list[str]:
    print("\n2. reading an order (current state, N orders)")
    for p in PEERS:
        print(f"   {LABELS[p]:<22} {_spread([r[p] for r in results.reads]):>22} orders/s")
    print(f"   (a)/(b) {_ratios(results.reads, 'b')}, (a)/(c) {_ratios(results.reads, 'c')}")
    return _targets("reading", results.reads, within_c=False)


def _report_catch_ups(results: Results, args: argparse.Namespace) -> list[str]:
    events = args.orders * EVENTS_PER_ORDER
    print(f"\n3. projection catch-up ({events} events per peer and round)")
    print(f"   {'peer':<40} {'events/s':>22} {'client us/ev':>13} {'server us/ev':>13}")
    labels = LABELS | {"a0": "(a0) same persistent group, ack only"}
    for p in (*PEERS, "a0"):
        rounds = [r[p] for r in results.catch_ups]
        client = statistics.median(r.client_us for r in rounds)
        server = statistics.median(r.server_us for r in rounds)
        print(
            f"   {labels[p]:<40} {_spread([r.rate for r in rounds]):>22} {client:>13.0f}"
            f" {server:>13.0f}"
        )
    rates = [{p: r[p].rate for p in (*PEERS, "a0")} for r in results.catch_ups]
    print(
        f"   (a)/(b) {_ratios(rates, 'b')}, (a)/(c) {_ratios(rates, 'c')},"
        f" (a)/(a0) {_ratios(rates, 'a0')}"
    )
    return _targets("catch-up", rates, within_c=True)


def _report_concurrency(results: Results, args: argparse.Namespace) -> list[str]:
    missed: list[str] = []
    print(f"\n4. concurrency ({args.writers} writer processes, shipping-address changes)")
    for mode in ("distinct", "hot"):
        for p in ("a", "b"):
            rounds = [r[f"{p}-{mode}"] for r in results.concurrency]
            retries = statistics.median(r.retries for r in rounds)
            print(
                f"   {mode:<8} {LABELS[p]:<22} {_spread([r.rate for r in rounds]):>22} commands/s,"
                f" conflict retries {retries:.0f} (median of rounds)"
            )
        pairs = [{"a": r[f"a-{mode}"].rate, "b": r[f"b-{mode}"].rate} for r in results.concurrency]
        print(f"   {mode:<8} (a)/(b) {_ratios(pairs, 'b')}")
        missed += _targets(f"concurrency {mode}", pairs, within_c=False)
    return missed


def _targets(row: str, rounds: Sequence[dict[str, float]], *, within_c: bool) -> list[str]:
    missed = []
    a_over_b = statistics.median(r["a"] / r["b"] for r in rounds)
    if a_over_b < 1.0:
        missed.append(f"{row}: (a)/(b) {a_over_b:.2f} < 1.0")
    if within_c:
        overhead = statistics.median(r["c"] / r["a"] for r in rounds) - 1
        if overhead > 0.25:
            missed.append(f"{row}: (c)/(a) - 1 = {overhead:+.0%} > 25%")
    return missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=2000, help="orders per round and peer")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=20, help="orders per peer before round 1")
    parser.add_argument("--writers", type=int, default=8, help="writer processes (row 4)")
    parser.add_argument(
        "--writer-commands", type=int, default=40, help="commands per writer and run (row 4)"
    )
    parser.add_argument(
        "--rows",
        default=",".join(ROWS),
        help=f"rows to run besides the command path (which writes their data): {','.join(ROWS)}",
    )
    args = parser.parse_args(argv)
    args.rows = {row.strip() for row in args.rows.split(",") if row.strip()}
    if not args.rows <= set(ROWS):
        parser.error(f"--rows: unknown {sorted(args.rows - set(ROWS))}; known: {', '.join(ROWS)}")
    for name in ("orders", "rounds", "writers", "writer_commands"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    configure_logging(level="error")
    report(run(args), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
