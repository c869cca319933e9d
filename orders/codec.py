"""The JSON codec: order events <-> stored events, with EventStoreDB-friendly metadata.

Writing stamps each event with `schema_version`, `$correlationId`, `$causationId`,
`command_id`, `actor`, `occurred_at` and `command_hash` (the fingerprint of the command
that decided it, see `orders.idempotency`), and an id derived from the command id.
Reading goes through `decode` only, the one decoding path: the upcaster chain brings
older schemas current. At the current schema the chain is the identity, so such data is
validated straight from its JSON bytes (one pass); whatever that refuses takes the full
path (parse, upcast, validate), so results and errors are the same either way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

from pydantic_core import from_json

from orders.errors import EventDecodeError
from orders.events import EVENT_TYPES, OrderEvent
from orders.ports import EncodedEvent, StoredEvent
from upcasters import CURRENT_VERSIONS, upcast

_CURRENT: dict[str, int] = dict(CURRENT_VERSIONS)  # a plain dict: looked up on every read


@dataclass(frozen=True, slots=True)
class CommandContext:
    """Who issued a command, why, and when: the source of every event's metadata.

    `command_hash` is the command's fingerprint (None: written without one)."""

    command_id: UUID
    correlation_id: str
    causation_id: str
    actor: str
    occurred_at: datetime
    command_hash: str | None = None


@dataclass(frozen=True, slots=True)
class EventMetadata:
    """Metadata read back from a stored event; legacy events may lack all but the version."""

    schema_version: int
    correlation_id: str | None = None
    causation_id: str | None = None
    command_id: str | None = None
    actor: str | None = None
    occurred_at: datetime | None = None
    command_hash: str | None = None


@dataclass(frozen=True, slots=True)
class RecordedOrderEvent:
    """A decoded, upcast event with where and when it was recorded."""

    event: OrderEvent
    metadata: EventMetadata
    event_id: UUID
    stream: str
    revision: int
    commit_position: int | None
    recorded_at: datetime | None
    stored_type: str
    stored_version: int

    @property
    def occurred_at(self) -> datetime | None:
        """When the fact happened: the command's time, else the recorded time."""
        return self.metadata.occurred_at or self.recorded_at


def event_id(command_id: UUID, index: int) -> UUID:
    """The id of the `index`-th event a command produces; stable across retries."""
    return uuid5(command_id, str(index))


def metadata_of(event: OrderEvent, context: CommandContext) -> EventMetadata:
    """The metadata written with `event` when produced by the command in `context`."""
    return EventMetadata(
        schema_version=event.schema_version,
        correlation_id=context.correlation_id,
        causation_id=context.causation_id,
        command_id=str(context.command_id),
        actor=context.actor,
        occurred_at=context.occurred_at,
        command_hash=context.command_hash,
    )


def encode(event: OrderEvent, context: CommandContext, index: int) -> EncodedEvent:
    """The stored form of the `index`-th event produced by the command in `context`.

    The metadata is what `metadata_of` describes, written straight from the context (no
    model built and read back: this runs for every event of every command)."""
    metadata: dict[str, Any] = {
        "schema_version": event.schema_version,
        "$correlationId": context.correlation_id,
        "$causationId": context.causation_id,
        "command_id": str(context.command_id),
        "actor": context.actor,
        "occurred_at": _iso(context.occurred_at),
    }
    if context.command_hash is not None:
        metadata["command_hash"] = context.command_hash
    return EncodedEvent(
        id=event_id(context.command_id, index),
        type=event.event_type,
        data=event.model_dump_json().encode(),  # compact UTF-8 JSON, as _dumps writes
        metadata=_dumps(metadata),
    )


def decode(stored: StoredEvent) -> RecordedOrderEvent:
    """Decode and upcast a stored event; raises EventDecodeError naming what failed."""
    raw_meta = _load_metadata(stored)
    version = raw_meta.get("schema_version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise _error(stored, None, f"schema_version {version!r} is not an integer")
    metadata = _metadata(raw_meta, version, stored)
    event = _current(stored, version)
    if event is None:  # an older schema, or data the one-pass validation refused
        event = _upcast(stored, version, metadata)
    elif stored.recorded_at is None and metadata.occurred_at is None:
        _missing_time(stored, version)  # raises, as the full path does
    return RecordedOrderEvent(
        event=event,
        metadata=metadata,
        event_id=stored.id,
        stream=stored.stream,
        revision=stored.revision,
        commit_position=stored.commit_position,
        recorded_at=stored.recorded_at,
        stored_type=stored.type,
        stored_version=version,
    )


def _current(stored: StoredEvent, version: int) -> OrderEvent | None:
    """The event validated straight from its JSON bytes when it is at its current schema
    (where the chain is the identity); None to take the full path."""
    if _CURRENT.get(stored.type) != version:
        return None
    model = EVENT_TYPES.get(stored.type)
    if model is None:
        return None
    try:
        return model.model_validate_json(stored.data)
    except ValueError:  # not JSON, not an object, invalid: the full path says which
        return None


def _upcast(stored: StoredEvent, version: int, metadata: EventMetadata) -> OrderEvent:
    """Parse the data, bring it to its current schema through the chain and validate it."""
    data = _load_object(stored, stored.data, "data", version)
    recorded_at = stored.recorded_at or metadata.occurred_at or _missing_time(stored, version)
    try:
        event_type, current = upcast(
            stored.type,
            version,
            data,
            stream=stored.stream,
            revision=stored.revision,
            recorded_at=recorded_at,
        )
    except (ValueError, KeyError, TypeError) as e:
        raise _error(stored, version, str(e)) from e
    return _model(stored, version, event_type, current)


def _model(stored: StoredEvent, version: int, event_type: str, data: dict[str, Any]) -> OrderEvent:
    model = EVENT_TYPES.get(event_type)
    if model is None:
        raise _error(stored, version, f"upcast to unknown type {event_type!r}")
    try:
        return model.model_validate(data)
    except ValueError as e:  # pydantic's ValidationError is a ValueError
        raise _error(stored, version, f"does not match {event_type}: {e}") from e


def _metadata(raw: dict[str, Any], version: int, stored: StoredEvent) -> EventMetadata:
    occurred = raw.get("occurred_at")
    try:
        occurred_at = _parse_time(occurred) if isinstance(occurred, str) else None
    except ValueError as e:
        raise _error(stored, version, f"bad occurred_at {occurred!r}") from e
    return EventMetadata(
        schema_version=version,
        correlation_id=_text(raw.get("$correlationId")),
        causation_id=_text(raw.get("$causationId")),
        command_id=_text(raw.get("command_id")),
        actor=_text(raw.get("actor")),
        occurred_at=occurred_at,
        command_hash=_text(raw.get("command_hash")),
    )


def _load_metadata(stored: StoredEvent) -> dict[str, Any]:
    if not stored.metadata.strip():
        return {}  # events written without metadata (legacy) are schema_version 1
    return _load_object(stored, stored.metadata, "metadata", None)


def _load_object(stored: StoredEvent, raw: bytes, what: str, version: int | None) -> dict[str, Any]:
    try:
        value = from_json(raw)  # several times cheaper; the same values where it succeeds
    except ValueError:
        try:  # stdlib json decides (BOM, UTF-16, ...) and words the error
            value = json.loads(raw)
        except ValueError as e:
            raise _error(stored, version, f"{what} is not JSON: {e}") from e
    if not isinstance(value, dict):
        raise _error(stored, version, f"{what} is not a JSON object")
    return value


def _missing_time(stored: StoredEvent, version: int) -> datetime:
    raise _error(stored, version, "neither a recorded time nor occurred_at is known")


def _error(stored: StoredEvent, version: int | None, detail: str) -> EventDecodeError:
    return EventDecodeError(stored.stream, stored.revision, stored.type, version, detail)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _dumps(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
