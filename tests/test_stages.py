"""The stage registry (``study/stages.py``) is the one place a stage exists: the pipeline, the
worker scheduler, the clock, the progress check and the command line all read it, and nothing
outside it writes a study's rows."""
import ast
from pathlib import Path

import pytest
from click.testing import CliRunner

import fairxbar_aihw as fx
from fairxbar_aihw.study import stages
from fairxbar_aihw.study.keys import RowKind

PACKAGE = Path(fx.__file__).parent
# What writes rows: a module calling one of these is a stage's body (or the store itself).
ROW_WRITERS = {"run_cells", "write_ideal_row", "write_trial", "write_trials"}
# Where they may be called: the registry's bodies and the helpers they call (arms, chips' loop,
# the pre-trained row, the audit's per-layer chips), and the store that defines them.
ALLOWED = {"study/stages.py", "study/arms.py", "study/montecarlo.py", "study/seed_records.py", "study/layers.py",
           "store/results.py"}


def _calls(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {getattr(n.func, "attr", getattr(n.func, "id", "")) for n in ast.walk(tree) if isinstance(n, ast.Call)}


def test_no_module_outside_the_stages_writes_rows():
    writers = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if _calls(p) & ROW_WRITERS}
    assert writers <= ALLOWED, f"rows written outside the stage registry: {sorted(writers - ALLOWED)}"
    assert "study/stages.py" in writers  # the scan sees the registry's own writes


def test_every_row_kind_is_written_by_exactly_one_stage():
    written = [kind for stage in stages.REGISTRY.entries for kind in stage.writes]
    assert len(written) == len(set(written))
    assert set(written) == set(RowKind)
    assert set(stages.REGISTRY.row_phrases) == set(written)


def test_the_registry_drives_the_command_line():
    from fairxbar_aihw.cli.main import cli

    out = CliRunner().invoke(cli, ["--help"]).output
    for stage in stages.REGISTRY.entries:
        assert (f"  {stage.verb} " in out) != stage.audit_only  # a study's stage: one command, under its verb
        if not stage.audit_only:
            assert cli.commands[stage.verb].help == stage.help


def test_the_registry_orders_the_clock_the_schedule_and_the_predicted_work(monkeypatch):
    from fairxbar_aihw.study.eta import StudyClock
    from fairxbar_aihw.study.plan import StudyPlan
    from fairxbar_aihw.study.schedule import Schedule
    from fairxbar_aihw.study.config import load_study

    registry = stages.REGISTRY
    assert registry.prepare == ("train", "saliency") and registry.names[:2] == registry.prepare
    assert registry.audit == ("train", "saliency", "sweep", "drift", "layers")
    plan = StudyPlan(load_study("demo"))
    work = stages.predicted_work(plan, 100, 50, 50)
    assert tuple(work) == registry.names
    clock = StudyClock("s", [0], work)
    assert clock.stages() == [s for s in registry.names if work[s] > 0]
    schedule = Schedule([0], registry.prepare, list(registry.later), reports=False)
    first = schedule.next()
    assert first.stages == registry.prepare
    schedule.done(first)
    assert [schedule.next().stages for _ in registry.later] == [(s,) for s in registry.later]
    with pytest.raises(ValueError, match="unknown stage 'lunch'; stages are train, saliency"):
        registry.stage("lunch")
    with pytest.raises(ValueError, match="unknown stage 'lunch'"):
        clock.finished(0, "lunch", 1.0)


def test_a_new_stage_is_one_entry(monkeypatch):
    """An entry added to the registry is run, priced, timed, scheduled and its rows named without
    another edit."""
    from fairxbar_aihw.study.config import load_study
    from fairxbar_aihw.study.eta import StudyClock
    from fairxbar_aihw.study.plan import StudyPlan

    calls = []

    class Run:
        cfg = load_study("demo")

    extra = stages.Stage("tea", "tea", "Make tea.", prepares=False, compute=lambda run: calls.append(run) or 3,
                         work=lambda shape: 7.0, writes={"tea": "cups of tea"})
    monkeypatch.setattr(stages, "REGISTRY", stages.REGISTRY.with_stage(extra))
    registry = stages.REGISTRY
    assert registry.names[-1] == "tea" and registry.later[-1] == "tea" and registry.row_phrases["tea"] == "cups of tea"
    work = stages.predicted_work(StudyPlan(Run.cfg), 100, 50, 50)
    assert work["tea"] == 7.0
    heard = []
    clock = StudyClock("s", [0], work, echo=heard.append)
    stages.compute_stages(Run(), ["tea"], clock)
    assert len(calls) == 1 and heard[-1].startswith("study s: ") and "tea done" in heard[-1]
    with pytest.raises(ValueError, match="two stages share a name"):
        registry.with_stage(extra)
