"""The ``fairxbar-aihw`` command line.

Errors the user can fix print one line on stderr and exit 2 (no traceback unless --debug);
Ctrl-C exits 130 and keeps every finished trial.
"""
from __future__ import annotations

import json
import os
import shlex
import sqlite3
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import DataWarning, UserError, clipped

STATE = {"debug": False}
MAX_ERROR_CHARS = 500  # an error stays one readable line even if a message lists too much


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fairxbar-aihw")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
def cli(debug: bool) -> None:
    """Fairness of skin-lesion classifiers on non-ideal analog in-memory-computing chips
    (FairXbar on IBM aihwkit)."""
    STATE["debug"] = debug


# ---------------------------------------------------------------- listings
@cli.command()
def studies() -> None:
    """List the studies in studies/*.yaml."""
    from .study.config import available, load_study

    for name in available():
        try:
            cfg = load_study(name)
        except UserError as exc:  # one bad file must not hide the others
            click.echo(f"{name:18s} INVALID: {exc}")
            continue
        desc = textwrap.shorten(cfg.description, width=90, placeholder=" …")
        click.echo(f"{name:18s} {cfg.dataset.name:15s} {cfg.model.name:10s} {desc}")


@cli.group(invoke_without_command=True)
@click.pass_context
def presets(ctx: click.Context) -> None:
    """List device presets (device_presets/*.yaml); `presets show NAME` prints one resolved."""
    if ctx.invoked_subcommand is None:
        from .hardware import available, load_preset

        for name in available():
            try:
                p = load_preset(name)
            except UserError as exc:  # one bad file must not hide the others
                click.echo(f"{name:18s} INVALID: {exc}")
                continue
            click.echo(f"{name:18s} {p.summary():60s} {p.description}")


@presets.command("show")
@click.argument("name")
def presets_show(name: str) -> None:
    """Print a preset's resolved settings."""
    from .hardware import load_preset

    p = load_preset(name)
    import yaml

    click.echo(f"# {p.name}: {p.description}")
    click.echo(yaml.safe_dump(p.applicable(), sort_keys=False).strip())


# ---------------------------------------------------------------- metrics and data
@cli.command()
@click.argument("file", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print every metric as JSON.")
@click.option("--reference", type=click.Path(), default=None, help="The reference model's predictions on the same "
              "rows: FILE is then a deployment of it (quantised, pruned, analog, other hardware); prints churn, "
              "McNemar and the change of each metric per group.")
def metrics(file: str, as_json: bool, reference: str | None) -> None:
    """Fairness audit of any model from a predictions CSV (label, pred, group[, id][, score_<k>])."""
    from .metrics import HEADLINE, metrics_from_csv

    if reference is not None:
        from .metrics.reference import compare, comparison_lines

        r = compare(file, reference)
        click.echo(json.dumps(r, indent=2) if as_json else "\n".join(comparison_lines(r)))
        return
    m = metrics_from_csv(file)
    if as_json:
        click.echo(json.dumps(m, indent=2))
        return
    click.echo(f"samples: {m['n']}, classes: {m['num_classes']}")
    for key in HEADLINE + (("auc",) if m.get("auc") is not None else ()):
        click.echo(f"{key:10s} {m[key]:.4f}")
    for c in (0, 1):
        g = m["per_group"][c]
        click.echo(f"group {c} ({'unprivileged' if c == 0 else 'privileged'}): n={g['n']} accuracy={g['accuracy']:.4f} "
                   f"f1_macro={g['f1_macro']:.4f} ppv_ratio={g['ppv_ratio']:.3f} "
                   f"selection_rate_ratio={g['selection_rate_ratio']:.3f}")
    for rate, cls in m["undefined"].items():
        if cls:
            click.echo(f"note: {rate.upper()} undefined in a group for class(es) {cls}; left out of the sums")


@cli.group()
def data() -> None:
    """Dataset tools."""


# Options of your own datasets (csv, folder): `data check` and `audit` take them.
TABLE_OPTIONS = [
    click.option("--file", "file", default=None, help="csv: the labels CSV under the root [labels.csv]."),
    click.option("--groups-file", default=None, help="folder: the groups CSV under the root [groups.csv]."),
    click.option("--image-column", default=None, help="Column with image paths relative to the root [image]."),
    click.option("--label-column", default=None, help="csv: column with labels [label]."),
    click.option("--group-column", default=None, help="Column with the group value [group]."),
    click.option("--privileged", default=None, help="The group value that is privileged (csv/folder: required)."),
    click.option("--classes", default=None, help="Comma-separated labels in the model's output order "
                 "[sorted labels]."),
    click.option("--group-from", type=click.Choice(["ita"]), default=None, help="ita: groups from skin tone in the "
                 "pixels (light = group 1), for datasets without a group column."),
    click.option("--ita-threshold", type=click.FloatRange(-90, 90), default=None, help="With --group-from ita: the "
                 "light/dark boundary in degrees [28]."),
]


def _with_table_options(f: Any) -> Any:
    for opt in reversed(TABLE_OPTIONS):
        f = opt(f)
    return f


def table_params(kw: dict[str, Any]) -> dict[str, Any]:
    """The table options given on the command line (popped from ``kw``), as loader parameters."""
    out = {k: kw.pop(k) for k in ("file", "groups_file", "image_column", "label_column", "group_column",
                                  "privileged", "classes", "group_from", "ita_threshold")}
    if out["classes"]:
        out["classes"] = [c.strip() for c in out["classes"].split(",") if c.strip()]
    return {k: v for k, v in out.items() if v is not None}


@data.command("check")
@click.option("--dataset", required=True, help="synthderm, fitzpatrick17k, isic2019, csv or folder")
@click.option("--data-root", "--root", "root", default=None,
              help="Dataset root folder (or FAIRXBAR_FITZ_ROOT / FAIRXBAR_ISIC_ROOT / FAIRXBAR_DATA_ROOT).")
@click.option("--size", default=32, show_default=True, help="Decode resolution (pixels).")
@click.option("--no-decode", is_flag=True, help="Only check the CSVs and file presence.")
@_with_table_options
def data_check(dataset: str, root: str | None, size: int, no_decode: bool, **kw: Any) -> None:
    """Validate a dataset root and print counts per class × group."""
    from .data import check

    r = check(dataset, root, size=size, decode=not no_decode, **table_params(kw))
    if r["synthetic"]:
        click.echo("synthderm: SYNTHETIC images generated on the fly (no files needed)")
    click.echo(f"{dataset}: {r['usable']} usable images of {r['rows']} rows")
    click.echo(f"{'class':28s} {r['group_names'][0][:22]:>24s} {r['group_names'][1][:22]:>24s}")
    for name, (g0, g1) in zip(r["class_names"], r["counts"]):
        click.echo(f"{str(name)[:28]:28s} {g0:24d} {g1:24d}")
    for value, count in (r.get("value_counts") or {}).items():
        click.echo(f"group value {value}: {count} images (before decoding)")
    if r.get("ita"):
        from .data.skin_tone import ita_lines

        for line in ita_lines(r["ita"]):
            click.echo(line)
    for p in r["problems"]:
        click.echo(f"warning: {p}")
    if "skipped" in r:
        from .data.loading import describe_skips

        click.echo(describe_skips(r["skipped"]))


# ---------------------------------------------------------------- study stages
def default_threads() -> int:
    """The cores this process may use (its CPU affinity), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


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
    click.option("--no-progress", is_flag=True, help="Hide progress bars."),
    click.option("--threads", type=click.IntRange(min=1), default=None,
                 help="CPU threads for torch [default: the cores this process may use]."),
    click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                 help="Where Monte-Carlo cells run."),
    click.option("--address", default=None, help="Ray cluster address (with --backend ray)."),
]


def _with(options: list[Any]) -> Any:
    def decorate(f: Any) -> Any:
        for opt in reversed(options):
            f = opt(f)
        return f
    return decorate


study_options = _with(SELECT_OPTIONS + SEED_OPTION + RUN_OPTIONS)
select_options = _with(SELECT_OPTIONS + SEED_OPTION)


def parse_seeds(text: str | None) -> list[int] | None:
    """``--seeds 0,1,2`` as a list of distinct seeds from 0 to MAX_SEED (None: the study's own)."""
    from .study.schema import MAX_SEED

    if text is None:
        return None
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"--seeds takes comma-separated integers ≥ 0 like 0,1,2, got '{clipped(text)}'") from None
    if not values or min(values) < 0 or max(values) > MAX_SEED or len(set(values)) != len(values):
        raise UserError(f"--seeds takes distinct comma-separated integers from 0 to {MAX_SEED} like 0,1,2, got "
                        f"'{clipped(text)}'")
    return values


def _run(name: str, preset: str | None = None, quick: bool = False, seeds: str | None = None,
         trials: int | None = None, device: str | None = None, data_root: str | None = None, fresh: bool = False,
         no_progress: bool = False, threads: int | None = None, backend: str = "local", address: str | None = None,
         read_only: bool = False) -> Any:
    """The Study the options select; ``read_only`` opens an existing run and computes nothing."""
    from .hardware import load_preset
    from .study import Study, load_study
    from .study.executors import make_executor

    overrides: dict[str, Any] = {}
    if trials is not None:
        overrides["sweep.trials"] = trials
    if device:
        overrides["device"] = device
    seed_list = parse_seeds(seeds)
    if seed_list is not None:
        overrides["seeds"] = seed_list
    preset_name = None
    if preset:
        preset_name = load_preset(preset).name  # a path's stem: a validated name, never the raw path
        overrides["sweep.hardware"] = [{"preset": preset, "intensities": None}]
        overrides["retrain.presets"] = None  # the arms run on the swapped technology too
        overrides["retrain.preset"] = None
    cfg = load_study(name, quick=quick, **overrides)
    if preset and cfg.drift.presets:
        cfg.drift.presets = [preset]
    tag = (f"-{preset_name}" if preset_name else "") + ("-quick" if quick else "")
    if not read_only:
        import torch

        torch.set_num_threads(threads or default_threads())
        if cfg.dataset.name == "synthderm":
            click.echo("note: dataset synthderm is SYNTHETIC (generated images, no real patients)", err=True)
    command = shlex.join(["fairxbar-aihw", "study", str(name), *(["--preset", preset] if preset else []),
                          *(["--quick"] if quick else []), *(["--seeds", seeds] if seeds else [])])
    return Study(cfg, data_root=data_root, progress=not no_progress, fresh=fresh, tag=tag,
                 executor=make_executor(backend, address), read_only=read_only, command=command)


@cli.command()
@_with(SELECT_OPTIONS + RUN_OPTIONS)
@click.option("--seeds", default="0,1,2", show_default=True, help="Comma-separated training seeds.")
def seeds(**kw: Any) -> None:
    """Alias of `study NAME --seeds ...` (seeds now live inside a study and its one report)."""
    click.echo(f"note: `seeds` runs `fairxbar-aihw study {kw['name']} --seeds {kw['seeds']}`", err=True)
    click.echo(f"report: {_run(**kw).run_all()}")


@cli.command()
@study_options
def study(**kw: Any) -> None:
    """Run every stage of a study that is not done yet, then write its report."""
    run = _run(**kw)
    path = run.run_all()
    click.echo(f"report: {path}")


@cli.command()
@study_options
def train(**kw: Any) -> None:
    """Train (or load) the baseline model of each seed."""
    for run in _run(**kw).runs():
        _, ckpt = run.baseline
        t = ckpt["test"]
        click.echo(f"seed {run.cfg.seed} baseline: test macro-F1 {t['f1_macro']:.4f}, EOdds {t['eodds']:.4f}, "
                   f"accuracy by group 0={t['per_group'][0]['accuracy']:.4f} 1={t['per_group'][1]['accuracy']:.4f}")


@cli.command()
@study_options
def saliency(**kw: Any) -> None:
    """Compute (or load) per-group curvature and the saliency ranks of each seed."""
    for run in _run(**kw).runs():
        run.saliency  # noqa: B018 (computes and caches)
        for target in run.cfg.sweep.targets:
            for label in run.plan.fa_labels():
                m = run.masks(label, target)
                total = sum(v.numel() for v in m.values())
                click.echo(f"seed {run.cfg.seed}: {label} at {100 * target:g}%: "
                           f"{sum(int(v.sum()) for v in m.values())} of {total} weights targeted")


def _stage(kw: dict[str, Any], what: str, work: Any) -> None:
    """Run one stage on every seed (after preparing it) and say how much was new."""
    study = _run(**kw)
    n = 0
    for run in study.runs():
        run.prepare()
        n += work(run)
    click.echo(f"{n} {what} run; results in {study.store.path}")


@cli.command()
@study_options
def inject(**kw: Any) -> None:
    """Run the Monte-Carlo error-injection sweep of each seed (resumable)."""
    _stage(kw, "chips", lambda run: run.inject())


@cli.command()
@study_options
def retrain(**kw: Any) -> None:
    """Run the study's mitigation arms (VA/VFA retraining, HWA, boundary, pruning) and their chips."""
    _stage(kw, "arm chips/rows", lambda run: run.retrain() + run.prune())


@cli.command()
@study_options
def drift(**kw: Any) -> None:
    """Evaluate fairness over time after programming (the study's drift section)."""
    _stage(kw, "drift chips", lambda run: run.drift())


@cli.command()
@select_options
def report(**kw: Any) -> None:
    """Rewrite the markdown report from the results database (read-only: computes nothing)."""
    run = _run(**kw, read_only=True)
    click.echo(f"report: {run.write_report()}")
    gaps = run.incomplete()
    if gaps:
        click.echo(f"warning: incomplete run: {gaps}", err=True)


@cli.command()
@select_options
@click.option("--out", required=True, help="Output .csv or .parquet file.")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
def export(out: str, force: bool, **kw: Any) -> None:
    """Export a study's trial rows to CSV or Parquet (read-only: computes nothing)."""
    click.echo(f"wrote {_run(**kw, read_only=True).export(out, force=force)}")


@cli.command()
@click.argument("name")
@click.option("--model", "torchscript", default=None, help="Your trained model as a torch.export program (.pt2) or "
              "TorchScript file; refused unless it calls tensor operations only.")
@click.option("--weights", default=None, help="A state dict (loaded weights_only) for --arch.")
@click.option("--arch", default=None, help="Architecture of --weights: small-cnn, resnet18, vgg11, vgg11_bn or a "
              "torchvision classification model name.")
@click.option("--entry", default=None, help="Trusted Python module:function returning your nn.Module (runs code).")
@click.option("--dataset", default="csv", show_default=True, help="csv, folder, or a built-in dataset.")
@click.option("--data-root", required=True, help="Dataset root folder (paths in the CSV are relative to it).")
@_with_table_options
@click.option("--size", type=click.IntRange(8, 512), default=32, show_default=True,
              help="Image side the model expects (pixels).")
@click.option("--preset", "presets", multiple=True, help="Technology to audit (repeat for several) "
              "[paper-variation, pcm-ibm].")
@click.option("--chips", type=click.IntRange(min=2), default=10, show_default=True, help="Chips per technology.")
@click.option("--target", type=click.FloatRange(0, 1, min_open=True), default=0.4, show_default=True,
              help="F+A R target fraction x.")
@click.option("--no-drift", is_flag=True, help="Skip the drift-over-time section.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Split and chip seed.")
@click.option("--fresh", is_flag=True, help="Delete this audit's cached results first.")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for torch.")
def audit(name: str, torchscript: str | None, weights: str | None, arch: str | None, entry: str | None, dataset: str,
          data_root: str, size: int, presets: tuple[str, ...], chips: int, target: float, no_drift: bool, seed: int,
          fresh: bool, no_progress: bool, threads: int | None, **kw: Any) -> None:
    """Audit your trained model on analog chips: per group on each technology, over drift time,
    per layer, and whether F+A R targeting helps (report in reports/NAME/)."""
    from .study.audit import Audit, audit_config

    given = [k for k, v in (("--model", torchscript), ("--weights", weights), ("--entry", entry)) if v]
    if len(given) != 1:
        raise UserError("audit needs exactly one of --model (.pt2 or TorchScript), --weights (with --arch) or --entry; "
                        "got "
                        + (" and ".join(given) or "none"))
    if weights and not arch:
        raise UserError("--weights needs --arch: the architecture the state dict belongs to")
    model = {"name": arch or "given", "torchscript": torchscript, "weights": weights, "entry": entry}
    ds = {"name": dataset, "root": str(Path(data_root).expanduser().resolve()), "size": size, **table_params(kw)}
    cfg = audit_config(name, {k: v for k, v in model.items() if v is not None}, ds,
                       list(presets) or ["paper-variation", "pcm-ibm"], chips, seed, target, not no_drift)
    import torch

    torch.set_num_threads(threads or default_threads())
    audited = Audit(cfg, progress=not no_progress, fresh=fresh)
    click.echo(f"report: {audited.run_all()}")
    skipped = audited.only.splits.info.get("skipped")
    if skipped:
        from .data.loading import describe_skips

        click.echo(describe_skips(skipped))


def _close_progress_bars() -> None:
    """Close live progress bars so none is redrawn below the interruption message."""
    tqdm = sys.modules.get("tqdm")
    if tqdm is not None:
        for bar in list(getattr(tqdm.tqdm, "_instances", [])):
            bar.close()


def _show_warning(message: Any, category: type[Warning], *args: Any, **kw: Any) -> None:
    """Data warnings (rows skipped, a likely class-order mix-up) as one ``warning:`` line on stderr."""
    if issubclass(category, DataWarning):
        click.echo(f"warning: {message}", err=True)
    else:
        _PYTHON_SHOW_WARNING(message, category, *args, **kw)


_PYTHON_SHOW_WARNING = warnings.showwarning


def main() -> None:
    """Entry point: one-line errors, exit 2 for user errors, 130 for Ctrl-C."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.showwarning = _show_warning
    debug = "--debug" in sys.argv[1:]
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        _close_progress_bars()
        click.echo("interrupted: finished trials are saved; rerun the same command to resume", err=True)
        sys.exit(130)
    except click.UsageError as exc:  # one line: the problem and where to look
        where = exc.ctx.command_path if exc.ctx else "fairxbar-aihw"
        click.echo(f"error: {exc.format_message()} (see `{where} --help`)", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except UserError as exc:
        if debug:
            raise
        click.echo(f"error: {clipped(str(exc), MAX_ERROR_CHARS)}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        _close_progress_bars()
        click.echo("interrupted: finished trials are saved; rerun the same command to resume", err=True)
        sys.exit(130)
    except OSError as exc:  # disk full, read-only folder, missing folder: name the file and the cause
        if debug:
            raise
        where = f" {exc.filename}" if exc.filename else ""
        click.echo(f"error: cannot write or read{where}: {exc.strerror or exc}; free space or fix the folder's "
                   "permissions, then rerun (finished work is kept)", err=True)
        sys.exit(2)
    except sqlite3.OperationalError as exc:  # "database or disk is full", "readonly database"
        if debug:
            raise
        click.echo(f"error: results database: {exc}; free space or fix the runs folder's permissions, then "
                   "rerun (committed rows are kept)", err=True)
        sys.exit(2)
    except Exception as exc:  # a bug: say so in one line, traceback on --debug
        if debug:
            raise
        click.echo(f"internal error: {type(exc).__name__}: {clipped(str(exc), MAX_ERROR_CHARS)} (rerun with --debug "
                   "for the traceback)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
