"""``python -m fairxbar_aihw.cli``: the same as the ``fairxbar-aihw`` command."""
from .main import main

main()
