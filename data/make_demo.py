#!/usr/bin/env python3
"""Generate the illustrative stand-in layers of the qpvgeo demo territory (CA de Lens-Liévin).

The real open data copied in ``data/shapes/`` (communes, EPCI, the official 2024 QPV list, the
municipal populations, the UNESCO mining estates) are the skeleton. Everything this script
writes is **illustrative** (``source = "illustratif"``, raster tag ``QPVGEO_SOURCE``): a
synthetic town fabric (streets, buildings, dwellings, households, persons) drawn inside the real
communes, then aggregated into files in the official layouts of IGN, INSEE, SDES, ANCT and the
Éducation nationale (see ``data/README.md``), so that the readers of :mod:`qpvgeo.io` read them
as they would read the real files. Figures are plausible, calibrated on orders of magnitude
quoted by the CALL's 2024 diagnostic, and are **not official figures**.

Every number derives from one synthetic population, so the files agree with each other: the
IRIS tables sum to the real municipal populations (PL2020) of each commune, the dwellings of
the census tables are those of the buildings, the RPLS rows are the social dwellings of those
buildings, the QPV-level tables are the persons living inside the QPV polygons, the heat-loss
classes follow the condition of the buildings.

Deterministic: a fixed seed (``SEED``) with one random stream per layer; two runs give the same
content. The files are written to a temporary folder, then moved into ``data/shapes/`` and
``data/thermography/`` (names ``illustratif_*``), and the stamp ``data/.demo-complete`` is
written last, so an interrupted run leaves no half-written layer and no stamp.

Usage::

    python data/make_demo.py            # writes into data/ (what `make data` runs)
    python data/make_demo.py --out DIR  # writes DIR/shapes, DIR/thermography (tests)
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import shutil
import sys
import tempfile
import time
import unicodedata
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import scipy  # noqa: F401  (ndimage, sparse, spatial, special are used below)
except ImportError:  # pragma: no cover - the .venv made by `make` has it (via tobler)
    sys.exit("data/make_demo.py needs scipy: pip install scipy (or pip install -e '.[test]')")
import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio import features
from scipy.special import ndtri
from shapely.ops import nearest_points

HERE = Path(__file__).resolve().parent
REAL = HERE / "shapes"
GENERATOR_VERSION = "1.0"
SEED = 20240331
SOURCE = "illustratif"
L93, WGS84, CC50, UTM31 = "EPSG:2154", "EPSG:4326", "EPSG:3950", "EPSG:32631"

CALL_SIREN, CAHC_SIREN, CABBALR_SIREN = "246200364", "246200299", "200072460"
# Communes of the CA d'Hénin-Carvin holding part of a QPV that touches the CALL: they get
# buildings, IRIS and census rows too (municipal population estimated, see load_territory).
EXTRA_COMMUNES = ("62250", "62587", "62724")  # Courrières, Montigny-en-Gohelle, Rouvroy
NPNRU = ("QN06224M", "QN06228M", "QN06219M")
# Poverty line used by the stand-in (60 % of the national median disposable income per
# consumption unit; rounded values of Filosofi 2020 and 2015, in euros per year).
POVERTY_LINE = {2020: 13_224.0, 2015: 12_180.0}

T0 = time.perf_counter()
QUIET = False
PIXELS = {"heatloss": 2.0, "temperature": 5.0}  # metres; --heatloss-pixel for benchmarks


def log(msg: str) -> None:
    if not QUIET:
        print(f"[{time.perf_counter() - T0:5.1f} s] {msg}", flush=True)


def rng_for(name: str) -> np.random.Generator:
    """One independent, stable random stream per layer or step."""
    return np.random.default_rng([SEED, zlib.crc32(name.encode())])


class FastRand:
    """Scalar draws for the layout loops (much faster than Generator scalar calls)."""

    def __init__(self, rng: np.random.Generator, n: int = 1 << 20) -> None:
        self._rng = rng
        self._n = n
        self._buf = rng.random(n).tolist()
        self._i = 0

    def random(self) -> float:
        if self._i >= self._n:
            self._buf = self._rng.random(self._n).tolist()
            self._i = 0
        self._i += 1
        return self._buf[self._i - 1]

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.random()

    def integers(self, a: int, b: int) -> int:
        """Integer in [a, b)."""
        return a + int((b - a) * self.random())

    def choice(self, seq: list[Any]) -> Any:
        return seq[int(len(seq) * self.random())]

    def normal(self, mu: float, sd: float) -> float:
        # sum of three uniforms: close enough to a normal for heights
        return mu + sd * 2.0 * (self.random() + self.random() + self.random() - 1.5)


def from_origin(west: float, north: float, xsize: float, ysize: float) -> Affine:
    """North-up transform (rasterio's from_origin composes with ``*``, now deprecated)."""
    return Affine(float(xsize), 0.0, float(west), 0.0, -float(ysize), float(north))


def norm_name(s: Any) -> str:
    text = unicodedata.normalize("NFKD", str(s)).encode("ascii", "ignore").decode()
    return " ".join(text.lower().replace("-", " ").split())


# ---------------------------------------------------------------------------------------------
# Parameters of the 22 QPV 2024 touching the CALL (illustrative, inspired by the orders of
# magnitude of the 2024 diagnostic: poverty 52–70.5 %, employment 30.7–47.3 %, vacancy up to
# 21.5 % at Sellier Cité 4, 7.9 % housed free of charge at Camus, > 20 % recent social
# dwellings at Camus, Grande Résidence, Saint-Élie, Blum-Salengro-109, Taberneaux).
# kind: "cite" (mining estate rows), "mixte" (estate + collective blocks), "collectif".
# pop: population 2020 aimed at; growth: change 2015→2020; tp60/emp: poverty and employment
# rates (%) aimed at for (2015, 2020); young: larger households (-1..1); vac: vacancy rate;
# grat: share of main residences housed free of charge; recent: share of buildings built
# after 2001; cites: names of the real mining-estate polygons the QPV is drawn over.
# ---------------------------------------------------------------------------------------------
_QPV_COLUMNS = ("kind", "pop", "growth", "tp60", "emp", "young", "vac", "grat", "recent",
                "cites")
_QPV_ROWS = {
    "QN06202M": ("mixte", 1300, 0.04, (55.0, 58.0), (42.0, 41.0), 0.4, 0.060,
                 0.079, 0.30, []),
    "QN06216M": ("cite", 1500, 0.03, (54.5, 53.9), (46.0, 47.3), 0.2, 0.060,
                 0.060, 0.22, ['Cité Saint-Élie']),
    "QN06219M": ("mixte", 3400, -0.06, (64.0, 68.0), (33.0, 30.7), 0.6, 0.130,
                 0.050, 0.12, []),
    "QN06220M": ("cite", 2600, -0.04, (57.0, 60.0), (43.0, 42.0), 0.2, 0.080,
                 0.028, 0.04, ['Cité des Brebis']),
    "QN06221M": ("cite", 2300, -0.05, (60.0, 66.0), (37.0, 35.0), 0.3, 0.070,
                 0.030, 0.04, ['Cité du Transvaal']),
    "QN06222M": ("cite", 3300, -0.03, (58.0, 60.0), (42.0, 41.0), 0.2, 0.060,
                 0.027, 0.04, ['Cité n°5 de Béthune (du Maroc)', 'Cité n°11 de Béthune']),
    "QN06223M": ("cite", 1900, -0.03, (55.0, 56.0), (45.0, 45.0), -0.6, 0.050,
                 0.025, 0.04, ['Cité Bellevue Ancienne']),
    "QN06224M": ("cite", 4200, -0.05, (62.0, 63.0), (37.0, 36.0), 0.4, 0.110,
                 0.030, 0.12,
                 ['Cité n°12 de Lens (Saint-Édouard)', 'Cité n°14 Ouest', 'Cité n°14 Est']),
    "QN06225M": ("collectif", 4300, -0.06, (67.0, 70.5), (33.5, 32.0), 0.5, 0.105,
                 0.030, 0.25, []),
    "QN06226M": ("cite", 1100, 0.03, (66.0, 64.0), (37.0, 38.0), 1.0, 0.120,
                 0.030, 0.04, ['Cité n°2 de Lens', 'Cité n°2 de Lens (partie en zone-tampon)']),
    "QN06227M": ("cite", 2200, -0.07, (63.0, 67.0), (35.0, 34.0), 0.4, 0.215,
                 0.030, 0.04, ['Cité n°4 de Lens']),
    "QN06228M": ("mixte", 5200, -0.06, (64.0, 65.0), (37.0, 36.0), 0.5, 0.090,
                 0.030, 0.15, []),
    "QN06229M": ("mixte", 5600, 0.02, (63.0, 62.0), (38.0, 39.0), 0.3, 0.070,
                 0.030, 0.06, ['Cité des Provinces', 'Cité n°9 de Lens']),
    "QN06230M": ("mixte", 2400, -0.04, (62.0, 61.0), (40.0, 40.5), 0.3, 0.080,
                 0.028, 0.24, []),
    "QN06231M": ("cite", 2100, -0.03, (56.0, 55.0), (44.5, 44.0), 0.0, 0.060,
                 0.026, 0.04, ['Cité n°7 de Béthune', 'Cité Maistre', 'Cité Magenta']),
    "QN06232M": ("cite", 2300, -0.04, (55.0, 57.0), (44.0, 43.0), 0.0, 0.100,
                 0.027, 0.04, ['Cité n°10 de Béthune']),
    "QN06233M": ("cite", 3000, -0.04, (58.0, 60.0), (42.0, 41.0), 0.3, 0.080,
                 0.028, 0.05, ['Cité du 13-18', 'Cité du 5-12']),
    "QN06234M": ("cite", 3600, -0.03, (59.0, 58.0), (42.0, 42.5), 0.2, 0.060,
                 0.027, 0.04, ['Cité du 3-15']),
    "QN06235M": ("cite", 1200, -0.02, (50.0, 52.0), (46.5, 46.0), 0.1, 0.080,
                 0.025, 0.22, ['Cité des Tabernaux']),
    "QN06243M": ("mixte", 2800, -0.03, (60.0, 63.0), (38.0, 37.0), 1.0, 0.070,
                 0.030, 0.06, []),
    "QN06245M": ("mixte", 2400, -0.04, (61.0, 62.0), (38.5, 38.0), 0.4, 0.070,
                 0.055, 0.05, ['Cité 4-5 Sud']),
    "QN06247M": ("cite", 1600, -0.03, (60.0, 59.0), (40.0, 39.5), 0.2, 0.060,
                 0.030, 0.04, ['Cité de la Fosse n°10']),
}
QPV_PARAMS: dict[str, dict[str, Any]] = {
    code: dict(zip(_QPV_COLUMNS, row, strict=True)) for code, row in _QPV_ROWS.items()}
# Population density aimed at inside a QPV (inhabitants per hectare) by kind.
QPV_DENSITY = {"cite": 55.0, "mixte": 75.0, "collectif": 130.0}
# CALL-wide targets (2020, 2015) quoted by the diagnostic (2020) or assumed (2015).
CALL_MEDIAN = {2020: 17_020.0, 2015: 16_050.0}
CALL_TP60 = {2020: 36.1, 2015: 34.6}
CALL_EMP = {2020: 53.6, 2015: 52.8}
CALL_POP_2015 = 241_600

# Building types of the synthetic fabric.
T_CITE, T_CENTRE, T_PAV, T_COLL, T_ACT = 1, 2, 3, 4, 5
TYPE_NAMES = {T_CITE: "cite", T_CENTRE: "centre", T_PAV: "pavillon", T_COLL: "collectif",
              T_ACT: "activite"}
ROW_SPACING = 90.0   # metres between parallel streets (blocks are 90 m deep)
CROSS_SPACING = 200.0  # metres between cross streets
PROBE_STEP = 6.0     # metres between probes along a street side


# ---------------------------------------------------------------------------------------------
# Real skeleton
# ---------------------------------------------------------------------------------------------
@dataclass
class Territory:
    communes: gpd.GeoDataFrame          # index 0..n-1: insee, nom, siren_epci, in_call, pop2020
    cites: gpd.GeoDataFrame             # mining estates (UNESCO + buffer zone), EPSG:2154
    qpv_list: pd.DataFrame              # the 22 QPV touching the CALL (real list)
    pop_ratio: float                    # municipal / total population, used for CAHC communes
    epci: gpd.GeoDataFrame


def load_territory() -> Territory:
    com = gpd.read_file(REAL / "call_communes_adminexpress2018.geojson").to_crs(L93)
    com = com.rename(columns={"nom": "nom_com"})[["insee_com", "nom_com", "siren_epci",
                                                   "geometry"]]
    pop = pd.read_csv(REAL / "call_communes_population.csv", dtype=str)
    com = com.merge(pop[["insee_com", "pmun_PL2020"]], on="insee_com", how="left")
    com["pop2020"] = com["pmun_PL2020"].astype(int)
    com["pop_source"] = "INSEE PL2020 (population municipale)"
    mbm = gpd.read_file(REAL / "call_cahc_communes_mbm.geojson").to_crs(L93)
    mbm["insee"] = mbm["insee"].astype(str)
    in_call = mbm[mbm["insee"].isin(com["insee_com"])]
    # The MBM file gives total populations; the CAHC communes get a municipal population
    # estimated with the CALL's own ratio (sum of PL2020 / sum of MBM totals).
    ratio = com["pop2020"].sum() / in_call["population"].astype(float).sum()
    call_union = shapely.union_all(com.geometry.to_numpy())
    extra = mbm[mbm["insee"].isin(EXTRA_COMMUNES)].copy()
    extra["geometry"] = shapely.difference(extra.geometry.to_numpy(), call_union)
    extra = gpd.GeoDataFrame({
        "insee_com": extra["insee"], "nom_com": extra["nom"], "siren_epci": CAHC_SIREN,
        "pmun_PL2020": None,
        "pop2020": (extra["population"].astype(float) * ratio).round().astype(int),
        "pop_source": "estimation: population totale MBM x ratio CALL (municipale/totale)",
    }, geometry=extra.geometry.to_numpy(), crs=L93)
    communes = pd.concat([com, extra], ignore_index=True)
    communes["geometry"] = shapely.make_valid(communes.geometry.to_numpy())
    communes["in_call"] = communes["siren_epci"] == CALL_SIREN
    communes = gpd.GeoDataFrame(communes.drop(columns="pmun_PL2020"), geometry="geometry",
                                crs=L93).sort_values("insee_com").reset_index(drop=True)

    frames = []
    for fname, kind in (("call_cites_minieres_unesco.geojson", "unesco"),
                        ("call_cites_minieres_zone_tampon_erbm.geojson", "zone_tampon")):
        g = gpd.read_file(REAL / fname).to_crs(L93)
        g["geometry"] = shapely.make_valid(g.geometry.to_numpy())
        frames.append(g[["nom", "type", "geometry"]].assign(origin=kind))
    cites = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=L93)
    cites["geometry"] = [shapely.union_all([p for p in getattr(g, "geoms", [g])
                                            if p.geom_type in ("Polygon", "MultiPolygon")])
                         for g in cites.geometry]
    cites["key"] = cites["nom"].map(norm_name)

    lst = pd.read_csv(REAL / "qpv2024_dept62_list.csv", dtype=str)
    lst = lst[lst["touches_call"] == "1"].drop_duplicates("code_qp").reset_index(drop=True)
    epci = gpd.read_file(REAL / "epci_call_and_neighbours.geojson").to_crs(L93)
    return Territory(communes, cites, lst, float(ratio), epci)


# ---------------------------------------------------------------------------------------------
# QPV 2024 perimeters
# ---------------------------------------------------------------------------------------------
def _blob(center: shapely.Point, area: float, rng: np.random.Generator) -> Any:
    """An irregular blob of about ``area`` m² around ``center`` (union of a few discs)."""
    r = math.sqrt(area / math.pi)
    parts = [center.buffer(r * 0.75, quad_segs=8)]
    for _ in range(4):
        ang = rng.uniform(0, 2 * math.pi)
        d = rng.uniform(0.25, 0.6) * r
        p = shapely.Point(center.x + d * math.cos(ang), center.y + d * math.sin(ang))
        parts.append(p.buffer(r * rng.uniform(0.35, 0.6), quad_segs=8))
    return shapely.union_all(parts)


def _polygonal(geom: Any) -> Any:
    geom = shapely.make_valid(geom)
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    polys = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(polys) if polys else shapely.Polygon()


def build_qpv(terr: Territory) -> gpd.GeoDataFrame:
    rng = rng_for("qpv2024")
    com = terr.communes.set_index("insee_com")
    known = set(com.index)
    rows = []
    placed: list[Any] = []
    # Matched QPV first (their estates fix them), then the others around them.
    order = sorted(terr.qpv_list.itertuples(index=False),
                   key=lambda r: (not QPV_PARAMS[r.code_qp]["cites"], r.code_qp))
    for r in order:
        par = QPV_PARAMS[r.code_qp]
        codes = r.insee_com_list.split(";")
        mine = [c for c in codes if c in known]
        target_area = par["pop"] / QPV_DENSITY[par["kind"]] * 1e4
        mine_union = shapely.union_all(com.loc[mine].geometry.to_numpy())
        others = shapely.union_all(com.loc[sorted(known - set(codes))].geometry.to_numpy())
        keys = [norm_name(n) for n in par["cites"]]
        matched = terr.cites[terr.cites["key"].isin(keys)]
        if len(matched):
            geom = shapely.union_all(matched.geometry.to_numpy()).buffer(20).buffer(-10)
        else:
            if len(mine) > 1:
                near = shapely.intersection_all([com.loc[c].geometry.buffer(250) for c in mine])
                anchor = shapely.point_on_surface(near.intersection(mine_union)
                                                  if not near.is_empty else mine_union)
            else:
                cgeom = com.loc[mine[0]].geometry
                centre = cgeom.centroid if cgeom.contains(cgeom.centroid) else \
                    cgeom.point_on_surface()
                radius = math.sqrt(cgeom.area / math.pi) * 0.4
                best, best_d = centre, -1.0
                for k in range(16):
                    ang = 2 * math.pi * k / 16
                    p = shapely.Point(centre.x + radius * math.cos(ang),
                                      centre.y + radius * math.sin(ang))
                    if not cgeom.contains(p):
                        continue
                    d = min((p.distance(g) for g in placed), default=1e9)
                    d = min(d, 1500.0) + rng.uniform(0, 50)
                    if d > best_d:
                        best, best_d = p, d
                anchor = best
            geom = _blob(anchor, target_area, rng)
        # Grow small estates to the area the population needs.
        all_known = len(mine) == len(codes)
        for _ in range(20):
            if (geom.intersection(mine_union) if all_known else geom).area >= 0.85 * target_area:
                break
            geom = geom.buffer(25, quad_segs=4)
        geom = geom.difference(others)
        # Make sure the QPV reaches every commune it officially lies in (when known here).
        for c in mine:
            cg = com.loc[c].geometry
            if geom.intersection(cg).area < 2e4:
                line = shapely.shortest_line(geom, cg)
                p = shapely.get_point(line, 1)
                inner = cg.buffer(-60)
                if not inner.is_empty:
                    p = nearest_points(inner, p)[0]
                blob = _blob(p, max(0.15 * target_area, 4e4), rng).intersection(cg)
                geom = shapely.union_all([geom, blob, line.buffer(30)])
        geom = geom.difference(others)
        if placed:
            geom = geom.difference(shapely.union_all(placed).buffer(5))
        geom = _polygonal(geom.buffer(12, quad_segs=4).buffer(-12, quad_segs=4)
                          .simplify(4).difference(others))
        if placed:
            geom = _polygonal(geom.difference(shapely.union_all(placed).buffer(5)))
        # Drop crumbs left by the clipping.
        parts = [g for g in getattr(geom, "geoms", [geom]) if g.area > 5e3]
        geom = shapely.MultiPolygon(parts) if len(parts) > 1 else parts[0]
        placed.append(geom)
        # Where the collective blocks of a mixed QPV stand.
        rows.append({"code_qp": r.code_qp, "lib_qp": r.lib_qp, "insee_com": codes,
                     "lib_com": r.communes.split(";"), "siren_epci": r.epci_siren_list,
                     "kind": par["kind"], "matched": ";".join(matched["nom"].unique()),
                     "geometry": geom})
    qpv = gpd.GeoDataFrame(rows, geometry="geometry", crs=L93)
    qpv = qpv.sort_values("code_qp").reset_index(drop=True)
    qpv["npnru"] = qpv["code_qp"].isin(NPNRU).astype(int)
    coll_anchor = []
    for g in qpv.geometry:
        bx = g.bounds
        # the south-west part of the QPV hosts the collective blocks of mixed QPV
        corner = shapely.Point(bx[0] + 0.3 * (bx[2] - bx[0]), bx[1] + 0.3 * (bx[3] - bx[1]))
        coll_anchor.append(nearest_points(g, corner)[0])
    qpv["coll_anchor"] = coll_anchor
    qpv["coll_radius"] = [math.sqrt(0.5 * g.area / math.pi) for g in qpv.geometry]
    return qpv


# ---------------------------------------------------------------------------------------------
# Town fabric: commune frames, zones, lookup grid
# ---------------------------------------------------------------------------------------------
@dataclass
class Frame:
    """Local street frame of a commune: origin at the town centre, streets along u."""

    idx: int
    insee: str
    x0: float
    y0: float
    theta: float
    r_core: float
    v_off: float
    u_off: float
    harm: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def eff_dist(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance to the centre, stretched by direction so towns are not discs."""
        a1, p1, a2, p2 = self.harm
        phi = np.arctan2(y - self.y0, x - self.x0)
        return np.hypot(x - self.x0, y - self.y0) / (
            1 + a1 * np.sin(2 * phi + p1) + a2 * np.sin(3 * phi + p2))

    def to_world(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = math.cos(self.theta), math.sin(self.theta)
        return self.x0 + u * c - v * s, self.y0 + u * s + v * c

    def to_local(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = math.cos(self.theta), math.sin(self.theta)
        dx, dy = x - self.x0, y - self.y0
        return dx * c + dy * s, -dx * s + dy * c


@dataclass
class Grid:
    """10 m lookup rasters (commune, QPV, mining estate, activity zone) in EPSG:2154."""

    xmin: float
    ymax: float
    res: float
    layers: dict[str, np.ndarray] = field(default_factory=dict)

    def at(self, name: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        arr = self.layers[name]
        r = np.floor((self.ymax - y) / self.res).astype(np.int64)
        c = np.floor((x - self.xmin) / self.res).astype(np.int64)
        ok = (r >= 0) & (r < arr.shape[0]) & (c >= 0) & (c < arr.shape[1])
        out = np.full(np.shape(x), -1, dtype=np.int64)
        out[ok] = arr[r[ok], c[ok]]
        return out


def build_zones(terr: Territory, qpv: gpd.GeoDataFrame
                ) -> tuple[list[Frame], gpd.GeoDataFrame, Grid]:
    rng = rng_for("zones")
    com = terr.communes
    frames = []
    act_rows = []
    qpv_union = shapely.union_all(qpv.geometry.to_numpy())
    for i, r in com.iterrows():
        g = r.geometry
        centre = g.centroid if g.contains(g.centroid) else g.point_on_surface()
        frames.append(Frame(idx=int(i), insee=r.insee_com, x0=centre.x, y0=centre.y,
                            theta=math.radians(rng.uniform(-40, 40)),
                            r_core=150 + 2.6 * math.sqrt(r.pop2020),
                            v_off=rng.uniform(0, ROW_SPACING),
                            u_off=rng.uniform(0, CROSS_SPACING),
                            harm=(rng.uniform(0.15, 0.35), rng.uniform(0, 6.3),
                                  rng.uniform(0.1, 0.25), rng.uniform(0, 6.3))))
        if r.pop2020 >= 8000:
            req = math.sqrt(g.area / math.pi)
            best, best_d = None, -1.0
            for k in range(24):
                ang = 2 * math.pi * k / 24
                p = shapely.Point(centre.x + 0.6 * req * math.cos(ang),
                                  centre.y + 0.6 * req * math.sin(ang))
                if not g.buffer(-150).contains(p):
                    continue
                d = p.distance(qpv_union) + rng.uniform(0, 30)
                if d > best_d:
                    best, best_d = p, d
            if best is not None:
                radius = min(140 + r.pop2020 / 90, 420)
                zone = best.buffer(radius, quad_segs=8).intersection(g)
                zone = _polygonal(zone.difference(qpv_union.buffer(60)))
                if zone.area > 5e4:
                    act_rows.append({"insee_com": r.insee_com, "geometry": zone})
    acts = gpd.GeoDataFrame(act_rows, geometry="geometry", crs=L93)

    xmin, ymin, xmax, ymax = np.asarray(com.total_bounds) + np.array([-500, -500, 500, 500])
    res = 10.0
    width, height = int((xmax - xmin) / res) + 1, int((ymax - ymin) / res) + 1
    transform = from_origin(xmin, ymax, res, res)
    grid = Grid(xmin=xmin, ymax=ymax, res=res)

    def burn(geoms: list[Any], values: list[int], dtype: str) -> np.ndarray:
        if not geoms:
            return np.full((height, width), -1, dtype=dtype)
        return features.rasterize(zip(geoms, values, strict=True), out_shape=(height, width),
                                  transform=transform, fill=-1, dtype=dtype)

    grid.layers["commune"] = burn(list(com.geometry), list(range(len(com))), "int16")
    grid.layers["qpv"] = burn(list(qpv.geometry), list(range(len(qpv))), "int16")
    cite_val = [2 if t == "Cité moderne" else 1 for t in terr.cites["type"]]
    grid.layers["cite"] = burn(list(terr.cites.geometry), cite_val, "int16")
    grid.layers["act"] = burn(list(acts.geometry), list(range(len(acts))), "int16")
    # mixed QPV: the part near the collective anchor holds collective blocks
    coll = np.zeros((height, width), dtype="int16")
    for i, r in qpv.iterrows():
        if r.kind == "mixte":
            disc = r.coll_anchor.buffer(r.coll_radius).intersection(r.geometry)
            if not disc.is_empty:
                coll = np.maximum(coll, features.rasterize(
                    [(disc, 1)], out_shape=(height, width), transform=transform, fill=0,
                    dtype="int16"))
        elif r.kind == "collectif":
            coll = np.maximum(coll, features.rasterize(
                [(r.geometry, 1)], out_shape=(height, width), transform=transform, fill=0,
                dtype="int16"))
        del i
    grid.layers["coll"] = coll
    return frames, acts, grid


# ---------------------------------------------------------------------------------------------
# Buildings: candidates laid along the streets of each commune, then chosen to match the
# dwellings each commune and each QPV needs.
# ---------------------------------------------------------------------------------------------
BCOLS = ["commune", "qpv", "btype", "row", "side", "u0", "u1", "setback", "depth", "n_dw",
         "floors", "height", "year", "usage1", "usage2", "moderne"]


def _layout_run(t: int, ua: float, ub: float, rng: FastRand, moderne: bool,
                odd_row: bool, out: list[tuple[Any, ...]], base: tuple[Any, ...],
                p_flats: float = 0.07) -> None:
    """Lay buildings of type ``t`` along one street side between ``ua`` and ``ub`` (metres)."""
    cur = ua + rng.uniform(0, 4)
    while True:
        usage2 = ""
        if t == T_CITE:
            if moderne:
                n = 2
                front, depth, setback = 7.5, 9.0, 6.0
                year = int(rng.integers(1950, 1969))
            else:
                n = rng.choice([2, 2, 2, 3, 4, 4, 5, 6, 8])
                front, depth, setback = 6.2, 8.5, 5.0
                year = int(rng.integers(1900, 1936))
            length = n * front
            if cur + length > ub:
                n = int((ub - cur) // front)
                if n < 2:
                    return
                length = n * front
            floors = 2 if rng.random() < 0.2 else 1
            height = round(rng.normal(6.3 if floors == 1 else 7.8, 0.5), 1)
            gap = rng.uniform(5, 12)
            rec = (t, cur, cur + length, setback, depth, n, floors, height, year,
                   "Résidentiel", usage2, int(moderne))
        elif t == T_CENTRE:
            x = rng.random()
            if x < p_flats:  # small block of flats (towns only)
                length = rng.uniform(18, 32)
                floors = int(rng.integers(3, 6))
                depth, setback = 12.0, 3.0
                n = max(3, int(floors * length * depth * 0.8 / 62))
                year = int(rng.integers(1955, 2012))
                usage1 = "Résidentiel"
            elif x < p_flats + 0.06:  # shop, office, service
                length = rng.uniform(10, 26)
                floors, depth, setback, n = 1, 14.0, 2.0, 0
                year = int(rng.integers(1900, 2015))
                usage1 = "Commercial et services"
            else:            # terraced town house
                length = rng.uniform(5.5, 7.5)
                floors = 2 if rng.random() < 0.65 else 3
                depth, setback = 11.0, 2.0
                n = rng.choice([1, 1, 2, 2, 2, 3])
                year = int(rng.integers(1880, 1940)) if rng.random() < 0.75 else \
                    int(rng.integers(1950, 2015))
                usage1 = "Résidentiel"
                if rng.random() < 0.08:
                    usage2 = "Commercial et services"
            if cur + length > ub:
                return
            height = round(floors * 2.9 + float(rng.uniform(0.8, 2.0)), 1)
            gap = 0.0 if rng.random() < 0.7 else rng.uniform(1, 5)
            rec = (t, cur, cur + length, setback, depth, n, floors, height, year, usage1,
                   usage2, 0)
        elif t == T_PAV:
            x = rng.random()
            if x < 0.25:     # row of 3-4 houses ("maisons groupées")
                n = 3 + int(rng.random() < 0.4)
                length = 7.5 * n
            elif x < 0.65:   # semi-detached pair
                n, length = 2, 16.0
            else:
                n, length = 1, rng.uniform(9, 12)
            if cur + length > ub:
                return
            floors = 1 if rng.random() < 0.55 else 2
            depth, setback = 9.5, 8.0
            y = rng.random()
            year = (int(rng.integers(1950, 1975)) if y < 0.35 else
                    int(rng.integers(1975, 2000)) if y < 0.75 else int(rng.integers(2000, 2020)))
            height = round(floors * 2.8 + float(rng.uniform(1.5, 2.8)), 1)
            gap = rng.uniform(8, 16)
            rec = (t, cur, cur + length, setback, depth, n, floors, height, year,
                   "Résidentiel", usage2, 0)
        elif t == T_COLL:
            if odd_row:
                return
            tower = rng.random() < 0.3
            length = 22.0 if tower else rng.uniform(40, 90)
            depth = 22.0 if tower else 12.0
            if cur + length > ub:
                length = ub - cur
                if length < 30 or tower:
                    return
            floors = int(rng.integers(10, 16)) if tower else int(rng.integers(4, 11))
            n = max(4, int(floors * length * depth * 0.8 / 66))
            year = int(rng.integers(1958, 1979))
            height = round(floors * 2.8 + 1.5, 1)
            gap = rng.uniform(20, 40)
            rec = (t, cur, cur + length, 10.0, depth, n, floors, height, year,
                   "Résidentiel", usage2, 0)
        elif rng.random() < 0.06:  # T_ACT: a caretaker's or an old farm house
            length, depth = rng.uniform(9, 12), 9.5
            if cur + length > ub:
                return
            rec = (t, cur, cur + length, 8.0, depth, 1, 2, 7.5, rng.integers(1920, 1990),
                   "Résidentiel", usage2, 0)
            gap = rng.uniform(10, 20)
        else:  # T_ACT
            length = rng.uniform(30, 120)
            if cur + length > ub:
                length = ub - cur
                if length < 20:
                    return
            depth = rng.uniform(18, 32)
            height = round(rng.uniform(7, 12), 1)
            usage1 = "Industriel" if rng.random() < 0.5 else "Commercial et services"
            rec = (t, cur, cur + length, 8.0, depth, 0, 1, height, int(rng.integers(1965, 2016)),
                   usage1, usage2, 0)
            gap = rng.uniform(15, 30)
        out.append((*base, *rec))
        cur = rec[2] + gap


HH_SIZE, VACANCY = 2.30, 0.075  # planning values for the dwellings each commune needs


def dwelling_targets(terr: Territory, qpv: gpd.GeoDataFrame
                     ) -> tuple[np.ndarray, dict[tuple[int, int], float]]:
    """Dwellings needed per commune, and per (QPV, commune) part of a QPV."""
    com = terr.communes
    d_com = (com["pop2020"] / HH_SIZE / (1 - VACANCY - 0.006)).to_numpy()
    d_qpv: dict[tuple[int, int], float] = {}
    for qi, r in qpv.iterrows():
        par = QPV_PARAMS[r.code_qp]
        parts = {ci: r.geometry.intersection(g).area for ci, g in enumerate(com.geometry)}
        total = sum(parts.values())
        for ci, a in parts.items():
            if a > 1e3:
                pop = par["pop"] * a / total
                d_qpv[(int(qi), ci)] = pop / 2.45 / (1 - par["vac"])
    return d_com, d_qpv


def urban_radii(terr: Territory, qpv: gpd.GeoDataFrame, frames: list[Frame]) -> np.ndarray:
    """Radius around each town centre inside which detached houses may be built (metres)."""
    com = terr.communes
    d_com, d_qpv = dwelling_targets(terr, qpv)
    qpv_union = shapely.union_all(qpv.geometry.to_numpy())
    cites = shapely.union_all(terr.cites.geometry.to_numpy())
    out = np.zeros(len(com))
    for fr in frames:
        g = com.geometry.iloc[fr.idx]
        centre = shapely.Point(fr.x0, fr.y0)
        a1, _, a2, _ = fr.harm
        stretch = 1 + 0.5 * (a1 + a2)
        need = d_com[fr.idx] - sum(v for (q, c), v in d_qpv.items() if c == fr.idx)
        free = g.difference(qpv_union)
        cite_cap = free.intersection(cites).area / 1e4 * 20
        core = free.intersection(centre.buffer(fr.r_core)).difference(cites)
        need -= cite_cap + core.area / 1e4 * 30
        area_needed = max(need, 0.0) / 8.0 * 1e4 * 1.7
        free_pav = free.difference(cites)
        r = fr.r_core
        while r < 8000:
            if free_pav.intersection(centre.buffer(r / stretch, quad_segs=8)).difference(
                    core).area >= area_needed:
                break
            r += 100
        out[fr.idx] = r
    return out


def layout_buildings(terr: Territory, qpv: gpd.GeoDataFrame, frames: list[Frame],
                     acts: gpd.GeoDataFrame, grid: Grid) -> pd.DataFrame:
    """Candidate buildings of every commune (one row each, local coordinates)."""
    rng = FastRand(rng_for("layout"))
    com = terr.communes
    qkind = qpv["kind"].to_numpy()
    out: list[tuple[Any, ...]] = []
    r_urban = urban_radii(terr, qpv, frames)
    pop2020 = com["pop2020"].to_numpy(dtype=float)
    for fr in frames:
        p_flats = 0.08 * min(1.0, pop2020[fr.idx] / 15000)
        g = com.geometry.iloc[fr.idx]
        ring = np.asarray(shapely.get_coordinates(g))
        u, v = fr.to_local(ring[:, 0], ring[:, 1])
        k0, k1 = math.floor((v.min() - fr.v_off) / ROW_SPACING), \
            math.ceil((v.max() - fr.v_off) / ROW_SPACING)
        uu = np.arange(u.min(), u.max(), PROBE_STEP)
        for k in range(k0, k1 + 1):
            vk = fr.v_off + k * ROW_SPACING
            for side in (-1, 1):
                vp = np.full_like(uu, vk + side * 14.0)
                x, y = fr.to_world(uu, vp)
                cidx = grid.at("commune", x, y)
                inside = cidx == fr.idx
                if not inside.any():
                    continue
                qi = grid.at("qpv", x, y)
                ci = grid.at("cite", x, y)
                ai = grid.at("act", x, y)
                co = grid.at("coll", x, y)
                dist = fr.eff_dist(x, y)
                t = np.full(uu.shape, T_PAV)
                t[dist < fr.r_core] = T_CENTRE
                far = dist > r_urban[fr.idx]
                t[ci > 0] = T_CITE
                t[ai >= 0] = T_ACT
                inq = qi >= 0
                t[inq] = T_CITE
                t[inq & (co > 0)] = T_COLL
                pos = np.mod(uu - fr.u_off, CROSS_SPACING)
                ok = inside & (pos > 10) & (pos < CROSS_SPACING - 10) & ~((t == T_PAV) & far)
                # runs of identical (ok, type, qpv, moderne)
                key = np.where(ok, t * 1000 + (qi + 1) * 3 + np.where(ci == 2, 1, 0), -1)
                change = np.flatnonzero(np.diff(key) != 0) + 1
                starts = np.concatenate([[0], change])
                ends = np.concatenate([change, [len(key)]])
                for a, b in zip(starts, ends, strict=True):
                    if key[a] < 0 or b - a < 2:
                        continue
                    tt = int(t[a])
                    if tt == T_CITE and qi[a] >= 0 and qkind[qi[a]] == "collectif":
                        tt = T_COLL
                    _layout_run(tt, float(uu[a]) - 3, float(uu[b - 1]) + 3, rng,
                                moderne=bool(ci[a] == 2 and qi[a] < 0), odd_row=bool(k % 2),
                                out=out, base=(fr.idx, int(qi[a]), k, side),
                                p_flats=p_flats)
    cols = ["commune", "qpv", "row", "side", "btype", "u0", "u1", "setback", "depth", "n_dw",
            "floors", "height", "year", "usage1", "usage2", "moderne"]
    cand = pd.DataFrame(out, columns=cols)
    log(f"{len(cand)} candidate buildings laid out")
    return cand


def select_buildings(terr: Territory, qpv: gpd.GeoDataFrame, frames: list[Frame],
                     cand: pd.DataFrame) -> pd.DataFrame:
    """Keep the candidates each commune and QPV part needs; add annexes; world geometry."""
    rng = rng_for("select")
    d_com, d_qpv = dwelling_targets(terr, qpv)
    cand = cand.copy()
    # building centre in world coordinates
    cx = np.empty(len(cand))
    cy = np.empty(len(cand))
    vmid = cand["row"] * ROW_SPACING + cand["side"] * (cand["setback"] + cand["depth"] / 2)
    for fr in frames:
        m = (cand["commune"] == fr.idx).to_numpy()
        u = ((cand["u0"] + cand["u1"]) / 2).to_numpy()[m]
        v = vmid.to_numpy()[m] + fr.v_off
        cx[m], cy[m] = fr.to_world(u, v)
    cand["cx"], cand["cy"] = cx, cy
    keep = np.zeros(len(cand), dtype=bool)
    act = (cand["btype"] == T_ACT).to_numpy()
    keep |= act
    remaining = d_com.copy()
    # QPV parts: most compact set of buildings around the part's centre
    for (qi, ci), need in d_qpv.items():
        m = ((cand["qpv"] == qi) & (cand["commune"] == ci) & ~act).to_numpy()
        idx = np.flatnonzero(m)
        if not len(idx):
            continue
        part = qpv.geometry.iloc[qi].intersection(terr.communes.geometry.iloc[ci])
        c = part.point_on_surface()
        d = np.hypot(cx[idx] - c.x, cy[idx] - c.y) + rng.uniform(0, 40, len(idx))
        idx = idx[np.argsort(d, kind="stable")]
        cum = np.cumsum(cand["n_dw"].to_numpy()[idx])
        n = int(np.searchsorted(cum, need)) + 1
        keep[idx[:n]] = True
        remaining[ci] -= cum[min(n, len(cum)) - 1]
    # the rest of each commune: mining estates first (they are real), then centre outwards
    for fr in frames:
        m = ((cand["commune"] == fr.idx) & (cand["qpv"] < 0) & ~act).to_numpy()
        idx = np.flatnonzero(m)
        dist = fr.eff_dist(cx[idx], cy[idx])
        bt = cand["btype"].to_numpy()[idx]
        prio = np.where(bt == T_CITE, 0.0, 5000.0) + dist + rng.uniform(0, 120, len(idx))
        # estates never take more than 85 % of what the commune needs
        cite = idx[bt == T_CITE]
        ccum = np.cumsum(cand["n_dw"].to_numpy()[cite[np.argsort(prio[bt == T_CITE])]])
        if len(ccum) and ccum[-1] > 0.85 * remaining[fr.idx]:
            prio[bt == T_CITE] += 5000.0 * (ccum > 0.85 * remaining[fr.idx])[
                np.argsort(np.argsort(prio[bt == T_CITE]))]
        idx = idx[np.argsort(prio, kind="stable")]
        cum = np.cumsum(cand["n_dw"].to_numpy()[idx])
        n = int(np.searchsorted(cum, max(remaining[fr.idx], 0))) + 1
        keep[idx[:n]] = True
    sel = cand[keep].reset_index(drop=True)
    # garages and sheds behind some detached houses
    pav = sel[sel["btype"] == T_PAV]
    pav = pav[rng.random(len(pav)) < 0.06].copy()
    ann = pav.assign(
        u0=pav["u0"] + 1.0, u1=pav["u0"] + 6.5, setback=pav["setback"] + pav["depth"] + 4.0,
        depth=5.0, n_dw=0, floors=1, height=3.0, usage1="Annexe", usage2="",
        year=pav["year"])
    ann["cx"] = np.nan
    sel = pd.concat([sel, ann], ignore_index=True)
    sel = sel.sort_values(["commune", "row", "side", "u0"], kind="stable").reset_index(drop=True)
    return sel


def building_geometries(sel: pd.DataFrame, frames: list[Frame]) -> np.ndarray:
    polys = np.empty(len(sel), dtype=object)
    for fr in frames:
        m = (sel["commune"] == fr.idx).to_numpy()
        if not m.any():
            continue
        s = sel[m]
        vk = fr.v_off + s["row"].to_numpy() * ROW_SPACING
        side = s["side"].to_numpy()
        vn = vk + side * s["setback"].to_numpy()
        vf = vn + side * s["depth"].to_numpy()
        u0, u1 = s["u0"].to_numpy(), s["u1"].to_numpy()
        us = np.stack([u0, u1, u1, u0, u0], axis=1)
        vs = np.stack([vn, vn, vf, vf, vn], axis=1)
        x, y = fr.to_world(us, vs)
        coords = np.stack([np.round(x, 2), np.round(y, 2)], axis=2)
        polys[m] = shapely.polygons(coords)
    # orient exterior rings counter-clockwise, as GIS expect
    return np.asarray(shapely.orient_polygons(polys), dtype=object) \
        if hasattr(shapely, "orient_polygons") else polys


def finish_buildings(terr: Territory, qpv: gpd.GeoDataFrame, sel: pd.DataFrame,
                     frames: list[Frame]) -> gpd.GeoDataFrame:
    """World geometry, exact commune and QPV membership, condition, recent rebuilds."""
    rng = rng_for("buildings")
    geoms = building_geometries(sel, frames)
    b = gpd.GeoDataFrame(sel.drop(columns=["cx", "cy"]), geometry=geoms, crs=L93)
    # keep buildings wholly inside their commune
    inside = np.zeros(len(b), dtype=bool)
    for ci, g in enumerate(terr.communes.geometry):
        m = (b["commune"] == ci).to_numpy()
        shapely.prepare(g)
        inside[m] = shapely.within(b.geometry.to_numpy()[m], g)
    b = b[inside].reset_index(drop=True)
    cen = shapely.centroid(b.geometry.to_numpy())
    tree = shapely.STRtree(qpv.geometry.to_numpy())
    pi, qi = tree.query(cen, predicate="within")
    q = np.full(len(b), -1)
    q[pi] = qi
    b["qpv"] = q
    b["x"], b["y"] = shapely.get_x(cen), shapely.get_y(cen)
    # Rebuilt or new buildings in QPV (NPNRU, new social housing after 2001).
    recent = np.zeros(len(b), dtype=bool)
    for i, code in enumerate(qpv["code_qp"]):
        m = (b["qpv"] == i).to_numpy() & (b["n_dw"] > 0).to_numpy()
        recent |= m & (rng.random(len(b)) < QPV_PARAMS[code]["recent"])
    b.loc[recent, "year"] = rng.integers(2002, 2020, int(recent.sum()))
    # Condition of the building (0 good – 1 bad): drives DPE, heat loss and PLH classes.
    year = b["year"].to_numpy()
    bt = b["btype"].to_numpy()
    base = np.select(
        [year >= 2002, bt == T_COLL, bt == T_CITE, bt == T_CENTRE, bt == T_ACT],
        [0.12, 0.55, 0.62, 0.50, 0.40], default=0.45 - (year - 1950) / 160)
    renovated = (bt == T_CITE) & (year < 2002) & (rng.random(len(b)) < 0.35)
    tp = np.array([QPV_PARAMS[c]["tp60"][1] for c in qpv["code_qp"]])
    in_q = b["qpv"].to_numpy() >= 0
    qbonus = np.where(in_q, 0.08 + (tp[np.maximum(b["qpv"].to_numpy(), 0)] - 60) / 60, 0.0)
    cond = base + qbonus - 0.35 * renovated + rng.normal(0, 0.12, len(b))
    b["condition"] = np.clip(cond, 0, 1).round(3)
    b["renovated"] = renovated
    return b


# ---------------------------------------------------------------------------------------------
# IRIS: each commune of 5,000 inhabitants or more cut into units of about 2,000 inhabitants
# by recursive bisection along its streets (so no building straddles two IRIS); activity
# zones of the largest towns become IRIS of type A; smaller communes are one IRIS of type Z.
# ---------------------------------------------------------------------------------------------
A_IRIS_COMMUNES = ("62498", "62510", "62842")  # Lens, Liévin, Vendin-le-Vieil
COMPASS = ["Est", "Nord-Est", "Nord", "Nord-Ouest", "Ouest", "Sud-Ouest", "Sud", "Sud-Est"]


def _halfplane(fr: Frame, axis: str, cut: float, below: bool) -> Any:
    big = 1e5
    if axis == "v":
        u = np.array([-big, big, big, -big])
        v = np.array([-big, -big, cut, cut]) if below else np.array([cut, cut, big, big])
    else:
        v = np.array([-big, -big, big, big])
        u = np.array([-big, cut, cut, -big]) if below else np.array([cut, big, big, cut])
    x, y = fr.to_world(u, v)
    return shapely.Polygon(np.column_stack([x, y]))


def _bisect(fr: Frame, geom: Any, idx: np.ndarray, u: np.ndarray, v: np.ndarray,
            w: np.ndarray, n: int) -> list[tuple[Any, np.ndarray]]:
    n = min(n, max(1, int((w[idx] > 0).sum())))
    if n <= 1:
        return [(geom, idx)]
    n1 = n // 2
    f = n1 / n
    best: tuple[float, str, float] | None = None
    for axis, coord, step, off in (("v", v, ROW_SPACING, fr.v_off),
                                   ("u", u, CROSS_SPACING, fr.u_off)):
        c = coord[idx]
        order = np.argsort(c, kind="stable")
        cw = np.cumsum(w[idx][order])
        q = c[order][min(int(np.searchsorted(cw, f * cw[-1])), len(c) - 1)]
        for line in (off + math.floor((q - off) / step) * step,
                     off + math.ceil((q - off) / step) * step):
            share = w[idx][c < line].sum() / w[idx].sum()
            # prefer cuts across the longest extent
            spread = np.ptp(c)
            score = abs(share - f) - 1e-6 * spread
            if 0 < share < 1 and (best is None or score < best[0]):
                best = (score, axis, line)
    if best is None:
        return [(geom, idx)]
    _, axis, line = best
    coord = v if axis == "v" else u
    low = idx[coord[idx] < line]
    high = idx[coord[idx] >= line]
    g_low = _polygonal(geom.intersection(_halfplane(fr, axis, line, True)))
    g_high = _polygonal(geom.intersection(_halfplane(fr, axis, line, False)))
    return (_bisect(fr, g_low, low, u, v, w, n1) + _bisect(fr, g_high, high, u, v, w, n - n1))


def build_iris(terr: Territory, qpv: gpd.GeoDataFrame, frames: list[Frame],
               acts: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    com = terr.communes
    iris_of = np.full(len(b), -1)
    rows = []
    cites = terr.cites
    for fr in frames:
        r = com.iloc[fr.idx]
        bidx = np.flatnonzero((b["commune"] == fr.idx).to_numpy())
        units: list[tuple[Any, np.ndarray, str]] = []
        if r.pop2020 < 5000:
            units.append((r.geometry, bidx, "Z"))
        else:
            n = max(2, round(r.pop2020 / 2000))
            geom = r.geometry
            if r.insee_com in A_IRIS_COMMUNES and (acts["insee_com"] == r.insee_com).any():
                zone = acts.loc[acts["insee_com"] == r.insee_com].geometry.iloc[0]
                inz = shapely.within(shapely.points(b["x"].to_numpy()[bidx],
                                                    b["y"].to_numpy()[bidx]), zone)
                units.append((zone, bidx[inz], "A"))
                bidx = bidx[~inz]
                geom = _polygonal(geom.difference(zone))
                n -= 1
            u, v = fr.to_local(b["x"].to_numpy(), b["y"].to_numpy())
            w = b["n_dw"].to_numpy().astype(float)
            for g, idx in _bisect(fr, geom, bidx, u, v, w, n):
                units.append((g, idx, "H"))
        # codes in reading order (north to south, west to east)
        cents = [shapely.point_on_surface(g) for g, _, _ in units]
        order = sorted(range(len(units)), key=lambda i: (-round(cents[i].y, -2), cents[i].x))
        names_used: dict[str, int] = {}
        for rank, i in enumerate(order):
            g, idx, typ = units[i]
            if typ == "Z":
                code, name = r.insee_com + "0000", r.nom_com
            else:
                code = r.insee_com + f"{rank // 4 + 1:02d}{rank % 4 + 1:02d}"
                name = _iris_name(g, idx, typ, b, qpv, cites, fr)
                names_used[name] = names_used.get(name, 0) + 1
                if names_used[name] > 1:
                    name = f"{name} {names_used[name]}"
            iris_of[idx] = len(rows)
            rows.append({"CODE_IRIS": code, "NOM_IRIS": name, "INSEE_COM": r.insee_com,
                         "NOM_COM": r.nom_com, "IRIS": code[5:], "TYP_IRIS": typ,
                         "geometry": g})
    iris = gpd.GeoDataFrame(rows, geometry="geometry", crs=L93)
    return iris, iris_of


def _iris_name(g: Any, idx: np.ndarray, typ: str, b: gpd.GeoDataFrame, qpv: gpd.GeoDataFrame,
               cites: gpd.GeoDataFrame, fr: Frame) -> str:
    if typ == "A":
        return "Zone d'activités"
    dw = b["n_dw"].to_numpy()[idx]
    q = b["qpv"].to_numpy()[idx]
    if dw.sum() > 0:
        share = pd.Series(dw).groupby(q).sum() / dw.sum()
        share = share[share.index >= 0]
        if len(share) and share.max() > 0.5:
            return str(qpv["lib_qp"].iloc[int(share.idxmax())]).split(" - ")[0]
    hit = cites[cites.intersects(g)]
    if len(hit):
        inter = hit.geometry.intersection(g).area
        if inter.max() > 0.15 * g.area or inter.max() > 2e5:
            return str(hit["nom"].loc[inter.idxmax()]).split(" (")[0]
    if g.contains(shapely.Point(fr.x0, fr.y0)):
        return "Centre"
    p = shapely.point_on_surface(g)
    ang = math.degrees(math.atan2(p.y - fr.y0, p.x - fr.x0)) % 360
    return COMPASS[int(((ang + 22.5) % 360) // 45)]


# ---------------------------------------------------------------------------------------------
# Dwellings (year-independent) and the synthetic census of 2015 and 2020
# ---------------------------------------------------------------------------------------------
Z_CITE, Z_CENTRE, Z_PAV, Z_COLL = 0, 1, 2, 3  # non-QPV zones; QPV households use 10 + index


def build_dwellings(qpv: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> pd.DataFrame:
    rng = rng_for("dwellings")
    res = b[b["n_dw"] > 0]
    bi = np.repeat(res.index.to_numpy(), res["n_dw"].to_numpy())
    d = pd.DataFrame({"building": bi})
    for col in ("commune", "qpv", "iris", "btype", "year", "condition", "floors"):
        d[col] = b[col].to_numpy()[bi]
    bt = d["btype"].to_numpy()
    n_dw = b["n_dw"].to_numpy()[bi]
    small = (bt == T_CENTRE) & (n_dw <= 3)
    d["maison"] = (bt == T_CITE) | (bt == T_PAV) | small | (bt == T_ACT)
    zone = np.select([bt == T_CITE, small, (bt == T_PAV) | (bt == T_ACT)],
                     [Z_CITE, Z_CENTRE, Z_PAV], Z_COLL)
    q = d["qpv"].to_numpy()
    d["zone"] = np.where(q >= 0, 10 + q, zone)
    # rooms
    u = rng.random(len(d))
    cum = {"cite": [0, 0.03, 0.25, 0.70, 0.95], "pav": [0, 0.01, 0.10, 0.42, 0.78],
           "centre": [0, 0.03, 0.14, 0.40, 0.74], "coll": [0.08, 0.30, 0.66, 0.92, 0.99]}
    rooms = np.zeros(len(d), dtype=int)
    for key, mask in (("cite", bt == T_CITE), ("pav", (bt == T_PAV) | (bt == T_ACT)),
                      ("centre", small),
                      ("coll", ~((bt == T_CITE) | (bt == T_PAV) | (bt == T_ACT) | small))):
        rooms[mask] = 1 + np.searchsorted(np.array(cum[key]), u[mask], side="right")
    big = q == int(np.flatnonzero(qpv["code_qp"] == "QN06226M")[0])  # Cité 2: large houses
    rooms[big] = np.maximum(rooms[big], rng.choice([4, 5, 5, 6], big.sum()))
    d["rooms"] = np.clip(rooms, 1, 6)
    d["surface"] = np.round(d["rooms"] * rng.uniform(15, 21, len(d)) + rng.uniform(5, 15, len(d)))
    # social (RPLS) dwellings
    recent_q = (q >= 0) & (d["year"].to_numpy() >= 2002)
    p_soc = np.select(
        [recent_q, (q >= 0) & (bt == T_COLL), q >= 0, bt == T_CITE, bt == T_COLL, small],
        [0.90, 0.95, 0.74, 0.86, 0.70, 0.13], default=0.11)
    d["social"] = rng.random(len(d)) < p_soc
    d["iris"] = d["iris"].astype(int)
    return d


@dataclass
class Census:
    year: int
    dw: pd.DataFrame      # every dwelling existing that year: status RP / RS / LV, weight
    hh: pd.DataFrame      # one row per household (main residence)
    pp: pd.DataFrame      # one row per person


SIZE_P = {  # household size 1..7 by zone
    Z_CITE: [0.33, 0.37, 0.13, 0.10, 0.045, 0.017, 0.008],
    Z_CENTRE: [0.42, 0.30, 0.12, 0.10, 0.04, 0.015, 0.005],
    Z_PAV: [0.20, 0.40, 0.17, 0.15, 0.06, 0.015, 0.005],
    Z_COLL: [0.48, 0.27, 0.11, 0.08, 0.04, 0.015, 0.005],
    "qpv": [0.38, 0.27, 0.14, 0.10, 0.06, 0.035, 0.015],
}


def _sample_sizes(zone: np.ndarray, qpv: gpd.GeoDataFrame, rng: np.random.Generator
                  ) -> np.ndarray:
    u = rng.random(len(zone))
    out = np.zeros(len(zone), dtype=np.int64)
    ks = np.arange(1, 8)
    for z in np.unique(zone):
        m = zone == z
        if z >= 10:
            y = QPV_PARAMS[qpv["code_qp"].iloc[z - 10]]["young"]
            p = np.array(SIZE_P["qpv"]) * np.exp(0.15 * y * (ks - 2.5))
        else:
            p = np.array(SIZE_P[int(z)])
        cp = np.cumsum(p / p.sum())
        out[m] = 1 + np.searchsorted(cp, u[m], side="right")
    return np.minimum(out, 7)


def _fit_sizes(sizes: np.ndarray, cell: np.ndarray, targets: dict[int, int],
               rng: np.random.Generator) -> np.ndarray:
    """Add or remove persons so that each cell holds exactly its target population."""
    sizes = sizes.copy()
    for c, target in targets.items():
        idx = np.flatnonzero(cell == c)
        if not len(idx):
            continue
        diff = int(target - sizes[idx].sum())
        while diff > 0:
            pick = rng.choice(idx, size=diff, replace=True)
            np.add.at(sizes, pick, 1)
            diff = int(target - sizes[idx].sum())
        while diff < 0:
            cand = idx[sizes[idx] > 1]
            if not len(cand):
                break
            pick = rng.choice(cand, size=min(-diff, len(cand)), replace=False)
            sizes[pick] -= 1
            diff = int(target - sizes[idx].sum())
    return sizes


def _zone_value(zone: np.ndarray, qvals: np.ndarray, nonq: dict[int, float]) -> np.ndarray:
    out = np.zeros(len(zone))
    q = zone >= 10
    out[q] = qvals[zone[q] - 10]
    for z, val in nonq.items():
        out[zone == z] = val
    return out


def simulate_census(year: int, terr: Territory, qpv: gpd.GeoDataFrame, dws: pd.DataFrame,
                    cell_targets: dict[int, int], cell_of: np.ndarray) -> Census:
    """Households and persons of one census year (2015 or 2020).

    ``cell_of`` gives each dwelling a population cell (commune for 2020, commune x QPV for
    2015) whose total is ``cell_targets``.
    """
    rng = rng_for(f"census{year}")
    vi = 0 if year == 2015 else 1
    exists = dws["year"].to_numpy() <= year - 2
    dw = dws[exists].copy()
    cell_of = cell_of[exists]
    zone = dw["zone"].to_numpy()
    n = len(dw)
    # -- occupancy: vacant, secondary, main residence
    qvac = np.array([QPV_PARAMS[c]["vac"] for c in qpv["code_qp"]])
    vac = _zone_value(zone, qvac, {Z_CITE: 0.07, Z_CENTRE: 0.095, Z_PAV: 0.045, Z_COLL: 0.085})
    if year == 2015:
        vac = vac * 0.85
    vac = np.clip(vac * (0.7 + 0.6 * dw["condition"].to_numpy()), 0, 0.6)
    u = rng.random(n)
    status = np.where(u < vac, "LV", np.where((u < vac + 0.005) & (zone < 10), "RS", "RP"))
    dw["status"] = status
    rp = np.flatnonzero(status == "RP")
    # -- households
    sizes = _sample_sizes(zone[rp], qpv, rng)
    sizes = _fit_sizes(sizes, cell_of[rp], cell_targets, rng)
    hh = pd.DataFrame({"dw": dw.index.to_numpy()[rp], "size": sizes})
    for col in ("commune", "qpv", "iris", "zone", "rooms", "maison", "social", "year",
                "building"):
        hh[col] = dw[col].to_numpy()[rp]
    H = len(hh)
    hz = hh["zone"].to_numpy()
    inq = hz >= 10
    pmono = np.where(inq, 0.27, np.where(hz == Z_PAV, 0.09, 0.14))
    u = rng.random(H)
    htype = np.where(sizes == 1, "seul",
                     np.where(u < pmono, "mono",
                              np.where(u < pmono + 0.04, "autre", "couple")))
    hh["htype"] = htype
    # -- persons
    pid_h = np.repeat(np.arange(H), sizes)
    j = np.arange(len(pid_h)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    ht = htype[pid_h]
    adult = (ht == "seul") | (ht == "autre") | ((ht == "couple") & (j < 2)) | \
        ((ht == "mono") & (j == 0))
    N = len(pid_h)
    pz = hz[pid_h]
    pinq = pz >= 10
    age = np.zeros(N)
    u1, u2 = rng.random(N), rng.random(N)
    # head of household
    seul = (ht == "seul")
    p_old = np.where(pinq, 0.25, np.select([pz == Z_PAV, pz == Z_CITE], [0.58, 0.50], 0.36))
    p_young = np.where(pinq, 0.30, np.where(pz == Z_PAV, 0.12, 0.24))
    age_seul = np.where(u1 < p_young, 20 + 15 * u2,
                        np.where(u1 < 1 - p_old, 35 + 25 * u2, 60 + 35 * u2 ** 1.3))
    has_kids = sizes[pid_h] > (np.where(ht == "couple", 2, 1))
    age_parent = np.clip(rng.normal(np.where(pinq, 43, 46), 8, N), 22, 66)
    age_couple0 = np.where(u1 < np.where(pinq, 0.3, 0.2), 22 + 13 * u2,
                           np.where(u1 < np.where(pinq, 0.7, 0.5), 35 + 25 * u2,
                                    60 + 30 * u2 ** 1.2))
    head_age = np.where(seul, age_seul,
                        np.where(ht == "autre", 18 + 50 * u2,
                                 np.where(has_kids, age_parent, age_couple0)))
    # one head age per household, from its first person
    first = np.cumsum(sizes) - sizes
    hage = head_age[first]
    ha = hage[pid_h]
    partner = (ht == "couple") & (j == 1)
    child = ~adult
    age = np.where(j == 0, ha, 0.0)
    age = np.where(partner, np.clip(ha + rng.normal(-2, 3, N), 18, 99), age)
    age = np.where((ht == "autre") & (j > 0), np.clip(ha + rng.normal(0, 15, N), 18, 90), age)
    kid_max = np.clip(ha - 20, 1, 31)
    age = np.where(child, rng.random(N) * kid_max, age)
    age = np.floor(age).astype(int)
    sex = np.where((ht == "couple") & (j == 0), "H",
                   np.where(partner, "F",
                            np.where((ht == "mono") & (j == 0),
                                     np.where(rng.random(N) < 0.85, "F", "H"),
                                     np.where(seul & (age >= 60),
                                              np.where(rng.random(N) < 0.68, "F", "H"),
                                              np.where(rng.random(N) < 0.5, "F", "H")))))
    # -- activity
    u = rng.random(N)
    p_stud = np.select([age < 15, age < 18, age < 25, age < 30], [1, 0.95,
                       np.where(pinq, 0.35, 0.48), 0.05], 0.0)
    student = u < p_stud
    p_ret = np.select([age >= 65, age >= 60, age >= 55], [1.0, 0.62, 0.10], 0.0)
    retired = ~student & (rng.random(N) < p_ret)
    # -- diploma (15+, not in school): 0 none/CEP, 1 BEPC, 2 CAP-BEP, 3 BAC, 4 SUP2,
    #    5 SUP34, 6 SUP5
    dep = _deprivation(pz, qpv, vi)
    base_young = np.array([0.14, 0.05, 0.30, 0.23, 0.13, 0.09, 0.06])
    base_old = np.array([0.47, 0.08, 0.26, 0.08, 0.05, 0.04, 0.02])
    wold = np.clip((age - 30) / 45, 0, 1)[:, None]
    pmat = base_young[None, :] * (1 - wold) + base_old[None, :] * wold
    if year == 2015:
        pmat = pmat * np.exp(-0.08 * (np.arange(7) - 2.5))[None, :]
    pmat = pmat * np.exp(-0.85 * dep[:, None] * (np.arange(7)[None, :] - 2.5) / 3)
    pmat /= pmat.sum(axis=1, keepdims=True)
    dipl = (rng.random(N)[:, None] > np.cumsum(pmat, axis=1)).sum(axis=1)
    dipl = np.minimum(dipl, 6)
    dipl = np.where((age < 15) | student, -1, dipl)
    # -- employment: calibrated per group (each QPV, and the rest) on the target rates
    avail = (age >= 15) & (age <= 64) & ~student & ~retired
    in1564 = (age >= 15) & (age <= 64)
    employed = np.zeros(N, dtype=bool)
    qemp = np.array([QPV_PARAMS[c]["emp"][vi] for c in qpv["code_qp"]]) / 100
    com_in_call = terr.communes["in_call"].to_numpy()[hh["commune"].to_numpy()[pid_h]]
    score0 = 0.9 * (np.maximum(dipl, 0) - 2.5) / 3
    for qi in range(len(qpv)):
        m = pz == 10 + qi
        employed |= _calibrated(m & avail, qemp[qi] * (m & in1564).sum(), score0, rng)
    # the rest: so that the CALL as a whole meets its rate
    call_n = (in1564 & com_in_call).sum()
    have = (employed & com_in_call).sum()
    rest = ~pinq & avail
    rest_target = CALL_EMP[year] / 100 * call_n - have
    rest_target *= (rest.sum() / max((rest & com_in_call).sum(), 1))
    zbonus = np.select([pz == Z_PAV, pz == Z_CITE], [0.35, -0.2], 0.0)
    employed |= _calibrated(rest, rest_target, score0 + zbonus, rng)
    unemployed = avail & ~employed & (rng.random(N) < np.where(pinq, 0.58, 0.52))
    status_p = np.select([age < 15, student, retired, employed, unemployed],
                         ["enfant", "etudiant", "retraite", "occupe", "chomeur"], "inactif")
    # -- socio-professional group (PCS 1-8) for 15+
    u = rng.random(N)
    d_ = np.maximum(dipl, 0)
    cs = np.select(
        [age < 15, retired | (age >= 65) & ~employed, ~(employed | unemployed),
         (u < 0.004) & (pz == Z_PAV), u < 0.06,
         (d_ >= 6) & (u < 0.75) | (d_ == 5) & (u < 0.35),
         (d_ >= 4) & (u < 0.8) | (d_ == 3) & (u < 0.3),
         (d_ >= 3) & (u < 0.75) | (u < 0.42)],
        [0, 7, 8, 1, 2, 3, 4, 5], 6)
    pp = pd.DataFrame({"hh": pid_h, "age": age, "sex": sex, "status": status_p, "dipl": dipl,
                       "cs": cs, "adult": adult})
    for col in ("commune", "qpv", "iris", "zone"):
        pp[col] = hh[col].to_numpy()[pid_h]
    pp["etr"] = rng.random(N) < np.where(pinq, 0.055, 0.022)
    pp["imm"] = pp["etr"] | (rng.random(N) < np.where(pinq, 0.035, 0.02))
    # -- household composition
    hh["n_emp"] = np.bincount(pid_h, employed, minlength=H).astype(int)
    hh["n_unemp"] = np.bincount(pid_h, status_p == "chomeur", minlength=H).astype(int)
    hh["n_ret"] = np.bincount(pid_h, status_p == "retraite", minlength=H).astype(int)
    hh["n_adult"] = np.bincount(pid_h, adult, minlength=H).astype(int)
    hh["n_u14"] = np.bincount(pid_h, age < 14, minlength=H).astype(int)
    hh["n_child"] = np.bincount(pid_h, child, minlength=H).astype(int)
    hh["n_kid25"] = np.bincount(pid_h, child & (age < 25), minlength=H).astype(int)
    hh["selfemp"] = np.bincount(pid_h, employed & (cs == 2), minlength=H).astype(int)
    hh["sup"] = np.bincount(pid_h, dipl >= 4, minlength=H).astype(int)
    hh["head_age"] = hage
    hh["head_sex"] = sex[first]
    hh["head_cs"] = cs[first]
    hh["uc"] = 1 + 0.5 * (hh["size"] - 1 - hh["n_u14"]) + 0.3 * hh["n_u14"]
    # -- tenure
    u = rng.random(H)
    qgrat = np.array([QPV_PARAMS[c]["grat"] for c in qpv["code_qp"]])
    grat = _zone_value(hz, qgrat, {Z_CITE: 0.024, Z_CENTRE: 0.024, Z_PAV: 0.02, Z_COLL: 0.02})
    p_own = np.select([hz == Z_PAV, hz == Z_CENTRE, hz == Z_CITE, hz == Z_COLL],
                      [0.86, 0.58, 0.55, 0.18], 0.20)
    soc = hh["social"].to_numpy()
    tenure = np.where(u < grat, "GRAT",
                      np.where(soc, "HLM", np.where(u < grat + p_own * (1 - grat), "PROP",
                                                    "LOCPRIV")))
    hh["tenure"] = tenure
    # -- income per consumption unit (euros per year)
    hh["income_uc"] = _incomes(year, terr, qpv, hh, rng)
    # -- weights: P (all) and C (quarter sample), summing to each commune's population
    w = np.exp(rng.normal(0, 0.05, H))
    pcom = hh["commune"].to_numpy()
    pop_c = np.bincount(pcom, sizes, minlength=len(terr.communes))
    wp = np.bincount(pcom, w * sizes, minlength=len(terr.communes))
    w = w * pop_c[pcom] / np.where(wp[pcom] > 0, wp[pcom], 1)
    hh["w"] = w
    csample = rng.random(H) < 0.25
    ws = np.bincount(pcom, w * csample, minlength=len(terr.communes))
    wa = np.bincount(pcom, w, minlength=len(terr.communes))
    hh["wc"] = np.where(csample, w * wa[pcom] / np.where(ws[pcom] > 0, ws[pcom], 1), 0.0)
    pp["w"] = w[pid_h]
    pp["wc"] = hh["wc"].to_numpy()[pid_h]
    # vacant and secondary dwellings get the mean weight of their commune
    mean_w = wa / np.maximum(np.bincount(pcom, minlength=len(terr.communes)), 1)
    dw["w"] = mean_w[dw["commune"].to_numpy()]
    dw.loc[dw.index[rp], "w"] = w
    dw["wc"] = 0.0
    dw.loc[dw.index[rp], "wc"] = hh["wc"].to_numpy()
    return Census(year, dw, hh, pp)


def _deprivation(zone: np.ndarray, qpv: gpd.GeoDataFrame, vi: int) -> np.ndarray:
    """0 for an average CALL area, about 1 for the poorest QPV."""
    qt = np.array([QPV_PARAMS[c]["tp60"][vi] for c in qpv["code_qp"]])
    return _zone_value(zone, (qt - 36) / 30, {Z_CITE: 0.2, Z_CENTRE: 0.05, Z_PAV: -0.35,
                                              Z_COLL: 0.25})


def _calibrated(mask: np.ndarray, target: float, score: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """Draw ``target`` (expected) successes among ``mask``, likelier where ``score`` is high."""
    idx = np.flatnonzero(mask)
    out = np.zeros(len(mask), dtype=bool)
    if not len(idx) or target <= 0:
        return out
    target = min(target, 0.98 * len(idx))
    s = score[idx]
    lo, hi = -10.0, 10.0
    for _ in range(40):
        a = (lo + hi) / 2
        if (1 / (1 + np.exp(-(a + s)))).sum() < target:
            lo = a
        else:
            hi = a
    p = 1 / (1 + np.exp(-(lo + s)))
    out[idx] = rng.random(len(idx)) < p
    return out


def _incomes(year: int, terr: Territory, qpv: gpd.GeoDataFrame, hh: pd.DataFrame,
             rng: np.random.Generator) -> np.ndarray:
    """Disposable income per consumption unit, calibrated on medians and poverty rates."""
    vi = 0 if year == 2015 else 1
    thr = POVERTY_LINE[year]
    H = len(hh)
    z = hh["zone"].to_numpy()
    com_eff = rng_for("commune_income").normal(0, 0.08, len(terr.communes))
    lny = (0.55 * hh["n_emp"] / np.maximum(hh["n_adult"], 1) - 0.25 * (hh["n_unemp"] > 0)
           + 0.12 * (hh["sup"] > 0) + 0.10 * (hh["n_ret"] > 0)
           + np.select([z == Z_PAV, z == Z_CITE, z == Z_COLL], [0.18, -0.08, -0.05], 0.0)
           + com_eff[hh["commune"].to_numpy()]).to_numpy() + rng.normal(0, 0.42, H)
    size = hh["size"].to_numpy()
    y = np.zeros(H)
    for qi, code in enumerate(qpv["code_qp"]):
        m = z == 10 + qi
        if not m.any():
            continue
        p = QPV_PARAMS[code]["tp60"][vi] / 100
        med = thr * math.exp(-0.75 * ndtri(p))
        y[m] = _fit_distribution(lny[m], size[m], med, p, thr)
    # the rest: pooled so that the CALL as a whole meets its median and poverty rate
    in_call = terr.communes["in_call"].to_numpy()[hh["commune"].to_numpy()]
    q = z >= 10
    rest = ~q
    med_t, tp_t = CALL_MEDIAN[year], CALL_TP60[year] / 100
    # closed form: W_q(<=x) + W_rest(lz <= ref + ln(x/m)/k) hits the target shares at
    # x = median target (1/2) and x = poverty line (poverty rate)
    qy, qw = y[q & in_call], size[q & in_call]
    rz, rw = lny[rest & in_call], size[rest & in_call]
    total = qw.sum() + rw.sum()
    o = np.argsort(rz, kind="stable")
    rzs, rcw = rz[o], np.cumsum(rw[o])

    def rest_quantile(weight: float) -> float:
        return float(rzs[min(int(np.searchsorted(rcw, max(weight, 0.0))), len(rzs) - 1)])

    z_med = rest_quantile(total / 2 - qw[qy <= med_t].sum())
    z_thr = rest_quantile(tp_t * total - qw[qy < thr].sum())
    k = math.log(med_t / thr) / max(z_med - z_thr, 1e-6)
    k = min(max(k, 0.3), 3.0)
    ref = 0.0
    m_best = med_t * math.exp(-k * (z_med - ref))
    y[rest] = m_best * np.exp(k * (lny[rest] - ref))
    return np.round(y, 0)


def _wmedian(x: np.ndarray, w: np.ndarray) -> float:
    o = np.argsort(x, kind="stable")
    cw = np.cumsum(w[o])
    return float(x[o][np.searchsorted(cw, cw[-1] / 2)])


def _fit_distribution(lz: np.ndarray, w: np.ndarray, med: float, p: float,
                      thr: float) -> np.ndarray:
    """Monotone transform of ``lz`` giving weighted median ``med`` and share ``p`` < ``thr``."""
    ref = _wmedian(lz, w)
    d = lz - ref
    o = np.argsort(d, kind="stable")
    cw = np.cumsum(w[o]) / w.sum()
    t = d[o][min(int(np.searchsorted(cw, p)), len(d) - 1)]
    k = math.log(thr / med) / t if abs(t) > 1e-9 else 1.0
    k = min(max(k, 0.4), 3.0)
    return med * np.exp(k * d)


# ---------------------------------------------------------------------------------------------
# INSEE census tables (base-ic-*) and Filosofi IRIS
# ---------------------------------------------------------------------------------------------
def _fmt_table(df: pd.DataFrame, path: Path, *, floatfmt: str = "%.10g",
               encoding: str = "utf-8") -> None:
    df.to_csv(path, sep=";", index=False, float_format=floatfmt, encoding=encoding,
              lineterminator="\n")


def census_tables(c: Census, iris: gpd.GeoDataFrame) -> dict[str, pd.DataFrame]:
    """The five IRIS census bases of one vintage, as INSEE lays them out (CSV variant)."""
    yy = f"{c.year % 100:02d}"
    P, C = f"P{yy}_", f"C{yy}_"
    n_iris = len(iris)
    pp, hh, dw = c.pp, c.hh, c.dw
    pi, hi, di = pp["iris"].to_numpy(), hh["iris"].to_numpy(), dw["iris"].to_numpy()

    def ps(mask: np.ndarray, w: str = "w") -> np.ndarray:
        return np.bincount(pi, pp[w].to_numpy() * mask, minlength=n_iris)

    def hs(mask: np.ndarray, w: str = "w", val: np.ndarray | None = None) -> np.ndarray:
        v = hh[w].to_numpy() * mask * (1 if val is None else val)
        return np.bincount(hi, v, minlength=n_iris)

    def ds(mask: np.ndarray) -> np.ndarray:
        return np.bincount(di, dw["w"].to_numpy() * mask, minlength=n_iris)

    age = pp["age"].to_numpy()
    sex = pp["sex"].to_numpy()
    st = pp["status"].to_numpy()
    dipl = pp["dipl"].to_numpy()
    cs = pp["cs"].to_numpy()
    one = np.ones(len(pp), dtype=bool)
    H_, F_ = sex == "H", sex == "F"

    def a(lo: int, hi_: int | None = None) -> np.ndarray:
        return (age >= lo) if hi_ is None else (age >= lo) & (age <= hi_)

    geo = pd.DataFrame({"IRIS": iris["CODE_IRIS"].to_numpy(), "COM": iris["INSEE_COM"].to_numpy(),
                        "TYP_IRIS": iris["TYP_IRIS"].to_numpy(),
                        "LAB_IRIS": np.where(iris["TYP_IRIS"] == "A", "3", "1")})
    out: dict[str, pd.DataFrame] = {}

    # -- population: structure by age and sex
    pop: dict[str, np.ndarray] = {P + "POP": ps(one)}
    for lo, hi_ in ((0, 2), (3, 5), (6, 10), (11, 17), (18, 24), (25, 39), (40, 54), (55, 64),
                    (65, 79), (80, None)):
        pop[P + f"POP{lo:02d}{'P' if hi_ is None else f'{hi_:02d}'}"] = ps(a(lo, hi_))
    groups = ((0, 14), (15, 29), (30, 44), (45, 59), (60, 74), (75, None))
    for lo, hi_ in groups:
        pop[P + f"POP{lo:02d}{'P' if hi_ is None else f'{hi_:02d}'}"] = ps(a(lo, hi_))
    for lo, hi_ in ((0, 19), (20, 64), (65, None)):
        pop[P + f"POP{lo:02d}{'P' if hi_ is None else f'{hi_:02d}'}"] = ps(a(lo, hi_))
    for s, m in (("H", H_), ("F", F_)):
        pop[P + ("POPH" if s == "H" else "POPF")] = ps(m)
        for lo, hi_ in (*groups, (0, 19), (20, 64), (65, None)):
            pop[P + f"{s}{lo:02d}{'P' if hi_ is None else f'{hi_:02d}'}"] = ps(m & a(lo, hi_))
    pop[C + "POP15P"] = ps(a(15), "wc")
    for k in range(1, 9):
        pop[C + f"POP15P_CS{k}"] = ps(a(15) & (cs == k), "wc")
    pop[P + "POP_FR"] = ps(~pp["etr"].to_numpy())
    pop[P + "POP_ETR"] = ps(pp["etr"].to_numpy())
    pop[P + "POP_IMM"] = ps(pp["imm"].to_numpy())
    pop[P + "PMEN"] = ps(one)
    pop[P + "PHORMEN"] = np.zeros(n_iris)
    out[f"base-ic-evol-struct-pop-{c.year}"] = pd.concat([geo, pd.DataFrame(pop)], axis=1)

    # -- logement
    status = dw["status"].to_numpy()
    maison = dw["maison"].to_numpy()
    rooms_h = hh["rooms"].to_numpy()
    hm = hh["maison"].to_numpy()
    size = hh["size"].to_numpy()
    ten = hh["tenure"].to_numpy()
    yb = hh["year"].to_numpy()
    lg: dict[str, np.ndarray] = {
        P + "LOG": ds(np.ones(len(dw), dtype=bool)), P + "RP": ds(status == "RP"),
        P + "RSECOCC": ds(status == "RS"), P + "LOGVAC": ds(status == "LV"),
        P + "MAISON": ds(maison), P + "APPART": ds(~maison)}
    for k in range(1, 5):
        lg[P + f"RP_{k}P"] = hs(rooms_h == k)
    lg[P + "RP_5PP"] = hs(rooms_h >= 5)
    lg[P + "NBPI_RP"] = hs(np.ones(len(hh), dtype=bool), val=rooms_h)
    lg[P + "RPMAISON"] = hs(hm)
    lg[P + "NBPI_RPMAISON"] = hs(hm, val=rooms_h)
    lg[P + "RPAPPART"] = hs(~hm)
    lg[P + "NBPI_RPAPPART"] = hs(~hm, val=rooms_h)
    couple = (hh["htype"] == "couple").to_numpy()
    needed = 1 + couple + np.maximum(hh["n_adult"].to_numpy() - 2 * couple, 0) \
        + np.ceil(hh["n_child"].to_numpy() / 2)
    hstu1p = ~((rooms_h == 1) & (size == 1))
    lg[C + "RP_HSTU1P"] = hs(hstu1p, "wc")
    lg[C + "RP_HSTU1P_SUROCC"] = hs(hstu1p & (rooms_h < needed), "wc")
    lg[P + "RP_PROP"] = hs(ten == "PROP")
    lg[P + "NPER_RP_PROP"] = hs(ten == "PROP", val=size)
    lg[P + "RP_LOC"] = hs((ten == "HLM") | (ten == "LOCPRIV"))
    lg[P + "NPER_RP_LOC"] = hs((ten == "HLM") | (ten == "LOCPRIV"), val=size)
    lg[P + "RP_LOCHLMV"] = hs(ten == "HLM")
    lg[P + "NPER_RP_LOCHLMV"] = hs(ten == "HLM", val=size)
    lg[P + "RP_GRAT"] = hs(ten == "GRAT")
    lg[P + "NPER_RP_GRAT"] = hs(ten == "GRAT", val=size)
    last = c.year - 3  # RP_ACHTOT: main residences built before N-2 (2017 for RP 2020)
    lg[P + "RP_ACHTOT"] = hs(yb <= last)
    periods = ((None, 1918, "19"), (1919, 1945, "45"), (1946, 1970, "70"), (1971, 1990, "90"),
               (1991, 2005, "05"), (2006, last, f"{last % 100:02d}"))
    for lo, hi_, tag in periods:
        m = (yb <= hi_) if lo is None else (yb >= lo) & (yb <= hi_)
        lg[P + f"RP_ACH{tag}"] = hs(m)
    lg[P + "MEN"] = hs(np.ones(len(hh), dtype=bool))
    lg[P + "PMEN"] = hs(np.ones(len(hh), dtype=bool), val=size)
    out[f"base-ic-logement-{c.year}"] = pd.concat([geo, pd.DataFrame(lg)], axis=1)

    # -- diplômes et formation
    stud = st == "etudiant"
    school = stud | ((age >= 6) & (age <= 15)) | ((age >= 3) & (age <= 5)) | \
        ((age == 2) & (pp["hh"].to_numpy() % 9 == 0))
    nscol = a(15) & ~stud
    dp: dict[str, np.ndarray] = {}
    for lo, hi_ in ((2, 5), (6, 10), (11, 14), (15, 17), (18, 24), (25, 29), (30, None)):
        tag = f"{lo:02d}{'P' if hi_ is None else f'{hi_:02d}'}"
        dp[P + f"POP{tag}"] = ps(a(lo, hi_))
        dp[P + f"SCOL{tag}"] = ps(a(lo, hi_) & school)
    dp[P + "NSCOL15P"] = ps(nscol)
    dp[P + "NSCOL15P_DIPLMIN"] = ps(nscol & (dipl == 0))
    dp[P + "NSCOL15P_BEPC"] = ps(nscol & (dipl == 1))
    dp[P + "NSCOL15P_CAPBEP"] = ps(nscol & (dipl == 2))
    dp[P + "NSCOL15P_BAC"] = ps(nscol & (dipl == 3))
    if c.year >= 2017:
        dp[P + "NSCOL15P_SUP2"] = ps(nscol & (dipl == 4))
        dp[P + "NSCOL15P_SUP34"] = ps(nscol & (dipl == 5))
        dp[P + "NSCOL15P_SUP5"] = ps(nscol & (dipl == 6))
    else:   # the 2015 base has a single "higher education" group
        dp[P + "NSCOL15P_SUP"] = ps(nscol & (dipl >= 4))
    for s, m in (("H", H_), ("F", F_)):
        dp[P + f"{s}NSCOL15P"] = ps(nscol & m)
        dp[P + f"{s}NSCOL15P_DIPLMIN"] = ps(nscol & m & (dipl == 0))
    out[f"base-ic-diplomes-formation-{c.year}"] = pd.concat([geo, pd.DataFrame(dp)], axis=1)

    # -- activité des résidents
    occ, cho = st == "occupe", st == "chomeur"
    act = occ | cho
    ac: dict[str, np.ndarray] = {}
    bands = (("1564", 15, 64), ("1524", 15, 24), ("2554", 25, 54), ("5564", 55, 64))
    for tag, lo, hi_ in bands:
        ac[P + f"POP{tag}"] = ps(a(lo, hi_))
    for s, m in (("H", H_), ("F", F_)):
        ac[P + f"{s}1564"] = ps(m & a(15, 64))
    for name, m0 in (("ACT", act), ("ACTOCC", occ), ("CHOM", cho)):
        for tag, lo, hi_ in bands:
            ac[P + f"{name}{tag}"] = ps(m0 & a(lo, hi_))
        for s, m in (("H", H_), ("F", F_)):
            ac[P + f"{s}{name}1564"] = ps(m0 & m & a(15, 64))
    ac[P + "INACT1564"] = ps(~act & a(15, 64))
    ac[P + "ETUD1564"] = ps(stud & a(15, 64))
    ac[P + "RETR1564"] = ps((st == "retraite") & a(15, 64))
    ac[P + "AINACT1564"] = ps((st == "inactif") & a(15, 64))
    ac[C + "ACT1564"] = ps(act & a(15, 64), "wc")
    for k in range(1, 7):
        ac[C + f"ACT1564_CS{k}"] = ps(act & a(15, 64) & (cs == k), "wc")
    ac[C + "ACTOCC1564"] = ps(occ & a(15, 64), "wc")
    for k in range(1, 7):
        ac[C + f"ACTOCC1564_CS{k}"] = ps(occ & a(15, 64) & (cs == k), "wc")
    ac[P + "ACTOCC15P"] = ps(occ & a(15))
    out[f"base-ic-activite-residents-{c.year}"] = pd.concat([geo, pd.DataFrame(ac)], axis=1)

    # -- couples, familles, ménages
    ht = hh["htype"].to_numpy()
    hsex = hh["head_sex"].to_numpy()
    kids = hh["n_child"].to_numpy()
    k25 = hh["n_kid25"].to_numpy()
    fam = (ht == "couple") | (ht == "mono")
    fm: dict[str, np.ndarray] = {
        C + "MEN": hs(np.ones(len(hh), dtype=bool), "wc"),
        C + "MENPSEUL": hs(ht == "seul", "wc"),
        C + "MENHSEUL": hs((ht == "seul") & (hsex == "H"), "wc"),
        C + "MENFSEUL": hs((ht == "seul") & (hsex == "F"), "wc"),
        C + "MENSFAM": hs(ht == "autre", "wc"),
        C + "MENFAM": hs(fam, "wc"),
        C + "MENCOUPSENF": hs((ht == "couple") & (kids == 0), "wc"),
        C + "MENCOUPAENF": hs((ht == "couple") & (kids > 0), "wc"),
        C + "MENFAMMONO": hs(ht == "mono", "wc"),
        C + "PMEN": hs(np.ones(len(hh), dtype=bool), "wc", val=size),
        C + "PMEN_MENPSEUL": hs(ht == "seul", "wc"),
        C + "FAM": hs(fam, "wc"),
        C + "COUPAENF": hs((ht == "couple") & (kids > 0), "wc"),
        C + "COUPSENF": hs((ht == "couple") & (kids == 0), "wc"),
        C + "FAMMONO": hs(ht == "mono", "wc"),
        C + "HMONO": hs((ht == "mono") & (hsex == "H"), "wc"),
        C + "FMONO": hs((ht == "mono") & (hsex == "F"), "wc"),
        C + "NE24F0": hs(fam & (k25 == 0), "wc"),
        C + "NE24F1": hs(fam & (k25 == 1), "wc"),
        C + "NE24F2": hs(fam & (k25 == 2), "wc"),
        C + "NE24F3": hs(fam & (k25 == 3), "wc"),
        C + "NE24F4P": hs(fam & (k25 >= 4), "wc"),
    }
    fm[P + "POP15P"] = ps(a(15))
    for lo, hi_ in ((15, 19), (20, 24), (25, 39), (40, 54), (55, 64), (65, 79), (80, None)):
        fm[P + f"POP{lo:02d}{'P' if hi_ is None else f'{hi_:02d}'}"] = ps(a(lo, hi_))
    alone = hh["size"].to_numpy()[pp["hh"].to_numpy()] == 1
    fm[P + "POP80P_PSEUL"] = ps(a(80) & alone)
    out[f"base-ic-couples-familles-menages-{c.year}"] = pd.concat([geo, pd.DataFrame(fm)],
                                                                   axis=1)
    return out


def _gini(x: np.ndarray) -> float:
    x = np.sort(x)
    n = len(x)
    return float((2 * np.arange(1, n + 1) - n - 1) @ x / (n * x.sum()))


def filosofi_iris(c: Census, iris: gpd.GeoDataFrame, terr: Territory) -> pd.DataFrame:
    """Filosofi IRIS: only IRIS of communes of 5,000+ (2020) or 10,000+ (2015) inhabitants."""
    yy = f"{c.year % 100:02d}"
    rng = rng_for(f"filosofi{c.year}")
    thr = POVERTY_LINE[c.year]
    hh = c.hh
    y_uc = hh["income_uc"].to_numpy()
    uc = hh["uc"].to_numpy()
    Y = y_uc * uc
    # income composition of each household (shares of its disposable income)
    rank = pd.Series(y_uc).rank(pct=True).to_numpy()
    n_ad = np.maximum(hh["n_adult"].to_numpy(), 1)
    sal = 0.9 * (hh["n_emp"] - hh["selfemp"]).to_numpy() / n_ad
    ben = 0.9 * hh["selfemp"].to_numpy() / n_ad
    cho = 0.45 * hh["n_unemp"].to_numpy() / n_ad
    pen = 0.85 * hh["n_ret"].to_numpy() / n_ad
    pat = 0.02 + 0.10 * rank ** 2
    poor = np.clip(1.35 - y_uc / thr, 0, 1)
    fam = 0.06 * hh["n_u14"].to_numpy() * (0.5 + poor)
    mini = 0.35 * poor
    logt = 0.18 * poor * (hh["tenure"].to_numpy() != "PROP")
    tax = 0.03 + 0.17 * rank
    pos = sal + ben + cho + pen + pat + fam + mini + logt
    pos = np.where(pos <= 0, 1, pos)
    scale = (1 + tax) / pos
    comp = {"PTSA": sal, "PBEN": ben, "PCHO": cho, "PPEN": pen, "PPAT": pat, "PPFAM": fam,
            "PPMINI": mini, "PPLOGT": logt}
    pi = c.pp["iris"].to_numpy()
    p_y = y_uc[c.pp["hh"].to_numpy()]
    com_pop = terr.communes.set_index("insee_com")["pop2020"]
    min_pop = 5000 if c.year >= 2020 else 10000
    rows = []
    for i, r in iris.iterrows():
        if r.TYP_IRIS == "Z" or com_pop[r.INSEE_COM] < min_pop:
            continue
        row: dict[str, Any] = {"IRIS": r.CODE_IRIS}
        hm = hh["iris"].to_numpy() == i
        yv = np.sort(p_y[pi == i])
        if hm.sum() < 350 or r.TYP_IRIS == "A":
            rows.append(row)  # everything secret, filled below
            continue
        q = np.quantile(yv, [0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9])
        d1, d2, q1, d3, d4, med, d6, d7, q3, d8, d9 = q
        n20 = max(1, len(yv) // 5)
        row.update({
            f"DISP_TP60{yy}": round(100 * (yv < thr).mean(), 1),
            f"DISP_Q1{yy}": round(q1), f"DISP_MED{yy}": round(med), f"DISP_Q3{yy}": round(q3),
            f"DISP_EQ{yy}": round((q3 - q1) / med, 2),
            f"DISP_D1{yy}": round(d1), f"DISP_D2{yy}": round(d2), f"DISP_D3{yy}": round(d3),
            f"DISP_D4{yy}": round(d4), f"DISP_D6{yy}": round(d6), f"DISP_D7{yy}": round(d7),
            f"DISP_D8{yy}": round(d8), f"DISP_D9{yy}": round(d9),
            f"DISP_RD{yy}": round(d9 / d1, 1),
            f"DISP_S80S20{yy}": round(yv[-n20:].sum() / yv[:n20].sum(), 1),
            f"DISP_GI{yy}": round(_gini(yv), 3),
        })
        Yi = Y[hm]
        sh = {k: 100 * (v[hm] * scale[hm] * Yi).sum() / Yi.sum() for k, v in comp.items()}
        row[f"DISP_PACT{yy}"] = round(sh["PTSA"] + sh["PCHO"] + sh["PBEN"], 1)
        row[f"DISP_PTSA{yy}"] = round(sh["PTSA"], 1)
        row[f"DISP_PCHO{yy}"] = round(sh["PCHO"], 1)
        row[f"DISP_PBEN{yy}"] = round(sh["PBEN"], 1)
        row[f"DISP_PPEN{yy}"] = round(sh["PPEN"], 1)
        row[f"DISP_PPAT{yy}"] = round(sh["PPAT"], 1)
        row[f"DISP_PPSOC{yy}"] = round(sh["PPFAM"] + sh["PPMINI"] + sh["PPLOGT"], 1)
        row[f"DISP_PPFAM{yy}"] = round(sh["PPFAM"], 1)
        row[f"DISP_PPMINI{yy}"] = round(sh["PPMINI"], 1)
        row[f"DISP_PPLOGT{yy}"] = round(sh["PPLOGT"], 1)
        row[f"DISP_PIMPOT{yy}"] = round(-100 * (tax[hm] * Yi).sum() / Yi.sum(), 1)
        row[f"DISP_NOTE{yy}"] = 0
        rows.append(row)
    cols = ["IRIS"] + [f"DISP_{v}{yy}" for v in (
        "TP60", "Q1", "MED", "Q3", "EQ", "D1", "D2", "D3", "D4", "D6", "D7", "D8", "D9", "RD",
        "S80S20", "GI", "PACT", "PTSA", "PCHO", "PBEN", "PPEN", "PPAT", "PPSOC", "PPFAM",
        "PPMINI", "PPLOGT", "PIMPOT", "NOTE")]
    df = pd.DataFrame(rows).reindex(columns=cols)
    euros = [f"DISP_{v}{yy}" for v in ("Q1", "MED", "Q3", "D1", "D2", "D3", "D4", "D6", "D7",
                                        "D8", "D9", "NOTE")]
    df = df.astype(object)
    for col in euros:
        df[col] = [str(int(v)) if isinstance(v, (int, float)) and not pd.isna(v) else v
                   for v in df[col]]
    # secret: whole rows of small IRIS ("s"), and some fragile cells "nd"
    df = df.where(df.notna(), "s")
    ok = df[f"DISP_MED{yy}"] != "s"
    for col in (f"DISP_PBEN{yy}", f"DISP_PPAT{yy}"):
        pick = ok & (rng.random(len(df)) < 0.06)
        df.loc[pick, col] = "nd"
    return df


def filosofi_geo(c: Census, terr: Territory) -> dict[str, pd.DataFrame]:
    """Filosofi for the communes and for the CALL (``base-cc-filosofi`` layout, one file each).

    Columns ``CODGEO;LIBGEO;NBMENFISC{yy};NBPERSMENFISC{yy};MED{yy};TP60{yy};D1{yy};D9{yy};
    RD{yy}``: fiscal households and their persons, median disposable income per consumption
    unit of the persons (euros), poverty rate (persons under the line, %), first and ninth
    deciles and their ratio. The same persons as the IRIS and QPV files, so the CALL row is
    the figure the IRIS files cannot give (a median does not add up). Communes with fewer than
    50 fiscal households would be secret ("s"); none is that small here.
    """
    yy = f"{c.year % 100:02d}"
    thr = POVERTY_LINE[c.year]
    hh, pp = c.hh, c.pp
    pid_h = pp["hh"].to_numpy()
    y = hh["income_uc"].to_numpy()[pid_h]
    com_p = hh["commune"].to_numpy()[pid_h]
    com_h = hh["commune"].to_numpy()

    def row(code: str, name: str, mh: np.ndarray, mp: np.ndarray) -> dict[str, Any]:
        r: dict[str, Any] = {"CODGEO": code, "LIBGEO": name}
        n_hh = int(mh.sum())
        if n_hh < 50:
            return {**r, **{f"{v}{yy}": "s" for v in ("NBMENFISC", "NBPERSMENFISC", "MED",
                                                       "TP60", "D1", "D9", "RD")}}
        yv = y[mp]
        d1, med, d9 = np.quantile(yv, [0.1, 0.5, 0.9])
        r.update({f"NBMENFISC{yy}": n_hh, f"NBPERSMENFISC{yy}": int(mp.sum()),
                  f"MED{yy}": round(float(med)), f"TP60{yy}": round(100 * float((yv < thr)
                                                                              .mean()), 1),
                  f"D1{yy}": round(float(d1)), f"D9{yy}": round(float(d9)),
                  f"RD{yy}": round(float(d9 / d1), 1)})
        return r

    com = terr.communes
    communes = pd.DataFrame([row(str(com.at[i, "insee_com"]), str(com.at[i, "nom_com"]),
                                 com_h == i, com_p == i) for i in com.index])
    in_call = com["in_call"].to_numpy()
    epci = pd.DataFrame([row(CALL_SIREN, "CA de Lens-Liévin", in_call[com_h],
                             in_call[com_p])])
    return {f"base-cc-filosofi-{c.year}_COM": communes,
            f"base-cc-filosofi-{c.year}_EPCI": epci}


def qpv_table(c: Census, zones: gpd.GeoDataFrame, zone_of_hh: np.ndarray, code_col: str,
              name_col: str) -> pd.DataFrame:
    """Official-style QPV-level figures (INSEE/ONPV-like): counts and Filosofi statistics."""
    yy = f"{c.year % 100:02d}"
    thr = POVERTY_LINE[c.year]
    hh, pp = c.hh, c.pp
    zp = zone_of_hh[pp["hh"].to_numpy()]
    y = hh["income_uc"].to_numpy()[pp["hh"].to_numpy()]
    rows = []
    for i, r in zones.reset_index(drop=True).iterrows():
        m = zp == i
        mh = zone_of_hh == i
        w = pp["w"].to_numpy()[m]
        age = pp["age"].to_numpy()[m]
        st = pp["status"].to_numpy()[m]
        a1564 = (age >= 15) & (age <= 64)
        row: dict[str, Any] = {"CODGEO": r[code_col], "LIBGEO": r[name_col]}
        row[f"P{yy}_POP"] = w.sum()
        row[f"P{yy}_POP0024"] = w[age < 25].sum()
        row[f"P{yy}_POP1564"] = w[a1564].sum()
        row[f"P{yy}_ACT1564"] = w[a1564 & np.isin(st, ["occupe", "chomeur"])].sum()
        row[f"P{yy}_ACTOCC1564"] = w[a1564 & (st == "occupe")].sum()
        row[f"P{yy}_CHOM1564"] = w[a1564 & (st == "chomeur")].sum()
        row[f"P{yy}_RP"] = hh["w"].to_numpy()[mh].sum()
        row[f"P{yy}_RP_LOCHLMV"] = hh["w"].to_numpy()[mh & (hh["tenure"] == "HLM").to_numpy()].sum()
        row[f"C{yy}_FAM"] = hh["wc"].to_numpy()[mh & hh["htype"].isin(["couple", "mono"])
                                               .to_numpy()].sum()
        row[f"C{yy}_FAMMONO"] = hh["wc"].to_numpy()[mh & (hh["htype"] == "mono").to_numpy()].sum()
        n_hh = int(mh.sum())
        row[f"DISP_NBMEN{yy}"] = n_hh
        if n_hh >= 200:
            yv = y[m]
            row[f"DISP_MED{yy}"] = round(float(np.median(yv)))
            row[f"DISP_TP60{yy}"] = round(100 * float((yv < thr).mean()), 1)
        else:
            row[f"DISP_MED{yy}"] = "s"
            row[f"DISP_TP60{yy}"] = "s"
            row[f"DISP_NBMEN{yy}"] = "s"
        rows.append(row)
    df = pd.DataFrame(rows)
    for col in df.columns[2:]:
        if df[col].dtype.kind == "f":
            df[col] = df[col].round(2)
    return df


# ---------------------------------------------------------------------------------------------
# QPV 2015 stand-ins and the 2024/2015 correspondence list
# ---------------------------------------------------------------------------------------------
def build_qpv2015(terr: Territory, qpv: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame,
                                                                   pd.DataFrame]:
    """2015 perimeters overlapping but differing from 2024 (illustrative codes QP062xxx)."""
    rng = rng_for("qpv2015")
    com = terr.communes.set_index("insee_com")
    rows, corr = [], []
    num = 30
    for r in qpv.itertuples(index=False):
        g = r.geometry
        label = r.lib_qp
        if r.code_qp == "QN06229M":   # 2024 merger of two 2015 QPV
            lens = com.loc["62498"].geometry
            parts = [("Résidence des Provinces", g.intersection(lens)),
                     ("Les Hauts de Liévin - Cités 9-9bis", g.difference(lens))]
            codes = []
            for nm, pg in parts:
                code = f"QP062{num:03d}"
                num += 1
                codes.append((code, nm))
                rows.append((code, nm, _polygonal(pg.buffer(-15).buffer(10))))
            corr.append((r.code_qp, label, "Fusion de quartiers 2015", codes))
            continue
        code = f"QP062{num:03d}"
        num += 1
        x = rng.random()
        if x < 0.2:
            g15, statut = g, "Reconduit à l'identique"
        elif x < 0.6:
            g15, statut = _polygonal(g.buffer(-rng.uniform(20, 45))), "Périmètre réduit en 2024"
            g15 = g15 if not g15.is_empty else g
        else:
            c = shapely.point_on_surface(g.boundary.buffer(1))
            blob = _blob(c, 0.25 * g.area, rng)
            g15, statut = _polygonal(g.union(blob).buffer(5).buffer(-5)), "Périmètre modifié"
            g15 = _polygonal(g15.difference(blob.buffer(-60))) if rng.random() < 0.5 else g15
        rows.append((code, label, g15))
        corr.append((r.code_qp, label, statut, [(code, label)]))
    # a 2015 QPV that left the priority geography in 2024
    anchin = terr.cites[terr.cites["key"] == norm_name("Cité Anchin")].geometry
    rows.append((f"QP062{num:03d}", "Cité Anchin", _polygonal(
        shapely.union_all(anchin.to_numpy()).buffer(40).buffer(-20))))
    q15 = gpd.GeoDataFrame(rows, columns=["CODE_QP", "NOM_QP", "geometry"], geometry="geometry",
                           crs=L93)
    # commune names as in the 2015 file (", "-joined)
    q15["COMMUNE_QP"] = [", ".join(com.index.to_series()[com.intersects(g.buffer(-5))]
                                   .map(com["nom_com"]).tolist()) for g in q15.geometry]
    # remove overlaps between 2015 QPV (keep the first)
    done: list[Any] = []
    geoms = []
    for g in q15.geometry:
        gg = _polygonal(g.difference(shapely.union_all(done))) if done else g
        geoms.append(gg)
        done.append(gg)
    q15["geometry"] = geoms
    q15 = q15[["CODE_QP", "NOM_QP", "COMMUNE_QP", "geometry"]]
    crow = []
    for code24, lab24, statut, olds in corr:
        d = {"QP2024": code24, "Label_QP2024": lab24, "Statut": statut}
        for k in range(3):
            d[f"QP2015_{k + 1}"] = olds[k][0] if k < len(olds) else ""
            d[f"Label_QP2015_{k + 1}"] = olds[k][1] if k < len(olds) else ""
        crow.append(d)
    return q15, pd.DataFrame(crow)


# ---------------------------------------------------------------------------------------------
# RPLS: one row per social dwelling (DiDo export layout, UTF-8 with BOM, ';')
# ---------------------------------------------------------------------------------------------
FINAN_LABELS = {
    "10": "PLA d'intégration", "11": "PLA LM/TS/insertion", "12": "PLA ordinaire",
    "13": "PLUS", "14": "PLS/PPLS/PCLS/PLA CFF", "16": "PLI", "17": "PCL",
    "49": "Autre financement après 1977", "50": "HBM", "51": "PLR/PSR", "52": "HLM/O",
    "53": "ILM", "54": "ILN", "55": "Prêts spéciaux CFF", "99": "Autre financement avant 1977"}


def rpls_table(terr: Territory, qpv: gpd.GeoDataFrame, q15: gpd.GeoDataFrame,
               iris: gpd.GeoDataFrame, b: gpd.GeoDataFrame, dws: pd.DataFrame,
               frames: list[Frame]) -> pd.DataFrame:
    rng = rng_for("rpls")
    d = dws[dws["social"]].copy()
    n = len(d)
    bidx = d["building"].to_numpy()
    # position of each dwelling in its building: individual houses along the facade,
    # flats at the entrance of their block
    j = d.groupby("building").cumcount().to_numpy()
    nb = b["n_dw"].to_numpy()[bidx]
    indiv = d["maison"].to_numpy()
    sel = b.iloc[bidx]
    t = np.where(indiv, (j + 0.5) / nb, 0.5)
    x = np.empty(n)
    y = np.empty(n)
    for fr in frames:
        m = (sel["commune"] == fr.idx).to_numpy()
        if not m.any():
            continue
        s = sel[m]
        u = s["u0"].to_numpy() + t[m] * (s["u1"] - s["u0"]).to_numpy()
        v = fr.v_off + s["row"].to_numpy() * ROW_SPACING + s["side"].to_numpy() * (
            s["setback"].to_numpy() + 1.0)
        x[m], y[m] = fr.to_world(u, v)
    com = terr.communes
    year = d["year"].to_numpy()
    u = rng.random(n)
    finan = np.select(
        [year < 1949, year < 1977, year < 2002],
        [np.where(u < 0.7, "99", np.where(u < 0.9, "50", "55")),
         np.where(u < 0.7, "52", np.where(u < 0.8, "51", np.where(u < 0.9, "53",
                                                                  np.where(u < 0.95, "54",
                                                                           "55")))),
         np.where(u < 0.5, "12", np.where(u < 0.7, "13", np.where(u < 0.75, "10",
                                                                  np.where(u < 0.85, "11",
                                                                           "49"))))],
        np.where(u < 0.55, "13", np.where(u < 0.8, "10", np.where(u < 0.92, "14",
                                                                  np.where(u < 0.95, "16",
                                                                           "12")))))
    cond = d["condition"].to_numpy()
    letters = np.array(list("ABCDEFG"))
    dpe_i = np.clip(np.round(cond * 6 + rng.normal(0, 0.6, n)), 0, 6).astype(int)
    dpe = np.where(rng.random(n) < 0.12, "", letters[dpe_i])
    ges_i = np.clip(dpe_i + rng.integers(-1, 2, n), 0, 6)
    ges = np.where(dpe == "", "", letters[ges_i])
    dpedate = np.where(dpe == "", "", pd.to_datetime(
        rng.integers(14_610, 18_600, n), unit="D").strftime("%Y-%m-%d"))
    pts = shapely.points(x, y)
    q = np.full(n, -1)
    pi, qi = shapely.STRtree(qpv.geometry.to_numpy()).query(pts, predicate="within")
    q[pi] = qi
    tree = shapely.STRtree(q15.geometry.to_numpy())
    pi, qi = tree.query(pts, predicate="within")
    q15code = np.full(n, "", dtype=object)
    q15code[pi] = q15["CODE_QP"].to_numpy()[qi]
    floors = d["floors"].to_numpy()
    etage = np.where(indiv, 0, (rng.random(n) * floors).astype(int))
    ci = d["commune"].to_numpy()
    out = pd.DataFrame({
        "DEPCOM": com["insee_com"].to_numpy()[ci],
        "ETAGE": etage,
        "TYPECONST_CODE": np.where(indiv, "I", "C"),
        "NBPIECE": d["rooms"].to_numpy(),
        "SURFHAB": d["surface"].to_numpy().astype(int),
        "CONSTRUCT": year,
        "FINAN_CODE": finan,
        "DPEDATE": dpedate,
        "DPEENERGIE": dpe,
        "DPESERRE": ges,
        "QPV_CODE": np.where(q >= 0, "1", "0"),
        "EPSG": 2154,
        "X": np.round(x, 1),
        "Y": np.round(y, 1),
        "PLG_QP24": np.where(q >= 0, qpv["code_qp"].to_numpy()[np.maximum(q, 0)], ""),
        "PLG_QP15": q15code,
        "PLG_IRIS2024_CODE": iris["CODE_IRIS"].to_numpy()[d["iris"].to_numpy()],
        "source": SOURCE,
    })
    return out


# ---------------------------------------------------------------------------------------------
# BPE (newer schema with QP2024) and the collèges table (IPS, éducation prioritaire)
# ---------------------------------------------------------------------------------------------
# TYPEQU: (label for NOMRS, DOM, SDOM, equipments per 10,000 inhabitants, where)
# where: "centre" (town centres, few in QPV), "spread" (where people live), "lens" (Lens and
# Liévin only), "school" (by population, QPV included), "act" (activity zones).
BPE_TYPES: dict[str, tuple[str, str, str, float, str]] = {
    "D201": ("MEDECIN GENERALISTE", "D", "D2", 7.5, "spread"),
    "D221": ("CHIRURGIEN DENTISTE", "D", "D2", 4.0, "centre"),
    "D244": ("INFIRMIER", "D", "D2", 16.0, "spread"),
    "D231": ("SAGE-FEMME", "D", "D2", 1.2, "centre"),
    "D233": ("MASSEUR KINESITHERAPEUTE", "D", "D2", 8.0, "centre"),
    "D307": ("PHARMACIE", "D", "D3", 3.5, "spread"),
    "D302": ("LABORATOIRE D'ANALYSES MEDICALES", "D", "D3", 0.6, "centre"),
    "D108": ("CENTRE DE SANTE", "D", "D1", 0.5, "spread"),
    "D113": ("MAISON DE SANTE PLURIDISCIPLINAIRE", "D", "D1", 0.35, "spread"),
    "D203": ("CARDIOLOGUE", "D", "D2", 0.6, "lens"),
    "D206": ("GYNECOLOGUE", "D", "D2", 0.4, "lens"),
    "D210": ("PEDIATRE", "D", "D2", 0.3, "lens"),
    "D212": ("PSYCHIATRE", "D", "D2", 0.4, "lens"),
    "C107": ("ECOLE MATERNELLE", "C", "C1", 5.0, "school"),
    "C108": ("ECOLE PRIMAIRE", "C", "C1", 1.2, "school"),
    "C109": ("ECOLE ELEMENTAIRE", "C", "C1", 4.5, "school"),
    "C301": ("LYCEE GENERAL ET TECHNOLOGIQUE", "C", "C3", 0.25, "lens"),
    "C302": ("LYCEE PROFESSIONNEL", "C", "C3", 0.25, "centre"),
    "A203": ("BANQUE", "A", "A2", 1.6, "centre"),
    "A504": ("RESTAURANT", "A", "A5", 6.0, "centre"),
    "B102": ("SUPERMARCHE", "B", "B1", 1.2, "act"),
    "B201": ("SUPERETTE", "B", "B2", 1.0, "spread"),
    "B203": ("BOULANGERIE", "B", "B2", 3.5, "centre"),
    "F101": ("BASSIN DE NATATION", "F", "F1", 0.2, "spread"),
}
# Hospital services, placed at one site in Lens and one in Liévin.
HOSPITAL = {"D101": "CENTRE HOSPITALIER - COURT SEJOUR",
            "D102": "CENTRE HOSPITALIER - MOYEN SEJOUR", "D106": "SERVICE D'URGENCES",
            "D107": "MATERNITE", "D104": "PSYCHIATRIE"}


def bpe_tables(terr: Territory, qpv: gpd.GeoDataFrame, q15: gpd.GeoDataFrame,
               iris: gpd.GeoDataFrame, b: gpd.GeoDataFrame, frames: list[Frame]
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = rng_for("bpe")
    com = terr.communes
    res = b[(b["n_dw"] > 0) | (b["usage1"] == "Commercial et services")].reset_index(drop=True)
    dist = np.array([math.hypot(x - frames[c].x0, y - frames[c].y0)
                     for x, y, c in zip(res["x"], res["y"], res["commune"], strict=True)])
    rows: list[dict[str, Any]] = []

    def place(ci: int, kind: str, k: int) -> np.ndarray:
        m = (res["commune"] == ci).to_numpy()
        idx = np.flatnonzero(m)
        if not len(idx):
            return np.array([], dtype=int)
        if kind == "act":
            a = np.flatnonzero(m & (res["btype"] == T_ACT).to_numpy())
            idx = a if len(a) else idx
            w = np.ones(len(idx))
        elif kind in ("centre", "lens"):
            w = np.exp(-dist[idx] / (frames[ci].r_core * 1.2))
            w *= np.where(res["qpv"].to_numpy()[idx] >= 0, 0.35, 1.0)
        elif kind == "school":
            w = res["n_dw"].to_numpy()[idx].astype(float) + 0.1
        else:
            w = res["n_dw"].to_numpy()[idx].astype(float) + 2 * (res["n_dw"].to_numpy()[idx] == 0)
            w *= np.where(res["qpv"].to_numpy()[idx] >= 0, 0.7, 1.0)
        return rng.choice(idx, size=k, replace=True, p=w / w.sum())

    for ci, r in com.iterrows():
        for typ, (label, dom, sdom, rate, kind) in BPE_TYPES.items():
            if kind == "lens" and r.insee_com not in ("62498", "62510"):
                continue
            lam = rate * r.pop2020 / 1e4 * (4.0 if kind == "lens" else 1.0)
            if kind == "lens":
                lam *= 242_000 / (32_458 + 30_102) / 4.0
            k = int(rng.poisson(lam))
            if typ in ("C107", "C109") and r.pop2020 >= 300:
                k = max(k, 1)
            for bi in place(int(ci), kind, k):
                rows.append({"TYPEQU": typ, "label": label, "DOM": dom, "SDOM": sdom,
                             "bi": int(bi)})
        # collèges: one per 11,000 inhabitants, towns of 4,000+
        if r.pop2020 >= 4000:
            for bi in place(int(ci), "school", max(1, round(r.pop2020 / 11_000))):
                rows.append({"TYPEQU": "C201", "label": "COLLEGE", "DOM": "C", "SDOM": "C2",
                             "bi": int(bi)})
    for insee in ("62498", "62510"):
        ci = int(np.flatnonzero(com["insee_com"] == insee)[0])
        bi = int(place(ci, "centre", 1)[0])
        for typ, label in HOSPITAL.items():
            if insee == "62510" and typ in ("D107", "D104"):
                continue
            rows.append({"TYPEQU": typ, "label": label, "DOM": "D", "SDOM": "D1", "bi": bi})
    # codes this vintage does not know (a 2025 GP code, a typo): readers must report them
    for typ in ("D265", "D265", "D265", "D2O1"):
        ci = int(rng.integers(0, len(com)))
        bi = place(ci, "spread", 1)
        if len(bi):
            rows.append({"TYPEQU": typ, "label": "MEDECIN", "DOM": "D", "SDOM": "D2",
                         "bi": int(bi[0])})
    df = pd.DataFrame(rows)
    sel = res.iloc[df["bi"].to_numpy()]
    n = len(df)
    x = sel["x"].to_numpy() + rng.uniform(-4, 4, n)
    y = sel["y"].to_numpy() + rng.uniform(-4, 4, n)
    to84 = Transformer.from_crs(L93, WGS84, always_xy=True)
    lon, lat = to84.transform(x, y)
    ci = sel["commune"].to_numpy()
    pts = shapely.points(x, y)
    q24 = np.full(n, "", dtype=object)
    tree = shapely.STRtree(qpv.geometry.to_numpy())
    pi, qi = tree.query(pts, predicate="within")
    q24[pi] = qpv["code_qp"].to_numpy()[qi]
    q15c = np.full(n, "", dtype=object)
    tree = shapely.STRtree(q15.geometry.to_numpy())
    pi, qi = tree.query(pts, predicate="within")
    q15c[pi] = q15["CODE_QP"].to_numpy()[qi]
    com_q24 = {c for cs in qpv["insee_com"] for c in cs}
    com_q15 = set(com.loc[com.intersects(shapely.union_all(q15.geometry.to_numpy())),
                          "insee_com"])
    insee = com["insee_com"].to_numpy()[ci]
    tree = shapely.STRtree(iris.geometry.to_numpy())
    pi, ii = tree.query(pts, predicate="within")
    dciris = np.full(n, "", dtype=object)
    dciris[pi] = iris["CODE_IRIS"].to_numpy()[ii]
    dciris = np.where(dciris == "", [c + "0000" for c in insee], dciris)
    nom = []
    counter: dict[tuple[str, str], int] = {}
    for typ, lab, c in zip(df["TYPEQU"], df["label"], insee, strict=True):
        counter[(typ, c)] = counter.get((typ, c), 0) + 1
        nom.append(f"{lab} {counter[(typ, c)]}" if typ[0] in "CD" else lab)
    bpe = pd.DataFrame({
        "AN": 2023, "NOMRS": nom, "SIRET": "", "TYPEQU": df["TYPEQU"].to_numpy(),
        "DOM": df["DOM"].to_numpy(), "SDOM": df["SDOM"].to_numpy(),
        "DEPCOM": insee, "LIBCOM": com["nom_com"].to_numpy()[ci], "DEP": "62", "REG": "32",
        "EPCI": com["siren_epci"].to_numpy()[ci], "DCIRIS": dciris,
        "IRISEE": np.where([s.endswith("0000") for s in dciris], "0", "1"),
        "QP2015": np.where(q15c != "", q15c, np.where(np.isin(insee, list(com_q15)), "HZ",
                                                        "CSZ")),
        "QUALI_QP2015": np.where(q15c != "", "1", "_Z"),
        "QP2024": np.where(q24 != "", q24, np.where(np.isin(insee, list(com_q24)), "HZ",
                                                      "CSZ")),
        "QUALI_QP2024": np.where(q24 != "", "1", "_Z"),
        "LAMBERT_X": np.round(x, 1), "LAMBERT_Y": np.round(y, 1),
        "LONGITUDE": np.round(lon, 6), "LATITUDE": np.round(lat, 6), "EPSG": "2154",
        "QUALITE_XY": rng.choice(["B", "B", "B", "B", "A", "M"], n),
        "QUALITE_GEOLOC": rng.choice(["11", "11", "11", "12", "21", "33"], n),
        "source": SOURCE,
    })
    # a few equipments geolocated only in WGS84 (no Lambert coordinates), as in real files
    nolam = rng.random(n) < 0.01
    bpe.loc[nolam, ["LAMBERT_X", "LAMBERT_Y"]] = np.nan
    bpe = bpe.sort_values(["DEPCOM", "TYPEQU", "NOMRS"], kind="stable").reset_index(drop=True)

    # collèges: Éducation nationale IPS file layout + éducation prioritaire membership
    col = bpe[bpe["TYPEQU"] == "C201"].reset_index(drop=True)
    in_q = col["QP2024"].str.startswith("QN").to_numpy()
    near = np.array([qpv.geometry.distance(shapely.Point(xx, yy)).min() < 600 if
                     not math.isnan(xx) else False
                     for xx, yy in zip(col["LAMBERT_X"], col["LAMBERT_Y"], strict=True)])
    ep = np.where(in_q & (rng.random(len(col)) < 0.5), "REP+",
                  np.where(in_q | near, "REP", ""))
    ips = np.where(ep == "REP+", rng.uniform(70, 79, len(col)),
                   np.where(ep == "REP", rng.uniform(76, 91, len(col)),
                            rng.uniform(88, 106, len(col))))
    uai = [f"062{1000 + 37 * i:04d}{'ABCDEFGHJKLMNPRSTUVWXYZ'[i % 23]}" for i in range(len(col))]
    colleges = pd.DataFrame({
        "rentree_scolaire": "2022-2023", "academie": "LILLE", "code_du_departement": "062",
        "departement": "PAS-DE-CALAIS", "uai": uai,
        "nom_de_l_etablissement": [f"COLLEGE ILLUSTRATIF {n_.split()[-1]} - {c_.upper()}"
                                   for n_, c_ in zip(col["NOMRS"], col["LIBCOM"], strict=True)],
        "code_insee_de_la_commune": col["DEPCOM"], "nom_de_la_commune": col["LIBCOM"].str.upper(),
        "secteur": "public", "ips": np.round(ips, 1),
        "ecart_type_de_l_ips": np.round(rng.uniform(22, 32, len(col)), 1),
        "appartenance_education_prioritaire": ep,
        "coordonnee_x": col["LAMBERT_X"], "coordonnee_y": col["LAMBERT_Y"], "epsg": "2154",
        "source": SOURCE,
    })
    bpe.loc[bpe["TYPEQU"] == "C201", "NOMRS"] = colleges["nom_de_l_etablissement"].to_numpy()
    for col, nd in (("LAMBERT_X", 1), ("LAMBERT_Y", 1), ("LONGITUDE", 6), ("LATITUDE", 6)):
        bpe[col] = [("" if pd.isna(v) else f"{v:.{nd}f}") for v in bpe[col]]
    for col in ("coordonnee_x", "coordonnee_y"):
        colleges[col] = [("" if pd.isna(v) else f"{v:.1f}") for v in colleges[col]]
    return bpe, colleges


# ---------------------------------------------------------------------------------------------
# Thermography: classified heat loss (uint8, CC50, 2 m) and apparent temperature (float32)
# ---------------------------------------------------------------------------------------------
HEATLOSS_CLASSES = {0: "non mesuré (toiture zinc, verre…)", 1: "déperditions faibles",
                    2: "déperditions moyennes", 3: "déperditions fortes",
                    4: "déperditions excessives", 255: "hors vol (nodata)"}


def heat_classes(b: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Heat-loss class (0–4) and roof apparent temperature (°C) of every building."""
    rng = rng_for("heat")
    n = len(b)
    cond = b["condition"].to_numpy()
    cls = np.clip(np.floor(1 + 4 * cond + rng.normal(0, 0.45, n)), 1, 4).astype(np.uint8)
    unheated = (b["usage1"] == "Annexe").to_numpy()
    cls[unheated] = 1
    act = (b["btype"] == T_ACT).to_numpy()
    cls[act] = np.clip(cls[act], 1, 3)
    zinc = rng.random(n) < np.where((b["btype"] == T_CENTRE).to_numpy(), 0.06,
                                    np.where(act, 0.08, 0.015))
    cls[zinc] = 0
    temp = np.array([-7.5, -3.5, -1.5, 0.5, 2.5])[cls] + rng.normal(0, 0.6, n)
    return cls, np.round(temp, 2)


def _rect_shapes(geoms: np.ndarray, values: Any) -> list[tuple[dict[str, Any], Any]]:
    """GeoJSON-like shapes of simple polygons (fast path for rasterio.features.rasterize)."""
    coords = shapely.get_coordinates(geoms).tolist()  # one conversion, then list slices
    counts = shapely.get_num_coordinates(geoms)
    bounds = np.concatenate([[0], np.cumsum(counts)]).tolist()
    return [({"type": "Polygon", "coordinates": [coords[a:b_]]}, v)
            for a, b_, v in zip(bounds[:-1], bounds[1:], values, strict=True)]


def _raster_profile(transform: Any, width: int, height: int, dtype: str, nodata: float,
                    crs: str) -> dict[str, Any]:
    return {"driver": "GTiff", "width": width, "height": height, "count": 1, "dtype": dtype,
            "crs": crs, "transform": transform, "nodata": nodata, "tiled": True,
            "blockxsize": 512, "blockysize": 512, "compress": "deflate",
            "predictor": 3 if dtype == "float32" else 1, "zlevel": 6}


def thermography(b: gpd.GeoDataFrame, out: Path, *, pixel: float = 2.0,
                 temp_pixel: float = 5.0) -> dict[str, Any]:
    rng = rng_for("thermography")
    cls, temp = heat_classes(b)
    b3950 = b.to_crs(CC50)
    # the flight covers the built-up area: 100 m cells within about 200 m of a building
    cen = shapely.get_coordinates(shapely.centroid(b3950.geometry.to_numpy()))
    cell = 100.0
    xmin = math.floor((cen[:, 0].min() - 300) / cell) * cell
    ymin = math.floor((cen[:, 1].min() - 300) / cell) * cell
    xmax = math.ceil((cen[:, 0].max() + 300) / cell) * cell
    ymax = math.ceil((cen[:, 1].max() + 300) / cell) * cell
    nr, nc = int((ymax - ymin) / cell), int((xmax - xmin) / cell)
    coarse_mask = np.zeros((nr, nc), dtype=bool)
    coarse_mask[((ymax - cen[:, 1]) // cell).astype(int), ((cen[:, 0] - xmin) // cell)
                .astype(int)] = True
    from scipy.ndimage import binary_closing, binary_dilation
    coarse_mask = binary_closing(binary_dilation(coarse_mask, iterations=2), iterations=2)

    def flight_mask(px: float) -> np.ndarray:
        k = round(cell / px)
        return coarse_mask.repeat(k, axis=0).repeat(k, axis=1)

    info: dict[str, Any] = {}
    # -- classified heat loss, 2 m
    w, h = int((xmax - xmin) / pixel), int((ymax - ymin) / pixel)
    tr = from_origin(xmin, ymax, pixel, pixel)
    inside = flight_mask(pixel)
    arr = np.where(inside, np.uint8(1), np.uint8(255))
    roofs = features.rasterize(_rect_shapes(b3950.geometry.to_numpy(), (cls + 10).tolist()),
                               out_shape=(h, w), transform=tr, fill=0, dtype="uint8")
    on = roofs > 0
    vals = roofs[on] - 10
    noisy = (vals > 0) & (rng.random(vals.size) < 0.12)
    vals[noisy] = np.clip(vals[noisy].astype(int) + rng.choice([-1, 1], noisy.sum()), 1, 4)
    arr[on] = vals
    arr[~inside] = 255
    prof = _raster_profile(tr, w, h, "uint8", 255, CC50)
    path = out / f"illustratif_deperdition_thermique_cc50_{pixel:g}m.tif"
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(arr, 1)
        dst.update_tags(QPVGEO_SOURCE=SOURCE, QPVGEO_VINTAGE="2021",
                        QPVGEO_DESCRIPTION="Déperdition thermique globale, classes (ILLUSTRATIF, "
                        "données fictives générées par qpvgeo data/make_demo.py)",
                        QPVGEO_CLASSES=json.dumps(HEATLOSS_CLASSES, ensure_ascii=False))
        dst.set_band_description(1, "classe de déperdition thermique (0-4, 255 hors vol)")
        dst.update_tags(1, **{f"CLASS_{k}": v for k, v in HEATLOSS_CLASSES.items()})
    info["heatloss"] = {"path": path.name, "shape": [h, w], "pixel_m": pixel,
                        "roof_pixels": int(on.sum())}
    del arr, roofs, on, vals
    # -- apparent temperature (°C), coarser
    w2, h2 = int((xmax - xmin) / temp_pixel), int((ymax - ymin) / temp_pixel)
    tr2 = from_origin(xmin, ymax, temp_pixel, temp_pixel)
    inside2 = flight_mask(temp_pixel)
    coarse = rng.normal(0, 1, (h2 // 40 + 2, w2 // 40 + 2))
    from scipy.ndimage import zoom
    ground = -1.8 + 0.8 * zoom(coarse, 40, order=1)[:h2, :w2]
    tmap = np.round(ground / 0.25) * 0.25
    roof_t = features.rasterize(_rect_shapes(b3950.geometry.to_numpy(), range(1, len(b) + 1)),
                                out_shape=(h2, w2), transform=tr2, fill=0, dtype="int32")
    on2 = roof_t > 0
    tmap[on2] = temp[roof_t[on2] - 1]
    tmap = tmap.astype(np.float32)
    tmap[~inside2] = np.nan
    prof2 = _raster_profile(tr2, w2, h2, "float32", float("nan"), CC50)
    path2 = out / f"illustratif_temperature_apparente_cc50_{temp_pixel:g}m.tif"
    with rasterio.open(path2, "w", **prof2) as dst:
        dst.write(tmap, 1)
        dst.update_tags(QPVGEO_SOURCE=SOURCE, QPVGEO_VINTAGE="2021", QPVGEO_UNITS="degC",
                        QPVGEO_DESCRIPTION="Température apparente de surface, vol de nuit "
                        "hivernal (ILLUSTRATIF, données fictives générées par qpvgeo)")
        dst.set_band_description(1, "temperature apparente (degres Celsius)")
    info["temperature"] = {"path": path2.name, "shape": [h2, w2], "pixel_m": temp_pixel}
    return info


# ---------------------------------------------------------------------------------------------
# SIRENE: establishments at two dates (StockEtablissement layout, ',' separated)
# ---------------------------------------------------------------------------------------------
# NAF rév. 2 codes: (code, A10 group, weight outside QPV, weight in QPV, micro-entrepreneur
# propensity 0-1)
NAF_CODES: list[tuple[str, str, float, float, float]] = [
    ("47.11B", "GI", 2.0, 3.0, 0.2), ("47.11D", "GI", 0.6, 0.3, 0.0),
    ("47.19B", "GI", 1.0, 1.0, 0.3), ("47.24Z", "GI", 0.6, 0.4, 0.2),
    ("47.71Z", "GI", 1.5, 0.8, 0.4), ("47.73Z", "GI", 0.8, 0.4, 0.0),
    ("47.78C", "GI", 0.8, 0.8, 0.6), ("47.82Z", "GI", 1.5, 2.5, 0.95),
    ("47.91B", "GI", 3.0, 3.2, 0.95), ("45.20A", "GI", 1.8, 2.2, 0.6),
    ("45.11Z", "GI", 0.8, 0.8, 0.3), ("49.32Z", "GI", 1.0, 1.6, 0.8),
    ("49.41B", "GI", 1.2, 1.5, 0.3), ("53.20Z", "GI", 1.5, 2.6, 0.98),
    ("56.10A", "GI", 2.2, 1.8, 0.3), ("56.10C", "GI", 1.8, 2.6, 0.6),
    ("56.30Z", "GI", 1.2, 0.8, 0.3), ("55.10Z", "GI", 0.3, 0.05, 0.0),
    ("10.71C", "BE", 1.0, 0.6, 0.1), ("25.62B", "BE", 0.6, 0.2, 0.1),
    ("33.12Z", "BE", 0.5, 0.2, 0.4),
    ("43.21A", "FZ", 1.5, 1.2, 0.6), ("43.22A", "FZ", 1.4, 1.0, 0.6),
    ("43.31Z", "FZ", 0.8, 0.8, 0.8), ("43.32A", "FZ", 1.0, 0.8, 0.7),
    ("43.34Z", "FZ", 1.5, 1.6, 0.85), ("43.39Z", "FZ", 1.4, 1.6, 0.9),
    ("41.20A", "FZ", 0.8, 0.4, 0.2), ("43.99C", "FZ", 0.8, 0.6, 0.5),
    ("81.21Z", "MN", 1.5, 2.0, 0.8), ("82.99Z", "MN", 2.0, 2.5, 0.9),
    ("70.22Z", "MN", 2.0, 1.0, 0.8), ("74.10Z", "MN", 1.0, 0.6, 0.9),
    ("73.11Z", "MN", 0.5, 0.2, 0.8), ("71.12B", "MN", 0.6, 0.1, 0.4),
    ("69.20Z", "MN", 0.4, 0.05, 0.0), ("80.10Z", "MN", 0.5, 0.8, 0.6),
    ("86.21Z", "OQ", 1.5, 0.5, 0.0), ("86.23Z", "OQ", 0.8, 0.2, 0.0),
    ("86.90D", "OQ", 2.5, 1.2, 0.1), ("86.90E", "OQ", 1.0, 0.3, 0.1),
    ("88.10A", "OQ", 1.2, 0.8, 0.5), ("85.59A", "OQ", 1.5, 1.2, 0.8),
    ("85.20Z", "OQ", 1.2, 0.6, 0.0), ("84.11Z", "OQ", 0.4, 0.05, 0.0),
    ("88.91A", "OQ", 1.0, 0.8, 0.6),
    ("96.02A", "RU", 1.8, 1.6, 0.5), ("96.02B", "RU", 1.5, 1.8, 0.9),
    ("96.09Z", "RU", 1.5, 1.8, 0.9), ("93.12Z", "RU", 1.0, 0.4, 0.0),
    ("94.99Z", "RU", 3.0, 2.0, 0.0), ("90.01Z", "RU", 0.6, 0.5, 0.9),
    ("62.01Z", "JZ", 1.2, 0.6, 0.8), ("58.11Z", "JZ", 0.2, 0.05, 0.5),
    ("66.22Z", "KZ", 0.6, 0.1, 0.3), ("64.19Z", "KZ", 0.5, 0.05, 0.0),
    ("68.20A", "LZ", 1.0, 0.3, 0.3), ("68.20B", "LZ", 2.0, 0.3, 0.0),
    ("68.31Z", "LZ", 0.6, 0.1, 0.3),
    ("01.11Z", "AZ", 0.8, 0.0, 0.2), ("01.13Z", "AZ", 0.3, 0.0, 0.2),
]


def _luhn_complete(digits: str) -> str:
    """Append the Luhn check digit (SIREN and SIRET numbers are Luhn-valid)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return digits + str((10 - total % 10) % 10)


def sirene_tables(terr: Territory, qpv: gpd.GeoDataFrame, b: gpd.GeoDataFrame
                  ) -> dict[int, pd.DataFrame]:
    """Establishment stocks at 31/12/2017 and 31/12/2023 (active ones, and the ones closed
    during the two previous years)."""
    rng = rng_for("sirene")
    # yearly creations outside / inside QPV (the 2017 and 2023 QPV values are those quoted by
    # the diagnostic: 137 and 382)
    years = np.arange(2000, 2024)

    def ramp(before: float, y2017: float, y2023: float) -> np.ndarray:
        out = np.where(years < 2009, before, before + (y2017 - before) * (years - 2009) / 8)
        k = (years >= 2017)
        out[k] = y2017 * (y2023 / y2017) ** ((years[k] - 2017) / 6)
        return out

    created = {True: ramp(45, 137, 382), False: ramp(300, 500, 1150)}
    # establishments active at the end of 2017 (all communes of the demo), before growth
    active17 = {True: 1420, False: 10_400}
    rows = []
    for in_q in (True, False):
        weights = np.array([w_q if in_q else w_o for _, _, w_o, w_q, _ in NAF_CODES])
        prop = np.array([m for *_, m in NAF_CODES])

        def draw(cy: np.ndarray, in_q: bool = in_q, weights: np.ndarray = weights,
                 prop: np.ndarray = prop) -> pd.DataFrame:
            n = len(cy)
            micro_p = np.where(cy >= 2009, np.where(in_q, 0.62 + 0.035 * np.clip(cy - 2017, 0, 6),
                                                    0.52 + 0.025 * np.clip(cy - 2017, 0, 6)),
                               0.35)
            naf_i = rng.choice(len(NAF_CODES), size=n, p=weights / weights.sum())
            micro = rng.random(n) < np.clip(micro_p * (0.4 + 1.2 * prop[naf_i]), 0, 0.98)
            hazard = np.where(micro, 0.12, np.where(cy < 2000, 0.01, 0.04))
            close_year = cy + rng.random(n) + rng.exponential(1 / hazard)
            return pd.DataFrame({"in_q": in_q, "year": cy, "naf_i": naf_i, "micro": micro,
                                 "close": close_year})

        new = draw(np.repeat(years, rng.poisson(created[in_q])))
        alive_new = int(((new["year"] <= 2017) & (new["close"] >= 2018)).sum())
        # old establishments (1950-1999) still active at the end of 2017: as many as needed
        n_old = max(active17[in_q] - alive_new, 0)
        old = draw(rng.integers(1950, 2000, 10 * n_old + 10))
        alive_old = old[old["close"] >= 2018]
        gone = old[(old["close"] < 2018) & (old["close"] >= 2016)]
        old = pd.concat([alive_old.iloc[:n_old], gone.iloc[:int(0.25 * n_old)]])
        rows += [new, old]
    est = pd.concat(rows, ignore_index=True)
    n = len(est)
    doy = rng.integers(0, 365, n)
    est["date"] = pd.to_datetime(est["year"].astype(str) + "-01-01") + pd.to_timedelta(doy, "D")
    # location: a building, in a QPV or not
    bq = b["qpv"].to_numpy() >= 0
    usage = b["usage1"].to_numpy()
    w_b = np.where(usage == "Commercial et services", 8.0,
                   np.where(usage == "Industriel", 6.0, np.where(usage == "Annexe", 0.0,
                            0.3 + np.sqrt(b["n_dw"].to_numpy()))))
    bi = np.empty(n, dtype=int)
    for in_q in (True, False):
        m = (est["in_q"] == in_q).to_numpy()
        cand = np.flatnonzero(bq == in_q)
        p = w_b[cand] / w_b[cand].sum()
        bi[m] = rng.choice(cand, size=int(m.sum()), p=p)
    est["building"] = bi
    est["x"] = b["x"].to_numpy()[bi] + rng.uniform(-3, 3, n)
    est["y"] = b["y"].to_numpy()[bi] + rng.uniform(-3, 3, n)
    est["commune"] = b["commune"].to_numpy()[bi]
    # identifiers: Luhn-valid SIREN and SIRET
    pool = np.unique(rng.integers(30_000_000, 99_999_999, int(1.2 * n) + 100))
    sirens = rng.permutation(pool)[:n]
    siren = [_luhn_complete(f"{v:08d}") for v in sirens]
    nic = [f"{int(v):04d}" for v in rng.integers(1, 60, n)]
    siret = [_luhn_complete(s_ + c_) for s_, c_ in zip(siren, nic, strict=True)]
    est["siren"] = siren
    est["nic"] = [st[9:] for st in siret]
    est["siret"] = siret
    u = rng.random(n)
    naf_code = np.array([NAF_CODES[i][0] for i in est["naf_i"]])
    est["cat"] = np.where(est["micro"], "1000", np.select(
        [naf_code == "84.11Z", naf_code == "85.20Z", naf_code == "68.20B",
         naf_code == "94.99Z", u < 0.35, u < 0.6, u < 0.8, u < 0.92],
        ["7210", "7210", "6540", "9220", "5499", "5710", "5720", "5498"], "5599"))
    est["naf"] = naf_code
    est["tranche"] = np.where(est["micro"], "NN", rng.choice(
        ["NN", "00", "01", "02", "03", "11", "12", "21"], n,
        p=[0.3, 0.2, 0.18, 0.12, 0.08, 0.06, 0.04, 0.02]))
    est["nd"] = est["micro"] & (rng.random(n) < 0.05)
    com = terr.communes
    out = {}
    for year in (2017, 2023):
        end = year + 1.0   # stock at 31 December
        alive = (est["year"] <= year) & (est["close"] >= end)
        closed = (est["year"] <= year) & (est["close"] < end) & (est["close"] >= end - 2)
        s_ = est[alive | closed].copy()
        s_["etat"] = np.where(alive[alive | closed], "A", "F")
        hide = s_["nd"].to_numpy() & (year >= 2023)
        xs = np.where(hide, "[ND]", [f"{v:.1f}" for v in s_["x"]])
        ys = np.where(hide, "[ND]", [f"{v:.1f}" for v in s_["y"]])
        df = pd.DataFrame({
            "siren": s_["siren"].to_numpy(), "nic": s_["nic"].to_numpy(),
            "siret": s_["siret"].to_numpy(),
            "statutDiffusionEtablissement": np.where(hide, "P", "O"),
            "dateCreationEtablissement": s_["date"].dt.strftime("%Y-%m-%d").to_numpy(),
            "trancheEffectifsEtablissement": s_["tranche"].to_numpy(),
            "etablissementSiege": "true",
            "etatAdministratifEtablissement": s_["etat"].to_numpy(),
            "codeCommuneEtablissement": com["insee_com"].to_numpy()[s_["commune"].to_numpy()],
            "coordonneeLambertAbscisseEtablissement": xs,
            "coordonneeLambertOrdonneeEtablissement": ys,
            "activitePrincipaleEtablissement": s_["naf"].to_numpy(),
            "nomenclatureActivitePrincipaleEtablissement": "NAFRev2",
            "categorieJuridiqueUniteLegale": s_["cat"].to_numpy(),
            "source": SOURCE,
        })
        out[year] = df.sort_values("siret", kind="stable").reset_index(drop=True)
    return out


# ---------------------------------------------------------------------------------------------
# Walking street network (BD TOPO TRONCON_DE_ROUTE-like lines, noded at intersections)
# ---------------------------------------------------------------------------------------------
def street_network(b: gpd.GeoDataFrame, frames: list[Frame]) -> gpd.GeoDataFrame:
    """Streets along the rows of buildings and the cross streets between them; neighbouring
    pieces are joined by short footpaths, and any piece still apart is linked to the main
    network by a path to its nearest node."""
    from scipy.spatial import cKDTree

    # runs of buildings along each street (gaps under 120 m do not break a street)
    s = b[["commune", "row", "u0", "u1"]].sort_values(["commune", "row", "u0"], kind="stable")
    grp = s["commune"].astype(np.int64) * 100_000 + s["row"].astype(np.int64)
    prev_end = s.groupby(grp.to_numpy())["u1"].cummax().groupby(grp.to_numpy()).shift()
    new_run = prev_end.isna().to_numpy() | (s["u0"].to_numpy() - prev_end.to_numpy() > 120)
    run_id = np.cumsum(new_run)
    runs = s.groupby(run_id).agg(commune=("commune", "first"), row=("row", "first"),
                                 a=("u0", "min"), c=("u1", "max"))
    runs["a"] -= 15
    runs["c"] += 15
    by_row: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for r in runs.itertuples(index=False):
        by_row.setdefault((int(r.commune), int(r.row)), []).append((r.a, r.c))
    lines: list[tuple[float, float, float, float, str, str]] = []
    for fr in frames:
        local: list[tuple[float, float, float, float, str, str]] = []
        cross_at: dict[int, set[float]] = {}
        rows_here = sorted(k for (ci, k) in by_row if ci == fr.idx)
        for k in rows_here:
            nxt = by_row.get((fr.idx, k + 1), [])
            for a_, c_ in by_row[(fr.idx, k)]:
                m0 = math.ceil((a_ - fr.u_off) / CROSS_SPACING)
                m1 = math.floor((c_ - fr.u_off) / CROSS_SPACING)
                for m in range(m0, m1 + 1):
                    um = fr.u_off + m * CROSS_SPACING
                    if any(a2 <= um <= c2 for a2, c2 in nxt):
                        v0 = fr.v_off + k * ROW_SPACING
                        local.append((um, v0, um, v0 + ROW_SPACING, "Route à 1 chaussée", "5"))
                        cross_at.setdefault(k, set()).add(um)
                        cross_at.setdefault(k + 1, set()).add(um)
        for k in rows_here:
            vk = fr.v_off + k * ROW_SPACING
            imp = "4" if k % 5 == 0 else "5"
            for a_, c_ in by_row[(fr.idx, k)]:
                cuts = sorted([a_, c_, *[u for u in cross_at.get(k, ()) if a_ < u < c_]])
                for u0, u1 in itertools.pairwise(cuts):
                    local.append((u0, vk, u1, vk, "Route à 1 chaussée", imp))
        if not local:
            continue
        arr = np.array([sg[:4] for sg in local], dtype=float)
        x0, y0 = fr.to_world(arr[:, 0], arr[:, 1])
        x1, y1 = fr.to_world(arr[:, 2], arr[:, 3])
        for j, sg in enumerate(local):
            lines.append((round(float(x0[j]), 2), round(float(y0[j]), 2),
                          round(float(x1[j]), 2), round(float(y1[j]), 2), sg[4], sg[5]))
    # connected components of the street graph (nodes: rounded end points)
    ends = np.array([[ln[0], ln[1]] for ln in lines] + [[ln[2], ln[3]] for ln in lines])
    _, node = np.unique(np.round(ends, 1), axis=0, return_inverse=True)
    node = node.ravel()
    nseg = len(lines)
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    n_nodes = int(node.max()) + 1
    coords = np.zeros((n_nodes, 2))
    coords[node] = ends
    edges_a, edges_b = [node[:nseg]], [node[nseg:]]

    def components() -> np.ndarray:
        a, b = np.concatenate(edges_a), np.concatenate(edges_b)
        graph = coo_array((np.ones(len(a)), (a, b)), shape=(n_nodes, n_nodes))
        return connected_components(graph, directed=False)[1]

    def add_links(a: np.ndarray, c: np.ndarray) -> None:
        for i, j in zip(a.tolist(), c.tolist(), strict=True):
            p0, p1 = coords[i], coords[j]
            lines.append((float(p0[0]), float(p0[1]), float(p1[0]), float(p1[1]), "Chemin", "6"))
        edges_a.append(a)
        edges_b.append(c)

    comp = components()
    # footpaths between neighbouring pieces: within 400 m, the shortest link of each pair of
    # pieces in each 300 m cell (a single link per piece made walks of kilometres between
    # streets a few hundred metres apart)
    near = cKDTree(coords).query_pairs(r=400.0, output_type="ndarray")
    near = near[comp[near[:, 0]] != comp[near[:, 1]]]
    if len(near):
        pa, pc = coords[near[:, 0]], coords[near[:, 1]]
        mid = np.floor((pa + pc) / 2 / 300.0).astype(np.int64)
        links = pd.DataFrame({
            "c0": np.minimum(comp[near[:, 0]], comp[near[:, 1]]),
            "c1": np.maximum(comp[near[:, 0]], comp[near[:, 1]]),
            "mx": mid[:, 0], "my": mid[:, 1],
            "d": np.hypot(*(pa - pc).T), "a": near[:, 0], "c": near[:, 1]})
        links = links.sort_values(["c0", "c1", "mx", "my", "d", "a", "c"], kind="stable")
        links = links.drop_duplicates(["c0", "c1", "mx", "my"])
        add_links(links["a"].to_numpy(), links["c"].to_numpy())
        comp = components()
    # roads between pieces still apart (e.g. two communes' street grids): the shortest link of
    # each pair of pieces less than 1.5 km apart
    ids = np.unique(comp)
    if len(ids) > 1:
        members = {int(c): np.flatnonzero(comp == c) for c in ids}
        trees = {c: cKDTree(coords[m]) for c, m in members.items()}
        extra: list[tuple[int, int]] = []
        for ca in ids:
            pts_a = members[int(ca)]
            for cb in ids[ids > ca]:
                d, j = trees[int(cb)].query(coords[pts_a], distance_upper_bound=1500.0)
                if np.isfinite(d).any():
                    k = int(np.argmin(d))
                    extra.append((int(pts_a[k]), int(members[int(cb)][j[k]])))
        if extra:
            ex = np.array(extra)
            add_links(ex[:, 0], ex[:, 1])
            comp = components()
    main = int(np.bincount(comp).argmax())
    in_main = comp == main
    tree = cKDTree(coords[in_main])
    main_idx = np.flatnonzero(in_main)
    others = np.flatnonzero(~in_main)
    if len(others):
        d, j = tree.query(coords[others])
        best = pd.DataFrame({"comp": comp[others], "d": d, "a": others, "c": main_idx[j]})
        best = best.sort_values(["comp", "d"], kind="stable").drop_duplicates("comp")
        add_links(best["a"].to_numpy(), best["c"].to_numpy())
    geoms = shapely.linestrings(np.array([[[ln[0], ln[1]], [ln[2], ln[3]]] for ln in lines]))
    n = len(lines)
    return gpd.GeoDataFrame({
        "ID": [f"TRONROUT{500_000_000 + 7 * i:016d}" for i in range(n)],
        "NATURE": [ln[4] for ln in lines], "IMPORTANCE": [ln[5] for ln in lines],
        "ACCES_PED": "Libre", "source": SOURCE}, geometry=geoms, crs=L93)


# ---------------------------------------------------------------------------------------------
# Housing quality (PLH diagnostic-like classes per block, polygons in CC50)
# ---------------------------------------------------------------------------------------------
PLH_CLASSES = ((0.30, "bon"), (0.48, "moyen"), (0.64, "médiocre"), (9.0, "mauvais"))


def housing_quality(b: gpd.GeoDataFrame, frames: list[Frame]) -> gpd.GeoDataFrame:
    """One polygon per street block holding dwellings, classed on the dwellings' condition."""
    res = b[b["n_dw"] > 0]
    u_off = np.array([f.u_off for f in frames])
    ci = res["commune"].to_numpy()
    w = res["n_dw"].to_numpy().astype(float)
    blk = pd.DataFrame({
        "commune": ci,
        # block between street k and k+1: side +1 of row k and side -1 of row k+1
        "k": np.where(res["side"].to_numpy() > 0, res["row"], res["row"] - 1),
        "c": np.floor(((res["u0"] + res["u1"]).to_numpy() / 2 - u_off[ci]) / CROSS_SPACING)
        .astype(int),
        "w": w, "cw": res["condition"].to_numpy() * w, "yw": res["year"].to_numpy() * w,
        "u0": res["u0"].to_numpy(), "u1": res["u1"].to_numpy()})
    g = blk.groupby(["commune", "k", "c"], sort=True).agg(
        w=("w", "sum"), cw=("cw", "sum"), yw=("yw", "sum"), u0=("u0", "min"),
        u1=("u1", "max")).reset_index()
    cond = g["cw"] / g["w"]
    code = np.searchsorted(np.array([t for t, _ in PLH_CLASSES]), cond.to_numpy(), side="right")
    polys = np.empty(len(g), dtype=object)
    for fr in frames:
        m = (g["commune"] == fr.idx).to_numpy()
        if not m.any():
            continue
        s = g[m]
        lo = fr.u_off + s["c"].to_numpy() * CROSS_SPACING
        u0 = np.maximum(s["u0"].to_numpy() - 3, lo + 6)
        u1 = np.minimum(s["u1"].to_numpy() + 3, lo + CROSS_SPACING - 6)
        v0 = fr.v_off + s["k"].to_numpy() * ROW_SPACING + 6
        v1 = v0 + ROW_SPACING - 12
        us = np.stack([u0, u1, u1, u0, u0], axis=1)
        vs = np.stack([v0, v0, v1, v1, v0], axis=1)
        x, y = fr.to_world(us, vs)
        polys[m] = shapely.polygons(np.stack([np.round(x, 2), np.round(y, 2)], axis=2))
    out = gpd.GeoDataFrame({
        "classe": [PLH_CLASSES[i][1] for i in code], "code": code + 1,
        "nb_logts": g["w"].astype(int).to_numpy(),
        "annee_moy": np.round(g["yw"] / g["w"]).astype(int).to_numpy(), "source": SOURCE},
        geometry=polys, crs=L93)
    return out.to_crs(CC50)


# ---------------------------------------------------------------------------------------------
# Summer land surface temperature (heat islands), Landsat-like: 30 m, UTM 31N
# ---------------------------------------------------------------------------------------------
def summer_lst(terr: Territory, b: gpd.GeoDataFrame, acts: gpd.GeoDataFrame,
               out: Path) -> dict[str, Any]:
    from scipy.ndimage import gaussian_filter, zoom

    rng = rng_for("lst")
    bu = b.to_crs(UTM31)
    xmin, ymin, xmax, ymax = terr.communes.to_crs(UTM31).total_bounds
    xmin, ymin = math.floor(xmin / 30) * 30 - 990, math.floor(ymin / 30) * 30 - 990
    xmax, ymax = math.ceil(xmax / 30) * 30 + 990, math.ceil(ymax / 30) * 30 + 990
    w, h = int((xmax - xmin) / 30), int((ymax - ymin) / 30)
    fine = features.rasterize(_rect_shapes(bu.geometry.to_numpy(), [1] * len(bu)),
                              out_shape=(h * 3, w * 3),
                              transform=from_origin(xmin, ymax, 10, 10), fill=0, dtype="uint8")
    cover = fine.reshape(h, 3, w, 3).mean(axis=(1, 3))
    dense = gaussian_filter(cover, 3)
    act = features.rasterize([(g, 1) for g in acts.to_crs(UTM31).geometry], out_shape=(h, w),
                             transform=from_origin(xmin, ymax, 30, 30), fill=0, dtype="uint8")
    noise = zoom(rng.normal(0, 1, (h // 20 + 2, w // 20 + 2)), 20, order=1)[:h, :w]
    lst = 27.0 + 28.0 * dense + 6.0 * cover + 3.5 * gaussian_filter(act.astype(float), 2) \
        + 1.2 * noise
    lst = np.round(lst, 2).astype(np.float32)
    # a cloud masked out of the scene
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = int(h * 0.8), int(w * 0.15)
    lst[(yy - cy) ** 2 + (xx - cx) ** 2 < 22 ** 2] = np.nan
    path = out / "illustratif_lst_ete_utm31n_30m.tif"
    prof = _raster_profile(from_origin(xmin, ymax, 30, 30), w, h, "float32", float("nan"), UTM31)
    prof.update(blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(lst, 1)
        dst.update_tags(QPVGEO_SOURCE=SOURCE, QPVGEO_VINTAGE="2022-07", QPVGEO_UNITS="degC",
                        QPVGEO_DESCRIPTION="Température de surface estivale (îlots de chaleur), "
                        "type Landsat 30 m (ILLUSTRATIF, données fictives générées par qpvgeo)")
        dst.set_band_description(1, "temperature de surface (degres Celsius)")
    return {"path": path.name, "shape": [h, w], "pixel_m": 30}


# ---------------------------------------------------------------------------------------------
# Vector layers in their official layouts
# ---------------------------------------------------------------------------------------------
def write_qpv2024(qpv: gpd.GeoDataFrame, path: Path) -> None:
    """ANCT ``QP2024_France_Hexagonale_Outre_Mer_WGS84`` layout (GeoJSON, EPSG:4326)."""
    out = gpd.GeoDataFrame({
        "code_qp": qpv["code_qp"], "lib_qp": qpv["lib_qp"], "insee_reg": "32",
        "insee_dep": "62", "insee_com": ["; ".join(c) for c in qpv["insee_com"]],
        "lib_com": ["; ".join(c) for c in qpv["lib_com"]],
        "siren_epci": ["; ".join(s.split(";")) for s in qpv["siren_epci"]],
        "npnru": qpv["npnru"], "source": SOURCE,
    }, geometry=qpv.geometry.simplify(1.0).to_numpy(), crs=L93).to_crs(WGS84)
    out["geometry"] = shapely.set_precision(out.geometry.to_numpy(), 1e-7)
    out.to_file(path, driver="GeoJSON", layer_options={"COORDINATE_PRECISION": 7,
                                                       "RFC7946": "YES"})


def write_shp(gdf: gpd.GeoDataFrame, path: Path,
              reals: dict[str, tuple[int, int]] | None = None) -> None:
    """Write a shapefile with fields of their natural width (``reals``: width, decimals)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gdf.to_file(path, driver="ESRI Shapefile", encoding="UTF-8")
    _narrow_dbf(path.with_suffix(".dbf"), reals or {})


def _narrow_dbf(path: Path, reals: dict[str, tuple[int, int]]) -> None:
    """Give every dBase field its natural width, as GDAL's ``RESIZE=YES`` (3 times faster).

    Text fields keep their longest value, numbers their widest one; the fields of ``reals``
    are rewritten with a given width and number of decimals. Columns are cut as byte arrays
    (numpy), not record by record.
    """
    raw = path.read_bytes()
    n_rec = int.from_bytes(raw[4:8], "little")
    hdr_len = int.from_bytes(raw[8:10], "little")
    rec_len = int.from_bytes(raw[10:12], "little")
    fields = []
    pos = 32
    while raw[pos] != 0x0D:
        fields.append(bytearray(raw[pos:pos + 32]))
        pos += 32
    body = np.frombuffer(raw, dtype=np.uint8, count=n_rec * rec_len,
                         offset=hdr_len).reshape(n_rec, rec_len)
    parts = [body[:, :1]]
    off = 1
    for f in fields:
        w = f[16]
        cell = body[:, off:off + w]
        off += w
        name = bytes(f[:11]).rstrip(b"\0").decode()
        filled = cell != 0x20
        any_filled = filled.any(axis=1)
        if name in reals:
            f[16], f[17] = reals[name]
            out = []
            for row in cell:
                txt = bytes(row).strip()
                if txt and not txt.startswith(b"*"):
                    txt = f"{float(txt):.{f[17]}f}".encode()
                out.append(txt.rjust(f[16])[:f[16]])
            parts.append(np.frombuffer(b"".join(out), dtype=np.uint8).reshape(n_rec, f[16])
                         if n_rec else np.zeros((0, f[16]), np.uint8))
            continue
        if chr(f[11]) == "C":  # text: left-aligned, cut after the longest value
            ends = np.where(any_filled, w - np.argmax(filled[:, ::-1], axis=1), 0)
            new_w = max(1, int(ends.max()) if n_rec else 1)
            parts.append(cell[:, :new_w])
        else:  # numbers: right-aligned, cut before the widest value
            starts = np.where(any_filled, np.argmax(filled, axis=1), w)
            new_w = max(1, w - (int(starts.min()) if n_rec else w - 1))
            parts.append(cell[:, w - new_w:])
        f[16] = new_w
    new_rec = 1 + sum(f[16] for f in fields)
    header = bytearray(raw[:32])
    header[10:12] = new_rec.to_bytes(2, "little")
    out_bytes = bytearray(header)
    for f in fields:
        out_bytes += f
    out_bytes += raw[pos:hdr_len]  # terminator (and padding, if any)
    out_bytes += np.ascontiguousarray(np.concatenate(parts, axis=1)).tobytes()
    out_bytes += raw[hdr_len + n_rec * rec_len:]
    path.write_bytes(bytes(out_bytes))


def buildings_layer(b: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """BD TOPO v3 ``BATIMENT`` layout (shapefile fields)."""
    rng = rng_for("batiment")
    n = len(b)
    usage1 = b["usage1"].to_numpy().astype(object)
    res = b["n_dw"].to_numpy() > 0
    # BD TOPO often lacks the use and the dwelling count
    indiff = res & (rng.random(n) < 0.06)
    usage1[indiff] = "Indifférencié"
    nb_logts = b["n_dw"].to_numpy().astype(float)
    nb_logts[(rng.random(n) < 0.08) | (b["usage1"] == "Annexe").to_numpy()] = np.nan
    nb_logts[~res & (b["usage1"] != "Annexe").to_numpy()] = 0
    floors = b["floors"].to_numpy().astype(float)
    floors[rng.random(n) < 0.10] = np.nan
    height = b["height"].to_numpy().astype(float)
    height[rng.random(n) < 0.02] = np.nan
    nature = np.where(b["btype"].to_numpy() == T_ACT, "Industriel, agricole ou commercial",
                      "Indifférenciée")
    year = b["year"].to_numpy()
    date_app = np.where(rng.random(n) < 0.3, [f"{y}-01-01" for y in year], "")
    order = rng.permutation(n)
    ids = np.array([f"BATIMENT{240_000_000 + 13 * k:016d}" for k in order])
    return gpd.GeoDataFrame({
        "ID": ids, "NATURE": nature, "USAGE1": usage1, "DATE_APP": date_app,
        "NB_LOGTS": nb_logts, "NB_ETAGES": floors, "HAUTEUR": height,
        "source": SOURCE}, geometry=b.geometry.to_numpy(), crs=L93)


def iris_layer(iris: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """IGN CONTOURS-IRIS 2.1 layout (shapefile, EPSG:2154)."""
    g = iris.copy()
    g["geometry"] = shapely.set_precision(g.geometry.to_numpy(), 0.01)
    g["source"] = SOURCE
    return g[["INSEE_COM", "NOM_COM", "IRIS", "CODE_IRIS", "NOM_IRIS", "TYP_IRIS", "source",
              "geometry"]]


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------
def generate(out: Path) -> dict[str, Any]:
    """Generate every illustrative layer under ``out/shapes`` and ``out/thermography``."""
    shapes, thermo = out / "shapes", out / "thermography"
    shapes.mkdir(parents=True, exist_ok=True)
    thermo.mkdir(parents=True, exist_ok=True)
    terr = load_territory()
    qpv = build_qpv(terr)
    log(f"QPV 2024: {len(qpv)} perimeters")
    frames, acts, grid = build_zones(terr, qpv)
    cand = layout_buildings(terr, qpv, frames, acts, grid)
    sel = select_buildings(terr, qpv, frames, cand)
    b = finish_buildings(terr, qpv, sel, frames)
    iris, iris_of = build_iris(terr, qpv, frames, acts, b)
    b["iris"] = iris_of
    log(f"{len(b)} buildings, {len(iris)} IRIS")
    q15, corr = build_qpv2015(terr, qpv)
    dws = build_dwellings(qpv, b)
    # census 2020: each commune holds its real municipal population (PL2020)
    c20 = simulate_census(2020, terr, qpv, dws, dict(enumerate(terr.communes["pop2020"])),
                          dws["commune"].to_numpy())
    # census 2015: QPV parts had more inhabitants (growth < 0) except four; the rest of
    # each commune is scaled so that the CALL total is CALL_POP_2015
    cell20 = dws["commune"].to_numpy() * 100 + (dws["qpv"].to_numpy() + 1)
    hcell = c20.hh["commune"].to_numpy() * 100 + c20.hh["qpv"].to_numpy() + 1
    pop_cell = pd.Series(c20.hh["size"].to_numpy()).groupby(hcell).sum()
    growth = {qi + 1: QPV_PARAMS[code]["growth"] for qi, code in enumerate(qpv["code_qp"])}
    rng = rng_for("pop2015")
    com_g = rng.uniform(-0.01, 0.03, len(terr.communes))
    t15: dict[int, float] = {}
    for cell, pop in pop_cell.items():
        ci, q1 = divmod(int(cell), 100)
        t15[int(cell)] = pop / (1 + growth[q1]) if q1 else pop / (1 + com_g[ci])
    in_call = terr.communes["in_call"].to_numpy()
    call_q = sum(v for k, v in t15.items() if in_call[k // 100] and k % 100)
    call_r = sum(v for k, v in t15.items() if in_call[k // 100] and not k % 100)
    f = (CALL_POP_2015 - call_q) / call_r
    t15i = {k: round(v * f) if not k % 100 else round(v) for k, v in t15.items()}
    c15 = simulate_census(2015, terr, qpv, dws, t15i, cell20)
    log(f"census: {len(c20.pp)} persons in 2020, {len(c15.pp)} in 2015")

    files: list[Path] = []

    def add(p: Path) -> None:
        files.append(p)

    p = shapes / "illustratif_qpv2024_wgs84.geojson"
    write_qpv2024(qpv, p)
    add(p)
    q15_out = q15.assign(source=SOURCE)
    q15_out["geometry"] = q15_out.geometry.simplify(1.0)
    p = shapes / "illustratif_qp2015_wgs84.shp"
    write_shp(q15_out.to_crs(WGS84), p)
    add(p)
    p = shapes / "illustratif_liste-correspondance-qp2024-qp2015.csv"
    _fmt_table(corr.assign(source=SOURCE), p)
    add(p)
    p = shapes / "illustratif_contours_iris.shp"
    write_shp(iris_layer(iris), p)
    add(p)
    p = shapes / "illustratif_batiment.shp"
    write_shp(buildings_layer(b), p, reals={"NB_LOGTS": (4, 0), "NB_ETAGES": (3, 0),
                                           "HAUTEUR": (6, 1)})
    add(p)
    for c in (c20, c15):
        for name, df in census_tables(c, iris).items():
            p = shapes / f"illustratif_{name}.csv"
            _fmt_table(df.assign(source=SOURCE), p)
            add(p)
        p = shapes / f"illustratif_BASE_TD_FILO_DISP_IRIS_{c.year}.csv"
        _fmt_table(filosofi_iris(c, iris, terr).assign(source=SOURCE), p)
        add(p)
        for name, df in filosofi_geo(c, terr).items():
            p = shapes / f"illustratif_{name}.csv"
            _fmt_table(df.assign(source=SOURCE), p)
            add(p)
    # QPV-level tables: 2024 QPV with the 2020 census, 2015 QPV with the 2015 census
    for c, zones, code_col, name_col, tag in (
            (c20, qpv, "code_qp", "lib_qp", "qp2024_2020"),
            (c15, q15, "CODE_QP", "NOM_QP", "qp2015_2015")):
        cen = shapely.points(b["x"].to_numpy(), b["y"].to_numpy())
        tree = shapely.STRtree(zones.geometry.to_numpy())
        pi, qi = tree.query(cen, predicate="within")
        zb = np.full(len(b), -1)
        zb[pi] = qi
        zone_of_hh = zb[c.hh["building"].to_numpy()]
        p = shapes / f"illustratif_insee_indicateurs_{tag}.csv"
        _fmt_table(qpv_table(c, zones, zone_of_hh, code_col, name_col).assign(source=SOURCE),
                   p, floatfmt="%.2f")
        add(p)
    p = shapes / "illustratif_rpls_2021.csv"
    rpls = rpls_table(terr, qpv, q15, iris, b, dws, frames)
    rpls.to_csv(p, sep=";", index=False, encoding="utf-8-sig", lineterminator="\n")
    add(p)
    bpe, colleges = bpe_tables(terr, qpv, q15, iris, b, frames)
    p = shapes / "illustratif_bpe23_ensemble_xy.csv"
    _fmt_table(bpe, p)
    add(p)
    p = shapes / "illustratif_colleges_ips_2022.csv"
    _fmt_table(colleges, p, floatfmt="%.1f")
    add(p)
    for year, df in sirene_tables(terr, qpv, b).items():
        p = shapes / f"illustratif_sirene_stocketablissement_{year}.csv"
        df.to_csv(p, sep=",", index=False, encoding="utf-8", lineterminator="\n")
        add(p)
    p = shapes / "illustratif_troncon_de_route.shp"
    streets = street_network(b, frames)
    write_shp(streets, p)
    add(p)
    p = shapes / "illustratif_qualite_habitat_plh_cc50.shp"
    write_shp(housing_quality(b, frames), p)
    add(p)
    log("vector layers and tables written")
    tinfo = thermography(b, thermo, pixel=PIXELS["heatloss"], temp_pixel=PIXELS["temperature"])
    tinfo["summer_lst"] = summer_lst(terr, b, acts, thermo)
    files += [thermo / tinfo[k]["path"] for k in ("heatloss", "temperature", "summer_lst")]
    log("rasters written")
    summary = {
        "qpv_population_2020": int((c20.pp["qpv"] >= 0).sum()),
        "qpv_population_2020_call_communes": int(((c20.pp["qpv"] >= 0) & terr.communes[
            "in_call"].to_numpy()[c20.pp["commune"].to_numpy()]).sum()),
        "buildings": len(b), "dwellings": len(dws), "rpls_rows": len(rpls),
        "rpls_in_qpv": int((rpls["PLG_QP24"] != "").sum()), "iris": len(iris),
        "bpe_rows": len(bpe), "street_segments": len(streets), "rasters": tinfo,
    }
    return {"files": files, "summary": summary}


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    global QUIET
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE,
                    help="folder receiving shapes/ and thermography/ (default: data/)")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--if-missing", action="store_true",
                    help="do nothing when the stamp .demo-complete is there")
    ap.add_argument("--heatloss-pixel", type=float, default=2.0,
                    help="pixel size of the heat-loss raster, metres (default 2, peak memory "
                    "about 1.2 GB; 1 m for benchmarks: 4 times more pixels, about 2.5 GB)")
    ap.add_argument("--temperature-pixel", type=float, default=5.0,
                    help="pixel size of the apparent-temperature raster, metres (default 5)")
    args = ap.parse_args(argv)
    QUIET = args.quiet
    for px in (args.heatloss_pixel, args.temperature_pixel):
        if px <= 0 or abs(100 / px - round(100 / px)) > 1e-9:
            ap.error(f"pixel size {px} m must divide 100 m (e.g. 0.5, 1, 2, 4, 5, 10)")
    PIXELS.update(heatloss=args.heatloss_pixel, temperature=args.temperature_pixel)
    out = args.out.resolve()
    (out / "shapes").mkdir(parents=True, exist_ok=True)
    # One generation at a time per folder (qpvgeo.datasets may start one from another
    # process): the lock and the work folder match the git-ignored data/shapes/illustratif_*.
    lock = os.open(out / "shapes" / "illustratif_.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX)
    except ImportError:  # pragma: no cover - Windows
        pass
    try:
        return _locked_main(out, args.if_missing)
    finally:
        os.close(lock)


def _locked_main(out: Path, if_missing: bool) -> int:
    stamp = out / ".demo-complete"
    if if_missing and stamp.exists():
        return 0
    if stamp.exists():
        stamp.unlink()
    for old in (out / "shapes").glob("illustratif_.tmp-*"):
        shutil.rmtree(old, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix="illustratif_.tmp-", dir=out / "shapes"))
    try:
        res = generate(tmp)
        manifest: dict[str, Any] = {
            "generator": "data/make_demo.py", "version": GENERATOR_VERSION, "seed": SEED,
            "source": SOURCE, "files": {}, "summary": res["summary"]}
        moved = []
        for sub in ("shapes", "thermography"):
            (out / sub).mkdir(exist_ok=True)
            for old in (out / sub).glob("illustratif_*"):
                if old.is_file() and not old.name.startswith("illustratif_."):
                    old.unlink()
            for f in sorted((tmp / sub).iterdir()):
                rel = f"{sub}/{f.name}"
                manifest["files"][rel] = {"bytes": f.stat().st_size, "sha256": _file_digest(f)}
                moved.append((f, out / sub / f.name))
        for src, dst in moved:
            os.replace(src, dst)
        total = sum(v["bytes"] for v in manifest["files"].values())
        manifest["total_bytes"] = total
        (out / "shapes" / "illustratif_manifest.json").write_text(
            json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        stamp.write_text(f"qpvgeo demo territory generated (version {GENERATOR_VERSION}, "
                         f"seed {SEED}): {len(manifest['files'])} files, {total / 1e6:.1f} MB\n",
                         encoding="utf-8")
        log(f"done: {len(manifest['files'])} files, {total / 1e6:.1f} MB in {out}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
