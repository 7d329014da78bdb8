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

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from qpvgeo._format import fmt, indicator_label, indicator_unit
from qpvgeo.errors import SchemaError

__all__ = ["ILLUSTRATIVE_MARK", "gap_quadrant", "health_reach", "heatloss_stacks",
           "indicator_bars", "save_figure"]

_BAR = "#8c6bb1"
_TERRITORY = "#d7301f"
_RC: dict[str, Any] = {"font.size": 9, "svg.hashsalt": "qpvgeo", "svg.fonttype": "none"}


def _plain(text: object) -> str:
    """Text shown as is (no mathtext)."""
    return str(text).replace("$", r"\$")


ILLUSTRATIVE_MARK = "DONNÉES ILLUSTRATIVES (fictives)"
"""Text stamped on charts made from illustrative stand-in data."""


def _wrap(text: object, width: int) -> str:
    return "\n".join(textwrap.wrap(_plain(text), width=width, break_long_words=False)
                     or [""])


def _finish(fig: Figure, title: str, source_note: str | None, illustrative: bool) -> None:
    """Add the title (top left), the wrapped note (bottom) and the illustrative stamp.

    The constrained layout keeps room for the note and places the axes in between.
    """
    width_in, height_in = fig.get_size_inches()
    chars = int(width_in * 17)  # ~17 characters of 7 pt text per inch
    top = 0.0
    if title:
        wrapped = _wrap(title, int(width_in * 11))
        fig.text(0.01, 0.995, wrapped, ha="left", va="top", fontsize=10)
        top = ((wrapped.count("\n") + 1) * 0.18 + 0.08) / height_in
    lines = 0
    if illustrative:
        fig.text(0.01, 0.005, ILLUSTRATIVE_MARK, ha="left", va="bottom", fontsize=7,
                 color="#b00020", fontweight="bold")
        lines += 1
    if source_note:
        note = _wrap(source_note, chars)
        fig.text(0.01, (0.005 + 0.125 * lines / height_in), note, fontsize=7,
                 color="#555555", ha="left", va="bottom")
        lines += note.count("\n") + 1
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    engine = fig.get_layout_engine()
    bottom = (lines * 0.125 + 0.06) / height_in if lines else 0.0
    if isinstance(engine, ConstrainedLayoutEngine) and (lines or top):
        engine.set(rect=(0.0, bottom, 1.0, 1.0 - bottom - top))


def _need(table: pd.DataFrame, cols: Sequence[str], name: str) -> None:
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise SchemaError(f"{name}: no column(s) {', '.join(missing)} (found "
                          f"{', '.join(map(str, table.columns[:20]))})")


def _axis_fmt(unit: str):  # type: ignore[no-untyped-def]
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: fmt(v, unit, digits=0 if unit in ("share",
                                                                         "pct_points")
                                                else None))


def _few_ticks(axis: Any, unit: str) -> None:
    """Format an axis in the unit with a few round ticks (long euro labels never overlap)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(nbins=4 if unit == "eur" else 6))
    axis.set_major_formatter(_axis_fmt(unit))


def indicator_bars(
    table: pd.DataFrame, column: str, *, territory_value: float | None = None,
    label_col: str = "nom_qpv", territory_label: str = "Territoire", title: str | None = None,
    source_note: str | None = None, illustrative: bool = False,
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
    illustrative
        Stamp "DONNÉES ILLUSTRATIVES" on the chart.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _need(table, [column, label_col], "indicator table")
    unit = indicator_unit(column)
    values = pd.to_numeric(table[column], errors="coerce")
    order = values.fillna(-np.inf).sort_values(kind="stable").index
    vals = values.loc[order].to_numpy(dtype=float)
    labels = [_wrap(v, 34) for v in table.loc[order, label_col]]
    with _rc():
        fig = Figure(figsize=(7.5, 0.32 * len(labels) + 1.8), layout="constrained")
        ax = fig.add_subplot()
        y = np.arange(len(labels))
        ax.barh(y, np.nan_to_num(vals, nan=0.0), color=_BAR, height=0.7)
        ax.set_yticks(y, labels)
        ax.set_ylim(-0.6, len(labels) - 0.4)
        finite = vals[np.isfinite(vals)]
        span = float(np.nanmax(np.abs(finite))) if finite.size else 1.0
        for yi, v in zip(y, vals, strict=True):
            ax.text((v if np.isfinite(v) else 0.0) + 0.01 * span, float(yi), fmt(v, unit),
                    va="center", fontsize=8, parse_math=False)
        if territory_value is not None and np.isfinite(territory_value):
            ax.axvline(territory_value, color=_TERRITORY, lw=1.5, ls="--",
                       label=f"{_plain(territory_label)} : {fmt(territory_value, unit)}")
            ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
        _few_ticks(ax.xaxis, unit)
        tv = float(territory_value) if territory_value is not None and \
            np.isfinite(territory_value) else 0.0
        ax.set_xlim(0 if not finite.size or finite.min() >= 0 else None,
                    1.18 * max(span, tv))
        ax.spines[["top", "right"]].set_visible(False)
        _finish(fig, title or indicator_label(column), source_note, illustrative)
    return fig


def gap_quadrant(
    table: pd.DataFrame, *, x: str, y: str, label_col: str = "nom_qpv",
    x_label: str | None = None, y_label: str | None = None, title: str | None = None,
    unit: str = "pct_points", source_note: str | None = None,
    x_left: str | None = None, x_right: str | None = None, illustrative: bool = False,
    max_labels: int | None = 25,
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
    x_left, x_right
        Words written at the left and right ends of the horizontal axis (e.g.
        "dégradation" / "amélioration" when ``x`` is signed so that right is better).
    max_labels
        Name at most this many points, those farthest from the centre (axes scaled to the
        same range), so that a cloud of IRIS stays readable; ``None`` names them all. The
        note says how many are named.

    Returns
    -------
    matplotlib.figure.Figure
        The corners say how many zones have a widening and a narrowing gap; zones with a
        missing value are listed in the note, not drawn.
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
        lim_x = float(np.nanmax(np.abs(xv[ok]))) * 1.25 if ok.any() else 1.0
        lim_y = float(np.nanmax(np.abs(yv[ok]))) * 1.25 if ok.any() else 1.0
        lim_x, lim_y = lim_x or 1.0, lim_y or 1.0
        named = np.ones(int(ok.sum()), dtype=bool)
        if max_labels is not None and ok.sum() > max_labels:
            far = np.hypot(xv[ok] / lim_x, yv[ok] / lim_y)
            named[:] = False
            named[np.argsort(-far, kind="stable")[:max_labels]] = True
        for xi, yi, lab, show in zip(xv[ok], yv[ok], table[label_col].to_numpy()[ok], named,
                                     strict=True):
            if show:
                ax.annotate(str(lab), (xi, yi), xytext=(3, 3), textcoords="offset points",
                            fontsize=7, parse_math=False)
        ax.set_xlim(-lim_x, lim_x)
        ax.set_ylim(-lim_y, lim_y)
        n_up, n_down = int((yv[ok] > 0).sum()), int((yv[ok] < 0).sum())
        ax.text(0.02, 0.98, f"écart qui se creuse ({n_up})", va="top", fontsize=8,
                color="#555555", transform=ax.transAxes)
        ax.text(0.02, 0.02, f"écart qui se réduit ({n_down})", va="bottom", fontsize=8,
                color="#555555", transform=ax.transAxes)
        if x_left:
            ax.text(0.02, 0.5, "← " + _plain(x_left), va="bottom", fontsize=8,
                    color="#555555", transform=ax.transAxes)
        if x_right:
            ax.text(0.98, 0.5, _plain(x_right) + " →", va="bottom", ha="right", fontsize=8,
                    color="#555555", transform=ax.transAxes)
        _few_ticks(ax.xaxis, unit)
        _few_ticks(ax.yaxis, unit)
        ax.set_xlabel(_plain(x_label or x))
        ax.set_ylabel(_plain(y_label or y))
        note = source_note or ""
        if not named.all():
            note = (note + " — " if note else "") + (
                f"noms des {int(named.sum())} zones les plus éloignées du centre sur "
                f"{len(named)}")
        if (~ok).any():
            miss = ", ".join(map(str, table[label_col].to_numpy()[~ok]))
            note = (note + " — " if note else "") + f"non représentés (donnée manquante) : {miss}"
        _finish(fig, title or "Évolution des écarts au territoire", note, illustrative)
    return fig


def heatloss_stacks(
    table: pd.DataFrame, classes: Sequence[tuple[str, str]], *, count_cols: Sequence[str],
    label_col: str = "nom_qpv", title: str | None = None, source_note: str | None = None,
    illustrative: bool = False,
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
    labels = [_wrap(v, 34) for v in table[label_col]]
    with _rc():
        fig = Figure(figsize=(7.5, 0.32 * len(labels) + 2.0), layout="constrained")
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
        _finish(fig, title or "Déperditions thermiques des toitures par quartier", source_note,
                illustrative)
    return fig


def health_reach(
    table: pd.DataFrame, share_cols: Sequence[str], *, kind_labels: Sequence[str],
    label_col: str = "nom_qpv", territory: pd.Series | None = None, title: str | None = None,
    source_note: str | None = None, illustrative: bool = False,
    territory_label: str = "Territoire",
) -> Figure:
    """Draw a table-like heat map: share of each zone's population within reach, per kind.

    One row per zone (and a last row for the territory when given), one column per equipment
    kind; each cell is coloured by the share (0–1, white → dark green) and labelled in %,
    missing cells are grey and labelled "n.d.".

    Parameters
    ----------
    table
        One row per QPV with ``label_col`` and the share columns (0–1).
    share_cols
        One column per equipment kind; ``kind_labels`` gives their French names.
    territory
        Optional territory values indexed like ``share_cols`` (last row, in bold).
    territory_label
        Name of the territory row.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _need(table, [label_col, *share_cols], "health table")
    if len(kind_labels) != len(share_cols):
        raise SchemaError("health_reach: one label per share column is needed")
    values = table[list(share_cols)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    labels = [_wrap(v, 34) for v in table[label_col]]
    if territory is not None:
        tv = pd.to_numeric(pd.Series([territory.get(c) for c in share_cols]), errors="coerce")
        values = np.vstack([values, tv.to_numpy(dtype=float)])
        labels.append(_wrap(territory_label, 34))
    n_z, n_k = values.shape
    with _rc():
        import matplotlib as mpl

        fig = Figure(figsize=(7.5, 0.3 * n_z + 2.2), layout="constrained")
        ax = fig.add_subplot()
        cmap = mpl.colormaps["Greens"]
        masked = np.ma.masked_invalid(values)
        ax.imshow(masked, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_facecolor("#d9d9d9")
        for i in range(n_z):
            for j in range(n_k):
                v = values[i, j]
                ax.text(j, i, fmt(v, "share", digits=0), ha="center", va="center", fontsize=7,
                        color="white" if np.isfinite(v) and v > 0.6 else "#222222",
                        fontweight="bold" if territory is not None and i == n_z - 1
                        else "normal")
        ax.set_xticks(np.arange(n_k), [_wrap(k, 14) for k in kind_labels], fontsize=7)
        ax.set_yticks(np.arange(n_z), labels)
        if territory is not None:
            ax.get_yticklabels()[-1].set_fontweight("bold")
            ax.axhline(n_z - 1.5, color="#333333", lw=1)
        ax.tick_params(length=0)
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        _finish(fig, title or "Part de la population à portée à pied des équipements de santé",
                source_note, illustrative)
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
        # the layout is solved once (for the PNG); the SVG reuses the axes' positions
        engine = fig.get_layout_engine()
        fig.set_layout_engine("none")
        try:
            fig.savefig(svg, metadata={"Date": None, "Creator": None})
        finally:
            fig.set_layout_engine(engine)
    return [png, svg]
