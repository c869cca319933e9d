"""The peers `benchmarks/peers.py` measures this project against, on the same server.

- `es_order`: the Order aggregate in the eventsourcing library's idiom (Aggregate with
  `@event` methods, an Application on the EventStoreDB persistence module, and a
  ProcessApplication that projects into SQLite with the library's tracking table);
- `bare`: hand-written esdbclient calls (read the stream, decide nothing, append the same
  JSON events at the expected revision; a catch-up subscription writing rows in batches);
- `workload`: what every peer is asked to do (lines, address, the summary table's rows).

Dev-only: needs the `bench` extra (`pip install -e '.[bench]'`).
"""
