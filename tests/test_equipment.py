"""Tests of qpvgeo.equipment on hand-worked fixtures (Lambert-93, whole metres).

Local frame: x, y in metres from the Lambert-93 point (700 000, 6 600 000).

    y
    1000  +----------------------S2-----------------+ (1000,1000)
          |S1  medecin M at (600,1000)              |S3
          |                                         |
      100 +--+ zone QA = [0,100]²                   |
          |QA|  pharmacies P1 (50,50) P2 (600,50)   |   P3 (1300,50)
        0 +--+----------------------------------(1000,50)
          0 100

Streets: S1 (50,50)→(50,1000), S2 (50,1000)→(1000,1000), S3 (1000,1000)→(1000,50).
Residences in QA: R1 (50,50) with 3 dwellings, R2 (90,90) with 1 dwelling.
"""

from __future__ import annotations

import itertools
import math
import warnings

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from _helpers import X0, Y0, assert_result, pt, sq

from qpvgeo.equipment import (
    DEFAULT_REACH_M,
    WalkingGraph,
    assign_points,
    attach_attributes,
    equipment_access,
    reach_pairs,
    walking_reach_m,
)
from qpvgeo.errors import DataQualityWarning, DuplicateKeyError, MissingCRSError, SchemaError


def ln(*coords):
    return shapely.LineString([(X0 + x, Y0 + y) for x, y in coords])


@pytest.fixture
def zones():
    return gpd.GeoDataFrame(
        {"code_qpv": ["QA", "QB"], "pop": [2000.0, 0.0]},
        geometry=[sq(0, 0, 100, 100), sq(5000, 0, 5100, 100)], crs=2154,
    ).set_index("code_qpv")


@pytest.fixture
def equipment():
    return gpd.GeoDataFrame(
        {"typequ": ["D201", "D307", "D307", "D307"]},
        geometry=[pt(600, 1000), pt(50, 50), pt(600, 50), pt(1300, 50)], crs=2154,
    )


@pytest.fixture
def residences():
    return gpd.GeoDataFrame({"nb_logts": [3, 1]}, geometry=[pt(50, 50), pt(90, 90)], crs=2154)


@pytest.fixture
def streets():
    return gpd.GeoDataFrame(
        geometry=[ln((50, 50), (50, 1000)), ln((50, 1000), (1000, 1000)),
                  ln((1000, 1000), (1000, 50))], crs=2154)


KINDS = {"medecin": ["D201"], "pharmacie": ["D307"]}


def test_walking_reach_default():
    assert walking_reach_m() == 4.5 * 1000 * 15 / 60
    assert DEFAULT_REACH_M == 1125.0
    assert walking_reach_m(10, 6) == 1000.0


# ---------------------------------------------------------------------------- assign_points

def test_assign_points_interior_boundary_outside():
    # two adjacent squares sharing the edge x = 100
    zs = gpd.GeoDataFrame({"z": ["A", "B"]}, geometry=[sq(0, 0, 100, 100),
                                                       sq(100, 0, 200, 100)], crs=2154)
    pts = gpd.GeoDataFrame(geometry=[pt(50, 50), pt(100, 50), pt(150, 50), pt(500, 500),
                                     None], crs=2154)
    with pytest.warns(DataQualityWarning) as rec:
        a = assign_points(pts, zs, name="pts.gpkg")
    msgs = " ".join(str(w.message) for w in rec)
    assert "1 of 5 points lie outside every zone" in msgs
    assert "1 of 5 points have no geometry" in msgs
    # the boundary point (100, 50) goes to the first zone only
    assert list(zip(a.point_pos, a.zone_pos, strict=True)) == [(0, 0), (1, 0), (2, 1)]
    assert a.counts(2).tolist() == [2.0, 1.0]
    assert (a.n_outside_zones, a.n_no_geometry) == (1, 1)


def test_assign_points_overlapping_zones_count_in_each():
    zs = gpd.GeoDataFrame(geometry=[sq(0, 0, 100, 100), sq(50, 0, 150, 100)], crs=2154)
    pts = gpd.GeoDataFrame(geometry=[pt(75, 50), pt(25, 50)], crs=2154)
    a = assign_points(pts, zs)
    assert a.counts(2).tolist() == [2.0, 1.0]


def test_assign_points_territory_separates_expected_from_errors():
    zs = gpd.GeoDataFrame(geometry=[sq(0, 0, 100, 100)], crs=2154)
    terr = gpd.GeoDataFrame(geometry=[sq(0, 0, 1000, 1000)], crs=2154)
    inside_terr = gpd.GeoDataFrame(geometry=[pt(50, 50), pt(500, 500)], crs=2154)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = assign_points(inside_terr, zs, territory=terr)
    assert (a.n_outside_zones, a.n_outside_territory) == (1, 0)
    far = gpd.GeoDataFrame(geometry=[pt(50, 50), pt(5000, 5000)], crs=2154)
    with pytest.warns(DataQualityWarning, match="1 of 2 points lie outside the territory"):
        a = assign_points(far, zs, territory=terr)
    assert a.n_outside_territory == 1


def test_assign_points_reprojects_any_crs():
    # two points: older pyproj (QGIS environment) warns when transforming a single point
    pts = gpd.GeoDataFrame(geometry=[pt(50, 50), pt(60, 60)], crs=2154).to_crs(3950)
    two = gpd.GeoDataFrame(geometry=[sq(0, 0, 100, 100), sq(500, 500, 600, 600)], crs=2154)
    assert assign_points(pts, two.to_crs(4326)).counts(2).tolist() == [2.0, 0.0]


def test_missing_crs_and_duplicate_zone_index(equipment):
    zs = gpd.GeoDataFrame(geometry=[sq(0, 0, 100, 100)])
    with pytest.raises(MissingCRSError):
        assign_points(equipment, zs)
    dup = gpd.GeoDataFrame(geometry=[sq(0, 0, 1, 1), sq(1, 1, 2, 2)], index=["Q", "Q"],
                           crs=2154)
    with pytest.raises(DuplicateKeyError, match="Q"):
        equipment_access(equipment, dup, kinds=KINDS)


# ---------------------------------------------------------------------------- walking graph

def test_graph_from_lines_distances(streets):
    g = WalkingGraph.from_lines(streets)
    # densified every 25 m: 950/25 = 38 segments per street, 3*38 edges, 3*38+1 nodes
    assert g.n_edges == 3 * 38
    assert g.n_nodes == 3 * 38 + 1
    d = g.distances_from(np.array([[X0 + 50, Y0 + 50]]))
    nodes, snap = g.snap(np.array([[X0 + 1000, Y0 + 50], [X0 + 600, Y0 + 1000]]))
    assert snap == pytest.approx([0, 0])
    assert d[nodes] == pytest.approx([950 * 3, 950 + 550], abs=1e-3)


def test_graph_matches_networkx_on_random_grid():
    """Peer check: Dijkstra distances equal networkx's on an irregular street grid."""
    rng = np.random.default_rng(5)
    n = 6
    xs = np.cumsum(rng.uniform(40, 120, n))
    ys = np.cumsum(rng.uniform(40, 120, n))
    lines = []
    for i in range(n):
        lines.append(ln(*[(xs[i], y) for y in ys]))
        lines.append(ln(*[(x, ys[i]) for x in xs]))
    streets = gpd.GeoDataFrame(geometry=lines, crs=2154)
    g = WalkingGraph.from_lines(streets, max_segment_m=0)
    G = nx.Graph()
    for line in lines:
        c = list(line.coords)
        for a, b in itertools.pairwise(c):
            G.add_edge(a, b, length=math.dist(a, b))
    src = (X0 + xs[0], Y0 + ys[0])
    ref = nx.single_source_dijkstra_path_length(G, src, weight="length")
    d = g.distances_from(np.array([src]))
    nodes, _ = g.snap(np.array(list(ref)))
    assert d[nodes] == pytest.approx(list(ref.values()), abs=1e-4)


def test_graph_from_networkx_with_crs():
    G = nx.Graph(crs="EPSG:2154")
    corners = {1: (50, 50), 2: (50, 1000), 3: (1000, 1000)}
    for k, (x, y) in corners.items():
        G.add_node(k, x=X0 + x, y=Y0 + y)
    G.add_edge(1, 2, length=950.0)
    G.add_edge(2, 3)  # no length: computed from coordinates
    g = WalkingGraph.from_networkx(G)
    d = g.distances_from(np.array([[X0 + 50, Y0 + 50]]))
    nodes, _ = g.snap(np.array([[X0 + 1000, Y0 + 1000]]))
    assert d[nodes][0] == pytest.approx(950 + 950, abs=1e-3)
    G.graph.pop("crs")
    with pytest.raises(MissingCRSError):
        WalkingGraph.from_networkx(G)


# ---------------------------------------------------------------------------- access

def test_equipment_access_euclidean_by_hand(zones, equipment, residences):
    before = equipment.copy()
    with pytest.warns(DataQualityWarning):
        out = equipment_access(equipment, zones, kinds=KINDS, population="pop",
                               residences=residences)
    assert_result(out, zones.index)
    pd.testing.assert_frame_equal(equipment, before)
    qa = out.loc["QA"]
    assert qa["reach_method"] == "euclidean"
    assert qa["coverage_basis"] == "points:nb_logts"
    # medecin M (600,1000): distance to the square [0,100]² = hypot(500, 900) = 1029.6 <= 1125
    assert qa["medecin_inside_count"] == 0
    assert qa["medecin_reach_count"] == 1
    # from R1 (50,50): hypot(550, 950) = 1097.7; from R2 (90,90): hypot(510, 910) = 1043.2
    d1, d2 = math.hypot(550, 950), math.hypot(510, 910)
    assert qa["medecin_covered_share"] == pytest.approx((3 + 1) / 4)
    assert qa["medecin_covered_pop"] == pytest.approx(2000.0)
    assert qa["medecin_nearest_median_m"] == pytest.approx(d1)  # weights 1 (d2) then 3 (d1)
    assert qa["medecin_nearest_mean_m"] == pytest.approx((3 * d1 + 1 * d2) / 4)
    # pharmacies: P1 inside, P2 500 m away, P3 1200 m away (> 1125)
    assert qa["pharmacie_inside_count"] == 1
    assert qa["pharmacie_reach_count"] == 2
    assert qa["pharmacie_per_10000"] == pytest.approx(1 / 2000 * 10000)
    assert qa["pharmacie_nearest_mean_m"] == pytest.approx((3 * 0 + math.hypot(40, 40)) / 4)
    # QB: zero population → NaN with a reason; no residence → grid
    qb = out.loc["QB"]
    assert np.isnan(qb["pharmacie_per_10000"])
    assert qb["pop_missing_reason"] == "zero"
    assert qb["coverage_basis"] == "grid"
    assert out.attrs["qpvgeo"]["equipment_outside_zones"] == 3  # M, P2, P3


def test_equipment_access_network_by_hand(zones, equipment, residences, streets):
    terr = gpd.GeoDataFrame(geometry=[sq(0, 0, 6000, 1100)], crs=2154)
    with pytest.warns(DataQualityWarning) as rec:
        out = equipment_access(equipment, zones, kinds=KINDS, residences=residences,
                               graph=streets, territory=terr)
    msgs = sorted(str(w.message) for w in rec)
    assert len(msgs) == 2
    assert "1 zone(s) hold no residence" in msgs[0]
    assert "does not cover 1 zone(s) (QB)" in msgs[1]
    qa, qb = out.loc["QA"], out.loc["QB"]
    assert qa["reach_method"] == "network"
    assert qb["reach_method"] == "euclidean_fallback"
    # R1 on node (50,50): 950 up S1 + 550 along S2 = 1500 > 1125
    # R2 (90,90) snaps to node (50,100) at hypot(40,10), then 900 + 550
    d1, d2 = 950 + 550, math.hypot(40, 10) + 900 + 550
    assert qa["medecin_covered_share"] == 0
    assert qa["medecin_reach_count"] == 0  # 925 + 550 from node (50,75) > 1125
    assert qa["medecin_nearest_median_m"] == pytest.approx(d1, abs=1e-3)
    assert qa["medecin_nearest_mean_m"] == pytest.approx((3 * d1 + d2) / 4, abs=1e-3)
    # P2 (600,50) is 500 m away as the crow flies but far by the streets: only P1 in reach
    assert qa["pharmacie_reach_count"] == 1
    assert qa["pharmacie_covered_share"] == 1


def test_equipment_access_grid_coverage():
    """Uniform grid: 16 points (25 m step, centres 12.5…87.5); only the column x = 87.5 lies
    within 1125 m of (1200, 50): hypot(1112.5, 37.5) = 1113.1 but 1137.5 > 1125 for x = 62.5.
    """
    zs = gpd.GeoDataFrame(geometry=[sq(0, 0, 100, 100)], crs=2154)
    eq = gpd.GeoDataFrame({"kind": ["x"]}, geometry=[pt(1200, 50)], crs=2154)
    with pytest.warns(DataQualityWarning, match="outside every zone"):
        out = equipment_access(eq, zs)
    assert out["coverage_basis"].iloc[0] == "grid"
    assert out["x_covered_share"].iloc[0] == pytest.approx(4 / 16)
    assert out["x_reach_count"].iloc[0] == 1


def test_equipment_access_territory_comparison(zones, equipment):
    terr = gpd.GeoDataFrame(geometry=[sq(-2000, -2000, 2000, 2000)], crs=2154)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every equipment lies in the territory: no warning
        out = equipment_access(equipment, zones.iloc[:1], kinds=KINDS, population="pop",
                               territory=terr, territory_population=40000)
    # territory: 3 pharmacies for 40,000 inhabitants = 0.75 per 10,000; QA: 1 for 2,000 = 5
    assert out["pharmacie_per_10000_territory"].iloc[0] == pytest.approx(3 / 40000 * 1e4)
    assert out["pharmacie_per_10000_ratio"].iloc[0] == pytest.approx(5 / 0.75)


def test_equipment_access_euclidean_reach_matches_geopandas_buffer(zones, equipment):
    """Peer check: the Euclidean reach equals a geopandas buffer + intersects."""
    with pytest.warns(DataQualityWarning):
        out = equipment_access(equipment, zones, kinds={"all": ["D201", "D307"]})
    buf = shapely.buffer(np.asarray(zones.geometry.array), DEFAULT_REACH_M, quad_segs=64)
    ref = [int(equipment.intersects(b).sum()) for b in buf]
    assert out["all_reach_count"].tolist() == ref


def test_equipment_access_bad_inputs(zones, equipment):
    with pytest.raises(SchemaError, match="typequ"):
        equipment_access(equipment.rename(columns={"typequ": "code"}), zones, kinds=KINDS)
    with pytest.raises(SchemaError, match="ips"):
        equipment_access(equipment, zones, kinds=KINDS, summaries={"ips": "mean"})


def test_attach_attributes():
    pts = gpd.GeoDataFrame({"uai": ["A", "B", None]}, geometry=[pt(0, 0)] * 3, crs=2154)
    table = pd.DataFrame({"uai": ["A", "C"], "ips": [85.0, 120.0]})
    with pytest.warns(DataQualityWarning, match="1 of 2 points"):
        out = attach_attributes(pts, table, on="uai")
    assert out["ips"].iloc[0] == 85.0
    assert out["ips"].iloc[1:].isna().all()
    assert "ips" not in pts.columns
    with pytest.raises(DuplicateKeyError):
        attach_attributes(pts, pd.concat([table, table]), on="uai")


def test_building_residences_footprint_fallback():
    """Buildings without nb_logts: the population is spread by footprint (residential only).
    B1 [0,10]² (100 m², centre (5,5)) is 1105 m from E (-1100, 5): covered; B2 [80,100]²
    (400 m²) is hypot(1190, 85) > 1125 m away; B3 is commercial and ignored."""
    zs = gpd.GeoDataFrame(geometry=[sq(0, 0, 100, 100)], crs=2154)
    bld = gpd.GeoDataFrame({"usage1": ["Résidentiel", "Résidentiel", "Commercial et services"],
                            "nb_logts": [np.nan, np.nan, 4.0]},
                           geometry=[sq(0, 0, 10, 10), sq(80, 80, 100, 100), sq(40, 40, 60, 60)],
                           crs=2154)
    eq = gpd.GeoDataFrame({"kind": ["e"]}, geometry=[pt(-1100, 5)], crs=2154)
    terr = gpd.GeoDataFrame(geometry=[sq(-2000, -100, 200, 200)], crs=2154)
    with pytest.warns(DataQualityWarning, match="0% of the residential buildings have a nb_logts"):
        out = equipment_access(eq, zs, residences=bld, territory=terr)
    assert out["coverage_basis"].iloc[0] == "buildings:footprint"
    assert out["e_covered_share"].iloc[0] == pytest.approx(100 / (100 + 400))
    # with dwellings given, every building with dwellings counts (here only B3, 4 dwellings)
    bld["nb_logts"] = [np.nan, 2.0, 4.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = equipment_access(eq, zs, residences=bld.iloc[1:], territory=terr)
    assert out["coverage_basis"].iloc[0] == "buildings:nb_logts"
    assert out["e_covered_share"].iloc[0] == 0  # B2 and B3 (centre (50,50): 1150 m) too far


def test_equipment_access_accepts_networkx_graph(zones, equipment, residences):
    G = nx.Graph(crs="EPSG:2154")
    for k, (x, y) in {1: (50, 50), 2: (50, 1000), 3: (600, 1000)}.items():
        G.add_node(k, x=X0 + x, y=Y0 + y)
    G.add_edges_from([(1, 2), (2, 3)])
    terr = gpd.GeoDataFrame(geometry=[sq(0, 0, 6000, 1100)], crs=2154)
    out = equipment_access(equipment, zones.iloc[:1], kinds=KINDS, residences=residences,
                           graph=G, territory=terr)
    # R1 on node 1: 950 + 550; R2 (90,90) snaps to node 1 at hypot(40,40)
    d1, d2 = 950 + 550, math.hypot(40, 40) + 950 + 550
    assert out["reach_method"].iloc[0] == "network"
    assert out["medecin_nearest_mean_m"].iloc[0] == pytest.approx((3 * d1 + d2) / 4, abs=1e-3)


def test_graph_joins_t_junctions_but_not_crossings():
    """B ends on A's interior at (50, 0) without a shared vertex: joined (T-junction).
    C crosses A at (80, 0) without a vertex (a bridge): not joined."""
    a = ln((0, 0), (100, 0))
    b = ln((50, 0), (50, 100))
    c = ln((80, -50), (80, 50))
    g = WalkingGraph.from_lines(gpd.GeoDataFrame(geometry=[a, b, c], crs=2154),
                                max_segment_m=0)
    d = g.distances_from(np.array([[X0, Y0]]))
    nodes, _ = g.snap(np.array([[X0 + 50, Y0 + 100], [X0 + 100, Y0]]))
    assert d[nodes] == pytest.approx([50 + 100, 100])
    assert g.n_nodes == 2 + 1 + 1 + 2  # A's ends, the junction, B's far end, C's ends
    assert len(g.main_nodes) == 4  # C is a separate component


def _line_graph() -> WalkingGraph:
    # nodes 0-1-2-3 along y = 0 every 100 m, and a branch 1-4 going north 300 m:
    #
    #         4 (100, 300)
    #         |
    #   0 --- 1 --- 2 --- 3
    #  (0,0) (100,0) (200,0) (300,0)
    xy = np.array([[0, 0], [100, 0], [200, 0], [300, 0], [100, 300]], dtype=float)
    return WalkingGraph(xy, np.array([0, 1, 2, 1]), np.array([1, 2, 3, 4]),
                        np.array([100.0, 100.0, 100.0, 300.0]))


def test_reachable_segments_cut_where_the_reach_runs_out():
    g = _line_graph()
    segs = g.reachable_segments(np.array([[0.0, 0.0]]), 250.0)
    # 0-1 and 1-2 whole (100 + 100 m); 2-3 reached from 2 with 250 - 200 = 50 m left;
    # 1-4 reached from 1 with 250 - 100 = 150 m left
    assert sum(shapely.length(segs)) == pytest.approx(100 + 100 + 50 + 150)
    ends = {tuple(np.round(shapely.get_coordinates(s)[-1], 3)) for s in segs}  # 1e-6 m snap
    assert (250.0, 0.0) in ends
    assert (100.0, 150.0) in ends
    area = g.service_area(np.array([[0.0, 0.0]]), 250.0, buffer_m=10.0, simplify_m=0)
    inside = shapely.points([[240, 0], [100, 140], [0, 5]])
    outside = shapely.points([[270, 0], [100, 170], [150, 40]])
    assert shapely.contains(area, inside).all()
    assert not shapely.intersects(area, outside).any()


def test_reach_pairs_by_hand():
    zones = gpd.GeoDataFrame({"code": ["A", "B"]}, index=["za", "zb"],
                             geometry=[shapely.box(0, 0, 100, 100),
                                       shapely.box(1000, 0, 1100, 100)], crs=2154)
    # equipment 0 inside A, 1 at 50 m from A, 2 at 400 m from B
    eq = gpd.GeoDataFrame({"kind": ["x", "x", "x"]},
                          geometry=shapely.points([[50, 50], [150, 50], [1500, 50]]), crs=2154)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        acc = equipment_access(eq, zones, reach_m=100.0)
    pairs = reach_pairs(acc, "x")
    assert pairs.to_dict("list") == {"zone": ["za", "za"], "equipment_pos": [0, 1]}
    assert acc["x_reach_count"].tolist() == [2.0, 0.0]
    with pytest.raises(SchemaError, match="no reach information for kind 'y'"):
        reach_pairs(acc, "y")
