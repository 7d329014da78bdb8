"""Steps 3–4 of the portrait: IRIS concerned by a QPV and the census and Filosofi indicators
per QPV, for the territory and for the IRIS concerned.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from qpvgeo import _validate
from qpvgeo._format import indicator_label
from qpvgeo._portrait_context import (
    TERRITORY_CODE,
    Context,
    TableEntry,
    _dwellings,
    _engines,
    _module,
    _prov,
    _source_of,
)
from qpvgeo._progress import ProgressCallback, report, scaled
from qpvgeo.config import FILE_KEYS


def step_iris(ctx: Context, progress: ProgressCallback | None) -> None:
    """IRIS concerned by a QPV, the IRIS↔QPV correspondence and census indicators per QPV."""
    cfg = ctx.config
    engines = _engines(ctx, "population", ["iris"], "correspondance IRIS ↔ QPV non calculée : "
                       "contours IRIS absents", "overlay")
    if engines is None:
        return
    (overlay,) = engines
    iris, qpv = ctx.layers["iris"], ctx.layers["qpv"]
    weights, wcol = _dwellings(ctx)
    ov = overlay.iris_qpv_overlap(iris, qpv, weights=weights, weight_col=wcol,
                                  progress=scaled(progress, 0, 0.4))
    ov_frame = pd.DataFrame(ov).drop(columns=[c for c in ("geometry",) if c in ov.columns])
    src, vint, meth = _prov(ov, "IGN Contours IRIS × ANCT QPV", "intersection des polygones",
                            cfg.vintages["qpv"])
    names = qpv.set_index("code_qpv")["nom_qpv"]
    if "nom_qpv" not in ov_frame.columns:
        ov_frame.insert(1, "nom_qpv", ov_frame["code_qpv"].map(names))
    cols = {c: lbl for c, lbl in (("nom_qpv", "Quartier"), ("code_iris", "IRIS"),
                                  ("area_m2", "Surface commune (m²)"),
                                  ("share_of_iris", "Part de l'IRIS"),
                                  ("share_of_qpv", "Part du QPV"),
                                  ("weight_share_of_qpv", "Part des logements du QPV"))
            if c in ov_frame.columns}
    ctx.add("correspondance", TableEntry(
        frame=ov_frame, section="population", title="Correspondance IRIS ↔ QPV",
        source=src, vintage=vint, method=meth, columns=cols, per_qpv=False, long=False,
        collapsed=True))
    conc = overlay.concerned_iris(iris, qpv, weights=weights, weight_col=wcol,
                                  min_share_in_qpv=float(cfg.options["seuil_iris_concerne"]),
                                  progress=scaled(progress, 0.4, 0.6))
    conc_codes = set(pd.DataFrame(conc)["code_iris"].astype(str))
    iris_c = iris.loc[iris["code_iris"].astype(str).isin(conc_codes)]
    first = ov_frame.sort_values("share_of_iris", ascending=False).drop_duplicates("code_iris")
    layer = iris_c[["code_iris", "nom_iris", "geometry"]].merge(
        first[[c for c in ("code_iris", "code_qpv", "share_of_iris", "share_of_qpv")
               if c in first.columns]], on="code_iris", how="left")
    ctx.layers["iris_concernes"] = gpd.GeoDataFrame(layer, geometry="geometry", crs=iris.crs)
    corr = iris[["code_iris", "nom_iris", "geometry"]].merge(
        ov_frame, on="code_iris", how="inner")
    ctx.layers["correspondance_iris_qpv"] = gpd.GeoDataFrame(corr, geometry="geometry",
                                                             crs=iris.crs)
    ctx.methods.append(f"IRIS concernés par un QPV : {len(conc_codes)} IRIS selon la règle de "
                       "qpvgeo.overlay.concerned_iris (recouvrement d'au moins 1 % de l'IRIS "
                       "ou du QPV).")
    report(progress, 1.0, "IRIS concernés")


_FILO_RATE = re.compile(r"^(?:DISP_)?TP60(\d{2})$", re.IGNORECASE)


def _territory_official(ctx: Context) -> tuple[pd.DataFrame | None, str]:
    """Figures published for the territory as a whole (Filosofi of the EPCI), one row.

    A median or a poverty rate cannot be rebuilt from IRIS. They come from the EPCI table's
    row of the configured SIREN (``[fichiers] insee_epci``); else, from the commune table
    (``insee_commune``) over the territory's communes: the poverty rate of each vintage as
    Σ(rate × persons of fiscal households) / Σ persons when every commune has both, the
    median only for a one-commune territory. Returns the row (or ``None``) and a French
    sentence saying where it comes from.
    """
    cfg = ctx.config
    epci = ctx.layers.get("insee_epci")
    if epci is not None and cfg.siren_epci and "siren_epci" in epci.columns:
        row = epci.loc[epci["siren_epci"].astype(str) == cfg.siren_epci]
        if len(row):
            return row.reset_index(drop=True), (
                f"valeurs officielles de l'EPCI {cfg.siren_epci} (Filosofi, "
                f"{FILE_KEYS['insee_epci'].split(' (')[0]})")
        ctx.note("population", f"la table Filosofi des EPCI n'a pas de ligne pour l'EPCI "
                 f"{cfg.siren_epci} ([fichiers] insee_epci) : médiane et taux de pauvreté du "
                 "territoire cherchés dans la table des communes.")
    com = ctx.layers.get("insee_commune")
    if com is None or "insee_com" not in com.columns:
        return None, ""
    codes = _territory_communes(ctx)
    rows = com.loc[com["insee_com"].astype(str).isin(codes)]
    if rows.empty:
        return None, ""
    out: dict[str, Any] = {"source": _source_of(rows) or ""}
    for col in rows.columns:
        m = _FILO_RATE.match(str(col))
        if not m:
            continue
        weight = _validate.find_column(rows, f"NBPERSMENFISC{m.group(1)}")
        if weight is None:
            continue
        rate = pd.to_numeric(rows[col], errors="coerce")
        n = pd.to_numeric(rows[weight], errors="coerce")
        if len(rows) == len(codes) and rate.notna().all() and n.notna().all() and n.sum() > 0:
            out[col] = float((rate * n).sum() / n.sum())
            out[weight] = float(n.sum())
    if len(codes) == 1 and len(rows) == 1:
        out.update({c: rows[c].iloc[0] for c in rows.columns
                    if re.fullmatch(r"(?:DISP_)?MED\d{2}", str(c), re.IGNORECASE)})
    if len(out) == 1:
        return None, ""
    return pd.DataFrame([out]), (f"Filosofi des {len(rows)} communes du territoire (taux de "
                                 "pauvreté pondéré par les personnes des ménages fiscaux)")


def _territory_communes(ctx: Context) -> set[str]:
    """INSEE codes of the communes lying in the territory (their point on surface inside)."""
    communes = ctx.layers.get("communes")
    if communes is None or "insee_com" not in communes.columns:
        return set()
    terr = ctx.layers["territoire"].geometry.iloc[0]
    inside = shapely.within(shapely.point_on_surface(np.asarray(communes.geometry.array)),
                            terr)
    return set(communes.loc[inside, "insee_com"].dropna().astype(str))


_NON_ADDITIVE = ("DISP_", "DEC_")


def _split_variables(table: pd.DataFrame, key: str) -> tuple[list[str], list[str]]:
    """Count variables (census ``P``/``C``) and non-additive ones (Filosofi) of a table."""
    numeric = [c for c in table.columns if c not in (key, "secret_vars", "source")
               and pd.api.types.is_numeric_dtype(table[c])
               and not pd.api.types.is_bool_dtype(table[c])]
    intensive = [c for c in numeric if str(c).upper().startswith(_NON_ADDITIVE)]
    extensive = [c for c in numeric if c not in intensive and c[:1] in ("P", "C")
                 and "_" in c]
    return extensive, intensive


def _territory_units(ctx: Context, table: pd.DataFrame) -> pd.DataFrame:
    """Rows of an IRIS table lying in the territory's communes (IRIS code starts with them)."""
    if "communes" in ctx.layers and "insee_com" in ctx.layers["communes"].columns:
        coms = set(ctx.layers["communes"]["insee_com"].astype(str))
        return table.loc[table["code_iris"].astype(str).str[:5].isin(coms)]
    return table


def _estimate_zones(ctx: Context, table: pd.DataFrame, zones: gpd.GeoDataFrame,
                    progress: ProgressCallback | None) -> pd.DataFrame:
    """Interpolate an IRIS table onto zones (dasymetric with the buildings' dwellings)."""
    interp = _module("interpolation")
    assert interp is not None
    extensive, intensive = _split_variables(table, "code_iris")
    weights, wcol = _dwellings(ctx)
    iris = ctx.layers["iris"]
    return interp.interpolate(iris[["code_iris", "geometry"]], zones, extensive=extensive,
                              intensive=intensive, values=table,
                              weights=weights if wcol else None, weight_col=wcol,
                              progress=progress)


def _indicator_keys(indicators: Any, frame: pd.DataFrame) -> list[str]:
    return [k for k in indicators.catalogue()["key"] if k in frame.columns]


def _wide_frame(values: pd.DataFrame, territory: pd.DataFrame | None, key: str,
                name_col: str, territory_name: str) -> pd.DataFrame:
    """Per-zone indicator table with the territory as last row (``code`` = "territoire")."""
    frame = pd.DataFrame(values).drop(columns=[c for c in ("geometry",) if c in values.columns])
    if territory is None:
        return frame.reset_index(drop=True)
    trow = pd.DataFrame(territory).drop(columns=[c for c in ("geometry", "code", "nom")
                                                 if c in territory.columns])
    trow = trow.assign(**{key: TERRITORY_CODE, name_col: territory_name})
    trow = trow[[c for c in trow.columns if c in frame.columns]]
    return pd.concat([frame, trow], ignore_index=True)


_CENSUS_VIEWS: list[tuple[str, str, set[str]]] = [
    ("population", "Population, revenus et familles par QPV", {"Démographie", "Revenus",
                                                                "Familles"}),
    ("education", "Formation et emploi par QPV", {"Éducation", "Emploi"}),
    ("logement", "Logements (recensement) par QPV", {"Logement"}),
]
"""Report views of the census table: (section, French title, catalogue themes)."""


def step_census(ctx: Context, progress: ProgressCallback | None) -> None:
    """Compute the census and Filosofi indicators per QPV, territory and IRIS concerned.

    Official per-QPV values first, IRIS estimates elsewhere; then the portrait's summary table.
    """
    cfg = ctx.config
    indicators = _module("indicators")
    if not (cfg.has("insee_iris") or cfg.has("insee_qpv")):
        ctx.note("population", "indicateurs du recensement non calculés : ni table INSEE par "
                 "IRIS ([fichiers] insee_iris) ni table officielle par QPV ([fichiers] "
                 "insee_qpv).")
        return
    if indicators is None or _module("interpolation") is None:
        ctx.note("population", "modules qpvgeo.interpolation / qpvgeo.indicators indisponibles.")
        return
    vint = {"rp": int(cfg.vintages["recensement"]), "filosofi": int(cfg.vintages["filosofi"])}
    qpv = ctx.layers["qpv"]
    table = ctx.layers.get("insee_iris")
    est = None
    if table is not None and "iris" in ctx.layers:
        est = _estimate_zones(ctx, table, qpv, scaled(progress, 0, 0.6))
        ctx.layers["estimations_t1"] = est
    elif table is not None:
        ctx.note("population", "estimations à partir des IRIS impossibles : contours IRIS "
                 "absents ([fichiers] iris) ; seules les valeurs officielles par QPV sont "
                 "utilisées.")
    official = [ctx.layers["insee_qpv"]] if "insee_qpv" in ctx.layers else None
    if official is None and est is None:
        ctx.note("population", "indicateurs par QPV non calculés : il faut les contours IRIS "
                 "avec la table INSEE par IRIS, ou une table officielle par QPV.")
        return
    values = indicators.zone_indicators(qpv, vintage=vint, official=official, estimates=est)
    territory = None
    official_terr, official_how = _territory_official(ctx)
    ctx.layers["territoire_officiel"] = official_terr
    if table is not None or official_terr is not None:
        territory = indicators.territory_indicators(
            None if table is None else _territory_units(ctx, table), vintage=vint,
            official=official_terr, name=cfg.name, code=cfg.siren_epci or TERRITORY_CODE)
        if official_how:
            ctx.methods.append(f"Médiane du revenu et taux de pauvreté du territoire : "
                               f"{official_how} ; ils ne se recalculent pas à partir des IRIS.")
    if table is None:
        ctx.note("population", "valeurs du territoire issues du recensement non calculées : "
                 "table INSEE par IRIS absente ([fichiers] insee_iris).")
    ctx.layers["indicateurs_t1"] = values
    ctx.layers["territoire_t1"] = territory
    keys = _indicator_keys(indicators, values)
    frame = _wide_frame(values, territory, "code_qpv", "nom_qpv", cfg.name)
    # how much of the figures taken from the IRIS estimates is estimated (overlay rule:
    # share of the interpolated population coming from IRIS cut by the QPV boundary)
    from_est = pd.Series(False, index=frame.index)
    for k in keys:
        from_est |= frame[f"{k}_origin"].astype(str).eq(indicators.ORIGIN_ESTIMATE)
    frame["estimated_indicators"] = [
        ";".join(k for k in keys if str(frame.at[i, f"{k}_origin"]) ==
                 indicators.ORIGIN_ESTIMATE) for i in frame.index]
    frame["is_estimate"] = from_est
    if est is not None:
        share = frame["code_qpv"].map(est.set_index("code_qpv")["share_estimated"])
        frame["share_estimated"] = share.where(from_est, 0.0)
    source = indicators.DATASETS["rp"] + " ; " + indicators.DATASETS["filosofi"]
    vintage = f"RP {cfg.vintages['recensement']}, Filosofi {cfg.vintages['filosofi']}"
    method = ("valeurs officielles par QPV quand elles existent ; sinon estimation à partir des "
              "IRIS (effectifs répartis au prorata des logements des bâtiments, taux "
              "recalculés ; colonnes *_origin et share_estimated des exports)")
    marks = {k: frame[f"{k}_origin"].astype(str).eq(indicators.ORIGIN_ESTIMATE) for k in keys}
    first = True
    for section, title, themes in _CENSUS_VIEWS:
        shown = [k for k in keys if indicators.get_indicator(k).theme in themes]
        if not shown:
            continue
        defs = [f"{indicator_label(k, short=True)} = {indicators.get_indicator(k).label}"
                for k in shown
                if indicator_label(k, short=True) != indicators.get_indicator(k).label]
        ctx.add("population" if first else f"recensement_{section}", TableEntry(
            frame=frame, section=section, title=title, source=source, vintage=vintage,
            method=method, estimate=bool(any(marks[k].any() for k in shown)),
            columns={"nom_qpv": "Quartier", **{k: indicator_label(k, short=True)
                                               for k in shown}},
            per_qpv=first, export=first, estimated_cells={k: marks[k] for k in shown},
            note=("Définitions : " + " ; ".join(defs)) if defs else None))
        first = False
    report(progress, 0.7, "IRIS concernés")
    if table is not None and "iris_concernes" in ctx.layers:
        _concerned_iris_indicators(ctx, indicators, table, vint)
    ctx.methods.append("Indicateurs par QPV : valeurs officielles par QPV quand elles sont "
                       "publiées ; sinon estimations à partir des IRIS, dont les effectifs sont "
                       "répartis entre QPV au prorata des logements (BD TOPO) ; les taux sont "
                       "recalculés comme rapport des effectifs estimés, jamais moyennés ; les "
                       "médianes ne sont pas interpolées (fourchette des IRIS concernés).")
    report(progress, 1.0, "recensement")


def _concerned_iris_indicators(ctx: Context, indicators: Any, table: pd.DataFrame,
                               vint: Mapping[str, int]) -> None:
    """Add the indicators of each IRIS concerned by a QPV (whole IRIS) and their total."""
    cfg = ctx.config
    layer = ctx.layers["iris_concernes"]
    codes = set(layer["code_iris"].astype(str))
    units = table.loc[table["code_iris"].astype(str).isin(codes)]
    if units.empty:
        return
    zones = layer[["code_iris", "nom_iris"]].reset_index(drop=True)
    body = zones.merge(units.drop(columns=[c for c in ("nom_iris",) if c in units.columns]),
                       on="code_iris", how="left")
    values = indicators.compute_indicators(body, vintage=vint, name="IRIS concernés")
    values = values.drop(columns=[c for c in ("code_iris", "nom_iris") if c in values.columns])
    values.insert(0, "nom_iris", body["nom_iris"].to_numpy())
    values.insert(0, "code_iris", body["code_iris"].to_numpy())
    agg = indicators.territory_indicators(units, vintage=vint, name="IRIS concernés",
                                          code="iris_concernes")
    ctx.layers["iris_indicateurs_t1"] = values
    ctx.layers["iris_ensemble_t1"] = agg
    frame = _wide_frame(values, agg, "code_iris", "nom_iris",
                        f"Ensemble des {len(values)} IRIS concernés")
    frame.loc[frame["code_iris"] == TERRITORY_CODE, "code_iris"] = "ensemble_iris"
    if "territoire_t1" in ctx.layers and ctx.layers["territoire_t1"] is not None:
        frame = _wide_frame(frame, ctx.layers["territoire_t1"], "code_iris", "nom_iris",
                            cfg.name)
    keys = _indicator_keys(indicators, values)
    show = [k for k in keys if k not in ("population",)][:7]
    ctx.add("iris_concernes", TableEntry(
        frame=frame, section="population",
        title=f"IRIS concernés par un QPV ({len(values)} IRIS) : indicateurs de l'IRIS entier",
        source=indicators.DATASETS["rp"] + " ; " + indicators.DATASETS["filosofi"],
        vintage=f"RP {cfg.vintages['recensement']}, Filosofi {cfg.vintages['filosofi']}",
        method="valeurs publiées pour l'IRIS entier (pas d'estimation) ; l'ensemble est "
               "recalculé à partir des numérateurs et dénominateurs",
        columns={"nom_iris": "IRIS", "code_iris": "Code",
                 **{k: indicator_label(k, short=True) for k in ["population", *show]
                    if k in keys}},
        per_qpv=False, collapsed=True,
        lead=f"Les {len(values)} IRIS dont une partie est en QPV (règle de "
             "qpvgeo.overlay.concerned_iris), avec les valeurs publiées pour l'IRIS entier ; "
             "les deux dernières lignes donnent leur ensemble et le territoire."))


def _census_source() -> str:
    """Source wording of the census and Filosofi figures (French)."""
    indicators = _module("indicators")
    if indicators is None:
        return "INSEE"
    return str(indicators.DATASETS["rp"]) + " ; " + str(indicators.DATASETS["filosofi"])
