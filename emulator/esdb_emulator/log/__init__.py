"""The log: one SQLite database of events, its writer, reader, transaction rules and schema."""
