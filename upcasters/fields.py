"""Strict readers of legacy fields, shared by the steps.

Every reader raises StepError naming the field; none guesses. Float money becomes integer
cents through its shortest decimal text (`Decimal(str(x))`), rounded half to even, with a
fixed decimal context, so the same stored bytes always give the same cents.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from datetime import UTC
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from upcasters.errors import StepError
from upcasters.step import Recorded

ORDER_STREAM_PREFIX = "order-"
LEGACY_CURRENCY = "USD"
"""The legacy TypeScript service and our first versions priced everything in US dollars."""

_MAX_CENTS = 10**15  # far above any order; keeps the decimal arithmetic exact (34 digits)
_CONTEXT = Context(prec=34, rounding=ROUND_HALF_EVEN)
_HUNDRED = Decimal(100)
_ONE = Decimal(1)


def order_id_of(recorded: Recorded) -> str:
    """The order id in the stream name `order-{order_id}`."""
    stream = recorded.stream
    order_id = stream.removeprefix(ORDER_STREAM_PREFIX)
    if order_id == stream or not order_id:
        raise StepError(f"stream {stream!r} is not an order stream ({ORDER_STREAM_PREFIX}<id>)")
    return order_id


def recorded_time(recorded: Recorded) -> str:
    """The recorded time as ISO 8601 UTC text (the form current events store)."""
    moment = recorded.recorded_at
    if moment.utcoffset() is None:
        raise StepError(f"recorded time {moment.isoformat()} has no timezone")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def cents(value: object, field: str) -> int:
    """A legacy float (or integer) amount of dollars as integer cents, half to even."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StepError(f"{field} must be a number, not {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise StepError(f"{field} must be finite, not {value!r}")
    scaled = _CONTEXT.multiply(Decimal(str(value)), _HUNDRED)
    if scaled < 0:
        raise StepError(f"{field} {value!r} is negative")
    if scaled >= _MAX_CENTS:
        raise StepError(f"{field} {value!r} is out of range for an amount")
    return int(scaled.quantize(_ONE, rounding=ROUND_HALF_EVEN, context=_CONTEXT))


def whole_cents(value: object, field: str) -> int:
    """An amount already stored as integer cents (no float, no bool, not negative)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise StepError(f"{field} must be integer cents, not {value!r}")
    if value < 0:
        raise StepError(f"{field} {value} is negative")
    return value


def text(data: Mapping[str, Any], field: str, *, at: str = "") -> str:
    """A required non-empty string field (`at` prefixes the field's name in errors)."""
    value = required(data, field, at=at)
    if not isinstance(value, str) or not value:
        raise StepError(f"{at}{field} must be a non-empty string, not {value!r}")
    return value


def array(data: Mapping[str, Any], field: str) -> list[Any]:
    """A required JSON-array field."""
    value = required(data, field)
    if not isinstance(value, list):
        raise StepError(f"{field} must be a JSON array, not {type(value).__name__}")
    return value


def required(data: Mapping[str, Any], field: str, *, at: str = "") -> Any:
    """The value of a field that must be present."""
    if field not in data:
        raise StepError(f"missing field {at + field!r}")
    return data[field]


def exact_fields(data: Mapping[str, Any], allowed: Collection[str], what: str) -> None:
    """Refuse fields a step does not know: converting them away would lose data silently."""
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise StepError(f"{what} has unexpected field(s) {unknown}")


def record(data: object, what: str) -> Mapping[str, Any]:
    """`data` as a JSON object, or a StepError naming `what` it should have been."""
    if not isinstance(data, Mapping):
        raise StepError(f"{what} must be a JSON object, not {type(data).__name__}")
    return data
