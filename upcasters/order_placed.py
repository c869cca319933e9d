"""Steps to OrderPlaced v3: from the TypeScript service's OrderPlacedEvent and from v2.

OrderPlacedEvent v1 `{"customerId", "items": [{"productId", "quantity"}], "totalAmount"}`
-> OrderPlaced v2: the order id from the stream name, lines with `sku` = productId and an
unknown (null) unit price, currency USD, the float total as integer cents.
OrderPlaced v2 -> v3: no shipping address captured (null), placed at the recorded time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from upcasters.errors import StepError
from upcasters.fields import (
    LEGACY_CURRENCY,
    array,
    cents,
    exact_fields,
    order_id_of,
    record,
    recorded_time,
    required,
    text,
)
from upcasters.step import Recorded, Step

_TYPESCRIPT_FIELDS = frozenset(("customerId", "items", "totalAmount"))
_TYPESCRIPT_ITEM_FIELDS = frozenset(("productId", "quantity"))
_V2_FIELDS = frozenset(("order_id", "customer_id", "lines", "currency", "total"))


def typescript_v1_to_v2(data: Mapping[str, Any], recorded: Recorded) -> dict[str, Any]:
    """OrderPlacedEvent v1 (TypeScript service) -> OrderPlaced v2."""
    exact_fields(data, _TYPESCRIPT_FIELDS, "OrderPlacedEvent")
    items = array(data, "items")
    return {
        "order_id": order_id_of(recorded),
        "customer_id": text(data, "customerId"),
        "lines": [_line(item, index) for index, item in enumerate(items)],
        "currency": LEGACY_CURRENCY,
        "total": cents(required(data, "totalAmount"), "totalAmount"),
    }


def v2_to_v3(data: Mapping[str, Any], recorded: Recorded) -> dict[str, Any]:
    """OrderPlaced v2 -> v3: shipping address not captured, placed at the recorded time."""
    exact_fields(data, _V2_FIELDS, "OrderPlaced v2")
    return {**data, "shipping_address": None, "placed_at": recorded_time(recorded)}


STEPS = (
    Step("OrderPlacedEvent", 1, "OrderPlaced", 2, typescript_v1_to_v2),
    Step("OrderPlaced", 2, "OrderPlaced", 3, v2_to_v3),
)


def _line(item: object, index: int) -> dict[str, Any]:
    if type(item) is dict and item.keys() == _TYPESCRIPT_ITEM_FIELDS:
        sku = item["productId"]
        if type(sku) is str and sku:
            # the legacy service did not store prices: unknown, never invented
            return {"sku": sku, "quantity": item["quantity"], "unit_price": None}
    raise _not_an_item(item, index)


def _not_an_item(item: object, index: int) -> StepError:
    """The precise complaint about an item the fast check in `_line` refused."""
    what = f"items[{index}]"
    try:
        fields = record(item, what)
        exact_fields(fields, _TYPESCRIPT_ITEM_FIELDS, what)
        text(fields, "productId", at=f"{what}.")
        required(fields, "quantity", at=f"{what}.")
    except StepError as e:
        return e
    return StepError(f"{what} is not an item: {item!r}")
