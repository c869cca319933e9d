"""Catch-up subscriptions: history from the log, then live events as they commit.

Both kinds follow one pattern, which makes the hand-over from history to live
lossless and duplicate-free even while other calls append: note the log's last
position, read a page onwards from the last thing delivered, deliver it, and when
a page comes back short wait until something commits after the noted position.
Nothing is pushed to subscribers, so there is no buffer to overflow or reconcile.

Starts are exclusive (stream revision N delivers from N+1, `$all` position P from
after P); `end` means "only what commits after the subscription is confirmed".
`caught_up` is sent at the first short page. Filtered `$all` subscriptions also
send a checkpoint every `window * multiplier` records scanned, at the position of
the last record scanned (never beyond the last committed position).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import structlog
from esdbclient.protos.Grpc import streams_pb2

from esdb_emulator.log.event_log import EventLog
from esdb_emulator.log.records import ResolvedEvent, StreamDeleted, StreamNotFound
from esdb_emulator.streams.filters import EventFilter
from esdb_emulator.streams.wire import read_event, stream_deleted

_log = structlog.get_logger("esdb_emulator.streams.catchup")

#: Records read from the log per page.
PAGE_SIZE = 256

#: Where a subscription starts: the beginning, the end (live only), or after a
#: stream revision / `$all` commit position.
Start = None | Literal["end"] | int


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """Send a checkpoint every `interval` records scanned (filtered `$all` only)."""

    interval: int


def _confirmation() -> streams_pb2.ReadResp:
    return streams_pb2.ReadResp(
        confirmation=streams_pb2.ReadResp.SubscriptionConfirmation(
            subscription_id=str(uuid.uuid4())
        )
    )


def _caught_up() -> streams_pb2.ReadResp:
    return streams_pb2.ReadResp(caught_up=streams_pb2.ReadResp.CaughtUp())


async def subscribe_to_stream(
    log: EventLog, stream: str, start: Start, *, resolve_links: bool, structured_ids: bool
) -> AsyncIterator[streams_pb2.ReadResp]:
    """The messages of a catch-up subscription to one stream.

    A tombstoned stream ends the call with FAILED_PRECONDITION "is deleted" (before
    the confirmation if it already was). A missing or soft-deleted stream is waited
    for, without `caught_up`, as the server does.
    """
    bound = _log.bind(stream=stream, start=start)
    reader = _StreamReader(log, stream, resolve_links)
    observed = log.last_position
    if start == "end":
        reader.probe()
        last = log.stream_revision(stream)
        reader.next_revision = 0 if last is None else last + 1
        page: list[ResolvedEvent] = []
    else:
        reader.next_revision = 0 if start is None else start + 1
        page = reader.read()
    yield _confirmation()
    bound.debug("subscription.confirmed", revision=reader.next_revision)
    live = start == "end"
    if live:
        yield _caught_up()
    while True:
        for resolved in page:
            yield read_event(resolved, structured_ids=structured_ids)
        if len(page) < PAGE_SIZE:
            if not live and reader.exists:
                live = True
                bound.debug("subscription.caught_up", revision=reader.next_revision)
                yield _caught_up()
            await log.wait_for_commit_after(observed)
        observed = log.last_position
        page = reader.read()


class _StreamReader:
    """Reads one stream onwards from `next_revision`, remembering what it delivered."""

    def __init__(self, log: EventLog, stream: str, resolve_links: bool) -> None:
        self._log = log
        self._stream = stream
        self._resolve_links = resolve_links
        self.next_revision = 0
        self.exists = False

    def probe(self) -> None:
        """Raise WireError now if the stream is tombstoned."""
        try:
            self._log.read_stream(
                self._stream, revision=None, backwards=True, limit=1, resolve_links=False
            )
        except StreamNotFound:
            pass
        except StreamDeleted:
            raise stream_deleted(self._stream) from None

    def read(self) -> list[ResolvedEvent]:
        """The next page (empty while the stream does not exist); sets `exists`."""
        try:
            page = self._log.read_stream(
                self._stream,
                revision=self.next_revision,
                backwards=False,
                limit=PAGE_SIZE,
                resolve_links=self._resolve_links,
            )
        except StreamNotFound:
            self.exists = False
            return []
        except StreamDeleted:
            raise stream_deleted(self._stream) from None
        self.exists = True
        if page:
            self.next_revision = page[-1].original.revision + 1
        return page


async def subscribe_to_all(
    log: EventLog,
    start: Start,
    *,
    resolve_links: bool,
    structured_ids: bool,
    event_filter: EventFilter | None,
    checkpoints: CheckpointPolicy | None,
) -> AsyncIterator[streams_pb2.ReadResp]:
    """The messages of a catch-up subscription to `$all`, filtered if `event_filter`."""
    bound = _log.bind(stream="$all", start=start)
    position: int | None = (
        None if start is None else (log.last_position + 1 if start == "end" else start + 1)
    )
    yield _confirmation()
    bound.debug("subscription.confirmed", position=position)
    live = start == "end"
    if live:
        yield _caught_up()
    scanned = 0
    while True:
        observed = log.last_position
        page = log.read_all(
            position=position, backwards=False, limit=PAGE_SIZE, resolve_links=resolve_links
        )
        for resolved in page:
            record = resolved.original
            position = record.position + 1
            if event_filter is None or event_filter.allows(record):
                yield read_event(resolved, structured_ids=structured_ids)
            scanned += 1
            if checkpoints is not None and scanned >= checkpoints.interval:
                scanned = 0
                yield _checkpoint(record.position)
        if len(page) == PAGE_SIZE:
            continue
        if not live:
            live = True
            bound.debug("subscription.caught_up", position=position)
            yield _caught_up()
        await log.wait_for_commit_after(observed)


def _checkpoint(position: int) -> streams_pb2.ReadResp:
    return streams_pb2.ReadResp(
        checkpoint=streams_pb2.ReadResp.Checkpoint(
            commit_position=position, prepare_position=position
        )
    )
