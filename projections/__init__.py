"""The read side: persistent-subscription workers folding order events into SQLite read models.

See docs/read-side.md for the design (delivery, exactly-once effect, rebuilds, status).
"""
