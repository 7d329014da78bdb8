"""Step 5 of the portrait: gaps to the territory at two census vintages (QPV and IRIS)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import pandas as pd

from qpvgeo._format import fmt, indicator_label, indicator_unit
from qpvgeo._portrait_census import _census_source, _estimate_zones, _territory_units
from qpvgeo._portrait_context import (
    TERRITORY_CODE,
    Context,
    TableEntry,
    _dwellings,
    _module,
    _source_label,
)
from qpvgeo._portrait_load import _in_territory
from qpvgeo._progress import ProgressCallback, report, scaled

_EVOLUTION_COLUMNS = ["code", "name", "codes_t0", "value_t0", "value_t1", "territory_t0",
                      "territory_t1", "gap_t0", "gap_t1", "gap_change", "change_value",
                      "change_relative", "situation", "gap_trend", "quadrant", "position_t1",
                      "vintage_t0", "vintage_t1", "is_estimate", "method_t0", "caution",
                      "missing_reason"]


def _gap_tables(indicators: Any, t0: pd.DataFrame, t1: pd.DataFrame, terr0: pd.DataFrame,
                terr1: pd.DataFrame, keys: Sequence[str], zone_label: str,
                **kwargs: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run gap_evolution per indicator: (long detail table, one summary row per indicator)."""
    details, summaries = [], []
    for k in keys:
        evo = indicators.gap_evolution(t0, t1, terr0, terr1, k, **kwargs)
        d = pd.DataFrame(evo)[[c for c in _EVOLUTION_COLUMNS if c in evo.columns]]
        d.insert(2, "indicator", k)
        d.insert(3, "label", indicators.get_indicator(k).label)
        details.append(d)
        s = indicators.gap_summary(evo, zone_label=zone_label)
        s.insert(0, "label", indicators.get_indicator(k).label)
        s["caution"] = evo.attrs.get("qpvgeo", {}).get("caution", "")
        summaries.append(s)
    detail = pd.concat(details, ignore_index=True) if details else pd.DataFrame()
    summary = pd.concat(summaries) if summaries else pd.DataFrame()
    if len(summary):
        counts = [c for c in summary.columns if c.startswith("n_")]
        summary[counts] = summary[counts].fillna(0).astype(int)
        summary = summary.reset_index()
    return detail, summary


def _evolution_keys(indicators: Any, *tables: pd.DataFrame) -> list[str]:
    """Catalogue indicators present with data in every table (counts included)."""
    keys = []
    for k in indicators.catalogue()["key"]:
        if all(k in t.columns for t in tables) and all(
                pd.to_numeric(t[k], errors="coerce").notna().any() for t in tables):
            keys.append(k)
    return keys


def step_evolution(ctx: Context, progress: ProgressCallback | None) -> None:
    """Gaps to the territory at two census vintages, for the QPV and the IRIS concerned.

    QPV figures of the earlier vintage are computed on the QPV 2015 perimeters (official
    per-QPV table, else IRIS estimates) and carried onto the 2024 perimeters with the
    :func:`qpvgeo.overlay.crosswalk` weights (dwellings of the buildings); the IRIS concerned
    are compared IRIS by IRIS (same codes).
    """
    cfg = ctx.config
    indicators, overlay = _module("indicators"), _module("overlay")
    t1, terr1 = ctx.layers.get("indicateurs_t1"), ctx.layers.get("territoire_t1")
    if indicators is None or overlay is None:
        ctx.note("evolution", "modules qpvgeo.indicators / qpvgeo.overlay indisponibles.")
        return
    if t1 is None or terr1 is None:
        ctx.note("evolution", "évolution non calculée : il faut d'abord les indicateurs du "
                 "recensement par QPV et du territoire ([fichiers] insee_iris).")
        return
    if not cfg.has("insee_iris_t0"):
        ctx.note("evolution", "évolution non calculée : table INSEE par IRIS du millésime "
                 "précédent absente ([fichiers] insee_iris_t0).")
        return
    y0, y1 = cfg.vintages["recensement_t0"], cfg.vintages["recensement"]
    vint0 = {"rp": int(y0), "filosofi": int(cfg.vintages["filosofi_t0"])}
    table0 = ctx.layers["insee_iris_t0"]
    terr0 = indicators.territory_indicators(_territory_units(ctx, table0), vintage=vint0,
                                            official=ctx.layers.get("territoire_officiel"),
                                            name=cfg.name, code=cfg.siren_epci or
                                            TERRITORY_CODE)
    ctx.layers["territoire_t0"] = terr0
    period = f"RP {y0} → RP {y1}"
    if cfg.has("qpv_2015") and "iris" in ctx.layers:
        q15 = _in_territory(ctx, ctx.layers["qpv_2015"]).drop(columns="territory_share")
        est0 = _estimate_zones(ctx, table0, q15, scaled(progress, 0, 0.4))
        official0 = [ctx.layers["insee_qpv_t0"]] if "insee_qpv_t0" in ctx.layers else None
        t0 = indicators.zone_indicators(q15, vintage=vint0, official=official0, estimates=est0)
        ctx.layers["indicateurs_t0"] = t0
        weights, wcol = _dwellings(ctx)
        cw = overlay.crosswalk(q15, ctx.layers["qpv"], weights=weights if wcol else None,
                               weight_col=wcol, progress=scaled(progress, 0.4, 0.6))
        ctx.layers["crosswalk_qpv"] = cw
        ctx.add("passage_qpv", TableEntry(
            frame=_crosswalk_frame(ctx, overlay, cw, q15), section="evolution",
            title="Passage des QPV 2015 aux QPV 2024",
            source=_source_label(cw, "ANCT, périmètres des QPV 2015 et 2024"),
            vintage=f"{cfg.vintages.get('qpv', '2024')} / 2015",
            method="intersection des périmètres pondérée par les logements des bâtiments "
                   "(qpvgeo.overlay.crosswalk)" + (
                       " ; comparée à la liste de correspondance de l'ANCT"
                       if "correspondance_qpv" in ctx.layers else ""),
            columns={"nom_qpv": "QPV 2024", "code_qpv": "Code 2024",
                     "nom_qpv_2015": "QPV 2015", "code_qpv_2015": "Code 2015",
                     "allocation": "Part du QPV 2015 reportée",
                     "share_of_new": "Part du QPV 2024 (surface)",
                     "agreement": "Accord avec la liste ANCT"},
            per_qpv=False, long=False))
        keys = _evolution_keys(indicators, t0, t1, terr0, terr1)
        detail, summary = _gap_tables(indicators, t0, t1, terr0, terr1, keys, "QPV",
                                      crosswalk=cw)
        if len(detail):
            detail = detail.rename(columns={"code": "code_qpv", "name": "nom_qpv"})
            _add_evolution(ctx, "evolution_qpv", detail, summary, "QPV", period,
                           f"valeurs {y0} calculées sur les QPV 2015 (officielles, sinon "
                           "estimées à partir des IRIS) puis reportées sur les périmètres 2024 "
                           "(table de passage ci-dessus) ; écart = QPV − territoire ; "
                           "qpvgeo.indicators.gap_evolution")
    else:
        ctx.note("evolution", "évolution par QPV non calculée : il faut les périmètres des "
                 "QPV 2015 et les contours IRIS ([fichiers] qpv_2015, iris).")
    report(progress, 0.8, "IRIS concernés")
    v1 = ctx.layers.get("iris_indicateurs_t1")
    if v1 is not None:
        codes = v1["code_iris"].astype(str)
        units0 = table0.loc[table0["code_iris"].astype(str).isin(set(codes))]
        body0 = pd.DataFrame({"code_iris": codes.to_numpy()}).merge(units0, on="code_iris",
                                                                    how="inner")
        if len(body0):
            v0 = indicators.compute_indicators(body0, vintage=vint0, name="IRIS t0")
            if "code_iris" not in v0.columns:
                v0.insert(0, "code_iris", body0["code_iris"].to_numpy())
            keys = _evolution_keys(indicators, v0, v1, terr0, terr1)
            detail, summary = _gap_tables(indicators, v0, v1, terr0, terr1, keys, "IRIS",
                                          key="code_iris", key_t0="code_iris")
            if len(detail):
                detail = detail.rename(columns={"code": "code_iris", "name": "nom_iris"})
                _add_evolution(ctx, "evolution_iris", detail, summary, "IRIS concernés",
                               period, "valeurs publiées pour chaque IRIS concerné par un QPV "
                               "aux deux dates (mêmes codes IRIS) ; écart = IRIS − territoire")
        else:
            ctx.note("evolution", f"évolution des IRIS concernés non calculée : aucun de leurs "
                     f"codes n'est dans la table du millésime {y0} (autre découpage IRIS).")
    report(progress, 1.0, "évolution")


def _crosswalk_frame(ctx: Context, overlay: Any, cw: pd.DataFrame,
                     q15: gpd.GeoDataFrame) -> pd.DataFrame:
    """QPV 2015 → 2024 pairs with names, shares and (when given) the ANCT list's agreement."""
    if "correspondance_qpv" in ctx.layers:
        table = pd.DataFrame(overlay.compare_with_anct(cw, ctx.layers["correspondance_qpv"]))
    else:
        table = pd.DataFrame(cw)[[c for c in ("new_code", "old_code", "share_of_old",
                                              "share_of_new", "allocation") if c in cw.columns]]
    names15 = q15.set_index(q15["code_qpv"].astype(str))["nom_qpv"]
    names24 = ctx.layers["qpv"].set_index(ctx.layers["qpv"]["code_qpv"].astype(str))["nom_qpv"]
    frame = pd.DataFrame({
        "code_qpv": table["new_code"].astype(str).to_numpy(),
        "nom_qpv": table["new_code"].astype(str).map(names24).to_numpy(),
        "code_qpv_2015": table["old_code"].astype(str).to_numpy(),
        "nom_qpv_2015": table["old_code"].astype(str).map(names15).to_numpy(),
    })
    rest = table.drop(columns=["new_code", "old_code"])
    return pd.concat([frame, rest.reset_index(drop=True)], axis=1)


def _add_evolution(ctx: Context, key: str, detail: pd.DataFrame, summary: pd.DataFrame,
                   zone_label: str, period: str, method: str) -> None:
    est = bool(detail["is_estimate"].fillna(False).astype(bool).any()) \
        if "is_estimate" in detail.columns else False
    ctx.layers[f"{key}_detail"] = detail
    caution = "; ".join(dict.fromkeys(str(c) for c in summary.get("caution", []) if str(c)))
    ctx.add(key, TableEntry(
        frame=summary, section="evolution", lead=_evolution_lead(summary, zone_label, period),
        title=f"Les écarts entre les {zone_label} et le territoire se sont-ils réduits ? "
              f"({period})",
        source=_census_source(), vintage=period,
        method=method + (f" ; précaution : {caution}" if caution else ""), estimate=est,
        columns={"label": "Indicateur", "sentence": "Constat", "n_with_data": "Zones avec "
                 "données", "n_gap_widened": "Écart accru", "n_gap_narrowed": "Écart réduit"},
        per_qpv=False, long=False))
    zone_col = "nom_qpv" if "nom_qpv" in detail.columns else "nom_iris"
    # one unit per row (shares, euros, counts): the report shows French text columns
    units = detail["indicator"].map(lambda k: indicator_unit(str(k)))
    shown = detail.copy()
    for col in ("value_t0", "value_t1", "gap_t0", "gap_t1"):
        gap = col.startswith("gap")
        shown[f"{col}_texte"] = [
            fmt(v, "pct_points" if gap and u == "share" else u) if not pd.isna(v) else ""
            for v, u in zip(detail[col], units, strict=True)]
    ctx.add(f"{key}_detail", TableEntry(
        frame=shown, section="evolution",
        title=f"Évolution par {zone_label.split()[0]} et par indicateur ({period})",
        source=_census_source(), vintage=period, method=method, estimate=est,
        columns={zone_col: "Zone", "label": "Indicateur", "value_t0_texte": "Valeur t0",
                 "value_t1_texte": "Valeur t1", "gap_t0_texte": "Écart t0",
                 "gap_t1_texte": "Écart t1", "quadrant": "Situation et écart"},
        per_qpv=False, long=False, collapsed=True))


_EVOLUTION_FOCUS = ("revenu_median", "taux_pauvrete", "taux_emploi_1564",
                    "part_familles_mono", "part_sans_diplome")
"""Indicators whose evolution is told in words above the table, as the diagnostic does."""


def _evolution_lead(summary: pd.DataFrame, zone_label: str, period: str) -> str | None:
    """Answer the diagnostic's question in words: for how many indicators the gaps widened.

    Counts, over the indicators other than plain counts (population), those for which the gap
    to the territory widened for more zones than it narrowed, and the reverse; then one
    sentence per key indicator (income, poverty, employment, single parents, diplomas).
    """
    if summary.empty or "indicator" not in summary.columns:
        return None
    rates = summary.loc[summary["indicator"].map(indicator_unit) != "count"]
    rates = rates.loc[rates["n_with_data"] > 0]
    if rates.empty:
        return None
    wider = rates.loc[rates["n_gap_widened"] > rates["n_gap_narrowed"]]
    narrower = rates.loc[rates["n_gap_widened"] < rates["n_gap_narrowed"]]

    def names(frame: pd.DataFrame) -> str:
        return ", ".join(indicator_label(str(k), short=True).lower() for k in frame["indicator"])

    zones = zone_label.split()[0]
    text = [f"Entre {period.replace(' → ', ' et ')}, l'écart au territoire s'est accru pour la "
            f"majorité des {zones} sur {len(wider)} des {len(rates)} indicateurs"
            + (f" ({names(wider)})" if len(wider) else "")
            + (f" et s'est réduit pour la majorité d'entre eux sur {len(narrower)} "
               f"({names(narrower)})" if len(narrower) else "") + "."]
    for k in _EVOLUTION_FOCUS:
        row = rates.loc[rates["indicator"] == k]
        if row.empty:
            continue
        r = row.iloc[0]
        part = (f"{indicator_label(k, short=True)} : l'écart s'est creusé pour "
                f"{int(r['n_gap_widened'])} {zones} sur {int(r['n_with_data'])}")
        if "n_improved" in r.index and "n_worsened" in r.index:
            part += (f", la situation s'est améliorée pour {int(r['n_improved'])} et dégradée "
                     f"pour {int(r['n_worsened'])}")
        text.append(part + ".")
    return " ".join(text)
