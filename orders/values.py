"""Value types shared by commands and events: money, codes, lines, addresses, times.

Money is always an integer amount of minor units (cents); floats and bools are rejected.
Currency and country codes are upper-cased and checked against the ISO tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, Strict

from orders.iso_codes import COUNTRIES, CURRENCIES


def _currency(code: str) -> str:
    upper = code.upper()
    if upper not in CURRENCIES:
        raise ValueError(f"{code!r} is not an active ISO 4217 currency code")
    return upper


def _country(code: str) -> str:
    upper = code.upper()
    if upper not in COUNTRIES:
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return upper


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


Money = Annotated[int, Strict(), Field(ge=0)]
"""A non-negative amount in minor units."""

Currency = Annotated[str, Strict(), AfterValidator(_currency)]
Country = Annotated[str, Strict(), AfterValidator(_country)]
Text = Annotated[str, Strict(), Field(min_length=1, max_length=200)]
"""A required, non-empty, bounded piece of text (ids, names, references)."""

UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]
"""A timezone-aware moment, normalised to UTC."""


class Frozen(BaseModel):
    """Base for immutable, closed (no unknown fields) models."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class OrderLine(Frozen):
    """A line as stored in OrderPlaced; `unit_price` is None when legacy data lacks it."""

    sku: Text
    quantity: Annotated[int, Strict(), Field(ge=1)]
    unit_price: Money | None


class ShippingAddress(Frozen):
    """A postal address; `country` is an ISO 3166-1 alpha-2 code."""

    name: Text
    line1: Text
    line2: Annotated[str, Strict(), Field(max_length=200)] | None = None
    city: Text
    postal_code: Annotated[str, Strict(), Field(min_length=1, max_length=20)]
    country: Country
