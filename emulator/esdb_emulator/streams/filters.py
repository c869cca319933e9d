"""The `$all` event filter: which records a filtered `$all` read or subscription yields.

EventStoreDB matches a filter against the record as it sits in `$all` (for a resolved
link, the link itself), on its event type or its stream name, by regex (`re.search`
semantics, like .NET `Regex.Match`) or by any of several prefixes. A filtered `$all`
read also applies the server's default `$all` rules first, which hide the epoch
stream and the checkpoint and parked streams of `$all` persistent subscriptions.
Reads without a filter (`no_filter`) see every record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from esdbclient.protos.Grpc import streams_pb2

from esdb_emulator.log.records import RecordedEvent

FilterTarget = Literal["event_type", "stream_name"]

_EPOCH_INFORMATION_STREAM = "$epoch-information"
_ALL_PERSISTENT_PREFIX = "$persistentsubscription-$all::"
_ALL_PERSISTENT_SUFFIXES = ("-checkpoint", "-parked")


class InvalidFilterError(ValueError):
    """The filter options cannot be turned into a filter (e.g. a malformed regex)."""


@dataclass(frozen=True, slots=True)
class EventFilter:
    """A compiled `$all` filter: `regex` if given, otherwise any of `prefixes`."""

    target: FilterTarget
    regex: re.Pattern[str] | None
    prefixes: tuple[str, ...] = ()

    def allows(self, record: RecordedEvent) -> bool:
        """True if a filtered `$all` read should yield `record`."""
        if not default_all_filter_allows(record):
            return False
        subject = record.type if self.target == "event_type" else record.stream
        if self.regex is not None:
            return self.regex.search(subject) is not None
        return any(subject.startswith(prefix) for prefix in self.prefixes)


def default_all_filter_allows(record: RecordedEvent) -> bool:
    """EventStoreDB's default `$all` rules, applied before any user filter.

    Records of non-system streams pass; of system streams, the epoch stream and the
    `$all` persistent subscriptions' checkpoint and parked streams are hidden.
    """
    stream = record.stream
    if not stream.startswith("$"):
        return True
    if stream == _EPOCH_INFORMATION_STREAM:
        return False
    return not (
        stream.startswith(_ALL_PERSISTENT_PREFIX) and stream.endswith(_ALL_PERSISTENT_SUFFIXES)
    )


def parse_filter(options: streams_pb2.ReadReq.Options.FilterOptions) -> EventFilter:
    """Compile the wire `FilterOptions`; raises InvalidFilterError naming what is wrong.

    As on the server, a non-empty `regex` wins; otherwise the `prefix` list is used.
    """
    which = options.WhichOneof("filter")
    if which is None:
        raise InvalidFilterError("the filter names neither an event type nor a stream name")
    expression = options.event_type if which == "event_type" else options.stream_identifier
    target: FilterTarget = "event_type" if which == "event_type" else "stream_name"
    if expression.regex:
        return EventFilter(target, compile_filter_regex(expression.regex))
    return EventFilter(target, None, tuple(expression.prefix))


def compile_filter_regex(pattern: str) -> re.Pattern[str]:
    """Compile a filter regex; raises InvalidFilterError with the parser's complaint."""
    try:
        return re.compile(pattern)
    except re.error as error:
        raise InvalidFilterError(f"Invalid pattern '{pattern}': {error}") from None
