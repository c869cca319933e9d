"""Wire shapes of the `PersistentSubscriptions` service: replies and errors.

Errors mirror the server's `RpcExceptions` (status code, details text and trailers).
An event goes out as the server sends it: the event, the link it was reached
through (only the link when the event is gone), and both carrying the original
record's position; `retry_count` says how often it was redelivered.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import grpc
from esdbclient.protos.Grpc import persistent_pb2, shared_pb2

from esdb_emulator.log.records import ResolvedEvent
from esdb_emulator.persistent.engine import Group
from esdb_emulator.persistent.model import Consumer
from esdb_emulator.streams.wire import fill_recorded_event

_UINT64 = 2**64


@dataclass(frozen=True, slots=True)
class WireError(Exception):
    """An RPC error that ends the call."""

    code: grpc.StatusCode
    details: str
    trailers: tuple[tuple[str, str], ...] = field(default=())


def group_failed(stream: str, group: str, reason: str) -> WireError:
    """INTERNAL: the server refused the request (`PersistentSubscriptionFailed`)."""
    return WireError(
        grpc.StatusCode.INTERNAL,
        f"Subscription group {group} on stream {stream} failed: '{reason}'",
        _trailers("persistent-subscription-failed", stream, group, reason=reason),
    )


def group_not_found(stream: str, group: str) -> WireError:
    """NOT_FOUND: no such group (`PersistentSubscriptionDoesNotExist`)."""
    return WireError(
        grpc.StatusCode.NOT_FOUND,
        f"Subscription group {group} on stream {stream} does not exist.",
        _trailers("persistent-subscription-does-not-exist", stream, group),
    )


def group_exists(stream: str, group: str) -> WireError:
    """ALREADY_EXISTS: Create of a group that exists (`PersistentSubscriptionExists`)."""
    return WireError(
        grpc.StatusCode.ALREADY_EXISTS,
        f"Subscription group {group} on stream {stream} exists.",
        _trailers("persistent-subscription-exists", stream, group),
    )


def group_full(stream: str, group: str) -> WireError:
    """FAILED_PRECONDITION: `max_subscriber_count` consumers are already connected."""
    return WireError(
        grpc.StatusCode.FAILED_PRECONDITION,
        f"Maximum subscriptions reached for subscription group {group} on stream {stream}.",
        _trailers("maximum-subscribers-reached", stream, group),
    )


def consumer_dropped(stream: str, group: str) -> WireError:
    """CANCELLED: the group was updated or deleted under a consumer."""
    return WireError(
        grpc.StatusCode.CANCELLED,
        f"Subscription group {group} on stream {stream} was dropped.",
        _trailers("persistent-subscription-dropped", stream, group),
    )


def handler_exception(kind: str, reason: str) -> WireError:
    """UNKNOWN: what the server answers when an unhandled .NET exception escapes."""
    return WireError(grpc.StatusCode.UNKNOWN, f"Exception was thrown by handler. {kind}: {reason}")


def confirmation(subscription_id: str) -> persistent_pb2.ReadResp:
    """The first reply of a `Read`: "<stream>::<group>"."""
    return persistent_pb2.ReadResp(
        subscription_confirmation=persistent_pb2.ReadResp.SubscriptionConfirmation(
            subscription_id=subscription_id
        )
    )


def event_reply(
    resolved: ResolvedEvent, retry_count: int, *, unresolved_link: bool, structured_ids: bool
) -> persistent_pb2.ReadResp:
    """One delivered event.

    Built by assigning fields in place: nested constructors copy every sub-message
    into its parent, which costs more than twice as much per event."""
    position = resolved.original.position
    response = persistent_pb2.ReadResp()
    message = response.event
    if unresolved_link:
        fill_recorded_event(message.link, resolved.event, position, structured_ids)
    else:
        fill_recorded_event(message.event, resolved.event, position, structured_ids)
        if resolved.link is not None:
            fill_recorded_event(message.link, resolved.link, position, structured_ids)
    message.commit_position = position
    message.retry_count = retry_count
    return response


def ack_ids(ids: Iterable[shared_pb2.UUID]) -> list[str]:
    """The ids of an ack or nack as lowercase UUID strings (either wire form)."""
    return [_uuid_text(wire) for wire in ids]


def subscription_info(group: Group) -> persistent_pb2.SubscriptionInfo:
    """GetInfo / List statistics of one group."""
    settings = group.settings
    items, rate, elapsed = group.measure()
    info = persistent_pb2.SubscriptionInfo(
        event_source=settings.source,
        group_name=settings.group,
        status=group.status,
        connections=[_connection(c, elapsed) for c in group.consumers],
        average_per_second=rate,
        total_items=group.total_items,
        count_since_last_measurement=items,
        last_checkpointed_event_position=group.last_checkpoint or "",
        last_known_event_position=(
            group.position_text(group.last_known) if group.last_known is not None else ""
        ),
        resolve_link_tos=settings.resolve_links,
        start_from=str(settings.start_from),
        message_timeout_milliseconds=settings.message_timeout_ms,
        extra_statistics=settings.extra_statistics,
        max_retry_count=settings.max_retry_count,
        live_buffer_size=settings.live_buffer_size,
        buffer_size=settings.history_buffer_size,
        read_batch_size=settings.read_batch_size,
        check_point_after_milliseconds=settings.checkpoint_after_ms,
        min_check_point_count=settings.min_checkpoint_count,
        max_check_point_count=settings.max_checkpoint_count,
        named_consumer_strategy=settings.consumer_strategy,
        max_subscriber_count=settings.max_subscriber_count,
        parked_message_count=group.parked_count,
        **group.counts,
    )
    return info


def _connection(
    consumer: Consumer, elapsed: float
) -> persistent_pb2.SubscriptionInfo.ConnectionInfo:
    items = consumer.total_items - consumer.items_at_last_measurement
    consumer.items_at_last_measurement = consumer.total_items
    return persistent_pb2.SubscriptionInfo.ConnectionInfo(
        username="anonymous",
        average_items_per_second=int(items / elapsed) if elapsed > 0 else 0,
        total_items=consumer.total_items,
        count_since_last_measurement=items,
        available_slots=consumer.available_slots,
        in_flight_messages=len(consumer.in_flight),
        connection_name=consumer.connection_name,
    )  # `from` stays empty: the server knows no remote address for gRPC consumers


def _uuid_text(wire: shared_pb2.UUID) -> str:
    text = wire.string
    if text:
        return text.lower()
    if wire.HasField("structured"):
        most = wire.structured.most_significant_bits % _UINT64
        least = wire.structured.least_significant_bits % _UINT64
        return str(uuid.UUID(int=(most << 64) | least))
    return ""


def _trailers(
    exception: str, stream: str, group: str, *, reason: str | None = None
) -> tuple[tuple[str, str], ...]:
    pairs = [("exception", exception), ("stream-name", stream), ("group-name", group)]
    if reason is not None:
        pairs.append(("reason", reason))
    # gRPC metadata values must be printable ASCII; leave out any that are not.
    return tuple((k, v) for k, v in pairs if v.isascii() and v.isprintable())
