"""Commands on files you bring: ``metrics`` (a predictions CSV) and ``data check`` (a dataset root)."""
from __future__ import annotations

import json
from typing import Any

import click

from .options import TABLE_OPTIONS, table_params, with_options


@click.command()
@click.argument("file", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print every metric as JSON.")
@click.option("--reference", type=click.Path(), default=None, help="The reference model's predictions on the same "
              "rows: FILE is then a deployment of it (quantised, pruned, analog, other hardware); prints churn, "
              "McNemar and the change of each metric per group.")
@click.option("--groups", "group_columns", default=None, metavar="COL[,COL...]",
              help="Group the rows by these columns' values (any text: 1..6, F/M, light) instead of the 0/1 "
                   "'group' column; several columns give their intersections.")
@click.option("--min-group-size", type=click.IntRange(min=1), default=30, show_default=True,
              help="Fewest rows a group may have (with --groups or more than two groups).")
def metrics(file: str, as_json: bool, reference: str | None, group_columns: str | None, min_group_size: int) -> None:
    """Fairness audit of any model from a predictions CSV (label, pred, group[, id][, score_<k>]); with
    --groups the groups are the named columns' values (any text, intersections of several)."""
    from ..metrics import HEADLINE, metrics_from_csv

    columns = None if group_columns is None else group_columns.split(",")
    if reference is not None:
        from ..metrics.reference import compare, comparison_lines

        r = compare(file, reference, group_columns=columns)
        click.echo(json.dumps(r, indent=2) if as_json else "\n".join(comparison_lines(r)))
        return
    m = metrics_from_csv(file, columns, min_group_size)
    if as_json:
        click.echo(json.dumps(m, indent=2))
        return
    click.echo(f"samples: {m['n']}, classes: {m['num_classes']}")
    for key in HEADLINE + (("auc",) if m.get("auc") is not None else ()):
        click.echo(f"{key:10s} {m[key]:.4f}")
    names = m["group_names"]
    two_codes = columns is None and len(names) == 2
    for c, g in m["per_group"].items():
        name = f"{c} ({'unprivileged' if c == 0 else 'privileged'})" if two_codes else f"{c} ({names[c]})"
        click.echo(f"group {name}: n={g['n']} accuracy={g['accuracy']:.4f} "
                   f"f1_macro={g['f1_macro']:.4f} ppv_ratio={g['ppv_ratio']:.3f} "
                   f"selection_rate_ratio={g['selection_rate_ratio']:.3f}")
    if len(names) > 2:
        a, b = m["worst_pair"]
        click.echo(f"{len(names)} groups: eodds, eopp0, eopp1 above are worst-pair gaps; worst pair "
                   f"{names[a]} vs {names[b]}, lowest accuracy {names[m['worst_group']]}")
        click.echo(f"{'k-group gap':18s} {'raw':>8s} {'corrected':>10s} {'floor':>8s}")
        for key in (f"{m_}_{kind}" for m_ in ("eodds", "eopp0", "eopp1") for kind in ("worst_pair", "range")):
            click.echo(f"{key:18s} {m[key]:8.4f} {m[key + '_bc']:10.4f} {m[key + '_floor']:8.4f}")
    for rate, cls in m["undefined"].items():
        if cls:
            click.echo(f"note: {rate.upper()} undefined in a group for class(es) {cls}; left out of the sums")


@click.group()
def data() -> None:
    """Dataset tools."""


@data.command("check")
@click.option("--dataset", required=True, help="synthderm, fitzpatrick17k, isic2019, csv or folder")
@click.option("--data-root", "--root", "root", default=None,
              help="Dataset root folder (or FAIRXBAR_FITZ_ROOT / FAIRXBAR_ISIC_ROOT / FAIRXBAR_DATA_ROOT).")
@click.option("--size", default=32, show_default=True, help="Decode resolution (pixels).")
@click.option("--no-decode", is_flag=True, help="Only check the CSVs and file presence.")
@with_options(TABLE_OPTIONS)
def data_check(dataset: str, root: str | None, size: int, no_decode: bool, **kw: Any) -> None:
    """Validate a dataset root and print counts per class × group."""
    from ..data import check

    r = check(dataset, root, size=size, decode=not no_decode, **table_params(kw))
    if r["synthetic"]:
        click.echo(f"{dataset}: SYNTHETIC images generated on the fly (no files needed)")
    click.echo(f"{dataset}: {r['usable']} usable images of {r['rows']} rows")
    click.echo(f"{'class':28s} {r['group_names'][0][:22]:>24s} {r['group_names'][1][:22]:>24s}")
    for name, (g0, g1) in zip(r["class_names"], r["counts"]):
        click.echo(f"{str(name)[:28]:28s} {g0:24d} {g1:24d}")
    for value, count in (r.get("value_counts") or {}).items():
        click.echo(f"group value {value}: {count} images (before decoding)")
    if r.get("ita"):
        from ..data.skin_tone import ita_lines

        for line in ita_lines(r["ita"]):
            click.echo(line)
    for p in r["problems"]:
        click.echo(f"warning: {p}")
    if "skipped" in r:
        from ..data.skips import describe_skips

        click.echo(describe_skips(r["skipped"]))


COMMANDS = [metrics, data]
