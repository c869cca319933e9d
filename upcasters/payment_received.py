"""Steps to PaymentReceived v2: from the TypeScript service's OrderPaidEvent and from v1.

OrderPaidEvent v1 `{"transactionId", "amount"}` -> PaymentReceived v2: the order id from
the stream name, payment id = transactionId, the float amount as integer cents, currency
USD, received at the recorded time. (The legacy service called a payment "paid"; whether
the order is paid in full is the decider's rule: payments covering the total.)
PaymentReceived v1 `{"order_id", "transaction_id", "amount_cents"}` -> v2: fields
renamed, currency USD, received at the recorded time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from upcasters.fields import (
    LEGACY_CURRENCY,
    cents,
    exact_fields,
    order_id_of,
    recorded_time,
    required,
    text,
    whole_cents,
)
from upcasters.step import Recorded, Step

_TYPESCRIPT_FIELDS = frozenset(("transactionId", "amount"))
_V1_FIELDS = frozenset(("order_id", "transaction_id", "amount_cents"))


def typescript_order_paid_v1_to_v2(data: Mapping[str, Any], recorded: Recorded) -> dict[str, Any]:
    """OrderPaidEvent v1 (TypeScript service) -> PaymentReceived v2."""
    exact_fields(data, _TYPESCRIPT_FIELDS, "OrderPaidEvent")
    return {
        "order_id": order_id_of(recorded),
        "payment_id": text(data, "transactionId"),
        "amount": cents(required(data, "amount"), "amount"),
        "currency": LEGACY_CURRENCY,
        "received_at": recorded_time(recorded),
    }


def v1_to_v2(data: Mapping[str, Any], recorded: Recorded) -> dict[str, Any]:
    """PaymentReceived v1 -> v2: renamed fields, currency USD, the recorded time."""
    exact_fields(data, _V1_FIELDS, "PaymentReceived v1")
    return {
        "order_id": text(data, "order_id"),
        "payment_id": text(data, "transaction_id"),
        "amount": whole_cents(required(data, "amount_cents"), "amount_cents"),
        "currency": LEGACY_CURRENCY,
        "received_at": recorded_time(recorded),
    }


STEPS = (
    Step("OrderPaidEvent", 1, "PaymentReceived", 2, typescript_order_paid_v1_to_v2),
    Step("PaymentReceived", 1, "PaymentReceived", 2, v1_to_v2),
)
