"""The genetic process (Algorithm 1): operators, run store, engine, events, fitness, reports.

Front ends use :class:`RunStore` (read-only), its records and the event dataclasses; the
CLI and notebooks start runs with :func:`evolve`, :func:`start_run` or :func:`resume_run`.
Importing this package does not import torch.
"""

from genet_lab.evolution.config import SearchConfig, TrainOverrides
from genet_lab.evolution.engine import Engine, evaluation_seed
from genet_lab.evolution.events import (
    EvaluationProgress,
    GenerationFinished,
    GenerationStarted,
    IndividualEvaluated,
    RunFinished,
    RunStarted,
)
from genet_lab.evolution.executors import Executor
from genet_lab.evolution.fitness import Evaluation, Fitness, Job
from genet_lab.evolution.records import GenerationStats, Individual, RunStatus
from genet_lab.evolution.run import evolve, resume_run, start_run
from genet_lab.evolution.store import RunStore, is_run_dir

__all__ = [
    "Engine",
    "SearchConfig",
    "TrainOverrides",
    "RunStore",
    "is_run_dir",
    "evolve",
    "start_run",
    "resume_run",
    "evaluation_seed",
    "Fitness",
    "Executor",
    "Evaluation",
    "Job",
    "Individual",
    "GenerationStats",
    "RunStatus",
    "RunStarted",
    "GenerationStarted",
    "EvaluationProgress",
    "IndividualEvaluated",
    "GenerationFinished",
    "RunFinished",
]
