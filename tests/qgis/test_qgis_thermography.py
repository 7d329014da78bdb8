"""Déperditions thermiques (qpvgeo:building_heat_loss, qpvgeo:heat_loss_shares) in QGIS."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest
from qgis_helpers import box_wkt, write_raster

pytestmark = pytest.mark.qgis


@pytest.fixture
def raster(tmp_path):
    """10 m × 10 m, 1 m pixels: columns 0–4 class 1 (faibles), columns 5–9 class 4 (excessives).

        x:  0 1 2 3 4 | 5 6 7 8 9
            1 1 1 1 1 | 4 4 4 4 4   (every row)
    """
    array = np.ones((10, 10), dtype="uint8")
    array[:, 5:] = 4
    return write_raster(tmp_path / "thermo.tif", array)


@pytest.fixture
def buildings(make_layer):
    """A left, B right, C straddling, D tiny (0.2 m), E outside the raster."""
    from qgis.PyQt.QtCore import QVariant

    return make_layer("Polygon?crs=EPSG:2154", [("nom", QVariant.String)], [
        (box_wkt(1, 1, 4, 9), ["A"]),
        (box_wkt(6, 1, 9, 9), ["B"]),
        (box_wkt(3, 2, 8, 8), ["C"]),
        (box_wkt(0.4, 0.4, 0.6, 0.6), ["D"]),
        (box_wkt(20, 0, 25, 5), ["E"]),
    ], name="batiments")


def test_classes_by_exact_coverage(raster, buildings, run_alg, tmp_path, read_output):
    out = str(tmp_path / "batiments.gpkg")
    res = run_alg("building_heat_loss", {"RASTER": raster, "BUILDINGS": buildings,
                                         "OUTPUT": out})
    gdf = read_output(res["OUTPUT"]).set_index("nom")
    assert gdf.loc["A", "libelle_deperdition"] == "faibles"
    assert gdf.loc["B", "libelle_deperdition"] == "excessives"
    # C's interior (1 m buffer): x 4–7, y 3–7 = 12 px; 1 m × 4 m in class 1, 2 m × 4 m in 4
    assert gdf.loc["C", "classe_deperdition"] == 4
    assert gdf.loc["C", "part_classe"] == pytest.approx(8 / 12)
    assert gdf.loc["C", "part_classe_1"] == pytest.approx(4 / 12)
    assert gdf.loc["C", "pixels_valides"] == pytest.approx(3 * 4)
    # D: 0.2 m × 0.2 m = 0.04 px, under the 4-pixel minimum: not classed, never guessed
    assert gdf.loc["D", "libelle_deperdition"] == "non classé"
    assert gdf.loc["D", "pixels_valides"] == pytest.approx(0.2 * 0.2)
    assert np.isnan(gdf.loc["D", "classe_deperdition"])
    assert gdf.loc["E", "libelle_deperdition"] == "non mesuré"
    # geometry and CRS of the input kept
    assert gdf.crs.to_epsg() == 2154
    assert gdf.loc["C"].geometry.area == pytest.approx(5 * 6)


def test_same_numbers_as_the_library_and_style_in_the_geopackage(
        raster, buildings, run_alg, tmp_path, read_output):
    from qpvgeo_plugin.convert import source_to_frame

    from qpvgeo.thermography import building_heat_loss

    out = str(tmp_path / "batiments.gpkg")
    run_alg("building_heat_loss", {"RASTER": raster, "BUILDINGS": buildings, "OUTPUT": out})
    expected = building_heat_loss(raster, source_to_frame(buildings, "b"))
    got = read_output(out)
    assert list(got["nom"]) == list(expected["nom"])
    assert list(got["libelle_deperdition"]) == list(expected["heatloss_label"])
    for lib, fr in [("heatloss_valid_px", "pixels_valides"), ("heatloss_class_share",
                    "part_classe"), ("heatloss_coverage", "couverture_mesure")]:
        np.testing.assert_allclose(got[fr], expected[lib].astype(float), rtol=1e-12)
    con = sqlite3.connect(out)
    qml = con.execute("SELECT styleQML FROM layer_styles WHERE useAsDefault").fetchone()[0]
    con.close()
    assert 'attr="libelle_deperdition"' in qml
    assert "fortes" in qml  # the scheme's classes, with their colours
    assert "253,216,53" in qml  # fortes = #fdd835


def test_temperature_raster_with_thresholds(tmp_path, buildings, run_alg, read_output):
    """°C raster: left half −3 °C, right half +3 °C; thresholds −2 0 2."""
    array = np.full((10, 10), -3.0, dtype="float32")
    array[:, 5:] = 3.0
    path = write_raster(tmp_path / "temp.tif", array)
    out = str(tmp_path / "b.gpkg")
    run_alg("building_heat_loss", {"RASTER": path, "BUILDINGS": buildings, "SCHEME": 2,
                                   "BREAKS": "-2 0 2", "OUTPUT": out})
    gdf = read_output(out).set_index("nom")
    assert gdf.loc["A", "libelle_deperdition"] == "faibles"  # −3 < −2
    assert gdf.loc["B", "libelle_deperdition"] == "excessives"  # 3 ≥ 2
    # C: mean of 4 px at −3 and 8 px at +3 = (4·(−3) + 8·3) / 12 = 1 °C → fortes (0 ≤ 1 < 2)
    assert gdf.loc["C", "statistique_toit"] == pytest.approx((4 * -3 + 8 * 3) / 12)
    assert gdf.loc["C", "libelle_deperdition"] == "fortes"


def test_bad_thresholds_are_a_french_error(raster, buildings, run_alg, tmp_path):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="trois valeurs croissantes"):
        run_alg("building_heat_loss", {"RASTER": raster, "BUILDINGS": buildings, "SCHEME": 2,
                                       "BREAKS": "2 1", "OUTPUT": str(tmp_path / "x.gpkg")})


def test_raster_not_overlapping_is_an_error_not_a_crash(buildings, run_alg, tmp_path):
    from qgis.core import QgsProcessingException

    far = write_raster(tmp_path / "far.tif", np.ones((10, 10), dtype="uint8"),
                       x0=100_000, y_top=6_200_000)
    out = tmp_path / "x.gpkg"
    with pytest.raises(QgsProcessingException, match="qpvgeo"):
        run_alg("building_heat_loss", {"RASTER": far, "BUILDINGS": buildings,
                                       "OUTPUT": str(out)})
    assert not out.exists()


def test_raster_without_crs_is_a_french_error(buildings, run_alg, tmp_path):
    from qgis.core import QgsProcessingException

    path = write_raster(tmp_path / "nocrs.tif", np.ones((10, 10), dtype="uint8"), epsg=None)
    with pytest.raises(QgsProcessingException, match="SCR"):
        run_alg("building_heat_loss", {"RASTER": path, "BUILDINGS": buildings,
                                       "OUTPUT": str(tmp_path / "x.gpkg")})


@pytest.fixture
def zones(make_layer):
    """Q1 covers x 0–5 (A, D and the left third of C), Q2 x 5–10 (B, most of C), Q3 empty."""
    from qgis.PyQt.QtCore import QVariant

    return make_layer("Polygon?crs=EPSG:2154", [("code_qpv", QVariant.String)], [
        (box_wkt(0, 0, 5, 10), ["QN06201A"]),
        (box_wkt(5, 0, 10, 10), ["QN06202B"]),
        (box_wkt(30, 0, 40, 10), ["QN06203C"]),
    ], name="qpv")


def test_shares_per_zone_from_the_classified_layer(raster, buildings, zones, run_alg,
                                                   tmp_path, read_output):
    classified = str(tmp_path / "b.gpkg")
    run_alg("building_heat_loss", {"RASTER": raster, "BUILDINGS": buildings,
                                   "OUTPUT": classified})
    out = str(tmp_path / "zones.gpkg")
    run_alg("heat_loss_shares", {"BUILDINGS": classified, "ZONES": zones, "OUTPUT": out})
    gdf = read_output(out).set_index("code_qpv")
    # Q1: A (faibles) + D (non classé); C (30 m²) has 2 m × 6 m = 12 m² in Q1, 18 m² in Q2
    assert gdf.loc["QN06201A", "nb_batiments"] == 2
    assert gdf.loc["QN06201A", "nb_batiments_classes"] == 1
    assert gdf.loc["QN06201A", "nb_batiments_non_classes"] == 1
    assert gdf.loc["QN06201A", "part_deperditions_fortes"] == 0.0
    # Q2: B and C, both excessives; E (outside every zone) counts nowhere
    assert gdf.loc["QN06202B", "nb_batiments"] == 2
    assert gdf.loc["QN06202B", "part_deperditions_fortes"] == 1.0
    # strong roof area share in Q2: (3·8 + 5·6) / (3·8 + 5·6) = 1
    assert gdf.loc["QN06202B", "surface_deperditions_fortes_m2"] == pytest.approx(3 * 8 + 5 * 6)
    # Q3: no building: shares missing with a reason, never 0
    assert gdf.loc["QN06203C", "nb_batiments"] == 0
    assert np.isnan(gdf.loc["QN06203C", "part_deperditions_fortes"])
    assert isinstance(gdf.loc["QN06203C", "raison_manque"], str)


def test_shares_same_numbers_as_the_library(raster, buildings, zones, run_alg, tmp_path,
                                            read_output):
    from qpvgeo_plugin.convert import source_to_frame

    from qpvgeo.thermography import building_heat_loss, heat_loss_shares

    classified = str(tmp_path / "b.gpkg")
    run_alg("building_heat_loss", {"RASTER": raster, "BUILDINGS": buildings,
                                   "OUTPUT": classified})
    out = str(tmp_path / "zones.gpkg")
    run_alg("heat_loss_shares", {"BUILDINGS": classified, "ZONES": zones, "OUTPUT": out})
    zones_gdf = source_to_frame(zones, "z")
    expected = heat_loss_shares(building_heat_loss(raster, source_to_frame(buildings, "b")),
                                zones_gdf)
    got = read_output(out)
    for lib, fr in [("buildings_count", "nb_batiments"),
                    ("heatloss_strong_share", "part_deperditions_fortes"),
                    ("heatloss_strong_area_share", "part_surface_deperditions_fortes"),
                    ("heatloss_count_4", "nb_classe_4")]:
        np.testing.assert_allclose(got[fr].astype(float), expected[lib].astype(float))


def test_shares_need_the_class_fields(buildings, zones, run_alg, tmp_path):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="Déperditions thermiques par bâtiment"):
        run_alg("heat_loss_shares", {"BUILDINGS": buildings, "ZONES": zones,
                                     "OUTPUT": str(tmp_path / "x.gpkg")})


def _gpkg_copy(layer, path, layer_name=None):
    """Write a memory layer to a GeoPackage (optionally as one more layer of the file)."""
    from qgis.core import QgsCoordinateTransformContext, QgsVectorFileWriter

    opts = QgsVectorFileWriter.SaveVectorOptions()
    opts.driverName = "GPKG"
    opts.layerName = layer_name or layer.name()
    if layer_name and path.exists():
        opts.actionOnExistingFile = QgsVectorFileWriter.ActionOnExistingFile.CreateOrOverwriteLayer
    err = QgsVectorFileWriter.writeAsVectorFormatV3(layer, str(path),
                                                   QgsCoordinateTransformContext(), opts)
    assert err[0] == QgsVectorFileWriter.WriterError.NoError, err
    return str(path) + (f"|layername={layer_name}" if layer_name else "")


@pytest.mark.parametrize(("multi_layer_file", "ext"), [(False, "gpkg"), (True, "gpkg"),
                                                      (False, "fgb")])
def test_geopackage_fast_path_equals_generic_path(raster, buildings, zones, run_alg, tmp_path,
                                                  read_output, multi_layer_file, ext):
    """A whole GeoPackage layer is read in bulk (fastpath.py) and, to a GeoPackage, written in
    bulk too: same table as the feature-by-feature path, input untouched."""
    import pyogrio

    if multi_layer_file:
        _gpkg_copy(zones, tmp_path / "in.gpkg", "qpv")
        src = _gpkg_copy(buildings, tmp_path / "in.gpkg", "batiments")
    else:
        src = _gpkg_copy(buildings, tmp_path / "in.gpkg")
    before = (tmp_path / "in.gpkg").read_bytes()
    fast, generic = str(tmp_path / f"fast.{ext}"), str(tmp_path / f"generic.{ext}")
    run_alg("building_heat_loss", {"RASTER": raster, "BUILDINGS": src, "OUTPUT": fast})
    run_alg("building_heat_loss", {"RASTER": raster, "BUILDINGS": buildings, "OUTPUT": generic})
    assert (tmp_path / "in.gpkg").read_bytes() == before
    a, b = read_output(fast), read_output(generic)
    if ext == "gpkg":
        # multi-polygons as the sink writes them; the bulk copy keeps the input table's name,
        # the sink names the table after the file
        assert pyogrio.list_layers(fast)[0].tolist() == ["batiments", "MultiPolygon"]
        assert pyogrio.list_layers(generic)[0].tolist() == ["generic", "MultiPolygon"]
        con = sqlite3.connect(fast)
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        con.close()
        assert "qpvgeo_new" not in tables
        assert "qpv" not in tables  # only the buildings layer
    else:
        a = a.drop(columns=[c for c in ("fid",) if c in a.columns and c not in b.columns])
    assert list(a.columns) == list(b.columns)
    for col in a.columns.drop("geometry"):
        left, right = a[col].tolist(), b[col].tolist()
        assert [None if v != v else v for v in left] == [None if v != v else v for v in right], col
    assert a.geometry.area.tolist() == pytest.approx(b.geometry.area.tolist())


def test_fast_path_overwrites_an_input_source_field(raster, make_layer, run_alg, tmp_path,
                                                    read_output):
    """An input field ``source`` is replaced by the result's (illustrative flag), both paths."""
    from qgis.PyQt.QtCore import QVariant

    tagged = write_raster(tmp_path / "tagged.tif", np.ones((10, 10), dtype="uint8"),
                          tags={"QPVGEO_SOURCE": "illustratif"})
    layer = make_layer("Polygon?crs=EPSG:2154", [("source", QVariant.String)],
                       [(box_wkt(1, 1, 9, 9), ["BD TOPO"])], name="b")
    src = _gpkg_copy(layer, tmp_path / "in.gpkg")
    for inp, out in ((src, "fast.gpkg"), (layer, "generic.gpkg")):
        run_alg("building_heat_loss", {"RASTER": tagged, "BUILDINGS": inp,
                                       "OUTPUT": str(tmp_path / out)})
        assert read_output(str(tmp_path / out))["source"].tolist() == ["illustratif"], out


def test_fast_path_respects_selected_features(raster, buildings, run_alg, tmp_path,
                                              read_output):
    from qgis.core import QgsProcessingFeatureSourceDefinition, QgsProject, QgsVectorLayer

    layer = QgsVectorLayer(_gpkg_copy(buildings, tmp_path / "in.gpkg"), "bat", "ogr")
    QgsProject.instance().addMapLayer(layer)
    try:
        layer.selectByExpression("\"nom\" IN ('A', 'C')")
        out = str(tmp_path / "sel.gpkg")
        run_alg("building_heat_loss", {
            "RASTER": raster, "OUTPUT": out,
            "BUILDINGS": QgsProcessingFeatureSourceDefinition(layer.id(), True)})
        assert sorted(read_output(out)["nom"]) == ["A", "C"]
    finally:
        QgsProject.instance().removeMapLayer(layer.id())


def test_bulk_path_output_is_loaded_named_and_styled(raster, buildings, tmp_path, plugin):
    """runAndLoadResults (the toolbox) on the bulk GeoPackage path: the layer is added to the
    project with its name and the heat-loss style."""
    import processing
    from qgis.core import QgsProject

    src = _gpkg_copy(buildings, tmp_path / "in.gpkg")
    out = str(tmp_path / "classes.gpkg")
    before = set(QgsProject.instance().mapLayers())
    processing.runAndLoadResults("qpvgeo:building_heat_loss", {
        "RASTER": raster, "BUILDINGS": src, "OUTPUT": out})
    added = [QgsProject.instance().mapLayer(i)
             for i in set(QgsProject.instance().mapLayers()) - before]
    try:
        assert len(added) == 1
        layer = added[0]
        assert layer.source().startswith(out)
        assert layer.name() == "Déperditions thermiques par bâtiment"
        assert layer.renderer().type() == "categorizedSymbol"
        assert layer.renderer().classAttribute() == "libelle_deperdition"
        colours = {c.value(): c.symbol().color().name() for c in layer.renderer().categories()}
        assert colours["fortes"] == "#fdd835"
        assert colours["excessives"] == "#d7191c"
    finally:
        QgsProject.instance().removeMapLayers([lyr.id() for lyr in added])


@pytest.mark.parametrize("ext", ["gpkg", "fgb"])
def test_bulk_read_keeps_null_attributes(raster, make_layer, run_alg, tmp_path, read_output,
                                         ext):
    """NULL input attributes stay NULL through the bulk read (never 0 or "")."""
    from qgis.PyQt.QtCore import QVariant

    layer = make_layer("Polygon?crs=EPSG:2154", [("nb_logts", QVariant.Int),
                                                 ("nom", QVariant.String)],
                       [(box_wkt(1, 1, 4, 9), [12, "A"]), (box_wkt(6, 1, 9, 9), [None, None])],
                       name="b")
    src = _gpkg_copy(layer, tmp_path / "in.gpkg")
    out = str(tmp_path / f"out.{ext}")
    run_alg("building_heat_loss", {"RASTER": raster, "BUILDINGS": src, "OUTPUT": out})
    got = read_output(out)
    got = got.iloc[np.argsort(got.geometry.centroid.x.to_numpy())]  # FlatGeobuf reorders
    assert got["nb_logts"].iloc[0] == 12
    assert got["nom"].iloc[0] == "A"
    assert pd.isna(got["nb_logts"].iloc[1])
    assert got["nom"].iloc[1] is None or pd.isna(got["nom"].iloc[1])
