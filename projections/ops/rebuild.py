"""`projections rebuild NAME`: a new generation built from the start of the log, swapped in.

1. Fold every order event, in `$all` order, into a fresh generation file beside the live
   one (through the same `BatchApplier` as the workers). Workers keep serving meanwhile.
2. Fence the live generation: take its write lock (`BEGIN IMMEDIATE`), so no worker can
   commit to it; everything it holds is now in the log up to its end.
3. Catch the new generation up to the end of the log, swap the symlink (atomic rename),
   mark the old generation `retired` and COMMIT. Workers blocked on the old lock then see
   `retired`, roll back and reopen the live path: the new generation.

An event the rebuild cannot apply (undecodable) blocks its stream there too; without
`accept_failures` such a rebuild is not swapped in, and its failures are reported.
"""

from __future__ import annotations

import argparse
import fcntl
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from orders import codec
from orders.ports import StoredEvent
from projections import database, esdb, tracking
from projections.batch import BatchApplier, Decode, Delivery
from projections.errors import RebuildInProgress
from projections.esdb import READ_DEADLINE, OrderLog
from projections.location import ReadModelFile, read_model_path
from projections.read_models import registry
from projections.read_models.projection import Projection

READ_PATIENCE = 30.0
"""Seconds of failing reads (no page applied meanwhile) a rebuild rides out."""
_READ_FAILURES = esdb.TransientReadError  # dropped connection, unavailable, deadline
_log = structlog.get_logger("projections.ops.rebuild")

OnProgress = Callable[[int, int, int], None]
"""Called with (events applied so far, commit position reached, target position)."""


@dataclass(slots=True)
class RebuildReport:
    """What a rebuild did."""

    projection: str
    generation: Path
    events: int = 0
    failures: list[str] = field(default_factory=list)
    swapped: bool = False
    seconds: float = 0.0


def rebuild(
    uri: str,
    projection: Projection,
    db_path: Path,
    *,
    decode: Decode = codec.decode,
    progress: OnProgress | None = None,
    accept_failures: bool = False,
    read_deadline: float = READ_DEADLINE,
) -> RebuildReport:
    """Rebuild `projection` at `db_path` from the log and swap it in (see module docstring).

    `read_deadline` bounds each read of the log (seconds); a read past it is resumed.

    Raises RebuildInProgress if another rebuild of the same read model is running.
    """
    started = time.monotonic()
    location = ReadModelFile(db_path)
    with _exclusive(location), _client(uri) as client:
        log = OrderLog(client, timeout=read_deadline)
        report = RebuildReport(projection.name, location.new_generation())
        conn = database.open_new(report.generation, projection)
        try:
            run = _CatchUp(conn, BatchApplier(projection, decode, log, park_after=0), log, report)
            run.to_end(progress, log.last_position())
            if accept_failures or not report.failures:
                report.swapped = _fence_and_swap(location, report.generation, run)
        finally:
            conn.close()
        if not report.swapped:
            location.remove_generation(report.generation)
        location.prune()
    report.seconds = time.monotonic() - started
    return report


class _CatchUp:
    """Folds order events into the new generation, page by page, remembering where it is.

    A read that fails on the way (the connection dropped, a deadline expired, the server
    restarting) is resumed from the last page applied: `position` and the ids applied at
    it (events appended together may share a position), with backoff, for up to
    `READ_PATIENCE` seconds without a page applied; then the error is raised.
    """

    def __init__(
        self, conn: sqlite3.Connection, applier: BatchApplier, log: OrderLog, report: RebuildReport
    ) -> None:
        self.conn, self.applier, self.log, self.report = conn, applier, log, report
        self.position: int | None = None
        self.seen: set[uuid.UUID] = set()

    def to_end(self, progress: OnProgress | None = None, target: int = 0) -> None:
        failures, progressed_at = 0, time.monotonic()
        while True:
            resume = self.seen if self.position is not None else None
            try:
                for page in self.log.pages(self.position, seen_at_after=resume):
                    self._apply(page)
                    failures, progressed_at = 0, time.monotonic()
                    if progress is not None:
                        progress(self.report.events, self.position or 0, target)
                return
            except _READ_FAILURES as e:
                if time.monotonic() - progressed_at > READ_PATIENCE:
                    raise
                failures += 1
                delay = min(1.0, 0.025 * 2**failures)
                _log.warning("rebuild.read_failed", error=str(e), retry_in=delay)
                time.sleep(delay)
                # A fresh channel: gRPC's own reconnect backoff on the broken one grows
                # to minutes, during which every call fails at once.
                self.log.client.reconnect()

    def _apply(self, page: list[StoredEvent]) -> None:
        outcome = self.applier.apply(self.conn, [Delivery(e, uuid.uuid4()) for e in page])
        self.report.events += outcome.applied
        self.report.failures += [f.error for f in outcome.failures]
        last = page[-1].commit_position
        if last != self.position:
            self.seen = set()
        self.seen.update(e.id for e in page if e.commit_position == last)
        self.position = last


def _fence_and_swap(location: ReadModelFile, generation: Path, run: _CatchUp) -> bool:
    live = location.link_first(generation)
    if live == generation:
        run.to_end()  # nothing was live: ours is now, and workers may join it safely
        return True
    old = database.connect(live)
    try:
        old.execute("BEGIN IMMEDIATE")  # workers cannot commit to the old generation now
        try:
            run.to_end()
            location.switch_to(generation)
            tracking.retire(old)
            old.execute("COMMIT")
        except BaseException:
            if old.in_transaction:
                old.execute("ROLLBACK")
            raise
    finally:
        old.close()
    return True


@contextmanager
def _exclusive(location: ReadModelFile) -> Iterator[None]:
    location.path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = location.path.with_name(f"{location.path.name}.rebuild.lock")
    with lock_path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RebuildInProgress(f"another rebuild of {location.path} is running") from None
        yield


@contextmanager
def _client(uri: str) -> Iterator[esdb.Client]:
    client = esdb.open_client(uri)
    try:
        yield client
    finally:
        client.close()


def rebuild_command(args: argparse.Namespace) -> int:
    """`projections rebuild NAME [--projections-dir DIR | --read-model PATH] [--quiet]`."""
    projection = registry.get(args.name)
    db_path = read_model_path(projection.name, args.db, args.projections_dir)
    columns = (
        TextColumn(f"rebuilding {projection.name}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[events]} events"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, disable=args.quiet, transient=False) as bar:
        task = bar.add_task("rebuild", total=None, events=0)

        def show(events: int, position: int, target: int) -> None:
            bar.update(task, completed=min(position, target), total=target or None, events=events)

        report = rebuild(args.uri, projection, db_path, progress=show)
    for failure in report.failures[:20]:
        sys.stderr.write(f"not applied: {failure}\n")
    if not report.swapped:
        sys.stderr.write(
            f"{len(report.failures)} events failed: the live read model is unchanged\n"
        )
        return 1
    sys.stdout.write(
        f"{projection.name}: {report.events} events in {report.seconds:.1f}s,"
        f" now live at {report.generation}\n"
    )
    return 0
