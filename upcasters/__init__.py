"""Upcasters: bring stored events of any known schema version to the current one."""

from upcasters.chain import CURRENT_VERSIONS, UnknownEventVersion, upcast

__all__ = ["CURRENT_VERSIONS", "UnknownEventVersion", "upcast"]
