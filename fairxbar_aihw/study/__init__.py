"""Study engine: config files, the plan of cells, the stage registry, Monte-Carlo chips, executors,
the seed's computing context (``StudyRun``) and its stored view (``StoredRun``)."""
from ..lazy import lazy_exports
from .config import available, load_study

__all__ = ["load_study", "available", "Study", "StudyRun"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "Study": ".study", "study": ".study", "StoredRun": ".stored", "stored": ".stored", "stages": ".stages",
    "StudyRun": ".pipeline", "pipeline": ".pipeline",
    "StudyPlan": ".plan", "Cell": ".plan", "plan": ".plan",
    "ChipEvaluator": ".chips", "chip_seed": ".chips", "chips": ".chips", "run_cells": ".montecarlo",
    "montecarlo": ".montecarlo", "LocalExecutor": ".executors", "RayExecutor": ".executors",
    "executors": ".executors"})
