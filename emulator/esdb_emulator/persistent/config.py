"""The persisted state of groups, in the streams and formats EventStoreDB uses.

- Group configurations: one `$PersistentConfig` event holding every group, appended
  to `$persistentSubscriptionConfig` (`$maxCount` 2) on each create, update or
  delete; the latest event is loaded at start-up. Its JSON is the server's
  `PersistentSubscriptionConfig` (camelCase, default values left out), plus one
  emulator field, `resolvedStartPosition`, recording where "from the end" was
  when the group was created, so a restart before the first checkpoint loses
  nothing.
- Checkpoints: `$SubscriptionCheckpoint` events whose data is the position as a
  JSON string, in `$persistentsubscription-<stream>::<group>-checkpoint`.
- Parked events: `$>` link events in `$persistentsubscription-<stream>::<group>-parked`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import structlog

from esdb_emulator.persistent.settings import (
    ALL,
    FilterSpec,
    FilterTarget,
    GroupSettings,
    StartFrom,
)

CONFIG_STREAM = "$persistentSubscriptionConfig"
CONFIG_EVENT_TYPE = "$PersistentConfig"
CONFIG_MAX_COUNT = 2
CHECKPOINT_EVENT_TYPES = ("$SubscriptionCheckpoint", "SubscriptionCheckpoint")
LINK_EVENT_TYPE = "$>"

_LONG_MIN = -(2**63)
_CONTEXTS: dict[FilterTarget, str] = {"event_type": "eventtype", "stream_name": "streamid"}
_TARGETS: dict[str, FilterTarget] = {"eventtype": "event_type", "streamid": "stream_name"}

_log = structlog.get_logger("esdb_emulator.persistent.config")


class ConfigError(ValueError):
    """The stored configuration cannot be read."""


def checkpoint_stream(key: str) -> str:
    """Where the group "<stream>::<group>" keeps its checkpoints."""
    return f"$persistentsubscription-{key}-checkpoint"


def parked_stream(key: str) -> str:
    """Where the group "<stream>::<group>" parks events."""
    return f"$persistentsubscription-{key}-parked"


def encode_config(groups: Iterable[GroupSettings]) -> bytes:
    """The `$PersistentConfig` event data for `groups`, in creation order."""
    document = {
        "version": "2",
        "updated": datetime.now(UTC).isoformat(),
        "entries": [_entry(settings) for settings in groups],
    }
    return json.dumps(document, indent=2).encode("utf-8")


def decode_config(data: bytes) -> list[GroupSettings]:
    """The groups of a stored configuration; an entry that cannot be used is logged
    and left out, as the server does. Raises ConfigError if the whole is unreadable."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise ConfigError(f"the config data appears to be invalid: {error}") from None
    if not isinstance(document, dict) or document.get("version") is None:
        raise ConfigError("deserialized but no version present, invalid configuration data")
    groups = []
    for entry in document.get("entries") or []:
        try:
            groups.append(_settings(entry, legacy=document["version"] == "1"))
        except (KeyError, TypeError, ValueError) as error:
            _log.error("persistent_config.entry_ignored", entry=entry, error=str(error))
    return groups


def encode_checkpoint(position: str) -> bytes:
    """Checkpoint event data: the position string as a JSON string."""
    return json.dumps(position).encode("utf-8")


def decode_checkpoint(data: bytes) -> str:
    """The position string of checkpoint event data; raises ValueError if malformed."""
    position = json.loads(data)
    if not isinstance(position, str):
        raise ValueError(f"checkpoint data is not a JSON string: {data!r}")
    return position


def _entry(settings: GroupSettings) -> dict[str, Any]:
    start = settings.start_from
    entry: dict[str, Any] = {
        "stream": settings.source,
        "group": settings.group,
        "filter": _filter_dto(settings.filter),
        "resolveLinkTos": settings.resolve_links,
        "extraStatistics": settings.extra_statistics,
        "messageTimeout": settings.message_timeout_ms,
        "startFrom": _LONG_MIN if start.is_all else start.commit,
        "startPosition": str(start),
        "liveBufferSize": settings.live_buffer_size,
        "historyBufferSize": settings.history_buffer_size,
        "maxRetryCount": settings.max_retry_count,
        "readBatchSize": settings.read_batch_size,
        "checkPointAfter": settings.checkpoint_after_ms,
        "minCheckPointCount": settings.min_checkpoint_count,
        "maxCheckPointCount": settings.max_checkpoint_count,
        "maxSubscriberCount": settings.max_subscriber_count,
        "namedConsumerStrategy": settings.consumer_strategy,
        "resolvedStartPosition": settings.first_position if start.is_end else None,
    }
    # Newtonsoft with DefaultValueHandling.Ignore: false, 0 and null are left out.
    return {name: value for name, value in entry.items() if value not in (None, False, 0)}


def _settings(entry: dict[str, Any], *, legacy: bool) -> GroupSettings:
    source = str(entry["stream"])
    is_all = source == ALL
    if "startPosition" in entry:
        start = StartFrom.parse(str(entry["startPosition"]), is_all=is_all)
    else:
        start = StartFrom(is_all, -1 if is_all else int(entry.get("startFrom", 0)))
    strategy = entry.get("namedConsumerStrategy") or ""
    if legacy and not strategy:
        strategy = "RoundRobin" if entry.get("preferRoundRobin") else "DispatchToSingle"
    first = entry.get("resolvedStartPosition")
    return GroupSettings(
        source=source,
        group=str(entry["group"]),
        start_from=start,
        first_position=int(first) if first is not None else first_position_of(start),
        filter=_filter_spec(entry.get("filter")),
        resolve_links=bool(entry.get("resolveLinkTos", False)),
        extra_statistics=bool(entry.get("extraStatistics", False)),
        message_timeout_ms=int(entry.get("messageTimeout", 0)),
        max_retry_count=int(entry.get("maxRetryCount", 0)),
        live_buffer_size=int(entry.get("liveBufferSize", 0)),
        history_buffer_size=int(entry.get("historyBufferSize", 0)),
        read_batch_size=int(entry.get("readBatchSize", 0)),
        checkpoint_after_ms=int(entry.get("checkPointAfter", 0)),
        min_checkpoint_count=int(entry.get("minCheckPointCount", 0)),
        max_checkpoint_count=int(entry.get("maxCheckPointCount", 0)),
        max_subscriber_count=int(entry.get("maxSubscriberCount", 0)),
        consumer_strategy=strategy,
    )


def first_position_of(start: StartFrom) -> int:
    """Where reading begins for a start that is not "the end" (inclusive)."""
    return max(start.commit, 0)


def _filter_dto(spec: FilterSpec | None) -> dict[str, Any] | None:
    if spec is None:
        return None
    is_regex = spec.regex is not None
    return {
        "context": _CONTEXTS[spec.target],
        "type": "regex" if is_regex else "prefix",
        "data": spec.regex if is_regex else ",".join(spec.prefixes),
        "isAllStream": True,
    }


def _filter_spec(dto: dict[str, Any] | None) -> FilterSpec | None:
    if not dto:
        return None
    target = _TARGETS[str(dto["context"]).lower()]
    data = str(dto["data"])
    if str(dto["type"]).lower() == "regex":
        return FilterSpec(target, data)
    prefixes = tuple(part for part in data.split(",") if part)
    return FilterSpec(target, None, prefixes)
