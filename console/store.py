"""The console's esdbclient adapter: the only console module that imports esdbclient.

Every read is a bounded page asked of the server (`limit`, a start position or revision,
forwards or backwards); nothing reads a whole stream or the whole log. esdbclient's
errors become `console.errors`: a missing stream is None or [], an unreachable or failing
server is StoreDown (URI password masked), after which the client is dropped and the next
call connects afresh, so the console recovers by itself when the server is back.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import grpc
from esdbclient import EventStoreDBClient, RecordedEvent
from esdbclient.exceptions import (
    EventStoreDBClientException,
    NotFound,
    StreamIsDeleted,
)

from console.errors import StoreDown
from orders.ports import StoredEvent
from orders.settings import mask_secrets
from orders.store import stored_event
from projections.esdb import (
    ConsumerInfo,
    OrderLog,
    ParkedLink,
    group_connections,
    parked_links,
    replay_parked,
)
from projections.ops.status import ProjectionStatus, collect

SYSTEM_STREAMS = r"\$.*"
"""Stream names the streams listing leaves out (metadata, subscriptions, parked links)."""
_CORRELATION_KEYS = ("$correlationId", "correlationId")  # ours, the legacy TypeScript one's


@dataclass(frozen=True, slots=True)
class StreamState:
    """What the server says about a stream besides its events.

    `head` is the last revision (None: nothing readable); `first` the first still readable
    (after `$maxCount`/`$tb` truncation); `metadata` the `$$stream` document.
    """

    name: str
    head: int | None
    first: int | None
    metadata: dict[str, Any]
    metadata_version: int | None
    tombstoned: bool
    soft_deleted: bool

    @property
    def exists(self) -> bool:
        """True when the stream has readable events, or is known deleted."""
        return self.head is not None or self.tombstoned or self.soft_deleted


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """One persistent-subscription group, as esdbclient's SubscriptionInfo tells it."""

    group: str
    source: str
    status: str
    settings: dict[str, Any]
    in_flight: int
    parked: int
    last_checkpoint: str
    last_known: str
    total_items: int
    average_per_second: float


@dataclass(frozen=True, slots=True)
class CorrelationScan:
    """Events whose metadata carries one correlation id, and where they were looked for.

    `source` is `$bc-<id>` when the server keeps by-correlation streams, else "$all";
    `scanned` counts the `$all` events read, `span` their commit positions.
    """

    events: list[StoredEvent]
    source: str
    scanned: int
    span: tuple[int, int] | None
    complete: bool


class ConsoleStore:
    """One lazily connected esdbclient client for the console (thread-safe)."""

    def __init__(self, uri: str, *, timeout: float = 5.0) -> None:
        self.uri = uri
        self.timeout = timeout
        self._client: EventStoreDBClient | None = None
        self._lock = threading.Lock()
        self._checked_at = -10.0

    @property
    def masked_uri(self) -> str:
        """The URI with its password masked."""
        return mask_secrets(self.uri)

    @property
    def secure(self) -> bool:
        """True when the URI asks for TLS (esdbclient's default unless `Tls=false`)."""
        query = {k.lower(): v for k, v in parse_qs(urlsplit(self.uri).query).items()}
        return (query.get("tls") or ["true"])[-1].lower() != "false"

    @property
    def credentials(self) -> tuple[str, str] | None:
        """The URI's `user:password`, or None when it carries none."""
        parts = urlsplit(self.uri)
        if parts.username is None or parts.password is None:
            return None
        return parts.username, parts.password

    def close(self) -> None:
        """Close the client (a later call reconnects)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def ping(self) -> int:
        """The newest commit position; raises StoreDown when the server is not there."""
        with self._guard("$all") as client:
            return client.get_commit_position(timeout=self.timeout)

    # -- $all -----------------------------------------------------------------------------

    def all_page(
        self,
        *,
        before: int | None,
        limit: int,
        stream_prefix: str = "",
        event_type: str = "",
    ) -> list[StoredEvent]:
        """Up to `limit` events of `$all`, newest first, strictly before commit position
        `before` (None: from the head). System streams are left out; `stream_prefix` and
        `event_type` filter on the server (both given: the type is checked here, on at
        most ten pages)."""
        include: list[str]
        by_name = True
        if stream_prefix:
            include = [re.escape(stream_prefix) + ".*"]
        elif event_type:
            include, by_name = [re.escape(event_type)], False
        else:
            include = []
        found: list[StoredEvent] = []
        position = before
        for _ in range(10 if (stream_prefix and event_type) else 1):
            with self._guard("$all") as client:
                page = list(
                    client.read_all(
                        commit_position=position,
                        backwards=True,
                        limit=limit,
                        filter_include=include,
                        filter_exclude=[] if include else [SYSTEM_STREAMS],
                        filter_by_stream_name=by_name,
                        timeout=self.timeout,
                    )
                )
            events = [stored_event(e) for e in page]
            if stream_prefix and not include:
                events = [e for e in events if e.stream.startswith(stream_prefix)]
            if stream_prefix and event_type:
                events = [e for e in events if e.type == event_type]
            found.extend(events)
            if len(found) >= limit or len(page) < limit or not page:
                break
            position = page[-1].commit_position
        return found[:limit]

    def head_position(self) -> int:
        """The commit position of the newest event in the log."""
        with self._guard("$all") as client:
            return client.get_commit_position(timeout=self.timeout)

    # -- streams --------------------------------------------------------------------------

    def stream_state(self, stream: str) -> StreamState:
        """The stream's head, first readable revision, metadata and deletion state."""
        metadata, version, tombstoned = self._metadata(stream)
        head = first = None
        if not tombstoned:
            try:
                newest = self._read(stream, None, 1, backwards=True)
                oldest = self._read(stream, None, 1, backwards=False)
            except _Tombstoned:
                tombstoned = True
            else:
                head = newest[0].revision if newest else None
                first = oldest[0].revision if oldest else None
        truncate = metadata.get("$tb")
        soft = isinstance(truncate, int) and head is None and truncate > 0 and not tombstoned
        return StreamState(stream, head, first, metadata, version, tombstoned, soft)

    def stream_page(self, stream: str, *, before: int | None, limit: int) -> list[StoredEvent]:
        """Up to `limit` events of `stream`, newest first, with revisions below `before`
        (None: from the head); [] when none (or the stream is deleted)."""
        if before is not None and before <= 0:
            return []
        start = None if before is None else before - 1
        try:
            return self._read(stream, start, limit, backwards=True)
        except _Tombstoned:
            return []

    def stream_from(self, stream: str, first: int, limit: int) -> list[StoredEvent]:
        """Up to `limit` events of `stream` from revision `first` on, oldest first."""
        try:
            return self._read(stream, first, limit, backwards=False)
        except _Tombstoned:
            return []

    def event(self, stream: str, revision: int) -> StoredEvent | None:
        """The event at `revision` of `stream`, or None."""
        found = self.stream_from(stream, revision, 1)
        return found[0] if found and found[0].revision == revision else None

    # -- correlation ----------------------------------------------------------------------

    def correlated(self, correlation_id: str, *, near: int | None, scan: int) -> CorrelationScan:
        """Every event whose metadata carries `correlation_id`.

        From the server's `$bc-<id>` stream when it keeps one (EventStoreDB's
        by-correlation-id projection), else from a bounded scan of `$all`: `scan` events
        around commit position `near` (half before, half from it on) or the newest `scan`.
        """
        by_correlation = f"$bc-{correlation_id}"
        try:
            linked = self._read(by_correlation, None, scan, backwards=False, resolve=True)
        except _Tombstoned:
            linked = []
        if linked:
            return CorrelationScan(linked, by_correlation, len(linked), None, True)
        needle = correlation_id.encode()
        chunks: list[list[StoredEvent]] = []
        if near is None:
            chunks.append(self._scan_all(None, scan, backwards=True))
        else:
            chunks.append(self._scan_all(near, scan // 2, backwards=True))
            chunks.append(self._scan_all(near, scan - scan // 2, backwards=False))
        seen = [e for chunk in chunks for e in chunk]
        matches = {
            e.id: e for e in seen if needle in e.metadata and _correlation(e) == correlation_id
        }
        positions = [e.commit_position for e in seen if e.commit_position is not None]
        span = (min(positions), max(positions)) if positions else None
        ordered = sorted(matches.values(), key=lambda e: e.commit_position or 0)
        complete = all(len(chunk) < n for chunk, n in zip(chunks, _sizes(near, scan), strict=True))
        return CorrelationScan(ordered, "$all", len(seen), span, complete)

    # -- persistent subscriptions ---------------------------------------------------------

    def groups(self) -> list[GroupSummary]:
        """Every persistent-subscription group on the server."""
        with self._guard("$persistentSubscriptions") as client:
            infos = client.list_subscriptions(timeout=self.timeout)
        return sorted((_summary(i) for i in infos), key=lambda g: (g.source, g.group))

    def group(self, group: str, source: str = "$all") -> GroupSummary | None:
        """The group `group` over `source`, or None if the server has none."""
        stream = None if source == "$all" else source
        with self._guard(source) as client:
            try:
                info = client.get_subscription_info(group, stream_name=stream, timeout=self.timeout)
            except NotFound:
                return None
        return _summary(info)

    def consumers(self, group: str) -> list[ConsumerInfo] | None:
        """The group's connected consumers (None: the server did not tell)."""
        with self._guard(group) as client:
            return group_connections(client, group)

    def parked(self, group: str, source: str, limit: int) -> list[ParkedLink]:
        """The first `limit` events the group holds parked, resolved, with their reasons."""
        with self._guard(group) as client:
            return parked_links(client, group, limit, source)

    def replay_parked(self, group: str, source: str) -> None:
        """Ask the server to send the group's parked events back to its consumers."""
        with self._guard(group) as client:
            if source == "$all":
                replay_parked(client, group)
            else:
                client.replay_parked_events(group, stream_name=source, timeout=self.timeout)

    def order_events_after(self, position: int | None, cap: int) -> tuple[int, datetime | None]:
        """How many order events lie after commit `position` (at most `cap`), and when the
        first of them was recorded (lag in events and its age)."""
        with self._guard("$all") as client:
            return OrderLog(client).after(position, cap)

    def projection_status(self, name: str, path: Path) -> ProjectionStatus:
        """`projections status` for one read model (its file and its group's info)."""
        with self._guard(name) as client:
            return collect(client, name, path)

    # -- internals ------------------------------------------------------------------------

    def _metadata(self, stream: str) -> tuple[dict[str, Any], int | None, bool]:
        with self._guard(stream) as client:
            try:
                metadata, version = client.get_stream_metadata(stream, timeout=self.timeout)
            except StreamIsDeleted:
                return {}, None, True
            except NotFound:
                return {}, None, False
        as_int = version if isinstance(version, int) and version >= 0 else None
        return dict(metadata), as_int, False

    def _read(
        self,
        stream: str,
        start: int | None,
        limit: int,
        *,
        backwards: bool,
        resolve: bool = False,
    ) -> list[StoredEvent]:
        with self._guard(stream) as client:
            try:
                events: Sequence[RecordedEvent] = client.get_stream(
                    stream,
                    stream_position=start,
                    backwards=backwards,
                    limit=limit,
                    resolve_links=resolve,
                    timeout=self.timeout,
                )
            except NotFound:
                return []
            except StreamIsDeleted:
                raise _Tombstoned(stream) from None
        return [stored_event(e) for e in events]

    def _scan_all(self, position: int | None, limit: int, *, backwards: bool) -> list[StoredEvent]:
        if limit <= 0:
            return []
        with self._guard("$all") as client:
            page = client.read_all(
                commit_position=position,
                backwards=backwards,
                limit=limit,
                filter_exclude=[SYSTEM_STREAMS],
                filter_by_stream_name=True,
                timeout=max(self.timeout, 30.0),
            )
            return [stored_event(e) for e in page]

    def _connected(self) -> EventStoreDBClient:
        with self._lock:
            if self._client is None:
                self._client = EventStoreDBClient(self.uri)
            return self._client

    @contextmanager
    def _guard(self, what: str) -> Iterator[EventStoreDBClient]:
        """Yield the client; translate failures to StoreDown. A call still blocked after
        `3 * timeout` seconds (a stream whose server vanished) is ended by closing the
        client, since a gRPC stream read has no deadline of its own in esdbclient."""
        self._reachable(what)
        watchdog = threading.Timer(self.timeout * 3, self.close)
        watchdog.daemon = True
        watchdog.start()
        try:
            yield self._connected()
        except (NotFound, StreamIsDeleted, _Tombstoned):
            raise
        except (EventStoreDBClientException, ValueError, grpc.RpcError) as e:
            self.close()  # the next request connects afresh: recovery after an outage
            raise self._down(what, e) from None
        finally:
            watchdog.cancel()

    def _reachable(self, what: str) -> None:
        """Fail fast (StoreDown) when no node of the URI accepts TCP connections: a gRPC
        call to a vanished server can wait much longer than its deadline."""
        now = time.monotonic()
        if now - self._checked_at < 1.0:
            return
        for host, port in _nodes(self.uri):
            try:
                socket.create_connection((host, port), timeout=min(self.timeout, 2.0)).close()
            except OSError:
                continue
            self._checked_at = now
            return
        self.close()
        raise self._down(what, ConnectionRefusedError("no node accepts connections"))

    def _down(self, what: str, error: BaseException) -> StoreDown:
        text = str(error).strip()
        detail = mask_secrets(text.splitlines()[0] if text else "")
        return StoreDown(
            f"the event store at {self.masked_uri} did not answer ({type(error).__name__}"
            f"{': ' + detail if detail else ''}) while reading {what}"
        )


class _Tombstoned(Exception):
    """The stream was deleted for good."""


def _summary(info: Any) -> GroupSummary:
    settings = {
        key: getattr(info, key)
        for key in (
            "consumer_strategy",
            "start_from",
            "resolve_links",
            "message_timeout",
            "max_retry_count",
            "max_subscriber_count",
            "checkpoint_after",
            "min_checkpoint_count",
            "max_checkpoint_count",
            "live_buffer_size",
            "history_buffer_size",
            "read_batch_size",
            "extra_statistics",
        )
        if hasattr(info, key)
    }
    return GroupSummary(
        group=info.group_name,
        source=info.event_source,
        status=info.status,
        settings=settings,
        in_flight=info.total_in_flight_messages,
        parked=info.parked_message_count,
        last_checkpoint=info.last_checkpointed_event_position,
        last_known=info.last_known_event_position,
        total_items=info.total_items,
        average_per_second=info.average_per_second,
    )


def _correlation(event: StoredEvent) -> str | None:
    try:
        meta = json.loads(event.metadata) if event.metadata.strip() else {}
    except ValueError:
        return None
    if not isinstance(meta, dict):
        return None
    for key in _CORRELATION_KEYS:
        value = meta.get(key)
        if isinstance(value, str):
            return value
    return None


def _nodes(uri: str) -> list[tuple[str, int]]:
    """The (host, port) of every node an `esdb://` or `esdb+discover://` URI names."""
    parts = urlsplit(uri)
    hosts = parts.netloc.rsplit("@", 1)[-1]
    found = []
    for item in hosts.split(","):
        host, _, port = (
            item.rpartition(":") if "]" not in item.rsplit(":", 1)[-1] else (item, "", "")
        )
        if not host:
            host, port = item, ""
        found.append((host.strip("[]"), int(port) if port.isdigit() else 2113))
    return found


def _sizes(near: int | None, scan: int) -> list[int]:
    return [scan] if near is None else [scan // 2, scan - scan // 2]
