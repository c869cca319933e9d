"""The read side's esdbclient adapter, and its only importer of esdbclient and gRPC: the
`EventStore` port for workers (`connector`), order events from the log, subscription
groups and what they parked, and the client type the ops commands hold (`Client`).

Order events are selected from `$all` by stream name (`order-` prefix, as a regex): this
works on any EventStoreDB without system projections and on the embedded server, where
`$ce-order` would need the `$by_category` projection running and resolved links.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias
from uuid import UUID

import grpc
from esdbclient import EventStoreDBClient, RecordedEvent
from esdbclient.common import AbstractPersistentSubscription
from esdbclient.exceptions import (
    AlreadyExists,
    DeadlineExceeded,
    EventStoreDBClientException,
    GrpcError,
    NotFound,
)

from orders.ports import StoredEvent
from orders.store import stored_event
from orders.streams import ORDER_STREAMS_REGEX
from projections.batch import Delivery, NackAction
from projections.ports import Connect, ConnectionLost, GroupSettings, Window

__all__ = [
    "PAGE",
    "READ_DEADLINE",
    "Client",
    "ConnectionLost",
    "ConsumerInfo",
    "EsdbEventStore",
    "GroupInfo",
    "GroupSettings",
    "OrderLog",
    "ParkedLink",
    "StoreFailure",
    "TransientReadError",
    "connector",
    "ensure_group",
    "group_connections",
    "group_info",
    "group_name",
    "open_client",
    "parked_links",
    "parked_stream",
    "replay_parked",
    "to_delivery",
]

Client: TypeAlias = EventStoreDBClient
"""The client the ops commands (status, rebuild, parked) hold for one command's work."""

StoreFailure = EventStoreDBClientException
"""Any failure esdbclient reports: the CLIs map it to an exit code."""

TransientReadError = (DeadlineExceeded, GrpcError)
"""A read that timed out or lost its connection; worth another try on a fresh client."""

PAGE = 500
READ_DEADLINE = 10.0
"""Seconds a page or stream read may take: without a deadline a read on a connection that
died without a reset (or a channel stuck reconnecting) waits forever."""


@dataclass(frozen=True, slots=True)
class ParkedLink:
    """One link of a group's parked stream: where it sits, the event it points to, and why.

    `target` is None when the link no longer resolves (its event was deleted); `points_to`
    is the link's own text, `revision@stream`.
    """

    position: int
    target: StoredEvent | None
    points_to: str
    reason: str | None
    parked_at: str | None


@dataclass(frozen=True, slots=True)
class ConsumerInfo:
    """One connected consumer of a group: its connection name (esdbclient's
    `ConnectionName` URI option), messages in flight to it, and items pushed so far."""

    name: str
    in_flight: int
    total_items: int


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """What the server says about a group (None fields: the server did not tell)."""

    status: str
    parked: int
    in_flight: int
    connections: int | None
    last_checkpoint: str
    last_known: str


def group_name(projection: str) -> str:
    """The subscription group of a projection: `projection-<name>`."""
    return f"projection-{projection}"


def parked_stream(group: str, source: str = "$all") -> str:
    """The stream where the server parks the events of group `group` over `source` (`$all`
    or a stream name), as links."""
    return f"$persistentsubscription-{source}::{group}-parked"


def to_delivery(recorded: RecordedEvent) -> Delivery:
    """A delivered event; its ack id is the link's for parked-and-replayed events."""
    return Delivery(stored_event(recorded), recorded.ack_id, recorded.retry_count or 0)


def ensure_group(
    client: EventStoreDBClient,
    group: str,
    settings: GroupSettings,
    *,
    timeout: float | None = None,
) -> bool:
    """Create the group over the order streams from the start if missing; True if created.
    `timeout` is the call's deadline (None: none)."""
    try:
        client.create_subscription_to_all(
            group,
            filter_include=[ORDER_STREAMS_REGEX],
            filter_by_stream_name=True,
            consumer_strategy=settings.consumer_strategy,
            message_timeout=settings.message_timeout,
            max_retry_count=settings.max_retry_count,
            max_subscriber_count=settings.max_subscriber_count,
            checkpoint_after=settings.checkpoint_after,
            min_checkpoint_count=settings.min_checkpoint_count,
            max_checkpoint_count=settings.max_checkpoint_count,
            timeout=timeout,
        )
    except AlreadyExists:
        return False
    return True


def group_info(client: EventStoreDBClient, group: str) -> GroupInfo | None:
    """The group's state on the server, or None if it does not exist."""
    try:
        info = client.get_subscription_info(group)
    except NotFound:
        return None
    consumers = group_connections(client, group)
    return GroupInfo(
        status=info.status,
        parked=info.parked_message_count,
        in_flight=info.total_in_flight_messages,
        connections=None if consumers is None else len(consumers),
        last_checkpoint=info.last_checkpointed_event_position,
        last_known=info.last_known_event_position,
    )


def parked_links(
    client: EventStoreDBClient, group: str, limit: int, source: str = "$all"
) -> list[ParkedLink]:
    """The first `limit` links still parked by `group` over `source` (replayed ones are
    truncated away), resolved to the events they point to; [] when nothing was ever parked."""
    try:
        links = client.get_stream(parked_stream(group, source), resolve_links=True, limit=limit)
    except NotFound:
        return []
    return [_parked_link(recorded) for recorded in links]


def replay_parked(client: EventStoreDBClient, group: str) -> None:
    """Ask the server to redeliver everything `group` parked, ahead of new events."""
    client.replay_parked_events(group)


class OrderLog:
    """Reads order events from the event store (gap filling, rebuilds, the oracle)."""

    def __init__(self, client: EventStoreDBClient, *, timeout: float = READ_DEADLINE) -> None:
        self.client = client
        self.timeout = timeout

    def read(self, stream: str, first: int, last: int) -> Sequence[StoredEvent]:
        """Revisions `first`..`last` of `stream` (fewer if they do not exist)."""
        try:
            events = self.client.get_stream(
                stream, stream_position=first, limit=last - first + 1, timeout=self.timeout
            )
        except NotFound:
            return []
        return [stored_event(e) for e in events]

    def stream(self, stream: str) -> list[StoredEvent]:
        """The whole stream, from revision 0."""
        try:
            events = self.client.get_stream(stream, timeout=self.timeout)
            return [stored_event(e) for e in events]
        except NotFound:
            return []

    def pages(
        self,
        after: int | None = None,
        page: int = PAGE,
        *,
        seen_at_after: Set[UUID] | None = None,
    ) -> Iterator[list[StoredEvent]]:
        """Order events in `$all` order, after commit position `after`, a page at a time.

        Events appended together may share a commit position, so each next page starts
        at the last position seen (inclusive) and skips the ids already yielded there.
        `seen_at_after` resumes an interrupted read the same way: the events at `after`
        itself are yielded too, except those ids.
        """
        position, seen = after, set(seen_at_after or ())
        strict = after is not None and seen_at_after is None
        while True:
            raw = self._read_all(position, page + len(seen) + 1)
            batch = [e for e in raw if not _yielded(e, position, seen, strict)][:page]
            if not batch:
                return
            yield batch
            last = batch[-1].commit_position
            seen = seen if last == position else set()
            seen.update(e.id for e in batch if e.commit_position == last)
            position, strict = last, False

    def last_position(self) -> int:
        """The commit position of the newest order event (0 if there is none)."""
        return self.client.get_commit_position(
            filter_include=[ORDER_STREAMS_REGEX], filter_by_stream_name=True
        )

    def after(self, position: int | None, cap: int) -> tuple[int, datetime | None]:
        """How many order events lie after `position` (at most `cap`), and when the first
        of them was recorded."""
        count, first = 0, None
        for batch in self.pages(position):
            first = first or batch[0].recorded_at
            count += len(batch)
            if count >= cap:
                return cap, first
        return count, first

    def _read_all(self, position: int | None, limit: int) -> list[StoredEvent]:
        events = self.client.read_all(
            commit_position=position,
            filter_include=[ORDER_STREAMS_REGEX],
            filter_by_stream_name=True,
            limit=limit,
            timeout=self.timeout,
        )
        return [stored_event(e) for e in events]


def _parked_link(recorded: RecordedEvent) -> ParkedLink:
    link = recorded.link
    if link is None:  # the link did not resolve: esdbclient gives the link itself
        return ParkedLink(recorded.stream_position, None, _text(recorded.data), None, None)
    about = _json_object(link.metadata)
    reason, added = about.get("reason"), about.get("added")
    return ParkedLink(
        position=link.stream_position,
        target=stored_event(recorded),
        points_to=_text(link.data),
        reason=reason.strip() if isinstance(reason, str) else None,
        parked_at=added if isinstance(added, str) else None,
    )


def _json_object(raw: bytes) -> dict[str, object]:
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _yielded(event: StoredEvent, position: int | None, seen: set[UUID], strict: bool) -> bool:
    """True for events at or before `position` that are not to be yielded again."""
    if position is None or event.commit_position is None:
        return False
    if event.commit_position != position:
        return event.commit_position < position
    return strict or event.id in seen


def group_connections(client: EventStoreDBClient, group: str) -> list[ConsumerInfo] | None:
    """The group's connected consumers (None if that cannot be asked). The server sends
    them, but esdbclient's SubscriptionInfo drops `connections`, so ask the same GetInfo
    call through its stub."""
    service = client.persistent_subscriptions
    with contextlib.suppress(Exception):
        request = service._construct_get_info_req(group, None)
        response = service._stub.GetInfo(
            request,
            timeout=5,
            metadata=service._metadata(client._call_metadata, requires_leader=True),
            credentials=client._call_credentials,
        )
        return [
            ConsumerInfo(c.connection_name, c.in_flight_messages, c.total_items)
            for c in response.subscription_info.connections
        ]
    return None


def open_client(uri: str) -> Client:
    """A client on `uri` (the caller closes it)."""
    return EventStoreDBClient(uri)


def connector(uri: str) -> Connect:
    """The worker's factory: each call opens an `EsdbEventStore` on `uri`."""
    return lambda: EsdbEventStore(uri)


CALL_DEADLINE = 10.0
"""Seconds a worker's unary calls (creating its group) may take: without one, a call
queued on a channel whose connection was cut waited for ever (issue 13, F4)."""

KEEPALIVE_MS = 2_000
"""HTTP/2 keepalive ping interval and ack timeout of a worker's channel: a subscription
read on a connection that died without a reset fails within about twice this."""


class _WorkerClient(EventStoreDBClient):
    """esdbclient with a worker's channel options: keepalive pings (esdbclient's
    `KeepAliveInterval` URI option sets `grpc.keepalive_ms`, which gRPC ignores) and a
    subchannel of its own, so a new client after a cut never inherits the dead
    connection's subchannel and its reconnect backoff from gRPC's global pool."""

    def _construct_grpc_channel(
        self, grpc_target: str, grpc_options: tuple[tuple[str, Any], ...] = ()
    ) -> grpc.Channel:
        own = (
            ("grpc.use_local_subchannel_pool", 1),
            ("grpc.keepalive_time_ms", KEEPALIVE_MS),
            ("grpc.keepalive_timeout_ms", KEEPALIVE_MS),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
        )
        return super()._construct_grpc_channel(grpc_target, (*grpc_options, *own))


class EsdbEventStore:
    """The `EventStore` port over one esdbclient connection (keepalive, own subchannel)."""

    def __init__(self, uri: str) -> None:
        with _lost():
            self.client = _WorkerClient(uri)
        self._log = OrderLog(self.client)

    def subscribe(
        self, group: str, settings: GroupSettings, window: Window
    ) -> tuple[_EsdbSubscription, bool]:
        """Join `group` (created over the order streams if missing)."""
        with _lost():
            created = ensure_group(self.client, group, settings, timeout=CALL_DEADLINE)
            subscription = self.client.read_subscription_to_all(
                group,
                event_buffer_size=window.event_buffer_size,
                max_ack_batch_size=window.max_ack_batch_size,
                max_ack_delay=window.max_ack_delay,
            )
        return _EsdbSubscription(subscription, window.batch_size), created

    def read(self, stream: str, first: int, last: int) -> Sequence[StoredEvent]:
        """Gap reads, with the read deadline."""
        with _lost():
            return self._log.read(stream, first, last)

    def close(self) -> None:
        self.client.close()


class SubscriptionEnded(Exception):
    """The server closed the subscription stream without an error."""


_LOST = (EventStoreDBClientException, grpc.RpcError, SubscriptionEnded)


@contextlib.contextmanager
def _lost() -> Iterator[None]:
    """esdbclient's and gRPC's failures, as the port's ConnectionLost."""
    try:
        yield
    except _LOST as error:
        raise ConnectionLost(_brief(error)) from error


def _brief(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


class _EsdbSubscription:
    """A persistent subscription whose blocking iterator a thread pumps into a buffer, so
    batches can be taken.

    The pump appends to a deque (no lock per event) and wakes the consumer only when the
    buffer stops being empty, reaches a full batch, or the subscription fails.
    """

    def __init__(self, subscription: AbstractPersistentSubscription, batch_size: int) -> None:
        self._subscription = subscription
        self._items: deque[RecordedEvent | BaseException] = deque()
        self._ready = threading.Event()
        self._batch_size = batch_size
        self._ended = False
        self._failed: BaseException | None = None
        threading.Thread(target=self._pump, name="subscription-feed", daemon=True).start()

    @property
    def id(self) -> str:
        return self._subscription.subscription_id

    def take(self, timeout: float, linger: float) -> list[Delivery]:
        """See `Subscription.take`."""
        if self._failed is None:
            self._wait(timeout, linger)
        events: list[Delivery] = []
        items = self._items
        while items and len(events) < self._batch_size and self._failed is None:
            item = items.popleft()
            if isinstance(item, RecordedEvent):
                events.append(to_delivery(item))
            else:
                self._failed = item
        if not events and self._failed is not None:
            with _lost():
                raise self._failed
        return events

    def ack(self, ack_id: UUID) -> None:
        with _lost():
            self._subscription.ack(ack_id)

    def nack(self, ack_id: UUID, action: NackAction) -> None:
        with _lost():
            self._subscription.nack(ack_id, action)

    def stop(self, *, flush: bool = True) -> None:
        if flush:
            with _lost():
                self._subscription.stop()
        else:
            # esdbclient's stop() would wait up to 5 s to flush acks nobody can receive,
            # so let it finish in the background.
            threading.Thread(target=self._subscription.stop, daemon=True).start()

    def _wait(self, timeout: float, linger: float) -> None:
        """Until a batch is buffered, `linger` after the first event, the subscription
        ended, or `timeout` passed with nothing buffered."""
        items, ready, full = self._items, self._ready, self._batch_size
        deadline = time.monotonic() + timeout
        fill_by: float | None = None
        while True:
            ready.clear()  # cleared before looking: a wake-up after this is never lost
            buffered = len(items)
            if buffered >= full or self._ended:
                return
            now = time.monotonic()
            if buffered and fill_by is None:
                fill_by = now + linger
            remaining = (fill_by if fill_by is not None else deadline) - now
            if remaining <= 0:
                return
            ready.wait(remaining)

    def _pump(self) -> None:
        items, ready, full = self._items, self._ready, self._batch_size
        try:
            for event in self._subscription:
                items.append(event)
                buffered = len(items)
                if buffered in (1, full):
                    ready.set()
            ended: BaseException = SubscriptionEnded("the subscription stream ended")
        except BaseException as e:  # noqa: BLE001  handed to the consuming thread, which decides
            ended = e
        items.append(ended)
        self._ended = True
        ready.set()
