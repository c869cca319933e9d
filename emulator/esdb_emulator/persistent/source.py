"""Reading a group's source (one stream, or `$all` through its filter) page by page.

Nothing is pushed to groups: a group notes the log's last position, reads a page
onwards from where it stopped, and once a page comes back short it is caught up
and waits for a commit after the noted position. So going from history to live
can neither lose nor repeat an event.
"""

from __future__ import annotations

from typing import NamedTuple

from esdb_emulator.log.event_log import EventLog
from esdb_emulator.log.records import RecordedEvent, ResolvedEvent, StreamDeleted, StreamNotFound
from esdb_emulator.persistent.settings import GroupSettings
from esdb_emulator.streams.filters import EventFilter, default_all_filter_allows

#: The server reads at most this many events per page (its stream reader's limit).
MAX_PAGE_SIZE = 100
_DEFAULT_PAGE_SIZE = 20


class SourceDeletedError(Exception):
    """The group's stream is tombstoned: the group cannot go on."""


class Record(NamedTuple):
    """One record read from the source: `wanted` is False for what the filter rejects.

    `position` is the original record's stream revision (stream groups) or commit
    position (`$all` groups).
    """

    resolved: ResolvedEvent
    position: int
    wanted: bool


class SourceReader:
    """Reads the source onwards from `next_position` (inclusive)."""

    def __init__(self, log: EventLog, settings: GroupSettings, next_position: int) -> None:
        self._log = log
        self._stream = settings.source
        self._is_all = settings.is_all
        self._resolve_links = settings.resolve_links
        self._filter: EventFilter | None = settings.filter.compile() if settings.filter else None
        batch = settings.read_batch_size or _DEFAULT_PAGE_SIZE
        self.page_size = max(1, min(batch, MAX_PAGE_SIZE))
        self.next_position = next_position
        self.caught_up = False
        #: The log's last position before the read that found the end.
        self.watch_position = 0

    def read_page(self) -> list[Record]:
        """The next page; sets `caught_up` when it is short. Raises SourceDeletedError."""
        watch = self._log.last_position
        page = self._read_all() if self._is_all else self._read_stream()
        records = [self._record(resolved) for resolved in page]
        if records:
            self.next_position = records[-1].position + 1
        if len(page) < self.page_size:
            self.caught_up = True
            self.watch_position = watch
        return records

    def _read_all(self) -> list[ResolvedEvent]:
        return self._log.read_all(
            position=self.next_position,
            backwards=False,
            limit=self.page_size,
            resolve_links=self._resolve_links,
        )

    def _read_stream(self) -> list[ResolvedEvent]:
        try:
            return self._log.read_stream(
                self._stream,
                revision=self.next_position,
                backwards=False,
                limit=self.page_size,
                resolve_links=self._resolve_links,
            )
        except StreamNotFound:
            return []
        except StreamDeleted as error:
            raise SourceDeletedError(str(error)) from None

    def _record(self, resolved: ResolvedEvent) -> Record:
        original = resolved.original
        if not self._is_all:
            return Record(resolved, original.revision, True)
        return Record(resolved, original.position, self._allows(original))

    def _allows(self, record: RecordedEvent) -> bool:
        if self._filter is not None:
            return self._filter.allows(record)
        return default_all_filter_allows(record)
