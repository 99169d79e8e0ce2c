"""The Textual front end (``genet-lab tui``). Imports no torch: see :mod:`.app`."""
