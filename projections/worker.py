"""The projector worker: one persistent-subscription consumer feeding one SQLite read model.

Loop: take a batch of delivered events, apply it in one transaction (`batch.py`), and only
after COMMIT ack what was applied or duplicated and nack what failed (`retry`, or `park`
after `park_after` retries). When the server goes away it reconnects with jittered
backoff; when the database is busy or full it rolls back, waits and retries the batch
without acking. `request_stop()` (SIGTERM) finishes the batch in hand, commits, acks and
returns. Any number of workers may run for one projection and one file.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import structlog
from esdbclient import EventStoreDBClient, RecordedEvent
from esdbclient.common import AbstractPersistentSubscription
from esdbclient.exceptions import EventStoreDBClientException

from orders import codec
from projections import database
from projections.batch import BatchApplier, BatchOutcome, Decode, Delivery, is_transient
from projections.errors import GenerationRetired, ReadModelUnusable
from projections.esdb import GroupSettings, OrderLog, ensure_group, group_name, to_delivery
from projections.location import ReadModelFile
from projections.read_models.projection import Projection

log = structlog.get_logger("projections.worker")


class SubscriptionEnded(Exception):
    """The server closed the subscription stream without an error."""


_RECONNECT_ON = (EventStoreDBClientException, grpc.RpcError, SubscriptionEnded)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """How a worker connects, batches, retries and parks."""

    uri: str
    projection: Projection
    db_path: Path
    group: GroupSettings = field(default_factory=GroupSettings)
    batch_size: int = 500
    event_buffer_size: int = 2000
    """In-flight events the server may send before acks: acks only follow a COMMIT, so
    the window must cover a batch being applied, the next one filling and the acks on
    their way (2 x 500 + margin)."""
    max_ack_batch_size: int = 200
    max_ack_delay: float = 0.02
    linger: float = 0.05
    """Seconds a batch may wait to fill once its first event is in: a commit costs an
    fsync, a few statements and the WAL pages of every row it touched, so larger batches
    are cheaper per event. A full batch is taken at once, so this only bounds latency."""
    park_after: int = 3
    """Nack `park` once a failing delivery's retry_count reaches this (else `retry`)."""
    backoff_initial: float = 0.1
    backoff_max: float = 5.0
    subscription_group: str | None = None
    """The group to consume; default `projection-<name>`."""

    @property
    def group_name(self) -> str:
        return self.subscription_group or group_name(self.projection.name)


class Worker:
    """Runs one consumer until `request_stop()`; see the module docstring."""

    def __init__(self, config: WorkerConfig, *, decode: Decode = codec.decode) -> None:
        self.config = config
        self.decode = decode
        self.location = ReadModelFile(config.db_path)
        self._stopping = threading.Event()
        self._conn: sqlite3.Connection | None = None
        self._log = log.bind(projection=config.projection.name, group=config.group_name)

    def request_stop(self) -> None:
        """Ask the worker to finish the batch in hand, commit, ack and return."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def check_database(self) -> None:
        """Open the read model now (creating it if missing), so an unusable path fails
        at start rather than at the first event; raises ReadModelUnusable."""
        try:
            self._connection()
        except (sqlite3.Error, OSError) as e:
            self._close_db()
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise ReadModelUnusable(
                f"cannot open the read model at {self.config.db_path}: {reason}"
                " (a corrupt file, another program's database, or a folder this user"
                " cannot write?)"
            ) from None

    def run(self) -> None:
        """Consume until stopped, reconnecting whenever the subscription fails."""
        backoff = _Backoff(self.config.backoff_initial, self.config.backoff_max)
        self._log.info("projection.worker_started", db=str(self.config.db_path))
        try:
            while not self.stopping:
                try:
                    self._serve(backoff)
                except _RECONNECT_ON as e:
                    delay = backoff.next()
                    self._log.warning("subscription.dropped", error=_brief(e), retry_in=delay)
                    self._stopping.wait(delay)
        finally:
            self._close_db()
            self._log.info("projection.worker_stopped")

    def _serve(self, backoff: _Backoff) -> None:
        """One connection: ensure the group, subscribe, apply batches until stop or failure."""
        client = EventStoreDBClient(self.config.uri)
        try:
            gaps = OrderLog(client)
            applier = BatchApplier(
                self.config.projection, self.decode, gaps, park_after=self.config.park_after
            )
            self._consume(self._subscribe(client), applier, backoff)
        finally:
            client.close()

    def _subscribe(self, client: EventStoreDBClient) -> AbstractPersistentSubscription:
        if ensure_group(client, self.config.group_name, self.config.group):
            self._log.info("subscription.group_created")
        subscription = client.read_subscription_to_all(
            self.config.group_name,
            event_buffer_size=self.config.event_buffer_size,
            max_ack_batch_size=self.config.max_ack_batch_size,
            max_ack_delay=self.config.max_ack_delay,
        )
        self._log.info("subscription.connected", subscription=subscription.subscription_id)
        return subscription

    def _consume(
        self,
        subscription: AbstractPersistentSubscription,
        applier: BatchApplier,
        backoff: _Backoff,
    ) -> None:
        feed = _Feed(subscription, self.config.batch_size)
        try:
            while not self.stopping:
                events = feed.take(0.25, self.config.linger)
                if events:
                    self._handle(applier, subscription, [to_delivery(e) for e in events])
                    backoff.reset()
        except BaseException:
            # The stream is broken: esdbclient's stop() would wait up to 5 s to flush acks
            # nobody can receive, so let it finish in the background.
            threading.Thread(target=subscription.stop, daemon=True).start()
            raise
        subscription.stop()  # sends the acks still queued before the worker exits

    def _handle(
        self,
        applier: BatchApplier,
        subscription: AbstractPersistentSubscription,
        batch: list[Delivery],
    ) -> None:
        """Apply one batch (retrying on busy or full databases), then ack and nack."""
        outcome = self._apply(applier, batch)
        if outcome is None:
            return  # stopping while the database was unavailable: nothing acked, redelivered
        for ack_id in outcome.acks:
            subscription.ack(ack_id)
        for failure in outcome.failures:
            stored = failure.delivery.stored
            self._log.error(
                "subscription.parked" if failure.action == "park" else "projection.event_failed",
                stream=stored.stream,
                revision=stored.revision,
                event_type=stored.type,
                error=failure.error,
                retry_count=failure.delivery.retry_count,
                action=failure.action,
            )
            subscription.nack(failure.delivery.ack_id, failure.action)
        self._log.debug(
            "projection.batch_applied",
            delivered=len(batch),
            applied=outcome.applied,
            duplicates=outcome.duplicates,
            gap_events=outcome.gap_events,
            failed=len(outcome.failures),
        )

    def _apply(self, applier: BatchApplier, batch: list[Delivery]) -> BatchOutcome | None:
        """Apply the batch, retrying with backoff while the database is busy, full or
        failing. An outage logs one error when it starts (the retries log at debug)
        and one line when a batch commits again."""
        backoff = _Backoff(self.config.backoff_initial, self.config.backoff_max)
        failed_since: float | None = None
        while True:
            try:
                outcome = applier.apply(self._connection(), batch)
            except GenerationRetired:
                self._close_db()
                self._log.info("projection.generation_switched")
                continue
            except sqlite3.Error as e:
                if not is_transient(e):
                    raise
                delay = backoff.next()
                error = f"{getattr(e, 'sqlite_errorname', type(e).__name__)}: {e}"
                if failed_since is None:
                    failed_since = time.monotonic()
                    self._log.error(
                        "projection.database_unavailable",
                        db=str(self.config.db_path),
                        error=error,
                        action="rolled back, nothing acked; retrying the batch with backoff",
                        retry_in=delay,
                    )
                else:
                    self._log.debug("projection.database_retry", error=error, retry_in=delay)
                self._close_db()
                if self._stopping.wait(delay):
                    return None
                continue
            if failed_since is not None:
                self._log.warning(
                    "projection.database_recovered",
                    db=str(self.config.db_path),
                    attempts=backoff.attempt + 1,
                    unavailable_s=round(time.monotonic() - failed_since, 3),
                )
            return outcome

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn, live = database.open_live(self.location, self.config.projection)
            self._log.info("projection.database_opened", generation=str(live))
        return self._conn

    def _close_db(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _Feed:
    """Pumps the blocking subscription iterator into a buffer, so batches can be taken.

    The pump appends to a deque (no lock per event) and wakes the consumer only when the
    buffer stops being empty, reaches a full batch, or the subscription fails.
    """

    def __init__(self, subscription: AbstractPersistentSubscription, batch_size: int) -> None:
        self._subscription = subscription
        self._items: deque[RecordedEvent | BaseException] = deque()
        self._ready = threading.Event()
        self._batch_size = batch_size
        self._ended = False
        self._failed: BaseException | None = None
        threading.Thread(target=self._pump, name="subscription-feed", daemon=True).start()

    def take(self, timeout: float, linger: float) -> list[RecordedEvent]:
        """Up to a batch of events: waits up to `timeout` for the first, then up to `linger`
        seconds more while the batch is not full (fewer, larger commits), and takes them.
        Raises the subscription's failure once the events before it are taken."""
        if self._failed is None:
            self._wait(timeout, linger)
        events: list[RecordedEvent] = []
        items = self._items
        while items and len(events) < self._batch_size and self._failed is None:
            item = items.popleft()
            if isinstance(item, RecordedEvent):
                events.append(item)
            else:
                self._failed = item
        if not events and self._failed is not None:
            raise self._failed
        return events

    def _wait(self, timeout: float, linger: float) -> None:
        """Until a batch is buffered, `linger` after the first event, the subscription
        ended, or `timeout` passed with nothing buffered."""
        items, ready, full = self._items, self._ready, self._batch_size
        deadline = time.monotonic() + timeout
        fill_by: float | None = None
        while True:
            ready.clear()  # cleared before looking: a wake-up after this is never lost
            buffered = len(items)
            if buffered >= full or self._ended:
                return
            now = time.monotonic()
            if buffered and fill_by is None:
                fill_by = now + linger
            remaining = (fill_by if fill_by is not None else deadline) - now
            if remaining <= 0:
                return
            ready.wait(remaining)

    def _pump(self) -> None:
        items, ready, full = self._items, self._ready, self._batch_size
        try:
            for event in self._subscription:
                items.append(event)
                buffered = len(items)
                if buffered in (1, full):
                    ready.set()
            ended: BaseException = SubscriptionEnded("the subscription stream ended")
        except BaseException as e:  # noqa: BLE001  handed to the consuming thread, which decides
            ended = e
        items.append(ended)
        self._ended = True
        ready.set()


class _Backoff:
    """Jittered exponential delays: initial, x2 each time, capped; reset on success."""

    def __init__(self, initial: float, cap: float) -> None:
        self.initial, self.cap, self.attempt = initial, cap, 0

    def next(self) -> float:
        delay = min(self.cap, self.initial * 2**self.attempt)
        self.attempt += 1
        return float(round(delay * random.uniform(0.5, 1.0), 3))

    def reset(self) -> None:
        self.attempt = 0


def _brief(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]
