"""Errors the front ends report in one line (exit status 2 on the CLI)."""


class UsageError(ValueError):
    """Bad input or a missing prerequisite the user can fix; the message says how."""
