"""The ``fairxbar-aihw`` command line: ``main`` is the entry point, ``cli`` the click group.

One module per kind of command (``listings``, ``data``, ``study``, ``audit``), shared options in
``options``; every command imports torch only when it runs, so listings start fast.
"""
from .main import MAX_ERROR_CHARS, cli, main
from .options import default_threads, open_study, parse_seeds

__all__ = ["cli", "main", "MAX_ERROR_CHARS", "default_threads", "open_study", "parse_seeds"]
