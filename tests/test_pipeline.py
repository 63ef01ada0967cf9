"""StudyRun: computing is explicit (each step once per run), properties only read, and the
engine writes no report."""
import pytest

from test_safety import SMALL
from test_study import _in_process_run


def test_steps_compute_once_and_properties_only_read(tmp_path, monkeypatch):
    run = _in_process_run(tmp_path, monkeypatch, SMALL)
    try:
        assert not run.files.exists()  # naming the seed's folder creates nothing
        for name, step in (("baseline", "train_baseline"), ("swapped", "code_groups"), ("data", "load_data")):
            with pytest.raises(RuntimeError, match=rf"StudyRun.{step}\(\) has not run yet"):
                getattr(run, name)
        model, ckpt = run.train_baseline()
        assert run.train_baseline()[0] is model and run.baseline[0] is model  # trained once, then remembered
        assert (run.files / "model.pt").is_file()
        assert run.store.get_meta(run.run_id, "groups") is None  # training decides no group coding
        swapped = run.code_groups()
        assert run.store.get_meta(run.run_id, "groups")["swapped"] == swapped == run.swapped
        writes = []
        monkeypatch.setattr(run.store, "set_meta", lambda *a: writes.append(a))
        _ = (run.baseline, run.data, run.splits, run.swapped, run.files, run.evaluator, run.brings_model)
        assert writes == []  # reading a property records nothing
        assert sorted(p.name for p in run.files.iterdir()) == ["model.pt"]  # nor computes curvature
        assert run.masks("uniform", None) is None  # errors on every weight: no mask
        with pytest.raises(ValueError, match="method 'FR' targets weights: it needs a target fraction"):
            run.masks("FR", None)  # no silent default fraction
    finally:
        run.close()


def test_a_resume_keeps_the_first_computations_timings(tmp_path, monkeypatch):
    """The report's compute line divides the stages' first-computation seconds by one evaluation's;
    a resume (on any machine) must not re-time either, or re-rendering a kept run changes it."""
    from fairxbar_aihw.study.stages import run_stage

    run = _in_process_run(tmp_path, monkeypatch, SMALL)
    try:
        run_stage(run, "train")
        first = run.meta("eval_seconds")
        data_seconds = run.meta("timings")["data"]
        assert first > 0 and data_seconds >= 0
        run.store.set_meta(run.run_id, "eval_seconds", 123.0)  # as a slower machine would have timed it
        run.store.update_meta(run.run_id, "timings", {"data": 45.0})
    finally:
        run.close()
    resumed = _in_process_run(tmp_path, monkeypatch, SMALL)
    try:
        run_stage(resumed, "train")
        assert resumed.meta("eval_seconds") == 123.0 and resumed.meta("timings")["data"] == 45.0
    finally:
        resumed.close()
