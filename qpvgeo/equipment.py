"""Point layers per zone: counts, walking reach and population coverage.

Generic machinery shared by :mod:`qpvgeo.health` (BPE health equipment), :mod:`qpvgeo.housing`
(RPLS dwellings) and :mod:`qpvgeo.economy` (SIRENE establishments), usable for any point layer
with attributes (schools with their IPS, sports grounds, public services).

Zones are a GeoDataFrame whose index identifies each zone (QPV, IRIS, commune, or a one-row
territory). Every layer is reprojected to Lambert-93 (EPSG:2154, metres) first.

Assigning points to zones
    A point is counted in every zone whose *interior* contains it (overlapping zone sets, e.g.
    QPV 2015 and 2024 together, count a point in each). A point lying exactly on a boundary is
    given to the first zone (in the zones' order) that touches it, so that a partition (IRIS,
    communes) counts each point once. Points outside every zone are counted and reported (a
    :class:`~qpvgeo.errors.DataQualityWarning` and ``result.attrs["qpvgeo"]``), never silently
    dropped; when a ``territory`` is given, points inside the territory but outside the zones
    are expected (the stock *hors QPV*) and only points outside the territory are warned about.

Walking reach
    The default reach is 15 minutes at 4.5 km/h, i.e. 1,125 m. With a walking graph
    (:class:`WalkingGraph`, built from a street line layer or a networkx/osmnx graph) the reach
    is a network distance; otherwise a Euclidean buffer around the zone. The method used for
    each zone is stated in the output column ``reach_method``: ``"network"``, ``"euclidean"``,
    or ``"euclidean_fallback"`` when a graph was given but does not cover the zone.

Coverage (dasymetric)
    The share of a zone's population within reach of at least one equipment of a kind is
    computed over *residence points*: residential building footprints weighted by their number
    of dwellings (``nb_logts``) or by their footprint area, or dwelling points; the population
    of the zone is spread over them in proportion to the weights. Without residences (or when a
    zone has none) a regular grid of points over the zone is used (uniform density), and the
    column ``coverage_basis`` says so.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from qpvgeo import _validate as v
from qpvgeo._progress import ProgressCallback, report
from qpvgeo.errors import (
    DataQualityWarning,
    DuplicateKeyError,
    EmptyLayerError,
    SchemaError,
)

__all__ = [
    "DEFAULT_REACH_M",
    "TERRITORY_LABEL",
    "WALK_MINUTES",
    "WALK_SPEED_KMH",
    "PointAssignment",
    "WalkingGraph",
    "assign_points",
    "attach_attributes",
    "equipment_access",
    "population_denominator",
    "reach_pairs",
    "safe_ratio",
    "territory_zones",
    "walking_reach_m",
]

WALK_SPEED_KMH = 4.5
"""Default walking speed (km/h)."""

WALK_MINUTES = 15.0
"""Default walking time (minutes)."""


def walking_reach_m(minutes: float = WALK_MINUTES, speed_kmh: float = WALK_SPEED_KMH) -> float:
    """Return the distance walked in ``minutes`` at ``speed_kmh`` (metres).

    Examples
    --------
    >>> walking_reach_m()  # 15 min at 4.5 km/h = 4500 m/h * 0.25 h
    1125.0
    """
    return float(speed_kmh) * 1000.0 * float(minutes) / 60.0


DEFAULT_REACH_M = walking_reach_m()
"""Default walking reach: 15 minutes at 4.5 km/h = 1,125 m."""

_EPS = 1e-6  # metres; zero-length virtual edges would be dropped by scipy's sparse graphs


# --------------------------------------------------------------------------------------------
# Zones and point assignment
# --------------------------------------------------------------------------------------------

def _prepare_zones(zones: gpd.GeoDataFrame, *, name: str = "zones") -> gpd.GeoDataFrame:
    """Validate and reproject zones; keep every row (empty geometries stay, as empty)."""
    if not isinstance(zones, gpd.GeoDataFrame):
        raise SchemaError(f"{name}: expected a GeoDataFrame of zone polygons, got "
                          f"{type(zones).__name__}; read it with qpvgeo.io.read_qpv/read_iris")
    v.check_not_empty(zones, name=name, what="zone")
    if zones.index.has_duplicates:
        dup = ", ".join(map(str, pd.unique(zones.index[zones.index.duplicated()])[:5]))
        raise DuplicateKeyError(
            f"{name}: the index identifies zones and must be unique, but some labels repeat "
            f"({dup}); use zones.set_index('code_qpv') or dissolve the duplicated zones first")
    zs = v.to_lambert93(zones, name=name)
    geom = np.asarray(zs.geometry.array)
    missing = shapely.is_missing(geom)
    geom = np.where(missing, shapely.Polygon(), geom)
    invalid = ~shapely.is_valid(geom)
    if invalid.any():
        geom = geom.copy()
        geom[invalid] = [v._polygonal_part(g) for g in shapely.make_valid(geom[invalid])]
        warnings.warn(f"{name}: {int(invalid.sum())} invalid zone geometr"
                      f"{'y' if invalid.sum() == 1 else 'ies'} repaired with make_valid",
                      DataQualityWarning, stacklevel=3)
    zs = zs.set_geometry(gpd.GeoSeries(geom, index=zs.index, crs=zs.crs))
    return zs


def _point_geometries(points: gpd.GeoDataFrame) -> np.ndarray:
    """Point geometries of a layer (representative points for lines/polygons, None if empty)."""
    geom = np.asarray(points.geometry.array)
    out = geom.copy()
    bad = shapely.is_missing(geom) | shapely.is_empty(geom)
    not_point = ~bad & (shapely.get_type_id(geom) != 0)
    if not_point.any():
        out[not_point] = shapely.point_on_surface(geom[not_point])
    out[bad] = None
    return out


@dataclass(frozen=True)
class PointAssignment:
    """Which point lies in which zone.

    Attributes
    ----------
    point_pos, zone_pos
        Parallel integer arrays: point ``point_pos[i]`` (position in the points layer) lies in
        zone ``zone_pos[i]`` (position in the zones layer). A point may appear in several zones
        when zones overlap.
    n_points
        Number of points given.
    n_no_geometry
        Points with a missing or empty geometry (cannot be located).
    n_outside_zones
        Located points outside every zone.
    n_outside_territory
        Located points outside the territory and outside every zone (``None`` when no
        territory was given).
    in_territory
        Boolean array per point: inside the territory polygon (all True when no territory was
        given). Points of a zone overflowing the territory may be outside it.
    """

    point_pos: np.ndarray
    zone_pos: np.ndarray
    n_points: int
    n_no_geometry: int
    n_outside_zones: int
    n_outside_territory: int | None
    in_territory: np.ndarray

    def counts(self, n_zones: int, weights: np.ndarray | None = None) -> np.ndarray:
        """Return the number (or the sum of ``weights``) of points per zone position."""
        w = None if weights is None else np.asarray(weights, dtype=float)[self.point_pos]
        return np.bincount(self.zone_pos, weights=w, minlength=n_zones).astype(float)

    def as_attrs(self, what: str) -> dict[str, Any]:
        """Summary for ``result.attrs['qpvgeo']``."""
        return {
            f"{what}_total": self.n_points,
            f"{what}_no_geometry": self.n_no_geometry,
            f"{what}_outside_zones": self.n_outside_zones,
            f"{what}_outside_territory": self.n_outside_territory,
        }


def assign_points(
    points: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    territory: gpd.GeoDataFrame | None = None,
    name: str | None = None,
    what: str = "points",
    warn: bool = True,
) -> PointAssignment:
    """Assign points to the zones containing them.

    Parameters
    ----------
    points
        Point layer in any CRS (non-point geometries are replaced by a point on their surface).
    zones
        Zone polygons in any CRS; the index identifies zones and must be unique.
    territory
        Optional polygon layer of the whole territory (e.g. the EPCI). When given, points
        inside the territory but outside every zone are expected and only counted; points
        outside the territory are warned about.
    name
        File or layer name of ``points`` used in messages.
    what
        Word describing the points in messages (``"RPLS dwellings"``).
    warn
        Emit the :class:`~qpvgeo.errors.DataQualityWarning` about points outside (default).

    Returns
    -------
    PointAssignment
        Positions of (point, zone) pairs and the counts of points not located.
    """
    pts = v.to_lambert93(points, name=name)
    zs = _prepare_zones(zones)
    return _assign(pts, zs, territory=territory, name=name, what=what, warn=warn)


def _assign(
    pts: gpd.GeoDataFrame, zs: gpd.GeoDataFrame, *, territory: gpd.GeoDataFrame | None,
    name: str | None, what: str, warn: bool,
) -> PointAssignment:
    """Assign already reprojected points to already prepared zones."""
    geom = _point_geometries(pts)
    located = ~shapely.is_missing(geom)
    n = len(geom)
    loc_pos = np.flatnonzero(located)
    # the tree holds the points and the zones are the queries: GEOS prepares each query
    # geometry once, so a zone with a long outline (an EPCI) is not re-read for every point
    zone_geom = np.asarray(zs.geometry.array)
    tree = shapely.STRtree(geom[loc_pos])
    pairs = tree.query(zone_geom, predicate="contains")
    p_in = loc_pos[pairs[1]]
    z_in = pairs[0]
    inside_any = np.zeros(n, dtype=bool)
    inside_any[p_in] = True
    rest = loc_pos[~inside_any[loc_pos]]
    if len(rest):
        edge = shapely.STRtree(geom[rest]).query(zone_geom, predicate="intersects")
        if edge.shape[1]:
            df = pd.DataFrame({"p": rest[edge[1]], "z": edge[0]}).groupby("p")["z"].min()
            p_in = np.concatenate([p_in, df.index.to_numpy()])
            z_in = np.concatenate([z_in, df.to_numpy()])
            inside_any[df.index.to_numpy()] = True
    order = np.lexsort((z_in, p_in))
    p_in, z_in = p_in[order].astype(np.intp), z_in[order].astype(np.intp)
    n_no_geom = int((~located).sum())
    n_out_zones = int((located & ~inside_any).sum())
    in_terr = np.ones(n, dtype=bool)
    n_out_terr: int | None = None
    label = v.layer_name(name)
    if territory is not None:
        terr = v.to_lambert93(territory, name="territory")
        terr_geom = shapely.union_all(np.asarray(terr.geometry.array))
        shapely.prepare(terr_geom)
        in_terr = np.zeros(n, dtype=bool)
        in_terr[loc_pos] = shapely.intersects(terr_geom, geom[loc_pos])
        # points in a zone are never "lost", even where a zone overflows the territory
        n_out_terr = int((located & ~in_terr & ~inside_any).sum())
        if warn and n_out_terr:
            warnings.warn(
                f"{label}: {n_out_terr} of {n} {what} lie outside the territory and outside "
                "every zone; they are not counted (check the CRS or filter the layer to the "
                "territory)", DataQualityWarning, stacklevel=4)
    elif warn and n_out_zones:
        warnings.warn(
            f"{label}: {n_out_zones} of {n} {what} lie outside every zone and are not counted "
            "in any zone (pass territory= to tell expected points hors zones from errors)",
            DataQualityWarning, stacklevel=4)
    if warn and n_no_geom:
        warnings.warn(f"{label}: {n_no_geom} of {n} {what} have no geometry (no coordinates) "
                      "and cannot be located; they are not counted", DataQualityWarning,
                      stacklevel=4)
    return PointAssignment(p_in, z_in, n, n_no_geom, n_out_zones, n_out_terr, in_terr)


def count_categories(
    assignment: PointAssignment, categories: pd.Series, n_zones: int,
    levels: Sequence[str], weights: np.ndarray | None = None,
) -> pd.DataFrame:
    """Count points per zone position and category level (missing categories are dropped).

    Returns a DataFrame with ``n_zones`` rows (positions) and one column per level, in order.
    """
    lookup = {lev: i for i, lev in enumerate(levels)}
    vals = pd.Series(np.asarray(categories, dtype=object)[assignment.point_pos], dtype=object)
    codes = vals.map(lookup).fillna(-1).to_numpy(dtype=np.int64)
    keep = codes >= 0
    w = (np.ones(len(codes)) if weights is None
         else np.asarray(weights, dtype=float)[assignment.point_pos])
    flat = assignment.zone_pos[keep] * len(levels) + codes[keep]
    counts = np.bincount(flat, weights=w[keep], minlength=n_zones * len(levels))
    return pd.DataFrame(counts.reshape(n_zones, len(levels)), columns=list(levels))


def _category_columns(
    out: pd.DataFrame, prefix: str, assignment: PointAssignment, categories: pd.Series,
    levels: Sequence[str], n_zones: int, total: np.ndarray,
) -> np.ndarray:
    """Write the counts and shares of the points per category level into ``out``.

    Columns ``{prefix}_{level}_count`` for every level, then ``{prefix}_{level}_share`` (0–1
    among the points of a known level), ``{prefix}_known_count`` and ``{prefix}_unknown_count``
    (``total`` − known; ``total``: points per zone position). Returns the known counts.
    """
    counts = count_categories(assignment, categories, n_zones, levels)
    known = counts.sum(axis=1).to_numpy()
    for lev in levels:
        out[f"{prefix}_{lev}_count"] = counts[lev].to_numpy()
    for lev in levels:
        share, _ = safe_ratio(counts[lev].to_numpy(), known, index=out.index)
        out[f"{prefix}_{lev}_share"] = share.to_numpy()
    out[f"{prefix}_known_count"] = known
    out[f"{prefix}_unknown_count"] = total - known
    return known


def _warn_again(caught: Sequence[warnings.WarningMessage]) -> None:
    """Emit again the warnings caught while a second engine read the same inputs.

    Those about the inputs themselves (points outside every zone or without geometry,
    duplicated identifiers, invalid zones) were said by the first engine and are left out.
    The warnings point at the caller of the engine that called this.
    """
    for w in caught:
        if not any(k in str(w.message) for k in ("outside", "no geometry", "duplicated",
                                                 "invalid zone")):
            warnings.warn(w.message, w.category, stacklevel=3)


# --------------------------------------------------------------------------------------------
# Denominators and safe ratios
# --------------------------------------------------------------------------------------------

def population_denominator(
    zones: pd.DataFrame, population: str | pd.Series | float | None, *, what: str = "population",
    name: str = "zones",
) -> tuple[pd.Series, pd.Series]:
    """Resolve a per-zone denominator given as a column name, a Series or nothing.

    Parameters
    ----------
    zones
        Zone table (its index identifies zones).
    population
        Column of ``zones`` (e.g. ``"P20_POP"``), a Series indexed like ``zones`` (aligned by
        label; labels absent from the Series give missing values), a number (one-row zones), or
        ``None``.
    what
        Word used in messages and reasons.

    Returns
    -------
    values, reason
        Float Series on the zones' index, and a Series of reasons why a value is unusable
        (``"not_given"``, ``"missing"``, ``"zero"``, ``"negative"``) or ``None`` where usable.
    """
    idx = zones.index
    if population is None:
        values = pd.Series(np.nan, index=idx, dtype=float)
        reason = pd.Series("not_given", index=idx, dtype=object)
        return values, reason
    if isinstance(population, str):
        if population not in zones.columns:
            raise SchemaError(v.missing_message(
                name, [population], zones.columns,
                f"pass the {what} as a column of the zones or as a Series indexed like them"))
        raw = zones[population]
    elif isinstance(population, pd.Series):
        raw = population.reindex(idx)
    else:
        raw = pd.Series(float(population), index=idx)
    values = pd.to_numeric(raw, errors="coerce").astype(float)
    reason = pd.Series(None, index=idx, dtype=object)
    reason[values.isna()] = "missing"
    reason[values == 0] = "zero"
    reason[values < 0] = "negative"
    return values, reason


def safe_ratio(
    num: pd.Series | np.ndarray, den: pd.Series | np.ndarray, *, index: pd.Index,
    den_reason: pd.Series | None = None, scale: float = 1.0,
) -> tuple[pd.Series, pd.Series]:
    """Divide without ever returning inf or a silent 0.

    Returns ``(ratio, reason)``: the ratio times ``scale`` where the denominator is positive,
    NaN elsewhere, with the reason (``den_reason`` if given, else ``"zero"``/``"missing"``) in
    the second Series (``None`` where the ratio is defined).
    """
    n = pd.Series(np.asarray(num, dtype=float), index=index)
    d = pd.Series(np.asarray(den, dtype=float), index=index)
    ok = d.notna() & (d > 0) & n.notna()
    ratio = pd.Series(np.nan, index=index, dtype=float)
    ratio[ok] = n[ok] / d[ok] * scale
    reason = pd.Series(None, index=index, dtype=object)
    if den_reason is not None:
        reason[~ok] = den_reason.reindex(index)[~ok]
    reason[~ok & reason.isna() & d.isna()] = "missing"
    reason[~ok & reason.isna() & (d <= 0)] = "zero"
    reason[~ok & reason.isna() & n.isna()] = "numerator_missing"
    return ratio, reason


def _estimate_flag(
    zones: pd.DataFrame, flag: bool | str | pd.Series | None, column: str | pd.Series | None,
) -> pd.Series:
    """Per-zone boolean 'this denominator is an estimate'."""
    idx = zones.index
    if isinstance(flag, bool):
        return pd.Series(flag, index=idx, dtype=bool)
    if isinstance(flag, str):
        return zones[flag].astype(bool)
    if isinstance(flag, pd.Series):
        return flag.reindex(idx).fillna(False).astype(bool)
    # auto: a companion column written by qpvgeo.interpolation, else not an estimate
    if isinstance(column, str):
        for cand in (f"{column}_is_estimate", "is_estimate"):
            if cand in zones.columns:
                return zones[cand].fillna(False).astype(bool)
    if isinstance(column, pd.Series) and column.attrs.get("is_estimate") is not None:
        return pd.Series(bool(column.attrs["is_estimate"]), index=idx, dtype=bool)
    return pd.Series(False, index=idx, dtype=bool)


def _source_of(*layers: pd.DataFrame | None) -> str | None:
    """Return 'illustratif' if any layer is illustrative, else the first source found."""
    found: list[str] = []
    for layer in layers:
        if layer is None:
            continue
        if v.is_illustrative(layer):
            return v.ILLUSTRATIVE
        col = v.find_column(layer, "source")
        if col is not None:
            vals = layer[col].dropna().astype(str).unique()
            found.extend(vals[:1])
    return found[0] if found else None


# --------------------------------------------------------------------------------------------
# Territory row
# --------------------------------------------------------------------------------------------

TERRITORY_LABEL = "territory"
"""Index label of the territory row added by ``territory_row=True``."""


def territory_zones(territory: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Dissolve a territory layer (one or several polygons) into one zone labelled ``territory``.

    Numeric columns are summed when every row has a value (missing otherwise: a secret commune
    never gives a partial total); other columns keep their first value.
    """
    t = v.to_lambert93(territory, name="territory")
    v.check_not_empty(t, name="territory")
    geom = shapely.union_all(np.asarray(t.geometry.array))
    data: dict[str, Any] = {}
    for c in t.columns:
        if c == t.geometry.name:
            continue
        col = t[c]
        if pd.api.types.is_bool_dtype(col):
            data[c] = [bool(col.any())]
        elif pd.api.types.is_numeric_dtype(col):
            data[c] = [float(col.sum()) if col.notna().all() else np.nan]
        else:
            data[c] = [col.iloc[0]]
    return gpd.GeoDataFrame(data, geometry=[geom], crs=t.crs,
                            index=pd.Index([TERRITORY_LABEL]))


def _with_territory_row(func: Callable[..., pd.DataFrame], params: dict[str, Any],
                        ) -> pd.DataFrame:
    """Call ``func`` on the zones, then on the territory, and append the territory row.

    Denominators given as a column name absent from the territory layer, or as a Series
    without a ``territory`` label, are missing for the territory row (with their reason);
    ``territory_population`` (when the function has it) is the territory's population.
    """
    territory = params.get("territory")
    if territory is None:
        raise SchemaError("territory_row=True needs territory= (the territory polygon, e.g. the "
                          "EPCI)")
    base = {**params, "territory_row": False}
    out = func(**base)
    tz = territory_zones(territory)
    tparams = {**base, "zones": tz}
    for key, value in params.items():
        if isinstance(value, str) and key in _DENOMINATOR_PARAMS and value not in tz.columns:
            tparams[key] = None
    if params.get("territory_population") is not None and "population" in params:
        tparams["population"] = float(params["territory_population"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        row = func(**tparams)
    res = pd.concat([out, row], axis=0)
    res.attrs["qpvgeo"] = {**out.attrs.get("qpvgeo", {}), "territory_row": TERRITORY_LABEL}
    return res


_DENOMINATOR_PARAMS = ("population", "population_is_estimate", "main_residences",
                       "main_residences_is_estimate")


# --------------------------------------------------------------------------------------------
# Walking graph
# --------------------------------------------------------------------------------------------

class WalkingGraph:
    """Undirected walking graph in Lambert-93 (EPSG:2154), edge weights in metres.

    Build it with :meth:`from_lines` (a street line layer) or :meth:`from_networkx` (a
    networkx/osmnx graph). Points (residences, equipment) are attached to the nearest node of
    the graph's largest connected component, and the straight-line distance to that node is
    added to the network distance. Lines are densified (``max_segment_m``) so that the nearest
    node is never far along the street from the true projection of a point.

    Parameters
    ----------
    node_xy
        ``(n, 2)`` node coordinates, metres, EPSG:2154.
    u, v, length
        Edge end nodes (integer positions) and lengths (metres); duplicated edges keep the
        shortest length, self-loops are dropped.
    """

    def __init__(self, node_xy: np.ndarray, u: np.ndarray, v: np.ndarray,
                 length: np.ndarray) -> None:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components
        from scipy.spatial import cKDTree

        xy = np.asarray(node_xy, dtype=float).reshape(-1, 2)
        u = np.asarray(u, dtype=np.intp)
        v = np.asarray(v, dtype=np.intp)
        w = np.asarray(length, dtype=float)
        if len(xy) == 0 or len(u) == 0:
            raise EmptyLayerError("walking graph: no node or no edge; check the street layer")
        keep = (u != v) & np.isfinite(w)
        u, v, w = u[keep], v[keep], np.maximum(w[keep], _EPS)
        a, b = np.minimum(u, v), np.maximum(u, v)
        edges = pd.DataFrame({"a": a, "b": b, "w": w}).groupby(["a", "b"], sort=True)["w"].min()
        self.node_xy = xy
        self.edge_a = edges.index.get_level_values("a").to_numpy(np.intp)
        self.edge_b = edges.index.get_level_values("b").to_numpy(np.intp)
        self.edge_w = edges.to_numpy(float)
        n = len(xy)
        self.matrix = coo_matrix((self.edge_w, (self.edge_a, self.edge_b)), shape=(n, n)).tocsr()
        _, labels = connected_components(self.matrix, directed=False)
        main = np.bincount(labels).argmax()
        self.main_nodes = np.flatnonzero(labels == main)
        self._tree = cKDTree(xy[self.main_nodes])

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_xy)

    @property
    def n_edges(self) -> int:
        """Number of (undirected) edges."""
        return len(self.edge_w)

    @classmethod
    def from_lines(
        cls, streets: gpd.GeoDataFrame, *, max_segment_m: float = 25.0,
        snap_tolerance_m: float = 0.5, name: str | None = None, crs: Any = None,
    ) -> WalkingGraph:
        """Build the graph from a street line layer.

        Lines are connected where they share a vertex (within ``snap_tolerance_m``), as OSM
        ways or BD TOPO road sections are, and where a line *ends* on another line (a
        T-junction drawn without a shared vertex: the end point is inserted into the other
        line). Lines that merely cross (bridges, tunnels) are not connected.

        Parameters
        ----------
        streets
            LineString/MultiLineString layer in any CRS (reprojected to EPSG:2154).
        max_segment_m
            Lines are densified so that no edge is longer than this (metres).
        snap_tolerance_m
            Vertices closer than this are merged into one node (metres).
        name
            File or layer name used in messages.
        crs
            CRS to assume if the layer has none.
        """
        lines = v.to_lambert93(streets, name=name, crs=crs)
        geom = np.asarray(lines.geometry.array)
        geom = geom[~(shapely.is_missing(geom) | shapely.is_empty(geom))]
        parts = shapely.get_parts(geom)
        parts = parts[np.isin(shapely.get_type_id(parts), [1, 2])]  # LineString, LinearRing
        if len(parts) == 0:
            raise EmptyLayerError(f"{v.layer_name(name)}: no line geometry; a walking graph "
                                  "needs a street line layer (LineString)")
        parts = _join_t_junctions(parts, snap_tolerance_m)
        if max_segment_m and max_segment_m > 0:
            parts = shapely.segmentize(parts, max_segment_m)
        coords, line_idx = shapely.get_coordinates(parts, return_index=True)
        key = np.round(coords / snap_tolerance_m).astype(np.int64)
        _, first, node_of = np.unique(key, axis=0, return_index=True, return_inverse=True)
        node_of = node_of.ravel()
        node_xy = coords[first]
        same = line_idx[1:] == line_idx[:-1]
        a = node_of[:-1][same]
        b = node_of[1:][same]
        seg = np.hypot(*(coords[1:][same] - coords[:-1][same]).T)
        return cls(node_xy, a, b, seg)

    @classmethod
    def from_networkx(cls, graph: Any, *, crs: Any = None, weight: str = "length",
                      max_segment_m: float | None = None) -> WalkingGraph:
        """Build the graph from a networkx graph with node coordinates (osmnx convention).

        Nodes need ``x`` and ``y`` attributes in ``crs`` (default ``graph.graph["crs"]``, as
        osmnx sets it). Edge lengths are read from ``weight`` (metres, as osmnx's ``length``)
        or computed from the node coordinates once in EPSG:2154. Directed graphs are treated
        as undirected (pedestrians walk both ways). ``max_segment_m`` is accepted for symmetry
        with :meth:`from_lines` but graph edges are not densified (their geometry may be
        unknown).

        Raises
        ------
        MissingCRSError
            When neither ``crs`` nor ``graph.graph['crs']`` is set.
        """
        from qpvgeo.errors import MissingCRSError

        crs = crs if crs is not None else getattr(graph, "graph", {}).get("crs")
        if crs is None:
            raise MissingCRSError(
                "walking graph: the networkx graph has no CRS (graph.graph['crs']); pass "
                "crs='EPSG:4326' (osmnx unprojected) or the CRS of the node x/y")
        nodes = list(graph.nodes)
        if not nodes:
            raise EmptyLayerError("walking graph: the networkx graph has no node")
        pos = {n: i for i, n in enumerate(nodes)}
        try:
            x = np.array([float(graph.nodes[n]["x"]) for n in nodes])
            y = np.array([float(graph.nodes[n]["y"]) for n in nodes])
        except KeyError as exc:
            raise SchemaError("walking graph: every node needs 'x' and 'y' attributes "
                              "(osmnx convention)") from exc
        src = CRS.from_user_input(crs)
        if not src.equals(v.LAMBERT93):
            from pyproj import Transformer

            tr = Transformer.from_crs(src, v.LAMBERT93, always_xy=True)
            x, y = tr.transform(x, y)
        xy = np.column_stack([x, y])
        us, vs, ws = [], [], []
        for a, b, data in graph.edges(data=True):
            ia, ib = pos[a], pos[b]
            length = data.get(weight)
            if length is None or not np.isfinite(float(length)):
                length = float(np.hypot(*(xy[ia] - xy[ib])))
            us.append(ia)
            vs.append(ib)
            ws.append(float(length))
        return cls(xy, np.array(us), np.array(vs), np.array(ws))

    def snap(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest node (of the largest component) of each point and its distance (metres)."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        if len(xy) == 0:
            return np.zeros(0, dtype=np.intp), np.zeros(0)
        dist, i = self._tree.query(xy)
        return self.main_nodes[i], np.asarray(dist, dtype=float)

    def distances_from(self, xy: np.ndarray, *, limit: float = np.inf) -> np.ndarray:
        """Network distance from the nearest of the points ``xy`` to every node (metres).

        Each point is attached to its nearest node with a virtual edge as long as the snap
        distance. Nodes farther than ``limit`` get ``inf``.
        """
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import dijkstra

        n = self.n_nodes
        nodes, snap = self.snap(xy)
        k = len(nodes)
        if k == 0:
            return np.full(n, np.inf)
        virt = n + np.arange(k)
        a = np.concatenate([self.edge_a, virt])
        b = np.concatenate([self.edge_b, nodes])
        w = np.concatenate([self.edge_w, np.maximum(snap, _EPS)])
        mat = coo_matrix((w, (a, b)), shape=(n + k, n + k)).tocsr()
        dist = dijkstra(mat, directed=False, indices=virt, min_only=True, limit=limit)
        return np.asarray(dist[:n], dtype=float)

    def distances_from_nodes(self, nodes: np.ndarray, *, limit: float = np.inf) -> np.ndarray:
        """Network distance from the nearest of ``nodes`` (positions) to every node (metres)."""
        from scipy.sparse.csgraph import dijkstra

        nodes = np.asarray(nodes, dtype=np.intp)
        if len(nodes) == 0:
            return np.full(self.n_nodes, np.inf)
        return np.asarray(dijkstra(self.matrix, directed=False, indices=nodes, min_only=True,
                                   limit=limit), dtype=float)

    def reachable_segments(self, xy: np.ndarray, reach_m: float) -> np.ndarray:
        """Street pieces within ``reach_m`` (network distance) of the nearest of ``xy``.

        Each point is attached to its nearest node (the straight-line snap distance counts,
        as in :meth:`distances_from`). An edge whose two ends are within reach is kept whole;
        an edge with one end within reach is cut where the remaining distance runs out, so
        the pieces stop at ``reach_m`` along the streets.

        Parameters
        ----------
        xy
            ``(n, 2)`` point coordinates, metres, EPSG:2154.
        reach_m
            Walking reach, metres.

        Returns
        -------
        numpy.ndarray
            LineString geometries (EPSG:2154), one per edge or piece of edge reached.
        """
        d = self.distances_from(xy, limit=reach_m)
        da, db = d[self.edge_a], d[self.edge_b]
        pa, pb = self.node_xy[self.edge_a], self.node_xy[self.edge_b]
        whole = (da <= reach_m) & (db <= reach_m)
        part_a = (da <= reach_m) & ~whole  # reached from a only
        part_b = (db <= reach_m) & ~whole
        w = self.edge_w
        ends = [np.stack([pa[whole], pb[whole]], axis=1)]
        for m, d0, p0, p1 in ((part_a, da, pa, pb), (part_b, db, pb, pa)):
            if m.any():
                t = np.clip((reach_m - d0[m]) / w[m], 0.0, 1.0)[:, None]
                ends.append(np.stack([p0[m], p0[m] + t * (p1[m] - p0[m])], axis=1))
        segs = np.concatenate(ends, axis=0)
        if len(segs) == 0:
            return np.zeros(0, dtype=object)
        keep = np.any(segs[:, 0] != segs[:, 1], axis=1)
        return shapely.linestrings(segs[keep])

    def service_area(self, xy: np.ndarray, reach_m: float, *, buffer_m: float = 40.0,
                     simplify_m: float = 5.0) -> Any:
        """Area reachable on foot: the reachable street pieces buffered and dissolved.

        Parameters
        ----------
        xy
            ``(n, 2)`` equipment coordinates, metres, EPSG:2154.
        reach_m
            Walking reach, metres (network distance, see :meth:`reachable_segments`).
        buffer_m
            Half-width of the band drawn along the reached streets, metres (the buildings
            along a street are reached with it).
        simplify_m
            Tolerance of the simplification of the outline, metres (0 keeps it exact); the
            street lines are simplified by the larger of it and a quarter of ``buffer_m``.

        Returns
        -------
        shapely geometry
            (Multi)Polygon in EPSG:2154; empty when nothing is reached.
        """
        segs = self.reachable_segments(xy, reach_m)
        if len(segs) == 0:
            return shapely.Polygon()
        # merged into long lines and buffered one by one before the union: the buffer of one
        # multi-line of tens of thousands of pieces is two orders of magnitude slower
        lines = shapely.get_parts(shapely.line_merge(shapely.multilinestrings(segs)))
        if simplify_m > 0:
            lines = shapely.simplify(lines, max(simplify_m, buffer_m / 4))
        area = shapely.union_all(shapely.buffer(lines, buffer_m, quad_segs=1))
        return shapely.simplify(area, simplify_m) if simplify_m > 0 else area

    def nodes_within(self, polygon: Any) -> np.ndarray:
        """Positions of the main-component nodes inside ``polygon`` (EPSG:2154)."""
        xy = self.node_xy[self.main_nodes]
        inside = shapely.contains_xy(polygon, xy[:, 0], xy[:, 1])
        return self.main_nodes[inside]

    def __repr__(self) -> str:
        return f"WalkingGraph({self.n_nodes} nodes, {self.n_edges} edges, EPSG:2154)"


def _join_t_junctions(parts: np.ndarray, tol: float) -> np.ndarray:
    """Insert into each line the end points of other lines that lie on its interior."""
    n = len(parts)
    ends = np.concatenate([shapely.get_point(parts, 0), shapely.get_point(parts, -1)])
    owner = np.concatenate([np.arange(n), np.arange(n)])
    tree = shapely.STRtree(parts)
    ei, li = tree.query(ends, predicate="dwithin", distance=tol)
    keep = li != owner[ei]
    ei, li = ei[keep], li[keep]
    if len(ei) == 0:
        return parts
    pos = shapely.line_locate_point(parts[li], ends[ei])
    length = shapely.length(parts[li])
    inner = (pos > tol) & (pos < length - tol)
    ei, li, pos = ei[inner], li[inner], pos[inner]
    if len(ei) == 0:
        return parts
    out = parts.copy()
    end_xy = shapely.get_coordinates(ends[ei])
    order = np.lexsort((pos, li))
    li, pos, end_xy = li[order], pos[order], end_xy[order]
    bounds = np.flatnonzero(np.diff(li)) + 1
    for grp in np.split(np.arange(len(li)), bounds):
        line = li[grp[0]]
        xy = shapely.get_coordinates(parts[line])
        cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
        at = np.concatenate([cum, pos[grp]])
        pts = np.concatenate([xy, end_xy[grp]])
        k = np.argsort(at, kind="stable")
        out[line] = shapely.linestrings(pts[k])
    return out


def _as_graph(graph: Any) -> WalkingGraph | None:
    """Accept a WalkingGraph, a street GeoDataFrame, a networkx graph or None."""
    if graph is None or isinstance(graph, WalkingGraph):
        return graph
    if isinstance(graph, gpd.GeoDataFrame):
        return WalkingGraph.from_lines(graph, name="streets")
    if hasattr(graph, "nodes") and hasattr(graph, "edges"):
        return WalkingGraph.from_networkx(graph)
    raise SchemaError(f"walking graph: expected a WalkingGraph, a street line GeoDataFrame or a "
                      f"networkx graph, got {type(graph).__name__}")


# --------------------------------------------------------------------------------------------
# Residences (dasymetric support of the population)
# --------------------------------------------------------------------------------------------

_RESIDENTIAL_USAGES = ("résidentiel", "residentiel")


def _residence_points(
    residences: gpd.GeoDataFrame | None, weight_col: str | None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Return point geometries, weights and the basis label of the residence layer."""
    if residences is None:
        return np.zeros(0, dtype=object), np.zeros(0), "grid"
    res = v.to_lambert93(residences, name="residences")
    geom = np.asarray(res.geometry.array)
    ok = ~(shapely.is_missing(geom) | shapely.is_empty(geom))
    polygonal = bool(ok.any()) and bool(
        np.isin(shapely.get_type_id(geom[ok]), [3, 6]).mean() > 0.5)
    usage = v.find_column(res, ["usage1", "usage_1"])
    residential = np.ones(len(res), dtype=bool)
    if usage is not None and polygonal:
        use = res[usage].astype(str).str.strip().str.lower()
        residential = use.isin(_RESIDENTIAL_USAGES).to_numpy()
    use_footprint = polygonal and weight_col is None
    if weight_col is not None:
        if weight_col not in res.columns:
            raise SchemaError(v.missing_message("residences", [weight_col], res.columns,
                                                "pass residence_weight=None to weight by "
                                                "footprint"))
        w = pd.to_numeric(res[weight_col], errors="coerce").to_numpy(float)
        has_w = ok & np.isfinite(w) & (w > 0)
        base = ok & residential if polygonal else ok
        if polygonal and base.any() and has_w[base].mean() < 0.5:
            # BD TOPO often lacks nb_logts: do not drop half of the housing
            warnings.warn(
                f"residences: only {has_w[base].mean():.0%} of the residential buildings have "
                f"a {weight_col}; the population is spread by footprint area instead",
                DataQualityWarning, stacklevel=3)
            use_footprint = True
        else:
            ok = has_w
            basis = f"{'buildings' if polygonal else 'points'}:{weight_col}"
    if use_footprint:
        w = np.zeros(len(geom))
        w[ok] = shapely.area(geom[ok])
        ok &= residential & (w > 0)
        basis = "buildings:footprint"
    elif weight_col is None:
        w = np.ones(len(res))
        basis = "points"
    pts = _point_geometries(res)
    return pts[ok], w[ok], basis


def _grid_points(polygon: Any, *, max_points: int = 20000, min_step: float = 25.0) -> np.ndarray:
    """Regular grid of points inside ``polygon`` (uniform density fallback)."""
    if polygon is None or polygon.is_empty or polygon.area <= 0:
        return np.zeros((0, 2))
    step = max(min_step, math.sqrt(polygon.area / max_points))
    xmin, ymin, xmax, ymax = polygon.bounds
    xs = np.arange(xmin + step / 2, xmax, step)
    ys = np.arange(ymin + step / 2, ymax, step)
    mx, my = np.meshgrid(xs, ys)
    gx, gy = mx.ravel(), my.ravel()
    inside = shapely.contains_xy(polygon, gx, gy)
    if not inside.any():
        p = polygon.representative_point()
        return np.array([[p.x, p.y]])
    return np.column_stack([gx[inside], gy[inside]])


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    ok = np.isfinite(values) & (weights > 0)
    if not ok.any():
        return float("nan")
    order = np.argsort(values[ok])
    vals, w = values[ok][order], weights[ok][order]
    cum = np.cumsum(w)
    return float(vals[np.searchsorted(cum, 0.5 * cum[-1])])


# --------------------------------------------------------------------------------------------
# Attributes
# --------------------------------------------------------------------------------------------

def attach_attributes(
    points: gpd.GeoDataFrame, table: pd.DataFrame, *, on: str | tuple[str, str],
    columns: Sequence[str] | None = None, name: str | None = None,
) -> gpd.GeoDataFrame:
    """Join a small attribute table (e.g. collèges' IPS, REP/REP+) to a point layer.

    Parameters
    ----------
    points
        Point layer (e.g. BPE collèges); not modified.
    table
        Attribute table with one row per key (e.g. UAI or SIRET, ``ips``, ``rep``).
    on
        Key column, or ``(points_key, table_key)``. Keys are compared as text.
    columns
        Columns of ``table`` to attach (default all but the key).
    name
        Name of ``table`` used in messages.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy of ``points`` with the attributes (missing where no key matched), index kept.
        Points with a key but no match are reported with a
        :class:`~qpvgeo.errors.DataQualityWarning`; points without a key are left aside.

    Raises
    ------
    DuplicateKeyError
        When the key repeats in ``table``.
    """
    left, right = (on, on) if isinstance(on, str) else on
    for df, col, nm in ((points, left, "points"), (table, right, name or "table")):
        if col not in df.columns:
            raise SchemaError(v.missing_message(nm, [col], df.columns))
    v.check_unique(table, right, name=name or "table")
    cols = [c for c in (columns or table.columns) if c != right]
    lookup = table.assign(_key=table[right].astype(str).str.strip()).set_index("_key")[cols]
    has_key = points[left].notna()
    keys = points[left].astype(str).str.strip().where(has_key, None)
    out = points.copy()
    for c in cols:
        out[c] = keys.map(lookup[c]).to_numpy()
    unmatched = int((has_key & ~keys.isin(lookup.index)).sum())
    if unmatched:
        warnings.warn(f"{v.layer_name(name)}: {unmatched} of {int(has_key.sum())} points with a "
                      f"{left} have no match in the attribute table; their attributes are "
                      "missing", DataQualityWarning, stacklevel=2)
    return out


# --------------------------------------------------------------------------------------------
# Equipment access per zone
# --------------------------------------------------------------------------------------------

_STATS: dict[str, Callable[[pd.Series], float]] = {
    "mean": lambda s: float(s.mean()) if s.notna().any() else float("nan"),
    "min": lambda s: float(s.min()) if s.notna().any() else float("nan"),
    "max": lambda s: float(s.max()) if s.notna().any() else float("nan"),
    "median": lambda s: float(s.median()) if s.notna().any() else float("nan"),
    # a sum over no equipment is 0 (e.g. REP collèges in reach); over unknown values, missing
    "sum": lambda s: 0.0 if len(s) == 0 else (float(s.sum()) if s.notna().any()
                                              else float("nan")),
    "count": lambda s: float(s.notna().sum()),
}


def _kind_of(equipment: pd.DataFrame, kinds: Mapping[str, Sequence[str] | str] | None,
             kind_col: str, code_col: str, name: str | None) -> tuple[np.ndarray, list[str]]:
    """Kind of each equipment (None if not of a requested kind) and the ordered kinds."""
    if kinds is None:
        col = v.find_column(equipment, kind_col, required=True, name=name,
                            hint=f"pass kinds={{kind: [codes]}} and code_col, or add a "
                                 f"'{kind_col}' column")
        assert col is not None
        vals = equipment[col].astype(object).where(equipment[col].notna(), None)
        order = sorted({str(x) for x in vals.dropna()})
        return np.array([None if x is None else str(x) for x in vals], dtype=object), order
    col = v.find_column(equipment, code_col, required=True, name=name,
                        hint=f"pass code_col='<column holding {code_col.upper()} codes>'")
    assert col is not None
    codes = equipment[col].astype(str).str.strip().str.upper()
    kind = np.full(len(equipment), None, dtype=object)
    for k, kc in kinds.items():
        kc_list = [kc] if isinstance(kc, str) else list(kc)
        match = codes.isin([c.upper() for c in kc_list]).to_numpy() & pd.isna(kind)
        kind[match] = k
    return kind, list(kinds)


def reach_pairs(result: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Pairs (zone, equipment) within reach, from an :func:`equipment_access` result.

    Parameters
    ----------
    result
        The table returned by :func:`equipment_access` (or :func:`qpvgeo.health.health_access`
        / :func:`qpvgeo.health.school_access`), with its ``attrs``.
    kind
        Equipment kind (a column prefix of ``result``, e.g. ``"college"``).

    Returns
    -------
    pandas.DataFrame
        Columns ``zone`` (index label of the zone in ``result``) and ``equipment_pos``
        (position, 0-based, of the equipment in the layer given to
        :func:`equipment_access`), one row per equipment inside the zone or within its
        walking reach; empty when the kind has no equipment.

    Raises
    ------
    SchemaError
        The result carries no reach information for ``kind``.
    """
    packed = result.attrs.get("qpvgeo", {}).get("reach_members", {}).get(kind)
    if packed is None:
        raise SchemaError(f"reach_pairs: no reach information for kind {kind!r} in the "
                          "result's attrs (compute it with equipment_access)")
    arr = np.frombuffer(packed, dtype="<i8").reshape(2, -1)
    return pd.DataFrame({"zone": result.index[arr[0]] if arr.shape[1] else
                         pd.Index([], dtype=result.index.dtype),
                         "equipment_pos": arr[1].astype(np.intp)})


def equipment_access(
    equipment: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    kinds: Mapping[str, Sequence[str] | str] | None = None,
    code_col: str = "typequ",
    kind_col: str = "kind",
    population: str | pd.Series | None = None,
    population_is_estimate: bool | str | pd.Series | None = None,
    residences: gpd.GeoDataFrame | None = None,
    residence_weight: str | None = "nb_logts",
    graph: WalkingGraph | gpd.GeoDataFrame | Any | None = None,
    reach_m: float = DEFAULT_REACH_M,
    max_snap_m: float = 250.0,
    territory: gpd.GeoDataFrame | None = None,
    territory_population: float | None = None,
    summaries: Mapping[str, str | Sequence[str]] | None = None,
    territory_row: bool = False,
    name: str | None = None,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Count equipment per zone, within walking reach, per inhabitant, and population coverage.

    Parameters
    ----------
    equipment
        Equipment points in any CRS (e.g. ``qpvgeo.io.read_bpe``), not modified.
    zones
        Zone polygons (QPV, IRIS, communes or a one-row territory); the index identifies zones.
    kinds
        ``{kind: [codes]}`` grouping codes of ``code_col`` into kinds (e.g.
        ``{"pharmacie": ["D307"]}``); equipment of no listed kind is ignored. Without it, the
        kinds are the values of ``kind_col``.
    code_col, kind_col
        Column holding the codes (default ``typequ``) or the kinds.
    population
        Zone population: column of ``zones`` or Series on the zones' index (inhabitants). Used
        for counts per 10,000 inhabitants and covered population; missing or zero gives NaN
        with a reason in ``pop_missing_reason``.
    population_is_estimate
        Whether the population is an estimate (e.g. interpolated from IRIS): a bool, a column of
        ``zones`` or a Series. By default a companion column ``<population>_is_estimate`` or
        ``is_estimate`` of the zones is used when present.
    residences
        Where people live, to spread the population (dasymetric): building polygons (weighted by
        ``residence_weight``, e.g. ``nb_logts``, or by footprint area when it is ``None``; only
        ``usage1 == "Résidentiel"`` buildings are kept when weighting by footprint) or dwelling
        points. Without it (or for a zone holding no residence) a regular point grid is used.
    residence_weight
        Column of ``residences`` weighting each residence (default ``nb_logts``); ``None``
        weights polygons by footprint area (m²) and points equally. When fewer than half of
        the residential buildings have a weight (``nb_logts`` is often empty in BD TOPO), the
        footprint is used instead, with a warning.
    graph
        Walking graph: a :class:`WalkingGraph`, a street line GeoDataFrame, or a networkx graph
        (osmnx convention). Without it, reach is Euclidean.
    reach_m
        Walking reach in metres (default 1,125 m = 15 min at 4.5 km/h).
    max_snap_m
        A zone whose residences lie (median) farther than this from the graph, or that holds
        no graph node, falls back to Euclidean reach with a warning.
    territory, territory_population
        Optional territory polygon(s) and its population, to compare densities: columns
        ``{kind}_per_10000_territory`` and ``{kind}_per_10000_ratio`` (zone ÷ territory).
    summaries
        ``{column: stat or [stats]}`` summarised over the equipment within reach of each zone,
        stats among ``mean, min, max, median, sum, count`` (e.g. ``{"ips": ["mean", "min"]}``
        for collèges) → columns ``{kind}_reach_{column}_{stat}``.
    territory_row
        Append a last row labelled ``"territory"`` computed the same way on the dissolved
        ``territory`` (population ``territory_population``).
    name
        Name of the equipment layer used in messages.
    progress
        Callback ``(fraction, message)``.

    Returns
    -------
    pandas.DataFrame
        One row per zone, zones' index and order. Columns: ``reach_m`` (metres),
        ``reach_method``, ``pop`` (inhabitants), ``pop_is_estimate``, ``pop_missing_reason``,
        ``coverage_basis``; and per kind ``{kind}_inside_count`` (equipment in the zone),
        ``{kind}_reach_count`` (inside or within reach), ``{kind}_per_10000`` (inside count per
        10,000 inhabitants), ``{kind}_covered_share`` (share 0–1 of the zone's population within
        reach of at least one), ``{kind}_covered_pop`` (inhabitants, an estimate),
        ``{kind}_nearest_median_m`` and ``{kind}_nearest_mean_m`` (population-weighted median
        and mean distance to the nearest, metres). ``attrs["qpvgeo"]`` holds provenance, the
        counts of equipment outside the zones and ``reach_members`` (which equipment is
        within reach of which zone; read it with :func:`reach_pairs`).
    """
    if territory_row:
        return _with_territory_row(equipment_access, dict(locals()))
    report(progress, 0.0, "Préparation des équipements")
    zs = _prepare_zones(zones)
    eq = v.to_lambert93(equipment, name=name)
    kind, kind_order = _kind_of(eq, kinds, kind_col, code_col, name)
    sel = np.flatnonzero(pd.notna(kind))
    eq_sel = eq.iloc[sel]
    kind_sel = kind[sel]
    n_z = len(zs)
    idx = zones.index
    pop, pop_reason = population_denominator(zones, population)
    if summaries:
        for c in summaries:
            if c not in eq.columns:
                raise SchemaError(v.missing_message(name, [c], eq.columns,
                                                    "attach it with attach_attributes first"))
    g = _as_graph(graph)
    eq_geom = _point_geometries(eq_sel)
    located = ~shapely.is_missing(eq_geom)
    eq_xy = np.full((len(eq_geom), 2), np.nan)
    if located.any():
        eq_xy[located] = shapely.get_coordinates(eq_geom[located])
    assign = _assign(eq_sel, zs, territory=territory, name=name, what="equipment", warn=True)

    # residences: one set of origins (x, y, weight, zone position)
    res_pts, res_w, basis_all = _residence_points(residences, residence_weight)
    res_zone_pairs = (np.zeros(0, np.intp), np.zeros(0, np.intp))
    if len(res_pts):
        ra = _assign(gpd.GeoDataFrame(geometry=gpd.GeoSeries(res_pts, crs=2154)), zs,
                     territory=None, name="residences", what="residences", warn=False)
        res_zone_pairs = (ra.point_pos, ra.zone_pos)
    res_xy = shapely.get_coordinates(res_pts) if len(res_pts) else np.zeros((0, 2))

    origins_xy: list[np.ndarray] = []
    origins_w: list[np.ndarray] = []
    basis = []
    zone_geoms = np.asarray(zs.geometry.array)
    for z in range(n_z):
        m = res_zone_pairs[1] == z
        if m.any() and res_w[res_zone_pairs[0][m]].sum() > 0:
            origins_xy.append(res_xy[res_zone_pairs[0][m]])
            origins_w.append(res_w[res_zone_pairs[0][m]])
            basis.append(basis_all)
        else:
            grid = _grid_points(zone_geoms[z])
            origins_xy.append(grid)
            origins_w.append(np.ones(len(grid)))
            basis.append("grid")
    n_grid = sum(b == "grid" for b in basis)
    if residences is not None and n_grid:
        warnings.warn(f"residences: {n_grid} zone(s) hold no residence; their population is "
                      "spread uniformly over a grid (coverage_basis = 'grid')",
                      DataQualityWarning, stacklevel=2)

    # reach method per zone
    method = np.array(["euclidean"] * n_z, dtype=object)
    zone_nodes: list[np.ndarray] = [np.zeros(0, np.intp)] * n_z
    origin_snap: list[tuple[np.ndarray, np.ndarray]] = [
        (np.zeros(0, np.intp), np.zeros(0))] * n_z
    if g is not None:
        fallback = []
        for z in range(n_z):
            nodes = g.nodes_within(zone_geoms[z]) if not zone_geoms[z].is_empty else np.zeros(0)
            snap_nodes, snap_d = g.snap(origins_xy[z])
            med = _weighted_median(snap_d, origins_w[z]) if len(snap_d) else np.inf
            if len(nodes) == 0 or not med <= max_snap_m:
                method[z] = "euclidean_fallback"
                fallback.append(str(idx[z]))
            else:
                method[z] = "network"
                zone_nodes[z] = nodes
                origin_snap[z] = (snap_nodes, snap_d)
        if fallback:
            shown = ", ".join(fallback[:10]) + (", …" if len(fallback) > 10 else "")
            warnings.warn(
                f"walking graph: it does not cover {len(fallback)} zone(s) ({shown}): no street "
                f"node inside, or residences more than {max_snap_m:g} m from the streets; "
                "Euclidean reach used there (reach_method = 'euclidean_fallback')",
                DataQualityWarning, stacklevel=2)

    out = pd.DataFrame(index=idx)
    out["reach_m"] = float(reach_m)
    out["reach_method"] = method
    out["pop"] = pop.to_numpy()
    out["pop_is_estimate"] = _estimate_flag(zones, population_is_estimate, population).to_numpy()
    out["pop_missing_reason"] = pop_reason.to_numpy()
    out["coverage_basis"] = basis

    terr_pop = None if territory_population is None else float(territory_population)
    terr_counts: dict[str, float] = {}
    if territory is not None:
        terr = _prepare_zones(territory, name="territory")
        ta = _assign(eq_sel, terr, territory=None, name=name, what="equipment", warn=False)
        tk = kind_sel[np.unique(ta.point_pos)]
        terr_counts = {k: float((tk == k).sum()) for k in kind_order}

    # per kind: equipment positions, network distance field, KD-tree, STRtree
    from scipy.spatial import cKDTree

    per_kind: dict[str, dict[str, Any]] = {}
    n_k = max(len(kind_order), 1)
    for ki, k in enumerate(kind_order):
        report(progress, 0.1 + 0.4 * ki / n_k, f"Distances : {k}")
        kpos = np.flatnonzero((kind_sel == k) & located)
        info: dict[str, Any] = {"kpos": kpos}
        if len(kpos):
            info["tree"] = cKDTree(eq_xy[kpos])
            info["strtree"] = shapely.STRtree(eq_geom[kpos])
            if g is not None and (method == "network").any():
                info["node_dist"] = g.distances_from(eq_xy[kpos])
                info["snap"] = g.snap(eq_xy[kpos])
        per_kind[k] = info

    res: dict[str, np.ndarray] = {}
    members: dict[str, list[tuple[int, np.ndarray]]] = {k: [] for k in kind_order}

    def col(key: str) -> np.ndarray:
        return res.setdefault(key, np.full(n_z, np.nan))

    for z in range(n_z):
        report(progress, 0.5 + 0.45 * z / n_z, f"Accès : zone {idx[z]}")
        w = origins_w[z]
        geom_z = zone_geoms[z]
        zdist = None
        if method[z] == "network":
            assert g is not None
            zdist = g.distances_from_nodes(zone_nodes[z], limit=reach_m)
        inside_pos = assign.point_pos[assign.zone_pos == z]
        for k in kind_order:
            info = per_kind[k]
            kpos = info["kpos"]
            if len(kpos) == 0:
                d = np.full(len(w), np.inf)
                reach_set = np.zeros(0, np.intp)
            elif zdist is not None:
                sn, sd = origin_snap[z]
                d = info["node_dist"][sn] + sd
                en, ed = info["snap"]
                within = (zdist[en] + ed) <= reach_m
                within |= np.isin(kpos, inside_pos)
                reach_set = np.flatnonzero(within)
            else:
                d = (np.asarray(info["tree"].query(origins_xy[z])[0], dtype=float)
                     if len(w) else np.zeros(0))
                reach_set = (np.zeros(0, np.intp) if geom_z.is_empty else np.unique(
                    info["strtree"].query(geom_z, predicate="dwithin", distance=reach_m)))
            col(f"{k}_reach_count")[z] = len(reach_set)
            members[k].append((z, sel[kpos[reach_set]]))
            if len(w) and w.sum() > 0:
                col(f"{k}_covered_share")[z] = float(w[d <= reach_m].sum() / w.sum())
                finite = np.isfinite(d)
                if finite.any():
                    col(f"{k}_nearest_median_m")[z] = _weighted_median(d, w)
                    col(f"{k}_nearest_mean_m")[z] = float(
                        np.average(d[finite], weights=w[finite]))
            if summaries:
                sub = eq_sel.iloc[kpos[reach_set]] if len(reach_set) else eq_sel.iloc[:0]
                for c, stats in summaries.items():
                    for st in ([stats] if isinstance(stats, str) else stats):
                        if st not in _STATS:
                            raise SchemaError(f"summaries: unknown statistic {st!r} for {c}; "
                                              f"choose among {', '.join(_STATS)}")
                        col(f"{k}_reach_{c}_{st}")[z] = _STATS[st](
                            pd.to_numeric(sub[c], errors="coerce"))

    for k in kind_order:
        is_k = kind_sel == k
        inside = np.bincount(assign.zone_pos[is_k[assign.point_pos]], minlength=n_z)
        out[f"{k}_inside_count"] = inside.astype(float)
        out[f"{k}_reach_count"] = col(f"{k}_reach_count")
        per, _ = safe_ratio(inside, pop, index=idx, den_reason=pop_reason, scale=10000.0)
        out[f"{k}_per_10000"] = per.to_numpy()
        share = col(f"{k}_covered_share")
        out[f"{k}_covered_share"] = share
        out[f"{k}_covered_pop"] = share * pop.to_numpy()
        out[f"{k}_nearest_median_m"] = col(f"{k}_nearest_median_m")
        out[f"{k}_nearest_mean_m"] = col(f"{k}_nearest_mean_m")
        for key in [c for c in res if c.startswith(f"{k}_reach_") and c != f"{k}_reach_count"]:
            out[key] = res[key]
        if territory is not None:
            tval = (terr_counts.get(k, 0.0) / terr_pop * 10000.0
                    if terr_pop and terr_pop > 0 else np.nan)
            out[f"{k}_per_10000_territory"] = tval
            out[f"{k}_per_10000_ratio"] = (out[f"{k}_per_10000"] / tval
                                           if np.isfinite(tval) and tval > 0 else np.nan)
    report(progress, 1.0, "Accès aux équipements calculé")
    src = _source_of(equipment, zones, residences)
    out.attrs["qpvgeo"] = {
        "source": src,
        "method": (f"équipements par zone, accessibilité à {reach_m:g} m "
                   f"({'réseau piéton' if g is not None else 'distance euclidienne'}), "
                   "couverture dasymétrique"),
        "units": {"reach_m": "m", "_per_10000": "équipements pour 10 000 habitants",
                  "_share": "part 0–1", "_m": "m"},
        "kinds": list(kind_order),
        # packed as bytes: pandas deep-copies and compares attrs on every operation, which
        # lists of thousands of integers would slow down (see reach_pairs)
        "reach_members": {k: np.stack([
            np.concatenate([np.full(len(e), z, dtype="<i8") for z, e in pairs]
                           or [np.zeros(0, "<i8")]),
            np.concatenate([e.astype("<i8") for _, e in pairs] or [np.zeros(0, "<i8")]),
        ]).tobytes() for k, pairs in members.items()},
        **assign.as_attrs("equipment"),
    }
    if src == v.ILLUSTRATIVE:
        out["source"] = v.ILLUSTRATIVE
    return out
