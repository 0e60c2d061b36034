"""Shared test harness of postern: processes (procs), backends (backends), loopback ports
and bounded waits (net). Used by tests/integration (conftest.py puts tests/ on sys.path)
and by the valgrind sessions under tests/valgrind."""
