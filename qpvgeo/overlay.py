"""Correspondence between zonings: which IRIS cover each QPV, and vintage crosswalks.

Census and Filosofi figures exist per IRIS, not per QPV: a diagnostic "examines the IRIS that
contain these QPV". This module measures how two polygon layers overlap, in EPSG:2154 (metres):

- :func:`iris_qpv_overlap` — one row per (IRIS, QPV) pair that intersects, with the intersection
  area (m²) and its share of the IRIS and of the QPV; with ``weights`` (building footprints or
  dwelling points) the same shares measured in weight (dwellings, floor area…).
- :func:`concerned_iris` — the "IRIS concernés par un QPV", with a stated, reproducible rule.
- :func:`crosswalk` — the weight table carrying figures from one vintage of a zoning onto another
  (QPV 2015 ``QP…`` → QPV 2024 ``QN…``, or one IRIS edition onto the next).
- :func:`compare_with_anct` — check a QPV 2015 → 2024 crosswalk against the ANCT list.
- :func:`building_weights` — derive a dasymetric weight (dwellings, floor area, footprint) from
  BD TOPO buildings.

Slivers
-------
The QPV layer (ANCT, drawn on the cadastre) and the IRIS layer (IGN, drawn on BD TOPO) follow the
same streets but never coincide exactly: their boundaries are a few metres apart. Every QPV
therefore "touches" its neighbouring IRIS by thin slivers. A pair is a **sliver** when its
intersection is below ``min_share`` of the first zone's area **and** below ``min_share`` of the
second zone's area (both conditions, so that a real but small overlap — a corner of a large
IRIS that is a real part of a small QPV — is kept); with ``weights``, it must also hold less
than ``min_share`` of each zone's weight (a thin overlap holding dwellings is kept). Slivers
are dropped from every table and carry nothing in interpolation. The default
:data:`DEFAULT_MIN_SHARE` = 0.01 (1 %): a 3 m offset along a 600 m boundary makes
1,800 m², i.e. 0.1–0.4 % of a typical urban IRIS (0.5–2 km²) or QPV (0.2–1 km²), well under
1 %, while the smallest real overlaps that matter (a block of a few hundred dwellings) exceed
it. Pass ``min_share=0`` to keep every intersection of positive area (exact, as tobler does).

Weights (dasymetric)
--------------------
``weights`` is a layer of polygons (building footprints) or points (RPLS dwellings, one row per
dwelling), and ``weight_col`` the column holding each feature's weight:

- polygons: a building's weight is split between zones **in proportion to its footprint area
  inside each zone** (weight × area(building ∩ zone) / area(building)); without ``weight_col``
  the weight is the footprint area itself (m²). See :func:`building_weights` for dwellings and
  floor area.
- points: each point carries its ``weight_col`` value (1 per row without ``weight_col``) and
  belongs to the first zone, in the layer's order, that contains it or has it on its boundary
  (so a point on a shared boundary is never counted twice).

Missing weights count as 0 (with a :class:`~qpvgeo.errors.DataQualityWarning`); negative
weights are refused. When a zone holds no weight at all (an IRIS of fields or parks), its weight
shares **fall back to area shares** and the row says so (``weight_fallback_*`` columns).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from qpvgeo import _validate
from qpvgeo._progress import ProgressCallback, report, scaled
from qpvgeo.errors import CodeFormatError, DataQualityWarning, SchemaError

__all__ = [
    "DEFAULT_MIN_SHARE",
    "building_weights",
    "compare_with_anct",
    "concerned_iris",
    "crosswalk",
    "iris_qpv_overlap",
]

DEFAULT_MIN_SHARE = 0.01
"""Sliver threshold (share 0–1): a pair of zones whose intersection is below 1 % of both zones
is treated as digitising noise between the IGN and ANCT layers (see the module docstring)."""

_AREA_EPS = 1e-9  # m²: intersections smaller than this are boundary contacts, not overlaps


# --------------------------------------------------------------------------------------------
# Input preparation
# --------------------------------------------------------------------------------------------

def _key_kind(key: str, default: str) -> str:
    """Guess which kind of code a key column holds, for the wording of error messages."""
    k = key.lower()
    if "iris" in k:
        return "iris"
    if "qp" in k:
        return "qpv"
    if "epci" in k or "siren" in k:
        return "epci"
    if "com" in k:
        return "commune"
    return default


def _prepare_zones(
    zones: gpd.GeoDataFrame, key: str, *, name: str, kind: str
) -> gpd.GeoDataFrame:
    """Validate a zone layer: polygons, EPSG:2154, repaired, string unique key. Returns a copy."""
    if not isinstance(zones, gpd.GeoDataFrame):
        raise SchemaError(
            f"{name}: expected a GeoDataFrame of polygons, got {type(zones).__name__}; read the "
            "file with qpvgeo.io (read_iris, read_qpv, read_layer) or geopandas.read_file"
        )
    _validate.check_not_empty(zones, name=name, what="zone")
    if key not in zones.columns:
        col = _validate.find_column(zones, key)
        hint = (f"pass {name}_key='{col}'" if col else
                f"pass the name of the code column as {name}_key=...")
        raise SchemaError(_validate.missing_message(name, [key], zones.columns, hint))
    _validate.check_string_key(zones, key, _key_kind(key, kind), name=name)
    if zones[key].isna().any():
        n = int(zones[key].isna().sum())
        raise CodeFormatError(
            f"{name}: column {key} has {n} missing code(s); every zone needs a code: fill or "
            "drop those rows"
        )
    _validate.check_unique(zones, key, name=name)
    out = _validate.to_lambert93(zones, name=name)
    geom_types = set(out.geometry.geom_type.dropna().unique())
    bad = geom_types - {"Polygon", "MultiPolygon"}
    if bad:
        raise SchemaError(
            f"{name}: zones must be polygons but the layer holds {', '.join(sorted(bad))}; "
            "use the polygon layer of the zoning (not centroids or boundaries)"
        )
    out = _validate.repair_geometries(out, name=name, polygonal=True)
    _validate.check_not_empty(out, name=name, what="zone with a valid geometry")
    out[key] = out[key].astype(str).astype(object)
    return out


@dataclass
class _Weights:
    """Validated dasymetric weights: geometries, values and a label."""

    geoms: np.ndarray
    values: np.ndarray
    kind: str  # "polygon" or "point"
    label: str
    illustrative: bool = False


def _prepare_weights(
    weights: gpd.GeoDataFrame, weight_col: str | None, *, name: str = "weights"
) -> _Weights:
    """Validate a weight layer (polygons or points) and return its geometries and weights."""
    if not isinstance(weights, gpd.GeoDataFrame):
        raise SchemaError(
            f"{name}: expected a GeoDataFrame of building polygons or dwelling points, got "
            f"{type(weights).__name__}"
        )
    _validate.check_not_empty(weights, name=name, what="feature")
    gdf = _validate.to_lambert93(weights, name=name)
    types = set(gdf.geometry.geom_type.dropna().unique())
    if types <= {"Polygon", "MultiPolygon"}:
        kind = "polygon"
        gdf = _validate.repair_geometries(gdf, name=name, polygonal=True)
    elif types <= {"Point"}:
        kind = "point"
        geom = np.asarray(gdf.geometry.array)
        gdf = gdf.loc[~(shapely.is_missing(geom) | shapely.is_empty(geom))]
    else:
        raise SchemaError(
            f"{name}: weights must be all polygons (buildings) or all points (dwellings) but "
            f"the layer holds {', '.join(sorted(types))}; split the layer or convert it"
        )
    if weight_col is None:
        values = (gdf.geometry.area.to_numpy(dtype=float) if kind == "polygon"
                  else np.ones(len(gdf)))
        label = "footprint_m2" if kind == "polygon" else "count"
    else:
        col = weight_col if weight_col in gdf.columns else _validate.find_column(gdf, weight_col)
        if col is None:
            raise SchemaError(_validate.missing_message(
                name, [weight_col], gdf.columns,
                "pass weight_col= one of the columns, or build one with "
                "qpvgeo.overlay.building_weights"))
        raw = gdf[col]
        values_s = pd.to_numeric(raw, errors="coerce")
        bad_text = raw.notna() & values_s.isna()
        if bad_text.any():
            examples = ", ".join(map(str, raw[bad_text].unique()[:5]))
            raise SchemaError(
                f"{name}: column {col} holds non-numeric weights (e.g. {examples}); clean the "
                "column or choose another weight column"
            )
        values = values_s.to_numpy(dtype=float)
        if (values < 0).any():
            raise SchemaError(
                f"{name}: column {col} holds {int((values < 0).sum())} negative weight(s); "
                "weights must be ≥ 0"
            )
        n_missing = int(np.isnan(values).sum())
        if n_missing:
            warnings.warn(
                f"{name}: {n_missing} of {len(values)} feature(s) have no value in column "
                f"{col}; they carry no weight (counted as 0)",
                DataQualityWarning, stacklevel=4,
            )
            values = np.nan_to_num(values, nan=0.0)
        label = str(weight_col)
    return _Weights(np.asarray(gdf.geometry.array), values, kind, label,
                    _validate.is_illustrative(weights))


def building_weights(
    buildings: gpd.GeoDataFrame,
    measure: str = "nb_logts",
    *,
    storey_height_m: float = 3.0,
) -> gpd.GeoDataFrame:
    """Add a dasymetric weight column to BD TOPO building footprints.

    Parameters
    ----------
    buildings
        Building polygons (``qpvgeo.io.read_buildings``: ``nb_logts``, ``nb_etages``,
        ``hauteur``; raw BD TOPO spellings ``NB_LOGTS``, ``NB_ETAGES``, ``HAUTEUR`` accepted), any
        CRS.
    measure
        ``"nb_logts"``: number of dwellings (missing stays missing, i.e. no weight);
        ``"floor_area_m2"``: footprint area × number of storeys (m²), the storeys being
        ``nb_etages`` when > 0, else ``round(hauteur / storey_height_m)`` (at least 1) when the
        height is known, else 1; ``"footprint_m2"``: footprint area (m²).
    storey_height_m
        Height of one storey (metres) used when ``nb_etages`` is missing.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy in EPSG:2154 with the column ``measure`` added (and, for floor area,
        ``storeys`` and ``storeys_from``: ``"nb_etages"``, ``"hauteur"`` or ``"defaut"``);
        index kept. Pass it as ``weights=..., weight_col=measure``. To weight by housing only,
        filter residential buildings first (e.g. ``usage1 == "Résidentiel"``).
    """
    out = _validate.to_lambert93(buildings, name="buildings")
    if measure == "footprint_m2":
        out[measure] = out.geometry.area
        return out
    if measure == "nb_logts":
        col = _validate.find_column(out, ["nb_logts", "nombre_de_logements"], required=True,
                                    name="buildings")
        assert col is not None
        out[measure] = pd.to_numeric(out[col], errors="coerce").astype(float)
        return out
    if measure == "floor_area_m2":
        if storey_height_m <= 0:
            raise SchemaError(f"storey_height_m must be > 0 metres, got {storey_height_m}")
        et_col = _validate.find_column(out, ["nb_etages", "nombre_d_etages"])
        h_col = _validate.find_column(out, ["hauteur"])
        n = len(out)
        etages = (pd.to_numeric(out[et_col], errors="coerce").to_numpy(dtype=float)
                  if et_col else np.full(n, np.nan))
        hauteur = (pd.to_numeric(out[h_col], errors="coerce").to_numpy(dtype=float)
                   if h_col else np.full(n, np.nan))
        from_etages = np.isfinite(etages) & (etages > 0)
        from_h = ~from_etages & np.isfinite(hauteur) & (hauteur > 0)
        storeys = np.ones(n)
        storeys[from_etages] = etages[from_etages]
        storeys[from_h] = np.maximum(1.0, np.round(hauteur[from_h] / storey_height_m))
        out["storeys"] = storeys
        out["storeys_from"] = np.where(from_etages, "nb_etages",
                                       np.where(from_h, "hauteur", "defaut")).astype(object)
        out[measure] = out.geometry.area.to_numpy() * storeys
        return out
    raise SchemaError(
        f"unknown weight measure {measure!r}; choose 'nb_logts', 'floor_area_m2' or "
        "'footprint_m2'"
    )


# --------------------------------------------------------------------------------------------
# Core overlap
# --------------------------------------------------------------------------------------------

@dataclass
class _Overlap:
    """Pairs of (source, target) zones that overlap, with area and weight shares.

    ``pairs`` columns: ``src`` / ``tgt`` (codes), ``src_pos`` / ``tgt_pos`` (positions in the
    prepared layers), ``area_m2``, ``share_of_source``, ``share_of_target``; with weights:
    ``weight``, ``weight_share_of_source``, ``weight_share_of_target``,
    ``weight_fallback_source``, ``weight_fallback_target``. Slivers are already dropped.
    """

    source: gpd.GeoDataFrame
    target: gpd.GeoDataFrame
    source_key: str
    target_key: str
    pairs: pd.DataFrame
    source_area: np.ndarray
    target_area: np.ndarray
    min_share: float
    n_slivers: int
    weight_label: str | None = None
    source_weight: np.ndarray | None = None
    target_weight: np.ndarray | None = None
    piece_geoms: np.ndarray | None = None
    illustrative: bool = False
    notes: list[str] = field(default_factory=list)


def _polygon_weight_in(zones: np.ndarray, w: _Weights) -> tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray]:
    """Split polygon weights over zones by footprint area share.

    Returns (zone positions, building positions, weight amounts) for every intersecting pair.
    """
    tree = shapely.STRtree(w.geoms)
    zone_idx, b_idx = tree.query(zones, predicate="intersects")
    if len(zone_idx) == 0:
        return zone_idx, b_idx, np.zeros(0)
    b_geoms = w.geoms[b_idx]
    z_geoms = zones[zone_idx]
    unprepared = ~shapely.is_prepared(zones)
    shapely.prepare(zones[unprepared])  # speeds up the predicate; undone below
    inside = shapely.contains_properly(z_geoms, b_geoms)
    shapely.destroy_prepared(zones[unprepared])
    b_area = shapely.area(w.geoms)
    part = np.empty(len(b_idx))
    part[inside] = b_area[b_idx[inside]]
    cut = ~inside
    if cut.any():
        part[cut] = shapely.area(shapely.intersection(z_geoms[cut], b_geoms[cut]))
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(b_area[b_idx] > 0, part / b_area[b_idx], 0.0)
    return zone_idx, b_idx, w.values[b_idx] * np.clip(frac, 0.0, 1.0)


def _point_zone(zones: np.ndarray, w: _Weights) -> np.ndarray:
    """Position of the first zone (in layer order) holding each point, or -1."""
    tree = shapely.STRtree(zones)
    p_idx, z_idx = tree.query(w.geoms, predicate="intersects")
    out = np.full(len(w.geoms), -1, dtype=np.int64)
    if len(p_idx):
        order = np.lexsort((z_idx, p_idx))
        p_sorted, z_sorted = p_idx[order], z_idx[order]
        first = np.ones(len(p_sorted), dtype=bool)
        first[1:] = p_sorted[1:] != p_sorted[:-1]
        out[p_sorted[first]] = z_sorted[first]
    return out


def _overlap(
    source: gpd.GeoDataFrame,
    target: gpd.GeoDataFrame,
    *,
    source_key: str,
    target_key: str,
    weights: gpd.GeoDataFrame | None = None,
    weight_col: str | None = None,
    min_share: float = DEFAULT_MIN_SHARE,
    source_name: str = "source",
    target_name: str = "target",
    keep_geometry: bool = False,
    progress: ProgressCallback | None = None,
) -> _Overlap:
    """Intersect two zone layers (EPSG:2154) and measure area (and weight) shares."""
    if not (isinstance(min_share, (int, float)) and 0.0 <= float(min_share) < 1.0):
        raise SchemaError(f"min_share must be a share between 0 and 1 (excluded), got "
                          f"{min_share!r}; the default is {DEFAULT_MIN_SHARE}")
    report(progress, 0.0, "vérification des couches")
    src = _prepare_zones(source, source_key, name=source_name, kind="iris")
    tgt = _prepare_zones(target, target_key, name=target_name, kind="qpv")
    w = _prepare_weights(weights, weight_col) if weights is not None else None
    report(progress, 0.15, "intersection des zones")

    s_geoms = np.asarray(src.geometry.array)
    t_geoms = np.asarray(tgt.geometry.array)
    s_area = shapely.area(s_geoms)
    t_area = shapely.area(t_geoms)
    tree = shapely.STRtree(t_geoms)
    s_idx, t_idx = tree.query(s_geoms, predicate="intersects")
    pieces = shapely.intersection(s_geoms[s_idx], t_geoms[t_idx])
    area = shapely.area(pieces)
    positive = area > _AREA_EPS
    s_idx, t_idx, pieces, area = s_idx[positive], t_idx[positive], pieces[positive], area[positive]
    with np.errstate(invalid="ignore", divide="ignore"):
        share_s = np.clip(area / s_area[s_idx], 0.0, 1.0)
        share_t = np.clip(area / t_area[t_idx], 0.0, 1.0)
    order = np.lexsort((s_idx, t_idx))
    s_idx, t_idx, pieces, area = s_idx[order], t_idx[order], pieces[order], area[order]
    share_s, share_t = share_s[order], share_t[order]

    pairs = pd.DataFrame({
        "src": pd.Series(src[source_key].to_numpy()[s_idx], dtype=object),
        "tgt": pd.Series(tgt[target_key].to_numpy()[t_idx], dtype=object),
        "src_pos": s_idx.astype(np.int64),
        "tgt_pos": t_idx.astype(np.int64),
        "area_m2": area,
        "share_of_source": share_s,
        "share_of_target": share_t,
    })
    result = _Overlap(
        source=src, target=tgt, source_key=source_key, target_key=target_key, pairs=pairs,
        source_area=s_area, target_area=t_area, min_share=float(min_share),
        n_slivers=0, piece_geoms=None,
        illustrative=(_validate.is_illustrative(source) or _validate.is_illustrative(target)),
    )
    sliver = (share_s < min_share) & (share_t < min_share)
    if w is not None:
        report(progress, 0.4, "répartition des poids (bâtiments / logements)")
        _add_weights(result, w, pieces, scaled(progress, 0.4, 0.95))
        result.illustrative = result.illustrative or w.illustrative
        # a thin overlap holding a real share of the dwellings is not digitising noise
        sliver &= (result.pairs["weight_share_of_source"].to_numpy() < min_share) & (
            result.pairs["weight_share_of_target"].to_numpy() < min_share)
    result.n_slivers = int(sliver.sum())
    result.pairs = result.pairs.loc[~sliver].reset_index(drop=True)
    if keep_geometry:
        result.piece_geoms = pieces[~sliver]
    report(progress, 1.0, "intersection terminée")
    return result


def _add_weights(ov: _Overlap, w: _Weights, pieces: np.ndarray,
                 progress: ProgressCallback | None) -> None:
    """Measure the weight of each source, target and piece; add weight shares."""
    s_geoms = np.asarray(ov.source.geometry.array)
    t_geoms = np.asarray(ov.target.geometry.array)
    n_s, n_t = len(s_geoms), len(t_geoms)
    s_pos = ov.pairs["src_pos"].to_numpy()
    t_pos = ov.pairs["tgt_pos"].to_numpy()
    if w.kind == "polygon":
        zi, _, amount = _polygon_weight_in(s_geoms, w)
        w_s: np.ndarray = np.bincount(zi, weights=amount, minlength=n_s)
        report(progress, 0.33, "poids par zone source")
        zi, _, amount = _polygon_weight_in(t_geoms, w)
        w_t: np.ndarray = np.bincount(zi, weights=amount, minlength=n_t)
        report(progress, 0.66, "poids par zone cible")
        if len(pieces):
            zi, _, amount = _polygon_weight_in(pieces, w)
            w_p: np.ndarray = np.bincount(zi, weights=amount, minlength=len(pieces))
        else:
            w_p = np.zeros(0)
    else:
        ps = _point_zone(s_geoms, w)
        pt = _point_zone(t_geoms, w)
        w_s = np.bincount(ps[ps >= 0], weights=w.values[ps >= 0], minlength=n_s)
        w_t = np.bincount(pt[pt >= 0], weights=w.values[pt >= 0], minlength=n_t)
        both = (ps >= 0) & (pt >= 0)
        # pair id = source position * n_t + target position; look each point's pair up among
        # the pieces of positive area
        piece_ids = pd.Index(s_pos.astype(np.int64) * n_t + t_pos.astype(np.int64))
        k = piece_ids.get_indexer(pd.Index(ps[both].astype(np.int64) * n_t + pt[both]))
        found = k >= 0
        w_p = np.bincount(k[found], weights=w.values[both][found], minlength=len(s_pos))
    report(progress, 1.0, "poids mesurés")
    fb_s = w_s[s_pos] <= 0
    fb_t = w_t[t_pos] <= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        ws_s = np.where(fb_s, ov.pairs["share_of_source"].to_numpy(),
                        w_p / np.where(fb_s, 1.0, w_s[s_pos]))
        ws_t = np.where(fb_t, ov.pairs["share_of_target"].to_numpy(),
                        w_p / np.where(fb_t, 1.0, w_t[t_pos]))
    ov.pairs["weight"] = w_p
    ov.pairs["weight_share_of_source"] = np.clip(ws_s, 0.0, 1.0)
    ov.pairs["weight_share_of_target"] = np.clip(ws_t, 0.0, 1.0)
    ov.pairs["weight_fallback_source"] = fb_s
    ov.pairs["weight_fallback_target"] = fb_t
    ov.weight_label = w.label
    ov.source_weight = w_s
    ov.target_weight = w_t


def _rename_pairs(ov: _Overlap, src_name: str, tgt_name: str, src_col: str,
                  tgt_col: str) -> pd.DataFrame:
    """Public form of the pair table with side-specific names (e.g. ``share_of_iris``)."""
    p = ov.pairs
    out = pd.DataFrame({src_col: p["src"], tgt_col: p["tgt"]})
    for side, frame, pos_col in ((src_name, ov.source, "src_pos"),
                                 (tgt_name, ov.target, "tgt_pos")):
        name_col = {"iris": "nom_iris", "qpv": "nom_qpv"}.get(side)
        if name_col and name_col in frame.columns:
            out[name_col] = frame[name_col].to_numpy()[p[pos_col].to_numpy()]
    out["area_m2"] = p["area_m2"]
    out[f"share_of_{src_name}"] = p["share_of_source"]
    out[f"share_of_{tgt_name}"] = p["share_of_target"]
    if "weight" in p.columns:
        out["weight"] = p["weight"]
        out[f"weight_share_of_{src_name}"] = p["weight_share_of_source"]
        out[f"weight_share_of_{tgt_name}"] = p["weight_share_of_target"]
        out[f"weight_fallback_{src_name}"] = p["weight_fallback_source"].astype(bool)
        out[f"weight_fallback_{tgt_name}"] = p["weight_fallback_target"].astype(bool)
    if ov.illustrative:
        out["source"] = _validate.ILLUSTRATIVE
    return out


def _provenance(ov: _Overlap, method: str) -> dict[str, Any]:
    return {
        "source": _validate.ILLUSTRATIVE if ov.illustrative else None,
        "vintage": None,
        "method": method,
        "units": {"area_m2": "m² (EPSG:2154)", "share_*": "share 0–1",
                  "weight": ov.weight_label or ""},
        "min_share": ov.min_share,
        "slivers_dropped": ov.n_slivers,
        "weights": ov.weight_label,
    }


def _with_geometry(table: pd.DataFrame, ov: _Overlap) -> gpd.GeoDataFrame:
    assert ov.piece_geoms is not None
    return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(ov.piece_geoms, index=table.index,
                                                          crs=_validate.LAMBERT93))


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------

def iris_qpv_overlap(
    iris: gpd.GeoDataFrame,
    qpv: gpd.GeoDataFrame,
    *,
    weights: gpd.GeoDataFrame | None = None,
    weight_col: str | None = None,
    min_share: float = DEFAULT_MIN_SHARE,
    iris_key: str = "code_iris",
    qpv_key: str = "code_qpv",
    keep_geometry: bool = False,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Tabulate how IRIS and QPV overlap: one row per intersecting (IRIS, QPV) pair.

    Parameters
    ----------
    iris
        IRIS polygons (any CRS, reprojected to EPSG:2154), with a unique text code column.
    qpv
        QPV polygons (any CRS), with a unique text code column.
    weights
        Optional dasymetric weights: building polygons or dwelling points (see the module
        docstring for exactly how they are split).
    weight_col
        Column of ``weights`` holding each feature's weight (e.g. ``"nb_logts"``); default:
        footprint area (m²) for polygons, 1 per point.
    min_share
        Sliver threshold, share 0–1: a pair is dropped when the intersection is below
        ``min_share`` of the IRIS area **and** below ``min_share`` of the QPV area. Default
        :data:`DEFAULT_MIN_SHARE` (0.01): digitising noise between IGN and ANCT layers.
    iris_key, qpv_key
        Code columns (text; numbers raise :class:`~qpvgeo.errors.CodeFormatError`).
    keep_geometry
        Return a GeoDataFrame holding each intersection polygon (EPSG:2154).
    progress
        Optional callback ``(fraction, message)``.

    Returns
    -------
    pandas.DataFrame
        One row per pair, ordered by QPV then IRIS (input order), new RangeIndex: ``code_iris``,
        ``code_qpv`` (named after the keys), ``nom_iris`` / ``nom_qpv`` when present,
        ``area_m2`` (intersection area, m²), ``share_of_iris`` and ``share_of_qpv`` (area
        shares 0–1); with weights also ``weight`` (weight inside the intersection),
        ``weight_share_of_iris``, ``weight_share_of_qpv`` (weight shares 0–1, falling back to the
        area share when the IRIS / QPV holds no weight) and ``weight_fallback_iris`` /
        ``weight_fallback_qpv`` (bool). ``source = "illustratif"`` when an input is
        illustrative. ``attrs["qpvgeo"]`` records method, threshold and slivers dropped.

    Raises
    ------
    MissingCRSError, SchemaError, CodeFormatError, DuplicateKeyError, EmptyLayerError
        On bad input, naming the layer, the column and the fix.
    """
    ov = _overlap(iris, qpv, source_key=iris_key, target_key=qpv_key, weights=weights,
                  weight_col=weight_col, min_share=min_share, source_name="iris",
                  target_name="qpv", keep_geometry=keep_geometry, progress=progress)
    iris_col, qpv_col = (iris_key, qpv_key) if iris_key != qpv_key else (
        f"{iris_key}_iris", f"{qpv_key}_qpv")
    table = _rename_pairs(ov, "iris", "qpv", iris_col, qpv_col)
    result: pd.DataFrame = _with_geometry(table, ov) if keep_geometry else table
    result.attrs["qpvgeo"] = _provenance(
        ov, "intersection IRIS × QPV en Lambert-93"
        + (f", poids {ov.weight_label}" if ov.weight_label else ""))
    return result


def concerned_iris(
    iris: gpd.GeoDataFrame,
    qpv: gpd.GeoDataFrame,
    *,
    min_share: float = DEFAULT_MIN_SHARE,
    min_share_in_qpv: float = 0.0,
    weights: gpd.GeoDataFrame | None = None,
    weight_col: str | None = None,
    iris_key: str = "code_iris",
    qpv_key: str = "code_qpv",
    keep_all: bool = False,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """List the IRIS "concernés par un QPV", by a stated rule.

    **Rule.** An IRIS is concerned when (1) it overlaps at least one QPV by more than a sliver,
    i.e. the intersection is at least ``min_share`` of the IRIS area **or** at least
    ``min_share`` of the QPV area (with ``weights``: or of the IRIS's or QPV's weight), and
    (2) its share inside QPV (area, or weight when ``weights`` are given) is at least
    ``min_share_in_qpv``. With the defaults (0.01, 0) the
    rule reads: "every IRIS sharing with a QPV more than 1 % of its own area or 1 % of the
    QPV's area". ``min_share_in_qpv=0.5`` selects the IRIS mostly in QPV.

    Parameters
    ----------
    iris, qpv
        Polygon layers (any CRS, reprojected to EPSG:2154) with unique text codes.
    min_share
        Sliver threshold, share 0–1 (see :func:`iris_qpv_overlap`).
    min_share_in_qpv
        Minimum share (0–1) of the IRIS inside QPV (sum over the QPV it overlaps).
    weights, weight_col
        Optional dasymetric weights; then the share inside QPV is measured in weight
        (e.g. share of the IRIS's dwellings that lie in QPV).
    iris_key, qpv_key
        Code columns.
    keep_all
        Return every IRIS (with ``concerned`` False for the others) instead of the concerned
        ones only.
    progress
        Optional callback ``(fraction, message)``.

    Returns
    -------
    pandas.DataFrame
        One row per concerned IRIS (every IRIS with ``keep_all``), with the index labels and
        order of ``iris`` (rows with an empty geometry are dropped): ``code_iris``,
        ``nom_iris`` (when present), ``concerned`` (bool),
        ``qpv_codes`` (";"-joined QPV overlapped beyond the sliver threshold, "" if none),
        ``n_qpv``, ``share_in_qpv`` (area share of the IRIS inside QPV, 0–1), with weights
        ``weight_share_in_qpv``, and ``rule`` (the rule in words). ``len(result)`` (or
        ``concerned.sum()`` with ``keep_all``) is the count quoted in a portrait ("30 IRIS
        concernés par un QPV").
    """
    if not 0.0 <= float(min_share_in_qpv) <= 1.0:
        raise SchemaError(f"min_share_in_qpv must be a share between 0 and 1, got "
                          f"{min_share_in_qpv!r}")
    ov = _overlap(iris, qpv, source_key=iris_key, target_key=qpv_key, weights=weights,
                  weight_col=weight_col, min_share=min_share, source_name="iris",
                  target_name="qpv", progress=progress)
    src = ov.source
    p = ov.pairs
    n = len(src)
    pos = p["src_pos"].to_numpy()
    share_in = np.bincount(pos, weights=p["share_of_source"].to_numpy(), minlength=n)
    n_qpv = np.bincount(pos, minlength=n)
    codes = [""] * n
    for k, grp in p.groupby("src_pos", sort=False)["tgt"]:
        codes[int(str(k))] = ";".join(grp)
    out = pd.DataFrame(index=src.index)
    out[iris_key] = src[iris_key].to_numpy()
    if "nom_iris" in src.columns:
        out["nom_iris"] = src["nom_iris"].to_numpy()
    measured = np.clip(share_in, 0.0, 1.0)
    if "weight" in p.columns:
        wshare = np.bincount(pos, weights=p["weight_share_of_source"].to_numpy(), minlength=n)
        out["weight_share_in_qpv"] = np.clip(wshare, 0.0, 1.0)
        measured = out["weight_share_in_qpv"].to_numpy()
    concerned = (n_qpv > 0) & (measured >= float(min_share_in_qpv))
    out.insert(1 + ("nom_iris" in out.columns), "concerned", concerned)
    out["qpv_codes"] = pd.Series(codes, index=src.index, dtype=object)
    out["n_qpv"] = n_qpv.astype(np.int64)
    out["share_in_qpv"] = np.clip(share_in, 0.0, 1.0)
    rule = (f"IRIS partageant avec un QPV au moins {_pct(min_share)} de sa surface ou de celle "
            f"du QPV")
    if min_share_in_qpv > 0:
        rule += (f", et dont au moins {_pct(min_share_in_qpv)} "
                 + ("des poids" if "weight" in p.columns else "de la surface")
                 + " est en QPV")
    out["rule"] = rule
    if ov.illustrative:
        out["source"] = _validate.ILLUSTRATIVE
    if not keep_all:
        out = out.loc[out["concerned"].to_numpy()]
    out.attrs["qpvgeo"] = _provenance(ov, rule)
    return out


def _pct(share: float) -> str:
    """Format a 0–1 share as a French percentage for rule texts."""
    value = 100 * float(share)
    text = f"{value:.0f}" if math.isclose(value, round(value)) else f"{value:.1f}".replace(
        ".", ",")
    return f"{text} %"


def crosswalk(
    old: gpd.GeoDataFrame,
    new: gpd.GeoDataFrame,
    *,
    old_key: str = "code_qpv",
    new_key: str = "code_qpv",
    weights: gpd.GeoDataFrame | None = None,
    weight_col: str | None = None,
    min_share: float = DEFAULT_MIN_SHARE,
    allocate_total: bool = False,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Build the weight table carrying figures from an old zoning onto a new one.

    Typical uses: QPV 2015 (``QP…``) figures onto QPV 2024 (``QN…``) perimeters, or an IRIS
    edition onto the next, so that an evolution compares like with like. Apply it with
    :func:`qpvgeo.interpolation.apply_crosswalk`.

    Parameters
    ----------
    old, new
        Polygon layers (any CRS, reprojected to EPSG:2154) with unique text codes.
    old_key, new_key
        Code columns of ``old`` and ``new`` (both ``code_qpv`` by default).
    weights, weight_col
        Optional dasymetric weights (buildings or dwelling points, see the module docstring):
        old figures are then split in proportion to weight rather than area.
    min_share
        Sliver threshold, share 0–1 (see :func:`iris_qpv_overlap`).
    allocate_total
        ``False`` (default): an old unit gives each new unit the share of its area (weight)
        lying in it; the part of the old unit outside every new unit is not carried (a QPV
        2015 area that left the geography). ``True``: the whole value of each old unit is
        shared among the new units it overlaps (shares renormalised to sum to 1) — suited to
        two editions of a zoning covering the same territory.
    progress
        Optional callback ``(fraction, message)``.

    Returns
    -------
    pandas.DataFrame
        One row per (old, new) pair, ordered by new then old unit, new RangeIndex: ``old_code``,
        ``new_code``, ``area_m2`` (m²), ``share_of_old`` and ``share_of_new`` (area shares
        0–1: part of the old unit lying in the new one, part of the new unit coming from the
        old one); with weights ``weight``, ``weight_share_of_old``, ``weight_share_of_new``,
        ``weight_fallback_old``, ``weight_fallback_new``; then ``allocation`` (share 0–1 of
        the old unit's counts carried to the new unit — the weight share when weighted, else the
        area share, renormalised with ``allocate_total``), ``whole_old`` (bool: the old unit
        goes entirely to this new unit, within ``min_share``), ``method`` (``"area"`` or
        ``"dasymetric:<weight>"``).
    """
    ov = _overlap(old, new, source_key=old_key, target_key=new_key, weights=weights,
                  weight_col=weight_col, min_share=min_share, source_name="old",
                  target_name="new", progress=progress)
    table = _rename_pairs(ov, "old", "new", "old_code", "new_code")
    alloc = _allocation_shares(ov.pairs, allocate_total=allocate_total)
    table["allocation"] = alloc
    table["whole_old"] = alloc >= 1.0 - max(ov.min_share, 1e-9)
    table["method"] = _method_label(ov.weight_label)
    if "source" in table.columns:
        table["source"] = table.pop("source")
    table.attrs["qpvgeo"] = _provenance(
        ov, f"table de passage {old_key} → {new_key}, {_method_label(ov.weight_label)}"
        + (", allocation totale" if allocate_total else ""))
    table.attrs["qpvgeo"].update({"old_key": old_key, "new_key": new_key,
                                  "allocate_total": allocate_total})
    return table


def compare_with_anct(table: pd.DataFrame, correspondence: pd.DataFrame) -> pd.DataFrame:
    """Check a QPV 2015 → 2024 crosswalk against the ANCT correspondence list.

    The ANCT publishes, for each 2024 QPV, the 2015 QPV it derives from
    (``liste-correspondance-qp2024-qp2015.csv``, read by
    :func:`qpvgeo.io.read_qpv_correspondence`). This lists every (2024, 2015) pair found by
    geometry, by the ANCT, or both, restricted to the QPV present in ``table``.

    Parameters
    ----------
    table
        Output of :func:`crosswalk` (2015 layer as ``old``, 2024 layer as ``new``).
    correspondence
        Output of :func:`qpvgeo.io.read_qpv_correspondence` (``code_qpv_2024``,
        ``code_qpv_2015``, ``statut``).

    Returns
    -------
    pandas.DataFrame
        One row per pair, ordered by 2024 then 2015 code, RangeIndex: ``new_code``,
        ``old_code``, ``in_geometry`` and ``in_anct`` (bool), ``agreement`` (``"les deux"``,
        ``"géométrie seule"``, ``"ANCT seule"``), ``share_of_old``, ``share_of_new`` and
        ``allocation`` (from ``table``, missing for ANCT-only pairs), ``statut`` (ANCT).
        A pair found by geometry only is often a sliver-sized overlap or a neighbour that
        the ANCT did not consider a predecessor; an ANCT-only pair means the perimeters do not
        overlap beyond ``min_share`` (check the layers' vintages).
    """
    _validate.require_columns(table, ["old_code", "new_code", "share_of_old", "share_of_new",
                                      "allocation"], name="table",
                              hint="pass the table returned by qpvgeo.overlay.crosswalk")
    _validate.require_columns(correspondence, ["code_qpv_2024", "code_qpv_2015"],
                              name="correspondence",
                              hint="read the file with qpvgeo.io.read_qpv_correspondence")
    geo = pd.DataFrame({
        "new_code": table["new_code"].astype(str).to_numpy(),
        "old_code": table["old_code"].astype(str).to_numpy(),
        "share_of_old": table["share_of_old"].to_numpy(dtype=float),
        "share_of_new": table["share_of_new"].to_numpy(dtype=float),
        "allocation": table["allocation"].to_numpy(dtype=float),
    })
    corr = correspondence.loc[correspondence["code_qpv_2015"].notna()]
    anct = pd.DataFrame({
        "new_code": corr["code_qpv_2024"].astype(str).to_numpy(),
        "old_code": corr["code_qpv_2015"].astype(str).to_numpy(),
        "statut": (corr["statut"].to_numpy() if "statut" in corr.columns
                   else np.full(len(corr), None)),
    }).drop_duplicates(["new_code", "old_code"])
    relevant = anct["new_code"].isin(set(geo["new_code"])) | anct["old_code"].isin(
        set(geo["old_code"]))
    anct = anct.loc[relevant]
    out = geo.merge(anct, on=["new_code", "old_code"], how="outer", indicator=True)
    out["in_geometry"] = out["_merge"].isin(["both", "left_only"]).astype(bool)
    out["in_anct"] = out["_merge"].isin(["both", "right_only"]).astype(bool)
    labels = {"both": "les deux", "left_only": "géométrie seule", "right_only": "ANCT seule"}
    out["agreement"] = out["_merge"].astype(str).map(labels).astype(object)
    out = out.sort_values(["new_code", "old_code"], kind="stable").reset_index(drop=True)
    cols = ["new_code", "old_code", "in_geometry", "in_anct", "agreement", "share_of_old",
            "share_of_new", "allocation", "statut"]
    result = pd.DataFrame(out[cols])
    result.attrs["qpvgeo"] = {"source": None, "vintage": "2015/2024",
                              "method": "comparaison table de passage géométrique / liste ANCT",
                              "units": {"share_*": "share 0–1"}}
    return result


def _method_label(weight_label: str | None) -> str:
    return "area" if weight_label is None else f"dasymetric:{weight_label}"


def _allocation_shares(pairs: pd.DataFrame, *, allocate_total: bool = False) -> np.ndarray:
    """Share (0–1) of each source unit's counts given to each target (internal helper).

    ``pairs`` is the generic pair table of :func:`_overlap` (``share_of_source`` and, when
    weighted, ``weight_share_of_source``). Without ``allocate_total`` the share is the part of
    the source's area (weight) lying in the target; with it, shares are renormalised over the
    targets each source overlaps so that they sum to 1.
    """
    col = "weight_share_of_source" if "weight_share_of_source" in pairs.columns else (
        "share_of_source")
    share = pairs[col].to_numpy(dtype=float)
    if not allocate_total or len(share) == 0:
        return share
    codes, uniques = pd.factorize(pairs["src"])
    total = np.bincount(codes, weights=share, minlength=len(uniques))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total[codes] > 0, share / total[codes], 0.0)
    return np.clip(out, 0.0, 1.0)


def _as_str_list(values: str | Sequence[str] | None) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    return [str(v) for v in values]
