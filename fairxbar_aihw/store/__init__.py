"""Per-study SQLite results store (resumable Monte-Carlo trials)."""
from .results import ResultsStore, config_hash

__all__ = ["ResultsStore", "config_hash"]
