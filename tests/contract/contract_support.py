"""What a read-side contract case gets."""

from __future__ import annotations

from dataclasses import dataclass

from orders.ports import OrderStore
from projections.ports import Connect


@dataclass
class ReadSide:
    """A store to write orders through, and the read side's port over the same log."""

    writer: OrderStore
    connect: Connect
    group: str
