"""IRIS × QPV correspondence, concerned IRIS, crosswalk tables: hand-worked on a tiny grid.

The grid (Lambert-93 metres, offset by X0, Y0 so coordinates are whole, realistic metres)::

    y=200 +--------+--------+
          |   C    |   D    |        IRIS: 100 m × 100 m squares, 10 000 m² each
    y=100 +--------+--------+        Q1 = x 50–150, y 0–100   (half of A, half of B)
          |   A    |   B    |        Q2 = x 0–100.5, y 99.5–200 (C plus 0.5 m of digitising
    y=0   +--------+--------+             noise over A, B and D: three slivers)
         x=0     x=100    x=200      Q3 = x 300–400, y 300–400 (outside every IRIS)
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from qpvgeo.errors import (
    CodeFormatError,
    DataQualityWarning,
    DuplicateKeyError,
    EmptyLayerError,
    MissingCRSError,
    SchemaError,
)
from qpvgeo.overlay import (
    DEFAULT_MIN_SHARE,
    building_weights,
    concerned_iris,
    crosswalk,
    iris_qpv_overlap,
)

X0, Y0 = 686_000.0, 7_034_000.0
A, B, C, D = "624980101", "624980102", "624980103", "624980104"


def box(x1, y1, x2, y2):
    return shapely.box(X0 + x1, Y0 + y1, X0 + x2, Y0 + y2)


def make_iris():
    return gpd.GeoDataFrame(
        {"code_iris": [A, B, C, D], "nom_iris": ["Centre", "Gare", "Cité 12", "Cité 14"]},
        geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100), box(0, 100, 100, 200),
                  box(100, 100, 200, 200)],
        crs=2154, index=pd.Index([11, 12, 13, 14], name="fid"),
    )


def make_qpv():
    return gpd.GeoDataFrame(
        {"code_qpv": ["QN06224M", "QN06226M", "QN06299M"], "nom_qpv": ["Q1", "Q2", "Q3"]},
        geometry=[box(50, 0, 150, 100), box(0, 99.5, 100.5, 200), box(300, 300, 400, 400)],
        crs=2154, index=[7, 8, 9],
    )


Q2_AREA = 100.5 * 100.5  # 10 100.25 m²


def pair(table, iris_code, qpv_code):
    rows = table[(table["code_iris"] == iris_code) & (table["code_qpv"] == qpv_code)]
    assert len(rows) == 1, (iris_code, qpv_code, len(rows))
    return rows.iloc[0]


def test_overlap_by_area_hand_worked():
    out = iris_qpv_overlap(make_iris(), make_qpv())
    # default min_share 0.01 drops the three 0.5 m slivers of Q2 over A, B, D
    assert list(zip(out["code_qpv"], out["code_iris"], strict=True)) == [
        ("QN06224M", A), ("QN06224M", B), ("QN06226M", C)]
    a = pair(out, A, "QN06224M")
    assert a["area_m2"] == pytest.approx(50 * 100)
    assert a["share_of_iris"] == pytest.approx(5000 / 10000)
    assert a["share_of_qpv"] == pytest.approx(5000 / 10000)
    c = pair(out, C, "QN06226M")
    assert c["share_of_iris"] == pytest.approx(10000 / 10000)
    assert c["share_of_qpv"] == pytest.approx(10000 / Q2_AREA)
    assert c["nom_iris"] == "Cité 12"
    assert c["nom_qpv"] == "Q2"
    assert out.attrs["qpvgeo"]["slivers_dropped"] == 3
    assert "weight" not in out.columns
    assert "source" not in out.columns


def test_slivers_kept_with_min_share_zero():
    out = iris_qpv_overlap(make_iris(), make_qpv(), min_share=0)
    s = pair(out, A, "QN06226M")
    assert s["area_m2"] == pytest.approx(100 * 0.5)
    assert s["share_of_iris"] == pytest.approx(50 / 10000)
    assert s["share_of_qpv"] == pytest.approx(50 / Q2_AREA)
    assert pair(out, B, "QN06226M")["area_m2"] == pytest.approx(0.5 * 0.5)
    assert len(out) == 6


def test_sliver_rule_needs_both_shares_small():
    # an 8 m × 8 m QPV inside IRIS A: 64 / 10 000 = 0.64 % of the IRIS (below 1 %) but
    # 100 % of the QPV → a real overlap, kept
    tiny = gpd.GeoDataFrame({"code_qpv": ["QN06201M"]}, geometry=[box(10, 10, 18, 18)],
                            crs=2154)
    out = iris_qpv_overlap(make_iris(), tiny)
    assert len(out) == 1
    assert out["share_of_iris"].iloc[0] == pytest.approx(64 / 10000)
    assert out["share_of_qpv"].iloc[0] == pytest.approx(1.0)


def test_overlap_with_building_weights_hand_worked():
    buildings = gpd.GeoDataFrame(
        {"nb_logts": [30, 10, 20, 40, 5]},
        geometry=[box(10, 10, 30, 30),     # A, outside Q1
                  box(60, 10, 80, 30),     # A ∩ Q1
                  box(90, 50, 110, 70),    # straddles A | B, inside Q1: 10 + 10
                  box(160, 10, 180, 30),   # B, outside Q1
                  box(120, 120, 140, 140)],  # D
        crs=2154,
    )
    out = iris_qpv_overlap(make_iris(), make_qpv(), weights=buildings, weight_col="nb_logts")
    a, b, c = pair(out, A, "QN06224M"), pair(out, B, "QN06224M"), pair(out, C, "QN06226M")
    # weight of A = 30 + 10 + 20·½ = 50, of which 10 + 10 in Q1
    assert a["weight"] == pytest.approx(10 + 20 * 0.5)
    assert a["weight_share_of_iris"] == pytest.approx((10 + 10) / (30 + 10 + 10))
    assert b["weight_share_of_iris"] == pytest.approx(10 / (10 + 40))
    # weight of Q1 = 10 + 20 = 30
    assert a["weight_share_of_qpv"] == pytest.approx(20 / 30)
    assert b["weight_share_of_qpv"] == pytest.approx(10 / 30)
    assert not a["weight_fallback_iris"]
    assert not a["weight_fallback_qpv"]
    # C holds no building: weight shares fall back to area shares, flagged
    assert c["weight"] == 0
    assert c["weight_share_of_iris"] == pytest.approx(c["share_of_iris"])
    assert c["weight_share_of_qpv"] == pytest.approx(c["share_of_qpv"])
    assert c["weight_fallback_iris"]
    assert c["weight_fallback_qpv"]


def test_point_weights_boundary_point_counted_once():
    pts = [(60, 10), (70, 20), (80, 30),   # A ∩ Q1
           (100, 50),                      # on the A|B boundary, inside Q1 → first IRIS: A
           (20, 20),                       # A outside Q1
           (120, 50), (130, 50),           # B ∩ Q1
           (170, 50), (180, 50)]           # B outside Q1
    rpls = gpd.GeoDataFrame(geometry=[shapely.Point(X0 + x, Y0 + y) for x, y in pts], crs=2154)
    out = iris_qpv_overlap(make_iris(), make_qpv(), weights=rpls)
    assert pair(out, A, "QN06224M")["weight"] == 4
    assert pair(out, A, "QN06224M")["weight_share_of_iris"] == pytest.approx(4 / 5)
    assert pair(out, B, "QN06224M")["weight_share_of_iris"] == pytest.approx(2 / 4)
    assert pair(out, A, "QN06224M")["weight_share_of_qpv"] == pytest.approx(4 / 6)
    assert out["weight"].sum() == 6  # the boundary point is not counted twice


def test_missing_weights_warn_and_count_zero():
    b = gpd.GeoDataFrame({"nb_logts": [np.nan, 10.0]},
                         geometry=[box(60, 10, 80, 30), box(10, 10, 30, 30)], crs=2154)
    with pytest.warns(DataQualityWarning, match="1 of 2 feature"):
        out = iris_qpv_overlap(make_iris(), make_qpv(), weights=b, weight_col="nb_logts")
    assert pair(out, A, "QN06224M")["weight_share_of_iris"] == 0.0


def test_building_weights_floor_area_rules():
    b = gpd.GeoDataFrame(
        {"nb_etages": [4, np.nan, np.nan], "hauteur": [30.0, 7.5, np.nan], "NB_LOGTS": [8, 2, 1]},
        geometry=[box(0, 0, 10, 10), box(0, 0, 10, 20), box(0, 0, 5, 5)], crs=2154)
    out = building_weights(b, "floor_area_m2")
    # 100 m² × 4 storeys (nb_etages wins over height); 200 m² × round(7.5 / 3) = 2;
    # 25 m² × 1 (nothing known)
    assert out["floor_area_m2"].tolist() == pytest.approx([100 * 4, 200 * 2, 25 * 1])
    assert out["storeys_from"].tolist() == ["nb_etages", "hauteur", "defaut"]
    assert building_weights(b, "nb_logts")["nb_logts"].tolist() == [8, 2, 1]
    assert building_weights(b, "footprint_m2")["footprint_m2"].tolist() == [100, 200, 25]
    assert "floor_area_m2" not in b.columns
    with pytest.raises(SchemaError, match="unknown weight measure"):
        building_weights(b, "volume")


def test_concerned_iris_rule_and_count():
    iris = make_iris()
    out = concerned_iris(iris, make_qpv(), keep_all=True)
    pd.testing.assert_index_equal(out.index, iris.index)
    assert out["concerned"].tolist() == [True, True, True, False]  # D only has a sliver
    assert int(out["concerned"].sum()) == 3
    # default: only the concerned IRIS, caller's index labels kept
    only = concerned_iris(iris, make_qpv())
    assert only.index.tolist() == [11, 12, 13]
    assert only["code_iris"].tolist() == [A, B, C]
    assert out.loc[11, "qpv_codes"] == "QN06224M"
    assert out.loc[14, "qpv_codes"] == ""
    assert out.loc[14, "n_qpv"] == 0
    assert out.loc[11, "share_in_qpv"] == pytest.approx(0.5)
    assert "1 %" in out["rule"].iloc[0]
    # with min_share = 0 the slivers count: every IRIS touches a QPV
    assert len(concerned_iris(iris, make_qpv(), min_share=0)) == 4
    # "IRIS mostly in QPV": A and B are half in Q1 (0.5 < 0.6), C wholly in Q2 (1 ≥ 0.6)
    mostly = concerned_iris(iris, make_qpv(), min_share_in_qpv=0.6, keep_all=True)
    assert mostly["concerned"].tolist() == [False, False, True, False]


def test_crosswalk_qpv_2015_to_2024():
    old = gpd.GeoDataFrame({"code_qpv": ["QP062001", "QP062002"]},
                           geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=2154)
    new = gpd.GeoDataFrame({"code_qpv": ["QN06201M", "QN06202M"]},
                           geometry=[box(50, 0, 200, 100), box(0, 0, 50, 100)], crs=2154)
    t = crosswalk(old, new)
    rows = {(r.old_code, r.new_code): r for r in t.itertuples()}
    assert set(rows) == {("QP062001", "QN06201M"), ("QP062002", "QN06201M"),
                         ("QP062001", "QN06202M")}
    r = rows[("QP062001", "QN06201M")]
    assert r.share_of_old == pytest.approx(5000 / 10000)
    assert r.share_of_new == pytest.approx(5000 / 15000)
    assert r.allocation == pytest.approx(0.5)
    assert not r.whole_old
    assert rows[("QP062002", "QN06201M")].whole_old
    assert (t["method"] == "area").all()


def test_crosswalk_allocate_total_renormalises():
    old = gpd.GeoDataFrame({"code_qpv": ["QP062001"]}, geometry=[box(0, 0, 100, 100)], crs=2154)
    # the new QPV covers 40 % of the old one; the rest left the geography
    new = gpd.GeoDataFrame({"code_qpv": ["QN06201M"]}, geometry=[box(0, 0, 40, 100)], crs=2154)
    assert crosswalk(old, new)["allocation"].iloc[0] == pytest.approx(0.4)
    assert crosswalk(old, new, allocate_total=True)["allocation"].iloc[0] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

def test_different_crs_are_reprojected_not_none():
    iris, qpv = make_iris(), make_qpv()
    ref = iris_qpv_overlap(iris, qpv)
    for crs in (4326, 3950):
        out = iris_qpv_overlap(iris, qpv.to_crs(crs))
        assert len(out) == len(ref)
        np.testing.assert_allclose(out["share_of_iris"], ref["share_of_iris"], rtol=1e-5)


def test_inputs_not_modified():
    iris, qpv = make_iris(), make_qpv().to_crs(4326)
    iris_before, qpv_before = iris.copy(), qpv.copy()
    iris_qpv_overlap(iris, qpv, weights=gpd.GeoDataFrame(geometry=[box(60, 10, 70, 20)],
                                                         crs=2154))
    pd.testing.assert_frame_equal(pd.DataFrame(iris), pd.DataFrame(iris_before))
    pd.testing.assert_frame_equal(pd.DataFrame(qpv), pd.DataFrame(qpv_before))
    assert qpv.crs.to_epsg() == 4326


def test_missing_crs_is_typed_error():
    qpv = make_qpv().set_crs(None, allow_override=True)
    with pytest.raises(MissingCRSError, match="qpv"):
        iris_qpv_overlap(make_iris(), qpv)


def test_duplicate_keys_named():
    iris = make_iris()
    iris.loc[12, "code_iris"] = A
    with pytest.raises(DuplicateKeyError, match=A):
        iris_qpv_overlap(iris, make_qpv())


def test_numeric_keys_refused_with_fix():
    iris = make_iris()
    iris["code_iris"] = iris["code_iris"].astype(int)
    with pytest.raises(CodeFormatError, match=r"astype\(str\)"):
        concerned_iris(iris, make_qpv())


def test_missing_key_column_suggests_argument():
    iris = make_iris().rename(columns={"code_iris": "CODE_IRIS"})
    with pytest.raises(SchemaError, match="iris_key='CODE_IRIS'"):
        iris_qpv_overlap(iris, make_qpv())


def test_invalid_geometry_repaired_with_warning():
    qpv = make_qpv()
    # bow-tie over A: two triangles (50,0)-(100,50)-(50,100) etc.; make_valid keeps both
    bowtie = shapely.Polygon([(X0 + 50, Y0), (X0 + 100, Y0 + 100), (X0 + 100, Y0),
                              (X0 + 50, Y0 + 100)])
    assert not bowtie.is_valid
    qpv.loc[7, "geometry"] = bowtie
    with pytest.warns(DataQualityWarning, match="1 invalid geometry repaired"):
        out = iris_qpv_overlap(make_iris(), qpv)
    # two triangles of base 50 m and height 50 m: 2 × 50·50/2 = 2 500 m², all inside A
    assert pair(out, A, "QN06224M")["area_m2"] == pytest.approx(2 * 50 * 50 / 2)


def test_points_as_zones_refused():
    qpv = gpd.GeoDataFrame({"code_qpv": ["QN06224M"]}, geometry=[shapely.Point(X0, Y0)],
                           crs=2154)
    with pytest.raises(SchemaError, match="polygons"):
        iris_qpv_overlap(make_iris(), qpv)


def test_empty_layer_and_bad_threshold():
    with pytest.raises(EmptyLayerError):
        iris_qpv_overlap(make_iris().iloc[:0], make_qpv())
    with pytest.raises(SchemaError, match="min_share"):
        iris_qpv_overlap(make_iris(), make_qpv(), min_share=5)


def test_negative_or_text_weights_refused():
    b = gpd.GeoDataFrame({"w": [-1.0]}, geometry=[box(60, 10, 70, 20)], crs=2154)
    with pytest.raises(SchemaError, match="negative"):
        iris_qpv_overlap(make_iris(), make_qpv(), weights=b, weight_col="w")
    b["w"] = ["beaucoup"]
    with pytest.raises(SchemaError, match="non-numeric"):
        iris_qpv_overlap(make_iris(), make_qpv(), weights=b, weight_col="w")


def test_illustrative_inputs_are_labelled():
    iris = make_iris()
    iris["source"] = "illustratif"
    out = iris_qpv_overlap(iris, make_qpv())
    assert (out["source"] == "illustratif").all()
    assert concerned_iris(iris, make_qpv())["source"].eq("illustratif").all()


def test_keep_geometry_returns_pieces():
    out = iris_qpv_overlap(make_iris(), make_qpv(), keep_geometry=True)
    assert isinstance(out, gpd.GeoDataFrame)
    assert out.crs.to_epsg() == 2154
    np.testing.assert_allclose(out.geometry.area, out["area_m2"])


def test_default_threshold_documented_value():
    assert DEFAULT_MIN_SHARE == 0.01


# ---------------------------------------------------------------------------------------------
# Command line (qpvgeo overlay)
# ---------------------------------------------------------------------------------------------

def _write_inputs(folder):
    iris = make_iris()[["code_iris", "nom_iris", "geometry"]].rename(
        columns={"code_iris": "CODE_IRIS", "nom_iris": "NOM_IRIS"})
    iris["TYP_IRIS"] = "H"
    iris.to_crs(4326).to_file(folder / "iris.geojson")
    qpv = make_qpv().rename(columns={"code_qpv": "code_qp", "nom_qpv": "lib_qp"})
    qpv["insee_com"] = "62498"
    qpv.to_file(folder / "qpv.gpkg")


def test_cli_overlay_writes_tables(tmp_out, capsys):
    from qpvgeo.cli import main

    _write_inputs(tmp_out)
    rc = main(["overlay", "--iris", str(tmp_out / "iris.geojson"), "--qpv",
               str(tmp_out / "qpv.gpkg"), "-o", str(tmp_out / "corr.csv"),
               "--concernes", str(tmp_out / "conc.csv")])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "3 IRIS concernés par un QPV" in printed
    corr = pd.read_csv(tmp_out / "corr.csv", sep=";", dtype={"code_iris": str},
                       encoding="utf-8-sig")
    assert corr["code_iris"].tolist() == [A, B, C]
    assert corr["share_of_iris"].tolist() == pytest.approx([0.5, 0.5, 1.0], rel=1e-6)
    conc = pd.read_csv(tmp_out / "conc.csv", sep=";", encoding="utf-8-sig")
    assert conc["concerned"].tolist() == [True, True, True, False]
    # nothing but the two outputs (no temporary file left behind)
    assert sorted(p.name for p in tmp_out.iterdir()) == [
        "conc.csv", "corr.csv", "iris.geojson", "qpv.gpkg"]


def test_cli_overlay_gpkg_and_errors(tmp_out, capsys):
    from qpvgeo.cli import main

    _write_inputs(tmp_out)
    out = tmp_out / "corr.gpkg"
    assert main(["overlay", "--iris", str(tmp_out / "iris.geojson"), "--qpv",
                 str(tmp_out / "qpv.gpkg"), "-o", str(out)]) == 0
    pieces = gpd.read_file(out)
    assert pieces.crs.to_epsg() == 2154
    np.testing.assert_allclose(pieces.geometry.area, pieces["area_m2"], rtol=1e-6)
    capsys.readouterr()
    assert main(["overlay", "--iris", str(tmp_out / "iris.geojson"), "-o",
                 str(tmp_out / "x.csv")]) == 2
    assert "donnez --iris et --qpv" in capsys.readouterr().err
    assert main(["overlay", "--iris", str(tmp_out / "iris.geojson"), "--qpv",
                 str(tmp_out / "qpv.gpkg"), "-o", str(tmp_out / "x.xlsx")]) == 2
    assert not (tmp_out / "x.xlsx").exists()


def test_cli_crosswalk(tmp_out, capsys):
    from qpvgeo.cli import main

    old = gpd.GeoDataFrame({"code_qp": ["QP062001", "QP062002"], "lib_qp": ["a", "b"],
                            "insee_com": ["62498", "62498"]},
                           geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=2154)
    new = gpd.GeoDataFrame({"code_qp": ["QN06201M"], "lib_qp": ["n"], "insee_com": ["62498"]},
                           geometry=[box(50, 0, 200, 100)], crs=2154)
    old.to_file(tmp_out / "qp2015.gpkg")
    new.to_file(tmp_out / "qp2024.gpkg")
    (tmp_out / "anct.csv").write_text(
        "QP2024;Label_QP2024;Statut;QP2015_1;Label_QP2015_1\nQN06201M;n;Modifié;QP062002;b\n",
        encoding="utf-8")
    assert main(["overlay", "--ancien", str(tmp_out / "qp2015.gpkg"), "--nouveau",
                 str(tmp_out / "qp2024.gpkg"), "-o", str(tmp_out / "passage.csv"),
                 "--correspondance-anct", str(tmp_out / "anct.csv")]) == 0
    t = pd.read_csv(tmp_out / "passage.csv", sep=";", encoding="utf-8-sig")
    assert t["allocation"].tolist() == pytest.approx([0.5, 1.0])
    printed = capsys.readouterr().out
    assert "2 zones anciennes → 1 nouvelles" in printed
    assert "1 les deux, 1 géométrie seule, 0 ANCT seule" in printed
    check = pd.read_csv(tmp_out / "passage_anct.csv", sep=";", encoding="utf-8-sig")
    assert check["agreement"].tolist() == ["géométrie seule", "les deux"]


def test_compare_crosswalk_with_anct_list(tmp_path):
    from qpvgeo.io import read_qpv_correspondence
    from qpvgeo.overlay import compare_with_anct

    old = gpd.GeoDataFrame({"code_qpv": ["QP062001", "QP062002", "QP062003"]},
                           geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100),
                                     box(0, 500, 100, 600)], crs=2154)
    new = gpd.GeoDataFrame({"code_qpv": ["QN06201M", "QN06202M"]},
                           geometry=[box(50, 0, 200, 100), box(0, 0, 50, 100)], crs=2154)
    # ANCT: QN06201M ← QP062002 and QP062003 (far away: perimeters changed); QN06202M ← QP062001
    (tmp_path / "corr.csv").write_text(
        "QP2024;Label_QP2024;Statut;QP2015_1;Label_QP2015_1;QP2015_2;Label_QP2015_2\n"
        "QN06201M;Nouveau 1;Modifié;QP062002;b;QP062003;c\n"
        "QN06202M;Nouveau 2;Modifié;QP062001;a;;\n", encoding="utf-8")
    corr = read_qpv_correspondence(tmp_path / "corr.csv")
    out = compare_with_anct(crosswalk(old, new), corr)
    got = {(r.new_code, r.old_code): r.agreement for r in out.itertuples()}
    assert got == {("QN06201M", "QP062001"): "géométrie seule",
                   ("QN06201M", "QP062002"): "les deux",
                   ("QN06201M", "QP062003"): "ANCT seule",
                   ("QN06202M", "QP062001"): "les deux"}
    only_anct = out[out["agreement"] == "ANCT seule"].iloc[0]
    assert np.isnan(only_anct["allocation"])
    assert out.loc[out["old_code"] == "QP062002", "allocation"].iloc[0] == pytest.approx(1.0)


def test_thin_overlap_holding_dwellings_is_not_a_sliver():
    # Q2 overlaps A by a 0.5 m strip y 99.5–100 (50 m² = 0.5 % of A): a sliver by area. A
    # building of 10 dwellings, x 40–50, y 99–101 (20 m²), straddles A | C: A holds
    # 10 × 10/20 = 5 dwellings, the strip 10 × (10 × 0.5)/20 = 2.5 → 2.5 / 5 = 50 % of A's
    # weight: a real overlap, kept.
    b = gpd.GeoDataFrame({"nb_logts": [10.0]}, geometry=[box(40, 99, 50, 101)], crs=2154)
    area_only = iris_qpv_overlap(make_iris(), make_qpv())
    weighted = iris_qpv_overlap(make_iris(), make_qpv(), weights=b, weight_col="nb_logts")
    assert ((area_only["code_iris"] == A) & (area_only["code_qpv"] == "QN06226M")).sum() == 0
    s = pair(weighted, A, "QN06226M")
    assert s["weight"] == pytest.approx(10 * (10 * 0.5) / (10 * 2))
    assert s["weight_share_of_iris"] == pytest.approx(2.5 / 5)
    assert weighted.attrs["qpvgeo"]["slivers_dropped"] == 2  # B and D strips hold nothing


# ---------------------------------------------------------------------------------------------
# Demo territory (illustrative CALL stand-ins generated by data/make_demo.py)
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo():
    from qpvgeo.datasets import load_demo

    return load_demo(["qpv", "iris", "buildings"])


def test_demo_correspondence_and_concerned_iris(demo):
    iris, qpv, buildings = demo["iris"], demo["qpv"], demo["buildings"]
    with pytest.warns(DataQualityWarning, match="no value in column nb_logts"):
        table = iris_qpv_overlap(iris, qpv, weights=buildings, weight_col="nb_logts")
    # every QPV is in the table, every share is a share, the label says illustrative
    assert set(table["code_qpv"]) == set(qpv["code_qpv"])
    for col in ("share_of_iris", "share_of_qpv", "weight_share_of_iris", "weight_share_of_qpv"):
        assert table[col].between(0, 1).all(), col
    assert (table["source"] == "illustratif").all()
    # a QPV's pieces never exceed the QPV (the demo IRIS overlap each other by ~80 m²)
    assert (table.groupby("code_qpv")["share_of_qpv"].sum() <= 1 + 1e-5).all()
    with pytest.warns(DataQualityWarning, match="no value in column nb_logts"):
        conc = concerned_iris(iris, qpv, weights=buildings, weight_col="nb_logts",
                              keep_all=True)
    pd.testing.assert_index_equal(conc.index, iris.index)
    # with min_share_in_qpv = 0 the rule is "appears in the correspondence table"
    assert set(conc.loc[conc["concerned"], "code_iris"]) == set(table["code_iris"])
    assert 0 < int(conc["concerned"].sum()) < len(iris)
