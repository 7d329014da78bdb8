"""The portrait's HTML report: every table, figure, note and warning in its section."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from qpvgeo._format import indicator_label
from qpvgeo._portrait_context import TERRITORY_CODE, Context, _source_of
from qpvgeo._portrait_exports import _reason_column
from qpvgeo.config import FILE_KEYS


def _write_report(ctx: Context, out: Path, files: Sequence[str]) -> list[str]:
    from qpvgeo.report import SECTIONS, ReportSection, render_report, report_table, write_report

    cfg = ctx.config
    sections = {sid: ReportSection(id=sid, title=title) for sid, title in SECTIONS}
    ordered = sorted(ctx.tables.items(), key=lambda kv: (
        not kv[0].startswith(("portrait", "synthese_")), kv[1].collapsed))
    for _key, entry in ordered:
        f = entry.frame
        cols = entry.columns or {c: indicator_label(c) for c in f.columns
                                 if c in ("nom_qpv",) or pd.api.types.is_numeric_dtype(f[c])}
        cols = {c: lbl for c, lbl in cols.items() if c in f.columns}
        empty = [c for c in cols if c not in ("nom_qpv", "nom_iris", "code_qpv", "code_iris")
                 and pd.api.types.is_numeric_dtype(f[c]) and f[c].isna().all()]
        note = entry.note
        if empty:
            why = {str(r) for c in empty for r in f.get(_reason_column(f, c), pd.Series(
                dtype=object)).dropna().astype(str) if str(r)}
            text = ("colonnes sans aucune valeur, non affichées : "
                    + ", ".join(cols[c] for c in empty)
                    + (f" ({'; '.join(sorted(why))})" if why else ""))
            note = f"{note} ; {text}" if note else text
            cols = {c: lbl for c, lbl in cols.items() if c not in empty}
        kinds = None
        code_col = next((c for c in ("code_qpv", "code_iris") if c in f.columns), None)
        if code_col is not None:
            kinds = f[code_col].astype(str).map(
                lambda c: "territory" if c == TERRITORY_CODE else
                ("qpv-all" if c in ("ensemble_qpv", "ensemble_iris") else ""))
        text_cols = [c for c in cols if not pd.api.types.is_numeric_dtype(f[c])]
        sections[entry.section].tables.append(report_table(
            f, cols, title=entry.title, source=entry.source, vintage=entry.vintage,
            method=entry.method, estimate=entry.estimate, text_columns=text_cols,
            row_kind=kinds, illustrative=ctx.is_illustrative,
            estimated_cells=entry.estimated_cells, collapsed=entry.collapsed,
            lead=entry.lead, note=note, estimate_label=entry.estimate_label,
            estimate_rest=entry.estimate_rest))
    for sid, figs in ctx.figures.items():
        sections[sid].figures.extend(figs)
    for sid, notes in ctx.notes.items():
        if sid in sections:
            sections[sid].skipped.extend(notes)
    inputs = []
    for key in FILE_KEYS:
        if cfg.has(key):
            paths = cfg.paths(key)
            inputs.append({"label": FILE_KEYS[key],
                           "file": ", ".join(p.name for p in paths) if paths
                           else "(couche en mémoire)",
                           "vintage": cfg.vintages.get(key.replace("_t0", "").replace("_t1", ""),
                                                       ""),
                           "source": "illustratif" if key in ctx.illustrative else
                           (_source_of(ctx.layers.get(key)) or "")})
    html_text = render_report(
        list(sections.values()), territory=cfg.name, n_qpv=len(ctx.layers["qpv"]),
        illustrative=ctx.is_illustrative, siren_epci=cfg.siren_epci,
        qpv_vintage=cfg.vintages.get("qpv"), methods=ctx.methods, warnings=ctx.warnings,
        inputs=inputs, map_href="carte.html",
        downloads=[f for f in ("portrait.gpkg", "indicateurs.csv", "indicateurs.xlsx")
                   if f in files],
        config=cfg.source_path.name if cfg.source_path else None)
    write_report(html_text, out / "rapport.html")
    return ["rapport.html"]
