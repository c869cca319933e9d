"""Display of integer minor units as decimal amounts (ISO 4217 exponents).

Only for people: amounts are stored and computed as integers everywhere else.
"""

from __future__ import annotations

from decimal import Decimal

_ZERO_DECIMALS = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW"}
    | {"PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
_THREE_DECIMALS = frozenset(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"))


def exponent(currency: str) -> int:
    """How many decimal places the currency's minor unit has."""
    if currency in _ZERO_DECIMALS:
        return 0
    return 3 if currency in _THREE_DECIMALS else 2


def to_decimal(minor: int, currency: str) -> Decimal:
    """`minor` units of `currency` as an exact decimal amount."""
    return Decimal(minor).scaleb(-exponent(currency))


def format_money(minor: int, currency: str) -> str:
    """For example `12050, "USD"` -> `"120.50 USD"`."""
    places = exponent(currency)
    return f"{to_decimal(minor, currency):.{places}f} {currency}"
