"""Soak run with an oracle: mixed load under kills and network cuts, then a full check.

    python benchmarks/soak.py [--minutes 5] [--writers 3] [--seed N] [--dir DIR]

For `--minutes` it runs, against the embedded server (file database, synchronous=FULL):

- `--writers` writer processes taking orders through every command function (place,
  address change, one or two payments, cancel, ship, deliver), repeating a random tenth
  of their commands with the same command id (which must change nothing), and retrying
  a command that failed with the same command id until it is acknowledged;
- a legacy writer appending orders as the old services stored them (upcasters/legacy_seed);
- two `projections run` workers per read model;
- chaos: kill -9 of a random worker every 2-5 s (restarted at once), kill -9 and restart
  of the server twice a minute (same database file, same port), and random TCP cuts
  (tests/projections/tcp_proxy.py) on every connection of writers and workers, every 0.5-1.5 s.

Then it waits for every read model to catch up, and checks: each read model row by row
against the oracle folded from the streams by the pure code (`projections.ops.verify`), and
each acknowledged command against the streams (its events present, once). It prints
the figures and exits 1 on any lost, duplicated or mismatched event or row.
"""

# ruff: noqa: E402  sys.path is fixed before the project's imports (see below)
from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# `python benchmarks/soak.py` puts benchmarks/ first on sys.path, where the benchmark
# benchmarks/projections.py would shadow the `projections` package; the TCP proxy
# lives in the test tree.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))  # the repository root: the `demo` package is not installed
sys.path.insert(0, str(_HERE.parent / "tests" / "projections"))

import argparse
import contextlib
import json
import multiprocessing
import random
import sqlite3
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from esdbclient import EventStoreDBClient
from rich.console import Console
from rich.table import Table
from tcp_proxy import CutProxy

from demo.fleet import WorkerProcess
from demo.legacy_seed import legacy_orders
from esdb_emulator.node.launcher import EmulatorProcess
from orders import api, codec
from orders.errors import DomainError, StoreError
from orders.service import CommandResult
from orders.store import EsdbStore
from projections import database
from projections.esdb import OrderLog
from projections.location import ReadModelFile
from projections.ops.verify import reference
from projections.read_models import registry

CATCH_UP_DEADLINE = 180.0
SERVER_KILLS_PER_MINUTE = 2
WORKER_KILL_EVERY = (2.0, 5.0)
CUT_EVERY = (0.5, 1.5)
REPEAT_SHARE = 0.1
_CURRENCIES = ("EUR", "USD", "GBP", "JPY")


# ---------------------------------------------------------------------------- writers


def _acked(
    log: Any, kind: str, call: Callable[..., CommandResult], deadline: float, *args: Any
) -> CommandResult | None:
    """Run one command until acknowledged (same command id each time); log the ack."""
    command_id = uuid.uuid4()
    while time.monotonic() < deadline + 60:  # finish the order in hand after the deadline
        try:
            result = call(*args, command_id=command_id)
        except StoreError:
            time.sleep(0.2)  # the server is down or the link cut: the same command again
            continue
        record = {
            "t": time.time(),
            "kind": kind,
            "order_id": result.order_id,
            "command_id": str(command_id),
            "event_ids": [str(e.event_id) for e in result.events],
            "already_applied": result.already_applied,
        }
        log.write(json.dumps(record) + "\n")
        log.flush()
        return result
    return None


def writer(uri: str, seed: int, stop_at: float, ack_path: str) -> None:
    """One writer process: seeded order lives through the command functions until
    `stop_at` (time.time()), with random same-command-id repeats."""
    rng = random.Random(seed)
    deadline = time.monotonic() + (stop_at - time.time())
    store = EsdbStore(uri, timeout=5)
    at = datetime(2024, 6, 1, tzinfo=UTC) + timedelta(days=seed % 97)
    with open(ack_path, "a") as log, store:

        def run(kind: str, call: Callable[..., CommandResult], *args: Any) -> None:
            nonlocal at
            at += timedelta(minutes=rng.randint(1, 300))
            bound = _bind(call, at, store)
            result = _acked(log, kind, bound, deadline, *args)
            if result is not None and rng.random() < REPEAT_SHARE:
                again = bound(*args, command_id=result.command_id)
                log.write(json.dumps(_repeat_record(kind, result, again)) + "\n")

        while time.monotonic() < deadline:
            with contextlib.suppress(DomainError):
                _life(rng, run, str(uuid.UUID(int=rng.getrandbits(128), version=4)))


def _bind(call: Callable[..., CommandResult], at: datetime, store: EsdbStore) -> Any:
    def bound(*args: Any, command_id: uuid.UUID) -> CommandResult:
        return call(*args, at=at, store=store, command_id=command_id)

    return bound


def _repeat_record(kind: str, first: CommandResult, again: CommandResult) -> dict[str, Any]:
    return {
        "t": time.time(),
        "kind": f"repeat-{kind}",
        "order_id": again.order_id,
        "command_id": str(again.command_id),
        "event_ids": [str(e.event_id) for e in again.events],
        "first_event_ids": [str(e.event_id) for e in first.events],
        "already_applied": again.already_applied,
    }


def _life(rng: random.Random, run: Callable[..., None], order_id: str) -> None:
    currency = rng.choice(_CURRENCIES)
    lines = [
        {"sku": f"p-{rng.randrange(50)}", "quantity": rng.randint(1, 3), "unit_price": price}
        for price in (rng.randint(100, 9000) for _ in range(rng.randint(1, 3)))
    ]
    total = sum(int(line["quantity"]) * int(line["unit_price"]) for line in lines)
    customer = f"soak-cust-{rng.randrange(40)}"
    run("place", api.place_order, order_id, customer, lines, currency, _address(rng))
    if rng.random() < 0.2:
        run("address", api.change_shipping_address, order_id, _address(rng))
    if rng.random() < 0.1:
        run("cancel", api.cancel_order, order_id, "changed mind")
        return
    parts = [total] if rng.random() < 0.6 or total < 2 else [total // 2, total - total // 2]
    for number, amount in enumerate(parts):
        run("pay", api.record_payment, order_id, f"pay-{number}", amount, currency)
    if rng.random() < 0.1:
        run("cancel", api.cancel_order, order_id, "out of stock")
        return
    run("ship", api.ship_order, order_id, "DHL", f"TRK{rng.randrange(10**8)}")
    if rng.random() < 0.7:
        run("deliver", api.confirm_delivery, order_id)


def _address(rng: random.Random) -> dict[str, str]:
    city, postal_code, country = rng.choice(
        [("Berlin", "10117", "DE"), ("Paris", "75001", "FR"), ("Tokyo", "100-0001", "JP")]
    )
    number = rng.randint(1, 99)
    return {
        "name": f"Customer {number}",
        "line1": f"{number} Main Street",
        "city": city,
        "postal_code": postal_code,
        "country": country,
    }


def legacy_writer(uri: str, seed: int, stop_at: float, ack_path: str) -> None:
    """Appends 5 legacy orders every second (ids derived from the seed: a retry after a
    lost reply writes nothing twice) until `stop_at`."""
    store = EsdbStore(uri, timeout=5)
    chunk = 0
    with open(ack_path, "a") as log, store:
        while time.time() < stop_at:
            for order in legacy_orders(5, seed=seed * 10_000 + chunk):
                while True:
                    try:
                        store.append(order.order_id, None, order.events)
                        break
                    except StoreError:
                        time.sleep(0.2)
                record = {"t": time.time(), "kind": "legacy", "order_id": order.order_id,
                          "event_ids": [str(e.id) for e in order.events]}  # fmt: skip
                log.write(json.dumps(record) + "\n")
            log.flush()
            chunk += 1
            time.sleep(1.0)


# ---------------------------------------------------------------------------- the run


@dataclass
class Figures:
    acked: int = 0
    repeats: int = 0
    events: int = 0
    worker_kills: int = 0
    server_kills: int = 0
    cuts: int = 0
    rows_compared: int = 0
    lost: int = 0
    duplicated: int = 0
    mismatched: int = 0
    worst_server_recovery: float = 0.0
    worst_worker_recovery: float = 0.0
    max_lag: float = 0.0
    problems: list[str] = field(default_factory=list)


class _LagSampler:
    """Every second: the log's last order position; lag = time until every read model's
    highest applied position reached it."""

    def __init__(self, uri: str, dbs: list[Path]) -> None:
        self.uri, self.dbs = uri, dbs
        self.max_lag = 0.0
        self._pending: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        client = EventStoreDBClient(self.uri)
        try:
            while not self._stop.wait(1.0):
                with contextlib.suppress(Exception):  # the server may be down this second
                    self._pending.append((time.monotonic(), OrderLog(client).last_position()))
                reached = min(_applied_position(db) for db in self.dbs)
                now = time.monotonic()
                for sampled, _position in [p for p in self._pending if p[1] <= reached]:
                    self.max_lag = max(self.max_lag, now - sampled)
                self._pending = [p for p in self._pending if p[1] > reached]
        finally:
            client.close()


def _applied_position(db: Path) -> int:
    try:
        conn = database.open_for_reading(ReadModelFile(db))
    except Exception:  # noqa: BLE001  not created yet
        return -1
    try:
        row = conn.execute(
            "SELECT value FROM tracking_meta WHERE key = 'max_commit_position'"
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else -1
    except sqlite3.Error:
        return -1
    finally:
        conn.close()


def _applied_count(db: Path) -> int:
    try:
        conn = database.open_for_reading(ReadModelFile(db))
    except Exception:  # noqa: BLE001
        return 0
    try:
        return int(conn.execute("SELECT count(*) FROM tracking_applied").fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


def soak(minutes: float, writers: int, seed: int, directory: Path, console: Console) -> Figures:
    figures = Figures()
    rng = random.Random(seed)
    names = list(registry.PROJECTIONS)
    server = EmulatorProcess(directory / "events.db", log_path=directory / "emulator.log")
    server.start()
    proxy = CutProxy.for_uri(server.uri).start()
    uri = proxy.uri(server.uri)
    dbs = {name: directory / f"{name}.db" for name in names}
    workers = [
        WorkerProcess(uri, name, dbs[name], directory / "logs" / f"{name}-{i}.log").start()
        for name in names
        for i in range(2)
    ]
    acks = directory / "acks"
    acks.mkdir()
    stop_at = time.time() + minutes * 60
    spawn = multiprocessing.get_context("spawn")
    procs = [
        spawn.Process(target=writer, args=(uri, seed * 100 + i, stop_at, str(acks / f"w{i}")))
        for i in range(writers)
    ]
    procs.append(
        spawn.Process(target=legacy_writer, args=(uri, seed, stop_at, str(acks / "legacy")))
    )
    for proc in procs:
        proc.start()
    sampler = _LagSampler(server.uri, list(dbs.values()))
    sampler.start()
    server_kills: list[tuple[float, float]] = []  # (wall time killed, wall time back)
    worker_kills: list[tuple[WorkerProcess, float, int]] = []  # (worker, killed, log size)
    try:
        started = time.monotonic()
        end = started + minutes * 60
        server_every = 60 / SERVER_KILLS_PER_MINUTE  # first at 30-60% of it, then 70-110%:
        next_server = started + server_every * rng.uniform(0.3, 0.6)  # 2 within any minute
        next_worker = started + rng.uniform(*WORKER_KILL_EVERY)
        next_cut = started + rng.uniform(*CUT_EVERY)
        while (now := time.monotonic()) < end:
            if now >= next_server:
                killed = time.time()
                server.kill()
                server.restart()
                server_kills.append((killed, time.time()))
                figures.server_kills += 1
                next_server = now + server_every * rng.uniform(0.7, 1.1)
            if now >= next_worker:
                victim = rng.choice(workers)
                size = victim.log_path.stat().st_size if victim.log_path.exists() else 0
                victim.kill()
                worker_kills.append((victim, time.time(), size))
                victim.start()
                figures.worker_kills += 1
                next_worker = now + rng.uniform(*WORKER_KILL_EVERY)
            if now >= next_cut:
                if rng.random() < 0.2:
                    proxy.cut_all()
                elif rng.random() < 0.8:
                    proxy.arm("down", rng.randrange(200_000))
                else:
                    proxy.arm("up", rng.randrange(4_000))
                next_cut = now + rng.uniform(*CUT_EVERY)
            time.sleep(0.05)
        proxy.disarm()
        console.print("[bold]load over; waiting for the writers to finish their orders[/bold]")
        for proc in procs:
            proc.join(120)
            if proc.exitcode != 0:
                figures.problems.append(f"a writer exited with {proc.exitcode}")
        figures.cuts = proxy.cuts
        client = EventStoreDBClient(server.uri)
        try:
            figures.events = OrderLog(client).after(None, 10**9)[0]
            deadline = time.monotonic() + CATCH_UP_DEADLINE
            while any(_applied_count(db) < figures.events for db in dbs.values()):
                if time.monotonic() > deadline:
                    behind = {n: _applied_count(db) for n, db in dbs.items()}
                    figures.problems.append(f"not caught up in {CATCH_UP_DEADLINE}s: {behind}")
                    break
                time.sleep(0.5)
            sampler.stop()
            figures.max_lag = sampler.max_lag
            for worker in workers:
                worker.stop()
            _check_read_models(client, dbs, figures)
            _check_acks(client, acks, figures)
        finally:
            client.close()
        figures.worst_server_recovery = _server_recovery(server_kills, acks)
        figures.worst_worker_recovery = _worker_recovery(worker_kills)
    finally:
        sampler.stop()
        for proc in procs:
            if proc.is_alive():
                proc.kill()
        for worker in workers:
            if worker.alive():
                worker.kill()
        proxy.close()
        server.stop()
    return figures


# ---------------------------------------------------------------------------- the oracle


def _check_read_models(client: EventStoreDBClient, dbs: dict[str, Path], f: Figures) -> None:
    """Each read model against the fold of the streams, row by row, ledger included."""
    log = OrderLog(client)
    for name, db in dbs.items():
        projection = registry.get(name)
        expected = reference(log, projection, codec.decode)
        live = database.open_for_reading(ReadModelFile(db))
        try:
            want, got = database.dump(expected, projection), database.dump(live, projection)
            for table in projection.tables:
                w, g = Counter(want[table]), Counter(got[table])
                f.rows_compared += sum(w.values())
                missing, extra = sum((w - g).values()), sum((g - w).values())
                copies = sum(n - 1 for row, n in g.items() if n > 1)
                f.mismatched += min(missing, extra)
                f.lost += max(0, missing - extra)
                f.duplicated += copies + max(0, extra - missing - copies)
                if missing or extra:
                    f.problems.append(f"{name}.{table}: {missing} rows missing, {extra} unexpected")
            ledger_sql = "SELECT stream, revision FROM tracking_applied"
            w = Counter(expected.execute(ledger_sql).fetchall())
            g = Counter(live.execute(ledger_sql).fetchall())
            f.rows_compared += sum(w.values())
            if w != g:
                f.lost += sum((w - g).values())
                f.duplicated += sum((g - w).values())
                f.problems.append(f"{name}: ledger differs from the log")
        finally:
            live.close()
            expected.close()


def _check_acks(client: EventStoreDBClient, acks: Path, f: Figures) -> None:
    """Every acknowledged command's events are in its order's stream exactly once; a
    repeat with the same command id changed nothing and reported the same events."""
    records = [json.loads(line) for path in acks.iterdir() for line in path.open()]
    streams: dict[str, Counter[str]] = {}
    for record in records:
        order_id = record["order_id"]
        if order_id not in streams:
            events = OrderLog(client).stream(f"order-{order_id}")
            streams[order_id] = Counter(str(e.id) for e in events)
        held = streams[order_id]
        if record["kind"].startswith("repeat-"):
            f.repeats += 1
            if not record["already_applied"] or record["event_ids"] != record["first_event_ids"]:
                f.duplicated += 1
                f.problems.append(f"repeat of {record['command_id']} was not a no-op")
            continue
        f.acked += 1
        for event_id in record["event_ids"]:
            if held[event_id] == 0:
                f.lost += 1
                f.problems.append(f"acked event {event_id} of {order_id} not in its stream")
    for order_id, held in streams.items():
        for event_id, count in held.items():
            if count > 1:
                f.duplicated += count - 1
                f.problems.append(f"event {event_id} {count} times in order-{order_id}")


def _server_recovery(kills: list[tuple[float, float]], acks: Path) -> float:
    """Worst time from a server kill -9 to the next acknowledged command."""
    times = sorted(json.loads(line)["t"] for path in acks.iterdir() for line in path.open())
    worst = 0.0
    for killed, _back in kills:
        after = next((t for t in times if t > killed), None)
        if after is not None:
            worst = max(worst, after - killed)
    return worst


def _worker_recovery(kills: list[tuple[WorkerProcess, float, int]]) -> float:
    """Worst time from a worker's kill -9 to its replacement's `subscription.connected`
    (JSON log lines after the offset the log had at the kill)."""
    worst = 0.0
    for worker, killed, offset in kills:
        with worker.log_path.open("rb") as log:
            log.seek(offset)
            for raw in log:
                with contextlib.suppress(ValueError):
                    line = json.loads(raw)
                    if line.get("event") == "subscription.connected":
                        stamp = datetime.fromisoformat(line["timestamp"]).timestamp()
                        worst = max(worst, stamp - killed)
                        break
    return worst


def _report(figures: Figures, minutes: float, seed: int, console: Console) -> None:
    table = Table(title=f"soak: {minutes:g} min, seed {seed}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("commands acknowledged", figures.acked),
        ("same-command-id repeats (no-ops)", figures.repeats),
        ("events", figures.events),
        ("worker kills (-9)", figures.worker_kills),
        ("server kills (-9) + restarts", figures.server_kills),
        ("TCP cuts", figures.cuts),
        ("rows compared", figures.rows_compared),
        ("lost", figures.lost),
        ("duplicated", figures.duplicated),
        ("mismatched", figures.mismatched),
        ("worst recovery, server (s)", f"{figures.worst_server_recovery:.2f}"),
        ("worst recovery, worker (s)", f"{figures.worst_worker_recovery:.2f}"),
        ("max lag (s)", f"{figures.max_lag:.2f}"),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)
    for problem in figures.problems[:20]:
        console.print(f"[red]{problem}[/red]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--writers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--dir", type=Path, default=None, help="keep the run's files here")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.writers < 1:
        parser.error("--minutes must be > 0 and --writers >= 1")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    console = Console()
    console.print(f"soak seed {seed} (rerun with --seed {seed})")
    with contextlib.ExitStack() as stack:
        directory = args.dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        directory.mkdir(parents=True, exist_ok=True)
        figures = soak(args.minutes, args.writers, seed, directory, console)
        _report(figures, args.minutes, seed, console)
    failed = figures.lost or figures.duplicated or figures.mismatched or figures.problems
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
