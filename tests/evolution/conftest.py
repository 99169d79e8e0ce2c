"""Fixtures of the tests of the genetic process, the run store and reports.

Shared helper functions are in tests/helpers.py; fixtures used by one module stay in it."""
