"""Benchmark the embedded server (`esdb_emulator`) against a stand-in that does no work.

    .venv/bin/python emulator/benchmarks/emulator.py [--quick] [--rounds N] [--check]

Each row is measured with the real sync esdbclient against two servers in their own
processes, both on 127.0.0.1:

- the emulator, durable (`synchronous=FULL`) on a file database in a temporary directory;
- the stand-in (`standin_server.py`), which stores nothing and answers from prebuilt replies.

The stand-in's figure is the floor the client, gRPC and the transport allow; the ratio
emulator / stand-in shows what the emulator's own work costs. The sequential append
rows alternate between the two servers in short slices (`slices` per round), so that
both see the same machine: on a shared machine, noise comes in bursts of seconds.
The other rows alternate which server goes first each round. The table shows the
median over rounds. Concurrent clients run in separate processes (each with its own
client and stream), so the figure measures the server rather than the client's GIL.

100-event batches are measured from one sequential client and from BATCH_CLIENTS
concurrent processes. esdbclient alone spends 2-3 ms of CPU building and sending a
100-event batch, and a durable commit of 100 events waits for an fsync, so one
sequential client is bounded by the client and the disk rather than by the server
(the stand-in's row shows that bound); the server's batched throughput is the
concurrent row, and the 30,000 events/s target applies to it.

Server CPU is the server process's, its children's included.
The header gives the disk's fsync latency and a one-event SQLite commit on a bare
connection with the emulator's schema, durability and preallocated WAL: the floor
under every durable single-event append, which the stand-in does not pay.

Targets (2 cores): single-event appends >= 0.7 x stand-in; 100-event batches >= 30,000
events/s; 16 clients >= 1.5 x one client; reads >= 0.7 x stand-in. Exit status is 0
whether targets pass or not (use --check for a failing status); non-zero on errors.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import queue
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import grpc
from _common import (
    bench_event,
    bounded,
    format_table,
    fsync_latency,
    median,
    percentile,
    settle,
    tree_cpu_seconds,
)
from esdbclient import EventStoreDBClient, StreamState
from standin_server import StandinProcess

from esdb_emulator.log import schema as log_schema
from esdb_emulator.log import writer as log_writer
from esdb_emulator.node.launcher import EmulatorProcess

BATCH = 100
#: Key under which a measurement reports how many operations (appended or read events)
#: it made the server do, warm-up included, for the server-CPU-per-operation figures.
OPS = "ops"
#: The CPU-per-operation metric recorded for each measurement that reports OPS
#: (the interleaved rows record their own).
CPU_METRICS = {"reads": "read_cpu_us"}
#: Deadlines (seconds) on every call, so that a stuck server ends the run with an error.
APPEND_DEADLINE = 30
READ_DEADLINE = 120.0
#: The most appends one concurrent worker makes in one window (its loops are timed too).
MAX_WORKER_APPENDS = 1_000_000
#: Concurrent client processes of the "batched append, N clients" row.
BATCH_CLIENTS = 4
READY = "ready"


def connect(uri: str) -> EventStoreDBClient:
    """A client whose appends carry a deadline (reads pass READ_DEADLINE themselves)."""
    return EventStoreDBClient(f"{uri}&DefaultDeadline={APPEND_DEADLINE}")


NO_STREAM = StreamState.NO_STREAM


@dataclass(frozen=True)
class Settings:
    """How much work each measurement does; every loop is bounded in count and time."""

    rounds: int = 3
    slices: int = 10
    warmup_seconds: float = 1.0
    single_count: int = 3000
    single_seconds: float = 4.0
    batch_count: int = 200
    batch_seconds: float = 4.0
    read_events: int = 20_000
    clients: int = 16
    concurrent_seconds: float = 4.0


QUICK = Settings(
    rounds=1,
    slices=2,
    warmup_seconds=0.3,
    single_count=150,
    single_seconds=1.5,
    batch_count=15,
    batch_seconds=1.5,
    read_events=2_000,
    clients=4,
    concurrent_seconds=1.0,
)


@dataclass
class Samples:
    """Per-round figures of one server, by metric name."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, metric: str, value: float) -> None:
        self.values.setdefault(metric, []).append(value)

    def median(self, metric: str) -> float:
        return median(self.values[metric])


# -- client-side measurements (each returns figures for one server) ------------------


@dataclass
class _Lane:
    """One server's side of an interleaved measurement."""

    uri: str
    pid: int | None
    client: EventStoreDBClient
    stream: str
    version: int = 0
    done: int = 0
    elapsed: float = 0.0
    cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)


def interleaved(
    servers: list[tuple[str, int | None]],
    s: Settings,
    *,
    per_call: int,
    count: int,
    seconds: float,
    events: Callable[[int], Any],
) -> list[_Lane]:
    """Sequential appends of `per_call` events to one new stream per server, with exact
    expected revisions, alternating between the servers in `s.slices` slices of
    `seconds / s.slices` each (at most `count` calls per server). `events(i)` gives
    the i-th call's events, all built before the timed loop."""
    lanes = [_Lane(uri, pid, connect(uri), f"bench-seq-{uuid.uuid4().hex}") for uri, pid in servers]
    payloads = [events(i) for i in range(count)]
    try:
        for lane in lanes:
            lane.client.append_to_stream(lane.stream, current_version=NO_STREAM, events=events(0))
            lane.version = per_call - 1
            for _ in bounded(count, s.warmup_seconds):  # the first calls run slow
                lane.client.append_to_stream(
                    lane.stream, current_version=lane.version, events=events(0)
                )
                lane.version += per_call
        for k in range(s.slices):
            for lane in lanes if k % 2 == 0 else lanes[::-1]:
                cpu_before = tree_cpu_seconds(lane.pid)
                started = time.perf_counter()
                for _ in bounded(count - lane.done, seconds / s.slices):
                    t0 = time.perf_counter()
                    lane.client.append_to_stream(
                        lane.stream, current_version=lane.version, events=payloads[lane.done]
                    )
                    lane.latencies.append(time.perf_counter() - t0)
                    lane.version += per_call
                    lane.done += 1
                lane.elapsed += time.perf_counter() - started
                lane.cpu += tree_cpu_seconds(lane.pid) - cpu_before
    finally:
        for lane in lanes:
            lane.client.close()
    return lanes


def measure_single(servers: list[tuple[str, int | None]], s: Settings) -> list[dict[str, float]]:
    """Sequential single-event `Append` calls, the servers interleaved in slices."""
    lanes = interleaved(
        servers, s, per_call=1, count=s.single_count, seconds=s.single_seconds,
        events=bench_event,
    )  # fmt: skip
    return [
        {
            "single_rate": lane.done / lane.elapsed,
            "single_p50_ms": percentile(lane.latencies, 50) * 1000,
            "single_p99_ms": percentile(lane.latencies, 99) * 1000,
            "single_cpu_us": lane.cpu / lane.done * 1e6,
        }
        for lane in lanes
    ]


def measure_batched(servers: list[tuple[str, int | None]], s: Settings) -> list[dict[str, float]]:
    """Sequential 100-event `BatchAppend` calls, the servers interleaved in slices."""
    lanes = interleaved(
        servers, s, per_call=BATCH, count=s.batch_count, seconds=s.batch_seconds,
        events=_batch,
    )  # fmt: skip
    return [
        {
            "batch_events_rate": lane.done * BATCH / lane.elapsed,
            "batch_cpu_us": lane.cpu / (lane.done * BATCH) * 1e6,
        }
        for lane in lanes
    ]


def measure_reads(uri: str, stream: str, s: Settings) -> dict[str, float]:
    """One full read of the prepared stream, then of `$all` (limit = the same count)."""
    client = connect(uri)
    try:
        started = time.perf_counter()
        events = client.get_stream(stream, timeout=READ_DEADLINE)
        stream_elapsed = time.perf_counter() - started
        started = time.perf_counter()
        all_count = sum(1 for _ in client.read_all(limit=s.read_events, timeout=READ_DEADLINE))
        all_elapsed = time.perf_counter() - started
    finally:
        client.close()
    for name, got in (("stream", len(events)), ("$all", all_count)):
        if got != s.read_events:
            raise RuntimeError(f"read {name}: expected {s.read_events} events, got {got}")
    return {
        "read_stream_rate": len(events) / stream_elapsed,
        "read_all_rate": all_count / all_elapsed,
        OPS: len(events) + all_count,
    }


def prepare_read_stream(uri: str, s: Settings) -> str:
    """Write the stream the read rows read back; on the emulator it must come first in
    `$all` (after the server's own `$`-typed events, which the default filter drops)."""
    client = connect(uri)
    stream = f"bench-read-{uuid.uuid4().hex}"
    try:
        version: int | StreamState = StreamState.NO_STREAM
        for i in range(s.read_events // BATCH):
            client.append_to_stream(stream, current_version=version, events=_batch(i))
            version = (i + 1) * BATCH - 1
    finally:
        client.close()
    return stream


def _batch(i: int) -> list[Any]:
    return [bench_event(i * BATCH + k) for k in range(BATCH)]


# -- concurrent clients: persistent worker processes ---------------------------------


def _append_worker(tasks: mp.Queue[Any], results: mp.Queue[Any]) -> None:
    """Worker loop: for each task, append single events (or, if the task says
    `batched`, 100-event batches) to its own stream for the task's wall-clock window
    and report (events appended in the window, was late).
    Reports READY first, once its imports are done."""
    results.put(READY)
    while (task := tasks.get()) is not None:
        uri, start_at, seconds, batched = task
        try:
            results.put(_appends_in_window(uri, start_at, seconds, batched))
        except Exception as error:  # noqa: BLE001 - reported to the parent, which raises
            results.put(error)


def _appends_in_window(
    uri: str, start_at: float, seconds: float, batched: bool
) -> tuple[int, bool]:
    """Append to a new stream until the shared window [start_at, start_at + seconds]
    closes: single events built per call, or 100-event batches built before the
    window. Returns (events appended inside the window, started late)."""
    per_call = BATCH if batched else 1
    batches = [_batch(i) for i in range(8)] if batched else []

    def events(written: int) -> Any:
        return batches[written % 8] if batched else bench_event(written)

    client = connect(uri)
    try:
        stream = f"bench-conc-{uuid.uuid4().hex}"
        client.append_to_stream(stream, current_version=NO_STREAM, events=events(0))
        late = time.time() > start_at
        written = 1
        end, count = start_at + seconds, 0
        # Warm up until the shared window opens, then count what falls inside it.
        for until in (start_at, end):
            for _ in bounded(MAX_WORKER_APPENDS, until - time.time()):
                version = written * per_call - 1
                client.append_to_stream(stream, current_version=version, events=events(written))
                written += 1
                if until == end and time.time() <= end:
                    count += per_call
        return count, late
    finally:
        client.close()


class WorkerPool:
    """`size` spawned processes, each taking its own tasks, so N tasks run on N processes."""

    def __init__(self, size: int) -> None:
        context = mp.get_context("spawn")
        self._results: mp.Queue[Any] = context.Queue()
        self._tasks: list[mp.Queue[Any]] = [context.Queue() for _ in range(size)]
        self._processes: list[BaseProcess] = [
            context.Process(target=_append_worker, args=(q, self._results), daemon=True)
            for q in self._tasks
        ]
        for process in self._processes:
            process.start()
        # Spawning imports grpc and esdbclient in every worker: let that finish before
        # anything is measured.
        for _ in self._processes:
            if self._next_result(deadline=time.time() + 120) != READY:
                raise RuntimeError("a concurrent worker did not start cleanly")

    def total_rate(self, uri: str, clients: int, seconds: float, *, batched: bool = False) -> float:
        """Appends/s (events/s if `batched`) summed over `clients` concurrent workers
        in one shared window."""
        start_at = time.time() + 1.0 + 0.1 * clients  # time to connect and warm up
        for q in self._tasks[:clients]:
            q.put((uri, start_at, seconds, batched))
        total, late = 0, 0
        for _ in range(clients):
            result = self._next_result(deadline=start_at + seconds + 60)
            if isinstance(result, Exception):
                raise RuntimeError(f"concurrent worker failed: {result!r}") from result
            total += result[0]
            late += result[1]
        if late:
            print(f"  warning: {late} of {clients} workers started late", file=sys.stderr)
        return total / seconds

    def _next_result(self, deadline: float) -> Any:
        while time.time() < deadline:
            try:
                return self._results.get(timeout=0.5)
            except queue.Empty:
                dead = [p.pid for p in self._processes if not p.is_alive()]
                if dead:
                    raise RuntimeError(f"concurrent worker processes died: {dead}") from None
        raise RuntimeError("concurrent workers did not report in time")

    def close(self) -> None:
        """Ask every worker to exit; kill any that does not within 10 s."""
        for q in self._tasks:
            q.put(None)
        for process in self._processes:
            process.join(10)
            if process.is_alive():
                process.kill()


def measure_concurrent(pool: WorkerPool, uri: str, s: Settings) -> dict[str, float]:
    """One client, then `s.clients` clients, each in its own process."""
    one = pool.total_rate(uri, 1, s.concurrent_seconds)
    many = pool.total_rate(uri, s.clients, s.concurrent_seconds)
    return {"conc_one_rate": one, "conc_many_rate": many}


def measure_concurrent_batched(pool: WorkerPool, uri: str, s: Settings) -> dict[str, float]:
    """BATCH_CLIENTS processes appending 100-event batches at once (events/s)."""
    clients = min(BATCH_CLIENTS, s.clients)
    rate = pool.total_rate(uri, clients, s.concurrent_seconds, batched=True)
    return {"conc_batch_events_rate": rate}


# -- orchestration and report ----------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One printed row: a metric (or a derived figure) with its target."""

    label: str
    unit: str
    value: Callable[[Samples], float]
    target: str = "-"
    passes: Callable[[float, float], bool] | None = None  # (emulator, stand-in) -> ok


def rows(s: Settings) -> list[Row]:
    """The table rows, in print order."""
    n = s.clients
    b = min(BATCH_CLIENTS, s.clients)

    def med(metric: str) -> Callable[[Samples], float]:
        return lambda samples: samples.median(metric)

    def scaling(samples: Samples) -> float:
        return samples.median("conc_many_rate") / samples.median("conc_one_rate")

    return [
        Row(
            "single-event append",
            "appends/s",
            med("single_rate"),
            ">= 0.70 x stand-in",
            lambda e, f: e >= 0.7 * f,
        ),
        Row("single-event append p50", "ms", med("single_p50_ms")),
        Row("single-event append p99", "ms", med("single_p99_ms")),
        Row("batched append (100/batch), 1 client", "events/s", med("batch_events_rate")),
        Row(
            f"batched append, {b} clients",
            "events/s",
            med("conc_batch_events_rate"),
            ">= 30,000 events/s",
            lambda e, f: e >= 30_000,
        ),
        Row("1 client (process)", "appends/s", med("conc_one_rate")),
        Row(f"{n} concurrent clients", "appends/s", med("conc_many_rate")),
        Row(f"{n} clients / 1 client", "x", scaling, ">= 1.5 x (emulator)", lambda e, f: e >= 1.5),
        Row(
            f"read stream ({s.read_events} events)",
            "events/s",
            med("read_stream_rate"),
            ">= 0.70 x stand-in",
            lambda e, f: e >= 0.7 * f,
        ),
        Row(
            f"read $all ({s.read_events} events)",
            "events/s",
            med("read_all_rate"),
            ">= 0.70 x stand-in",
            lambda e, f: e >= 0.7 * f,
        ),
    ]


def report(s: Settings, emulator: Samples, standin: Samples) -> tuple[str, bool]:
    """The result table and whether every target passed."""
    table: list[list[str]] = []
    all_pass = True
    for row in rows(s):
        e, f = row.value(emulator), row.value(standin)
        verdict = "-"
        if row.passes is not None:
            ok = row.passes(e, f)
            all_pass &= ok
            verdict = "PASS" if ok else "FAIL"
        table.append([row.label, row.unit, _fmt(e), _fmt(f), f"{e / f:.2f}", row.target, verdict])
    headers = ["measurement", "unit", "emulator", "stand-in", "ratio", "target", "result"]
    return format_table(headers, table), all_pass


def cpu_report(emulator: Samples, standin: Samples) -> str:
    """Server CPU per operation (user + system, all threads, warm-up included)."""
    labels = {
        "single_cpu_us": "single-event append (per append)",
        "batch_cpu_us": "batched append (per event)",
        "read_cpu_us": "stream + $all reads (per event)",
    }
    table = []
    for metric, label in labels.items():
        if metric in emulator.values and metric in standin.values:
            e, f = emulator.median(metric), standin.median(metric)
            table.append([label, _fmt(e), _fmt(f), f"{e / f:.2f}" if f else "-"])
    headers = ["server CPU, microseconds", "emulator", "stand-in", "ratio"]
    return format_table(headers, table) if table else "(server CPU not available)"


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"


def run(s: Settings, verbose: bool) -> tuple[Samples, Samples]:
    """Start both servers and the worker pool, and measure every row `s.rounds` times."""
    emulator, standin = Samples(), Samples()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="esdb-bench-")))
        emu = stack.enter_context(
            EmulatorProcess(tmp / "bench.db", synchronous="FULL", log_path=tmp / "emulator.log")
        )
        floor = stack.enter_context(StandinProcess(s.read_events))
        pool = WorkerPool(s.clients)
        stack.callback(pool.close)
        p50, p99 = fsync_latency(tmp)
        print(f"fsync on the db's disk: p50 {p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms", flush=True)
        p50, p99 = sqlite_commit_latency(tmp)
        print(
            f"one-event SQLite commit there (the emulator's schema and settings, no server):"
            f" p50 {p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms",
            flush=True,
        )
        read_stream = prepare_read_stream(emu.uri, s)
        settle(emu.pid)
        servers = [
            (emu.uri, emu.pid, emulator, read_stream),
            (floor.uri, floor.pid, standin, "bench-read"),
        ]
        pair = [(uri, pid) for uri, pid, _, _ in servers]
        for r in range(s.rounds):
            for name, paired in (("single", measure_single), ("batched", measure_batched)):
                with _timed(f"round {r + 1} {name} (interleaved)", verbose):
                    for (_, _, samples, _), figures in zip(servers, paired(pair, s), strict=True):
                        for metric, value in figures.items():
                            samples.add(metric, value)
                settle(emu.pid)  # the batches' WAL checkpoint must not slow the next rows
            order = servers if r % 2 == 0 else servers[::-1]
            for name, measure in _measurements(pool, s):
                for uri, pid, samples, stream in order:
                    with _timed(f"round {r + 1} {name} {uri}", verbose):
                        cpu_before = tree_cpu_seconds(pid)
                        figures = measure(uri, stream)
                        cpu = tree_cpu_seconds(pid) - cpu_before
                    ops = figures.pop(OPS, 0)
                    if ops and name in CPU_METRICS:
                        samples.add(CPU_METRICS[name], cpu / ops * 1e6)
                    for metric, value in figures.items():
                        samples.add(metric, value)
                settle(emu.pid)  # background work a row left (a checkpoint) must not slow the next
    return emulator, standin


def sqlite_commit_latency(directory: Path, count: int = 200) -> tuple[float, float]:
    """(p50, p99) seconds of a one-event transaction on a bare connection with the
    emulator's schema and durability, and its WAL preallocated as the emulator's is,
    in `directory`: the floor under a durable single-event append, which the
    stand-in does not pay."""
    database = directory / "floor.db"
    connection = log_schema.connect(database, "FULL", writer=True)
    try:
        connection.executescript(log_schema.SCHEMA)
        log_writer.extend_wal(Path(f"{database}-wal"), log_writer.WAL_PREALLOCATED)
        data = bench_event(0).data
        latencies = []
        for i in range(count):
            row = ((i + 1) * 400, "floor", i, str(uuid.uuid4()), "T", "application/json",
                   b"{}", data, 0)  # fmt: skip
            started = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(log_schema.INSERT, row)
            connection.execute("COMMIT")
            latencies.append(time.perf_counter() - started)
    finally:
        connection.close()
    return percentile(latencies, 50), percentile(latencies, 99)


def _measurements(
    pool: WorkerPool, s: Settings
) -> list[tuple[str, Callable[[str, str], dict[str, float]]]]:
    return [
        ("concurrent", lambda uri, _: measure_concurrent(pool, uri, s)),
        ("reads", lambda uri, stream: measure_reads(uri, stream, s)),
        # Last in a round: it writes the most, and its WAL checkpoint should not
        # overlap the rows above.
        ("concurrent batched", lambda uri, _: measure_concurrent_batched(pool, uri, s)),
    ]


@contextmanager
def _timed(what: str, verbose: bool) -> Iterator[None]:
    started = time.perf_counter()
    yield
    if verbose:
        print(f"  {what}: {time.perf_counter() - started:.1f}s", file=sys.stderr)


def environment(s: Settings) -> str:
    """The header line: hardware, versions and durability, as every result must state."""
    return (
        f"cpus={os.cpu_count()} python={platform.python_version()} "
        f"sqlite={sqlite3.sqlite_version} grpcio={grpc.__version__} "
        f"emulator=synchronous=FULL on a file db; rounds={s.rounds} (medians shown)"
    )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the table; see the module docstring for exit codes."""
    parser = argparse.ArgumentParser(description="esdb_emulator vs stand-in benchmark")
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (small counts)")
    parser.add_argument("--rounds", type=int, help="rounds per measurement (default 3)")
    parser.add_argument("--check", action="store_true", help="exit 1 if any target fails")
    parser.add_argument("--verbose", action="store_true", help="per-round progress on stderr")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else Settings()
    if args.rounds:
        settings = Settings(**{**settings.__dict__, "rounds": args.rounds})
    print(environment(settings), flush=True)
    emulator, standin = run(settings, args.verbose)
    if args.verbose:
        for name, samples in (("emulator", emulator), ("stand-in", standin)):
            print(f"{name} per round: {samples.values}", file=sys.stderr)
    table, all_pass = report(settings, emulator, standin)
    print(table)
    print()
    print(cpu_report(emulator, standin))
    print()
    print("all targets PASS" if all_pass else "some targets FAIL")
    return 1 if args.check and not all_pass else 0


if __name__ == "__main__":
    sys.exit(main())
