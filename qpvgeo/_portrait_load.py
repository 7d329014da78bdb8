"""Steps 1–2 of the portrait: read the layers, keep the territory's QPV and points, QPV areas."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from qpvgeo import _validate
from qpvgeo._portrait_context import (
    TERRITORY_CODE,
    Context,
    TableEntry,
    _mark_illustrative,
    _module,
    _source_label,
    _source_of,
    _territory_polygon,
)
from qpvgeo._progress import ProgressCallback, report
from qpvgeo.config import FILE_KEYS
from qpvgeo.errors import DataQualityWarning, InputFileError

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
