"""The read models this service maintains, by name."""

from __future__ import annotations

from projections.errors import UnknownProjection
from projections.read_models import customer_stats, daily_sales, order_summary, order_timeline
from projections.read_models.projection import Projection

PROJECTIONS: dict[str, Projection] = {
    p.name: p
    for p in (
        order_summary.PROJECTION,
        customer_stats.PROJECTION,
        daily_sales.PROJECTION,
        order_timeline.PROJECTION,
    )
}


def get(name: str) -> Projection:
    """The projection called `name`; raises UnknownProjection naming the valid choices."""
    try:
        return PROJECTIONS[name]
    except KeyError:
        raise UnknownProjection(name, list(PROJECTIONS)) from None
