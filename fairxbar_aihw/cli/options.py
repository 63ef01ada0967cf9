"""Options several commands share, and how they become a study to open.

``--preset``, ``--quick``, ``--seeds``, ``--trials`` and ``--device`` become one typed
``StudyOverrides`` that the study loader applies before validation, so every check sees them.
"""
from __future__ import annotations

import shlex
from typing import Any

import click

from ..errors import UserError, clipped
from ..threads import available_cores, plan_workers, use_threads

# Options of your own datasets (csv, folder): `data check` and `audit` take them.
TABLE_OPTIONS = [
    click.option("--file", "file", default=None, help="csv: the labels CSV under the root [labels.csv]."),
    click.option("--groups-file", default=None, help="folder: the groups CSV under the root [groups.csv]."),
    click.option("--image-column", default=None, help="Column with image paths relative to the root [image]."),
    click.option("--label-column", default=None, help="csv: column with labels [label]."),
    click.option("--group-column", multiple=True, help="Column with the group value [group]; repeat it for "
                 "intersections of several columns (values like `light × F`)."),
    click.option("--privileged", default=None, help="The group value(s) that are privileged, comma-separated "
                 "(`I,II,III`; csv/folder: required)."),
    click.option("--classes", default=None, help="Comma-separated labels in the model's output order "
                 "[sorted labels]."),
    click.option("--group-from", type=click.Choice(["ita"]), default=None, help="ita: groups from skin tone in the "
                 "pixels (light = group 1), for datasets without a group column."),
    click.option("--ita-threshold", type=click.FloatRange(-90, 90), default=None, help="With --group-from ita: the "
                 "light/dark boundary in degrees [28]."),
]


def with_options(options: list[Any]) -> Any:
    """A decorator adding ``options`` to a command, in the order listed."""
    def decorate(f: Any) -> Any:
        for opt in reversed(options):
            f = opt(f)
        return f
    return decorate


def table_params(kw: dict[str, Any]) -> dict[str, Any]:
    """The table options given on the command line (popped from ``kw``), as loader parameters."""
    out = {k: kw.pop(k) for k in ("file", "groups_file", "image_column", "label_column", "group_column",
                                  "privileged", "classes", "group_from", "ita_threshold")}
    if out["classes"]:
        out["classes"] = [c.strip() for c in out["classes"].split(",") if c.strip()]
    columns = list(out["group_column"] or ())
    out["group_column"] = None if not columns else columns[0] if len(columns) == 1 else columns
    return {k: v for k, v in out.items() if v is not None}


default_threads = available_cores  # the cores this process may use (its CPU affinity), not the machine's count


# Options that pick which run of a study (read-only commands take only these).
SELECT_OPTIONS = [
    click.argument("name"),
    click.option("--preset", default=None, help="The study on this device preset (its own run)."),
    click.option("--quick", is_flag=True, help="The study's quick settings (smoke run)."),
]
SEED_OPTION = [click.option("--seeds", default=None, help="Comma-separated training seeds, e.g. 0,1,2 "
                            "[default: the study's seeds]; every seed lives in the study's one run folder.")]
# Options of commands that compute.
RUN_OPTIONS = [
    click.option("--trials", type=click.IntRange(min=1), default=None, help="Monte-Carlo chips per cell (paper: 100)."),
    click.option("--device", default=None, help="cpu or cuda."),
    click.option("--data-root", default=None, help="Dataset root for real datasets."),
    click.option("--fresh", is_flag=True, help="Delete this study's cached stages and results first."),
    click.option("--no-progress", "--quiet", "no_progress", is_flag=True,
                 help="Hide progress bars and the study's progress line."),
    click.option("--workers", type=click.IntRange(min=1), default=None,
                 help="Worker processes computing the seeds and their stages side by side [default: the cores "
                 "this process may use, at most the study's seeds; 1 with --device cuda or --backend ray]."),
    click.option("--threads", type=click.IntRange(min=1), default=None,
                 help="CPU threads for torch per seed [default: the cores this process may use, shared among "
                 "the workers]; idle threads sleep (OMP_WAIT_POLICY=PASSIVE unless you set it)."),
    click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                 help="Where Monte-Carlo cells run."),
    click.option("--address", default=None, help="Ray cluster address (with --backend ray)."),
]

study_options = with_options(SELECT_OPTIONS + SEED_OPTION + RUN_OPTIONS)
select_options = with_options(SELECT_OPTIONS + SEED_OPTION)


def parse_seeds(text: str | None, option: str = "--seeds") -> tuple[int, ...] | None:
    """``--seeds 0,1,2`` (or another ``option``'s seed list) as distinct seeds from 0 to MAX_SEED
    (None: the study's own)."""
    from ..study.schema import MAX_SEED

    if text is None:
        return None
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{option} takes comma-separated integers ≥ 0 like 0,1,2, got '{clipped(text)}'") from None
    if not values or min(values) < 0 or max(values) > MAX_SEED or len(set(values)) != len(values):
        raise UserError(f"{option} takes distinct comma-separated integers from 0 to {MAX_SEED} like 0,1,2, got "
                        f"'{clipped(text)}'")
    return tuple(values)


def open_study(name: str, preset: str | None = None, quick: bool = False, seeds: str | None = None,
               trials: int | None = None, device: str | None = None, data_root: str | None = None,
               fresh: bool = False, no_progress: bool = False, threads: int | None = None, backend: str = "local",
               address: str | None = None, read_only: bool = False, workers: int | None = None) -> Any:
    """The Study the options select; ``read_only`` opens an existing run and computes nothing.

    Every computing command gives each seed the same thread count (``threads.plan_workers``), so
    a seed's numbers do not depend on whether ``study`` or a one-stage command computed it."""
    from ..data.catalog import DATASETS
    from ..study import Study, load_study
    from ..study.config import StudyOverrides

    overrides = StudyOverrides(quick=quick, preset=preset, seeds=parse_seeds(seeds), trials=trials, device=device)
    tag = overrides.tag()
    cfg = load_study(name, overrides)
    plan = plan_workers(len(cfg.seeds), workers, threads,
                        parallel=backend == "local" and cfg.device == "cpu")
    if not read_only:
        use_threads(plan.threads)
        if DATASETS[cfg.dataset.name].synthetic:
            click.echo(f"note: dataset {cfg.dataset.name} is SYNTHETIC (generated images, no real patients)", err=True)
    command = shlex.join(["fairxbar-aihw", "study", str(name), *(["--preset", preset] if preset else []),
                          *(["--quick"] if quick else []), *(["--seeds", seeds] if seeds else [])])
    executor = None
    if not read_only:  # a read-only command computes nothing: no executor (and no torch) to load
        from ..study.executors import make_executor

        executor = make_executor(backend, address)
    return Study(cfg, data_root=data_root, progress=not no_progress, fresh=fresh, tag=tag,
                 executor=executor, read_only=read_only, command=command, workers=plan)
