"""Upcasters: bring stored events of any known schema version to the current one.

`upcast` is the chain (see `upcasters.chain`); steps live in one module per event type
(`order_placed`, `payment_received`) and are indexed in `upcasters.registry`.
"""

from upcasters.chain import path, upcast
from upcasters.errors import StepError, UnknownEventVersion, UpcastError
from upcasters.registry import CURRENT_VERSIONS, STEPS
from upcasters.step import Recorded, Step

__all__ = [
    "CURRENT_VERSIONS",
    "STEPS",
    "Recorded",
    "Step",
    "StepError",
    "UnknownEventVersion",
    "UpcastError",
    "path",
    "upcast",
]
