"""The exceptions `orders` raises; every one derives from `OrdersError`.

OrdersError
├── InvalidCommand (also ValueError)  bad input; names the offending `field`
├── InvalidSettings                   bad configuration (e.g. ESDB_URI), password masked
├── DomainError                       `decide` refused; carries order_id, status, rule
│   ├── OrderNotFound                 rule "order-must-exist"
│   ├── OrderAlreadyExists            rule "order-must-not-exist"
│   ├── WrongStatus                   rule "<command>-requires-<statuses>"
│   ├── CurrencyMismatch              rule "payment-currency-must-match-order"
│   ├── PaymentExceedsOutstanding     rule "payment-must-not-exceed-outstanding"
│   └── IdempotencyKeyReused          a key already names a different request (CLI exit 5)
│       ├── CommandIdReused           rule "command-id-must-name-one-command"
│       └── PaymentIdReused           rule "payment-id-must-name-one-payment"
└── StoreError                        the event store failed; carries `stream`
    ├── ConcurrencyConflict           the stream moved past the expected revision
    ├── TransientStoreError           worth retrying: timeout, leader change, ...
    │   └── StoreUnavailable          the server at `uri` cannot be reached
    ├── EventDecodeError              a stored event cannot be decoded or upcast
    ├── AuthenticationFailed          the server refused the URI's credentials
    └── TlsHandshakeFailed            client and server could not set up TLS
"""

from __future__ import annotations


class OrdersError(Exception):
    """Root of every error raised by the `orders` package."""


class InvalidCommand(OrdersError, ValueError):
    """A command's input is invalid; `field` names what was wrong (dotted path)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"invalid {field}: {reason}")


class InvalidSettings(OrdersError):
    """The configuration (environment) is unusable; messages never contain secrets."""


class DomainError(OrdersError):
    """A command was refused by a business rule, named by `rule`."""

    rule: str = "domain-rule"

    def __init__(self, order_id: str, status: str | None, detail: str) -> None:
        self.order_id = order_id
        self.status = status
        self.detail = detail
        state = status if status is not None else "not placed"
        super().__init__(f"rejected by rule {self.rule!r}: {detail} (order {order_id}, {state})")


class OrderNotFound(DomainError):
    """The order has not been placed (or did not exist at the requested point)."""

    rule = "order-must-exist"


class OrderAlreadyExists(DomainError):
    """PlaceOrder for an order id whose stream already exists."""

    rule = "order-must-not-exist"


class WrongStatus(DomainError):
    """The command is not allowed in the order's current status."""

    def __init__(self, order_id: str, status: str, command: str, allowed: tuple[str, ...]) -> None:
        self.command = command
        self.allowed = allowed
        self.rule = f"{_kebab(command)}-requires-{'-or-'.join(allowed).lower()}"
        super().__init__(
            order_id,
            status,
            f"{command} is allowed only when {' or '.join(allowed)}, not {status}",
        )


class CurrencyMismatch(DomainError):
    """A payment's currency differs from the order's."""

    rule = "payment-currency-must-match-order"


class PaymentExceedsOutstanding(DomainError):
    """A payment's amount is larger than what is still owed."""

    rule = "payment-must-not-exceed-outstanding"

    def __init__(self, order_id: str, status: str, amount: int, outstanding: int) -> None:
        self.amount = amount
        self.outstanding = outstanding
        super().__init__(order_id, status, f"amount {amount} exceeds outstanding {outstanding}")


class IdempotencyKeyReused(DomainError):
    """An idempotency key already names a different request; nothing was written.

    `key` is the key as the caller gave it and `mismatch` says how the requests differ.
    A true repeat (same kind, order and arguments) is not an error but "already applied".
    """

    rule = "idempotency-key-must-name-one-request"
    key_kind = "idempotency key"

    def __init__(self, order_id: str, status: str | None, key: str, mismatch: str) -> None:
        self.key = key
        self.mismatch = mismatch
        super().__init__(
            order_id,
            status,
            f"{self.key_kind} {key!r} already names a different request: {mismatch};"
            f" use a new {self.key_kind} for a new request",
        )


class CommandIdReused(IdempotencyKeyReused):
    """A command id was already used by a different command (kind or arguments)."""

    rule = "command-id-must-name-one-command"
    key_kind = "command id"


class PaymentIdReused(IdempotencyKeyReused):
    """A payment id is already recorded with a different amount or currency."""

    rule = "payment-id-must-name-one-payment"
    key_kind = "payment id"


class StoreError(OrdersError):
    """The event store failed for `stream` (None when not stream-specific)."""

    def __init__(self, message: str, *, stream: str | None = None) -> None:
        self.stream = stream
        super().__init__(message)


class ConcurrencyConflict(StoreError):
    """Appending at `expected_revision` failed: someone else wrote to the stream."""

    def __init__(self, stream: str, expected_revision: int | None, detail: str) -> None:
        self.expected_revision = expected_revision
        expected = "no stream" if expected_revision is None else expected_revision
        super().__init__(
            f"concurrency conflict on {stream} (expected {expected}): {detail}",
            stream=stream,
        )


class TransientStoreError(StoreError):
    """A failure that may succeed on retry (deadline, server busy, leader change)."""


class StoreUnavailable(TransientStoreError):
    """The event store at `uri` (password masked) cannot be reached."""

    def __init__(self, uri: str, detail: str, *, stream: str | None = None) -> None:
        self.uri = uri
        super().__init__(f"event store unreachable at {uri}: {detail}", stream=stream)


class EventDecodeError(StoreError):
    """A stored event cannot be decoded; names stream, revision, type and version."""

    def __init__(
        self, stream: str, revision: int, event_type: str, version: int | None, detail: str
    ) -> None:
        self.revision = revision
        self.event_type = event_type
        self.version = version
        super().__init__(
            f"cannot decode {stream}@{revision} ({event_type} v{version or '?'}): {detail}",
            stream=stream,
        )


class AuthenticationFailed(StoreError):
    """The server at `uri` (password masked) refused `user`'s credentials; not retried."""

    def __init__(self, uri: str, user: str | None) -> None:
        self.uri = uri
        self.user = user
        who = f"user {user!r}" if user else "the client (no user in the URI)"
        super().__init__(
            f"authentication failed at {uri}: the server refused the credentials of {who};"
            " check the user:password@ part of ESDB_URI"
        )


class TlsHandshakeFailed(StoreError):
    """TLS could not be set up with the server at `uri`; `reason` says why; not retried."""

    def __init__(self, uri: str, reason: str) -> None:
        self.uri = uri
        self.reason = reason
        super().__init__(f"TLS handshake failed with {uri}: {reason}")


def _kebab(name: str) -> str:
    """PlaceOrder -> place-order."""
    return "".join(f"-{c.lower()}" if c.isupper() else c for c in name).lstrip("-")
