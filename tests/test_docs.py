"""What the docs tell a user matches what the tool does: the README's Python snippet runs, and a
study's description does not state a seed count that `--quick` or `--seeds` would make wrong."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_snippet() -> str:
    after = README.read_text().split("From Python (the stable API):", 1)[1]
    return after.split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_python_snippet_runs(capsys):
    scope: dict = {}
    exec(compile(_python_snippet(), str(README), "exec"), scope)
    m, test = scope["m"], scope["test"]
    assert m["n"] == len(test) and 0 <= m["f1_macro"] <= 1 and m["eodds"] >= 0
    assert capsys.readouterr().out.startswith(f"macro-F1 {m['f1_macro']:.3f}, EOdds {m['eodds']:.3f}")


@pytest.mark.parametrize("quick", [False, True])
def test_bundled_study_descriptions_state_no_seed_count(quick):
    from fairxbar_aihw.study import available, load_study
    from fairxbar_aihw.study.config import StudyOverrides

    for name in available():
        cfg = load_study(name, StudyOverrides(quick=quick))
        stated = re.findall(r"(\d+) training seeds?", cfg.description)
        assert not stated, f"{name}: description says {stated[0]} training seeds; it runs {len(cfg.seeds)}"
