"""Specs for `orders.idempotency`: when a repeated command id is the same request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import NAMESPACE_URL, uuid5

import pytest

from orders.commands import CancelOrder, ConfirmDelivery, OrderCommand, RecordPayment, ShipOrder
from orders.decider import decide, fold
from orders.events import OrderEvent, OrderPlaced
from orders.idempotency import (
    CLAIM_TYPE,
    claim_event,
    claim_mismatch,
    fingerprint,
    request_mismatch,
)
from orders.ports import EncodedEvent, StoredEvent
from orders.values import OrderLine

OID = "5f0c1b8e-3d7a-4a57-9a51-6f1f2b0c9e11"
OTHER = "0d9b7c1e-6a52-4f83-8e24-1b3c5d7e9f10"
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
PLACED = OrderPlaced(
    order_id=OID,
    customer_id="c-1",
    lines=(OrderLine(sku="a", quantity=1, unit_price=700),),
    currency="EUR",
    total=700,
    shipping_address=None,
    placed_at=T0,
)


def pay(amount: int = 700, pid: str = "q1", order_id: str = OID, **kw: object) -> RecordPayment:
    fields: dict[str, object] = {
        "order_id": order_id,
        "payment_id": pid,
        "amount": amount,
        "currency": "EUR",
        "at": T0,
    }
    return RecordPayment.model_validate(fields | kw)


def first_event(command: OrderCommand, *history: OrderEvent) -> OrderEvent:
    """The first event `command` appends after `history` (what a later call finds)."""
    return decide(command, fold(history))[0]


class TestFingerprint:
    def test_a_retry_at_another_time_is_the_same_request(self) -> None:
        later = pay(at=T0 + timedelta(hours=3))
        assert fingerprint(pay()) == fingerprint(later)
        assert fingerprint(pay()).startswith("sha256:")

    def test_normalised_input_is_the_same_request(self) -> None:
        assert fingerprint(pay()) == fingerprint(pay(order_id=OID.upper(), currency="eur"))

    @pytest.mark.parametrize(
        "other",
        [
            pay(amount=300),
            pay(pid="q2"),
            pay(currency="USD"),
            pay(order_id=OTHER),
            ConfirmDelivery(order_id=OID, at=T0),
        ],
        ids=["amount", "payment id", "currency", "order", "kind"],
    )
    def test_any_other_argument_kind_or_order_is_another_request(self, other: OrderCommand) -> None:
        assert fingerprint(other) != fingerprint(pay())


class TestRequestMismatch:
    def test_a_true_repeat_is_the_same_request(self) -> None:
        first = first_event(pay(), PLACED)
        assert request_mismatch(pay(at=T0 + timedelta(days=1)), first, fingerprint(pay())) is None

    def test_a_different_kind_is_named(self) -> None:
        first = first_event(pay(), PLACED)
        ship = ShipOrder(order_id=OID, carrier="DHL", tracking_number="Z9", at=T0)
        mismatch = request_mismatch(ship, first, fingerprint(pay()))
        assert (
            mismatch == "it was RecordPayment (which appended PaymentReceived), this is ShipOrder"
        )

    def test_different_arguments_are_named_with_both_values(self) -> None:
        first = first_event(pay(amount=100), PLACED)
        mismatch = request_mismatch(pay(amount=300), first, fingerprint(pay(amount=100)))
        assert mismatch == "same RecordPayment, different amount 100 recorded, 300 given"

    def test_several_differences_are_all_named(self) -> None:
        first = first_event(pay(amount=100), PLACED)
        mismatch = request_mismatch(pay(300, "q2"), first, fingerprint(pay(amount=100)))
        assert mismatch is not None
        assert 'payment_id "q1" recorded, "q2" given' in mismatch
        assert "amount 100 recorded, 300 given" in mismatch

    def test_events_stored_without_a_fingerprint_match_by_kind_only(self) -> None:
        first = first_event(pay(amount=100), PLACED)
        assert request_mismatch(pay(amount=300), first, None) is None  # cannot tell: applied
        cancel = CancelOrder(order_id=OID, reason="r", at=T0)
        assert request_mismatch(cancel, first, None) == (
            "it was RecordPayment (which appended PaymentReceived), this is CancelOrder"
        )


def stored(claim: EncodedEvent, data: bytes | None = None) -> StoredEvent:
    """`claim` as read back from its stream."""
    return StoredEvent(
        id=claim.id,
        stream="idempotency-x",
        revision=0,
        type=claim.type,
        data=claim.data if data is None else data,
        metadata=claim.metadata,
        content_type="application/json",
        commit_position=1,
        recorded_at=T0,
    )


class TestClaims:
    KEY = uuid5(NAMESPACE_URL, "job-42")

    def test_a_repeat_claims_with_the_same_event_and_other_requests_do_not(self) -> None:
        claim = claim_event(pay(), self.KEY, "job-42")
        assert claim.type == CLAIM_TYPE
        later = pay(at=T0 + timedelta(hours=1))
        assert claim_event(later, self.KEY, "job-42").id == claim.id
        assert claim_event(pay(order_id=OTHER), self.KEY, "job-42").id != claim.id
        assert claim_event(pay(), uuid5(NAMESPACE_URL, "job-43"), "job-43").id != claim.id

    def test_the_claim_of_the_same_request_is_no_mismatch(self) -> None:
        holder = stored(claim_event(pay(), self.KEY, "job-42"))
        assert claim_mismatch(pay(at=T0 + timedelta(days=2)), holder) is None

    def test_another_order_is_named_with_both_ids(self) -> None:
        holder = stored(claim_event(pay(), self.KEY, "job-42"))
        assert claim_mismatch(pay(order_id=OTHER), holder) == (
            f'same RecordPayment, different order_id "{OID}" recorded, "{OTHER}" given'
        )

    def test_another_kind_is_named_with_its_order(self) -> None:
        holder = stored(claim_event(pay(), self.KEY, "job-42"))
        deliver = ConfirmDelivery(order_id=OTHER, at=T0)
        assert claim_mismatch(deliver, holder) == (
            f"it was RecordPayment on order {OID}, this is ConfirmDelivery"
        )

    def test_an_unreadable_claim_is_a_mismatch_that_says_so(self) -> None:
        holder = stored(claim_event(pay(), self.KEY, "job-42"), data=b"[1]")
        assert claim_mismatch(pay(), holder) == (
            "the key is held by an unreadable CommandIdClaimed in idempotency-x"
        )
