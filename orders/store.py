"""`EsdbStore`: order streams on EventStoreDB; the only module that imports esdbclient.

Streams are `order-{order_id}`. An expected revision of None appends with NO_STREAM,
otherwise with that exact `current_version`. esdbclient errors become `orders.errors`:
WrongCurrentVersion -> ConcurrencyConflict; unreachable -> StoreUnavailable (naming the
URI, password masked); deadlines, aborts and leader changes -> TransientStoreError;
refused credentials -> AuthenticationFailed and a failed TLS set-up -> TlsHandshakeFailed
(both final: a retry cannot fix them). Messages carry gRPC's status and details, never
the call object's dump.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import urlsplit
from uuid import UUID

import grpc
from esdbclient import EventStoreDBClient, NewEvent, RecordedEvent, StreamState
from esdbclient.exceptions import (
    AbortedByServer,
    DeadlineExceeded,
    DiscoveryFailed,
    EventStoreDBClientException,
    GrpcError,
    NodeIsNotLeader,
    NotFound,
    ServiceUnavailable,
    SSLError,
    WrongCurrentVersion,
)

from orders.errors import (
    AuthenticationFailed,
    ConcurrencyConflict,
    InvalidSettings,
    StoreError,
    StoreUnavailable,
    TlsHandshakeFailed,
    TransientStoreError,
)
from orders.ports import AppendResult, EncodedEvent, StoredEvent
from orders.settings import mask_secrets
from orders.streams import ORDER_STREAMS_REGEX, key_stream_name, stream_name

_TRANSIENT = (DeadlineExceeded, AbortedByServer, NodeIsNotLeader, GrpcError)


class EsdbStore:
    """Reads and appends order streams through one lazily connected esdbclient client.

    Safe to share between threads; not across `fork` (build one per process). Close it
    (or use it as a context manager) before the interpreter exits.
    """

    def __init__(self, uri: str, *, timeout: float = 10.0) -> None:
        self._uri = uri
        self._timeout = timeout
        self._client: EventStoreDBClient | None = None
        self._lock = threading.Lock()

    @property
    def masked_uri(self) -> str:
        """The server's URI with the password masked."""
        return mask_secrets(self._uri)

    def read(
        self, order_id: str, *, from_revision: int = 0, limit: int | None = None
    ) -> Sequence[StoredEvent]:
        """The stream's events from `from_revision` on (at most `limit`); empty if none."""
        stream = stream_name(order_id)
        with self._translated(stream, None):
            try:
                recorded = self._connected().get_stream(
                    stream,
                    stream_position=from_revision or None,
                    limit=sys.maxsize if limit is None else limit,
                    timeout=self._timeout,
                )
            except NotFound:
                return ()
        return tuple(stored_event(event) for event in recorded)

    def append(
        self, order_id: str, expected_revision: int | None, events: Sequence[EncodedEvent]
    ) -> AppendResult:
        """Append `events` atomically at exactly `expected_revision` (None: new stream).

        Repeating an append with the same event ids and expected revision writes nothing
        and returns the original position (EventStoreDB's idempotent append).
        """
        stream = stream_name(order_id)
        current = StreamState.NO_STREAM if expected_revision is None else expected_revision
        new_events = [
            NewEvent(type=e.type, data=e.data, metadata=e.metadata, id=e.id) for e in events
        ]
        # One event goes as Append, more as BatchAppend (esdbclient sends a lone NewEvent
        # through Append): Append costs the client ~12% less CPU for one event, while two
        # go ~6% faster as BatchAppend (benchmarks/append_rpc.py, benchmarks/RESULTS.md).
        payload = new_events[0] if len(new_events) == 1 else new_events
        with self._translated(stream, expected_revision):
            position = self._connected().append_to_stream(
                stream, current_version=current, events=payload, timeout=self._timeout
            )
        last = (-1 if expected_revision is None else expected_revision) + len(events)
        return AppendResult(revision=last, commit_position=position)

    def claim(self, key: UUID, claim: EncodedEvent) -> StoredEvent | None:
        """Append `claim` as the first event of `idempotency-{key}` (NO_STREAM).

        None when it is there (an identical earlier claim has the same id, which the
        server's idempotent append recognises); else the claim that holds the key.
        """
        stream = key_stream_name(key)
        event = NewEvent(type=claim.type, data=claim.data, metadata=claim.metadata, id=claim.id)
        try:
            with self._translated(stream, None):
                self._connected().append_to_stream(
                    stream,
                    current_version=StreamState.NO_STREAM,
                    events=event,  # one event: the Append RPC, as above
                    timeout=self._timeout,
                )
        except ConcurrencyConflict:
            pass  # the key is claimed: by this very request (a resend), or another one
        else:
            return None
        with self._translated(stream, None):
            holder = self._connected().get_stream(stream, limit=1, timeout=self._timeout)[0]
        return None if holder.id == claim.id else stored_event(holder)

    def scan(self, *, page_size: int = 500) -> Iterator[StoredEvent]:
        """Every event of every order stream, in `$all` order, a page per call.

        `$all` is filtered by the server to stream names `order-...`. Events appended
        together may share a commit position, so each page resumes at the last position
        seen and skips the ids already yielded there. Read-only.
        """
        position: int | None = None
        seen: set[UUID] = set()
        while True:
            with self._translated("$all", None):
                page = list(
                    self._connected().read_all(
                        commit_position=position,
                        filter_include=[ORDER_STREAMS_REGEX],
                        filter_by_stream_name=True,
                        limit=page_size + len(seen),
                        timeout=self._timeout,
                    )
                )
            fresh = [e for e in page if not (e.commit_position == position and e.id in seen)]
            if not fresh:
                return
            yield from (stored_event(event) for event in fresh)
            last = fresh[-1].commit_position
            seen = seen if last == position else set()
            seen.update(e.id for e in fresh if e.commit_position == last)
            position = last

    def close(self) -> None:
        """Close the client's channel (a later call reconnects)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> EsdbStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _connected(self) -> EventStoreDBClient:
        with self._lock:
            if self._client is None:
                self._client = self._new_client()
            return self._client

    def _new_client(self) -> EventStoreDBClient:
        try:
            return EventStoreDBClient(self._uri)
        except ValueError as e:  # esdbclient puts the whole URI, password included, in it
            raise InvalidSettings(f"invalid ESDB_URI: {mask_secrets(str(e))}") from None

    @contextmanager
    def _translated(self, stream: str, expected: int | None) -> Iterator[None]:
        try:
            yield
        except EventStoreDBClientException as e:
            raise self._translate(e, stream, expected) from e

    def _translate(
        self, e: EventStoreDBClientException, stream: str, expected: int | None
    ) -> StoreError:
        if isinstance(e, WrongCurrentVersion):
            return ConcurrencyConflict(stream, expected, str(e))
        refused = security_failure(e, self._uri)
        if refused is not None:
            return refused
        if isinstance(e, ServiceUnavailable | DiscoveryFailed):
            return StoreUnavailable(self.masked_uri, _detail(e), stream=stream)
        if isinstance(e, _TRANSIENT):
            return TransientStoreError(f"{type(e).__name__}: {_detail(e)}", stream=stream)
        return StoreError(f"{type(e).__name__} on {stream}: {_detail(e)}", stream=stream)


def stored_event(event: RecordedEvent) -> StoredEvent:
    """esdbclient's event as the codec's `StoredEvent` (a resolved link gives its target)."""
    return StoredEvent(
        id=event.id,
        stream=event.stream_name,
        revision=event.stream_position,
        type=event.type,
        data=event.data,
        metadata=event.metadata,
        content_type=event.content_type,
        commit_position=event.commit_position,
        recorded_at=event.recorded_at,
    )


def security_failure(
    error: BaseException, uri: str
) -> AuthenticationFailed | TlsHandshakeFailed | None:
    """What `error` (from esdbclient, on a client of `uri`) says if it is a refused
    login or a failed TLS set-up, else None. Messages show `uri` with its password masked."""
    call = _call_of(error)
    if call is not None and call.code() == grpc.StatusCode.UNAUTHENTICATED:
        return AuthenticationFailed(mask_secrets(uri), urlsplit(uri).username)
    text = str(call.details() if call is not None else error)
    if isinstance(error, SSLError) or "handshake failed" in text.lower():
        return TlsHandshakeFailed(mask_secrets(uri), _tls_reason(text))
    return None


def plaintext_to_tls_server(error: BaseException, uri: str) -> bool:
    """True when a `Tls=false` client had every connection closed during set-up, as a
    TLS-only server (EventStoreDB's default) does to a plaintext client."""
    return "tls=false" in uri.lower() and "Socket closed" in str(error)


def _tls_reason(text: str) -> str:
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return (
            "the server's certificate is not trusted: name its CA with tlsCaFile=PATH in"
            " the URI (the emulator's --dev prints it in its ready line)"
        )
    if "WRONG_VERSION_NUMBER" in text:
        return "the server does not speak TLS: use Tls=false in the URI"
    if "empty address list" in text:
        return "the given root certificates are not valid PEM"
    return f"the client and the server could not agree on TLS ({_first_line(text)})"


def _call_of(error: BaseException) -> grpc.Call | None:
    first = error.args[0] if error.args else None
    return first if isinstance(first, grpc.Call) else None


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:200] if lines else ""


def _detail(error: Exception) -> str:
    """The error's gRPC status and details when it wraps a call, else its text."""
    call = _call_of(error)
    if call is not None:
        text = f"{call.code().name}: {call.details()}"
    else:
        text = str(error) or type(error).__name__
    return mask_secrets(text)
