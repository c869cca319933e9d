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
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from orders import codec
from projections import database, esdb
from projections.batch import BatchApplier, BatchOutcome, Decode, Delivery, is_transient
from projections.errors import GenerationRetired, ReadModelUnusable
from projections.location import ReadModelFile
from projections.ports import Connect, ConnectionLost, GroupSettings, Subscription, Window
from projections.read_models.projection import Projection

log = structlog.get_logger("projections.worker")


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
        return self.subscription_group or esdb.group_name(self.projection.name)

    @property
    def window(self) -> Window:
        return Window(
            self.batch_size, self.event_buffer_size, self.max_ack_batch_size, self.max_ack_delay
        )


class Worker:
    """Runs one consumer until `request_stop()`; see the module docstring."""

    def __init__(
        self, config: WorkerConfig, *, decode: Decode = codec.decode, connect: Connect | None = None
    ) -> None:
        """`connect` opens a connection to the event store (default: EventStoreDB at
        `config.uri`); the worker calls it again after each ConnectionLost."""
        self.config = config
        self.decode = decode
        self.connect = connect or esdb.connector(config.uri)
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
                except ConnectionLost as e:
                    delay = backoff.next()
                    self._log.warning("subscription.dropped", error=str(e), retry_in=delay)
                    self._stopping.wait(delay)
        finally:
            self._close_db()
            self._log.info("projection.worker_stopped")

    def _serve(self, backoff: _Backoff) -> None:
        """One connection: join the group, apply batches until stop or failure."""
        store = self.connect()
        try:
            applier = BatchApplier(
                self.config.projection, self.decode, store, park_after=self.config.park_after
            )
            subscription, created = store.subscribe(
                self.config.group_name, self.config.group, self.config.window
            )
            if created:
                self._log.info("subscription.group_created")
            self._log.info("subscription.connected", subscription=subscription.id)
            self._consume(subscription, applier, backoff)
        finally:
            store.close()

    def _consume(
        self, subscription: Subscription, applier: BatchApplier, backoff: _Backoff
    ) -> None:
        try:
            while not self.stopping:
                batch = subscription.take(0.25, self.config.linger)
                if batch:
                    self._handle(applier, subscription, batch)
                    backoff.reset()
        except BaseException:
            subscription.stop(flush=False)  # the connection is broken: nobody takes the acks
            raise
        subscription.stop()  # sends the acks still queued before the worker exits

    def _handle(
        self,
        applier: BatchApplier,
        subscription: Subscription,
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
        if outcome.skipped:
            self._log.info(
                "projection.duplicates_skipped",
                count=outcome.duplicates,
                events=[f"{revision}@{stream}" for stream, revision in outcome.skipped[:20]],
                reason="already applied: at or below the stream's revision in the read model",
            )
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
