"""Every algorithm on the demo territory (illustrative CALL stand-ins) gives the library's numbers.

Layers are opened the way a QGIS user opens them: shapefiles and GeoJSON with the OGR provider,
the RPLS and BPE CSV files as delimited text with their coordinate columns (QGIS types the
columns itself, codes become integers). The reference is the library called on the same files
read by qpvgeo's readers. Outputs from these illustrative layers say so (``source`` field,
layer name suffix).
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.qgis


@contextlib.contextmanager
def quiet():
    """Run a reference library call without its data-quality warnings (tested elsewhere)."""
    from qpvgeo.errors import QpvgeoWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QpvgeoWarning)
        yield


def _path(name):
    from qpvgeo import datasets

    try:
        return str(datasets.get_path(name))
    except Exception as exc:  # demo not generated
        pytest.skip(f"territoire de démonstration indisponible ({exc}) : make data")


def _csv_points(path, x, y, name):
    from qgis.core import QgsVectorLayer

    uri = (f"file://{path}?type=csv&delimiter=;&xField={x}&yField={y}&crs=EPSG:2154"
           "&detectTypes=yes&geomType=point")
    layer = QgsVectorLayer(uri, name, "delimitedtext")
    assert layer.isValid(), uri
    return layer


@pytest.fixture(scope="module")
def demo(qgis_app, plugin, tmp_path_factory):
    from qgis.core import QgsVectorLayer

    from qpvgeo import io

    # some BPE rows have only longitude/latitude: qpvgeo's reader places them, a delimited
    # text layer on LAMBERT_X/Y would leave them without geometry; use the reader's points
    bpe_gpkg = tmp_path_factory.mktemp("demo_bpe") / "bpe.gpkg"
    with quiet():
        io.read_bpe(_path("bpe")).to_file(bpe_gpkg, driver="GPKG")
    layers = {
        "qpv": QgsVectorLayer(_path("qpv"), "qpv", "ogr"),
        "iris": QgsVectorLayer(_path("iris"), "iris", "ogr"),
        "buildings": QgsVectorLayer(_path("buildings"), "batiments", "ogr"),
        "rpls": _csv_points(_path("rpls"), "X", "Y", "rpls"),
        "bpe": QgsVectorLayer(str(bpe_gpkg), "bpe", "ogr"),
    }
    for key, layer in layers.items():
        assert layer.isValid(), key
    layers["heatloss"] = _path("heatloss")
    yield layers
    layers.clear()


@pytest.fixture(scope="module")
def classified(demo, plugin, tmp_path_factory):
    """The demo buildings classified once by the plugin (92 Mpx CC50 raster, 50k buildings)."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    out = str(tmp_path_factory.mktemp("demo") / "batiments_classes.gpkg")
    processing.run("qpvgeo:building_heat_loss", {
        "RASTER": demo["heatloss"], "BUILDINGS": demo["buildings"], "OUTPUT": out},
        context=QgsProcessingContext(), feedback=QgsProcessingFeedback())
    return out


def test_heat_loss_on_the_demo_equals_the_library(demo, classified, read_output):
    import geopandas as gpd

    from qpvgeo.thermography import building_heat_loss

    with quiet():
        expected = building_heat_loss(demo["heatloss"], gpd.read_file(_path("buildings")))
    got = read_output(classified)
    assert len(got) == len(expected) > 40_000
    exp = expected.set_index("ID")
    got = got.set_index("ID").loc[exp.index]
    assert (got["libelle_deperdition"] == exp["heatloss_label"]).all()
    np.testing.assert_allclose(got["pixels_valides"], exp["heatloss_valid_px"], rtol=1e-9)
    np.testing.assert_allclose(got["part_classe"].astype(float),
                               exp["heatloss_class_share"].astype(float), rtol=1e-9)
    assert (got["source"] == "illustratif").all()  # the raster is tagged illustrative


def test_heat_loss_shares_on_the_demo_equal_the_library(demo, classified, run_alg, tmp_path,
                                                        read_output):
    from qpvgeo import io
    from qpvgeo.thermography import heat_loss_shares

    out = str(tmp_path / "qpv.gpkg")
    run_alg("heat_loss_shares", {"BUILDINGS": classified, "ZONES": demo["qpv"], "OUTPUT": out})
    buildings = read_output(classified).rename(columns={
        "classe_deperdition": "heatloss_class", "libelle_deperdition": "heatloss_label"})
    with quiet():
        qpv = io.read_qpv(_path("qpv"))
        expected = heat_loss_shares(buildings, qpv).assign(code_qpv=qpv["code_qpv"].to_numpy())
    got = read_output(out).set_index("code_qp").loc[expected["code_qpv"]]
    assert len(got) == 22
    np.testing.assert_allclose(got["part_deperditions_fortes"],
                               expected["heatloss_strong_share"].astype(float), rtol=1e-12)
    np.testing.assert_array_equal(got["nb_batiments"], expected["buildings_count"])
    assert (got["source"] == "illustratif").all()


def test_iris_qpv_overlap_on_the_demo_equals_the_library(demo, run_alg, tmp_path,
                                                        read_output):
    from qpvgeo import io
    from qpvgeo.overlay import iris_qpv_overlap

    out = str(tmp_path / "overlap.gpkg")
    run_alg("iris_qpv_overlap", {"IRIS": demo["iris"], "QPV": demo["qpv"], "OUTPUT": out})
    with quiet():
        expected = iris_qpv_overlap(io.read_iris(_path("iris")), io.read_qpv(_path("qpv")))
    got = read_output(out)
    key = ["CODE_IRIS", "code_qp"]
    got = got.sort_values(key).reset_index(drop=True)
    expected = expected.sort_values(["code_iris", "code_qpv"]).reset_index(drop=True)
    assert got[key].to_numpy().tolist() == expected[["code_iris", "code_qpv"]].to_numpy().tolist()
    np.testing.assert_allclose(got["surface_m2"], expected["area_m2"], rtol=1e-9)
    np.testing.assert_allclose(got["part_du_qpv"], expected["share_of_qpv"], rtol=1e-9)


def test_interpolation_on_the_demo_equals_the_library(demo, run_alg, tmp_path, read_output):
    from qgis.core import QgsVectorLayer

    from qpvgeo import io
    from qpvgeo.interpolation import interpolate

    table = QgsVectorLayer(_path("activite_2020"), "base_ic_activite", "ogr")  # all text
    assert table.isValid()
    out = str(tmp_path / "qpv.gpkg")
    run_alg("interpolate_iris_qpv", {
        "SOURCE": demo["iris"], "TABLE": table, "TARGET": demo["qpv"],
        "COUNTS": ["P20_ACT1564"], "RATIOS": ["taux_chomage", "P20_CHOM1564", "P20_ACT1564"],
        "WEIGHTS": demo["buildings"], "WEIGHT_FIELD": "NB_LOGTS", "OUTPUT": out})
    with quiet():
        qpv = io.read_qpv(_path("qpv"))
        expected = interpolate(
            io.read_iris(_path("iris")), qpv, extensive=["P20_ACT1564"],
            ratios={"taux_chomage": ("P20_CHOM1564", "P20_ACT1564")},
            values=io.read_insee_table(_path("activite_2020")),
            weights=io.read_buildings(_path("buildings")), weight_col="nb_logts")
    got = read_output(out).set_index("code_qp").loc[expected["code_qpv"]]
    np.testing.assert_allclose(got["taux_chomage"], expected["taux_chomage"], rtol=1e-9)
    np.testing.assert_allclose(got["P20_ACT1564"], expected["P20_ACT1564"], rtol=1e-9)
    np.testing.assert_allclose(got["part_estimee"], expected["share_estimated"], rtol=1e-9)
    assert (got["source"] == "illustratif").all()


def test_social_housing_on_the_demo_equals_the_library(demo, run_alg, tmp_path, read_output):
    from qpvgeo import io
    from qpvgeo.housing import social_housing

    out = str(tmp_path / "qpv.gpkg")
    run_alg("social_housing", {"RPLS": demo["rpls"], "ZONES": demo["qpv"], "OUTPUT": out})
    with quiet():
        qpv = io.read_qpv(_path("qpv"))
        expected = social_housing(io.read_rpls(_path("rpls")), qpv)
    got = read_output(out).set_index("code_qp").loc[qpv["code_qpv"]]
    np.testing.assert_array_equal(got["nb_logements_sociaux"], expected["rpls_count"])
    np.testing.assert_allclose(got["rpls_par_ha"], expected["rpls_per_ha"], rtol=1e-9)
    for lib in [c for c in expected.columns if c.startswith(("finan_", "era_", "dpe_"))
                and c.endswith("_count")][:12]:
        from qpvgeo_plugin.names import french

        np.testing.assert_array_equal(got[french(lib)], expected[lib], err_msg=lib)
    assert (got["source"] == "illustratif").all()


def test_health_access_on_the_demo_equals_the_library(demo, run_alg, tmp_path, read_output):
    from qpvgeo import io
    from qpvgeo.health import health_access

    out = str(tmp_path / "qpv.gpkg")
    run_alg("health_access", {"BPE": demo["bpe"], "ZONES": demo["qpv"], "VINTAGE": 2023,
                              "WALK_DISTANCE": 800, "OUTPUT": out})
    with quiet():
        qpv = io.read_qpv(_path("qpv"))
        expected = health_access(io.read_bpe(_path("bpe")), qpv, vintage=2023, reach_m=800)
    got = read_output(out).set_index("code_qp").loc[qpv["code_qpv"]]
    for kind in ("medecin_generaliste", "pharmacie"):
        np.testing.assert_array_equal(got[f"{kind}_nb_dans_zone"],
                                      expected[f"{kind}_inside_count"])
        np.testing.assert_array_equal(got[f"{kind}_nb_a_portee"],
                                      expected[f"{kind}_reach_count"])
        np.testing.assert_allclose(got[f"{kind}_part_pop_couverte"].astype(float),
                                   expected[f"{kind}_covered_share"].astype(float), rtol=1e-9)
    assert (got["portee_m"] == 800).all()
    assert pd.api.types.is_numeric_dtype(got["medecin_generaliste_nb_dans_zone"])


def test_loaded_output_is_named_illustrative_and_styled(demo, plugin, tmp_path):
    """processing.runAndLoadResults (what the toolbox does): name suffix and scheme colours."""
    import processing
    from qgis.core import QgsProject

    before = set(QgsProject.instance().mapLayers())
    processing.runAndLoadResults("qpvgeo:heat_loss_shares", {
        "BUILDINGS": _classified_small(demo, tmp_path),
        "ZONES": demo["qpv"], "OUTPUT": "TEMPORARY_OUTPUT"})
    added = [QgsProject.instance().mapLayer(i) for i in
             set(QgsProject.instance().mapLayers()) - before]
    try:
        assert len(added) == 1
        layer = added[0]
        assert layer.name() == "Parts de déperditions fortes par quartier (illustratif)"
        assert layer.renderer().type() == "graduatedSymbol"
        assert layer.renderer().classAttribute() == "part_deperditions_fortes"
    finally:
        QgsProject.instance().removeMapLayers([lyr.id() for lyr in added])


def _classified_small(demo, tmp_path):
    """The demo buildings within the extent of two QPV, classified (quick), as a GeoPackage."""
    import processing
    from qgis.core import (
        QgsCoordinateTransform,
        QgsFeatureRequest,
        QgsProcessingFeatureSourceDefinition,
        QgsProject,
    )

    layer, qpv = demo["buildings"], demo["qpv"]
    to_buildings = QgsCoordinateTransform(qpv.crs(), layer.crs(), QgsProject.instance())
    ids = []
    for zone in qpv.getFeatures(QgsFeatureRequest().setLimit(2)):
        box = to_buildings.transformBoundingBox(zone.geometry().boundingBox())
        ids += [f.id() for f in layer.getFeatures(QgsFeatureRequest().setFilterRect(box))]
    QgsProject.instance().addMapLayer(layer, False)
    layer.selectByIds(ids)
    out = str(tmp_path / "small.gpkg")
    processing.run("qpvgeo:building_heat_loss", {
        "RASTER": demo["heatloss"], "OUTPUT": out,
        "BUILDINGS": QgsProcessingFeatureSourceDefinition(layer.id(), True)})
    layer.removeSelection()
    QgsProject.instance().takeMapLayer(layer)
    return out


@pytest.mark.slow
def test_portrait_from_project_layers_equals_the_library(demo, run_alg, tmp_path,
                                                        library_portrait):
    """The whole portrait with the QPV and buildings given as project layers (the buildings as
    a selection-free shapefile layer, the QPV through a selection of all features, so they are
    copied): same indicators as qpvgeo.portrait.run_portrait on the demo configuration."""
    from qgis.core import QgsProcessingFeatureSourceDefinition, QgsProject

    qpv = demo["qpv"]
    QgsProject.instance().addMapLayer(qpv, False)
    qpv.selectAll()
    out = tmp_path / "portrait_plugin"
    try:
        res = run_alg("portrait", {
            "DEMO": True, "QPV": QgsProcessingFeatureSourceDefinition(qpv.id(), True),
            "BUILDINGS": demo["buildings"], "THERMOGRAPHY": demo["heatloss"],
            "OPEN_MAP": False, "OUTPUT_FOLDER": str(out)})
    finally:
        qpv.removeSelection()
        QgsProject.instance().takeMapLayer(qpv)
    assert res["MAP"] == str(out / "carte.html")
    assert (out / "rapport.html").exists()
    assert (out / "portrait.gpkg").exists()
    got = (out / "indicateurs.csv").read_bytes()
    assert got == (library_portrait / "indicateurs.csv").read_bytes()
    table = pd.read_csv(out / "indicateurs.csv", sep=";", dtype=str)
    assert len(table) > 100
    assert (table["donnees_illustratives"] == "True").all()
    assert "illustrati" in (out / "rapport.html").read_text(encoding="utf-8").lower()
