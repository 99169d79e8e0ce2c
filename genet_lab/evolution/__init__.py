"""The genetic process (Algorithm 1): operators, run store, engine, events, fitness, reports.

Front ends use :class:`RunStore` (read-only) and the event dataclasses; the
CLI and notebooks start runs with :func:`start_run` / :func:`resume_run`.
Importing this package does not import torch.
"""
from genet_lab.evolution.engine import Engine, SearchConfig, evaluation_seed, generation_stats
from genet_lab.evolution.events import (EvaluationProgress, GenerationFinished, GenerationStarted, IndividualEvaluated, RunFinished,
                     RunStarted)
from genet_lab.evolution.store import RunStore, is_run_dir
from genet_lab.evolution.run import resume_run, start_run

__all__ = [
    "Engine", "SearchConfig", "RunStore", "is_run_dir", "start_run", "resume_run", "evaluation_seed",
    "generation_stats", "RunStarted", "GenerationStarted", "EvaluationProgress", "IndividualEvaluated",
    "GenerationFinished", "RunFinished",
]
