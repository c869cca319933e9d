"""The `orders` and `projections` commands misused as a new user would, as subprocesses
against real server processes: wrong passwords and TLS mismatches, corrupt or missing
read models, bad filter values, `--uri` after the subcommand, and mixed currencies."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from esdb_emulator.node.launcher import EmulatorProcess
from orders import place_order, record_payment
from orders.store import EsdbStore

ROOT = Path(__file__).resolve().parents[2]
CORRUPT = b"this is not an SQLite database" * 300


def run(
    tool: str, *args: str, uri: str | None = None, columns: int | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m orders|projections ARGS` with ESDB_URI set to `uri` (if given) and a
    terminal `columns` wide (if given)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ORDERS_LOG_FORMAT": "json"}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    env.pop("GRPC_VERBOSITY", None)
    if uri is not None:
        env["ESDB_URI"] = uri
    return subprocess.run(
        [sys.executable, "-m", tool, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


def error_document(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """A dev-mode (TLS + authentication) node."""
    if os.environ.get("ESDB_URI"):
        pytest.skip("needs the embedded server's --dev TLS mode")
    folder = tmp_path_factory.mktemp("secure-cli")
    with EmulatorProcess(folder / "events.db", tls=True, log_path=folder / "node.log") as node:
        yield node


# -- authentication and TLS ------------------------------------------------------------------


def test_a_wrong_password_says_authentication_failed_with_exit_6(
    secure: EmulatorProcess,
) -> None:
    wrong = secure.uri.replace(f"admin:{secure.admin_password}@", "admin:not-it@")
    done = run("orders", "show", "some-order", "--json", uri=wrong)
    assert done.returncode == 6, done.stderr
    assert error_document(done)["error"] == "authentication_failed"
    assert "authentication failed" in done.stderr
    assert "user 'admin'" in done.stderr
    assert "not-it" not in done.stderr + done.stdout
    assert "Rendezvous" not in done.stderr
    assert "debug_error_string" not in done.stderr

    status = run("projections", "status", "--json", uri=wrong)
    assert status.returncode == 6, status.stderr
    assert error_document(status)["error"] == "authentication_failed"


def test_an_untrusted_certificate_says_tls_handshake_failed_with_exit_7(
    secure: EmulatorProcess,
) -> None:
    untrusted = secure.uri.split("&tlsCaFile=", 1)[0]
    done = run("orders", "show", "some-order", uri=untrusted)
    assert done.returncode == 7, done.stderr
    assert "TLS handshake failed" in done.stderr
    assert "not trusted" in done.stderr
    assert "tlsCaFile" in done.stderr
    assert "Rendezvous" not in done.stderr
    assert "ssl_transport_security" not in done.stderr


def test_tls_against_a_plaintext_server_says_so_with_exit_7(esdb_uri: str) -> None:
    if "Tls=false" not in esdb_uri:
        pytest.skip("needs a plaintext server")
    tls = esdb_uri.replace("esdb://", "esdb://admin:changeit@").replace("Tls=false", "Tls=true")
    done = run("orders", "show", "some-order", uri=tls)
    assert done.returncode == 7, done.stderr
    assert "the server does not speak TLS: use Tls=false" in done.stderr


def test_plaintext_against_a_tls_server_says_tls_mismatch_with_exit_7(
    secure: EmulatorProcess,
) -> None:
    host_port = secure.uri.split("@", 1)[1].split("?", 1)[0]
    done = run("projections", "status", "--json", uri=f"esdb://{host_port}?Tls=false")
    assert done.returncode == 7, done.stderr
    assert "Tls=true" in error_document(done)["message"]


def test_place_against_a_down_server_says_it_is_retrying(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = run(
        "orders", "place", "--customer", "c", "--line", "s:1:100", "--currency", "EUR",
        uri=f"esdb://127.0.0.1:{port}?Tls=false",
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    retries = [line for line in done.stderr.splitlines() if "retrying" in line]
    assert retries, done.stderr
    assert "attempt" in retries[0]


# -- read models -----------------------------------------------------------------------------


def test_no_read_model_yet_is_exit_8_not_an_event_store_failure(tmp_path: Path) -> None:
    done = run("projections", "orders", "--projections-dir", str(tmp_path), "--json")
    assert done.returncode == 8, done.stderr
    assert error_document(done)["error"] == "no_read_model"
    assert "projections run" in done.stderr


def test_a_corrupt_read_model_is_named_with_exit_8(tmp_path: Path) -> None:
    (tmp_path / "order_summary.db").write_bytes(CORRUPT)
    done = run("projections", "orders", "--projections-dir", str(tmp_path), "--json")
    assert done.returncode == 8, done.stderr
    assert str(tmp_path / "order_summary.db") in done.stderr
    assert "file is not a database" in done.stderr
    assert error_document(done)["error"] == "read_model_unusable"
    assert "Traceback" not in done.stderr


@pytest.mark.emulator_only
def test_status_and_a_worker_refuse_a_corrupt_read_model_at_once(
    esdb_uri: str, tmp_path: Path
) -> None:
    corrupt = tmp_path / "order_summary.db"
    corrupt.write_bytes(CORRUPT)
    status = run("projections", "status", "order_summary", "--projections-dir", str(tmp_path))
    assert status.returncode == 8, status.stderr
    assert str(corrupt) in status.stderr
    worker = run("projections", "run", "order_summary", "--read-model", str(corrupt), uri=esdb_uri)
    assert worker.returncode == 8, worker.stderr
    assert f"cannot open the read model at {corrupt}" in worker.stderr
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    unwritable = run(
        "projections", "run", "order_summary", "--projections-dir", str(blocked), uri=esdb_uri
    )
    assert unwritable.returncode == 8, unwritable.stderr
    assert str(blocked) in unwritable.stderr


# -- filters and options ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("orders", "--status", "BOGUS"), "PENDING, PAID, SHIPPED, DELIVERED, CANCELLED"),
        (("orders", "--limit", "-1"), "at least 1"),
        (("customers", "--limit", "0"), "at least 1"),
    ],
)
def test_bad_filters_exit_2_naming_what_is_allowed(
    tmp_path: Path, args: tuple[str, ...], needle: str
) -> None:
    done = run("projections", *args, "--projections-dir", str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert needle in done.stderr


def test_uri_is_accepted_after_the_subcommand(esdb_uri: str, tmp_path: Path) -> None:
    nowhere = "esdb://127.0.0.1:1?Tls=false"
    shown = run("orders", "show", "no-such-order", "--uri", esdb_uri, uri=nowhere)
    assert shown.returncode == 1, shown.stderr  # the server answered: the order does not exist
    assert "order-must-exist" in shown.stderr
    status = run(
        "projections", "status", "--projections-dir", str(tmp_path), "--uri", esdb_uri, uri=nowhere
    )
    assert status.returncode == 0, status.stderr


# -- mixed currencies ------------------------------------------------------------------------


def test_top_customers_are_ranked_within_each_currency(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    """¥279,100 is not more than $3,236: ranks never compare amounts across currencies."""
    paid = [("usd-big", "USD", 323_600), ("jpy-big", "JPY", 279_100), ("usd-small", "USD", 246_900)]
    with EsdbStore(emulator.uri) as store:
        for n, (customer, currency, amount) in enumerate(paid):
            order = str(uuid.uuid4())
            line = [{"sku": "s", "quantity": 1, "unit_price": amount}]
            place_order(order, customer, line, currency, store=store)
            record_payment(order, f"p-{n}", amount, currency, store=store)
    models = ["--projections-dir", str(tmp_path)]
    built = run("projections", "rebuild", "customer_stats", *models, "--quiet", uri=emulator.uri)
    assert built.returncode == 0, built.stderr
    done = run("projections", "customers", *models, "--json")
    assert done.returncode == 0, done.stderr
    rows = [(r["currency"], r["rank"], r["customer_id"]) for r in json.loads(done.stdout)]
    assert rows == [("JPY", 1, "jpy-big"), ("USD", 1, "usd-big"), ("USD", 2, "usd-small")]


def test_tables_fit_80_columns_with_short_ids(emulator: EmulatorProcess, tmp_path: Path) -> None:
    """At 80 columns each order is one readable line: short id, status, total in full; and
    `projections status` leaves out its low-value columns (the caption names them)."""
    placed = []
    with EsdbStore(emulator.uri) as store:
        for n in range(3):
            order = str(uuid.uuid4())
            line = [{"sku": "sku-1", "quantity": 2, "unit_price": 1250 + n}]
            address = {"name": "Ada", "line1": "1 Main St", "city": "Berlin",
                       "postal_code": "10115", "country": "DE"}  # fmt: skip
            place_order(order, f"customer-{n}", line, "EUR", address, store=store)
            placed.append((order, f"{(2500 + 2 * n) / 100:.2f}"))
    models = ["--projections-dir", str(tmp_path)]
    built = run("projections", "rebuild", "order_summary", *models, "--quiet", uri=emulator.uri)
    assert built.returncode == 0, built.stderr
    done = run("projections", "orders", *models, columns=80)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(map(len, lines)) <= 80, done.stdout
    for order, total in placed:
        [row] = [line for line in lines if order[:8] in line]
        assert "PENDING" in row, done.stdout
        assert total in row, done.stdout
    assert "--json has it all" in " ".join(done.stdout.split())
    status = run("projections", "status", "order_summary", *models, uri=emulator.uri, columns=80)
    assert status.returncode == 0, status.stderr
    status_lines = status.stdout.splitlines()
    assert max(map(len, status_lines)) <= 80, status.stdout
    [row] = [line for line in status_lines if "order_summary" in line]
    assert "left out to fit 80 columns" in " ".join(status.stdout.split()), status.stdout
