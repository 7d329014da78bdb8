"""Charts of the portrait de territoire (matplotlib, Agg, PNG + SVG, French labels).

Each function takes an engine table and returns a :class:`matplotlib.figure.Figure` built without
``pyplot`` (no global state, no display needed); :func:`save_figure` writes it as PNG and SVG with
fixed metadata so a re-run writes the same files.

- :func:`indicator_bars`: one indicator, one bar per QPV, the territory as a vertical line;
- :func:`gap_quadrant`: the gap-evolution scatter (situation improving or worsening × gap
  narrowing or widening), one point per zone;
- :func:`heatloss_stacks`: heat-loss class shares per QPV, stacked, in the scheme's colours;
- :func:`health_reach`: share of each QPV's population within walking reach, per kind.

Missing values are drawn as "n.d." labels, never as zero-length bars passing for 0. Text from
input files (QPV names) is shown literally (``$`` is not read as mathtext).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from qpvgeo._format import fmt, indicator_label, indicator_unit
from qpvgeo.errors import SchemaError

__all__ = ["gap_quadrant", "health_reach", "heatloss_stacks", "indicator_bars", "save_figure"]

_BAR = "#8c6bb1"
_TERRITORY = "#d7301f"
_RC: dict[str, Any] = {"font.size": 9, "svg.hashsalt": "qpvgeo", "svg.fonttype": "none"}


def _plain(text: object) -> str:
    """Text shown as is (no mathtext)."""
    return str(text).replace("$", r"\$")


def _need(table: pd.DataFrame, cols: Sequence[str], name: str) -> None:
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise SchemaError(f"{name}: no column(s) {', '.join(missing)} (found "
                          f"{', '.join(map(str, table.columns[:20]))})")


def _axis_fmt(unit: str):  # type: ignore[no-untyped-def]
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: fmt(v, unit, digits=0 if unit == "share" else None))


def indicator_bars(
    table: pd.DataFrame, column: str, *, territory_value: float | None = None,
    label_col: str = "nom_qpv", territory_label: str = "Territoire", title: str | None = None,
    source_note: str | None = None,
) -> Figure:
    """Horizontal bars of one indicator by QPV, with the territory value as a line.

    Parameters
    ----------
    table
        One row per QPV with ``label_col`` and ``column``.
    column
        Indicator column (its unit is looked up: shares shown in %).
    territory_value
        Value for the whole territory (drawn as a vertical line), or ``None``.
    label_col
        Column of QPV names.
    title, source_note
        Title (default: the indicator's French label) and a note under the chart.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _need(table, [column, label_col], "indicator table")
    unit = indicator_unit(column)
    values = pd.to_numeric(table[column], errors="coerce")
    order = values.fillna(-np.inf).sort_values(kind="stable").index
    vals = values.loc[order].to_numpy(dtype=float)
    labels = [_plain(v) for v in table.loc[order, label_col]]
    with _rc():
        fig = Figure(figsize=(7.5, 0.32 * len(labels) + 1.6), layout="constrained")
        ax = fig.add_subplot()
        y = np.arange(len(labels))
        ax.barh(y, np.nan_to_num(vals, nan=0.0), color=_BAR, height=0.7)
        ax.set_yticks(y, labels)
        finite = vals[np.isfinite(vals)]
        span = float(np.nanmax(np.abs(finite))) if finite.size else 1.0
        for yi, v in zip(y, vals, strict=True):
            ax.text((v if np.isfinite(v) else 0.0) + 0.01 * span, float(yi), fmt(v, unit),
                    va="center", fontsize=8, parse_math=False)
        if territory_value is not None and np.isfinite(territory_value):
            ax.axvline(territory_value, color=_TERRITORY, lw=1.5, ls="--",
                       label=f"{_plain(territory_label)} : {fmt(territory_value, unit)}")
            ax.legend(loc="lower right", fontsize=8)
        ax.xaxis.set_major_formatter(_axis_fmt(unit))
        ax.set_xlim(0 if not finite.size or finite.min() >= 0 else None,
                    1.18 * max(span, float(territory_value or 0)))
        ax.set_title(_plain(title or indicator_label(column)), loc="left", fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
        if source_note:
            fig.text(0.01, 0.005, _plain(source_note), fontsize=7, color="#555555",
                     ha="left", va="bottom")
    return fig


def gap_quadrant(
    table: pd.DataFrame, *, x: str, y: str, label_col: str = "nom_qpv",
    x_label: str | None = None, y_label: str | None = None, title: str | None = None,
    unit: str = "pct_points", source_note: str | None = None,
) -> Figure:
    """Quadrant scatter of the gap evolution: one point per zone.

    Parameters
    ----------
    table
        One row per zone (QPV or IRIS) with ``x``, ``y`` and ``label_col``.
    x
        Change of the zone's own value between the two dates (e.g. percentage points).
    y
        Change of the gap to the territory (positive: the gap widened).
    unit
        Unit of both axes for the tick labels (default percentage points of a share).
    x_label, y_label, title, source_note
        Axis labels, title and note (French).

    Returns
    -------
    matplotlib.figure.Figure
        Quadrant names are written in the corners; zones with a missing value are listed in
        the note, not drawn.
    """
    _need(table, [x, y, label_col], "gap table")
    xv = pd.to_numeric(table[x], errors="coerce").to_numpy(dtype=float)
    yv = pd.to_numeric(table[y], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(xv) & np.isfinite(yv)
    with _rc():
        fig = Figure(figsize=(7.5, 6), layout="constrained")
        ax = fig.add_subplot()
        ax.axhline(0, color="#333333", lw=0.8)
        ax.axvline(0, color="#333333", lw=0.8)
        ax.scatter(xv[ok], yv[ok], s=28, color=_BAR, zorder=3)
        for xi, yi, lab in zip(xv[ok], yv[ok], table[label_col].to_numpy()[ok], strict=True):
            ax.annotate(str(lab), (xi, yi), xytext=(3, 3), textcoords="offset points",
                        fontsize=7, parse_math=False)
        lim_x = float(np.nanmax(np.abs(xv[ok]))) * 1.25 if ok.any() else 1.0
        lim_y = float(np.nanmax(np.abs(yv[ok]))) * 1.25 if ok.any() else 1.0
        lim_x, lim_y = lim_x or 1.0, lim_y or 1.0
        ax.set_xlim(-lim_x, lim_x)
        ax.set_ylim(-lim_y, lim_y)
        ax.text(0.02, 0.98, "écart qui se creuse", va="top", fontsize=8, color="#555555",
                transform=ax.transAxes)
        ax.text(0.02, 0.02, "écart qui se réduit", va="bottom", fontsize=8, color="#555555",
                transform=ax.transAxes)
        ax.xaxis.set_major_formatter(_axis_fmt(unit))
        ax.yaxis.set_major_formatter(_axis_fmt(unit))
        ax.set_xlabel(_plain(x_label or x))
        ax.set_ylabel(_plain(y_label or y))
        ax.set_title(_plain(title or "Évolution des écarts au territoire"), loc="left",
                     fontsize=10)
        note = source_note or ""
        if (~ok).any():
            miss = ", ".join(map(str, table[label_col].to_numpy()[~ok]))
            note = (note + " — " if note else "") + f"non représentés (donnée manquante) : {miss}"
        if note:
            fig.text(0.01, 0.005, _plain(note), fontsize=7, color="#555555", ha="left",
                     va="bottom", wrap=True)
    return fig


def heatloss_stacks(
    table: pd.DataFrame, classes: Sequence[tuple[str, str]], *, count_cols: Sequence[str],
    label_col: str = "nom_qpv", title: str | None = None, source_note: str | None = None,
) -> Figure:
    """Stacked shares of heat-loss classes per zone (classified buildings = 100 %).

    Parameters
    ----------
    table
        One row per zone (QPV, then optionally a territory row) with ``label_col`` and one
        count column per class.
    classes
        Ordered ``(label, colour)`` of the heat-loss scheme.
    count_cols
        Count columns, in the order of ``classes``.

    Returns
    -------
    matplotlib.figure.Figure
        Zones without any classified building show "aucun bâtiment classé".
    """
    if len(count_cols) != len(classes):
        raise SchemaError("heatloss_stacks: one count column per class is needed "
                          f"({len(count_cols)} columns for {len(classes)} classes)")
    _need(table, [label_col, *count_cols], "heat-loss table")
    counts = table[list(count_cols)].apply(pd.to_numeric, errors="coerce").fillna(0.0)
    total = counts.sum(axis=1).to_numpy(dtype=float)
    shares = np.divide(counts.to_numpy(dtype=float), total[:, None],
                       out=np.zeros(counts.shape), where=total[:, None] > 0)
    labels = [_plain(v) for v in table[label_col]]
    with _rc():
        fig = Figure(figsize=(7.5, 0.32 * len(labels) + 1.8), layout="constrained")
        ax = fig.add_subplot()
        y = np.arange(len(labels))[::-1]
        left = np.zeros(len(labels))
        for j, (lab, colour) in enumerate(classes):
            ax.barh(y, shares[:, j], left=left, color=colour, height=0.7,
                    label=f"Déperditions {_plain(lab)}", edgecolor="white", linewidth=0.3)
            left += shares[:, j]
        for yi, t in zip(y, total, strict=True):
            if t == 0:
                ax.text(0.01, yi, "aucun bâtiment classé", va="center", fontsize=7)
        ax.set_yticks(y, labels)
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(_axis_fmt("share"))
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncols=min(len(classes), 3),
                  fontsize=7, frameon=False)
        ax.set_title(_plain(title or "Déperditions thermiques des toitures par quartier"),
                     loc="left", fontsize=10)
        if source_note:
            fig.text(0.01, 0.005, _plain(source_note), fontsize=7, color="#555555")
    return fig


def health_reach(
    table: pd.DataFrame, share_cols: Sequence[str], *, kind_labels: Sequence[str],
    label_col: str = "nom_qpv", territory: pd.Series | None = None, title: str | None = None,
    source_note: str | None = None,
) -> Figure:
    """Draw grouped bars: share of each zone's population within walking reach, per kind.

    Parameters
    ----------
    table
        One row per QPV with ``label_col`` and the share columns (0–1).
    share_cols
        One column per equipment kind; ``kind_labels`` gives their French names.
    territory
        Optional territory values indexed like ``share_cols`` (drawn as dashed ticks).

    Returns
    -------
    matplotlib.figure.Figure
    """
    _need(table, [label_col, *share_cols], "health table")
    labels = [_plain(v) for v in table[label_col]]
    n_k = len(share_cols)
    colours = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"]
    with _rc():
        fig = Figure(figsize=(7.5, 0.42 * len(labels) * max(1, n_k / 2) + 1.8),
                     layout="constrained")
        ax = fig.add_subplot()
        y = np.arange(len(labels))[::-1].astype(float)
        h = 0.8 / max(n_k, 1)
        for j, (col, lab) in enumerate(zip(share_cols, kind_labels, strict=True)):
            v = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)
            pos = y + 0.4 - h * (j + 0.5)
            ax.barh(pos, np.nan_to_num(v, nan=0.0), height=h, color=colours[j % 6],
                    label=_plain(lab))
            for p_, vi in zip(pos, v, strict=True):
                if not np.isfinite(vi):
                    ax.text(0.01, p_, "n.d.", va="center", fontsize=6)
            if territory is not None and col in territory.index \
                    and np.isfinite(float(territory[col])):
                ax.axvline(float(territory[col]), color=colours[j % 6], ls="--", lw=1)
        ax.set_yticks(y, labels)
        ax.set_xlim(0, 1.05)
        ax.xaxis.set_major_formatter(_axis_fmt("share"))
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncols=min(n_k, 4),
                  fontsize=7, frameon=False)
        ax.set_title(_plain(title or "Population à portée à pied des équipements de santé"),
                     loc="left", fontsize=10)
        if source_note:
            fig.text(0.01, 0.005, _plain(source_note), fontsize=7, color="#555555")
    return fig


class _rc:
    """Context manager applying the house rc parameters."""

    def __enter__(self) -> None:
        import matplotlib as mpl

        rc: Any = _RC
        self._ctx: Any = mpl.rc_context(rc)
        self._ctx.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._ctx.__exit__(*exc)


def save_figure(fig: Figure, stem: str | Path, *, dpi: int = 150) -> list[Path]:
    """Write ``fig`` as ``<stem>.png`` and ``<stem>.svg`` (reproducible metadata).

    Returns
    -------
    list of Path
        The two written files.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png = stem.with_suffix(".png")
    svg = stem.with_suffix(".svg")
    with _rc():
        fig.savefig(png, dpi=dpi, metadata={"Software": None})
        fig.savefig(svg, metadata={"Date": None, "Creator": None})
    return [png, svg]
