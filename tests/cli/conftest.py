"""Fixtures of the tests of the command line, run as a user runs it (subprocesses).

Shared helper functions are in tests/helpers.py; fixtures used by one module stay in it."""
