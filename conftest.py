"""The suite's root: the emulator's shared fixtures and the hypothesis profile.

Both test trees (`emulator/tests`, `tests`) use the fixtures of `esdb_emulator.testing`:
`esdb_uri` (ESDB_URI, else one emulator process for the session), `emulator` (a process
of the test's own, to kill and restart), `client` and `stream_name`.
"""

from hypothesis import settings

pytest_plugins = ["esdb_emulator.testing.fixtures"]

# A slow example on a shared machine is not a bug, so no per-example deadline. Importing
# hypothesis here, at collection, also matters: on CPython 3.11.7 a session that has not
# imported it crashes at the very end, when hypothesis's pytest plugin first imports it
# in the terminal summary ("SystemError: AST constructor recursion depth mismatch").
settings.register_profile("esdb-orders", deadline=None)
settings.load_profile("esdb-orders")
