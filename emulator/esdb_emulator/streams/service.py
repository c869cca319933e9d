"""The `Streams` gRPC service: Append, BatchAppend, Read, Delete and Tombstone.

Handlers translate between the wire (`streams_wire`) and the log (`EventLog`).
Every call runs under one guard: a `WireError` or storage error ends the call
with its wire shape, and any other exception is logged and answered with the
.NET server's UNKNOWN "Exception was thrown by handler." instead of escaping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
import structlog
from esdbclient.protos.Grpc import streams_pb2, streams_pb2_grpc

from esdb_emulator.log.event_log import DEFAULT_MAX_APPEND_SIZE, EventLog
from esdb_emulator.log.records import (
    ProposedEvent,
    StorageError,
)
from esdb_emulator.streams import wire
from esdb_emulator.streams.batch_append import BatchAppendCall
from esdb_emulator.streams.catchup import (
    CheckpointPolicy,
    Start,
    subscribe_to_all,
    subscribe_to_stream,
)
from esdb_emulator.streams.filters import EventFilter, InvalidFilterError, parse_filter
from esdb_emulator.streams.reads import ReadPlan, read_all, read_stream

_log = structlog.get_logger("esdb_emulator.streams")

_T = TypeVar("_T")
_Context = grpc.aio.ServicerContext[Any, Any]
ReadOptions = streams_pb2.ReadReq.Options

#: Search window of a filter that asks for `count` rather than `max`.
_DEFAULT_FILTER_WINDOW = 32
_NS = "EventStore.Client.Streams.ReadReq+Types+Options"


class StreamsService(streams_pb2_grpc.StreamsServicer):
    """`event_store.client.streams.Streams` on top of an `EventLog`."""

    def __init__(self, log: EventLog, *, max_append_size: int = DEFAULT_MAX_APPEND_SIZE) -> None:
        self._log = log
        self._max_append_size = max_append_size

    # -- Append --------------------------------------------------------------

    async def Append(  # noqa: N802 - gRPC method name
        self, request_iterator: AsyncIterator[streams_pb2.AppendReq], context: _Context
    ) -> streams_pb2.AppendResp:
        """Options first, then the proposed events; one atomic append."""
        return await _guard(context, "Append", lambda: self._append(request_iterator))

    async def _append(
        self, requests: AsyncIterator[streams_pb2.AppendReq]
    ) -> streams_pb2.AppendResp:
        first = await anext(requests, None)
        if first is None or first.WhichOneof("content") != "options":
            raise wire.handler_exception(
                "InvalidOperationException", "the first AppendReq must carry the options"
            )
        stream = wire.stream_name(first.options.stream_identifier)
        expected = wire.expected_revision(first.options)
        events: list[ProposedEvent] = []
        size = 0
        async for request in requests:
            if request.WhichOneof("content") != "proposed_message":
                raise wire.handler_exception(
                    "InvalidOperationException", "only proposed messages may follow the options"
                )
            event = wire.proposed_event(request.proposed_message)
            size += wire.size_on_disk(event)
            if size > self._max_append_size:
                raise wire.max_append_size_exceeded(self._max_append_size)
            events.append(event)
        bound = _log.bind(stream=stream, expected=expected, events=len(events))
        try:
            result = await self._log.append(stream, expected, events)
        except StorageError as error:
            bound.debug("append.rejected", error=type(error).__name__)
            return wire.append_rejection(error, expected)
        bound.debug("append.ok", revision=result.current_revision, position=result.position)
        return wire.append_success(result)

    # -- BatchAppend ---------------------------------------------------------

    async def BatchAppend(  # noqa: N802 - gRPC method name
        self, request_iterator: AsyncIterator[streams_pb2.BatchAppendReq], context: _Context
    ) -> None:
        """Requests are joined per correlation id until `is_final`; one reply each."""
        call = BatchAppendCall(self._log, self._max_append_size, context)
        await _guard(context, "BatchAppend", lambda: call.run(request_iterator))

    # -- Delete / Tombstone --------------------------------------------------

    async def Delete(  # noqa: N802 - gRPC method name
        self, request: streams_pb2.DeleteReq, context: _Context
    ) -> streams_pb2.DeleteResp:
        """Soft-delete a stream; errors are FAILED_PRECONDITION with the server's text."""
        position = await self._remove("Delete", request.options, context)
        return streams_pb2.DeleteResp(
            position=streams_pb2.DeleteResp.Position(
                commit_position=position, prepare_position=position
            )
        )

    async def Tombstone(  # noqa: N802 - gRPC method name
        self, request: streams_pb2.TombstoneReq, context: _Context
    ) -> streams_pb2.TombstoneResp:
        """Delete a stream for ever; errors as for Delete."""
        position = await self._remove("Tombstone", request.options, context)
        return streams_pb2.TombstoneResp(
            position=streams_pb2.TombstoneResp.Position(
                commit_position=position, prepare_position=position
            )
        )

    async def _remove(
        self,
        method: str,
        options: streams_pb2.DeleteReq.Options | streams_pb2.TombstoneReq.Options,
        context: _Context,
    ) -> int:
        """The one handler of Delete and Tombstone: the log position of the deletion."""

        async def remove() -> int:
            stream = wire.stream_name(options.stream_identifier)
            expected = wire.expected_revision(options)
            remover = self._log.delete if method == "Delete" else self._log.tombstone
            result = await remover(stream, expected)
            _log.debug(
                f"{method.lower()}.ok", stream=stream, expected=expected, position=result.position
            )
            return result.position

        return await _guard(context, method, remove)

    # -- Read ----------------------------------------------------------------

    async def Read(  # noqa: N802 - gRPC method name
        self, request: streams_pb2.ReadReq, context: _Context
    ) -> AsyncIterator[streams_pb2.ReadResp]:
        """Stream and `$all` reads, and catch-up subscriptions to either."""
        try:
            async for response in self._read(request.options):
                yield response
        except Exception as error:  # noqa: BLE001 - every failure gets a wire shape
            failure = _failure_for(error, "Read")
        else:
            return
        await context.abort(failure.code, failure.details, failure.trailers)

    def _read(self, options: ReadOptions) -> AsyncIterator[streams_pb2.ReadResp]:
        structured_ids = _structured_ids(options)
        target, count_option = _read_shape(options)
        resolve_links = options.resolve_links
        if target == "stream":
            stream = wire.stream_name(options.stream.stream_identifier)
            start = _stream_start(options.stream)
            if count_option == "subscription":
                return subscribe_to_stream(
                    self._log,
                    stream,
                    start,
                    resolve_links=resolve_links,
                    structured_ids=structured_ids,
                )
            return read_stream(self._log, stream, _plan(options, start, structured_ids))
        event_filter, window = _read_filter(options)
        start = _all_start(options.all)
        if count_option == "subscription":
            return subscribe_to_all(
                self._log,
                start,
                resolve_links=resolve_links,
                structured_ids=structured_ids,
                event_filter=event_filter,
                checkpoints=_checkpoint_policy(options, window),
            )
        return read_all(self._log, _plan(options, start, structured_ids), event_filter)


# -- the guard ------------------------------------------------------------------


async def _guard(context: _Context, method: str, work: Callable[[], Awaitable[_T]]) -> _T:
    """Run `work`; end the call with the wire shape of whatever it raises."""
    try:
        return await work()
    except Exception as error:  # noqa: BLE001 - every failure gets a wire shape
        failure = _failure_for(error, method)
    await context.abort(failure.code, failure.details, failure.trailers)


def _failure_for(error: Exception, method: str) -> wire.WireError:
    if isinstance(error, wire.WireError):
        return error
    if isinstance(error, StorageError):
        return wire.rpc_failure(error)
    _log.exception("streams.unexpected_error", method=method)
    return wire.handler_exception(type(error).__name__, str(error))


# -- Read request parsing -------------------------------------------------------


def _structured_ids(options: ReadOptions) -> bool:
    if not options.HasField("uuid_option"):
        raise wire.WireError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"'uuidOption' is a required argument of type {_NS}+Types+UUIDOption",
        )
    return options.uuid_option.WhichOneof("content") != "string"


def _read_shape(options: ReadOptions) -> tuple[str, str]:
    """Which stream (`stream`/`all`) and count option (`count`/`subscription`);
    INVALID_ARGUMENT for the combinations the server refuses."""
    target = options.WhichOneof("stream_option")
    if target is None:
        raise wire.invalid_case(None, f"{_NS}+StreamOptionOneofCase")
    count_option = options.WhichOneof("count_option")
    filter_option = options.WhichOneof("filter_option")
    direction = options.read_direction
    known_direction = direction in (ReadOptions.Forwards, ReadOptions.Backwards)
    if (
        count_option is None
        or filter_option is None
        or not known_direction
        or (target == "stream" and filter_option == "filter")
        or (count_option == "subscription" and direction == ReadOptions.Backwards)
    ):
        shape = ", ".join(
            (
                target.capitalize(),
                _dotnet_case(count_option),
                ReadOptions.ReadDirection.Name(direction) if known_direction else str(direction),
                _dotnet_case(filter_option),
            )
        )
        raise wire.WireError(
            grpc.StatusCode.INVALID_ARGUMENT, f"The combination of ({shape}) is invalid."
        )
    return target, count_option


def _dotnet_case(case: str | None) -> str:
    return "None" if case is None else "".join(part.capitalize() for part in case.split("_"))


def _read_filter(options: ReadOptions) -> tuple[EventFilter | None, int]:
    """The `$all` filter and its search window (None, 0 without a filter)."""
    if options.WhichOneof("filter_option") != "filter":
        return None, 0
    try:
        event_filter = parse_filter(options.filter)
    except InvalidFilterError as error:
        raise wire.handler_exception("RegexParseException", str(error)) from None
    window = options.filter.WhichOneof("window")
    if window is None:
        raise wire.invalid_case(None, f"{_NS}+Types+FilterOptions+WindowOneofCase")
    return event_filter, options.filter.max if window == "max" else _DEFAULT_FILTER_WINDOW


def _checkpoint_policy(options: ReadOptions, window: int) -> CheckpointPolicy | None:
    if window == 0:
        return None
    multiplier = options.filter.checkpointIntervalMultiplier
    if multiplier == 0:
        raise wire.handler_exception(
            "ArgumentOutOfRangeException",
            "Specified argument was out of the range of valid values. "
            "(Parameter 'checkpointIntervalMultiplier')",
        )
    return CheckpointPolicy(interval=max(1, window * multiplier))


def _plan(options: ReadOptions, start: Start, structured_ids: bool) -> ReadPlan:
    return ReadPlan(
        start=start,
        backwards=options.read_direction == ReadOptions.Backwards,
        count=options.count,
        resolve_links=options.resolve_links,
        structured_ids=structured_ids,
    )


def _stream_start(options: ReadOptions.StreamOptions) -> Start:
    which = options.WhichOneof("revision_option")
    if which == "revision":
        return options.revision
    if which == "end":
        return "end"
    return None


def _all_start(options: ReadOptions.AllOptions) -> Start:
    which = options.WhichOneof("all_option")
    if which == "position":
        return options.position.commit_position
    if which == "end":
        return "end"
    return None
