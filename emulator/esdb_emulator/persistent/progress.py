"""Which source positions a group has finished with, and when to checkpoint.

Every message read from the source is tracked in read (position) order; records
the `$all` filter rejects ride along with the message before them. The checkpoint
is the last position up to which *everything* is done (acked, skipped or parked), so
it never passes an event that is still in flight, waiting for a retry, or not yet
delivered. A restart resumes after it.

The cadence is EventStoreDB's: with `difference` the number of positions finished
since the last checkpoint, a checkpoint is due once `difference >= max_count`, or,
on a clock tick, once `difference >= min_count` and `after` seconds have passed
since the last one (`after=None` turns the time rule off).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from esdb_emulator.persistent.model import Tracked


@dataclass(frozen=True, slots=True)
class CheckpointCadence:
    """When checkpoints are due: see the module docstring."""

    min_count: int
    max_count: int
    after: float | None


class Progress:
    """Tracks finished positions from `done_through` (the loaded checkpoint, if any)."""

    def __init__(self, cadence: CheckpointCadence, done_through: int | None) -> None:
        self._cadence = cadence
        self._entries: deque[Tracked] = deque()
        self.done_through = done_through
        self.checkpointed = done_through
        self._finished_since_checkpoint = 0
        self._checkpointed_at: float | None = None

    def track(self, entry: Tracked) -> None:
        """Start tracking `entry`, read after every entry tracked so far."""
        self._entries.append(entry)

    def pass_over(self, position: int) -> None:
        """A record at `position` was read and is not for this group (filtered out)."""
        if not self._entries:
            self.done_through = position
            self._finished_since_checkpoint += 1
            return
        last = self._entries[-1]
        last.tail_position = position
        last.tail_count += 1

    def finish(self, entry: Tracked) -> None:
        """The message of `entry` is done with; advance past every finished entry."""
        entry.done = True
        entries = self._entries
        while entries and entries[0].done:
            first = entries.popleft()
            self.done_through = first.position
            self._finished_since_checkpoint += 1
            if first.tail_position is not None:
                self.done_through = first.tail_position
                self._finished_since_checkpoint += first.tail_count

    def due(self, now: float, *, clock_tick: bool) -> int | None:
        """The position to checkpoint now, or None if no checkpoint is due."""
        if self.done_through is None or self.done_through == self.checkpointed:
            return None
        difference = self._finished_since_checkpoint
        cadence = self._cadence
        if difference >= cadence.max_count:
            return self.done_through
        if not clock_tick or difference < cadence.min_count or cadence.after is None:
            return None
        last = self._checkpointed_at
        if last is not None and now - last < cadence.after:
            return None
        return self.done_through

    def checkpoint_taken(self, position: int, now: float) -> None:
        """Record that a checkpoint at `position` is being written."""
        self.checkpointed = position
        self._checkpointed_at = now
        self._finished_since_checkpoint = 0

    @property
    def tracked(self) -> int:
        """How many read positions are not yet passed by the checkpoint position."""
        return len(self._entries)
