"""A group's settings: read from Create/Update requests and validated as the server does.

Validation mirrors EventStoreDB 24.10 (`PersistentSubscriptionService`): an unknown
consumer strategy, an impossible start position and `read_batch_size >=
history_buffer_size` fail with the server's own reason texts; nothing else is
checked. `start_from` renders as the server does ("C:<commit>/P:<prepare>" for
`$all`, the revision for a stream, -1 meaning the end), because esdbclient parses
it back when it updates a group.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from esdbclient.protos.Grpc import persistent_pb2

from esdb_emulator.persistent.strategies import STRATEGY_NAMES
from esdb_emulator.streams.filters import EventFilter, compile_filter_regex

ALL = "$all"
_INT64_LIMIT = 2**63
_TICKS_PER_MS = 10_000

FilterTarget = Literal["event_type", "stream_name"]


class SettingsError(Exception):
    """The request cannot become a group; `reason` is the server's own text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StartFrom:
    """Where a group starts without a checkpoint; -1 (both parts for `$all`) is the end.

    For a stream group `commit` is the revision and `prepare` is unused.
    """

    is_all: bool
    commit: int
    prepare: int = 0

    @property
    def is_end(self) -> bool:
        """True for "from the end": only events after the group's creation."""
        return self.commit == -1 and (not self.is_all or self.prepare == -1)

    def __str__(self) -> str:
        if self.is_all:
            return f"C:{self.commit}/P:{self.prepare}"
        return str(self.commit)

    @classmethod
    def parse(cls, text: str, *, is_all: bool) -> StartFrom:
        """The inverse of `str()`; raises ValueError for anything else."""
        if not is_all:
            return cls(False, int(text))
        commit, separator, prepare = text.partition("/")
        if not (separator and commit.startswith("C:") and prepare.startswith("P:")):
            raise ValueError(f"not a $all position: {text!r}")
        return cls(True, int(commit[2:]), int(prepare[2:]))


@dataclass(frozen=True, slots=True)
class FilterSpec:
    """A `$all` group's filter as configured: a regex, or else a list of prefixes."""

    target: FilterTarget
    regex: str | None
    prefixes: tuple[str, ...] = ()

    def compile(self) -> EventFilter:
        """The matcher; raises InvalidFilterError for a malformed regex."""
        pattern = compile_filter_regex(self.regex) if self.regex else None
        return EventFilter(self.target, pattern, self.prefixes)


@dataclass(frozen=True, slots=True)
class GroupSettings:
    """Everything that defines a group. Defaults are the server's for a bare request.

    `first_position` is where reading begins when there is no checkpoint
    (inclusive): the start position, or for "from the end" the position the end
    had when the group was created or updated.
    """

    source: str
    group: str
    start_from: StartFrom
    first_position: int = 0
    filter: FilterSpec | None = None
    resolve_links: bool = False
    extra_statistics: bool = False
    message_timeout_ms: int = 0
    max_retry_count: int = 0
    live_buffer_size: int = 0
    history_buffer_size: int = 0
    read_batch_size: int = 0
    checkpoint_after_ms: int = 0
    min_checkpoint_count: int = 0
    max_checkpoint_count: int = 0
    max_subscriber_count: int = 0
    consumer_strategy: str = "RoundRobin"

    @property
    def is_all(self) -> bool:
        """True for a group on `$all`."""
        return self.source == ALL

    @property
    def key(self) -> str:
        """The subscription id: "<stream>::<group>"."""
        return f"{self.source}::{self.group}"


def from_create(options: persistent_pb2.CreateReq.Options) -> GroupSettings:
    """The settings a Create request asks for (start not yet resolved, not validated).

    Raises SettingsError for a request naming no usable stream.
    """
    wire = options.settings
    strategy = wire.consumer_strategy or _enum_name(
        persistent_pb2.CreateReq.ConsumerStrategy, wire.named_consumer_strategy
    )
    which = options.WhichOneof("stream_option")
    if which == "all":
        source, start = ALL, _all_start(options.all)
        spec = _filter_spec(options.all) if options.all.HasField("filter") else None
    else:
        source, start = _stream_and_start(options, wire.revision)
        spec = None
    settings = GroupSettings(
        source=source,
        group=options.group_name,
        start_from=start,
        filter=spec,
        consumer_strategy=strategy,
    )
    return _with_wire_settings(settings, wire)


def from_update(options: persistent_pb2.UpdateReq.Options, current: GroupSettings) -> GroupSettings:
    """`current` with everything an Update request sets (the filter is kept)."""
    wire = options.settings
    strategy = _enum_name(persistent_pb2.UpdateReq.ConsumerStrategy, wire.named_consumer_strategy)
    if current.is_all:
        start = _all_start(options.all)
    else:
        start = _stream_and_start(options, wire.revision)[1]
    updated = dataclasses.replace(current, start_from=start, consumer_strategy=strategy)
    return _with_wire_settings(updated, wire)


def source_of(
    options: persistent_pb2.CreateReq.Options | persistent_pb2.UpdateReq.Options,
) -> str:
    """The stream a Create or Update request is about ("$all" or a stream name)."""
    if options.WhichOneof("stream_option") == "all":
        return ALL
    if options.WhichOneof("stream_option") == "stream":
        return options.stream.stream_identifier.stream_name.decode("utf-8", "replace")
    return options.stream_identifier.stream_name.decode("utf-8", "replace")


def validate(settings: GroupSettings, last_position: int) -> None:
    """Raise SettingsError as the server does for a strategy or start it rejects."""
    if settings.consumer_strategy not in STRATEGY_NAMES:
        raise SettingsError(f"Consumer strategy {settings.consumer_strategy} does not exist.")
    reason = _start_error(settings.start_from, last_position)
    if reason is not None:
        raise SettingsError(reason)


def check_buffers(settings: GroupSettings) -> None:
    """Raise SettingsError, with the .NET exception text, if the read batch cannot fit."""
    if settings.read_batch_size >= settings.history_buffer_size:
        raise SettingsError(
            "Specified argument was out of the range of valid values. "
            "(Parameter 'ReadBatchSize may not be greater than or equal to BufferSize')"
        )


def _stream_and_start(
    options: persistent_pb2.CreateReq.Options | persistent_pb2.UpdateReq.Options,
    legacy_revision: int,
) -> tuple[str, StartFrom]:
    source = source_of(options)
    if options.WhichOneof("stream_option") == "stream":
        stream = options.stream
        which = stream.WhichOneof("revision_option")
        revision = {"revision": stream.revision, "start": 0, "end": 2**64 - 1}.get(which or "")
        if revision is None:
            raise SettingsError(f"Invalid argument: {which}")
    else:
        revision = legacy_revision
    if not source:
        raise SettingsError("Bad stream name.")
    if source == ALL:
        raise SettingsError(
            "Persistent subscriptions to $all are only supported over gRPC through gRPC clients"
        )
    return source, StartFrom(False, _int64(revision))


def _all_start(
    options: persistent_pb2.CreateReq.AllOptions | persistent_pb2.UpdateReq.AllOptions,
) -> StartFrom:
    which = options.WhichOneof("all_option")
    if which == "position":
        position = options.position
        return StartFrom(True, _int64(position.commit_position), _int64(position.prepare_position))
    if which == "end":
        return StartFrom(True, -1, -1)
    return StartFrom(True, 0, 0)


def _filter_spec(options: persistent_pb2.CreateReq.AllOptions) -> FilterSpec | None:
    wire = options.filter
    which = wire.WhichOneof("filter")
    if which is None:
        return None
    expression = wire.event_type if which == "event_type" else wire.stream_identifier
    target: FilterTarget = "event_type" if which == "event_type" else "stream_name"
    if expression.regex:
        return FilterSpec(target, expression.regex)
    return FilterSpec(target, None, tuple(expression.prefix))


def _with_wire_settings(
    settings: GroupSettings,
    wire: persistent_pb2.CreateReq.Settings | persistent_pb2.UpdateReq.Settings,
) -> GroupSettings:
    return dataclasses.replace(
        settings,
        resolve_links=wire.resolve_links,
        extra_statistics=wire.extra_statistics,
        message_timeout_ms=_milliseconds(wire, "message_timeout"),
        max_retry_count=wire.max_retry_count,
        live_buffer_size=wire.live_buffer_size,
        history_buffer_size=wire.history_buffer_size,
        read_batch_size=wire.read_batch_size,
        checkpoint_after_ms=_milliseconds(wire, "checkpoint_after"),
        min_checkpoint_count=wire.min_checkpoint_count,
        max_checkpoint_count=wire.max_checkpoint_count,
        max_subscriber_count=wire.max_subscriber_count,
    )


def _milliseconds(
    wire: persistent_pb2.CreateReq.Settings | persistent_pb2.UpdateReq.Settings,
    name: Literal["message_timeout", "checkpoint_after"],
) -> int:
    which = wire.WhichOneof(name)
    if which == f"{name}_ms":
        return int(getattr(wire, which))
    if which == f"{name}_ticks":
        return int(getattr(wire, which) / _TICKS_PER_MS)
    return 0


def _enum_name(
    enum: type[persistent_pb2.CreateReq.ConsumerStrategy]
    | type[persistent_pb2.UpdateReq.ConsumerStrategy],
    value: int,
) -> str:
    try:
        return enum.Name(value)  # type: ignore[arg-type]
    except ValueError:
        return str(value)


def _start_error(start: StartFrom, last_position: int) -> str | None:
    prefix = "Invalid Start From position: "
    if not start.is_all:
        if start.commit < -1:
            return prefix + "event number must be greater than or equal to -1."
        return None
    if start.prepare > start.commit:
        return prefix + "prepare position must be less than or equal to the commit position."
    if start.commit > last_position:
        return (
            prefix + "commit position must be less than or equal to the last commit "
            "position in the transaction file."
        )
    if (start.prepare <= -1 or start.commit <= -1) and not start.is_end:
        return (
            prefix + "prepare and commit positions must be greater than or equal to 0 "
            "or both equal to -1."
        )
    return None


def _int64(value: int) -> int:
    """A wire uint64 as the server's int64 (the maximum becomes -1, the end)."""
    return value - 2**64 if value >= _INT64_LIMIT else value
