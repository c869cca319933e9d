"""A group's own streams in the log: its checkpoint stream and its parked stream.

Checkpoints are `$SubscriptionCheckpoint` events, their data the position as a
JSON string; the stream gets `$maxCount` 1 before its first checkpoint. Parked
events are `$>` links ("<revision>@<stream>", metadata with the time and reason)
appended in the order they were parked. A replay reads the parked links resolved,
then truncates the stream (`$tb`) past what it replayed.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from esdb_emulator.log.event_log import EventLog
from esdb_emulator.log.records import (
    ProposedEvent,
    ResolvedEvent,
    StorageError,
    StreamDeleted,
    StreamNotFound,
)
from esdb_emulator.persistent.config import (
    CHECKPOINT_EVENT_TYPES,
    LINK_EVENT_TYPE,
    checkpoint_stream,
    decode_checkpoint,
    encode_checkpoint,
    parked_stream,
)

_JSON = "application/json"
_BINARY = "application/octet-stream"
_METADATA_TYPE = "$metadata"
_CHECKPOINT_TYPE = CHECKPOINT_EVENT_TYPES[0]
_PARK_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Parking:
    """An event to park and why; `unresolved_link` if it is a link whose event is gone."""

    resolved: ResolvedEvent
    reason: str
    unresolved_link: bool = False


class GroupStreams:
    """Reads and writes the checkpoint and parked streams of the group `key`."""

    def __init__(self, log: EventLog, key: str) -> None:
        self._log = log
        self.checkpoint_stream = checkpoint_stream(key)
        self.parked_stream = parked_stream(key)
        self._checkpoint_metadata_written = False

    def load_checkpoint(self) -> str | None:
        """The latest checkpoint's position string, or None if there is none."""
        latest = self._last(self.checkpoint_stream)
        if latest is None or latest.event.type not in CHECKPOINT_EVENT_TYPES:
            return None
        return decode_checkpoint(latest.event.data)

    async def write_checkpoint(self, position: str) -> None:
        """Append a checkpoint (and, before the first, the `$maxCount` metadata)."""
        if not self._checkpoint_metadata_written:
            if self._log.stream_revision(self.checkpoint_stream) is None:
                await self._set_metadata(self.checkpoint_stream, {"$maxCount": 1})
            self._checkpoint_metadata_written = True
        event = _proposed(_CHECKPOINT_TYPE, _JSON, encode_checkpoint(position))
        await self._log.append(self.checkpoint_stream, "any", [event])

    def parked_count(self) -> int:
        """How many parked events are waiting (not replayed or truncated away)."""
        first = self._first(self.parked_stream)
        last = self._log.stream_revision(self.parked_stream)
        if first is None or last is None:
            return 0
        return last - first.original.revision + 1  # the link's revision, not its event's

    async def park(self, parkings: Sequence[Parking]) -> None:
        """Append one link per parked event, in order; retries as the server does,
        then re-raises the last StorageError."""
        events = [_parked_link(parking) for parking in parkings]
        for attempt in range(_PARK_ATTEMPTS):
            try:
                await self._log.append(self.parked_stream, "any", events)
                return
            except StorageError:
                if attempt == _PARK_ATTEMPTS - 1:
                    raise

    def read_parked(self, stop_at: int | None, page_size: int) -> tuple[list[ResolvedEvent], int]:
        """Resolved parked links below revision `stop_at` (all if None), and the
        revision the stream is to be truncated before. Links whose event is gone
        are left out, as the server leaves them out."""
        last = self._log.stream_revision(self.parked_stream)
        if last is None:
            return [], 0
        stop = last + 1 if stop_at is None else min(stop_at, last + 1)
        replayed: list[ResolvedEvent] = []
        revision: int | None = None
        while True:
            page = self._read(self.parked_stream, revision, page_size)
            for resolved in page:
                if resolved.original.revision >= stop:
                    return replayed, stop
                if resolved.link is not None:
                    replayed.append(resolved)
            if len(page) < page_size:
                return replayed, stop
            revision = page[-1].original.revision + 1

    async def truncate_parked(self, before: int) -> None:
        """Hide parked events below revision `before` (they are being replayed)."""
        await self._set_metadata(self.parked_stream, {"$tb": before})

    async def delete(self) -> None:
        """Soft-delete both streams (a group being deleted); missing ones are fine."""
        for stream in (self.checkpoint_stream, self.parked_stream):
            with contextlib.suppress(StorageError):
                await self._log.delete(stream, "any")

    def _last(self, stream: str) -> ResolvedEvent | None:
        try:
            events = self._log.read_stream(
                stream, revision=None, backwards=True, limit=1, resolve_links=False
            )
        except (StreamNotFound, StreamDeleted):
            return None
        return events[0] if events else None

    def _first(self, stream: str) -> ResolvedEvent | None:
        page = self._read(stream, None, 1)
        return page[0] if page else None

    def _read(self, stream: str, revision: int | None, limit: int) -> list[ResolvedEvent]:
        try:
            return self._log.read_stream(
                stream, revision=revision, backwards=False, limit=limit, resolve_links=True
            )
        except (StreamNotFound, StreamDeleted):
            return []

    async def _set_metadata(self, stream: str, metadata: dict[str, int]) -> None:
        event = _proposed(_METADATA_TYPE, _JSON, json.dumps(metadata).encode("utf-8"))
        await self._log.append("$$" + stream, "any", [event])


def _proposed(
    event_type: str, content_type: str, data: bytes, metadata: bytes = b""
) -> ProposedEvent:
    return ProposedEvent(str(uuid.uuid4()), event_type, content_type, metadata, data)


def _parked_link(parking: Parking) -> ProposedEvent:
    resolved = parking.resolved
    event = resolved.event
    # A link whose event is gone is parked as the link's own target, as the server does.
    own = f"{event.revision}@{event.stream}".encode()
    target = event.data if parking.unresolved_link else own
    metadata = {
        "added": datetime.now(UTC).isoformat(),
        "reason": parking.reason,
        "subscriptionEventNumber": resolved.original.revision,
    }
    return _proposed(LINK_EVENT_TYPE, _BINARY, target, json.dumps(metadata).encode("utf-8"))
