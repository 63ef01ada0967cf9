"""Study engine: config files, Monte-Carlo chips, the staged pipeline."""
from ..lazy import lazy_exports
from .config import available, load_study

__all__ = ["load_study", "available", "StudyRun", "Cell", "ChipEvaluator", "run_cells", "chip_seed"]
__getattr__, __dir__ = lazy_exports(__name__, {"StudyRun": ".pipeline", "Cell": ".montecarlo",
                                               "ChipEvaluator": ".montecarlo", "run_cells": ".montecarlo",
                                               "chip_seed": ".montecarlo", "pipeline": ".pipeline",
                                               "montecarlo": ".montecarlo"})
