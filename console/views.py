"""What the pages show, built from stored events: pure functions, no I/O.

An event is shown as stored (pretty JSON, or its text when it is not JSON) and, for
order events, as the upcaster chain makes it (`orders.codec.decode`, the one decoding
path every reader uses). An order's state at any point is the real decider's fold of
its decoded events up to that point.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orders.codec import RecordedOrderEvent, decode
from orders.decider import NotPlaced, fold
from orders.errors import EventDecodeError
from orders.ports import StoredEvent
from orders.queries import OrderView
from orders.streams import is_order_stream, order_id_of


@dataclass(frozen=True, slots=True)
class EventView:
    """One event as a page shows it.

    `legacy` is True when the stored (type, schema version) is not the current one, so the
    stored and the upcast payloads differ; `upcast` is the current-schema payload (None
    when the event is not an order event, or does not decode: then `decode_error`).
    """

    stream: str
    revision: int
    commit_position: int | None
    type: str
    recorded_at: str | None
    event_id: str
    data: str
    metadata: str
    correlation_id: str | None
    causation_id: str | None
    schema_version: int | None
    legacy: bool
    upcast_type: str | None
    upcast: str | None
    decode_error: str | None
    is_order: bool
    size: int

    @property
    def order_id(self) -> str | None:
        """The order id of an `order-{id}` stream."""
        return order_id_of(self.stream)


def event_view(stored: StoredEvent) -> EventView:
    """The view of a stored event; never raises on bad data (it is shown as it is)."""
    meta = _object(stored.metadata)
    is_order = is_order_stream(stored.stream)
    version = meta.get("schema_version", 1 if is_order else None)
    upcast_type = upcast = error = None
    legacy = False
    if is_order:
        try:
            recorded = decode(stored)
        except EventDecodeError as e:
            error = str(e)
        except Exception as e:  # noqa: BLE001  shown as the workers would report it
            error = f"{type(e).__name__}: {e}"
        else:
            event = recorded.event
            upcast_type = event.event_type
            upcast = pretty_json(event.model_dump(mode="json"))
            legacy = (stored.type, recorded.stored_version) != (
                event.event_type,
                event.schema_version,
            )
    return EventView(
        stream=stored.stream,
        revision=stored.revision,
        commit_position=stored.commit_position,
        type=stored.type,
        recorded_at=iso(stored.recorded_at),
        event_id=str(stored.id),
        data=pretty_bytes(stored.data),
        metadata=pretty_bytes(stored.metadata) if stored.metadata.strip() else "",
        correlation_id=_text(meta.get("$correlationId") or meta.get("correlationId")),
        causation_id=_text(meta.get("$causationId") or meta.get("causationId")),
        schema_version=version if isinstance(version, int) else None,
        legacy=legacy,
        upcast_type=upcast_type,
        upcast=upcast,
        decode_error=error,
        is_order=is_order,
        size=len(stored.data),
    )


@dataclass(frozen=True, slots=True)
class OrderPoint:
    """An order folded up to one point: its state (None before it was placed), the
    revision of the last event folded, and the first event that did not decode."""

    state: dict[str, Any] | None
    revision: int | None
    decode_error: str | None
    events_folded: int


def fold_order(history: Sequence[StoredEvent], upto: int) -> OrderPoint:
    """Fold `history` (revision order) through the decider up to revision `upto`.

    Decoding stops at the first event that does not decode (its error is returned), as
    the write side would refuse to load such an order.
    """
    decoded: list[RecordedOrderEvent] = []
    error = None
    for stored in history:
        if stored.revision > upto:
            break
        try:
            decoded.append(decode(stored))
        except EventDecodeError as e:
            error = str(e)
            break
    state = fold(r.event for r in decoded)
    if isinstance(state, NotPlaced) or not decoded:
        return OrderPoint(None, decoded[-1].revision if decoded else None, error, len(decoded))
    view = OrderView(state=state, revision=decoded[-1].revision)
    described = view.to_dict()
    described.pop("as_of", None)
    return OrderPoint(described, decoded[-1].revision, error, len(decoded))


def revision_at(history: Sequence[StoredEvent], moment: datetime) -> int | None:
    """The last revision whose event occurred (metadata `occurred_at`, else recorded) at
    or before `moment`; None if the first event is later."""
    found = None
    for stored in history:
        occurred = _occurred(stored)
        if occurred is not None and occurred > moment:
            break
        found = stored.revision
    return found


@dataclass(slots=True)
class ChainNode:
    """A node of a causation tree: an event, or a command known only by id (`event` None)."""

    key: str
    event: EventView | None
    children: list[ChainNode] = field(default_factory=list)


def causation_tree(events: Sequence[EventView]) -> list[ChainNode]:
    """Events grouped by causation: an event whose `$causationId` is another event's id
    hangs under it; the others hang under their causation id (the command that caused
    them), in log order."""
    nodes = {e.event_id: ChainNode(e.event_id, e) for e in events}
    roots: list[ChainNode] = []
    commands: dict[str, ChainNode] = {}
    for view in events:
        node = nodes[view.event_id]
        cause = view.causation_id
        if cause and cause in nodes and cause != view.event_id:
            nodes[cause].children.append(node)
            continue
        key = cause or "(no causation id)"
        if key not in commands:
            commands[key] = ChainNode(key, None)
            roots.append(commands[key])
        commands[key].children.append(node)
    return roots


def pretty_json(value: object) -> str:
    """Indented, key-order-preserving JSON."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def pretty_bytes(raw: bytes) -> str:
    """Indented JSON when `raw` is JSON, else its text (undecodable bytes replaced)."""
    try:
        return pretty_json(json.loads(raw))
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, to the millisecond."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_position(text: str) -> int | None:
    """The commit position in a subscription's `C:123/P:123` text (None when empty)."""
    head = text.split("/", 1)[0].strip()
    if head.startswith("C:"):
        head = head[2:]
    return int(head) if head.isdigit() else None


def _occurred(stored: StoredEvent) -> datetime | None:
    raw = _object(stored.metadata).get("occurred_at")
    if isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            moment = None
        if moment is not None:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return stored.recorded_at


def _object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
