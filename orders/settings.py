"""Settings read from the environment, and secret masking for anything that shows a URI.

`ESDB_URI` (default `esdb://localhost:2113?Tls=false`) is passed to esdbclient unchanged,
so TLS options and `user:password@` credentials work as esdbclient documents; the password
is masked (`***`) wherever a URI is logged or put in an error message.
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from orders.errors import InvalidSettings

DEFAULT_ESDB_URI = "esdb://localhost:2113?Tls=false"

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/\s]*):[^@/\s]*@")


def mask_secrets(text: str) -> str:
    """`text` with the password of every `scheme://user:password@` replaced by `***`."""
    return _USERINFO.sub(r"\g<scheme>\g<user>:***@", text)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds for re-running a command, in attempts and seconds.

    Conflicts (read the new tail and re-decide) wait a random time up to base * 2**n,
    capped ("full jitter"), which spreads many contenders for one order apart. Transient
    errors back off 0.1, 0.2, 0.4, ... s (plus jitter, capped), about 5 s in all: enough
    to ride out a server restart or a leader election, short enough to report an
    unreachable store promptly.
    """

    conflict_attempts: int = 50
    conflict_wait_base: float = 0.005
    conflict_wait_max: float = 0.5
    transient_attempts: int = 6
    transient_wait_initial: float = 0.1
    transient_wait_max: float = 2.0


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything `orders` reads from the environment; never shows the password."""

    esdb_uri: str = DEFAULT_ESDB_URI
    actor: str = "unknown"
    timeout: float = 10.0
    """Deadline in seconds for each read or append call."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    state_cache_size: int = 1000
    """Orders whose last known stream a service keeps, to skip reading it (0: none)."""

    @property
    def masked_uri(self) -> str:
        """The URI with its password replaced by `***`."""
        return mask_secrets(self.esdb_uri)

    def __repr__(self) -> str:
        return (
            f"Settings(esdb_uri={self.masked_uri!r}, actor={self.actor!r},"
            f" timeout={self.timeout!r}, retry={self.retry!r},"
            f" state_cache_size={self.state_cache_size!r})"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read `ESDB_URI`, `ORDERS_ACTOR`, `ORDERS_TIMEOUT` and `ORDERS_STATE_CACHE`;
        raises InvalidSettings."""
        values = os.environ if env is None else env
        return cls(
            esdb_uri=values.get("ESDB_URI") or DEFAULT_ESDB_URI,
            actor=values.get("ORDERS_ACTOR") or _login_actor(),
            timeout=_positive_float(values, "ORDERS_TIMEOUT", 10.0),
            state_cache_size=_count(values, "ORDERS_STATE_CACHE", 1000),
        )


def _positive_float(values: Mapping[str, str], name: str, default: float) -> float:
    raw = values.get(name)
    if not raw:
        return default
    try:
        number = float(raw)
    except ValueError:
        raise InvalidSettings(f"{name}={raw!r} is not a number of seconds") from None
    if number <= 0:
        raise InvalidSettings(f"{name}={raw!r} must be positive")
    return number


def _count(values: Mapping[str, str], name: str, default: int) -> int:
    raw = values.get(name)
    if not raw:
        return default
    try:
        number = int(raw)
    except ValueError:
        raise InvalidSettings(f"{name}={raw!r} is not a whole number") from None
    if number < 0:
        raise InvalidSettings(f"{name}={raw!r} must not be negative")
    return number


def _login_actor() -> str:
    try:
        return f"user:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name (e.g. a container with an unknown uid)
        return "unknown"
