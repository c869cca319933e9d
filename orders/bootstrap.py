"""The composition root: settings -> store -> service, built lazily on first use, never at
import.

Command functions (`orders.api`) run on `default_service()`, or on `service_for(store)`
when given `store=`; queries use `default_store()`. The default store is closed at exit.
Scripts that change the environment afterwards call `reset()` to rebuild from it.
"""

from __future__ import annotations

import atexit
import threading
import weakref

from orders.logging import ensure_logging
from orders.ports import OrderStore
from orders.service import OrderService
from orders.settings import Settings
from orders.store import EsdbStore

_lock = threading.Lock()
_settings: Settings | None = None
_store: OrderStore | None = None
_services: weakref.WeakKeyDictionary[OrderStore, OrderService] = weakref.WeakKeyDictionary()


def default_settings() -> Settings:
    """Settings from the environment, read once."""
    global _settings  # noqa: PLW0603  the process-wide default, built on first use
    with _lock:
        if _settings is None:
            _settings = Settings.from_env()
        return _settings


def default_store() -> OrderStore:
    """The process-wide store on `ESDB_URI`, built on first use."""
    global _store  # noqa: PLW0603  see default_settings
    settings = default_settings()
    with _lock:
        if _store is None:
            ensure_logging()
            _store = EsdbStore(settings.esdb_uri, timeout=settings.timeout)
            # Close before interpreter finalisation: a gRPC channel closed by the garbage
            # collector at exit can wait forever on a thread that is already gone.
            atexit.register(reset)
        return _store


def default_service() -> OrderService:
    """The service over the default store, with the default settings."""
    return service_for(default_store())


def service_for(store: OrderStore) -> OrderService:
    """The service over `store` (the caller owns it), with the default settings: one per
    store, so its calls share the service's order cache."""
    ensure_logging()
    settings = default_settings()
    with _lock:
        service = _services.get(store)  # reset() forgets them with the settings
        if service is None:
            service = _services[store] = OrderService(store, settings)
        return service


def reset() -> None:
    """Close the default store and forget the settings (the next use rebuilds both)."""
    global _settings, _store
    with _lock:
        store, _store, _settings = _store, None, None
        _services.clear()
    if store is not None:
        store.close()
