"""Step 8 of the portrait: health equipment and collèges within walking reach, walking areas."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from qpvgeo import _validate
from qpvgeo._format import fmt
from qpvgeo._portrait_context import (
    ALL_QPV_CODE,
    TERRITORY_CODE,
    Context,
    TableEntry,
    _dwellings,
    _engines,
    _population,
    _prov,
    _qpv_and_all,
    _qpv_series,
    _qpv_zones,
    _source_label,
    _with_keys_any,
)
from qpvgeo._progress import ProgressCallback, report, scaled
from qpvgeo.errors import DataQualityWarning


def step_health(ctx: Context, progress: ProgressCallback | None) -> None:
    """Health equipment inside and within walking reach of each QPV, population covered."""
    cfg = ctx.config
    engines = _engines(ctx, "sante", ["bpe"], "équipements de santé non calculés : BPE absente",
                       "equipment", "health")
    if engines is None:
        return
    equipment, health = engines
    bpe = ctx.layers["bpe"]
    minutes, speed, reach, graph, how = _walking(ctx, equipment)
    if graph is not None:
        report(progress, 0.05, "graphe piéton")
    zones, qpv_zones = _qpv_zones(ctx)
    pop, pop_est = _population(ctx)
    common = _access_arguments(ctx, graph, reach, pop)

    def run(where: gpd.GeoDataFrame, **kwargs: Any) -> pd.DataFrame:
        return health.health_access(bpe, where, name="bpe", **common, **kwargs)

    acc = _qpv_and_all(ctx, qpv_zones, run, [("population", pop, False),
                                             ("population_is_estimate", pop_est, True)],
                       progress=(scaled(progress, 0.1, 0.8), scaled(progress, 0.8, 0.9)))
    kinds: dict[str, list[str]] = {}
    table = health.bpe_codes(cfg.vintages["bpe"], domain="sante")
    wanted = set(health.DEFAULT_HEALTH_KINDS)
    for kind, grp in table.groupby("kind", sort=False):
        if kind in wanted:
            kinds[str(kind)] = [str(c) for c in grp["typequ"]]
    codes = {c for v in kinds.values() for c in v}
    sante = bpe.loc[bpe["typequ"].astype(str).isin(codes)]
    ctx.layers["bpe_sante"] = sante
    src, vint, meth = _prov(acc, "INSEE, BPE", f"équipements dans le QPV et à portée {how} "
                            f"({minutes:g} min à {speed:g} km/h) ; population couverte "
                            "répartie au prorata des logements des bâtiments",
                            cfg.vintages["bpe"])
    frame = _with_keys_any(acc, zones, cfg.name)
    cols = {"nom_qpv": "Quartier"}
    for kind in health.DEFAULT_HEALTH_KINDS:
        label = health.KIND_LABELS.get(kind, kind)
        for suffix, what in (("inside_count", "dans le QPV"), ("per_10000", "pour 10 000 hab."),
                             ("covered_share", "population à portée")):
            c = f"{kind}_{suffix}"
            if c in frame.columns and (suffix != "inside_count" or kind in (
                    "medecin_generaliste", "pharmacie")):
                cols[c] = f"{label} : {what}"
    est = frame["pop_is_estimate"].fillna(False).astype(bool) \
        if "pop_is_estimate" in frame.columns else pd.Series(False, index=frame.index)
    marks = {c: est for c in cols if c.endswith("per_10000")}
    ctx.add("sante", TableEntry(
        frame=frame, section="sante", title="Équipements de santé et accessibilité à pied",
        source=src, vintage=vint, method=meth, columns=cols, estimated_cells=marks,
        estimate=bool(est.any())))
    # the walking areas are drawn with the map (in its own process, see run_portrait)
    ctx.layers["zones_marche_params"] = {"kinds": kinds, "reach": reach, "minutes": minutes,
                                         "labels": dict(health.KIND_LABELS)}
    ctx.methods.append(f"Santé : équipements de la BPE {cfg.vintages['bpe']} (codes TYPEQU "
                       f"du millésime), portée {how} ; la part de population à portée répartit "
                       "la population du QPV entre ses bâtiments au prorata des logements.")
    report(progress, 1.0, "santé")


def _walking(ctx: Context, equipment: Any) -> tuple[float, float, float, Any | None, str]:
    """Return the walk of the configuration and the graph of the streets.

    Minutes, speed (km/h), reach (metres), the walking graph of the streets (``None`` without
    them) and how the reach is measured (French, for the methods).
    """
    cfg = ctx.config
    minutes, speed = float(cfg.options["marche_minutes"]), float(cfg.options["vitesse_marche_kmh"])
    reach = float(equipment.walking_reach_m(minutes, speed))
    graph = _walking_graph(ctx, equipment)
    how = (f"à pied sur le réseau des rues, {reach:.0f} m" if graph is not None else
           f"à vol d'oiseau, {reach:.0f} m")
    return minutes, speed, reach, graph, how


def _access_arguments(ctx: Context, graph: Any | None, reach: float,
                      population: pd.Series | None) -> dict[str, Any]:
    """Arguments shared by the health and collège access engines (walk, residences, territory).

    The population within reach is spread over the buildings by dwellings; the territory's
    population is the last value of ``population`` (per zone of :func:`_zones`).
    """
    residences, weight = _dwellings(ctx)
    return {"vintage": ctx.config.vintages["bpe"], "residences": residences,
            "residence_weight": weight, "graph": graph, "reach_m": reach,
            "territory": ctx.layers["territoire"],
            "territory_population": None if population is None else float(population.iloc[-1])}


def _walking_graph(ctx: Context, equipment: Any) -> Any | None:
    """Return the walking graph of the street layer (built once: health and schools)."""
    if "voirie" not in ctx.layers:
        return None
    if "graphe_pieton" not in ctx.layers:
        ctx.layers["graphe_pieton"] = equipment.WalkingGraph.from_lines(ctx.layers["voirie"])
    return ctx.layers["graphe_pieton"]


def step_schools(ctx: Context, progress: ProgressCallback | None) -> None:
    """Collèges within walking reach of each QPV: REP / REP+, social-position index (IPS).

    Adds the table of the collèges (name, commune, éducation prioritaire, IPS, QPV from which
    they are within reach), as in the diagnostic, and a per-QPV summary.
    """
    cfg = ctx.config
    engines = _engines(ctx, "education", ["colleges"], "collèges non traités : fichier des "
                       "collèges (IPS, éducation prioritaire) absent", "equipment", "health")
    if engines is None:
        return
    equipment, health = engines
    colleges = ctx.layers["colleges"]
    minutes, speed, reach, graph, how = _walking(ctx, equipment)
    zones, qpv_zones = _qpv_zones(ctx)
    pop, _ = _population(ctx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # the BPE step said the same
        acc = health.school_access(
            colleges, qpv_zones, population=_qpv_series(pop, qpv_zones), territory_row=True,
            name="colleges", progress=scaled(progress, 0, 0.9),
            **_access_arguments(ctx, graph, reach, pop))
    pairs = equipment.reach_pairs(acc, "college")
    src = _source_label(colleges, "Éducation nationale, indice de position sociale des "
                                  "collèges et éducation prioritaire")
    vint = str(cfg.vintages.get("colleges", ""))
    vint_text = f"rentrée {vint}-{int(vint) + 1}" if vint.isdigit() else vint
    # the collèges, with the QPV from which they are within reach
    names = qpv_zones["nom_qpv"].astype(str)
    reached_from: dict[Any, list[str]] = {}
    for zone, pos in zip(pairs["zone"], pairs["equipment_pos"], strict=True):
        if zone in names.index:
            reached_from.setdefault(colleges.index[pos], []).append(names[zone])
    tab = pd.DataFrame({
        "uai": colleges.get("uai", pd.Series(None, index=colleges.index)).to_numpy(),
        "nom": colleges["nom"].to_numpy(),
        "nom_com": (colleges["nom_com"] if "nom_com" in colleges.columns
                    else colleges["insee_com"]).to_numpy(),
        "insee_com": colleges["insee_com"].to_numpy(),
        "ep": colleges["ep"].fillna("").to_numpy(),
        "ips": pd.to_numeric(colleges["ips"], errors="coerce").to_numpy(),
        "qpv_a_portee": ["; ".join(reached_from.get(i, [])) for i in colleges.index],
        "n_qpv_a_portee": [len(reached_from.get(i, [])) for i in colleges.index],
    })
    tab["ips_texte"] = [fmt(v, "index") for v in tab["ips"]]
    keep = (tab["ep"] != "") | (tab["n_qpv_a_portee"] > 0)
    tab = tab.loc[keep].sort_values(["nom_com", "nom"], kind="stable").reset_index(drop=True)
    n_rep = int((tab["ep"] == "REP").sum())
    n_rep_plus = int((tab["ep"] == "REP+").sum())
    ctx.add("colleges", TableEntry(
        frame=tab, section="education",
        title="Collèges en éducation prioritaire ou à portée à pied d'un QPV",
        source=src, vintage=vint_text,
        method=f"collèges à portée {how} ({minutes:g} min à {speed:g} km/h) d'un point au "
               "moins de chaque QPV ; IPS et appartenance au réseau d'éducation prioritaire "
               "tels que publiés",
        columns={"nom": "Collège", "nom_com": "Commune", "ep": "Éducation prioritaire",
                 "ips_texte": "IPS", "qpv_a_portee": "QPV à portée à pied"},
        per_qpv=False,
        lead=(f"{len(tab)} collèges sont en éducation prioritaire ou à portée à pied d'un "
              f"QPV, dont {n_rep} en REP et {n_rep_plus} en REP+. L'indice de position "
              "sociale (IPS) résume le milieu social des élèves : plus il est bas, plus le "
              "public est défavorisé.")))
    frame = _with_keys_any(acc, zones, cfg.name)
    if "college_reach_count" in frame.columns:
        frame["college_reach_ips_missing_reason"] = np.where(
            frame["college_reach_count"].fillna(0) > 0, "", "aucun collège à portée à pied")
    cols = {"nom_qpv": "Quartier"}
    for c, label in (("college_inside_count", "Collèges dans le QPV"),
                     ("college_reach_count", "Collèges à portée à pied"),
                     ("college_reach_rep_sum", "dont REP"),
                     ("college_reach_rep_plus_sum", "dont REP+"),
                     ("college_reach_ips_mean", "IPS moyen des collèges à portée"),
                     ("college_reach_ips_min", "IPS le plus bas"),
                     ("college_covered_share", "Population à portée d'un collège"),
                     ("college_nearest_median_m", "Distance médiane au plus proche")):
        if c in frame.columns:
            cols[c] = label
    q = frame.loc[~frame["code_qpv"].isin([TERRITORY_CODE, ALL_QPV_CODE])]
    lead = None
    if {"college_reach_rep_sum", "college_reach_rep_plus_sum",
            "college_reach_count"} <= set(q.columns):
        with_ep = int(((q["college_reach_rep_sum"].fillna(0)
                        + q["college_reach_rep_plus_sum"].fillna(0)) > 0).sum())
        none = int((q["college_reach_count"].fillna(0) == 0).sum())
        lead = (f"{with_ep} des {len(q)} QPV ont au moins un collège en REP ou REP+ à portée à "
                f"pied ; {none} n'ont aucun collège à moins de {minutes:g} minutes de marche.")
    ctx.add("colleges_qpv", TableEntry(
        frame=frame, section="education", lead=lead,
        title="Collèges à portée à pied de chaque QPV (REP, REP+, IPS)", source=src,
        vintage=vint_text,
        method=f"collèges dans le QPV ou à portée {how} ; IPS moyen et minimum des collèges "
               "à portée (moyenne simple des établissements, sans pondération par les "
               "effectifs) ; population à portée répartie au prorata des logements",
        columns=cols,
        note="un collège est « à portée » d'un QPV quand il est à moins de "
             f"{minutes:g} minutes de marche d'un point au moins du QPV ; la population à "
             "portée compte les habitants eux-mêmes à moins de cette durée"))
    ctx.methods.append(f"Collèges : fichier de l'indice de position sociale (IPS, "
                       f"{vint_text}) et de l'éducation prioritaire ; portée {how}.")
    report(progress, 1.0, "collèges")


WALKING_AREAS_LABEL = "Zones accessibles à pied"
"""Timing label of the walking areas, drawn in a process of their own (see run_portrait)."""


WALKING_AREA_KINDS = ("medecin_generaliste", "pharmacie", "chirurgien_dentiste", "infirmier")
"""Health kinds whose walking areas are drawn on the map (one layer each)."""


def _walking_areas(sante: gpd.GeoDataFrame, kinds: Mapping[str, list[str]],
                   graph: Any | None, reach: float, minutes: float,
                   labels: Mapping[str, str]) -> gpd.GeoDataFrame | None:
    """Areas within walking reach of the health equipment of each kind (EPSG:2154).

    With the street network: the streets reached within ``reach`` metres along the network,
    as a 40 m band (:meth:`qpvgeo.equipment.WalkingGraph.service_area`); without it, circles
    of ``reach`` metres (straight line). The ``label`` column says which.
    """
    xy_all = shapely.get_coordinates(np.asarray(sante.geometry.array))
    codes = sante["typequ"].astype(str).to_numpy()
    how = "réseau des rues" if graph is not None else "à vol d'oiseau"
    rows = []
    for kind in WALKING_AREA_KINDS:
        sel = np.isin(codes, list(kinds.get(kind, [])))
        if not sel.any():
            continue
        if graph is not None:
            geom = graph.service_area(xy_all[sel], reach)
        else:
            geom = shapely.union_all(shapely.buffer(shapely.points(xy_all[sel]), reach))
        if geom.is_empty:
            continue
        rows.append({"kind": labels.get(kind, kind), "kind_key": kind,
                     "label": f"accessible à pied en {minutes:g} min ({how})",
                     "method": "network" if graph is not None else "euclidean",
                     "geometry": geom})
    if not rows:
        return None
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=_validate.LAMBERT93)


def _walking_areas_of(ctx: Context) -> gpd.GeoDataFrame | None:
    """Return the walking areas of the health step's equipment (see :func:`_walking_areas`)."""
    params = ctx.layers.get("zones_marche_params")
    if params is None or "bpe_sante" not in ctx.layers:
        return None
    return _walking_areas(ctx.layers["bpe_sante"], params["kinds"],
                          ctx.layers.get("graphe_pieton"), params["reach"], params["minutes"],
                          params["labels"])
