"""Strict readers of legacy fields, shared by the steps.

Every reader raises StepError naming the field; none guesses. Float money becomes integer
cents through its shortest decimal text (`Decimal(repr(x))`, the text JavaScript wrote),
never float arithmetic, rounded half to even in a fixed decimal context, so the same
stored bytes always give the same cents.

These run for every legacy event on every read path, so each checks the expected case
first with exact type tests and builds its error message only when the check fails.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any, cast

from upcasters.errors import StepError
from upcasters.step import Recorded

ORDER_STREAM_PREFIX = "order-"
LEGACY_CURRENCY = "USD"
"""The legacy TypeScript service and our first versions priced everything in US dollars."""

_MAX_DOLLARS = 10**13  # far above any order; keeps the decimal arithmetic exact (34 digits)
_CONTEXT = Context(prec=34, rounding=ROUND_HALF_EVEN)
_NUMBERS = (int, float)


def order_id_of(recorded: Recorded) -> str:
    """The order id in the stream name `order-{order_id}`."""
    stream = recorded.stream
    if stream.startswith(ORDER_STREAM_PREFIX) and len(stream) > len(ORDER_STREAM_PREFIX):
        return stream[len(ORDER_STREAM_PREFIX) :]
    raise StepError(f"stream {stream!r} is not an order stream ({ORDER_STREAM_PREFIX}<id>)")


def recorded_time(recorded: Recorded) -> datetime:
    """The recorded time in UTC (a moment, not text: the model would only parse it back)."""
    moment = recorded.recorded_at
    if moment.tzinfo is UTC:
        return moment
    if moment.utcoffset() is None:
        raise StepError(f"recorded time {moment.isoformat()} has no timezone")
    return moment.astimezone(UTC)


def cents(value: object, field: str) -> int:
    """A legacy float (or integer) amount of dollars as integer cents, half to even."""
    if type(value) not in _NUMBERS:  # an exact check: bool (an int subclass) is no amount
        raise StepError(f"{field} must be a number, not {value!r}")
    amount = cast(float, value)
    if not 0 <= amount < _MAX_DOLLARS:  # NaN fails every comparison
        raise StepError(_out_of_range(amount, field))
    exact = Decimal(repr(amount)).scaleb(2, _CONTEXT)
    return int(exact.to_integral_value(ROUND_HALF_EVEN, _CONTEXT))


def whole_cents(value: object, field: str) -> int:
    """An amount already stored as integer cents (no float, no bool, not negative)."""
    if type(value) is not int:
        raise StepError(f"{field} must be integer cents, not {value!r}")
    if value < 0:
        raise StepError(f"{field} {value} is negative")
    return value


def text(data: Mapping[str, Any], field: str, *, at: str = "") -> str:
    """A required non-empty string field (`at` prefixes the field's name in errors)."""
    value = required(data, field, at=at)
    if type(value) is not str or not value:
        raise StepError(f"{at}{field} must be a non-empty string, not {value!r}")
    return value


def array(data: Mapping[str, Any], field: str) -> list[Any]:
    """A required JSON-array field."""
    value = required(data, field)
    if type(value) is not list:
        raise StepError(f"{field} must be a JSON array, not {type(value).__name__}")
    return value


def required(data: Mapping[str, Any], field: str, *, at: str = "") -> Any:
    """The value of a field that must be present."""
    try:
        return data[field]
    except KeyError:
        raise StepError(f"missing field {at + field!r}") from None


def exact_fields(data: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    """Refuse fields a step does not know: converting them away would lose data silently."""
    if not data.keys() <= allowed:
        raise StepError(f"{what} has unexpected field(s) {sorted(data.keys() - allowed)}")


def record(data: object, what: str) -> dict[str, Any]:
    """`data` as a JSON object, or a StepError naming `what` it should have been."""
    if type(data) is not dict:  # what json.loads gives for an object
        raise StepError(f"{what} must be a JSON object, not {type(data).__name__}")
    return cast(dict[str, Any], data)


def _out_of_range(value: float, field: str) -> str:
    if not math.isfinite(value):
        return f"{field} must be finite, not {value!r}"
    if value < 0:
        return f"{field} {value!r} is negative"
    return f"{field} {value!r} is out of range for an amount"
