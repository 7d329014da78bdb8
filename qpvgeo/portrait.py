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

1. load: every layer through :mod:`qpvgeo.io` (census bases given as several files are joined
   by :func:`merge_insee_tables`); the territory is the EPCI (else the communes); its QPV are
   those with at least :data:`MIN_TERRITORY_SHARE` of their area inside (or listing the EPCI):
   a QPV straddling two EPCI is counted whole. National point files are read for the
   territory's communes and those of its QPV (BPE: also the neighbours within walking reach);
2. QPV areas; 3. IRIS ↔ QPV correspondence and IRIS concerned (:mod:`qpvgeo.overlay`);
4. census and Filosofi indicators per QPV — official per-QPV values first, IRIS estimates
   (dasymetric on dwellings) elsewhere, each cell's origin kept and marked in the report —,
   territory, IRIS concerned and the summary table (:mod:`qpvgeo.indicators`);
5. gap evolution between the two census vintages for the QPV (2015 perimeters carried onto
   2024 ones with :func:`qpvgeo.overlay.crosswalk`) and for the IRIS concerned;
6. heat loss (:mod:`qpvgeo.thermography`); 7. social housing and housing quality;
8. health equipment and walking reach (street network when given); 9. SIRENE activity;
10. NPNRU view (codes from ``[options] npnru`` and the QPV layer's ``champ_npnru`` field).

Per-QPV tables end with an ``ensemble_qpv`` row (the union of the QPV as one zone) and a
``territoire`` row, both computed by the same engine call as the QPV. The charts are drawn by
forked processes while the steps go on and the exports are written; the web map too
(:data:`PARALLEL`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
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
import shapely

from qpvgeo import _validate
from qpvgeo._format import fmt, indicator_label, indicator_unit, is_reason_code, reason_text
from qpvgeo._progress import ProgressCallback, report, scaled
from qpvgeo.config import FILE_KEYS, PortraitConfig, demo_config
from qpvgeo.errors import DataQualityWarning, InputFileError

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
    export
        Written to the CSV/XLSX exports (``False`` for a second view of an exported table).
    long
        Rows of the long ``indicateurs.csv`` (per-zone indicator tables); detail and summary
        tables (correspondences, evolution, synthesis) have their XLSX sheet only.
    estimated_cells
        ``{column: boolean Series aligned with frame}``: cells marked as estimates in the
        report.
    collapsed, lead, note
        Report display: folded table, sentence above it, text under the provenance.
    estimate_label, estimate_rest
        How the estimated cells were estimated (default "à partir des IRIS") and what the
        other cells are (default "les autres sont publiées"), for the report's marks.
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
    export: bool = True
    long: bool = True
    estimated_cells: dict[str, pd.Series] | None = None
    collapsed: bool = False
    lead: str | None = None
    note: str | None = None
    estimate_label: str | None = None
    estimate_rest: str | None = None


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
        """Register a result table (machine reason codes turned into plain French)."""
        entry.frame = _french_reasons(entry.frame)
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

def _french_reasons(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with its ``*_missing_reason`` cells in plain French.

    The engines give some reasons as machine codes (``zero``, ``no_mode_column``): the French
    wording (:func:`qpvgeo._format.reason_text`) replaces them and the codes move to a
    ``*_missing_code`` column beside, for scripts. Other cells (French already) are kept.
    """
    cols = [c for c in frame.columns if str(c).endswith("missing_reason")]
    todo = []
    for c in cols:
        vals = frame[c]
        codes = [str(v).strip() if is_reason_code(v) else None for v in vals]
        if any(x is not None for x in codes):
            todo.append((c, codes))
    if not todo:
        return frame
    out = frame.copy()
    for c, codes in todo:
        stem = str(c)[: -len("missing_reason")].rstrip("_")
        out[f"{stem}_missing_code" if stem else "missing_code"] = pd.Series(
            codes, index=out.index, dtype=object)
        out[c] = [reason_text(v, stem) for v in frame[c]]
    return out


def _source_of(df: Any) -> str | None:
    if isinstance(df, pd.DataFrame) and "source" in df.columns:
        vals = df["source"].dropna().astype(str).unique()
        return vals[0] if len(vals) == 1 else (", ".join(sorted(vals)) if len(vals) else None)
    return None


def _source_label(df: Any, default: str) -> str:
    """Return the source wording of a table: the layer's ``source``, else ``default``.

    Illustrative stand-ins say what they stand for (``ANCT, périmètres des QPV (données
    illustratives)``).
    """
    src = _source_of(df)
    if not src:
        return default
    return f"{default} (données illustratives)" if src == _validate.ILLUSTRATIVE else src


def _mark_illustrative(ctx: Context, key: str, df: Any) -> None:
    if isinstance(df, pd.DataFrame) and _validate.is_illustrative(df):
        ctx.illustrative.add(key)


def _prov(result: pd.DataFrame, default_source: str, default_method: str,
          default_vintage: str) -> tuple[str, str, str]:
    info = result.attrs.get("qpvgeo", {}) if hasattr(result, "attrs") else {}
    info = info if isinstance(info, Mapping) else {}
    src = str(info.get("source") or default_source)
    if src == _validate.ILLUSTRATIVE:
        src = f"{default_source} (données illustratives)"
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
    "voirie": ("read_layer", {}),
    "rpls": ("read_rpls", {}),
    "bpe": ("read_bpe", {}),
    "colleges": ("read_colleges", {}),
    "sirene_t0": ("read_sirene", {}),
    "sirene_t1": ("read_sirene", {}),
    "insee_iris": ("read_insee_table", {"level": "iris"}),
    "insee_iris_t0": ("read_insee_table", {"level": "iris"}),
    "insee_commune": ("read_insee_table", {"level": "commune"}),
    "insee_epci": ("read_insee_table", {"level": "epci"}),
    "insee_qpv": ("read_insee_table", {"level": "qpv"}),
    "insee_qpv_t0": ("read_insee_table", {"level": "qpv"}),
    "correspondance_qpv": ("read_qpv_correspondence", {}),
}
_TABLE_KEY = {"iris": "code_iris", "qpv": "code_qpv", "commune": "insee_com",
              "epci": "siren_epci"}
# national point files: only the territory's communes are kept while reading
_BY_COMMUNE = {"read_rpls", "read_bpe", "read_sirene"}
_YES = {"1", "oui", "o", "true", "vrai", "yes", "y", "x"}


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
            reader = getattr(io, func_name)
            if func_name in _BY_COMMUNE and "communes" in ctx.layers:
                kwargs = {**kwargs, "communes": _communes_to_read(
                    ctx, with_reach=func_name == "read_bpe")}
            paths = cfg.paths(key)
            if len(paths) > 1:
                level = kwargs["level"]
                layer = merge_insee_tables([reader(p, **kwargs) for p in paths],
                                           _TABLE_KEY[level], name=key)
            else:
                layer = reader(paths[0], **kwargs)
            if func_name == "read_layer":
                layer = _validate.to_lambert93(layer, name=str(paths[0]))
        ctx.layers[key] = layer
        _mark_illustrative(ctx, key, layer)
    if cfg.has("thermographie"):
        ctx.layers["thermographie"] = cfg.layers.get("thermographie",
                                                      cfg.files.get("thermographie"))
        # qpvgeo.raster follows QPVGEO_RASTER_BACKEND (QGIS's own GDAL inside QGIS, where the
        # rasterio wheel must not be imported); an unreadable raster fails later, in its step
        with contextlib.suppress(Exception):
            from qpvgeo.raster import open_raster

            with open_raster(ctx.layers["thermographie"]) as src:
                if _validate.is_illustrative(src.tags):
                    ctx.illustrative.add("thermographie")
    if cfg.has("reference"):
        indicators = _module("indicators")
        if indicators is not None:
            refs = indicators.read_reference_table(cfg.paths("reference")[0])
            if cfg.demo:
                # the demo's reference file quotes the real CALL and its real QPV: beside
                # illustrative QPV only the département / région / France figures make sense
                refs = refs.loc[refs["level"].isin(["departement", "region", "france",
                                                    "france_qpv"])]
                ctx.methods.append("Comparaisons département, région, France et QPV de "
                                   "France : chiffres réels cités par le portrait de "
                                   "territoire de la CALL (2024), rapprochés ici de données "
                                   "illustratives.")
            ctx.layers["reference"] = refs.reset_index(drop=True)
    qpv = ctx.layers["qpv"]
    _validate.check_not_empty(qpv, name="qpv")
    ctx.layers["territoire"] = _territory_polygon(ctx)
    # keep the QPV of the territory (a national QPV file gives every QPV of France)
    if "communes" in ctx.layers or "epci" in ctx.layers:
        qpv = _in_territory(ctx, qpv, siren=cfg.siren_epci)
        if qpv.empty:
            raise InputFileError(
                f"{cfg.files.get('qpv', 'qpv')}: no QPV lies in the territory (EPCI "
                f"{cfg.siren_epci}); check the QPV file and the EPCI code of the configuration")
        across = qpv.loc[qpv["territory_share"] < 1 - 1e-3]
        if len(across):
            ctx.methods.append(
                "QPV à cheval sur le territoire et un territoire voisin, comptés en entier "
                "(part de leur surface dans le territoire) : " + ", ".join(
                    f"{n} ({c}, {100 * v:.0f} %)".replace(".", ",") for c, n, v in zip(
                        across["code_qpv"], across["nom_qpv"], across["territory_share"],
                        strict=True)) + ". Les valeurs du territoire portent sur son seul "
                "périmètre.")
    ctx.layers["qpv"] = qpv.sort_values("code_qpv", kind="stable")
    _npnru_codes(ctx)
    _keep_points_in_area(ctx)
    for key in ("reference",):
        if not cfg.has(key):
            ctx.note(_SECTION_OF.get(key, "population"),
                     f"couche « {FILE_KEYS[key]} » absente de la configuration "
                     f"([fichiers] {key}).")
    report(progress, 1.0, "couches lues")


MIN_TERRITORY_SHARE = 0.05
"""Minimum share (0–1) of a QPV's area inside the territory for it to be one of its QPV (QPV
straddling two EPCI are the territory's; a neighbour's QPV touching the boundary through
digitising noise is not). A QPV whose ``siren_epci`` field lists the territory's EPCI is kept
whatever its share."""


def _in_territory(ctx: Context, layer: gpd.GeoDataFrame, *, siren: str | None = None
                  ) -> gpd.GeoDataFrame:
    """Zones of ``layer`` belonging to the territory, with ``territory_share`` (0–1 of area)."""
    terr = ctx.layers["territoire"].geometry.iloc[0]
    area = layer.geometry.area.to_numpy()
    inside = layer.geometry.intersection(terr).area.to_numpy()
    share = np.divide(inside, area, out=np.zeros(len(layer)), where=area > 0)
    keep = share >= MIN_TERRITORY_SHARE
    if siren and "siren_epci" in layer.columns:
        keep |= layer["siren_epci"].astype(str).str.contains(siren, regex=False).to_numpy()
    out = layer.loc[keep].copy()
    out["territory_share"] = share[keep]
    return out


def _communes_to_read(ctx: Context, *, with_reach: bool = False) -> list[str]:
    """Communes whose points (RPLS, BPE, SIRENE) are read from national files.

    The communes of the communes layer in the territory (``with_reach``: within walking reach
    of it, so that equipment across the boundary counts for access when the layer holds the
    neighbours), plus every commune listed by a QPV touching the territory (a QPV straddling
    two EPCI counts its dwellings and establishments in both).
    """
    cfg = ctx.config
    communes = ctx.layers["communes"]
    if "insee_com" not in communes.columns:
        return []
    terr = _territory_polygon(ctx).geometry.iloc[0]
    reach = float(cfg.options["marche_minutes"]) * float(cfg.options["vitesse_marche_kmh"]) \
        * 1000 / 60 if with_reach else -1.0
    near = communes.geometry.intersects(terr.buffer(reach)).to_numpy()
    codes = set(communes.loc[near, "insee_com"].dropna().astype(str))
    qpv = ctx.layers.get("qpv")
    if qpv is not None and "insee_com" in qpv.columns:
        touching = qpv.geometry.intersects(terr).to_numpy()
        for value in qpv.loc[touching, "insee_com"].dropna().astype(str):
            codes |= {c.strip() for c in value.split(";") if c.strip()}
    return sorted(codes)


def _keep_points_in_area(ctx: Context) -> None:
    """Keep the RPLS dwellings and SIRENE establishments in the territory or in its QPV.

    Whole neighbouring communes are read for the QPV straddling the boundary; their points
    outside both the territory and the QPV are dropped here (counted in the methods), so the
    engines do not report them as points outside every zone.
    """
    if "communes" not in ctx.layers and "epci" not in ctx.layers:
        return
    area = shapely.union(ctx.layers["territoire"].geometry.iloc[0],
                         ctx.layers["qpv"].geometry.union_all())
    shapely.prepare(area)
    for key, what in (("rpls", "logements RPLS"), ("sirene_t0", "établissements SIRENE"),
                      ("sirene_t1", "établissements SIRENE")):
        layer = ctx.layers.get(key)
        if layer is None or len(layer) == 0:
            continue
        inside = shapely.intersects(area, layer.geometry.to_numpy())
        if not inside.all():
            ctx.layers[key] = layer.loc[inside]
            ctx.methods.append(f"{what} ({FILE_KEYS[key]}) : {int((~inside).sum())} points "
                               "hors du territoire et de ses QPV écartés (communes voisines lues "
                               "pour les QPV à cheval sur la limite).")


def _npnru_codes(ctx: Context) -> None:
    """Add the QPV flagged in the QPV layer's NPNRU field (``[options] champ_npnru``)."""
    cfg = ctx.config
    field_name = str(cfg.options.get("champ_npnru") or "")
    codes = [str(c) for c in cfg.options.get("npnru", [])]
    qpv = ctx.layers["qpv"]
    if field_name:
        col = _validate.find_column(qpv, field_name)
        if col is None:
            warnings.warn(f"{cfg.files.get('qpv', 'qpv')}: no field {field_name!r} for the NPNRU "
                          f"QPV ([options] champ_npnru); fields: "
                          f"{', '.join(map(str, qpv.columns[:15]))}", DataQualityWarning,
                          stacklevel=2)
        else:
            flag = qpv[col].astype(str).str.strip().str.lower().isin(_YES)
            codes += [c for c in qpv.loc[flag.to_numpy(), "code_qpv"].astype(str)
                      if c not in codes]
    ctx.layers["npnru_codes"] = codes


_SECTION_OF = {
    "qpv_2015": "evolution", "iris": "population", "communes": "population", "epci": "population",
    "batiments": "logement", "thermographie": "logement", "qualite_logement": "logement",
    "rpls": "logement", "bpe": "sante", "sirene_t0": "economie", "sirene_t1": "economie",
    "insee_iris": "population", "insee_iris_t0": "evolution", "insee_commune": "population",
    "insee_epci": "population", "colleges": "education",
    "insee_qpv": "population", "reference": "population", "insee_qpv_t0": "evolution",
    "correspondance_qpv": "evolution",
}


def step_area(ctx: Context, progress: ProgressCallback | None) -> None:
    """QPV areas (ha) and population of the territory's QPV (a base table, always computed)."""
    qpv = ctx.layers["qpv"]
    base = pd.DataFrame({"code_qpv": qpv["code_qpv"].astype(str).to_numpy(),
                         "nom_qpv": qpv["nom_qpv"].to_numpy()}, index=qpv.index)
    base["area_ha"] = qpv.geometry.area.to_numpy() / 10_000
    if "territory_share" in qpv.columns:
        base["territory_share"] = qpv["territory_share"].to_numpy()
    if "insee_com" in qpv.columns:
        base["insee_com"] = qpv["insee_com"].to_numpy()
    terr = ctx.layers["territoire"]
    row = pd.DataFrame({"code_qpv": [TERRITORY_CODE], "nom_qpv": [ctx.config.name],
                        "area_ha": [float(terr.geometry.area.iloc[0]) / 10_000]})
    if "territory_share" in base.columns:
        row["territory_share"] = 1.0
    frame = pd.concat([base, row], ignore_index=True)
    ctx.add("qpv", TableEntry(
        frame=frame, section="population", title="Quartiers prioritaires du territoire",
        source=_source_label(qpv, "ANCT, périmètres des QPV"), vintage=ctx.config.vintages["qpv"],
        method="surface calculée en Lambert-93 (EPSG:2154)",
        columns={"nom_qpv": "Quartier", "code_qpv": "Code", "area_ha": "Superficie (ha)",
                 **({"territory_share": "Part de la surface dans le territoire"}
                    if "territory_share" in base.columns else {})}))
    report(progress, 1.0, "QPV")


ALL_QPV_CODE = "ensemble_qpv"
ALL_QPV_NAME = "Ensemble des QPV"


def _all_qpv(ctx: Context) -> gpd.GeoDataFrame:
    """Return the union of the territory's QPV as one zone (index, code ``ensemble_qpv``)."""
    qpv = ctx.layers["qpv"]
    return gpd.GeoDataFrame({"code_qpv": [ALL_QPV_CODE], "nom_qpv": [ALL_QPV_NAME]},
                            geometry=[qpv.geometry.union_all()], crs=qpv.crs,
                            index=pd.Index([ALL_QPV_CODE], dtype=object))


def _all_qpv_value(values: pd.Series | None, qpv_zones: pd.DataFrame, *, flag: bool = False
                   ) -> pd.Series | None:
    """Sum a count over the QPV (missing if any QPV's is), or OR an estimate flag."""
    if values is None:
        return None
    part = values.loc[qpv_zones.index]
    if flag:
        v: Any = bool(part.fillna(False).astype(bool).any())
    else:
        v = float(part.sum()) if part.notna().all() else np.nan
    return pd.Series([v], index=pd.Index([ALL_QPV_CODE], dtype=object))


def _with_all_qpv(per_zone: pd.DataFrame, all_qpv: pd.DataFrame) -> pd.DataFrame:
    """Insert the all-QPV row before the territory row (the last one) of an engine result."""
    return pd.concat([per_zone.iloc[:-1], all_qpv, per_zone.iloc[-1:]])


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


def merge_insee_tables(tables: Sequence[pd.DataFrame], key: str, *,
                       name: str = "insee") -> pd.DataFrame:
    """Join INSEE tables (one per base) on their code column, one row per code.

    The census IRIS bases repeat some variables (``P20_POP`` is in several of them): a variable
    present in several tables keeps its first copy, and a different value elsewhere is warned
    about (:class:`~qpvgeo.errors.DataQualityWarning`). ``secret_vars`` (variables secret or
    missing on a row) are united; ``source`` is ``"illustratif"`` when any table is.

    Parameters
    ----------
    tables
        Tables from :func:`qpvgeo.io.read_insee_table`, each keyed by ``key`` (text codes).
    key
        Code column (``code_iris``, ``code_qpv``, ``insee_com``).
    name
        Name used in messages.

    Returns
    -------
    pandas.DataFrame
        One row per code of any table (outer join, order of first appearance), RangeIndex; a
        code absent from a table has missing values (NaN, never 0) for that table's
        variables.
    """
    if len(tables) == 1:
        return tables[0]
    merged: pd.DataFrame | None = None
    secrets: list[pd.Series] = []
    sources: list[str] = []
    differ: list[str] = []
    covered: dict[str, set[str]] = {}
    for i, table in enumerate(tables):
        _validate.require_columns(table, [key], name=f"{name} table {i + 1}")
        _validate.check_unique(table, key, name=f"{name} table {i + 1}")
        body = pd.DataFrame(table).set_index(table[key].astype(str).to_numpy())
        body.index.name = key
        if "secret_vars" in body.columns:
            secrets.append(body["secret_vars"])
        src = _source_of(body)
        if src:
            sources.append(src)
        body = body.drop(columns=[c for c in (key, "secret_vars", "source") if c in body.columns])
        if merged is None:
            merged = body
            covered = {c: set(body.index) for c in body.columns}
            continue
        dup = [c for c in body.columns if c in merged.columns]
        merged = merged.join(body.drop(columns=dup), how="outer", sort=False)
        for c in dup:
            a = pd.to_numeric(merged[c], errors="coerce")
            b = pd.to_numeric(body[c], errors="coerce").reindex(merged.index)
            both = a.notna() & b.notna()
            if pd.api.types.is_numeric_dtype(merged[c]) and \
                    not np.allclose(a[both], b[both], rtol=1e-9, atol=1e-9):
                differ.append(c)
            # codes no earlier table gave this variable for: take this table's value
            new = ~merged.index.isin(list(covered[c]))
            if new.any():
                merged[c] = merged[c].where(~new, body[c].reindex(merged.index))
            covered[c] |= set(body.index)
        for c in body.columns:
            covered.setdefault(c, set(body.index))
    assert merged is not None
    if differ:
        warnings.warn(f"{name}: variables present in several tables with different values, the "
                      f"first table's value is kept: {', '.join(differ[:10])}",
                      DataQualityWarning, stacklevel=2)
    secret = pd.Series("", index=merged.index, dtype=object)
    for s in secrets:
        s = s.reindex(merged.index)
        secret = secret.combine(s, lambda a, b: ";".join(dict.fromkeys(
            x for x in f"{a};{b if isinstance(b, str) else ''}".split(";") if x)))
    extra = {"secret_vars": secret.to_numpy()}
    if sources:
        extra["source"] = np.full(len(merged), _validate.ILLUSTRATIVE if _validate.ILLUSTRATIVE
                                  in sources else " + ".join(dict.fromkeys(sources)),
                                  dtype=object)
    out = pd.concat([merged.copy().reset_index(), pd.DataFrame(extra)], axis=1)
    return out


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
    weights = ctx.layers.get("batiments")
    wcol = "nb_logts" if weights is not None and "nb_logts" in weights.columns else None
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


def _sentences(text: Any) -> str:
    """French sentences from "; "-joined reasons: each capitalised, ending with a period."""
    if not isinstance(text, str) or not text.strip():
        return ""
    parts = [p.strip() for p in text.split(" ; ") if p.strip()]
    out = []
    for p in parts:
        p = p[0].upper() + p[1:]
        out.append(p if p.endswith((".", "!", "?")) else p + ".")
    return " ".join(dict.fromkeys(out))


def _remark(reason: Any, note: Any) -> str:
    """Remark of a row of the summary table: why a figure is missing, else the caveat.

    The caveat (e.g. "a median does not add up") is left out when a reason already says why
    a figure is missing, so the cell never says the same thing twice.
    """
    why = _sentences(reason)
    return why or _sentences(note)


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
        weights = ctx.layers.get("batiments")
        wcol = "nb_logts" if weights is not None and "nb_logts" in weights.columns else None
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


def _census_source() -> str:
    """Source wording of the census and Filosofi figures (French)."""
    indicators = _module("indicators")
    if indicators is None:
        return "INSEE"
    return str(indicators.DATASETS["rp"]) + " ; " + str(indicators.DATASETS["filosofi"])


def _qpv_series(values: pd.Series | None, qpv_zones: pd.DataFrame) -> pd.Series | None:
    """Re-index per-zone values of :func:`_zones` on the QPV zones plus "territory".

    The engines' ``territory_row`` reads the territory's denominator at that label.
    """
    if values is None:
        return None
    out = values.loc[qpv_zones.index].copy()
    out.index = out.index.astype(object)
    rest = values.loc[~values.index.isin(qpv_zones.index)]
    if len(rest):
        out.loc["territory"] = rest.iloc[0]
    return out


def _census_column(ctx: Context, key: str, part: str) -> tuple[pd.Series | None,
                                                               pd.Series | None]:
    """Return a census numerator or denominator per zone of :func:`_zones` and its flag.

    ``part`` is ``num`` or ``den`` (e.g. main residences = ``part_locataires_hlm_den``).
    """
    entry = ctx.tables.get("population")
    col = f"{key}_{part}"
    if entry is None or col not in entry.frame.columns:
        return None, None
    f = entry.frame.drop_duplicates("code_qpv").set_index("code_qpv")
    zones = _zones(ctx)
    vals = zones["code_qpv"].map(pd.to_numeric(f[col], errors="coerce")).astype(float)
    est = zones["code_qpv"].map(f[f"{key}_is_estimate"]).fillna(False).astype(bool)
    return vals, est


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
        rp, rp_est = _census_column(ctx, "part_locataires_hlm", "den")
        sh = housing.social_housing(
            ctx.layers["rpls"], qpv_zones, territory=ctx.layers["territoire"],
            population=_qpv_series(pop, qpv_zones),
            population_is_estimate=_qpv_series(pop_est, qpv_zones),
            main_residences=_qpv_series(rp, qpv_zones),
            main_residences_is_estimate=_qpv_series(rp_est, qpv_zones),
            duplicates="drop", territory_row=True, name="rpls")
        sh_all = housing.social_housing(
            ctx.layers["rpls"], _all_qpv(ctx), territory=ctx.layers["territoire"],
            population=_all_qpv_value(pop, qpv_zones),
            population_is_estimate=_all_qpv_value(pop_est, qpv_zones, flag=True),
            main_residences=_all_qpv_value(rp, qpv_zones),
            main_residences_is_estimate=_all_qpv_value(rp_est, qpv_zones, flag=True),
            duplicates="drop", name="rpls")
        sh = _with_all_qpv(sh, sh_all)
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
        q = housing.housing_quality(qlayer, qpv_zones, dwellings_col=dw,
                                    territory=ctx.layers["territoire"], territory_row=True,
                                    name="qualite_logement")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)  # said by the call above
            q = _with_all_qpv(q, housing.housing_quality(
                qlayer, _all_qpv(ctx), dwellings_col=dw, territory=ctx.layers["territoire"],
                name="qualite_logement"))
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
    names = names.where(codes != ALL_QPV_CODE, ALL_QPV_NAME)
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
    equipment, health = _module("equipment"), _module("health")
    if equipment is None or health is None:
        ctx.note("sante", "modules qpvgeo.equipment / qpvgeo.health indisponibles.")
        return
    bpe = ctx.layers["bpe"]
    minutes, speed = float(cfg.options["marche_minutes"]), float(cfg.options["vitesse_marche_kmh"])
    reach = float(equipment.walking_reach_m(minutes, speed))
    zones = _zones(ctx)
    qpv_zones = zones.loc[zones["code_qpv"] != TERRITORY_CODE]
    pop, pop_est = _population(ctx)
    residences = ctx.layers.get("batiments")
    graph = _walking_graph(ctx, equipment)
    if graph is not None:
        report(progress, 0.05, "graphe piéton")
    acc = health.health_access(
        bpe, qpv_zones, vintage=cfg.vintages["bpe"],
        population=_qpv_series(pop, qpv_zones),
        population_is_estimate=_qpv_series(pop_est, qpv_zones),
        residences=residences,
        residence_weight="nb_logts" if residences is not None
        and "nb_logts" in residences.columns else None,
        graph=graph, reach_m=reach, territory=ctx.layers["territoire"],
        territory_population=None if pop is None else float(pop.iloc[-1]),
        territory_row=True, name="bpe", progress=scaled(progress, 0.1, 0.8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # said by the call above
        acc = _with_all_qpv(acc, health.health_access(
            bpe, _all_qpv(ctx), vintage=cfg.vintages["bpe"],
            population=_all_qpv_value(pop, qpv_zones),
            population_is_estimate=_all_qpv_value(pop_est, qpv_zones, flag=True),
            residences=residences,
            residence_weight="nb_logts" if residences is not None
            and "nb_logts" in residences.columns else None,
            graph=graph, reach_m=reach, territory=ctx.layers["territoire"],
            territory_population=None if pop is None else float(pop.iloc[-1]), name="bpe",
            progress=scaled(progress, 0.8, 0.9)))
    kinds: dict[str, list[str]] = {}
    table = health.bpe_codes(cfg.vintages["bpe"], domain="sante")
    wanted = set(health.DEFAULT_HEALTH_KINDS)
    for kind, grp in table.groupby("kind", sort=False):
        if kind in wanted:
            kinds[str(kind)] = [str(c) for c in grp["typequ"]]
    codes = {c for v in kinds.values() for c in v}
    sante = bpe.loc[bpe["typequ"].astype(str).isin(codes)]
    ctx.layers["bpe_sante"] = sante
    how = (f"à pied sur le réseau des rues, {reach:.0f} m" if graph is not None else
           f"à vol d'oiseau, {reach:.0f} m")
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
    if not cfg.has("colleges"):
        ctx.note("education", "collèges non traités : fichier des collèges (IPS, éducation "
                 "prioritaire) absent ([fichiers] colleges).")
        return
    equipment, health = _module("equipment"), _module("health")
    if equipment is None or health is None:
        ctx.note("education", "modules qpvgeo.equipment / qpvgeo.health indisponibles.")
        return
    colleges = ctx.layers["colleges"]
    minutes, speed = float(cfg.options["marche_minutes"]), float(cfg.options["vitesse_marche_kmh"])
    reach = float(equipment.walking_reach_m(minutes, speed))
    zones = _zones(ctx)
    qpv_zones = zones.loc[zones["code_qpv"] != TERRITORY_CODE]
    pop, _ = _population(ctx)
    residences = ctx.layers.get("batiments")
    graph = _walking_graph(ctx, equipment)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # the BPE step said the same
        acc = health.school_access(
            colleges, qpv_zones, vintage=cfg.vintages["bpe"],
            population=_qpv_series(pop, qpv_zones),
            residences=residences,
            residence_weight="nb_logts" if residences is not None
            and "nb_logts" in residences.columns else None,
            graph=graph, reach_m=reach, territory=ctx.layers["territoire"],
            territory_population=None if pop is None else float(pop.iloc[-1]),
            territory_row=True, name="colleges", progress=scaled(progress, 0, 0.9))
    pairs = equipment.reach_pairs(acc, "college")
    how = (f"à pied sur le réseau des rues, {reach:.0f} m" if graph is not None else
           f"à vol d'oiseau, {reach:.0f} m")
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
    y0, y1 = int(cfg.vintages["sirene_t0"]), int(cfg.vintages["sirene_t1"])
    eco = economy.economic_activity(
        ctx.layers["sirene_t0"], ctx.layers["sirene_t1"], qpv_zones, year0=y0, year1=y1,
        population=_qpv_series(pop, qpv_zones),
        population_is_estimate=_qpv_series(pop_est, qpv_zones),
        territory=ctx.layers["territoire"], duplicates="drop", territory_row=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # said by the call above
        eco = _with_all_qpv(eco, economy.economic_activity(
            ctx.layers["sirene_t0"], ctx.layers["sirene_t1"], _all_qpv(ctx), year0=y0,
            year1=y1, population=_all_qpv_value(pop, qpv_zones),
            population_is_estimate=_all_qpv_value(pop_est, qpv_zones, flag=True),
            territory=ctx.layers["territoire"], duplicates="drop"))
    src, vint, meth = _prov(eco, "INSEE, SIRENE géolocalisé", "établissements actifs localisés "
                            "dans les QPV", f"{y0} et {y1}")
    frame = _with_keys_any(eco, zones, cfg.name)
    cols = {"nom_qpv": "Quartier"}
    for c, label in ((f"estab_{y0}_count", f"Établissements {y0}"),
                     (f"estab_{y1}_count", f"Établissements {y1}"),
                     ("estab_change_share", f"Évolution {y0}–{y1}"),
                     (f"creations_{y1}_count", f"Créations {y1}"),
                     (f"creations_{y1}_ei_share", f"Créations {y1} en entreprise individuelle"),
                     (f"sector_{y1}_commerce_transport_hebergement_restauration_share",
                      f"Commerce, transports, hébergement, restauration ({y1})"),
                     (f"sector_{y1}_services_share", f"Services ({y1})")):
        if c in frame.columns:
            cols[c] = label
    ctx.add("economie", TableEntry(
        frame=frame, section="economie", title="Établissements et créations (SIRENE)",
        source=src, vintage=vint, method=meth, columns=cols))
    report(progress, 1.0, "économie")


def step_npnru(ctx: Context, progress: ProgressCallback | None) -> None:
    """List the NPNRU QPV with their key figures (a view of the other tables)."""
    npnru = list(ctx.layers.get("npnru_codes", []))
    if not npnru:
        ctx.note("npnru", "aucun QPV du NPNRU indiqué ([options] npnru ou champ_npnru).")
        return
    layer = qpv_indicator_layer(ctx)
    sel = pd.DataFrame(layer.loc[layer["code_qpv"].isin(npnru)]).drop(columns="geometry")
    unknown = sorted(set(npnru) - set(sel["code_qpv"]))
    if unknown:
        ctx.warnings.append("QPV du NPNRU absents de la couche des QPV : " + ", ".join(unknown))
    cols = {"nom_qpv": "Quartier", "code_qpv": "Code"}
    for c in ("area_ha", "population", "taux_pauvrete", "taux_emploi_1564",
              "heatloss_strong_share", "rpls_count", "rpls_share_of_rp",
              "quality_poor_dwellings_share", "estab_change_share"):
        if c in sel.columns and pd.to_numeric(sel[c], errors="coerce").notna().any():
            cols[c] = indicator_label(c, short=True)
    # an estimate mark on the cells that are estimates (census figures from IRIS)
    marks = {c: sel[f"{c}_is_estimate"].fillna(False).astype(bool) for c in cols
             if f"{c}_is_estimate" in sel.columns}
    ctx.add("npnru", TableEntry(
        frame=sel.reset_index(drop=True), section="npnru", title="QPV retenus au titre du NPNRU",
        source="QPV du NPNRU désignés par la couche des QPV ou par la configuration ; "
               "chiffres repris des tableaux ci-dessus",
        vintage=ctx.config.vintages["qpv"], method="extrait des tableaux par QPV",
        columns=cols, per_qpv=False, long=False,
        estimated_cells={c: m.reset_index(drop=True) for c, m in marks.items()},
        estimate=bool(any(m.any() for m in marks.values()))))
    report(progress, 1.0, "NPNRU")


_SYNTHESIS_COLUMNS = {"label": "Indicateur", "territory_text": "Territoire",
                      "zones_text": "Ensemble des QPV", "min_text": "Minimum",
                      "max_text": "Maximum", "comparison": "Comparaison"}
# computed synthesis rows go to the section of their theme
_SYNTHESIS_SECTIONS: list[tuple[str, set[str], str]] = [
    ("logement", {"Logement", "Environnement"},
     "Logement social et énergie : le territoire et ses QPV"),
    ("sante", {"Santé"}, "Santé : le territoire et ses QPV"),
    ("economie", {"Économie"}, "Activité économique : le territoire et ses QPV"),
]


def _computed_zone_table(ctx: Context) -> pd.DataFrame | None:
    """Return the counts of the RPLS, heat-loss, health and SIRENE tables by ``code_qpv``.

    Indexed by code (QPV codes, ``ensemble_qpv``, ``territoire``); a column given by several
    tables (``pop``) is taken from the first. The SIRENE columns of the two stocks are renamed
    ``estab_t0_count``, ``creations_t1_count``, ``sector_t1_…`` (catalogue names).
    """
    cfg = ctx.config
    y0, y1 = cfg.vintages["sirene_t0"], cfg.vintages["sirene_t1"]
    merged: pd.DataFrame | None = None
    for key in ("logement_social", "deperditions", "sante", "economie"):
        entry = ctx.tables.get(key)
        if entry is None or "code_qpv" not in entry.frame.columns:
            continue
        f = entry.frame.drop_duplicates("code_qpv").set_index("code_qpv")
        if key == "economie":
            ren = {f"estab_{y0}_count": "estab_t0_count",
                   f"creations_{y1}_count": "creations_t1_count",
                   f"creations_{y1}_ei_count": "creations_t1_ei_count"}
            ren.update({c: "sector_t1_" + c[len(f"sector_{y1}_"):] for c in f.columns
                        if c.startswith(f"sector_{y1}_")})
            f = f.rename(columns=ren)
        f = f.drop(columns=[c for c in ("nom_qpv", "geometry") if c in f.columns])
        merged = f if merged is None else merged.join(
            f[[c for c in f.columns if c not in merged.columns]], how="outer")
    return merged


def _synthesis_vintages(ctx: Context) -> dict[str, int]:
    cfg = ctx.config
    out = {}
    for dataset, key in (("rp", "recensement"), ("filosofi", "filosofi"), ("rpls", "rpls"),
                         ("bpe", "bpe"), ("thermographie", "thermographie"),
                         ("sirene", "sirene_t1")):
        with contextlib.suppress(KeyError, TypeError, ValueError):
            out[dataset] = int(cfg.vintages[key])
    return out


def _synthesis_entry(ctx: Context, table: pd.DataFrame, *, section: str, title: str,
                     vintage: str, lead: str | None = None) -> TableEntry:
    """Report entry of a :func:`qpvgeo.indicators.portrait_table` result."""
    frame = pd.DataFrame(table).reset_index()
    frame["remarque"] = [_remark(r, n) for r, n in zip(
        frame.get("missing_reason", pd.Series("", index=frame.index)),
        frame.get("note", pd.Series("", index=frame.index)), strict=True)]
    cols = dict(_SYNTHESIS_COLUMNS)
    if "references_text" in frame.columns and frame["references_text"].astype(str).str.strip() \
            .ne("").any():
        cols["references_text"] = "Département, région, France"
    if frame["remarque"].ne("").any():
        cols["remarque"] = "Remarque"
    sources = "; ".join(dict.fromkeys(
        str(x) for x in frame["source"].astype(str).str.split(" ; ").explode() if str(x)))
    return TableEntry(
        frame=frame, section=section, title=title, source=sources or "voir les tableaux "
        "détaillés", vintage=vintage,
        method="ensemble des QPV recalculé à partir des numérateurs et dénominateurs (une "
               "médiane ne s'additionne pas) ; minimum, maximum et rapports QPV / territoire "
               "(qpvgeo.indicators.portrait_table)",
        estimate=bool(frame["is_estimate"].fillna(False).astype(bool).any()),
        columns=cols, per_qpv=False, long=False, lead=lead)


def _population_lead(table: pd.DataFrame, n_qpv: int, name: str) -> str | None:
    """Return the diagnostic's first sentence: inhabitants of the QPV and their share."""
    if "population" not in table.index:
        return None
    r = table.loc["population"]
    if pd.isna(r["zones_value"]) or pd.isna(r["territory_value"]):
        return None
    share = r["zones_share_of_territory"]
    return (f"{fmt(r['zones_value'], 'count')} habitants vivent dans les {n_qpv} QPV, soit "
            f"{fmt(share, 'share')} des {fmt(r['territory_value'], 'count')} habitants du "
            f"territoire ({name}). Chaque ligne compare le territoire et l'ensemble de ses "
            "QPV, donne le QPV le plus bas et le plus haut, et le rapport entre chaque QPV et "
            "le territoire (« de 1,4 à 1,9 fois moins » : du QPV le plus proche du territoire "
            "au plus éloigné).")


def step_synthesis(ctx: Context, progress: ProgressCallback | None) -> None:
    """Summary tables in the diagnostic's form: territory, all QPV, min, max, ratios.

    The census and Filosofi indicators make the first table of the report; the indicators
    computed from RPLS, thermography, BPE and SIRENE make one table in each thematic section.
    Reference values (département, région, France, QPV of France) are matched by indicator.
    """
    cfg = ctx.config
    indicators = _module("indicators")
    if indicators is None:
        return
    refs = ctx.layers.get("reference")
    values, territory = ctx.layers.get("indicateurs_t1"), ctx.layers.get("territoire_t1")
    if values is not None and territory is not None:
        table_p = indicators.portrait_table(values, territory, references=refs,
                                            territory_name=cfg.name)
        ctx.add("portrait", _synthesis_entry(
            ctx, table_p, section="population", title="Tableau de synthèse : territoire et QPV",
            vintage=f"RP {cfg.vintages['recensement']}, Filosofi {cfg.vintages['filosofi']}",
            lead=_population_lead(table_p, len(ctx.layers["qpv"]), cfg.name)))
    report(progress, 0.5, "synthèse thématique")
    comp = _computed_zone_table(ctx)
    if comp is None or TERRITORY_CODE not in comp.index:
        return
    qpv = ctx.layers["qpv"]
    codes = qpv["code_qpv"].astype(str)
    rows = comp.loc[comp.index.isin(set(codes))].reset_index()
    vint = _synthesis_vintages(ctx)
    zones = pd.DataFrame({"code_qpv": codes.to_numpy(), "nom_qpv": qpv["nom_qpv"].to_numpy()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # said by the engine steps
        values_c = indicators.zone_indicators(zones, computed=[rows], vintage=vint)
        keys = [k for k in values_c.attrs["qpvgeo"]["indicators"]
                if indicators.get_indicator(k).dataset not in ("rp", "filosofi")]
        if not keys:
            return
        terr_row = comp.loc[[TERRITORY_CODE]].reset_index(drop=True)
        terr_c = indicators.compute_indicators(terr_row, vintage=vint, indicators=keys,
                                               is_estimate="auto", name="territoire")
        terr_c.insert(0, "nom", cfg.name)
        terr_c.insert(0, "code", cfg.siren_epci or TERRITORY_CODE)
        terr_c.index = pd.Index([cfg.name])
        table_c = indicators.portrait_table(values_c, terr_c, indicators=keys,
                                            references=refs, territory_name=cfg.name)
    ctx.layers["synthese_thematique"] = table_c
    for section, themes, title in _SYNTHESIS_SECTIONS:
        part = table_c.loc[table_c["theme"].isin(themes)]
        if part.empty:
            continue
        vints = sorted({str(v) for v in part["vintage"].astype(str) if v})
        ctx.add(f"synthese_{section}", _synthesis_entry(
            ctx, part, section=section, title=title, vintage=", ".join(vints) or "voir les "
            "tableaux détaillés"))
    report(progress, 1.0, "synthèse")


STEPS: list[Step] = [
    ("load", "Lecture des couches", step_load),
    ("qpv", "Quartiers", step_area),
    ("iris", "IRIS concernés par un QPV", step_iris),
    ("recensement", "Recensement et revenus", step_census),
    ("evolution", "Évolution des écarts", step_evolution),
    ("thermographie", "Déperditions thermiques", step_thermography),
    ("logement", "Logement social et qualité", step_housing),
    ("sante", "Équipements de santé", step_health),
    ("colleges", "Collèges", step_schools),
    ("economie", "Activité économique", step_economy),
    ("npnru", "NPNRU", step_npnru),
    ("synthese", "Tableaux de synthèse", step_synthesis),
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


_HELPER_SUFFIXES = ("_num", "_den", "_vintage", "_is_estimate", "_missing_reason", "_origin",
                    "_source", "_method")


_NO_REASON = "valeur manquante (motif non précisé par le calcul)"


_REASON_OF: dict[str, str] = {
    "rpls_let_count": "rpls_vacancy", "rpls_vacant_count": "rpls_vacancy",
    "rpls_empty_count": "rpls_vacancy",
}
"""Columns explained by the reason of another column (the RPLS occupancy counts are missing
for the same reason as the vacancy rate)."""


def _reason_column(frame: pd.DataFrame, column: str) -> str:
    """Return the ``*_missing_reason`` column explaining ``column``.

    The one whose stem is the longest prefix of ``column`` (``rpls_vacancy_missing_reason``
    for ``rpls_vacancy_share``), else ``missing_reason``.
    """
    alias = _REASON_OF.get(column)
    if alias and f"{alias}_missing_reason" in frame.columns:
        return f"{alias}_missing_reason"
    best = ""
    for r in frame.columns:
        if r.endswith("_missing_reason"):
            stem = r[: -len("_missing_reason")]
            if (column == stem or column.startswith(stem + "_")) and len(stem) > len(best):
                best = stem
    return f"{best}_missing_reason" if best else "missing_reason"


def _long_table(ctx: Context) -> pd.DataFrame:
    """One row per (table, zone, indicator) with its unit and provenance.

    Numerators, denominators and per-indicator provenance columns (``*_num``, ``*_den``,
    ``*_origin``…) are not rows of their own: they stay in the wide sheets of the XLSX; an
    indicator's own ``*_source``/``*_method``/``*_is_estimate`` fill its row's columns, and a
    missing value says why (``motif_valeur_manquante``, from ``*_missing_reason``).
    """
    cols = ["table", "code_zone", "nom_zone", "indicateur", "libelle", "valeur", "unite",
            "estimation", "source", "millesime", "methode", "motif_valeur_manquante",
            "donnees_illustratives"]
    acc: dict[str, list[np.ndarray]] = {c: [] for c in cols}
    for key, entry in ctx.tables.items():
        if not (entry.export and entry.long):
            continue
        f = entry.frame.reset_index(drop=True)
        code_col = next((c for c in ("code_qpv", "code_iris", "insee_com", "code", "indicator",
                                     "key") if c in f.columns), None)
        name_col = next((c for c in ("nom_qpv", "nom_iris", "nom_com", "nom", "label", "name")
                         if c in f.columns), None)
        numeric = [c for c in f.columns if pd.api.types.is_numeric_dtype(f[c])
                   and not pd.api.types.is_bool_dtype(f[c]) and c != "geometry"
                   and not (c.endswith(_HELPER_SUFFIXES) and c.rsplit("_", 1)[0] in f.columns)
                   and not (c.endswith(("_num", "_den")) and c[:-4] in f.columns)]
        if not numeric or f.empty:
            continue
        n, k = len(f), len(numeric)
        row_est = np.full(n, bool(entry.estimate))
        for flag in ("is_estimate", "share_estimated"):
            if flag in f.columns:
                row_est = (pd.to_numeric(f[flag], errors="coerce").fillna(0) > 0).to_numpy()
                break
        codes = (np.array([None if pd.isna(v) else str(v) for v in f[code_col]], dtype=object)
                 if code_col else np.full(n, None, dtype=object))
        names = (np.array([None if pd.isna(v) else v for v in f[name_col]], dtype=object)
                 if name_col else np.full(n, None, dtype=object))
        values = f[numeric].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        missing = np.isnan(values)
        acc["table"].append(np.full(n * k, key, dtype=object))
        acc["code_zone"].append(np.tile(codes, k))
        acc["nom_zone"].append(np.tile(names, k))
        acc["indicateur"].append(np.repeat(np.array(numeric, dtype=object), n))
        acc["libelle"].append(np.repeat(np.array([indicator_label(c) for c in numeric],
                                                 dtype=object), n))
        acc["valeur"].append(values.T.ravel())
        acc["unite"].append(np.repeat(np.array([indicator_unit(c) for c in numeric],
                                               dtype=object), n))
        acc["millesime"].append(np.full(n * k, entry.vintage, dtype=object))
        acc["donnees_illustratives"].append(np.full(n * k, ctx.is_illustrative))
        for j, c in enumerate(numeric):
            acc["estimation"].append(
                f[f"{c}_is_estimate"].astype("boolean").fillna(False).to_numpy(dtype=bool)
                if f"{c}_is_estimate" in f.columns else row_est)
            acc["source"].append(_text_array(f, f"{c}_source", entry.source))
            acc["methode"].append(_text_array(f, f"{c}_method", entry.method))
            reason = _text_array(f, _reason_column(f, c), _NO_REASON)
            acc["motif_valeur_manquante"].append(np.where(missing[:, j], reason, ""))
    if not acc["table"]:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame({c: np.concatenate(acc[c]) for c in cols})


def _text_array(frame: pd.DataFrame, column: str, default: str) -> np.ndarray:
    """Text column of ``frame`` as an object array, blanks replaced by ``default``."""
    if column not in frame.columns:
        return np.full(len(frame), default, dtype=object)
    return np.array([default if (v is None or v is pd.NA or (isinstance(v, float) and v != v)
                                 or not str(v).strip()) else v
                     for v in frame[column].to_numpy(dtype=object)], dtype=object)


def _write_csv_xlsx(ctx: Context, out: Path) -> list[str]:
    from qpvgeo._xlsx import write_xlsx

    long = _long_table(ctx)
    long.to_csv(out / "indicateurs.csv", sep=";", index=False, encoding="utf-8-sig")
    sheets: list[tuple[str, pd.DataFrame]] = [("indicateurs", long)]
    used = {"indicateurs", "provenance"}
    for key, entry in ctx.tables.items():
        if not entry.export:
            continue
        name = key[:31]
        n = 2
        while name in used:
            name = f"{key[:28]}_{n}"
            n += 1
        used.add(name)
        frame = entry.frame.drop(columns=[c for c in ("geometry",) if c in entry.frame.columns])
        sheets.append((name, pd.DataFrame(frame)))
    prov = pd.DataFrame([{
        "table": key, "titre": e.title, "section": e.section, "source": e.source,
        "millesime": e.vintage, "methode": e.method, "estimation": e.estimate,
        "donnees_illustratives": ctx.is_illustrative, "lignes": len(e.frame)}
        for key, e in ctx.tables.items() if e.export])
    sheets.append(("provenance", prov))
    write_xlsx(out / "indicateurs.xlsx", sheets)
    return ["indicateurs.csv", "indicateurs.xlsx"]


def _write_gpkg(ctx: Context, out: Path) -> list[str]:
    from qpvgeo import styles

    path = out / "portrait.gpkg"
    layers: list[tuple[str, gpd.GeoDataFrame, str]] = []
    qpv_layer = qpv_indicator_layer(ctx)
    indicator = _map_indicator(ctx, qpv_layer)
    if indicator is not None:
        from qpvgeo.maps import class_breaks, palette

        k = int(ctx.config.options.get("classes_carte", 5))
        _, breaks = class_breaks(qpv_layer[indicator], k)
        qml = styles.qpv_qml(qpv_layer, indicator, breaks=breaks, colours=palette(len(breaks)))
    else:
        qml = styles.qpv_qml(qpv_layer, None)
    layers.append(("qpv", qpv_layer, qml))
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


def _map_indicator(ctx: Context, qpv_layer: pd.DataFrame) -> str | None:
    """Return the indicator of the QPV choropleth (web map and QGIS style).

    The configured one, else the first share column (with a warning), else none.
    """
    indicator = ctx.config.options.get("indicateur_carte")
    if indicator in qpv_layer.columns:
        return str(indicator)
    numeric = [c for c in qpv_layer.columns if c not in ("area_ha", "territory_share")
               and pd.api.types.is_numeric_dtype(qpv_layer[c]) and indicator_unit(c) == "share"
               and pd.to_numeric(qpv_layer[c], errors="coerce").notna().any()]
    text = (f"indicateur de carte « {indicator} » indisponible ; "
            + (f"carte sur « {numeric[0]} »." if numeric else "carte des périmètres seuls."))
    if indicator and text not in ctx.warnings:
        ctx.warnings.append(text)
    return numeric[0] if numeric else None


def _write_map(ctx: Context, out: Path, offline: bool) -> list[str]:
    from qpvgeo.maps import DEFAULT_HEAT_CLASSES, portrait_map, save_map

    cfg = ctx.config
    qpv_layer = qpv_indicator_layer(ctx)
    indicator = _map_indicator(ctx, qpv_layer)
    tips = [c for c in ("population", "revenu_median", "taux_pauvrete",
                        "heatloss_strong_share", "rpls_count") if c in qpv_layer.columns]
    if indicator is not None:
        # why the mapped figure is missing, in the tooltip of the grey QPV
        reason_col = _reason_column(qpv_layer, indicator)
        if reason_col in qpv_layer.columns:
            missing = pd.to_numeric(qpv_layer[indicator], errors="coerce").isna()
            qpv_layer["motif_carte"] = [reason_text(r, indicator) if m else ""
                                        for r, m in zip(qpv_layer[reason_col], missing,
                                                        strict=True)]
            tips.append("motif_carte")
    iris = ctx.layers.get("iris_concernes")
    walking = ctx.layers.get("zones_marche")
    if walking is None:
        walking = _walking_areas_of(ctx)
    m = portrait_map(
        qpv_layer, indicator=indicator, k=int(cfg.options.get("classes_carte", 5)),
        tooltip_fields=tips, npnru=list(ctx.layers.get("npnru_codes", [])),
        iris=iris, communes=ctx.layers.get("communes"),
        buildings=ctx.layers.get("batiments_classes"),
        building_class_col=ctx.layers.get("batiments_label_col", "heatloss_label"),
        heat_classes=ctx.heat_classes or DEFAULT_HEAT_CLASSES,
        strong_classes=ctx.strong_classes,
        detail_m=float(cfg.options["detail_batiments_m"]),
        cell_m=float(cfg.options["carreau_batiments_m"]),
        social_housing=ctx.layers.get("rpls"), equipment=ctx.layers.get("bpe_sante"),
        walking_areas=walking,
        walking_label=f"Zones à {cfg.options['marche_minutes']:g} min à pied",
        title=f"Portrait de territoire — {cfg.name}", illustrative=ctx.is_illustrative,
        offline=offline)
    save_map(m, out / "carte.html", offline=offline)
    files = ["carte.html"]
    if offline:
        files += [str(p.relative_to(out)) for p in sorted((out / "assets").rglob("*"))
                  if p.is_file()]
    return files


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


PARALLEL = True
"""Draw the charts and the web map in forked processes while the engine steps and the
exports go on (POSIX only; the result is the same as writing them in turn): the charts of
the census and evolution tables start as soon as those tables exist (after
:data:`EARLY_CHARTS_AFTER`), the other charts and the map once every step is done."""

EARLY_CHARTS_AFTER = "evolution"
"""Step after which the charts of the tables already computed start in a second process."""


def _job_child(func: Callable[[], Any], conn: Any) -> None:
    t0 = time.perf_counter()
    try:
        payload = func()
        conn.send(("ok", payload, time.perf_counter() - t0))
    except BaseException as exc:  # reported to the parent, which re-runs the work itself
        conn.send(("error", f"{type(exc).__name__}: {exc}", 0.0))
    finally:
        conn.close()


class _Job:
    """Work done by a forked process and collected with :meth:`result`.

    ``func`` takes no argument and returns a picklable payload. Without ``fork`` (or with
    :data:`PARALLEL` off) the work is done by :meth:`result` itself; when the process fails,
    :meth:`result` runs ``cleanup`` then ``func`` here, so that the error surfaces with its
    traceback.
    """

    def __init__(self, func: Callable[[], Any], cleanup: Callable[[], None] | None = None
                 ) -> None:
        import multiprocessing

        self.func, self.cleanup = func, cleanup
        self.proc: Any = None
        self.conn: Any = None
        if PARALLEL and "fork" in multiprocessing.get_all_start_methods():
            mp = multiprocessing.get_context("fork")
            recv, send = mp.Pipe(duplex=False)
            self.proc = mp.Process(target=_job_child, args=(func, send), daemon=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
                self.proc.start()
            send.close()
            self.conn = recv

    def result(self) -> tuple[Any, float]:
        """Wait for the work; return its payload and the seconds it took."""
        if self.proc is not None:
            try:
                status, payload, seconds = self.conn.recv()
            except EOFError:
                status, payload, seconds = "error", "process ended", 0.0
            self.proc.join()
            self.proc = None
            if status == "ok":
                return payload, float(seconds)
            if self.cleanup is not None:
                self.cleanup()
        t0 = time.perf_counter()
        payload = self.func()
        return payload, time.perf_counter() - t0

    def cancel(self) -> None:
        """Stop the process (an error elsewhere ends the run)."""
        if self.proc is not None and self.proc.is_alive():
            self.proc.terminate()
            self.proc.join()
        self.proc = None


def _chart_job(ctx: Context, out: Path, keys: Sequence[str]) -> _Job:
    """Charts of the tables ``keys``; payload ``(files, {section: figures})``."""
    keys = list(keys)

    def work() -> tuple[list[str], dict[str, list[dict[str, str]]]]:
        ctx.figures = {}
        files = _write_charts(ctx, out, keys)
        return files, ctx.figures

    def cleanup() -> None:
        for f in (out / "graphiques").glob("*"):
            if any(f.stem.startswith(_CHART_STEMS.get(k, k)) for k in keys):
                f.unlink()

    return _Job(work, cleanup)


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
def _collect_warnings(ctx: Context) -> Iterator[Callable[[], None]]:
    """Record the warnings of the run into ``ctx.warnings`` (deduplicated).

    Yields a function moving the warnings caught so far into ``ctx.warnings`` (called before
    the report is written, so that the report lists them); the rest are moved at the end.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        def flush() -> None:
            for w in caught:
                text = f"{w.category.__name__} : {w.message}"
                if text not in ctx.warnings:
                    ctx.warnings.append(text)
            caught.clear()

        yield flush
    flush()


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

    files: list[str] = []
    with _collect_warnings(ctx) as flush_warnings, _staging(out) as tmp:
        jobs: list[_Job] = []
        chart_jobs: list[_Job] = []
        areas_job: _Job | None = None
        drawn: set[str] = set()
        try:
            for name, label, func in STEPS:
                t0 = time.perf_counter()
                func(ctx, _cb(label))
                timings[label] = time.perf_counter() - t0
                done += 1
                if name == EARLY_CHARTS_AFTER:
                    keys = [k for k in _CHARTS if k in ctx.tables]
                    drawn |= set(keys)
                    chart_jobs.append(_chart_job(ctx, tmp, keys))
                if name == "sante" and "zones_marche_params" in ctx.layers:
                    areas_job = _Job(lambda: _walking_areas_of(ctx))
                    jobs.append(areas_job)
            if ctx.is_illustrative:
                names = ([FILE_KEYS[k] for k in FILE_KEYS if k in ctx.illustrative]
                         or sorted(ctx.illustrative))  # layers derived from them not repeated
                ctx.methods.insert(0, "Données illustratives : les couches « "
                                   + " », « ".join(names)
                                   + " » sont des données fictives de démonstration (source "
                                   "« illustratif »).")
            chart_jobs.append(_chart_job(ctx, tmp, [k for k in _CHARTS
                                                    if k in ctx.tables and k not in drawn]))
            if areas_job is not None:
                t0 = time.perf_counter()
                ctx.layers["zones_marche"], timings[WALKING_AREAS_LABEL] = areas_job.result()
                timings["Attente : zones à pied"] = time.perf_counter() - t0
            map_job = _Job(lambda: _write_map(ctx, tmp, offline))
            jobs = [*jobs, *chart_jobs, map_job]
            for name, label in OUTPUTS:
                cb = _cb(label)
                report(cb, 0.0, label)
                t0 = time.perf_counter()
                seconds = None
                if name == "exports":
                    files += _write_gpkg(ctx, tmp)
                    files += _write_csv_xlsx(ctx, tmp)
                elif name == "carte":
                    map_files, seconds = map_job.result()
                    files += map_files
                elif name == "graphiques":
                    seconds = 0.0
                    for job in chart_jobs:
                        (chart_files, figures), job_seconds = job.result()
                        files += chart_files
                        for section, figs in figures.items():
                            ctx.figures.setdefault(section, []).extend(figs)
                        seconds += job_seconds
                elif name == "rapport":
                    flush_warnings()
                    files += _write_report(ctx, tmp, files)
                timings[label] = time.perf_counter() - t0
                if seconds is not None:
                    # done meanwhile by other processes: their own duration, and the wait here
                    timings[f"Attente : {label.split(' (')[0].lower()}"] = timings[label]
                    timings[label] = seconds
                report(cb, 1.0, label)
                done += 1
        finally:
            for job in jobs:
                job.cancel()
        flush_warnings()
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
