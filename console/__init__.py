"""The web console: streams, orders, correlation chains, subscriptions and read models
in a browser, over any EventStoreDB-protocol server (`orders-console`)."""

from console.app import ConsoleConfig, create_app

__all__ = ["ConsoleConfig", "create_app"]
