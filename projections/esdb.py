"""The read side's esdbclient adapter: order events from the log, subscription groups and
what they parked.

Order events are selected from `$all` by stream name (`order-` prefix, as a regex): this
works on any EventStoreDB without system projections and on the embedded server, where
`$ce-order` would need the `$by_category` projection running and resolved links.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from esdbclient import EventStoreDBClient, RecordedEvent
from esdbclient.exceptions import AlreadyExists, NotFound
from esdbclient.persistent import ConsumerStrategy

from orders.ports import StoredEvent
from orders.store import stored_event
from projections.batch import Delivery

ORDER_STREAMS_REGEX = r"order-.*"
"""Stream-name filter for `$all` (esdbclient anchors it: `^(order-.*)$`)."""

PAGE = 500
READ_DEADLINE = 10.0
"""Seconds a page or stream read may take: without a deadline a read on a connection that
died without a reset (or a channel stuck reconnecting) waits forever."""


@dataclass(frozen=True, slots=True)
class GroupSettings:
    """A projection's persistent-subscription group over the order streams.

    `Pinned` sends each stream to one consumer (best effort), so competing workers rarely
    split a stream: fewer gaps to read back and fewer duplicates. Correctness never
    depends on it; every strategy is safe (see docs/read-side.md).
    """

    consumer_strategy: ConsumerStrategy = "Pinned"
    message_timeout: float = 30.0
    max_retry_count: int = 10
    max_subscriber_count: int = 16
    checkpoint_after: float = 2.0
    min_checkpoint_count: int = 10
    max_checkpoint_count: int = 1000


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


def ensure_group(client: EventStoreDBClient, group: str, settings: GroupSettings) -> bool:
    """Create the group over the order streams from the start if missing; True if created."""
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
