"""Helpers for the persistent-subscription tests: events, groups, bounded waits."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TypeVar
from urllib.parse import urlparse

import grpc
from esdbclient import EventStoreDBClient, NewEvent, StreamState
from esdbclient.common import AbstractPersistentSubscription, handle_rpc_error
from esdbclient.events import RecordedEvent
from esdbclient.protos.Grpc import persistent_pb2, persistent_pb2_grpc, shared_pb2

#: gRPC deadline of every subscription call: a missing event fails the test, not hangs it.
DEADLINE = 20.0

_T = TypeVar("_T")


def group_name() -> str:
    """A group name no other test uses."""
    return f"group-{uuid.uuid4().hex}"


def events(count: int, event_type: str = "Thing", metadata: bytes = b"{}") -> list[NewEvent]:
    """`count` fresh events numbered in their data."""
    return [
        NewEvent(type=event_type, data=f'{{"n":{n}}}'.encode(), metadata=metadata)
        for n in range(count)
    ]


def append(client: EventStoreDBClient, stream: str, new: list[NewEvent]) -> int:
    """Append `new` to `stream` whatever its state; the commit position of the last."""
    return client.append_to_stream(stream, current_version=StreamState.ANY, events=new)


def take(
    subscription: AbstractPersistentSubscription | Iterator[RecordedEvent],
    count: int,
    *,
    ack: bool = True,
) -> list[RecordedEvent]:
    """The next `count` events of a subscription, acked unless `ack=False`."""
    received: list[RecordedEvent] = []
    for event in subscription:
        received.append(event)
        if ack:
            assert isinstance(subscription, AbstractPersistentSubscription)
            subscription.ack(event)
        if len(received) == count:
            break
    assert len(received) == count, f"subscription ended after {len(received)} of {count}"
    return received


def settled(client: EventStoreDBClient, group: str, stream: str) -> bool:
    """True when nothing of the stream group is outstanding or in flight."""
    info = client.get_subscription_info(group, stream)
    return info.outstanding_messages_count == 0 and info.total_in_flight_messages == 0


def parked_stream(source: str, group: str) -> str:
    """The parked-events stream of a group."""
    return f"$persistentsubscription-{source}::{group}-parked"


def checkpoint_stream(source: str, group: str) -> str:
    """The checkpoint stream of a group."""
    return f"$persistentsubscription-{source}::{group}-checkpoint"


def _address(esdb_uri: str) -> str:
    return urlparse(esdb_uri).netloc.rsplit("@", 1)[-1]


def raw_info(
    esdb_uri: str, group: str, stream: str | None = None
) -> persistent_pb2.SubscriptionInfo:
    """GetInfo through a raw stub: esdbclient leaves out the connections."""
    options = persistent_pb2.GetInfoReq.Options(group_name=group)
    if stream is None:
        options.all.CopyFrom(shared_pb2.Empty())
    else:
        options.stream_identifier.stream_name = stream.encode()
    with grpc.insecure_channel(_address(esdb_uri)) as channel:
        stub = persistent_pb2_grpc.PersistentSubscriptionsStub(channel)  # type: ignore[no-untyped-call]
        reply = stub.GetInfo(persistent_pb2.GetInfoReq(options=options), timeout=DEADLINE)
    assert isinstance(reply, persistent_pb2.GetInfoResp)
    return reply.subscription_info


def raw_replay_parked(esdb_uri: str, group: str, stream: str, *, stop_at: int) -> None:
    """ReplayParked with `stop_at`, which esdbclient never sends; errors as esdbclient's."""
    options = persistent_pb2.ReplayParkedReq.Options(group_name=group, stop_at=stop_at)
    options.stream_identifier.stream_name = stream.encode()
    with grpc.insecure_channel(_address(esdb_uri)) as channel:
        stub = persistent_pb2_grpc.PersistentSubscriptionsStub(channel)  # type: ignore[no-untyped-call]
        try:
            stub.ReplayParked(persistent_pb2.ReplayParkedReq(options=options), timeout=DEADLINE)
        except grpc.RpcError as error:
            raise handle_rpc_error(error) from None
