"""esdb-orders: the Order aggregate on EventStoreDB.

Command functions (each returns a `CommandResult`; pass `store=` or rely on the default
built from `ESDB_URI` on first use) and queries over an order's own stream:

    from orders import place_order, record_payment, get_order
"""

from orders.api import (
    CommandResult,
    cancel_order,
    change_shipping_address,
    confirm_delivery,
    execute,
    order_id_for,
    place_order,
    record_payment,
    ship_order,
)
from orders.errors import (
    CommandIdReused,
    ConcurrencyConflict,
    DomainError,
    IdempotencyKeyReused,
    InvalidCommand,
    OrdersError,
    PaymentIdReused,
    StoreUnavailable,
    TransientStoreError,
)
from orders.queries import OrderView, get_order, order_history

__all__ = [
    "CommandIdReused",
    "CommandResult",
    "ConcurrencyConflict",
    "DomainError",
    "IdempotencyKeyReused",
    "InvalidCommand",
    "OrderView",
    "OrdersError",
    "PaymentIdReused",
    "StoreUnavailable",
    "TransientStoreError",
    "cancel_order",
    "change_shipping_address",
    "confirm_delivery",
    "execute",
    "get_order",
    "order_history",
    "order_id_for",
    "place_order",
    "record_payment",
    "ship_order",
]
