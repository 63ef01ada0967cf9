"""Study engine: config files, Monte-Carlo chips, the staged pipeline."""
from .config import available, load_study
from .montecarlo import Cell, ChipEvaluator, chip_seed, run_cells
from .pipeline import StudyRun

__all__ = ["load_study", "available", "StudyRun", "Cell", "ChipEvaluator", "run_cells", "chip_seed"]
