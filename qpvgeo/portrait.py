"""The main job: the portrait de territoire of the QPV, from one configuration to one folder.

:func:`run_portrait` reads a :class:`~qpvgeo.config.PortraitConfig` (or the demo territory),
loads the layers with :mod:`qpvgeo.io`, runs the engine steps with progress, gathers every
table with its provenance, and writes into ``out_dir``:

- ``carte.html`` — the folium web map (``assets/`` beside it with ``offline=True``);
- ``rapport.html`` — the French report (sections of a portrait de territoire);
- ``graphiques/*.png|svg`` — the charts;
- ``portrait.gpkg`` — QPV with all indicators, classified buildings, IRIS correspondence,
  with QGIS styles embedded in the ``layer_styles`` table;
- ``indicateurs.csv`` (long format: one row per zone × indicator, with unit, source, vintage,
  method and estimate flag) and ``indicateurs.xlsx`` (the same, one sheet per table, and a
  ``provenance`` sheet);
- ``resume.json`` — what was written, timings per step, notes and warnings.

**Atomic output.** Everything is written into a temporary folder beside ``out_dir`` and moved
into place at the very end; an error or an interruption leaves the previous output untouched
and no half-written folder. An existing ``out_dir`` is replaced only when it is empty or is a
previous portrait (it holds the marker file ``.qpvgeo-portrait``), so a mistyped ``--out``
never deletes a user's folder.

**Steps.** :data:`STEPS` lists the engine steps in order (``name``, French label, function).
Each takes the :class:`Context` and adds tables, layers, figures and notes to it; a step whose
input layers are absent from the configuration is skipped with a note in the report (a missing
optional layer is not an error). Re-running on the same inputs gives the same numbers (no
randomness; element ids of the map are deterministic).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from qpvgeo import _validate
from qpvgeo._format import indicator_label, indicator_unit
from qpvgeo._progress import ProgressCallback, report, scaled
from qpvgeo.config import FILE_KEYS, PortraitConfig, demo_config
from qpvgeo.errors import InputFileError

__all__ = [
    "STEPS",
    "Context",
    "PortraitResult",
    "TableEntry",
    "run_portrait",
]

MARKER = ".qpvgeo-portrait"
"""Marker file identifying a folder written by :func:`run_portrait` (safe to replace)."""

TERRITORY_CODE = "territoire"


@dataclass
class TableEntry:
    """A result table with its provenance.

    Attributes
    ----------
    frame
        The table (one row per zone; QPV rows keyed by ``code_qpv``; aggregate rows allowed).
    section
        Report section id (:data:`qpvgeo.report.SECTIONS`).
    title
        French title.
    source, vintage, method
        Provenance shown under the table and exported to the provenance sheet.
    estimate
        The figures are estimates from IRIS.
    columns
        Columns shown in the report (``{column: French header}``); all columns are exported.
    per_qpv
        One row per QPV keyed by ``code_qpv`` (merged into the QPV layer of the GeoPackage).
    """

    frame: pd.DataFrame
    section: str
    title: str
    source: str
    vintage: str
    method: str
    estimate: bool = False
    columns: dict[str, str] | None = None
    per_qpv: bool = True


@dataclass
class Context:
    """State shared by the steps of one run."""

    config: PortraitConfig
    layers: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, TableEntry] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    methods: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    illustrative: set[str] = field(default_factory=set)
    figures: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    heat_classes: list[tuple[str, str]] | None = None
    strong_classes: tuple[str, ...] = ("fortes", "excessives")

    def note(self, section: str, text: str) -> None:
        """Record that (part of) a section was skipped, and why (French)."""
        self.notes.setdefault(section, []).append(text)

    def add(self, key: str, entry: TableEntry) -> None:
        """Register a result table."""
        self.tables[key] = entry

    @property
    def is_illustrative(self) -> bool:
        """True when any input is illustrative stand-in data."""
        return bool(self.illustrative)


@dataclass
class PortraitResult:
    """What :func:`run_portrait` wrote.

    Attributes
    ----------
    out_dir
        The output folder.
    files
        Written files, relative to ``out_dir``.
    timings
        Seconds per step (French step labels), in run order.
    notes
        Sections skipped and why.
    warnings
        Warnings raised during the run (deduplicated text).
    tables
        Result tables by key (the same numbers as in the exports).
    illustrative
        Inputs include illustrative stand-in data.
    """

    out_dir: Path
    files: list[str]
    timings: dict[str, float]
    notes: dict[str, list[str]]
    warnings: list[str]
    tables: dict[str, pd.DataFrame]
    illustrative: bool


Step = tuple[str, str, Callable[[Context, ProgressCallback | None], None]]


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

def _source_of(df: Any) -> str | None:
    if isinstance(df, pd.DataFrame) and "source" in df.columns:
        vals = df["source"].dropna().astype(str).unique()
        return vals[0] if len(vals) == 1 else (", ".join(sorted(vals)) if len(vals) else None)
    return None


def _mark_illustrative(ctx: Context, key: str, df: Any) -> None:
    if isinstance(df, pd.DataFrame) and _validate.is_illustrative(df):
        ctx.illustrative.add(key)


def _prov(result: pd.DataFrame, default_source: str, default_method: str,
          default_vintage: str) -> tuple[str, str, str]:
    info = result.attrs.get("qpvgeo", {}) if hasattr(result, "attrs") else {}
    info = info if isinstance(info, Mapping) else {}
    src = str(info.get("source") or default_source)
    meth = str(info.get("method") or default_method)
    vint = str(info.get("vintage") or default_vintage)
    return src, vint, meth


def _module(name: str) -> Any | None:
    import importlib

    try:
        return importlib.import_module(f"qpvgeo.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"qpvgeo.{name}":
            return None
        raise


def _territory_polygon(ctx: Context) -> gpd.GeoDataFrame:
    """Return the territory as one polygon (EPCI, else union of communes, else union of QPV)."""
    cfg = ctx.config
    if "epci" in ctx.layers:
        epci = ctx.layers["epci"]
        if cfg.siren_epci and "siren_epci" in epci.columns:
            sel = epci.loc[epci["siren_epci"].astype(str) == cfg.siren_epci]
            if len(sel):
                epci = sel
        geom = epci.geometry.union_all()
    elif "communes" in ctx.layers:
        geom = ctx.layers["communes"].geometry.union_all()
    else:
        geom = ctx.layers["qpv"].geometry.union_all()
    return gpd.GeoDataFrame({"code": [TERRITORY_CODE], "nom": [cfg.name]}, geometry=[geom],
                            crs=_validate.LAMBERT93)


# ---------------------------------------------------------------------------------------------
# steps
# ---------------------------------------------------------------------------------------------

_READERS: dict[str, tuple[str, dict[str, Any]]] = {
    "qpv": ("read_qpv", {}),
    "qpv_2015": ("read_qpv", {}),
    "iris": ("read_iris", {}),
    "communes": ("read_communes", {}),
    "epci": ("read_epci", {}),
    "batiments": ("read_buildings", {}),
    "qualite_logement": ("read_layer", {}),
    "rpls": ("read_rpls", {}),
    "bpe": ("read_bpe", {}),
    "sirene_t0": ("read_sirene", {}),
    "sirene_t1": ("read_sirene", {}),
    "insee_iris": ("read_insee_table", {"level": "iris"}),
    "insee_iris_t0": ("read_insee_table", {"level": "iris"}),
    "insee_commune": ("read_insee_table", {"level": "commune"}),
    "insee_qpv": ("read_insee_table", {"level": "qpv"}),
}


def step_load(ctx: Context, progress: ProgressCallback | None) -> None:
    """Read every configured layer with :mod:`qpvgeo.io` (EPSG:2154, codes as text)."""
    from qpvgeo import io

    cfg = ctx.config
    keys = [k for k in _READERS if cfg.has(k)]
    for i, key in enumerate(keys):
        report(progress, i / max(len(keys), 1), f"lecture : {FILE_KEYS[key]}")
        if key in cfg.layers:
            layer = cfg.layers[key]
            if isinstance(layer, gpd.GeoDataFrame):
                layer = _validate.to_lambert93(layer, name=key)
        else:
            func_name, kwargs = _READERS[key]
            layer = getattr(io, func_name)(cfg.files[key], **kwargs)
            if func_name == "read_layer":
                layer = _validate.to_lambert93(layer, name=str(cfg.files[key]))
        ctx.layers[key] = layer
        _mark_illustrative(ctx, key, layer)
    if cfg.has("thermographie"):
        ctx.layers["thermographie"] = cfg.layers.get("thermographie",
                                                      cfg.files.get("thermographie"))
        with contextlib.suppress(Exception):
            import rasterio

            with rasterio.open(ctx.layers["thermographie"]) as src:
                if _validate.is_illustrative(src.tags()):
                    ctx.illustrative.add("thermographie")
    if cfg.has("reference"):
        indicators = _module("indicators")
        if indicators is not None:
            ctx.layers["reference"] = indicators.read_reference_table(cfg.files["reference"])
    qpv = ctx.layers["qpv"]
    _validate.check_not_empty(qpv, name="qpv")
    ctx.layers["territoire"] = _territory_polygon(ctx)
    # keep the QPV of the territory (a national QPV file gives every QPV of France)
    terr = ctx.layers["territoire"].geometry.iloc[0]
    inside = qpv.geometry.representative_point().within(terr)
    if "communes" in ctx.layers or "epci" in ctx.layers:
        if not inside.any():
            raise InputFileError(
                f"{cfg.files.get('qpv', 'qpv')}: no QPV lies in the territory (EPCI "
                f"{cfg.siren_epci}); check the QPV file and the EPCI code of the configuration")
        qpv = qpv.loc[inside]
    ctx.layers["qpv"] = qpv.sort_values("code_qpv", kind="stable")
    for key in ("qpv_2015", "insee_iris_t0", "reference"):
        if not cfg.has(key):
            ctx.note(_SECTION_OF.get(key, "population"),
                     f"couche « {FILE_KEYS[key]} » absente de la configuration "
                     f"([fichiers] {key}).")
    report(progress, 1.0, "couches lues")


_SECTION_OF = {
    "qpv_2015": "evolution", "iris": "population", "communes": "population", "epci": "population",
    "batiments": "logement", "thermographie": "logement", "qualite_logement": "logement",
    "rpls": "logement", "bpe": "sante", "sirene_t0": "economie", "sirene_t1": "economie",
    "insee_iris": "population", "insee_iris_t0": "evolution", "insee_commune": "population",
    "insee_qpv": "population", "reference": "population",
}


def step_area(ctx: Context, progress: ProgressCallback | None) -> None:
    """QPV areas (ha) and population of the territory's QPV (a base table, always computed)."""
    qpv = ctx.layers["qpv"]
    base = pd.DataFrame({"code_qpv": qpv["code_qpv"].astype(str).to_numpy(),
                         "nom_qpv": qpv["nom_qpv"].to_numpy()}, index=qpv.index)
    base["area_ha"] = qpv.geometry.area.to_numpy() / 10_000
    if "insee_com" in qpv.columns:
        base["insee_com"] = qpv["insee_com"].to_numpy()
    terr = ctx.layers["territoire"]
    row = pd.DataFrame({"code_qpv": [TERRITORY_CODE], "nom_qpv": [ctx.config.name],
                        "area_ha": [float(terr.geometry.area.iloc[0]) / 10_000]})
    frame = pd.concat([base, row], ignore_index=True)
    ctx.add("qpv", TableEntry(
        frame=frame, section="population", title="Quartiers prioritaires du territoire",
        source=_source_of(qpv) or "ANCT, périmètres des QPV", vintage=ctx.config.vintages["qpv"],
        method="surface calculée en Lambert-93 (EPSG:2154)",
        columns={"nom_qpv": "Quartier", "code_qpv": "Code", "area_ha": "Superficie (ha)"}))
    report(progress, 1.0, "QPV")


def _zones(ctx: Context) -> gpd.GeoDataFrame:
    """QPV of the territory then one territory row (``code_qpv`` = "territoire")."""
    qpv = ctx.layers["qpv"][["code_qpv", "nom_qpv", "geometry"]]
    terr = ctx.layers["territoire"].rename(columns={"code": "code_qpv", "nom": "nom_qpv"})
    z = pd.concat([qpv, terr[["code_qpv", "nom_qpv", "geometry"]]], ignore_index=True)
    return gpd.GeoDataFrame(z, geometry="geometry", crs=qpv.crs)


def _with_keys(result: pd.DataFrame, zones: pd.DataFrame) -> pd.DataFrame:
    """Put ``code_qpv``/``nom_qpv`` first (results keep the zones' index)."""
    out = pd.DataFrame(result).drop(columns=[c for c in ("geometry",) if c in result.columns])
    out = out.drop(columns=[c for c in ("code_qpv", "nom_qpv") if c in out.columns])
    keys = zones.loc[out.index, ["code_qpv", "nom_qpv"]]
    return pd.concat([keys, out], axis=1)


def _population(ctx: Context) -> tuple[pd.Series | None, pd.Series | None]:
    """Return the population per zone of :func:`_zones` (and its estimate flag) when computed."""
    entry = ctx.tables.get("population")
    if entry is None or "population" not in entry.frame.columns:
        return None, None
    f = entry.frame.drop_duplicates("code_qpv").set_index("code_qpv")
    zones = _zones(ctx)
    pop = zones["code_qpv"].map(pd.to_numeric(f["population"], errors="coerce"))
    est_col = next((c for c in ("population_is_estimate", "is_estimate") if c in f.columns),
                   None)
    est = None if est_col is None else zones["code_qpv"].map(f[est_col]).fillna(False) \
        .astype(bool)
    return pop.astype(float), est


def step_thermography(ctx: Context, progress: ProgressCallback | None) -> None:
    """Heat-loss class per building and shares of strong heat loss per QPV and territory."""
    cfg = ctx.config
    if not (cfg.has("batiments") and cfg.has("thermographie")):
        ctx.note("logement", "déperditions thermiques non calculées : il faut les bâtiments et "
                 "la thermographie ([fichiers] batiments, thermographie).")
        return
    thermo = _module("thermography")
    if thermo is None:
        ctx.note("logement", "module qpvgeo.thermography indisponible.")
        return
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
                        thermo.heat_loss_shares(b, zones.loc[is_t])])
    src, vint, meth = _prov(shares, "thermographie aérienne infrarouge (traitement qpvgeo)",
                            "classe majoritaire de l'intérieur des toitures (couverture exacte)",
                            cfg.vintages["thermographie"])
    frame = _with_keys(shares, zones)
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


def step_iris(ctx: Context, progress: ProgressCallback | None) -> None:
    """IRIS concerned by a QPV, the IRIS↔QPV correspondence and census indicators per QPV."""
    cfg = ctx.config
    if not cfg.has("iris"):
        ctx.note("population", "correspondance IRIS ↔ QPV non calculée : contours IRIS absents "
                 "([fichiers] iris).")
        return
    overlay = _module("overlay")
    if overlay is None:
        ctx.note("population", "module qpvgeo.overlay indisponible.")
        return
    iris, qpv = ctx.layers["iris"], ctx.layers["qpv"]
    weights = ctx.layers.get("batiments")
    wcol = "nb_logts" if weights is not None and "nb_logts" in weights.columns else None
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
        source=src, vintage=vint, method=meth, columns=cols, per_qpv=False))
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
    if not cfg.has("insee_iris"):
        ctx.note("population", "indicateurs du recensement non calculés : table INSEE par IRIS "
                 "absente ([fichiers] insee_iris).")
        return
    _census_indicators(ctx, weights, wcol, scaled(progress, 0.6, 1.0))


def _census_indicators(ctx: Context, weights: Any, wcol: str | None,
                       progress: ProgressCallback | None) -> None:
    interp = _module("interpolation")
    indicators = _module("indicators")
    if interp is None or indicators is None:
        ctx.note("population", "modules qpvgeo.interpolation / qpvgeo.indicators indisponibles.")
        return
    cfg = ctx.config
    table = ctx.layers["insee_iris"]
    iris = ctx.layers["iris"]
    qpv = ctx.layers["qpv"]
    vint = {"rp": int(cfg.vintages["recensement"]), "filosofi": int(cfg.vintages["filosofi"])}
    numeric = [c for c in table.columns if c not in ("code_iris", "secret_vars", "source")
               and pd.api.types.is_numeric_dtype(table[c])]
    extensive = [c for c in numeric if c[:1] in ("P", "C") and "_" in c]
    intensive = [c for c in numeric if c not in extensive]
    src_layer = iris[["code_iris", "geometry"]].merge(table, on="code_iris", how="inner")
    src_layer = gpd.GeoDataFrame(src_layer, geometry="geometry", crs=iris.crs)
    est = interp.interpolate(src_layer, qpv, extensive=extensive, intensive=intensive,
                             weights=weights, weight_col=wcol, progress=progress)
    official = [ctx.layers["insee_qpv"]] if "insee_qpv" in ctx.layers else None
    values = indicators.zone_indicators(qpv, vintage=vint, official=official, estimates=est)
    # territory: IRIS of the territory's communes
    terr_units = table
    if "communes" in ctx.layers and "insee_com" in ctx.layers["communes"].columns:
        coms = set(ctx.layers["communes"]["insee_com"].astype(str))
        terr_units = table.loc[table["code_iris"].astype(str).str[:5].isin(coms)]
    territory = indicators.territory_indicators(terr_units, vintage=vint, name=cfg.name,
                                                code=cfg.siren_epci or TERRITORY_CODE)
    ctx.layers["indicateurs_t1"] = values
    ctx.layers["territoire_t1"] = territory
    keys = [k for k in indicators.catalogue()["key"] if k in values.columns] \
        if "key" in indicators.catalogue().columns else []
    frame = pd.DataFrame(values).drop(columns=[c for c in ("geometry",) if c in values.columns])
    trow = pd.DataFrame(territory).drop(columns=[c for c in ("geometry",)
                                                 if c in territory.columns])
    trow = trow.assign(code_qpv=TERRITORY_CODE, nom_qpv=cfg.name)
    frame = pd.concat([frame, trow[[c for c in trow.columns if c in frame.columns
                                    or c in ("code_qpv", "nom_qpv")]]], ignore_index=True)
    cols = {"nom_qpv": "Quartier"}
    for k in keys:
        cols[k] = indicators.get_indicator(k).label if hasattr(
            indicators.get_indicator(k), "label") else indicator_label(k)
    is_est = any(frame.get(f"{k}_is_estimate", pd.Series(dtype=bool)).fillna(False).astype(bool)
                 .any() for k in keys)
    ctx.add("population", TableEntry(
        frame=frame, section="population",
        title="Indicateurs du recensement et de Filosofi par QPV",
        source=indicators.DATASETS["rp"] + " ; " + indicators.DATASETS["filosofi"],
        vintage=f"RP {cfg.vintages['recensement']}, Filosofi {cfg.vintages['filosofi']}",
        method="valeurs officielles par QPV quand elles existent, sinon estimation à partir "
               "des IRIS (répartition au prorata des logements des bâtiments)",
        estimate=is_est, columns=cols))
    refs = ctx.layers.get("reference")
    table_p = indicators.portrait_table(values, territory, references=refs,
                                        territory_name=cfg.name)
    ctx.add("portrait", TableEntry(
        frame=pd.DataFrame(table_p), section="population",
        title="Tableau de synthèse : territoire et QPV", source="voir les tableaux détaillés",
        vintage=f"RP {cfg.vintages['recensement']}, Filosofi {cfg.vintages['filosofi']}",
        method="qpvgeo.indicators.portrait_table (agrégat QPV recalculé à partir des "
               "numérateurs et dénominateurs)", per_qpv=False))
    ctx.methods.append("Estimations à partir des IRIS : les effectifs des IRIS sont répartis "
                       "entre QPV au prorata des logements (BD TOPO) ; les taux sont recalculés "
                       "comme rapport des effectifs estimés, jamais moyennés ; les médianes ne "
                       "sont pas interpolées.")


def step_housing(ctx: Context, progress: ProgressCallback | None) -> None:
    """Social housing (RPLS) and housing quality per QPV and for the territory."""
    cfg = ctx.config
    housing = _module("housing")
    if housing is None:
        ctx.note("logement", "module qpvgeo.housing indisponible.")
        return
    zones = _zones(ctx)
    qpv_zones = zones.loc[zones["code_qpv"] != TERRITORY_CODE]
    if cfg.has("rpls"):
        pop, pop_est = _population(ctx)
        sh = housing.social_housing(ctx.layers["rpls"], qpv_zones,
                                    territory=ctx.layers["territoire"],
                                    population=None if pop is None else pop.loc[qpv_zones.index],
                                    population_is_estimate=None if pop_est is None
                                    else pop_est.loc[qpv_zones.index],
                                    duplicates="drop", name="rpls")
        src, vint, meth = _prov(sh, "SDES, RPLS", "points des logements sociaux dans les QPV",
                                cfg.vintages["rpls"])
        frame = _with_keys_any(sh, zones, cfg.name)
        cols = {c: indicator_label(c) for c in frame.columns
                if c.startswith("rpls_") and pd.api.types.is_numeric_dtype(frame[c])}
        cols = {"nom_qpv": "Quartier", **dict(list(cols.items())[:9])}
        ctx.add("logement_social", TableEntry(
            frame=frame, section="logement", title="Logements sociaux (RPLS)", source=src,
            vintage=vint, method=meth, columns=cols))
    else:
        ctx.note("logement", "logements sociaux non calculés : RPLS absent ([fichiers] rpls).")
    report(progress, 0.6, "logement social")
    if cfg.has("qualite_logement"):
        q = housing.housing_quality(ctx.layers["qualite_logement"], qpv_zones,
                                    name="qualite_logement")
        src, vint, meth = _prov(q, "diagnostic PLH (qualité du logement)",
                                "recouvrement de la couche qualité et des QPV", "")
        ctx.add("qualite_logement", TableEntry(
            frame=_with_keys_any(q, zones, cfg.name), section="logement",
            title="Qualité des logements (médiocres ou mauvais)", source=src,
            vintage=vint or "non renseigné", method=meth))
    report(progress, 1.0, "logement")


def _with_keys_any(result: pd.DataFrame, zones: pd.DataFrame, territory_name: str
                   ) -> pd.DataFrame:
    """Like :func:`_with_keys`, tolerating extra aggregate rows (territory, all QPV)."""
    out = pd.DataFrame(result).drop(columns=[c for c in ("geometry",) if c in result.columns])
    known = out.index.isin(zones.index)
    codes = pd.Series([str(i) for i in out.index], index=out.index, dtype=object)
    names = codes.copy()
    codes[known] = zones.loc[out.index[known], "code_qpv"].to_numpy()
    names[known] = zones.loc[out.index[known], "nom_qpv"].to_numpy()
    if "code_qpv" in out.columns:
        codes = out["code_qpv"].astype(object).where(out["code_qpv"].notna(), codes)
    if "nom_qpv" in out.columns:
        names = out["nom_qpv"].astype(object).where(out["nom_qpv"].notna(), names)
    names = names.where(~codes.isin([TERRITORY_CODE, "territory"]), territory_name)
    codes = codes.where(~codes.isin(["territory"]), TERRITORY_CODE)
    out = out.drop(columns=[c for c in ("code_qpv", "nom_qpv") if c in out.columns])
    out.insert(0, "nom_qpv", names.to_numpy())
    out.insert(0, "code_qpv", codes.to_numpy())
    return out.reset_index(drop=True)


def step_health(ctx: Context, progress: ProgressCallback | None) -> None:
    """Health equipment inside and within walking reach of each QPV, population covered."""
    cfg = ctx.config
    if not cfg.has("bpe"):
        ctx.note("sante", "équipements de santé non calculés : BPE absente ([fichiers] bpe).")
        return
    equipment = _module("equipment")
    if equipment is None:
        ctx.note("sante", "module qpvgeo.equipment indisponible.")
        return
    health = _module("health")
    bpe = ctx.layers["bpe"]
    reach = float(equipment.walking_reach_m(float(cfg.options["marche_minutes"]),
                                            float(cfg.options["vitesse_marche_kmh"])))
    zones = _zones(ctx)
    qpv_zones = zones.loc[zones["code_qpv"] != TERRITORY_CODE]
    pop, pop_est = _population(ctx)
    residences = ctx.layers.get("batiments")
    common = {
        "population": None if pop is None else pop.loc[qpv_zones.index],
        "population_is_estimate": None if pop_est is None else pop_est.loc[qpv_zones.index],
        "residences": residences,
        "residence_weight": "nb_logts" if residences is not None
        and "nb_logts" in residences.columns else None,
        "reach_m": reach, "territory": ctx.layers["territoire"],
        "territory_population": None if pop is None else float(pop.iloc[-1]),
        "name": "bpe", "progress": scaled(progress, 0, 0.9),
    }
    kinds: dict[str, list[str]] = {}
    if health is not None and hasattr(health, "health_access"):
        table = health.bpe_codes(cfg.vintages["bpe"], domain="sante")
        wanted = set(health.DEFAULT_HEALTH_KINDS)
        for kind, grp in table.groupby("kind", sort=False):
            if kind in wanted:
                kinds[health.KIND_LABELS.get(kind, kind)] = [str(c) for c in grp["typequ"]]
        acc = health.health_access(bpe, qpv_zones, vintage=cfg.vintages["bpe"], **common)
    else:
        from qpvgeo.maps import _HEALTH_KINDS

        kinds = {label: list(codes) for codes, label, _i, _c in _HEALTH_KINDS}
        acc = equipment.equipment_access(bpe, qpv_zones, kinds=kinds, **common)
    codes = {c for v in kinds.values() for c in v}
    sante = bpe.loc[bpe["typequ"].astype(str).isin(codes)]
    ctx.layers["bpe_sante"] = sante
    src, vint, meth = _prov(acc, "INSEE, BPE", f"distance à vol d'oiseau de {reach:.0f} m "
                            f"({cfg.options['marche_minutes']:g} min à "
                            f"{cfg.options['vitesse_marche_kmh']:g} km/h)", cfg.vintages["bpe"])
    frame = _with_keys_any(acc, zones, cfg.name)
    ctx.add("sante", TableEntry(
        frame=frame, section="sante", title="Équipements de santé et accessibilité à pied",
        source=src, vintage=vint, method=meth,
        estimate=bool(pop_est is not None and pop_est.any())))
    pts = sante.geometry
    areas = []
    for kind, kcodes in kinds.items():
        kc = {str(c) for c in ([kcodes] if isinstance(kcodes, str) else kcodes)}
        sel = pts.loc[sante["typequ"].astype(str).isin(kc).to_numpy()]
        if len(sel):
            areas.append({"kind": kind, "geometry": sel.buffer(reach).union_all()})
    if areas:
        ctx.layers["zones_marche"] = gpd.GeoDataFrame(areas, geometry="geometry", crs=pts.crs)
    report(progress, 1.0, "santé")


def step_economy(ctx: Context, progress: ProgressCallback | None) -> None:
    """Count establishments at two dates, their change, creations and sector mix per QPV."""
    cfg = ctx.config
    if not (cfg.has("sirene_t0") and cfg.has("sirene_t1")):
        ctx.note("economie", "activité économique non calculée : il faut les établissements "
                 "SIRENE aux deux dates ([fichiers] sirene_t0, sirene_t1).")
        return
    economy = _module("economy")
    if economy is None:
        ctx.note("economie", "module qpvgeo.economy indisponible.")
        return
    zones = _zones(ctx)
    qpv_zones = zones.loc[zones["code_qpv"] != TERRITORY_CODE]
    pop, pop_est = _population(ctx)
    eco = economy.economic_activity(
        ctx.layers["sirene_t0"], ctx.layers["sirene_t1"], qpv_zones,
        year0=int(cfg.vintages["sirene_t0"]), year1=int(cfg.vintages["sirene_t1"]),
        population=None if pop is None else pop.loc[qpv_zones.index],
        population_is_estimate=None if pop_est is None else pop_est.loc[qpv_zones.index],
        territory=ctx.layers["territoire"], duplicates="drop")
    src, vint, meth = _prov(eco, "INSEE, SIRENE géolocalisé", "établissements localisés dans "
                            "les QPV", f"{cfg.vintages['sirene_t0']} et "
                            f"{cfg.vintages['sirene_t1']}")
    frame = _with_keys_any(eco, zones, cfg.name)
    main = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
            and not c.startswith("sector_")][:8]
    ctx.add("economie", TableEntry(
        frame=frame, section="economie", title="Établissements et créations (SIRENE)",
        source=src, vintage=vint, method=meth,
        columns={"nom_qpv": "Quartier", **{c: indicator_label(c) for c in main}}))
    report(progress, 1.0, "économie")


def step_npnru(ctx: Context, progress: ProgressCallback | None) -> None:
    """List the NPNRU QPV with their key figures (a view of the other tables)."""
    npnru = [str(c) for c in ctx.config.options.get("npnru", [])]
    if not npnru:
        ctx.note("npnru", "aucun QPV du NPNRU indiqué ([options] npnru).")
        return
    layer = qpv_indicator_layer(ctx)
    sel = pd.DataFrame(layer.loc[layer["code_qpv"].isin(npnru)]).drop(columns="geometry")
    unknown = sorted(set(npnru) - set(sel["code_qpv"]))
    if unknown:
        ctx.warnings.append("QPV du NPNRU absents de la couche des QPV : " + ", ".join(unknown))
    cols = {"nom_qpv": "Quartier", "code_qpv": "Code"}
    for c in ("area_ha", "population", "poverty_rate", "heatloss_strong_share", "rpls_count",
              "rpls_share"):
        if c in sel.columns:
            cols[c] = indicator_label(c)
    ctx.add("npnru", TableEntry(
        frame=sel, section="npnru", title="QPV retenus au titre du NPNRU",
        source="configuration ([options] npnru) et tableaux ci-dessus",
        vintage=ctx.config.vintages["qpv"], method="extrait des tableaux par QPV",
        columns=cols, per_qpv=False))
    report(progress, 1.0, "NPNRU")


STEPS: list[Step] = [
    ("load", "Lecture des couches", step_load),
    ("qpv", "Quartiers", step_area),
    ("iris", "IRIS et recensement", step_iris),
    ("thermographie", "Déperditions thermiques", step_thermography),
    ("logement", "Logement social et qualité", step_housing),
    ("sante", "Équipements de santé", step_health),
    ("economie", "Activité économique", step_economy),
    ("npnru", "NPNRU", step_npnru),
]
"""Engine steps in run order: (name, French label, function(ctx, progress))."""


# ---------------------------------------------------------------------------------------------
# outputs
# ---------------------------------------------------------------------------------------------

def qpv_indicator_layer(ctx: Context) -> gpd.GeoDataFrame:
    """Return the QPV layer with every per-QPV table's columns (prefixed on name clashes)."""
    qpv = ctx.layers["qpv"]
    out = gpd.GeoDataFrame(qpv[["code_qpv", "nom_qpv", "geometry"]].copy(),
                           geometry="geometry", crs=qpv.crs)
    out["code_qpv"] = out["code_qpv"].astype(str)
    for key, entry in ctx.tables.items():
        if not entry.per_qpv or "code_qpv" not in entry.frame.columns:
            continue
        t = entry.frame.loc[entry.frame["code_qpv"].astype(str).isin(set(out["code_qpv"]))]
        t = t.drop_duplicates("code_qpv").set_index(t["code_qpv"].astype(str).to_numpy())
        cols = []
        for c in t.columns:
            if c in ("code_qpv", "nom_qpv", "geometry") or (c in out.columns and key == "qpv"):
                continue
            if isinstance(t[c].dtype, pd.api.types.CategoricalDtype):
                continue
            cols.append(c)
        new = {}
        for c in cols:
            name = c if c not in out.columns and c not in new else f"{key}_{c}"
            new[name] = out["code_qpv"].map(t[c]).to_numpy()
        if new:
            out = gpd.GeoDataFrame(pd.concat([out, pd.DataFrame(new, index=out.index)], axis=1),
                                   geometry="geometry", crs=qpv.crs)
    return out


def _long_table(ctx: Context) -> pd.DataFrame:
    """One row per (table, zone, indicator) with its unit and provenance."""
    rows = []
    for key, entry in ctx.tables.items():
        f = entry.frame
        code_col = next((c for c in ("code_qpv", "code_iris", "insee_com", "code", "key")
                         if c in f.columns), None)
        name_col = next((c for c in ("nom_qpv", "nom_iris", "nom_com", "nom", "name")
                         if c in f.columns), None)
        numeric = [c for c in f.columns if pd.api.types.is_numeric_dtype(f[c])
                   and not pd.api.types.is_bool_dtype(f[c]) and c not in ("geometry",)]
        est_col = next((c for c in ("is_estimate", "share_estimated") if c in f.columns), None)
        for i in range(len(f)):
            code = None if code_col is None else f[code_col].iloc[i]
            name = None if name_col is None else f[name_col].iloc[i]
            est = entry.estimate if est_col is None else bool(
                pd.to_numeric(pd.Series([f[est_col].iloc[i]]), errors="coerce").fillna(0)
                .iloc[0] > 0)
            for c in numeric:
                v = f[c].iloc[i]
                rows.append({
                    "table": key, "code_zone": None if pd.isna(code) else str(code),
                    "nom_zone": None if name is None or pd.isna(name) else str(name),
                    "indicateur": c, "libelle": indicator_label(c),
                    "valeur": None if pd.isna(v) else float(v), "unite": indicator_unit(c),
                    "estimation": est, "source": entry.source, "millesime": entry.vintage,
                    "methode": entry.method,
                    "donnees_illustratives": ctx.is_illustrative,
                })
    cols = ["table", "code_zone", "nom_zone", "indicateur", "libelle", "valeur", "unite",
            "estimation", "source", "millesime", "methode", "donnees_illustratives"]
    return pd.DataFrame(rows, columns=cols)


def _write_csv_xlsx(ctx: Context, out: Path) -> list[str]:
    from openpyxl import Workbook

    long = _long_table(ctx)
    long.to_csv(out / "indicateurs.csv", sep=";", index=False, encoding="utf-8-sig")
    wb = Workbook()
    ws = wb.active
    ws.title = "indicateurs"
    _sheet(ws, long)
    used = {"indicateurs", "provenance"}
    for key, entry in ctx.tables.items():
        name = key[:31]
        n = 2
        while name in used:
            name = f"{key[:28]}_{n}"
            n += 1
        used.add(name)
        frame = entry.frame.drop(columns=[c for c in ("geometry",) if c in entry.frame.columns])
        _sheet(wb.create_sheet(name), pd.DataFrame(frame))
    prov = pd.DataFrame([{
        "table": key, "titre": e.title, "section": e.section, "source": e.source,
        "millesime": e.vintage, "methode": e.method, "estimation": e.estimate,
        "donnees_illustratives": ctx.is_illustrative, "lignes": len(e.frame)}
        for key, e in ctx.tables.items()])
    _sheet(wb.create_sheet("provenance"), prov)
    wb.save(out / "indicateurs.xlsx")
    return ["indicateurs.csv", "indicateurs.xlsx"]


def _sheet(ws: Any, frame: pd.DataFrame) -> None:
    """Write a frame into a worksheet; text is always stored as text (no formula injection)."""
    ws.append([str(c) for c in frame.columns])
    for rec in frame.itertuples(index=False):
        row: list[Any] = []
        for v in rec:
            if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
                row.append(None)
            elif isinstance(v, (bool, np.bool_)):
                row.append(bool(v))
            elif isinstance(v, (int, float, np.integer, np.floating)):
                row.append(float(v) if isinstance(v, (float, np.floating)) else int(v))
            else:
                row.append(str(v))
        ws.append(row)
    for row_cells in ws.iter_rows(min_row=2):
        for cell in row_cells:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"


def _write_gpkg(ctx: Context, out: Path) -> list[str]:
    from qpvgeo import styles

    path = out / "portrait.gpkg"
    layers: list[tuple[str, gpd.GeoDataFrame, str]] = []
    qpv_layer = qpv_indicator_layer(ctx)
    indicator = ctx.config.options.get("indicateur_carte")
    layers.append(("qpv", qpv_layer, styles.qpv_qml(qpv_layer, indicator)))
    if "batiments_classes" in ctx.layers:
        b = ctx.layers["batiments_classes"]
        layers.append(("batiments", b, styles.buildings_qml(
            ctx.heat_classes or [], class_col=ctx.layers.get("batiments_label_col",
                                                               "heatloss_label"))))
    if "correspondance_iris_qpv" in ctx.layers:
        layers.append(("iris_qpv", ctx.layers["correspondance_iris_qpv"], styles.outline_qml()))
    if "territoire" in ctx.layers:
        layers.append(("territoire", ctx.layers["territoire"], styles.outline_qml("#333333")))
    for name, gdf, _ in layers:
        g = gdf.copy()
        for c in g.columns:
            if c != g.geometry.name and (g[c].dtype == object or str(g[c].dtype) == "str"):
                g[c] = g[c].astype(object).where(g[c].notna(), None)
                g[c] = [None if v is None else str(v) for v in g[c]]
        g.to_file(path, layer=name, driver="GPKG")
    styles.embed_styles(path, [(name, qml) for name, _, qml in layers])
    return ["portrait.gpkg"]


def _write_map(ctx: Context, out: Path, offline: bool) -> list[str]:
    from qpvgeo.maps import DEFAULT_HEAT_CLASSES, portrait_map, save_map

    cfg = ctx.config
    qpv_layer = qpv_indicator_layer(ctx)
    indicator = cfg.options.get("indicateur_carte")
    if indicator not in qpv_layer.columns:
        numeric = [c for c in qpv_layer.columns if c not in ("area_ha",)
                   and pd.api.types.is_numeric_dtype(qpv_layer[c])
                   and indicator_unit(c) == "share"]
        if indicator:
            ctx.warnings.append(f"indicateur de carte « {indicator} » indisponible ; "
                                + (f"carte sur « {numeric[0]} »." if numeric else
                                   "carte des périmètres seuls."))
        indicator = numeric[0] if numeric else None
    tips = [c for c in ("population", "poverty_rate", "heatloss_strong_share", "rpls_count")
            if c in qpv_layer.columns]
    iris = ctx.layers.get("iris_concernes")
    m = portrait_map(
        qpv_layer, indicator=indicator, k=int(cfg.options.get("classes_carte", 5)),
        tooltip_fields=tips, npnru=list(cfg.options.get("npnru", [])),
        iris=iris, communes=ctx.layers.get("communes"),
        buildings=ctx.layers.get("batiments_classes"),
        building_class_col=ctx.layers.get("batiments_label_col", "heatloss_label"),
        heat_classes=ctx.heat_classes or DEFAULT_HEAT_CLASSES,
        strong_classes=ctx.strong_classes,
        detail_m=float(cfg.options["detail_batiments_m"]),
        cell_m=float(cfg.options["carreau_batiments_m"]),
        social_housing=ctx.layers.get("rpls"), equipment=ctx.layers.get("bpe_sante"),
        walking_areas=ctx.layers.get("zones_marche"),
        walking_label=f"Zones à {cfg.options['marche_minutes']:g} min à pied",
        title=f"Portrait de territoire — {cfg.name}", illustrative=ctx.is_illustrative,
        offline=offline)
    save_map(m, out / "carte.html", offline=offline)
    files = ["carte.html"]
    if offline:
        files += [str(p.relative_to(out)) for p in sorted((out / "assets").rglob("*"))
                  if p.is_file()]
    return files


def _write_charts(ctx: Context, out: Path) -> list[str]:
    from qpvgeo import charts

    files: list[str] = []
    gdir = out / "graphiques"
    for key, entry in ctx.tables.items():
        spec = _CHARTS.get(key)
        if spec is None:
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
            return charts.indicator_bars(qpv, c, territory_value=None if pd.isna(tv) else
                                         float(tv), territory_label=ctx.config.name,
                                         source_note=note)

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
            entry.frame, classes, count_cols=counts, source_note=note),
            "Répartition des bâtiments par classe de déperditions"))
    return out


def _charts_health(ctx: Context, entry: TableEntry) -> list[tuple[str, Callable[[], Any], str]]:
    from qpvgeo import charts

    cols = [c for c in entry.frame.columns if c.endswith(("_pop_covered_share", "_covered_share"))]
    if not cols:
        return []
    qpv, terr = _split_territory(entry.frame)
    labels = [c.replace("_pop_covered_share", "").replace("_covered_share", "") for c in cols]
    note = f"Source : {entry.source} ({entry.vintage}) — {entry.method}"
    return [("sante_portee", lambda: charts.health_reach(
        qpv, cols, kind_labels=labels,
        territory=None if terr is None else pd.to_numeric(terr[cols], errors="coerce"),
        source_note=note), "Population à portée à pied des équipements de santé")]


def _charts_generic(stem: str, prefer: Sequence[str]) -> Callable[
        [Context, TableEntry], list[tuple[str, Callable[[], Any], str]]]:
    def spec(ctx: Context, entry: TableEntry) -> list[tuple[str, Callable[[], Any], str]]:
        cols = [c for c in prefer if c in entry.frame.columns]
        return _bars_for(ctx, stem, entry, cols)
    return spec


def _charts_evolution(ctx: Context, entry: TableEntry
                      ) -> list[tuple[str, Callable[[], Any], str]]:
    from qpvgeo import charts

    f = entry.frame
    x = next((c for c in ("value_change", "change") if c in f.columns), None)
    y = next((c for c in ("gap_change",) if c in f.columns), None)
    if x is None or y is None:
        return []
    return [("evolution_quadrant", lambda: charts.gap_quadrant(
        f, x=x, y=y, x_label="Évolution de la valeur du QPV",
        y_label="Évolution de l'écart au territoire",
        source_note=f"Source : {entry.source} ({entry.vintage})"),
        "Évolution des écarts au territoire")]


# table key -> function returning [(file stem, builder, caption)]
_CHARTS: dict[str, Callable[[Context, TableEntry], list[tuple[str, Callable[[], Any], str]]]] = {
    "deperditions": _charts_heat,
    "sante": _charts_health,
    "population": _charts_generic("population", ["poverty_rate", "median_income",
                                                 "employment_rate", "pop_share_under25",
                                                 "no_diploma_share"]),
    "logement_social": _charts_generic("logement", ["rpls_share", "rpls_count"]),
    "evolution": _charts_evolution,
}


def _write_report(ctx: Context, out: Path, files: Sequence[str]) -> list[str]:
    from qpvgeo.report import SECTIONS, ReportSection, render_report, report_table, write_report

    cfg = ctx.config
    sections = {sid: ReportSection(id=sid, title=title) for sid, title in SECTIONS}
    for _key, entry in ctx.tables.items():
        f = entry.frame
        cols = entry.columns or {c: indicator_label(c) for c in f.columns
                                 if c in ("nom_qpv",) or pd.api.types.is_numeric_dtype(f[c])}
        cols = {c: lbl for c, lbl in cols.items() if c in f.columns}
        kinds = None
        if "code_qpv" in f.columns:
            kinds = f["code_qpv"].astype(str).map(
                lambda c: "territory" if c == TERRITORY_CODE else
                ("qpv-all" if c == "ensemble_qpv" else ""))
        text_cols = [c for c in cols if not pd.api.types.is_numeric_dtype(f[c])]
        sections[entry.section].tables.append(report_table(
            f, cols, title=entry.title, source=entry.source, vintage=entry.vintage,
            method=entry.method, estimate=entry.estimate or None, text_columns=text_cols,
            row_kind=kinds, illustrative=ctx.is_illustrative))
    for sid, figs in ctx.figures.items():
        sections[sid].figures.extend(figs)
    for sid, notes in ctx.notes.items():
        if sid in sections:
            sections[sid].skipped.extend(notes)
    inputs = []
    for key in FILE_KEYS:
        if cfg.has(key):
            src = cfg.files.get(key)
            inputs.append({"label": FILE_KEYS[key],
                           "file": src.name if src is not None else "(couche en mémoire)",
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


OUTPUTS: list[tuple[str, str]] = [
    ("exports", "Exports (GeoPackage, CSV, XLSX)"),
    ("carte", "Carte web"),
    ("graphiques", "Graphiques"),
    ("rapport", "Rapport HTML"),
]


# ---------------------------------------------------------------------------------------------
# atomic output folder
# ---------------------------------------------------------------------------------------------

def _check_replaceable(out_dir: Path) -> None:
    if out_dir.exists():
        if not out_dir.is_dir():
            raise InputFileError(f"{out_dir}: exists and is not a folder; choose another --out")
        if any(out_dir.iterdir()) and not (out_dir / MARKER).exists():
            raise InputFileError(
                f"{out_dir}: folder exists, is not empty and was not written by qpvgeo "
                "portrait; choose an empty or new folder for --out (nothing was deleted)")


@contextlib.contextmanager
def _staging(out_dir: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``out_dir``; move it into place on success only."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        yield tmp
        (tmp / MARKER).write_text("Dossier écrit par qpvgeo portrait ; il peut être remplacé "
                                  "par une nouvelle exécution.\n", encoding="utf-8")
        old = None
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.replace(out_dir, old / "previous")
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _collect_warnings(ctx: Context) -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        text = f"{w.category.__name__} : {w.message}"
        if text not in ctx.warnings:
            ctx.warnings.append(text)


# ---------------------------------------------------------------------------------------------
# main entry point
# ---------------------------------------------------------------------------------------------

def run_portrait(
    config: PortraitConfig | str | Path | None = None,
    out_dir: str | Path = "output/portrait",
    *,
    offline: bool = False,
    progress: ProgressCallback | None = None,
    step_progress: Callable[[str], ProgressCallback | None] | None = None,
) -> PortraitResult:
    """Compute the portrait de territoire and write its map, report, charts and exports.

    Parameters
    ----------
    config
        A :class:`~qpvgeo.config.PortraitConfig`, the path of a TOML configuration, or
        ``None`` for the embedded demo territory.
    out_dir
        Output folder, replaced atomically at the end (see the module docstring).
    offline
        Make the map self-contained (vendored Leaflet assets, no tiles, no CDN).
    progress
        Overall progress callback ``(fraction 0–1, French message)``.
    step_progress
        Optional factory giving a progress callback per step label (the CLI draws one bar
        per step); used instead of ``progress`` when given.

    Returns
    -------
    PortraitResult
        Files written, timings per step, notes, warnings and the result tables.

    Raises
    ------
    QpvgeoError
        Bad configuration or input (nothing is written; a previous output stays intact).
    """
    from qpvgeo.config import load_config

    if config is None:
        cfg = demo_config()
    elif isinstance(config, PortraitConfig):
        cfg = config
    else:
        cfg = load_config(config)
    out = Path(out_dir).expanduser().resolve()
    _check_replaceable(out)
    ctx = Context(config=cfg)
    timings: dict[str, float] = {}
    n_total = len(STEPS) + len(OUTPUTS)
    done = 0

    def _cb(label: str) -> ProgressCallback | None:
        if step_progress is not None:
            return step_progress(label)
        return scaled(progress, done / n_total, (done + 1) / n_total)

    with _collect_warnings(ctx):
        for _name, label, func in STEPS:
            t0 = time.perf_counter()
            func(ctx, _cb(label))
            timings[label] = time.perf_counter() - t0
            done += 1
        if ctx.is_illustrative:
            ctx.methods.insert(0, "Données illustratives : les couches "
                               + ", ".join(sorted(ctx.illustrative))
                               + " sont des données fictives de démonstration (source "
                               "« illustratif »).")
        files: list[str] = []
        with _staging(out) as tmp:
            for name, label in OUTPUTS:
                cb = _cb(label)
                report(cb, 0.0, label)
                t0 = time.perf_counter()
                if name == "exports":
                    files += _write_gpkg(ctx, tmp)
                    files += _write_csv_xlsx(ctx, tmp)
                elif name == "carte":
                    files += _write_map(ctx, tmp, offline)
                elif name == "graphiques":
                    files += _write_charts(ctx, tmp)
                elif name == "rapport":
                    files += _write_report(ctx, tmp, files)
                timings[label] = time.perf_counter() - t0
                report(cb, 1.0, label)
                done += 1
            summary = {
                "territoire": cfg.name, "donnees_illustratives": ctx.is_illustrative,
                "fichiers": [*files, "resume.json"],
                "durees_s": {k: round(v, 3) for k, v in timings.items()},
                "notes": ctx.notes, "avertissements": ctx.warnings,
            }
            (tmp / "resume.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1),
                                             encoding="utf-8")
            files.append("resume.json")
    return PortraitResult(out_dir=out, files=files, timings=timings, notes=ctx.notes,
                          warnings=list(ctx.warnings),
                          tables={k: e.frame for k, e in ctx.tables.items()},
                          illustrative=ctx.is_illustrative)
