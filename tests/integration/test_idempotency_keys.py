"""Idempotency keys that lie (issue 15, items 1-3), through the real client and server.

A command id or a payment id names one request: a true repeat is "already applied"; the
same key on a different request is refused (CLI exit 5) and nothing is written.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import UTC, datetime

import pytest
from esdbclient import EventStoreDBClient
from test_cli import Cli, document, run_orders

from orders import (
    CommandIdReused,
    PaymentIdReused,
    cancel_order,
    order_id_for,
    place_order,
    record_payment,
    ship_order,
)
from orders.codec import CommandContext, encode
from orders.commands import RecordPayment
from orders.events import PaymentReceived
from orders.idempotency import CLAIM_TYPE, claim_event, fingerprint
from orders.store import EsdbStore
from orders.streams import key_stream_name

EXIT_KEY_REUSED = 5
LINES = [{"sku": "a", "quantity": 1, "unit_price": 700}]


@pytest.fixture
def cli(esdb_uri: str) -> Cli:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_orders(esdb_uri, *args)

    return run


@pytest.fixture
def key() -> str:
    """A human-style command id no other test uses (the session's server is shared)."""
    return f"job-42-{uuid.uuid4().hex[:8]}"


def place(order_id: str, store: EsdbStore) -> None:
    place_order(order_id, "c-1", LINES, "EUR", store=store)


def types(store: EsdbStore, order_id: str) -> list[str]:
    return [event.type for event in store.read(order_id)]


class TestCommandIdReusedByFunctions:
    def test_a_different_command_under_a_used_command_id_is_refused(
        self, store: EsdbStore, order_id: str, key: str
    ) -> None:
        place(order_id, store)
        record_payment(order_id, "q1", 700, "EUR", store=store, command_id=key)
        before = store.read(order_id)
        with pytest.raises(CommandIdReused) as caught:
            ship_order(order_id, "DHL", "Z9", store=store, command_id=key)
        message = str(caught.value)
        assert f"command id {key!r}" in message
        assert "it was RecordPayment" in message
        assert "this is ShipOrder" in message
        assert caught.value.rule == "command-id-must-name-one-command"
        assert caught.value.status == "PAID"
        assert store.read(order_id) == before  # nothing written

    def test_the_same_kind_with_other_arguments_is_refused_naming_them(
        self, store: EsdbStore, order_id: str, key: str
    ) -> None:
        place(order_id, store)
        record_payment(order_id, "q1", 300, "EUR", store=store, command_id=key)
        with pytest.raises(CommandIdReused) as caught:
            record_payment(order_id, "q2", 300, "EUR", store=store, command_id=key)
        assert 'payment_id "q1" recorded, "q2" given' in str(caught.value)
        assert types(store, order_id) == ["OrderPlaced", "PaymentReceived"]

    def test_the_same_command_on_another_order_is_refused_naming_both_orders(
        self, store: EsdbStore, order_id: str, key: str
    ) -> None:
        other = str(uuid.uuid4())
        place(order_id, store)
        place(other, store)
        record_payment(order_id, "q1", 300, "EUR", store=store, command_id=key)
        with pytest.raises(CommandIdReused) as caught:
            record_payment(other, "q1", 300, "EUR", store=store, command_id=key)
        assert f'order_id "{order_id}" recorded, "{other}" given' in str(caught.value)
        assert types(store, other) == ["OrderPlaced"]
        with pytest.raises(CommandIdReused, match=f"it was RecordPayment on order {order_id}"):
            cancel_order(other, "changed mind", store=store, command_id=key)
        assert types(store, other) == ["OrderPlaced"]

    def test_a_true_repeat_is_already_applied(
        self, store: EsdbStore, order_id: str, key: str
    ) -> None:
        place(order_id, store)
        first = record_payment(order_id, "q1", 300, "eur", store=store, command_id=key)
        again = record_payment(order_id, "q1", 300, "EUR", store=store, command_id=key)
        assert (first.already_applied, again.already_applied) == (False, True)
        assert again.revision == first.revision == 1

    def test_a_claim_without_its_events_is_completed_by_the_retry(
        self, store: EsdbStore, order_id: str
    ) -> None:
        # What a crash between the claim and the order's append leaves behind.
        key = uuid.uuid4()
        place(order_id, store)
        command = RecordPayment(
            order_id=order_id, payment_id="q1", amount=300, currency="EUR", at=datetime.now(UTC)
        )
        assert store.claim(key, claim_event(command, key, str(key))) is None
        retried = record_payment(order_id, "q1", 300, "EUR", store=store, command_id=key)
        assert not retried.already_applied
        assert types(store, order_id) == ["OrderPlaced", "PaymentReceived"]

    def test_the_fingerprint_and_the_claim_are_stored(
        self, store: EsdbStore, client: EventStoreDBClient, order_id: str, key: str
    ) -> None:
        place(order_id, store)
        result = record_payment(order_id, "q1", 700, "EUR", store=store, command_id=key)
        stored = store.read(order_id)[1:]
        assert [e.type for e in stored] == ["PaymentReceived", "OrderPaid"]
        expected = fingerprint(
            RecordPayment(
                order_id=order_id, payment_id="q1", amount=700, currency="EUR", at=datetime.now(UTC)
            )
        )
        for event in stored:
            metadata = json.loads(event.metadata)
            assert metadata["command_hash"] == expected
            assert metadata["$correlationId"] == metadata["$causationId"]
            assert metadata["$correlationId"] == str(result.command_id)
        (claim,) = client.get_stream(key_stream_name(result.command_id))
        assert claim.type == CLAIM_TYPE
        data = json.loads(claim.data)
        assert (data["command_id"], data["command_hash"]) == (key, expected)
        assert data["arguments"]["order_id"] == order_id

    def test_events_stored_before_fingerprints_count_as_applied_for_the_same_kind(
        self, store: EsdbStore, order_id: str
    ) -> None:
        place(order_id, store)
        command_id = uuid.uuid4()
        legacy = CommandContext(command_id, "c", "c", "tests", datetime.now(UTC))  # no hash
        event = PaymentReceived(
            order_id=order_id,
            payment_id="q1",
            amount=300,
            currency="EUR",
            received_at=legacy.occurred_at,
        )
        store.append(order_id, 0, [encode(event, legacy, 0)])
        assert "command_hash" not in json.loads(store.read(order_id)[1].metadata)

        again = record_payment(order_id, "q9", 300, "EUR", store=store, command_id=command_id)
        assert again.already_applied  # cannot tell the arguments apart: documented
        with pytest.raises(CommandIdReused, match="it was RecordPayment"):
            ship_order(order_id, "DHL", "Z9", store=store, command_id=command_id)
        assert types(store, order_id) == ["OrderPlaced", "PaymentReceived"]


class TestPaymentIdReusedByFunctions:
    def test_another_amount_under_a_recorded_payment_id_is_refused(
        self, store: EsdbStore, order_id: str
    ) -> None:
        place(order_id, store)
        record_payment(order_id, "d1", 100, "EUR", store=store)
        with pytest.raises(PaymentIdReused) as caught:
            record_payment(order_id, "d1", 300, "EUR", store=store)
        assert "payment id 'd1'" in str(caught.value)
        assert "amount 100 recorded, 300 given" in str(caught.value)
        assert types(store, order_id) == ["OrderPlaced", "PaymentReceived"]

    def test_the_same_payment_repeated_is_already_applied(
        self, store: EsdbStore, order_id: str
    ) -> None:
        place(order_id, store)
        record_payment(order_id, "d1", 100, "EUR", store=store)
        again = record_payment(order_id, "d1", 100, "EUR", store=store)
        assert again.already_applied
        assert types(store, order_id) == ["OrderPlaced", "PaymentReceived"]


class TestCli:
    def test_a_reused_command_id_on_another_command_exits_5_and_writes_nothing(
        self, cli: Cli, store: EsdbStore, order_id: str, key: str
    ) -> None:
        place(order_id, store)
        paid = cli(
            "pay", order_id, "--payment-id", "q1", "--amount", "700", "--currency", "EUR",
            "--command-id", key,
        )  # fmt: skip
        assert paid.returncode == 0, paid.stderr
        shipped = cli(
            "ship", order_id, "--carrier", "DHL", "--tracking-number", "Z9",
            "--command-id", key, "--json",
        )  # fmt: skip
        assert shipped.returncode == EXIT_KEY_REUSED, shipped.stderr
        assert f"command id {key!r}" in shipped.stderr
        assert "it was RecordPayment" in shipped.stderr
        assert "this is ShipOrder" in shipped.stderr
        error = document(shipped)
        assert (error["error"], error["exit_code"]) == ("idempotency_key_reused", 5)
        assert error["rule"] == "command-id-must-name-one-command"
        assert types(store, order_id) == ["OrderPlaced", "PaymentReceived", "OrderPaid"]

    def test_place_twice_with_one_command_id_gives_one_order(
        self, cli: Cli, store: EsdbStore, key: str
    ) -> None:
        args = ("place", "--customer", "c-1", "--line", "a:1:700", "--currency", "EUR")
        first = cli(*args, "--command-id", key, "--json")
        second = cli(*args, "--command-id", key, "--json")
        assert (first.returncode, second.returncode) == (0, 0), second.stderr
        one, two = document(first), document(second)
        assert one["order_id"] == two["order_id"] == order_id_for(key)
        assert (one["already_applied"], two["already_applied"]) == (False, True)
        assert types(store, one["order_id"]) == ["OrderPlaced"]
        text = cli(*args, "--command-id", key)
        assert text.returncode == 0, text.stderr
        assert f"order {one['order_id']}: already applied" in text.stdout

    def test_place_with_one_command_id_and_other_lines_exits_5(self, cli: Cli, key: str) -> None:
        base = ("place", "--customer", "c-1", "--currency", "EUR", "--command-id", key)
        assert cli(*base, "--line", "a:1:700").returncode == 0
        other = cli(*base, "--line", "a:2:700")
        assert other.returncode == EXIT_KEY_REUSED, other.stderr
        assert "same PlaceOrder, different lines" in other.stderr

    def test_place_with_one_command_id_on_another_order_exits_5(
        self, cli: Cli, store: EsdbStore, order_id: str, key: str
    ) -> None:
        base = ("place", "--customer", "c-1", "--currency", "EUR", "--line", "a:1:700")
        assert cli(*base, "--command-id", key).returncode == 0
        other = cli(*base, "--command-id", key, "--order-id", order_id)
        assert other.returncode == EXIT_KEY_REUSED, other.stderr
        assert f'"{order_id_for(key)}" recorded, "{order_id}" given' in other.stderr
        assert store.read(order_id) == ()

    def test_a_reused_payment_id_with_another_amount_exits_5(
        self, cli: Cli, store: EsdbStore, order_id: str
    ) -> None:
        place(order_id, store)
        pay = ("pay", order_id, "--payment-id", "d1", "--currency", "EUR", "--amount")
        assert cli(*pay, "100").returncode == 0
        again = cli(*pay, "100", "--json")
        assert again.returncode == 0, again.stderr
        assert document(again)["already_applied"] is True
        other = cli(*pay, "300")
        assert other.returncode == EXIT_KEY_REUSED, other.stderr
        assert "payment id 'd1'" in other.stderr
        assert "amount 100 recorded, 300 given" in other.stderr
        assert types(store, order_id) == ["OrderPlaced", "PaymentReceived"]

    def test_the_help_documents_exit_code_5(self, cli: Cli) -> None:
        done = cli("--help")
        assert done.returncode == 0
        assert "5 idempotency key reused for a different request" in " ".join(done.stdout.split())
