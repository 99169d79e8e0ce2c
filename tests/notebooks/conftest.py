"""Fixtures of the tests of the teaching notebooks executed under nbclient.

Shared helper functions are in tests/helpers.py; fixtures used by one module stay in it."""
