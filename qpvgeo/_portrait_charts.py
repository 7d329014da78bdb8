"""Charts of the portrait: which tables get which charts, drawn into ``graphiques/``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from qpvgeo._format import indicator_label
from qpvgeo._portrait_context import TERRITORY_CODE, Context, TableEntry, _module


def _write_charts(ctx: Context, out: Path, keys: Sequence[str] | None = None) -> list[str]:
    """Draw the charts of the tables ``keys`` (default all) into ``out/graphiques``."""
    from qpvgeo import charts

    files: list[str] = []
    gdir = out / "graphiques"
    for key, entry in ctx.tables.items():
        spec = _CHARTS.get(key)
        if spec is None or (keys is not None and key not in keys):
            continue
        for fig_name, builder, caption in spec(ctx, entry):
            fig = builder()
            written = charts.save_figure(fig, gdir / fig_name)
            files += [str(p.relative_to(out)) for p in written]
            ctx.figures.setdefault(entry.section, []).append({
                "src": f"graphiques/{fig_name}.png", "svg": f"graphiques/{fig_name}.svg",
                "alt": caption, "caption": caption})
    return files


def _split_territory(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series | None]:
    is_t = frame["code_qpv"].astype(str) == TERRITORY_CODE
    terr = frame.loc[is_t].iloc[0] if is_t.any() else None
    return frame.loc[~is_t & (frame["code_qpv"].astype(str) != "ensemble_qpv")], terr


def _bars_for(ctx: Context, stem: str, entry: TableEntry, cols: Sequence[str]
              ) -> list[tuple[str, Callable[[], Any], str]]:
    from qpvgeo import charts

    qpv, terr = _split_territory(entry.frame)
    note = f"Source : {entry.source} ({entry.vintage})"
    out: list[tuple[str, Callable[[], Any], str]] = []
    for c in cols:
        if c not in qpv.columns or not pd.to_numeric(qpv[c], errors="coerce").notna().any():
            continue
        tv = None if terr is None else pd.to_numeric(pd.Series([terr[c]]), errors="coerce")[0]

        def build(c: str = c, tv: Any = tv) -> Any:
            return charts.indicator_bars(
                qpv, c, territory_value=None if pd.isna(tv) else float(tv),
                territory_label=ctx.config.name, source_note=note,
                illustrative=ctx.is_illustrative)

        out.append((f"{stem}_{c}", build, f"{indicator_label(c)} par QPV"))
    return out


def _charts_heat(ctx: Context, entry: TableEntry) -> list[tuple[str, Callable[[], Any], str]]:
    from qpvgeo import charts

    out = _bars_for(ctx, "deperditions", entry, ["heatloss_strong_share"])
    counts = [c for c in entry.frame.columns if c.startswith("heatloss_count_")]
    classes = ctx.heat_classes or []
    if classes and len(counts) == len(classes):
        note = f"Source : {entry.source} ({entry.vintage})"
        out.append(("deperditions_classes", lambda: charts.heatloss_stacks(
            entry.frame, classes, count_cols=counts, source_note=note,
            illustrative=ctx.is_illustrative),
            "Répartition des bâtiments par classe de déperditions"))
    return out


def _charts_health(ctx: Context, entry: TableEntry) -> list[tuple[str, Callable[[], Any], str]]:
    from qpvgeo import charts

    cols = [c for c in entry.frame.columns if c.endswith(("_pop_covered_share", "_covered_share"))]
    if not cols:
        return []
    qpv, terr = _split_territory(entry.frame)
    health = _module("health")
    names = getattr(health, "KIND_LABELS", {}) if health is not None else {}
    kinds = [c.replace("_pop_covered_share", "").replace("_covered_share", "") for c in cols]
    labels = [names.get(k, k) for k in kinds]
    note = f"Source : {entry.source} ({entry.vintage}) — {entry.method}"
    return [("sante_portee", lambda: charts.health_reach(
        qpv, cols, kind_labels=labels,
        territory=None if terr is None else pd.to_numeric(terr[cols], errors="coerce"),
        territory_label=ctx.config.name, source_note=note, illustrative=ctx.is_illustrative),
        "Population à portée à pied des équipements de santé")]


def _charts_generic(stem: str, prefer: Sequence[str]) -> Callable[
        [Context, TableEntry], list[tuple[str, Callable[[], Any], str]]]:
    def spec(ctx: Context, entry: TableEntry) -> list[tuple[str, Callable[[], Any], str]]:
        cols = [c for c in prefer if c in entry.frame.columns]
        return _bars_for(ctx, stem, entry, cols)
    return spec


def _quadrants(ctx: Context, entry: TableEntry, zone_col: str, stem: str, zone_word: str,
               prefer: Sequence[str]) -> list[tuple[str, Callable[[], Any], str]]:
    """One gap-evolution quadrant per indicator (x signed so that right = improvement)."""
    from qpvgeo import charts

    indicators = _module("indicators")
    detail = ctx.layers.get(f"{stem}_detail")
    if detail is None or indicators is None or not len(detail):
        return []
    out: list[tuple[str, Callable[[], Any], str]] = []
    for k in prefer:
        d = detail.loc[detail["indicator"] == k]
        if d.empty or not pd.to_numeric(d["gap_change"], errors="coerce").notna().any():
            continue
        ind = indicators.get_indicator(k)
        if ind.direction == 0:
            continue
        d = d.assign(situation_change=-ind.direction * pd.to_numeric(d["change_value"],
                                                                      errors="coerce"))
        unit = {"share": "pct_points", "euros": "eur"}.get(ind.unit, "number")
        note = (f"Source : {entry.source} ({entry.vintage}). Écart = {zone_word} − territoire, "
                "en valeur absolue ; au-dessus de 0 il s'est accru.")

        def build(d: pd.DataFrame = d, ind: Any = ind, unit: str = unit,
                  note: str = note) -> Any:
            return charts.gap_quadrant(
                d, x="situation_change", y="gap_change", label_col=zone_col,
                x_label=f"Évolution de la situation ({indicator_label(ind.key, short=True)})",
                y_label="Évolution de l'écart au territoire", unit=unit,
                title=f"{ind.label} : situation et écart au territoire par {zone_word}",
                x_left="dégradation", x_right="amélioration", source_note=note,
                illustrative=ctx.is_illustrative)

        out.append((f"{stem}_{k}", build, f"{ind.label} : évolution de la situation et de "
                    f"l'écart au territoire par {zone_word} ({entry.vintage})"))
    return out


def _charts_evolution_qpv(ctx: Context, entry: TableEntry
                          ) -> list[tuple[str, Callable[[], Any], str]]:
    return _quadrants(ctx, entry, "nom_qpv", "evolution_qpv", "QPV",
                      ["revenu_median", "taux_pauvrete", "taux_emploi_1564",
                       "taux_chomage_1564", "part_familles_mono", "part_sans_diplome"])


def _charts_evolution_iris(ctx: Context, entry: TableEntry
                           ) -> list[tuple[str, Callable[[], Any], str]]:
    return _quadrants(ctx, entry, "nom_iris", "evolution_iris", "IRIS", ["part_sans_diplome"])


# table key -> function returning [(file stem, builder, caption)]
_CHARTS: dict[str, Callable[[Context, TableEntry], list[tuple[str, Callable[[], Any], str]]]] = {
    "deperditions": _charts_heat,
    "sante": _charts_health,
    "population": _charts_generic("population", ["taux_pauvrete", "revenu_median",
                                                 "part_moins_25", "part_familles_mono"]),
    "recensement_education": _charts_generic("emploi", ["taux_emploi_1564",
                                                        "part_sans_diplome"]),
    "logement_social": _charts_generic("logement", ["rpls_share_of_rp"]),
    "qualite_logement": _charts_generic("qualite", ["quality_poor_dwellings_share"]),
    "economie": _charts_generic("economie", ["estab_change_share"]),
    "evolution_qpv": _charts_evolution_qpv,
    "evolution_iris": _charts_evolution_iris,
}


_CHART_STEMS = {"deperditions": "deperditions", "sante": "sante_", "population": "population_",
                "recensement_education": "emploi_", "logement_social": "logement_",
                "qualite_logement": "qualite_", "economie": "economie_",
                "evolution_qpv": "evolution_qpv_", "evolution_iris": "evolution_iris_"}
"""File-name stem of the charts of each table (to clean a failed chart process's files)."""
