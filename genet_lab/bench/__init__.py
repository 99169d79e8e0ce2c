"""A tabular benchmark of a GeNet space (issue 21): every distinct structure trained with
several seeds, stored, and read back as a table.

* :mod:`~genet_lab.bench.structures` - the distinct structures of a space (no torch);
* :mod:`~genet_lab.bench.settings` - what a build trains, and the training config it implies (no torch);
* :mod:`~genet_lab.bench.store` - the build directory: SQLite in WAL mode, one writer (no torch);
* :mod:`~genet_lab.bench.worker` - one training, as an evolution's evaluation trains it (torch, lazily);
* :mod:`~genet_lab.bench.build` - the build: plan, workers, progress, resume;
* :mod:`~genet_lab.bench.table` - the exported file and :func:`load_table` (no torch).

Importing this package imports no torch; it sits above ``training`` and ``encoding`` and under
the front ends.
"""
