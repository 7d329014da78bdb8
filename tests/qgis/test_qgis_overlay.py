"""Correspondance IRIS ↔ QPV (qpvgeo:iris_qpv_overlap) in headless QGIS."""

from __future__ import annotations

import pytest
from qgis_helpers import box_wkt

pytestmark = pytest.mark.qgis


@pytest.fixture
def layers(make_layer):
    """Two 100 m × 100 m IRIS side by side; a QPV straddling them (x 50–150), in WGS84.

    Buildings: b1 in A∩Q (10 dwellings), b2 in B∩Q (30), b3 in A outside Q (20), b4 in B
    outside Q (10).
    """
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsCoordinateTransform,
        QgsGeometry,
        QgsProject,
    )
    from qgis.PyQt.QtCore import QVariant

    iris = make_layer("Polygon?crs=EPSG:2154", [("code_iris", QVariant.String)], [
        (box_wkt(0, 0, 100, 100), ["624980101"]),
        (box_wkt(100, 0, 200, 100), ["624980102"]),
    ], name="iris")
    to_wgs84 = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:2154"),
                                      QgsCoordinateReferenceSystem("EPSG:4326"),
                                      QgsProject.instance())
    geom = QgsGeometry.fromWkt(box_wkt(50, 0, 150, 100))
    geom = QgsGeometry.fromWkt(geom.densifyByCount(50).asWkt())
    geom.transform(to_wgs84)
    qpv = make_layer("Polygon?crs=EPSG:4326", [("code_qpv", QVariant.String)], [
        (geom.asWkt(17), ["QN06201A"]),
    ], name="qpv")
    buildings = make_layer("Polygon?crs=EPSG:2154", [("nb_logts", QVariant.Int)], [
        (box_wkt(60, 10, 80, 30), [10]),
        (box_wkt(120, 10, 140, 30), [30]),
        (box_wkt(10, 10, 30, 30), [20]),
        (box_wkt(170, 10, 190, 30), [10]),
    ], name="batiments")
    return iris, qpv, buildings


def test_overlap_by_area_and_dwellings(layers, run_alg, tmp_path, read_output):
    iris, qpv, buildings = layers
    out = str(tmp_path / "overlap.gpkg")
    res = run_alg("iris_qpv_overlap", {
        "IRIS": iris, "IRIS_KEY": "code_iris", "QPV": qpv, "QPV_KEY": "code_qpv",
        "WEIGHTS": buildings, "WEIGHT_FIELD": "nb_logts", "OUTPUT": out})
    assert res["OUTPUT"] == out
    gdf = read_output(out).sort_values("code_iris").reset_index(drop=True)
    assert list(gdf["code_iris"]) == ["624980101", "624980102"]
    assert list(gdf["code_qpv"]) == ["QN06201A", "QN06201A"]
    # each intersection is 50 m × 100 m = 5,000 m², half of each 10,000 m² zone
    # (the QPV went through WGS84 and back: compare to 1e-6)
    assert gdf["surface_m2"].tolist() == pytest.approx([50 * 100, 50 * 100], rel=1e-6)
    assert gdf["part_de_l_iris"].tolist() == pytest.approx([5000 / 10000] * 2, rel=1e-6)
    assert gdf["part_du_qpv"].tolist() == pytest.approx([5000 / 10000] * 2, rel=1e-6)
    # dwellings: A holds 10 (in Q) + 20, B holds 30 (in Q) + 10; Q holds 10 + 30
    assert gdf["poids"].tolist() == pytest.approx([10, 30])
    assert gdf["part_poids_iris"].tolist() == pytest.approx([10 / (10 + 20), 30 / (30 + 10)])
    assert gdf["part_poids_qpv"].tolist() == pytest.approx([10 / (10 + 30), 30 / (10 + 30)])
    assert gdf.crs.to_epsg() == 2154
    assert gdf.geometry.area.tolist() == pytest.approx([5000, 5000], rel=1e-6)


def test_same_numbers_as_the_library(layers, run_alg, tmp_path, read_output, context):
    """The plugin only converts: its table equals qpvgeo.overlay.iris_qpv_overlap's."""
    from qpvgeo_plugin.convert import source_to_frame

    from qpvgeo.overlay import iris_qpv_overlap

    iris, qpv, _ = layers
    out = str(tmp_path / "overlap.gpkg")
    table_out = str(tmp_path / "table.gpkg")
    run_alg("iris_qpv_overlap", {"IRIS": iris, "QPV": qpv, "OUTPUT": out,
                                 "OUTPUT_TABLE": table_out})
    expected = iris_qpv_overlap(source_to_frame(iris, "iris"), source_to_frame(qpv, "qpv"))
    got = read_output(table_out)
    assert "geometry" not in got.columns or got.geometry.isna().all()
    assert list(got["code_iris"]) == list(expected["code_iris"])
    for lib, fr in [("area_m2", "surface_m2"), ("share_of_iris", "part_de_l_iris"),
                    ("share_of_qpv", "part_du_qpv")]:
        assert got[fr].tolist() == pytest.approx(expected[lib].tolist(), rel=1e-12)


def test_numeric_code_field_gets_its_zeros_back_with_a_warning(make_layer, layers, run_alg,
                                                                 tmp_path, read_output):
    """A CSV opened in QGIS types IRIS codes as integers: 24980101 is read back as 024980101."""
    from qgis.core import QgsProcessingFeedback
    from qgis.PyQt.QtCore import QVariant

    _, qpv, _ = layers
    iris = make_layer("Polygon?crs=EPSG:2154", [("code_iris", QVariant.LongLong)], [
        (box_wkt(0, 0, 100, 100), [24980101])])

    class Recorder(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.warnings = []

        def pushWarning(self, text):
            self.warnings.append(text)

    feedback = Recorder()
    out = str(tmp_path / "x.gpkg")
    run_alg("iris_qpv_overlap", {"IRIS": iris, "QPV": qpv, "OUTPUT": out}, feedback=feedback)
    assert read_output(out)["code_iris"].tolist() == ["024980101"]
    # the library's data-quality warning, worded in French for the officer
    assert any(w.startswith("Qualité des données (qpvgeo) : ") and "zéros initiaux rétablis" in w
               for w in feedback.warnings), feedback.warnings


@pytest.fixture
def insee_table(make_layer):
    """An INSEE-like table without geometry; DISP_MED20 read as text with a secret marker."""
    from qgis.PyQt.QtCore import QVariant

    return make_layer("None", [
        ("IRIS", QVariant.String), ("P20_POP", QVariant.Double),
        ("P20_CHOM1564", QVariant.Double), ("P20_ACT1564", QVariant.Double),
        ("DISP_MED20", QVariant.String)], [
        (None, ["624980101", 100.0, 10.0, 50.0, "18000"]),
        (None, ["624980102", 300.0, 30.0, 100.0, "s"]),
    ], name="base_ic")


def test_interpolation_counts_ratios_medians(layers, insee_table, run_alg, tmp_path,
                                             read_output):
    iris, qpv, _ = layers
    out = str(tmp_path / "qpv.gpkg")
    run_alg("interpolate_iris_qpv", {
        "SOURCE": iris, "TABLE": insee_table, "TARGET": qpv, "COUNTS": ["P20_POP"],
        "RATIOS": ["taux_chomage", "P20_CHOM1564", "P20_ACT1564"],
        "MEDIANS": ["DISP_MED20"], "OUTPUT": out})
    row = read_output(out).iloc[0]
    assert row["code_qpv"] == "QN06201A"
    # half of A and half of B lie in the QPV
    assert row["P20_POP"] == pytest.approx(0.5 * 100 + 0.5 * 300, rel=1e-6)
    assert row["taux_chomage"] == pytest.approx((0.5 * 10 + 0.5 * 30) / (0.5 * 50 + 0.5 * 100),
                                                rel=1e-6)
    # the median is not interpolated: range over the IRIS with a known value (A only), and
    # the share of the QPV covered by them; B's secret cell stays missing, never 0
    assert row["DISP_MED20_min"] == 18000
    assert row["DISP_MED20_max"] == 18000
    assert row["DISP_MED20_part_connue"] == pytest.approx(0.5, rel=1e-6)
    assert row["part_estimee"] == pytest.approx(1.0)
    assert bool(row["est_estimation"]) is True
    assert row["nb_unites_source"] == 2


def test_interpolation_same_numbers_as_the_library(layers, insee_table, run_alg, tmp_path,
                                                   read_output):
    import pandas as pd
    from qpvgeo_plugin.convert import source_to_frame

    from qpvgeo.interpolation import interpolate

    iris, qpv, buildings = layers
    out = str(tmp_path / "qpv.gpkg")
    run_alg("interpolate_iris_qpv", {
        "SOURCE": iris, "TABLE": insee_table, "TARGET": qpv, "COUNTS": ["P20_POP"],
        "RATIOS": ["taux_chomage", "P20_CHOM1564", "P20_ACT1564"], "WEIGHTS": buildings,
        "WEIGHT_FIELD": "nb_logts", "OUTPUT": out})
    table = pd.DataFrame(source_to_frame(insee_table, "t", geometry=False))
    table = table.drop(columns="DISP_MED20").rename(columns={"IRIS": "code_iris"})
    expected = interpolate(source_to_frame(iris, "i"), source_to_frame(qpv, "q"),
                           extensive=["P20_POP"],
                           ratios={"taux_chomage": ("P20_CHOM1564", "P20_ACT1564")},
                           values=table, weights=source_to_frame(buildings, "b"),
                           weight_col="nb_logts")
    got = read_output(out)
    for lib, fr in [("P20_POP", "P20_POP"), ("taux_chomage", "taux_chomage"),
                    ("share_estimated", "part_estimee"), ("coverage_share", "part_couverte")]:
        assert got[fr].tolist() == pytest.approx(expected[lib].tolist(), rel=1e-12)
    assert got["methode"].iloc[0] == expected["method"].iloc[0]


def test_interpolation_refuses_text_that_is_not_a_number(layers, make_layer, run_alg,
                                                          tmp_path):
    from qgis.core import QgsProcessingException
    from qgis.PyQt.QtCore import QVariant

    iris, qpv, _ = layers
    table = make_layer("None", [("IRIS", QVariant.String), ("P20_POP", QVariant.String)], [
        (None, ["624980101", "100"]), (None, ["624980102", "beaucoup"])])
    with pytest.raises(QgsProcessingException, match="beaucoup"):
        run_alg("interpolate_iris_qpv", {"SOURCE": iris, "TABLE": table, "TARGET": qpv,
                                         "COUNTS": ["P20_POP"],
                                         "OUTPUT": str(tmp_path / "x.gpkg")})
