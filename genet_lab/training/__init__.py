"""The training layer: torch networks built from genomes, and training them (section 3.2.4).

Modules, lower ones first (each imports only those above it in this list):

* :mod:`~genet_lab.training.catalog` - the data sets, presets and recipes every front end lists (no torch);
* :mod:`~genet_lab.training.config` - TrainConfig, defaults, lr schedules, TrainProgress, TrainResult
  (no torch: the records a front end reads);
* :mod:`~genet_lab.training.events` - those records as the events ``train --events`` prints (no torch);
* :mod:`~genet_lab.training.devices` - every device decision: device names resolved to torch
  devices, precisions, memory budgets, synchronise, random state;
* :mod:`~genet_lab.training.data` - data sets loaded into :class:`~genet_lab.training.data.DataSplits`;
* :mod:`~genet_lab.training.network` - :class:`~genet_lab.training.network.GeNet` from a genome;
* :mod:`~genet_lab.training.batched` - G GeNets of one genome space as one batched module;
* :mod:`~genet_lab.training.checkpoint` - saving and loading one trained individual;
* :mod:`~genet_lab.training.batches` - images on the device and whole-batch augmentation;
* :mod:`~genet_lab.training.loop` - the one training loop, for a network or a batched group;
* :mod:`~genet_lab.training.autotune` - the timing probe and its cache: precision, layout,
  threads, batched or loop;
* :mod:`~genet_lab.training.trainer` - :func:`~genet_lab.training.trainer.train_genome`, one individual
  (:func:`~genet_lab.training.trainer.train_model`: and its network, beside the result);
* :mod:`~genet_lab.training.population` - :func:`~genet_lab.training.population.train_population`.

This layer imports :mod:`genet_lab.encoding`, :mod:`genet_lab.errors` and
:mod:`genet_lab.fileio` below it, and must never import :mod:`genet_lab.evolution` or a
front end (:mod:`genet_lab.cli`, :mod:`genet_lab.tui`, :mod:`genet_lab.widgets`): they
call it, not the other way round. Importing this package imports no submodule (so no torch).
"""
