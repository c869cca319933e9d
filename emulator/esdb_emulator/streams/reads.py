"""Plain (non-subscription) reads of one stream or of `$all`, page by page.

A stream read from revision N is inclusive in both directions; a missing or
soft-deleted stream yields one `stream_not_found` message; a tombstoned one raises
StreamDeleted for the caller to put on the wire. An `$all` read forwards from a
position is inclusive, backwards exclusive, and yields only what the filter allows.
Pages are read synchronously (the log's contract), so long reads interleave with
other calls at every message sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import structlog
from esdbclient.protos.Grpc import streams_pb2

from esdb_emulator.log.event_log import EventLog
from esdb_emulator.log.records import ResolvedEvent, StreamNotFound
from esdb_emulator.streams.catchup import Start
from esdb_emulator.streams.filters import EventFilter
from esdb_emulator.streams.wire import read_event, stream_identifier

_log = structlog.get_logger("esdb_emulator.streams.reads")

#: Records read from the log per page.
PAGE_SIZE = 256


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """What a plain read asks for: where to start, which way, how many, and how
    events go on the wire (links resolved, ids structured or as strings)."""

    start: Start
    backwards: bool
    count: int
    resolve_links: bool
    structured_ids: bool


async def read_stream(
    log: EventLog, stream: str, plan: ReadPlan
) -> AsyncIterator[streams_pb2.ReadResp]:
    """The messages of a stream read."""
    _log.debug("read.stream", stream=stream, start=plan.start, backwards=plan.backwards)
    pages = _stream_pages(log, stream, plan)
    try:
        page = next(pages, [])
    except StreamNotFound:
        not_found = streams_pb2.ReadResp.StreamNotFound(stream_identifier=stream_identifier(stream))
        yield streams_pb2.ReadResp(stream_not_found=not_found)
        return
    while page:
        for resolved in page:
            yield read_event(resolved, structured_ids=plan.structured_ids)
        page = next(pages, [])


def _stream_pages(log: EventLog, stream: str, plan: ReadPlan) -> Iterator[list[ResolvedEvent]]:
    """Pages of a stream read. Only the first page raises StreamNotFound; if the
    stream is deleted part-way, the read just ends."""
    if plan.start == "end" and not plan.backwards:
        # Forwards from the end reads nothing, but a missing stream is still reported.
        log.read_stream(stream, revision=None, backwards=True, limit=1, resolve_links=False)
        return
    revision: int | None
    if isinstance(plan.start, int):
        revision = plan.start
    else:
        revision = 0 if plan.start is None and plan.backwards else None
    remaining = plan.count
    first = True
    while remaining > 0 and (revision is None or revision >= 0):
        limit = min(PAGE_SIZE, remaining)
        try:
            page = log.read_stream(
                stream,
                revision=revision,
                backwards=plan.backwards,
                limit=limit,
                resolve_links=plan.resolve_links,
            )
        except StreamNotFound:
            if first:
                raise
            return
        first = False
        yield page
        remaining -= len(page)
        if len(page) < limit:
            return
        last = page[-1].original.revision
        revision = last - 1 if plan.backwards else last + 1


async def read_all(
    log: EventLog, plan: ReadPlan, event_filter: EventFilter | None
) -> AsyncIterator[streams_pb2.ReadResp]:
    """The messages of an `$all` read: up to `count` records `event_filter` allows."""
    _log.debug("read.all", start=plan.start, backwards=plan.backwards, count=plan.count)
    if (plan.start == "end" and not plan.backwards) or (plan.start is None and plan.backwards):
        return
    position = plan.start if isinstance(plan.start, int) else None
    remaining = plan.count
    while remaining > 0:
        limit = PAGE_SIZE if event_filter else min(PAGE_SIZE, remaining)
        page = log.read_all(
            position=position,
            backwards=plan.backwards,
            limit=limit,
            resolve_links=plan.resolve_links,
        )
        for resolved in page:
            if event_filter is None or event_filter.allows(resolved.original):
                yield read_event(resolved, structured_ids=plan.structured_ids)
                remaining -= 1
                if remaining == 0:
                    return
        if len(page) < limit:
            return
        last = page[-1].original.position
        position = last if plan.backwards else last + 1
