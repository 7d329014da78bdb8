"""Layer <-> GeoDataFrame conversions of the plugin (qgis_plugin/qpvgeo_plugin/convert.py)."""

from __future__ import annotations

import math

import pytest

pytestmark = pytest.mark.qgis


def _memory_layer(uri, features, fields):
    """A memory layer; ``features`` is a list of (WKT or None, [attributes])."""
    from qgis.core import QgsFeature, QgsField, QgsGeometry, QgsVectorLayer

    layer = QgsVectorLayer(uri, "test", "memory")
    assert layer.isValid()
    layer.dataProvider().addAttributes([QgsField(name, qtype) for name, qtype in fields])
    layer.updateFields()
    feats = []
    for wkt, attrs in features:
        feat = QgsFeature(layer.fields())
        if wkt is not None:
            feat.setGeometry(QgsGeometry.fromWkt(wkt))
        feat.setAttributes(attrs)
        feats.append(feat)
    assert layer.dataProvider().addFeatures(feats)[0]
    return layer


def _source(layer, context, selected_only=False):
    from qgis.core import (
        QgsProcessingFeatureSourceDefinition,
        QgsProcessingParameterFeatureSource,
        QgsProcessingParameters,
    )

    context.temporaryLayerStore().addMapLayer(layer)
    param = QgsProcessingParameterFeatureSource("INPUT", "entrée")
    value = QgsProcessingFeatureSourceDefinition(layer.id(), selected_only)
    return QgsProcessingParameters.parameterAsSource(param, {"INPUT": value}, context)


@pytest.fixture
def zones(qgis_app):
    """Three squares in CC50 (EPSG:3950), codes as text, one NULL count, one NULL rate."""
    from qgis.PyQt.QtCore import QVariant

    fields = [("insee_com", QVariant.String), ("n", QVariant.Int), ("taux", QVariant.Double)]
    return _memory_layer("Polygon?crs=EPSG:3950", [
        ("POLYGON((0 0, 10 0, 10 10, 0 10, 0 0))", ["62498", 3, 0.25]),
        ("POLYGON((10 0, 20 0, 20 10, 10 10, 10 0))", ["62510", None, 0.5]),
        ("POLYGON((20 0, 30 0, 30 10, 20 10, 20 0))", ["02691", 7, None]),
    ], fields)


def test_source_to_frame_keeps_crs_codes_and_missing(zones, context, plugin):
    from pyproj import CRS
    from qpvgeo_plugin.convert import source_to_frame

    gdf = source_to_frame(_source(zones, context), "zones")
    assert CRS.from_user_input(gdf.crs).to_epsg() == 3950
    assert list(gdf.index) == [1, 2, 3]  # memory-layer feature ids
    assert gdf.index.name == "fid"
    assert list(gdf["insee_com"]) == ["62498", "62510", "02691"]  # leading zero kept
    assert gdf["n"].iloc[0] == 3
    assert math.isnan(gdf["n"].iloc[1])  # NULL stays missing, never 0
    assert math.isnan(gdf["taux"].iloc[2])
    assert gdf.geometry.area.tolist() == [100.0, 100.0, 100.0]  # 10 m × 10 m, untouched


def test_selected_features_only(zones, context, plugin):
    from qpvgeo_plugin.convert import source_to_frame

    zones.selectByIds([1, 3])
    gdf = source_to_frame(_source(zones, context, selected_only=True), "zones")
    assert list(gdf.index) == [1, 3]
    assert list(gdf["insee_com"]) == ["62498", "02691"]


def test_subset_of_fields_and_unknown_field(zones, context, plugin):
    from qgis.core import QgsProcessingException
    from qpvgeo_plugin.convert import source_to_frame

    gdf = source_to_frame(_source(zones, context), "zones", fields=["taux"])
    assert list(gdf.columns) == ["taux", "geometry"]
    with pytest.raises(QgsProcessingException, match="DEPCOM"):
        source_to_frame(_source(zones, context), "zones", fields=["DEPCOM"])


def test_layer_without_crs_is_a_french_error(qgis_app, context, plugin):
    from qgis.core import QgsCoordinateReferenceSystem, QgsProcessingException
    from qgis.PyQt.QtCore import QVariant
    from qpvgeo_plugin.convert import source_to_frame

    layer = _memory_layer("Polygon", [("POLYGON((0 0, 1 0, 1 1, 0 0))", ["a"])],
                          [("code", QVariant.String)])
    # headless QGIS gives CRS-less memory layers EPSG:4326; a shapefile without .prj opened with
    # "leave as unknown CRS" has an invalid CRS, which is what we simulate
    layer.setCrs(QgsCoordinateReferenceSystem())
    with pytest.raises(QgsProcessingException, match=r"« bâtiments \(test\) » n'a pas de"):
        source_to_frame(_source(layer, context), "bâtiments")


def test_empty_layer_is_a_french_error(qgis_app, context, plugin):
    from qgis.core import QgsProcessingException
    from qgis.PyQt.QtCore import QVariant
    from qpvgeo_plugin.convert import source_to_frame

    layer = _memory_layer("Polygon?crs=EPSG:2154", [], [("code", QVariant.String)])
    with pytest.raises(QgsProcessingException, match="aucune entité"):
        source_to_frame(_source(layer, context), "zones")


def test_curved_and_measured_geometries_are_read(qgis_app, context, plugin):
    from qgis.PyQt.QtCore import QVariant
    from qpvgeo_plugin.convert import source_to_frame

    layer = _memory_layer("CurvePolygonM?crs=EPSG:2154", [
        ("CURVEPOLYGON M(CIRCULARSTRING M(0 0 1, 2 0 1, 0 0 1))", ["rond"]),
    ], [("code", QVariant.String)])
    gdf = source_to_frame(_source(layer, context), "zones")
    # a circle of diameter 2 m, segmentised: area close to pi·1² m²
    assert gdf.geometry.iloc[0].area == pytest.approx(math.pi, rel=0.01)


def test_frame_round_trip_through_a_sink(zones, context, plugin):
    import pandas as pd
    from qgis.core import QgsFeatureSink, QgsProcessingParameterFeatureSink, QgsVectorLayer
    from qpvgeo_plugin.convert import (
        crs_from_pyproj,
        frame_fields,
        frame_wkb_type,
        source_to_frame,
        write_frame,
    )

    gdf = source_to_frame(_source(zones, context), "zones")
    gdf["part"] = [0.5, float("nan"), 1 / 3]
    gdf["ok"] = [True, False, True]
    fields, columns = frame_fields(gdf, {"insee_com": "code_commune", "part": "part_forte"})
    assert [f.name() for f in fields] == ["code_commune", "n", "taux", "part_forte", "ok"]
    param = QgsProcessingParameterFeatureSink("OUT", "sortie")
    from qgis.core import QgsProcessingParameters

    sink, dest = QgsProcessingParameters.parameterAsSink(
        param, {"OUT": "TEMPORARY_OUTPUT"}, fields, frame_wkb_type(gdf),
        crs_from_pyproj(gdf.crs), context)
    assert write_frame(sink, gdf, columns) == 3
    sink.flushBuffer()
    del sink
    layer = context.getMapLayer(dest)
    assert isinstance(layer, QgsVectorLayer)
    assert layer.crs().authid() == "EPSG:3950"
    rows = [f.attributes() for f in layer.getFeatures()]
    assert [r[0] for r in rows] == ["62498", "62510", "02691"]
    assert rows[1][1] is None or rows[1][1] == pd.NA or rows[1][1].isNull()  # NULL, not 0
    assert rows[0][3] == 0.5
    assert rows[2][3] == pytest.approx(1 / 3)
    assert [f.geometry().area() for f in layer.getFeatures()] == [100.0, 100.0, 100.0]
    assert QgsFeatureSink  # imported API exists under this name in 3.22+
