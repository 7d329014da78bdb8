"""Steps 6–7 of the portrait: heat loss of the buildings, social housing and housing quality."""

from __future__ import annotations

import contextlib
from typing import Any

import geopandas as gpd
import pandas as pd

from qpvgeo import _validate
from qpvgeo._portrait_context import (
    TERRITORY_CODE,
    Context,
    TableEntry,
    _all_qpv,
    _census_column,
    _engines,
    _mark_illustrative,
    _population,
    _prov,
    _qpv_and_all,
    _qpv_zones,
    _with_keys_any,
    _zones,
)
from qpvgeo._progress import ProgressCallback, report, scaled


def step_thermography(ctx: Context, progress: ProgressCallback | None) -> None:
    """Heat-loss class per building and shares of strong heat loss per QPV and territory."""
    cfg = ctx.config
    engines = _engines(ctx, "logement", ["batiments", "thermographie"], "déperditions "
                       "thermiques non calculées : il faut les bâtiments et la thermographie",
                       "thermography")
    if engines is None:
        return
    (thermo,) = engines
    scheme = thermo.DEFAULT_SCHEME
    if cfg.options.get("schema_deperditions") == "temperature":
        scheme = thermo.HeatLossScheme.temperature()
    ctx.heat_classes = [(c.label, c.colour) for c in scheme.classes]
    ctx.strong_classes = tuple(c.label for c in scheme.classes if c.strong)
    b = thermo.building_heat_loss(ctx.layers["thermographie"], ctx.layers["batiments"],
                                  scheme=scheme, progress=scaled(progress, 0, 0.85))
    keep = [c for c in ("building_id", "usage1", "nb_logts", "heatloss_class",
                        "heatloss_label", "heatloss_reason", "heatloss_class_share",
                        "heatloss_valid_area_m2", "heatloss_coverage", "source") if c in b.columns]
    ctx.layers["batiments_classes"] = gpd.GeoDataFrame(b[keep], geometry=b.geometry, crs=b.crs)
    ctx.layers["batiments_label_col"] = "heatloss_label"
    _mark_illustrative(ctx, "batiments_classes", b)
    report(progress, 0.9, "parts par quartier")
    zones = _zones(ctx)
    # QPV and territory separately: a building is assigned to one zone of a call, and the
    # territory contains the QPV
    is_t = (zones["code_qpv"] == TERRITORY_CODE).to_numpy()
    shares = pd.concat([thermo.heat_loss_shares(b, zones.loc[~is_t]),
                        thermo.heat_loss_shares(b, _all_qpv(ctx)),
                        thermo.heat_loss_shares(b, zones.loc[is_t])])
    src, vint, meth = _prov(shares, "thermographie aérienne infrarouge (traitement qpvgeo)",
                            "classe majoritaire de l'intérieur des toitures (couverture exacte)",
                            cfg.vintages["thermographie"])
    frame = _with_keys_any(shares, zones, cfg.name)
    counts = [c for c in frame.columns if c.startswith("heatloss_count_")]
    cols = {"nom_qpv": "Quartier", "buildings_count": "Bâtiments",
            "buildings_classified": "Bâtiments classés",
            "heatloss_strong_share": "Part des bâtiments à déperditions fortes ou excessives",
            "heatloss_strong_area_share": "Part de la surface de toit concernée"}
    for c in counts:
        value = c.rsplit("_", 1)[-1]
        with contextlib.suppress(KeyError, ValueError):
            cols[c] = f"Déperditions {scheme.label(int(value))}"
    ctx.add("deperditions", TableEntry(
        frame=frame, section="logement",
        title="Bâtiments subissant d'importantes pertes thermiques (thermographie aérienne)",
        source=src, vintage=vint, method=meth, columns=cols))
    ctx.methods.append("Déperditions thermiques : chaque toiture prend la classe majoritaire de "
                       "la thermographie sur son intérieur (tampon négatif), en couverture "
                       "exacte des pixels ; trop peu de pixels valides → « non classé ».")
    report(progress, 1.0, "déperditions")


def step_housing(ctx: Context, progress: ProgressCallback | None) -> None:
    """Social housing (RPLS) and housing quality per QPV and for the territory."""
    cfg = ctx.config
    engines = _engines(ctx, "logement", [], "", "housing")
    if engines is None:
        return
    (housing,) = engines
    zones, qpv_zones = _qpv_zones(ctx)
    if cfg.has("rpls"):
        pop, pop_est = _population(ctx)
        rp, rp_est = _census_column(ctx, "part_locataires_hlm", "den")

        def run_rpls(where: gpd.GeoDataFrame, **kwargs: Any) -> pd.DataFrame:
            return housing.social_housing(ctx.layers["rpls"], where,
                                          territory=ctx.layers["territoire"],
                                          duplicates="drop", name="rpls", **kwargs)

        sh = _qpv_and_all(ctx, qpv_zones, run_rpls, [
            ("population", pop, False), ("population_is_estimate", pop_est, True),
            ("main_residences", rp, False), ("main_residences_is_estimate", rp_est, True)],
            quiet=False)
        src, vint, meth = _prov(sh, "SDES, RPLS", "logements sociaux localisés dans les QPV",
                                cfg.vintages["rpls"])
        frame = _with_keys_any(sh, zones, cfg.name)
        cols = {"nom_qpv": "Quartier"}
        for c, label in (("rpls_count", "Logements sociaux"),
                         ("rpls_share_of_rp", "Part des résidences principales"),
                         ("rpls_per_ha", "Logements par ha"),
                         ("rpls_share_of_territory", "Part du parc social du territoire"),
                         ("rpls_vacancy_share", "Vacance"),
                         ("era_avant_1949_share", "Construits avant 1949"),
                         ("era_1949_1974_share", "1949–1974"),
                         ("finan_plai_share", "Financés en PLAI"),
                         ("dpe_efg_share", "DPE E, F ou G")):
            if c in frame.columns:
                cols[c] = label
        marks = {}
        if "rp_is_estimate" in frame.columns:
            marks["rpls_share_of_rp"] = frame["rp_is_estimate"].fillna(False).astype(bool)
        ctx.add("logement_social", TableEntry(
            frame=frame, section="logement", title="Logements sociaux (RPLS)", source=src,
            vintage=vint, method=meth + " ; résidences principales du recensement "
            f"{cfg.vintages['recensement']} (officielles par QPV, sinon estimées)",
            columns=cols, estimated_cells=marks, estimate=bool(any(m.any() for m in
                                                                     marks.values())),
            note="la part rapportée aux résidences principales peut dépasser 100 % : le RPLS "
                 "compte aussi les logements vacants ou en travaux, et les deux sources n'ont "
                 "pas le même millésime"))
    else:
        ctx.note("logement", "logements sociaux non calculés : RPLS absent ([fichiers] rpls).")
    report(progress, 0.6, "logement social")
    if cfg.has("qualite_logement"):
        qlayer = ctx.layers["qualite_logement"]
        dw = next((c for c in (_validate.find_column(qlayer, n) for n in
                               ("nb_logts", "nb_logements", "logements", "nb_log"))
                   if c is not None), None)

        def run_quality(where: gpd.GeoDataFrame, **kwargs: Any) -> pd.DataFrame:
            return housing.housing_quality(qlayer, where, dwellings_col=dw,
                                           territory=ctx.layers["territoire"],
                                           name="qualite_logement", **kwargs)

        q = _qpv_and_all(ctx, qpv_zones, run_quality)
        src, vint, meth = _prov(q, "diagnostic PLH (qualité du logement)",
                                "recouvrement de la couche qualité et des QPV", "")
        frame = _with_keys_any(q, zones, cfg.name)
        cols = {"nom_qpv": "Quartier"}
        for c, label in (("quality_classed_dwellings", "Logements classés"),
                         ("quality_poor_dwellings", "Logements médiocres ou mauvais"),
                         ("quality_poor_dwellings_share", "Part des logements médiocres ou "
                          "mauvais"),
                         ("quality_poor_area_share", "Part de la surface médiocre ou mauvaise")):
            if c in frame.columns:
                cols[c] = label
        est = (frame["quality_dwellings_is_estimate"].fillna(False).astype(bool)
               if "quality_dwellings_is_estimate" in frame.columns else None)
        marks = {} if est is None else {c: est for c in cols if "dwellings" in c}
        ctx.add("qualite_logement", TableEntry(
            frame=frame, section="logement",
            title="Qualité des logements (diagnostic PLH)", source=src,
            vintage=vint or cfg.vintages.get("qualite_logement", "non renseigné"),
            method=meth + " ; logements d'un îlot coupé par la limite d'un QPV répartis au "
            "prorata de la surface", columns=cols, estimated_cells=marks,
            estimate=bool(est is not None and est.any()),
            estimate_label="au prorata de la surface de l'îlot",
            estimate_rest="les autres sont des décomptes d'îlots entiers"))
    else:
        ctx.note("logement", "qualité du logement non calculée : couche absente ([fichiers] "
                 "qualite_logement).")
    report(progress, 1.0, "logement")
