"""Wire shapes of the `Streams` service: request parsing, replies and errors.

Everything here mirrors what EventStoreDB 24.10 puts on the wire (see
`docs/esdb-protocol.md` sections 1.3-1.5 and the server's `RpcExceptions`):
status codes, error texts the client matches by substring, trailing metadata, and
the three shapes a storage error takes (an `AppendResp`, a `BatchAppendResp`
status, or an RPC error). Where the real server fails with an unhandled .NET
exception, the emulator answers as ASP.NET Core does with detailed errors on:
UNKNOWN "Exception was thrown by handler. <Type>: <reason>".
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import grpc
from esdbclient.protos.Grpc import code_pb2, persistent_pb2, shared_pb2, status_pb2, streams_pb2
from google.protobuf import any_pb2, empty_pb2
from google.protobuf.message import Message

from esdb_emulator.log.records import (
    AppendResult,
    ExpectedRevision,
    MaxAppendSizeExceeded,
    ProposedEvent,
    RecordedEvent,
    ResolvedEvent,
    StorageError,
    StreamDeleted,
    StreamNotFound,
    WrongExpectedVersion,
)

_UINT64_MAX = 2**64 - 1
_LONG_MAX = 2**63 - 1
_JSON = "application/json"
_OCTET_STREAM = "application/octet-stream"
_REQUIRED_METADATA = ("type", "content-type")
_DOTNET_EXPECTED = {"any": -2, "no_stream": -1, "stream_exists": -4}
#: A UUID already in the form `str(uuid.UUID(...))` gives (what esdbclient sends):
#: such an id is used as is, skipping a parse and a reformat per event.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NIL_UUID = "00000000-0000-0000-0000-000000000000"


# -- errors ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WireError(Exception):
    """An RPC error that ends the call: status code, details and trailers."""

    code: grpc.StatusCode
    details: str
    trailers: tuple[tuple[str, str], ...] = field(default=())


def handler_exception(kind: str, reason: str) -> WireError:
    """What the .NET server sends for an unhandled exception of type `kind`."""
    return WireError(grpc.StatusCode.UNKNOWN, f"Exception was thrown by handler. {kind}: {reason}")


def invalid_case(case: str | None, dotnet_type: str) -> WireError:
    """INVALID_ARGUMENT for a oneof/enum the server cannot use (`RpcExceptions.InvalidArgument`)."""
    return WireError(
        grpc.StatusCode.INVALID_ARGUMENT, f"'{case or 'None'}' is not a valid {dotnet_type}"
    )


def stream_deleted(stream: str) -> WireError:
    """FAILED_PRECONDITION "Event stream 'X' is deleted." (`RpcExceptions.StreamDeleted`)."""
    return WireError(
        grpc.StatusCode.FAILED_PRECONDITION,
        f"Event stream '{stream}' is deleted.",
        (("exception", "stream-deleted"), ("stream-name", stream)),
    )


def max_append_size_exceeded(max_append_size: int) -> WireError:
    """INVALID_ARGUMENT for an `Append` over the size limit (server: `MaxAppendSizeExceeded`)."""
    return WireError(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"Maximum Append Size of {max_append_size} Exceeded.",
        (
            ("exception", "maximum-append-size-exceeded"),
            ("maximum-append-size", str(max_append_size)),
        ),
    )


def missing_metadata(name: str) -> WireError:
    """INVALID_ARGUMENT for a proposed event without `type` or `content-type` metadata."""
    return WireError(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"Required Metadata Property '{name}' is missing",
        (
            ("exception", "missing-required-metadata-property"),
            ("required-metadata-properties", ",".join(_REQUIRED_METADATA)),
        ),
    )


def delete_wrong_expected_version(error: WrongExpectedVersion) -> WireError:
    """FAILED_PRECONDITION with the text esdbclient parses on Delete and Tombstone."""
    expected = dotnet_expected_version(error.expected)
    actual = -1 if error.current_revision is None else error.current_revision
    return WireError(
        grpc.StatusCode.FAILED_PRECONDITION,
        f"Delete failed due to WrongExpectedVersion. Stream: {error.stream}, "
        f"Expected version: {expected}, Actual version: {actual}",
        (
            ("exception", "wrong-expected-version"),
            ("stream-name", error.stream),
            ("expected-version", str(expected)),
            ("actual-version", str(actual)),
        ),
    )


def rpc_failure(error: StorageError) -> WireError:
    """The RPC error for a storage error on a unary or server-streaming call.

    This and `append_rejection` / `batch_append_error` below are the only places
    where storage errors become wire shapes.
    """
    if isinstance(error, WrongExpectedVersion):
        return delete_wrong_expected_version(error)
    if isinstance(error, StreamDeleted):
        return stream_deleted(error.stream)
    if isinstance(error, MaxAppendSizeExceeded):
        return max_append_size_exceeded(error.max_append_size)
    if isinstance(error, StreamNotFound):
        return WireError(
            grpc.StatusCode.NOT_FOUND,
            f"Event stream '{error.stream}' is not found.",
            (("exception", "stream-not-found"), ("stream-name", error.stream)),
        )
    return handler_exception(type(error).__name__, str(error))


def append_rejection(error: StorageError, expected: ExpectedRevision) -> streams_pb2.AppendResp:
    """`Append`'s reply to a storage error: WrongExpectedVersion is a normal reply
    (with the legacy 20.6 fields filled as the server does); others raise WireError."""
    if not isinstance(error, WrongExpectedVersion):
        raise rpc_failure(error)
    wev = streams_pb2.AppendResp.WrongExpectedVersion()
    if error.current_revision is None:
        wev.current_no_stream.SetInParent()
        wev.no_stream_20_6_0.SetInParent()
    else:
        wev.current_revision = error.current_revision
        wev.current_revision_20_6_0 = error.current_revision
    if expected == "any":
        wev.expected_any.SetInParent()
        wev.any_20_6_0.SetInParent()
    elif expected == "stream_exists":
        wev.expected_stream_exists.SetInParent()
        wev.stream_exists_20_6_0.SetInParent()
    elif expected == "no_stream":
        wev.expected_no_stream.SetInParent()
        wev.expected_revision_20_6_0 = _UINT64_MAX
    else:
        wev.expected_revision = expected
        wev.expected_revision_20_6_0 = expected
    return streams_pb2.AppendResp(wrong_expected_version=wev)


def batch_append_error(error: StorageError, stream: str) -> status_pb2.Status:
    """`BatchAppend`'s error status for a storage error (`Google.Rpc.Status` helpers)."""
    if isinstance(error, WrongExpectedVersion):
        details = shared_pb2.WrongExpectedVersion()
        if error.current_revision is None:
            details.current_no_stream.SetInParent()
        else:
            details.current_stream_revision = error.current_revision
        if isinstance(error.expected, int):
            details.expected_stream_position = error.expected
        else:
            getattr(details, f"expected_{error.expected}").SetInParent()
        return batch_status(code_pb2.ALREADY_EXISTS, "WrongExpectedVersion", details)
    if isinstance(error, StreamDeleted):
        deleted = shared_pb2.StreamDeleted(stream_identifier=stream_identifier(stream))
        return batch_status(code_pb2.NOT_FOUND, "StreamDeleted", deleted)
    if isinstance(error, MaxAppendSizeExceeded):
        return batch_max_append_size(error.max_append_size)
    # The server's shape for any other write failure, with what failed in the message
    # (a full disk, an I/O error): esdbclient raises UnknownError, other clients show it.
    return batch_status(code_pb2.UNKNOWN, f"Unknown: {error}", shared_pb2.Unknown())


def batch_status(
    code: code_pb2.Code.ValueType, message: str, details: Message
) -> status_pb2.Status:
    """A `BatchAppendResp.error` whose `details` packs `details` (a shared_pb2 message)."""
    packed = any_pb2.Any()
    packed.Pack(details)
    return status_pb2.Status(code=code, message=message, details=packed)


def batch_max_append_size(max_append_size: int) -> status_pb2.Status:
    """The BatchAppend error for a batch over the size limit."""
    details = shared_pb2.MaximumAppendSizeExceeded(maxAppendSize=max_append_size)
    return batch_status(code_pb2.INVALID_ARGUMENT, "MaximumAppendSizeExceeded", details)


def batch_bad_request(message: str) -> status_pb2.Status:
    """The BatchAppend error for a malformed request."""
    details = shared_pb2.BadRequest(message=message)
    return batch_status(code_pb2.INVALID_ARGUMENT, "BadRequest", details)


def batch_timeout() -> status_pb2.Status:
    """The BatchAppend error for a batch whose deadline passed before it was complete."""
    return batch_status(code_pb2.DEADLINE_EXCEEDED, "Timeout", shared_pb2.Timeout())


def dotnet_expected_version(expected: ExpectedRevision) -> int:
    """The server's `long` for an expected revision (Any -2, NoStream -1, StreamExists -4)."""
    return expected if isinstance(expected, int) else _DOTNET_EXPECTED[expected]


# -- requests --------------------------------------------------------------------


def stream_name(identifier: shared_pb2.StreamIdentifier) -> str:
    """The UTF-8 stream name of a `StreamIdentifier`; WireError if empty or not UTF-8."""
    try:
        name = identifier.stream_name.decode("utf-8")
    except UnicodeDecodeError:
        raise handler_exception("DecoderFallbackException", "stream name is not UTF-8") from None
    if not name:
        raise handler_exception(
            "ArgumentNullException", "Value cannot be null. (Parameter 'streamId')"
        )
    return name


_RevisionOptions = (
    streams_pb2.AppendReq.Options | streams_pb2.DeleteReq.Options | streams_pb2.TombstoneReq.Options
)


def expected_revision(options: _RevisionOptions) -> ExpectedRevision:
    """The expected revision of Append, Delete or Tombstone options; INVALID_ARGUMENT
    (as the server answers) when the oneof is unset."""
    case = options.WhichOneof("expected_stream_revision")
    if case == "revision":
        return _revision(options.revision)
    if case is None:
        request = options.DESCRIPTOR.full_name.split(".")[-2]
        raise invalid_case(
            case,
            f"EventStore.Client.Streams.{request}+Types+Options+ExpectedStreamRevisionOneofCase",
        )
    return case


def batch_expected_revision(options: streams_pb2.BatchAppendReq.Options) -> ExpectedRevision:
    """The expected revision of BatchAppend options; WireError when the oneof is unset."""
    case = options.WhichOneof("expected_stream_position")
    if case == "stream_position":
        return _revision(options.stream_position)
    if case is None:
        raise invalid_case(
            case,
            "EventStore.Client.Streams.BatchAppendReq+Types+Options+ExpectedStreamPositionOneofCase",
        )
    return case


def _revision(value: int) -> int:
    """An exact expected revision; the server cannot represent one beyond long max."""
    if value >= _LONG_MAX:
        raise handler_exception(
            "ArgumentOutOfRangeException", f"the expected revision {value} is out of range"
        )
    return value


def event_id(dto: shared_pb2.UUID) -> str:
    """The canonical lowercase form of a wire UUID (string or structured)."""
    text = dto.string  # "" unless the `string` case is set
    if _CANONICAL_UUID.fullmatch(text) is not None:
        if text == _NIL_UUID:
            raise _empty_event_id()
        return text
    which = dto.WhichOneof("value")
    if which == "string":
        try:
            parsed = uuid.UUID(text)
        except ValueError:
            raise handler_exception(
                "FormatException", f"Unrecognized Guid format: {text!r}"
            ) from None
    elif which == "structured":
        high = dto.structured.most_significant_bits & 0xFFFF_FFFF_FFFF_FFFF
        low = dto.structured.least_significant_bits & 0xFFFF_FFFF_FFFF_FFFF
        parsed = uuid.UUID(int=(high << 64) | low)
    else:
        raise handler_exception("ArgumentException", "the event id is missing")
    if parsed.int == 0:
        raise _empty_event_id()
    return str(parsed)


def _empty_event_id() -> WireError:
    return handler_exception("ArgumentException", "Empty eventId provided. (Parameter 'eventId')")


def proposed_event(
    message: streams_pb2.AppendReq.ProposedMessage | streams_pb2.BatchAppendReq.ProposedMessage,
) -> ProposedEvent:
    """A storage `ProposedEvent` from a wire proposed message; WireError if malformed.

    As on the server, the stored content type is JSON exactly when the client said
    `application/json`, and `application/octet-stream` otherwise.
    """
    metadata = message.metadata
    event_type = metadata.get("type")
    if event_type is None:
        raise missing_metadata("type")
    content_type = metadata.get("content-type")
    if content_type is None:
        raise missing_metadata("content-type")
    if not event_type:
        raise handler_exception(
            "ArgumentException", "Empty eventType provided. (Parameter 'eventType')"
        )
    return ProposedEvent(
        event_id=event_id(message.id),
        type=event_type,
        content_type=_JSON if content_type == _JSON else _OCTET_STREAM,
        metadata=message.custom_metadata,
        data=message.data,
    )


def proposed_events(
    messages: Iterable[streams_pb2.BatchAppendReq.ProposedMessage],
) -> list[ProposedEvent]:
    """`proposed_event` of each message, in one pass: a batch's usual events (canonical
    string ids, both metadata keys, a type) take a fast path that checks the same
    things with about half the work; any other message goes through
    `proposed_event`, which raises the precise error."""
    events: list[ProposedEvent] = []
    append = events.append
    canonical = _CANONICAL_UUID.fullmatch
    new = tuple.__new__
    for message in messages:
        metadata = message.metadata
        event_type = metadata.get("type")
        content_type = metadata.get("content-type")
        text = message.id.string
        if not event_type or content_type is None or canonical(text) is None or text == _NIL_UUID:
            append(proposed_event(message))
            continue
        stored_type = _JSON if content_type == _JSON else _OCTET_STREAM
        fields = (text, event_type, stored_type, message.custom_metadata, message.data)
        append(new(ProposedEvent, fields))
    return events


def size_on_disk(event: ProposedEvent) -> int:
    """The bytes an event counts against the maximum append size (`Event.SizeOnDisk`):
    data, metadata and the event type as UTF-16."""
    event_type = event.type
    # Every ASCII (indeed every BMP) character is one UTF-16 code unit.
    type_size = 2 * len(event_type) if event_type.isascii() else len(event_type.encode("utf-16-le"))
    return len(event.data) + len(event.metadata) + type_size


# -- replies ---------------------------------------------------------------------


def stream_identifier(stream: str) -> shared_pb2.StreamIdentifier:
    """The wire identifier of `stream`."""
    return shared_pb2.StreamIdentifier(stream_name=stream.encode("utf-8"))


def append_success(result: AppendResult) -> streams_pb2.AppendResp:
    """`AppendResp.success` with the stream's revision and the batch's last position."""
    success = streams_pb2.AppendResp.Success()
    if result.current_revision < 0:
        success.no_stream.SetInParent()
    else:
        success.current_revision = result.current_revision
    if result.position <= 0:
        success.no_position.SetInParent()
    else:
        success.position.commit_position = result.position
        success.position.prepare_position = result.position
    return streams_pb2.AppendResp(success=success)


def batch_append_success(result: AppendResult) -> streams_pb2.BatchAppendResp.Success:
    """`BatchAppendResp.success` (`Success.Completed` on the server)."""
    success = streams_pb2.BatchAppendResp.Success()
    if result.current_revision < 0:
        success.no_stream.CopyFrom(empty_pb2.Empty())
    else:
        success.current_revision = result.current_revision
    if result.position <= 0:
        success.no_position.CopyFrom(empty_pb2.Empty())
    else:
        success.position.commit_position = result.position
        success.position.prepare_position = result.position
    return success


def read_event(resolved: ResolvedEvent, *, structured_ids: bool) -> streams_pb2.ReadResp:
    """A `ReadResp.event`: the event, its link if resolved, and the position of the
    record in the stream being read as the `position` oneof.

    Built by assigning fields in place: nested constructors copy every
    sub-message into its parent, which costs more than twice as much per event."""
    response = streams_pb2.ReadResp()
    message = response.event
    event = resolved.event
    fill_recorded_event(message.event, event, event.position, structured_ids)
    link = resolved.link
    if link is not None:
        fill_recorded_event(message.link, link, link.position, structured_ids)
        message.commit_position = link.position
    else:
        message.commit_position = resolved.event.position
    return response


def fill_recorded_event(
    target: streams_pb2.ReadResp.ReadEvent.RecordedEvent
    | persistent_pb2.ReadResp.ReadEvent.RecordedEvent,
    record: RecordedEvent,
    position: int,
    structured: bool,
) -> None:
    """Write `record` into a reply's recorded event (a stream read's or a persistent
    delivery's: the same fields), in place, at commit and prepare `position`."""
    if structured:
        value = uuid.UUID(record.event_id).int
        ids = target.id.structured
        ids.most_significant_bits = _signed64(value >> 64)
        ids.least_significant_bits = _signed64(value & 0xFFFF_FFFF_FFFF_FFFF)
    else:
        target.id.string = record.event_id
    target.stream_identifier.stream_name = record.stream.encode("utf-8")
    target.stream_revision = record.revision
    target.prepare_position = position
    target.commit_position = position
    metadata = target.metadata
    metadata["type"] = record.type
    metadata["created"] = str(record.created)
    metadata["content-type"] = record.content_type
    target.custom_metadata = record.metadata
    target.data = record.data


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value
