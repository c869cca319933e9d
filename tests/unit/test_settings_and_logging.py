"""Settings from the environment, secret masking, log output and the CLI's subcommands."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog

from orders.cli import build_parser
from orders.errors import InvalidSettings
from orders.logging import configure_logging
from orders.settings import DEFAULT_ESDB_URI, Settings, mask_secrets


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("esdb://admin:changeit@h:2113?Tls=true", "esdb://admin:***@h:2113?Tls=true"),
        ("esdb+discover://u:p%40ss@a:1,b:2", "esdb+discover://u:***@a:1,b:2"),
        ("failed on esdb://ops:s3cr3t@h:1 twice", "failed on esdb://ops:***@h:1 twice"),
        ("esdb://h:2113?Tls=false", "esdb://h:2113?Tls=false"),
        ("no uri here", "no uri here"),
    ],
)
def test_passwords_are_masked(text: str, masked: str) -> None:
    assert mask_secrets(text) == masked


def test_settings_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {"ESDB_URI": "esdb://a:b@h:1?Tls=true", "ORDERS_ACTOR": "ops", "ORDERS_TIMEOUT": "2.5"}
    )
    assert (settings.esdb_uri, settings.actor, settings.timeout) == (
        "esdb://a:b@h:1?Tls=true",
        "ops",
        2.5,
    )
    assert "a:***@h" in repr(settings)
    assert ":b@" not in repr(settings)
    assert Settings.from_env({}).esdb_uri == DEFAULT_ESDB_URI == "esdb://localhost:2113?Tls=false"


@pytest.mark.parametrize("timeout", ["soon", "0", "-1"])
def test_a_bad_timeout_is_refused_by_name(timeout: str) -> None:
    with pytest.raises(InvalidSettings, match="ORDERS_TIMEOUT"):
        Settings.from_env({"ORDERS_TIMEOUT": timeout})


@pytest.fixture
def restored_logging() -> Iterator[None]:
    saved = structlog.get_config()
    try:
        yield
    finally:
        structlog.configure(**saved)


@pytest.mark.usefixtures("restored_logging")
def test_json_logs_carry_the_bound_context_and_never_a_password() -> None:
    out = io.StringIO()  # not a terminal: JSON
    configure_logging(level="info", stream=out)
    log = structlog.get_logger("test")
    with structlog.contextvars.bound_contextvars(stream="order-1", correlation_id="c-1"):
        log.info("order.appended", uri="esdb://admin:hunter2@h:2113", revision=3)
    line = json.loads(out.getvalue())
    assert line["event"] == "order.appended"
    assert (line["stream"], line["correlation_id"], line["revision"]) == ("order-1", "c-1", 3)
    assert line["uri"] == "esdb://admin:***@h:2113"
    assert "hunter2" not in out.getvalue()


@pytest.mark.usefixtures("restored_logging")
def test_console_logs_when_asked() -> None:
    out = io.StringIO()
    configure_logging(json=False, level="info", stream=out)
    structlog.get_logger("test").warning("order.conflict_retried", attempt=2)
    assert "order.conflict_retried" in out.getvalue()
    assert not out.getvalue().lstrip().startswith("{")


def test_the_cli_has_every_write_and_read_subcommand() -> None:
    parser = build_parser()
    for argv in (
        ["place", "--customer", "c", "--currency", "EUR", "--line", "a:1:1"],
        ["address", "o", "--city", "Bonn"],
        ["pay", "o", "--payment-id", "p", "--amount", "1", "--currency", "EUR"],
        ["ship", "o", "--carrier", "DHL", "--tracking-number", "1"],
        ["deliver", "o", "--command-id", "k", "--correlation-id", "c"],
        ["cancel", "o", "--reason", "r", "--json"],
        ["show", "o", "--at", "2024-03-01T10:00"],
        ["show", "o", "--revision", "2", "--json"],
        ["history", "o", "--json"],
    ):
        args = parser.parse_args(argv)
        assert args.subcommand == argv[0]
        assert callable(args.run)


def test_show_takes_a_revision_or_a_time_not_both() -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["show", "o", "--revision", "1", "--at", "2024-01-01"])
    assert caught.value.code == 2
