"""The upcaster chain: the one place a stored (type, schema_version, data) is brought current.

Every read path (aggregate loads, projectors, history, parked-event inspection, the CLI)
decodes through `orders.codec.decode`, which calls `upcast`. Pure and deterministic: the
same stored event always gives the same result, and nothing is written anywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from upcasters.errors import UnknownEventVersion, UpcastError
from upcasters.registry import CURRENT_VERSIONS, STEPS, is_current
from upcasters.step import Recorded, SchemaKey, Step

__all__ = ["CURRENT_VERSIONS", "UnknownEventVersion", "UpcastError", "path", "upcast"]


def upcast(
    event_type: str,
    schema_version: int,
    data: dict[str, Any],
    *,
    stream: str,
    revision: int,
    recorded_at: datetime,
) -> tuple[str, dict[str, Any]]:
    """Return (current type, current-version data) for a stored event.

    An event already at its current version is returned as is (the same dict). `stream`,
    `revision` and `recorded_at` give steps what they may need (the order id from the
    stream name, a timestamp from the recorded time) and name the event in errors.
    Raises UnknownEventVersion when no step knows (type, version), and UpcastError when
    a step cannot convert the data; never skips an event.
    """
    if _CURRENT.get(event_type) == schema_version:
        return event_type, data
    steps = _PATHS.get((event_type, schema_version))
    if steps is None:
        raise UnknownEventVersion(event_type, schema_version, stream=stream, revision=revision)
    recorded = Recorded(stream, revision, recorded_at)
    for step in steps:
        try:
            data = step.convert(data, recorded)
        except (ValueError, KeyError, TypeError) as e:
            detail = f"step {step.describe()} failed: {e}"
            raise UpcastError(
                event_type, schema_version, stream=stream, revision=revision, detail=detail
            ) from e
    return steps[-1].target_type, data


def path(
    event_type: str, schema_version: int, *, stream: str = "?", revision: int = -1
) -> tuple[Step, ...]:
    """The steps from (type, version) to its current schema, in order (none when current).

    Raises UnknownEventVersion (naming `stream` and `revision`) when no step knows it.
    """
    if is_current((event_type, schema_version)):
        return ()
    steps = _PATHS.get((event_type, schema_version))
    if steps is None:
        raise UnknownEventVersion(event_type, schema_version, stream=stream, revision=revision)
    return steps


def _walk(source: SchemaKey) -> tuple[Step, ...]:
    steps, key = [], source
    while not is_current(key):
        step = STEPS[key]  # the registry guarantees the chain reaches a current schema
        steps.append(step)
        key = step.target
    return tuple(steps)


_PATHS: dict[SchemaKey, tuple[Step, ...]] = {source: _walk(source) for source in STEPS}
"""Every registered (type, version) -> its steps, computed once at import."""
_CURRENT: dict[str, int] = dict(CURRENT_VERSIONS)  # a plain dict: the lookup on every read
