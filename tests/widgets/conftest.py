"""Fixtures of the tests of the notebook widgets driven from code.

Shared helper functions are in tests/helpers.py; fixtures used by one module stay in it."""
