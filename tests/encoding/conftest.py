"""Fixtures of the tests of genomes, stage graphs and the space (no torch).

Shared helper functions are in tests/helpers.py; fixtures used by one module stay in it."""
