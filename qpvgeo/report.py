"""French HTML report of the portrait de territoire (Jinja2, autoescaped).

The report follows the sections of a portrait de territoire (population et revenus, éducation et
emploi, logement et énergie, santé, économie, NPNRU). Each table states its source, vintage and
method; tables estimated from IRIS carry the mark "estimation à partir des IRIS"; when any input
is illustrative stand-in data a banner says so on the page. Every value is escaped by Jinja2's
autoescape, so text from input files (QPV names, labels) shows as text.

:func:`report_table` turns an engine table into a display table (French numbers, labels);
:func:`render_report` fills the template; :func:`write_report` writes the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from qpvgeo._format import fmt, indicator_label, indicator_unit
from qpvgeo.errors import SchemaError

__all__ = ["ReportSection", "ReportTable", "render_report", "report_table", "write_report"]

SECTIONS: list[tuple[str, str]] = [
    ("population", "Population et revenus"),
    ("education", "Éducation, formation et emploi"),
    ("logement", "Logement et énergie"),
    ("sante", "Santé"),
    ("economie", "Développement économique"),
    ("npnru", "Renouvellement urbain (NPNRU)"),
    ("evolution", "Évolution depuis le précédent contrat de ville"),
]
"""Report sections in order: (id, French title)."""


@dataclass
class ReportTable:
    """A table ready for the template (cells already formatted as plain text)."""

    title: str
    columns: list[str]
    rows: list[dict[str, Any]]
    source: str
    vintage: str
    method: str
    estimate: bool = False
    illustrative: bool = False
    note: str | None = None
    lead: str | None = None
    n_text: int = 1
    collapsed: bool = False
    n_marked: int = 0
    estimate_label: str = "à partir des IRIS"
    estimate_rest: str = "les autres sont publiées"


@dataclass
class ReportSection:
    """A section of the report: tables, figures and notes on what was skipped."""

    id: str
    title: str
    intro: str | None = None
    tables: list[ReportTable] = field(default_factory=list)
    figures: list[dict[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def report_table(
    table: pd.DataFrame, columns: Mapping[str, str] | Sequence[str], *, title: str,
    source: str, vintage: str, method: str, text_columns: Sequence[str] = ("nom_qpv",),
    units: Mapping[str, str] | None = None, row_kind: pd.Series | None = None,
    estimate: bool | None = None, illustrative: bool = False, note: str | None = None,
    lead: str | None = None, estimated_cells: Mapping[str, pd.Series] | None = None,
    collapsed: bool = False, estimate_label: str | None = None,
    estimate_rest: str | None = None,
) -> ReportTable:
    """Format an engine table for the report.

    Parameters
    ----------
    table
        Rows to show (QPV, then aggregates); values are not modified.
    columns
        Columns to show, as ``{column: French header}`` or a list (headers from the registry
        of indicator labels).
    title, source, vintage, method
        Table title and provenance (shown under the table).
    text_columns
        Columns shown as text (left-aligned, first); others are formatted by unit.
    units
        Units overriding the registry (``share``, ``count``, ``eur``…).
    row_kind
        Optional CSS class per row (``territory`` or ``qpv-all`` rows stand out).
    estimate
        Mark the table "estimation à partir des IRIS"; by default true when a column
        ``is_estimate`` or ``share_estimated`` (> 0) exists and is true on any row.
    illustrative
        Mark the data as illustrative in the provenance line.
    note, lead
        Text under the provenance line, and a sentence above the table.
    estimated_cells
        ``{column: boolean Series}`` (aligned with ``table``'s rows): the cells that are
        estimates get the mark "e" (explained under the table), so a table mixing official
        and estimated figures says which is which.
    collapsed
        Show the table folded (``<details>``), for long detail tables.
    estimate_label, estimate_rest
        How the estimates were made, after "estimation" / "valeur estimée" (default "à
        partir des IRIS"), and what the unmarked cells are (default "les autres sont
        publiées").

    Returns
    -------
    ReportTable
    """
    cols = dict(columns) if isinstance(columns, Mapping) else \
        {c: indicator_label(c) for c in columns}
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise SchemaError(f"report table {title!r}: no column(s) {', '.join(missing)} (found "
                          f"{', '.join(map(str, table.columns[:25]))})")
    text_cols = [c for c in cols if c in text_columns]
    ordered = text_cols + [c for c in cols if c not in text_cols]
    units = dict(units or {})
    marks_by_col = {c: pd.Series(flags).fillna(False).astype(bool).to_numpy()
                    for c, flags in (estimated_cells or {}).items() if c in cols}
    rows = []
    n_marked = 0
    for pos, (_, rec) in enumerate(table.iterrows()):
        cells, marks = [], []
        for c in ordered:
            v = rec[c]
            if c in text_cols:
                cells.append("" if pd.isna(v) else str(v))
            else:
                cells.append(fmt(v, units.get(c, indicator_unit(c))))
            mark = bool(c in marks_by_col and marks_by_col[c][pos] and not pd.isna(v))
            marks.append(mark)
            n_marked += mark
        kind = "" if row_kind is None else str(row_kind.iloc[pos])
        rows.append({"cells": cells, "marks": marks, "kind": kind})
    if estimate is None:
        estimate = False
        for flag in ("is_estimate", "share_estimated"):
            if flag in table.columns:
                vals = pd.to_numeric(table[flag], errors="coerce")
                estimate = estimate or bool((vals.fillna(0) > 0).any())
    return ReportTable(title=title, columns=[cols[c] for c in ordered], rows=rows,
                       source=source, vintage=vintage, method=method, estimate=bool(estimate),
                       illustrative=illustrative, note=note, lead=lead, n_text=len(text_cols),
                       collapsed=collapsed, n_marked=n_marked,
                       estimate_label=estimate_label or "à partir des IRIS",
                       estimate_rest=estimate_rest or "les autres sont publiées")


def _environment() -> Environment:
    return Environment(loader=PackageLoader("qpvgeo", "templates"),
                       autoescape=select_autoescape(["html", "j2"], default=True),
                       keep_trailing_newline=True)


def render_report(
    sections: Sequence[ReportSection], *, territory: str, n_qpv: int,
    illustrative: bool, siren_epci: str | None = None, qpv_vintage: str | None = None,
    methods: Sequence[str] = (), warnings: Sequence[str] = (),
    inputs: Sequence[Mapping[str, str]] = (), map_href: str = "carte.html",
    downloads: Sequence[str] = (), config: str | None = None,
) -> str:
    """Render the report page (French HTML, every value escaped).

    Returns
    -------
    str
        The HTML page. Sections without any table, figure or note are left out.
    """
    from qpvgeo import __version__

    shown = [s for s in sections if s.tables or s.figures or s.skipped]
    template = _environment().get_template("rapport.html.j2")
    return template.render(
        sections=shown, territory=territory, n_qpv=n_qpv, illustrative=illustrative,
        siren_epci=siren_epci, qpv_vintage=qpv_vintage, methods=list(methods),
        warnings=list(warnings), inputs=list(inputs), map_href=map_href,
        downloads=list(downloads), config=config, version=__version__,
    )


def write_report(html_text: str, path: str | Path) -> Path:
    """Write the report page (UTF-8) and return its path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(html_text, encoding="utf-8")
    return p
