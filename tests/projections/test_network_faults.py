"""F4 (reliability.md 3.2): connections dropped mid-append, mid-read and mid-subscription,
and replies later than the deadline, injected by a real loopback TCP proxy
(`tests/tcp_proxy.py`) between the real esdbclient and the real server.

Each path runs at least 50 seeded random cuts against one server process. The seed is
printed (shown on failure) and can be fixed with `F4_SEED`. The append and deadline
paths need no server of their own, so they also run against `ESDB_URI`; the read paths
fold the whole log into the oracle, so they use the test's own emulator.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from esdbclient import EventStoreDBClient
from readside_harness import (
    applied,
    check_oracle,
    order_events,
    start_in_thread,
    stop_thread,
)
from readside_harness import counter as meta_counter
from tcp_proxy import CutProxy, Direction

from demo.workload import run_orders
from esdb_emulator.node.launcher import EmulatorProcess
from esdb_emulator.testing.waiting import wait_until
from orders import api
from orders.codec import event_id
from orders.ports import AppendResult, EncodedEvent, StoredEvent
from orders.service import CommandResult
from orders.store import EsdbStore
from orders.streams import stream_name
from projections.esdb import GroupSettings
from projections.ops.rebuild import rebuild
from projections.read_models import registry
from projections.worker import Worker, WorkerConfig

CUTS_PER_PATH = 50


@pytest.fixture
def seed() -> int:
    value = int(os.environ.get("F4_SEED") or random.SystemRandom().randrange(10**6))
    print(f"F4 fault seed: {value} (rerun with F4_SEED={value})")
    return value


@pytest.fixture
def proxy(esdb_uri: str) -> Iterator[CutProxy]:
    with CutProxy.for_uri(esdb_uri) as running:
        yield running


class _BeforeAppend:
    """The real store, with a fault injected on the wire just before each append is sent
    (so the order's read before it is left alone and the cut hits the append itself)."""

    def __init__(self, store: EsdbStore, inject: Callable[[], None]) -> None:
        self.store, self.inject = store, inject

    def read(
        self, order_id: str, *, from_revision: int = 0, limit: int | None = None
    ) -> Sequence[StoredEvent]:
        return self.store.read(order_id, from_revision=from_revision, limit=limit)

    def append(
        self, order_id: str, expected_revision: int | None, events: Sequence[EncodedEvent]
    ) -> AppendResult:
        self.inject()
        return self.store.append(order_id, expected_revision, events)


def _order_life(order_id: str) -> list[Callable[..., CommandResult]]:
    """Commands of one order's life: place, pay in two parts, ship, deliver."""
    lines = [{"sku": "p-1", "quantity": 2, "unit_price": 1250}]
    return [
        lambda **o: api.place_order(order_id, "cust-f4", lines, "EUR", **o),
        lambda **o: api.record_payment(order_id, f"pay-{order_id}-a", 1000, "EUR", **o),
        lambda **o: api.record_payment(order_id, f"pay-{order_id}-b", 1500, "EUR", **o),
        lambda **o: api.ship_order(order_id, "DHL", "TRK1", **o),
        lambda **o: api.confirm_delivery(order_id, **o),
    ]


def _check_exactly_once(
    client: EventStoreDBClient, order_id: str, results: list[CommandResult], seed: int
) -> None:
    """The stream holds each command's events once, in command order, and nothing else."""
    recorded = client.get_stream(stream_name(order_id))
    ids = [e.id for e in recorded]
    expected = [
        event_id(result.command_id, index)
        for result in results
        for index in range(len(result.events))
    ]
    assert ids == expected, f"seed={seed}: {order_id} holds {ids}, expected {expected}"


def test_append_whose_reply_is_lost_resolves_to_exactly_one_copy(
    esdb_uri: str, proxy: CutProxy, client: EventStoreDBClient, seed: int
) -> None:
    """The reply of an append is cut after k bytes (k random, below the reply's size),
    so the request reached the server and the client sees a broken connection. The command
    function's retry (the same event ids, the same expected revision) gives exactly one
    copy of its events, reports them as its own, and never meets a conflict (nobody else
    writes these orders). A few cuts go the other way (the request cut after k bytes),
    where the append may or may not have arrived: still exactly one copy."""
    rng = random.Random(seed)
    directions: list[Direction] = []

    def cut() -> None:
        direction: Direction = "down" if rng.random() < 0.85 else "up"
        directions.append(direction)
        proxy.arm(direction, rng.randrange(0, 40) if direction == "down" else rng.randrange(300))

    lost_replies = 0
    with EsdbStore(proxy.uri(esdb_uri), timeout=5) as through_proxy:
        store = _BeforeAppend(through_proxy, cut)
        while lost_replies < CUTS_PER_PATH:
            order_id = str(uuid.uuid4())
            results = []
            for command in _order_life(order_id):
                cuts_before = proxy.cuts
                result = command(store=store)
                fired = proxy.cuts > cuts_before
                proxy.disarm()
                assert fired, f"seed={seed}: the armed cut never fired"
                lost_replies += directions[-1] == "down"
                assert not result.already_applied, f"seed={seed}: our own append not ours"
                assert result.conflicts_retried == 0, f"seed={seed}: conflict, nobody else wrote"
                results.append(result)
            _check_exactly_once(client, order_id, results, seed)
    assert proxy.cuts >= CUTS_PER_PATH


def test_append_retried_past_an_expired_deadline_lands_once(
    esdb_uri: str, proxy: CutProxy, client: EventStoreDBClient, seed: int
) -> None:
    """The server's replies are held back past the store's deadline just as an append is
    sent, so that append's deadline expires (the request arrived; the late reply is thrown
    away). esdbclient retries once by itself; a fifth of the stalls outlast that retry
    too, so the command function's own retry runs. Either way the order holds each
    command's events once and no conflict is ever reported."""
    rng = random.Random(seed)
    deadline = 0.2
    stalls: list[float] = []

    def stall() -> None:
        longer = rng.random() < 0.2
        seconds = rng.uniform(0.6, 0.8) if longer else rng.uniform(deadline + 0.05, 0.45)
        stalls.append(seconds)
        proxy.stall(seconds)

    retried_by_command = 0
    with EsdbStore(proxy.uri(esdb_uri), timeout=deadline) as through_proxy:
        store = _BeforeAppend(through_proxy, stall)
        while len(stalls) < CUTS_PER_PATH:
            order_id = str(uuid.uuid4())
            results = []
            for command in _order_life(order_id):
                result = command(store=store)
                retried_by_command += result.transient_errors_retried
                assert result.conflicts_retried == 0, f"seed={seed}: conflict, nobody else wrote"
                assert not result.already_applied, f"seed={seed}: our own append not ours"
                results.append(result)
            _check_exactly_once(client, order_id, results, seed)
    # every stall outlasted the deadline of the append sent right after it
    assert min(stalls) > deadline
    assert retried_by_command > 0, f"seed={seed}: no stall reached the command's retry"


class _Cutter:
    """Keeps a random cut armed on the proxy (k bytes, k uniform in the direction's range)
    from a thread, until stopped: each cut fires wherever the traffic then is."""

    def __init__(self, proxy: CutProxy, rng: random.Random, down: int, up: int) -> None:
        self.proxy, self.rng, self.down, self.up = proxy, rng, down, up
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Cutter:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.proxy.disarm()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            if not self.proxy.armed:
                if self.rng.random() < 0.8:
                    self.proxy.arm("down", self.rng.randrange(self.down))
                else:
                    self.proxy.arm("up", self.rng.randrange(self.up))


@pytest.fixture
def own_proxy(emulator: EmulatorProcess) -> Iterator[CutProxy]:
    with CutProxy.for_uri(emulator.uri) as running:
        yield running


@pytest.mark.emulator_only
def test_catch_up_read_cut_mid_stream_resumes_from_its_position(
    emulator: EmulatorProcess,
    own_proxy: CutProxy,
    es: EventStoreDBClient,
    store: EsdbStore,
    tmp_path: Path,
    seed: int,
) -> None:
    """A rebuild's catch-up read of `$all` (pages of 500 events) is cut after k bytes
    again and again (k random, up to about two pages). It resumes from the last page it
    applied, so the new generation holds every event once: 0 gaps, 0 duplicate effects,
    equal to the oracle. (Before the fix one cut made the rebuild fail.) A cut request whose
    read never answers waits out the read deadline, here 2 s instead of the default 10 s."""
    rng = random.Random(seed)
    name = "order_summary"
    run_orders(store, 120, seed=seed)
    total = order_events(es)
    rebuilds = 0
    with _Cutter(own_proxy, rng, down=600_000, up=400):
        while own_proxy.cuts < CUTS_PER_PATH:
            db = tmp_path / f"rebuild-{rebuilds}" / f"{name}.db"
            report = rebuild(own_proxy.uri(emulator.uri), registry.get(name), db, read_deadline=2.0)
            rebuilds += 1
            assert report.swapped, f"seed={seed}: {report}"
            assert not report.failures, f"seed={seed}: {report}"
            assert report.events == total, f"seed={seed}: {report.events} of {total} applied"
            check_oracle(es, name, db)
    print(f"{rebuilds} rebuilds, {own_proxy.cuts} cuts")


@pytest.mark.emulator_only
def test_persistent_subscription_cut_mid_stream_reconnects_without_gaps_or_duplicates(
    emulator: EmulatorProcess,
    own_proxy: CutProxy,
    es: EventStoreDBClient,
    store: EsdbStore,
    tmp_path: Path,
    seed: int,
) -> None:
    """A worker's persistent subscription (and its gap reads and acks) is cut after k
    bytes again and again while orders are written. It reconnects by itself; the server
    redelivers what was in flight or unacked, and the ledger absorbs it: the read model
    equals the oracle (0 gaps, each event applied once). (Before the fix about one run in
    three stalled: after a cut the worker's next client queued its group's Create on a
    channel that never connected again, with no deadline.)"""
    rng = random.Random(seed)
    name, db = "order_timeline", tmp_path / "order_timeline.db"
    config = WorkerConfig(
        own_proxy.uri(emulator.uri),
        registry.get(name),
        db,
        group=GroupSettings(consumer_strategy="RoundRobin"),
        batch_size=50,
        backoff_initial=0.02,
        backoff_max=0.3,
    )
    worker = start_in_thread(Worker(config))
    try:
        with _Cutter(own_proxy, rng, down=60_000, up=2_000):
            # Cuts come with the worker's traffic: keep writing until enough have fired
            # (a worker waiting out a cut read's deadline moves no bytes for a while).
            deadline, round_ = time.monotonic() + 45, 0
            while own_proxy.cuts < CUTS_PER_PATH and time.monotonic() < deadline:
                run_orders(store, 5, seed=seed * 1000 + round_)
                round_ += 1
            assert own_proxy.cuts >= CUTS_PER_PATH, f"seed={seed}: only {own_proxy.cuts} cuts"
        total = order_events(es)
        wait_until(lambda: applied(db) == total, 60, f"seed={seed}: {total} events applied")
    finally:
        stop_thread(worker)
    check_oracle(es, name, db)
    print(f"{own_proxy.cuts} cuts, duplicates {meta_counter(db, 'duplicates_skipped')}")
