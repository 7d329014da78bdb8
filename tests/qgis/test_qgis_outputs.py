"""Bulk read (OGR Arrow) and column-wise feature writer of "Déperditions thermiques par bâtiment"
give the same layer as the feature-by-feature path, for every input file kind and output kind.

The reference run passes the same file as a ``QgsProcessingFeatureSourceDefinition`` with a
feature limit larger than the layer: Processing then reads it feature by feature through QGIS
(the bulk read only serves whole layers), so both runs see the same features.
"""

from __future__ import annotations

import math
import os
import sqlite3
import stat

import numpy as np
import pytest
from qgis_helpers import X0, Y0, box_wkt, write_raster

pytestmark = pytest.mark.qgis

# the method sentence of the library is the longest text of the output
TEXT = "Bâtiment à l'intérieur — «ÉTÉ»"


@pytest.fixture
def raster(tmp_path):
    """10 m × 10 m, 1 m pixels: columns 0–4 class 1 (faibles), 5–9 class 4 (excessives)."""
    array = np.ones((10, 10), dtype="uint8")
    array[:, 5:] = 4
    return write_raster(tmp_path / "thermo.tif", array)


def _poly(*points):
    ring = [*points, points[0]]
    return "POLYGON((" + ", ".join(f"{X0 + x} {Y0 + y}" for x, y in ring) + "))"


@pytest.fixture
def typed_buildings(make_layer):
    """Five buildings with text (accents), integer, real and date fields, NULLs in each, and
    geometries of different sizes (WKB of varying length): A left (class 1), B a triangle on
    the right (class 4), C a pentagon across both halves, D tiny (not classed), E outside."""
    from qgis.PyQt.QtCore import QDate, QVariant

    fields = [("nom", QVariant.String), ("libelle", QVariant.String),
              ("nb_logts", QVariant.Int), ("hauteur", QVariant.Double),
              ("date_app", QVariant.Date)]
    return make_layer("Polygon?crs=EPSG:2154", fields, [
        (box_wkt(1, 1, 4, 9), ["A", TEXT, 12, 9.5, QDate(1961, 5, 2)]),
        (_poly((6, 1), (9.5, 1), (9.5, 9)), ["B", None, None, 12.25, None]),
        (_poly((3, 2), (8, 2), (8, 8), (5.5, 9), (3, 8)), ["C", "école", 4, None,
                                                          QDate(2001, 1, 31)]),
        (box_wkt(0.4, 0.4, 0.6, 0.6), ["D", "", 0, 0.0, QDate(1900, 1, 1)]),
        (box_wkt(20, 0, 25, 5), ["E", "hors raster", 1, None, None]),
    ], name="batiments")


def _write(layer, path, driver, encoding="UTF-8"):
    from qgis.core import QgsCoordinateTransformContext, QgsVectorFileWriter

    opts = QgsVectorFileWriter.SaveVectorOptions()
    opts.driverName = driver
    opts.fileEncoding = encoding
    opts.layerName = "batiments"
    err = QgsVectorFileWriter.writeAsVectorFormatV3(layer, str(path),
                                                   QgsCoordinateTransformContext(), opts)
    assert err[0] == QgsVectorFileWriter.WriterError.NoError, err
    return str(path)


INPUTS = {  # file kind -> (extension, OGR driver, text encoding)
    "gpkg": ("gpkg", "GPKG", "UTF-8"),
    "shp": ("shp", "ESRI Shapefile", "ISO-8859-1"),  # decoded by QGIS, not OGR
    "fgb": ("fgb", "FlatGeobuf", "UTF-8"),
}


def _layer_of(result, context_layers):
    """The output as a QGIS layer: memory layers come back as objects, files as paths."""
    from qgis.core import QgsVectorLayer

    out = result["OUTPUT"]
    if isinstance(out, QgsVectorLayer):
        return out
    layer = QgsVectorLayer(out, "sortie", "ogr")
    assert layer.isValid(), out
    context_layers.append(layer)
    return layer


def _plain(value):
    from qgis.PyQt.QtCore import QDate, QDateTime, QVariant

    if value is None or (isinstance(value, QVariant) and value.isNull()):
        return None
    if isinstance(value, QDateTime):
        return value.toString("yyyy-MM-dd")  # a date written to a date-time field
    if isinstance(value, QDate):
        return value.toString("yyyy-MM-dd")
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _table(layer):
    """{nom: (attributes by field name, geometry WKB type, area)} of a layer."""
    from qgis.core import QgsWkbTypes

    names = [f.name() for f in layer.fields()]
    out = {}
    for feat in layer.getFeatures():
        attrs = dict(zip(names, (_plain(v) for v in feat.attributes()), strict=True))
        geom = feat.geometry()
        out[attrs["nom"]] = (attrs, QgsWkbTypes.displayString(geom.wkbType()), geom.area())
    return names, out


def _assert_same_layer(bulk, reference):
    from qgis.core import QgsWkbTypes

    names, got = _table(bulk)
    ref_names, expected = _table(reference)
    assert names == ref_names
    assert sorted(got) == sorted(expected) == ["A", "B", "C", "D", "E"]
    for nom, (attrs, kind, area) in expected.items():
        g_attrs, g_kind, g_area = got[nom]
        for name in names:
            if isinstance(attrs[name], float):
                assert g_attrs[name] == pytest.approx(attrs[name], rel=1e-12), (nom, name)
            else:
                assert g_attrs[name] == attrs[name], (nom, name)
        assert g_kind == kind
        assert QgsWkbTypes.isMultiType(QgsWkbTypes.parseType(g_kind)) or \
            (g_kind == "Polygon" and bulk.providerType() == "ogr" and \
            bulk.source().lower().split("|")[0].endswith(".shp"))
        assert g_area == pytest.approx(area, rel=1e-12)
    assert bulk.featureCount() == reference.featureCount() == 5
    assert bulk.crs().authid() == reference.crs().authid() == "EPSG:2154"


def _no_feature_read(monkeypatch):
    """Make the feature-by-feature reader fail: the bulk run must not use it."""
    from qpvgeo_plugin import convert

    def refuse(*_args, **_kwargs):
        raise AssertionError("the bulk path read the layer feature by feature")

    monkeypatch.setattr(convert, "source_to_frame", refuse)


@pytest.mark.parametrize("output", ["memory", "fgb", "shp", "gpkg"])
@pytest.mark.parametrize("kind", ["gpkg", "shp", "fgb"])
def test_bulk_paths_equal_the_feature_path(kind, output, raster, typed_buildings, run_alg,
                                           tmp_path, monkeypatch):
    from qgis.core import QgsProcessingFeatureSourceDefinition

    ext, driver, encoding = INPUTS[kind]
    src = _write(typed_buildings, tmp_path / f"in.{ext}", driver, encoding)
    dest = {"memory": ("TEMPORARY_OUTPUT", "TEMPORARY_OUTPUT")}.get(
        output, (str(tmp_path / f"bulk.{output}"), str(tmp_path / f"ref.{output}")))
    keep = []
    reference = _layer_of(run_alg("building_heat_loss", {
        "RASTER": raster, "OUTPUT": dest[1],
        "BUILDINGS": QgsProcessingFeatureSourceDefinition(src, False, 10**6)}), keep)
    with monkeypatch.context() as m:
        _no_feature_read(m)
        bulk = _layer_of(run_alg("building_heat_loss", {
            "RASTER": raster, "BUILDINGS": src, "OUTPUT": dest[0]}), keep)
    _assert_same_layer(bulk, reference)
    if output == "gpkg":  # the SQL write edits the schema: the file must stay sound
        con = sqlite3.connect(str(tmp_path / "bulk.gpkg"))
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        con.close()
    _, table = _table(bulk)
    # accents decoded as QGIS decodes them (ISO-8859-1 has no "—": QGIS wrote "?")
    assert table["A"][0]["libelle"] == TEXT.encode(encoding, "replace").decode(encoding)
    assert table["B"][0]["nb_logts"] is None  # NULL stays NULL, never 0
    assert table["D"][0]["nb_logts"] == 0
    label = "libelle_de" if output == "shp" else "libelle_deperdition"  # 10 characters
    assert table["A"][0][label] == "faibles"
    assert table["B"][0][label] == "excessives"
    assert table["D"][0][label] == "non classé"
    keep.clear()


def test_invalid_geometries_skipped_alike(raster, typed_buildings, make_layer, plugin,
                                          tmp_path, monkeypatch):
    """With "skip invalid features", the bulk read drops the same features as QGIS."""
    import processing
    from qgis.core import (
        QgsFeatureRequest,
        QgsProcessingContext,
        QgsProcessingFeatureSourceDefinition,
        QgsProcessingFeedback,
        QgsProject,
    )
    from qgis.PyQt.QtCore import QVariant

    bowtie = _poly((1, 1), (4, 9), (4, 1), (1, 9))  # self-intersecting
    layer = make_layer("Polygon?crs=EPSG:2154", [("nom", QVariant.String)],
                       [(box_wkt(1, 1, 4, 9), ["A"]), (bowtie, ["X"]),
                        (box_wkt(6, 1, 9, 9), ["B"])])
    src = _write(layer, tmp_path / "in.gpkg", "GPKG")

    def run(buildings):
        ctx = QgsProcessingContext()
        ctx.setProject(QgsProject.instance())
        ctx.setInvalidGeometryCheck(QgsFeatureRequest.InvalidGeometryCheck.GeometrySkipInvalid)
        res = processing.run("qpvgeo:building_heat_loss", {
            "RASTER": raster, "BUILDINGS": buildings, "OUTPUT": "TEMPORARY_OUTPUT"},
            context=ctx, feedback=QgsProcessingFeedback())
        out = res["OUTPUT"]
        return sorted((f["nom"], f["libelle_deperdition"]) for f in out.getFeatures())

    reference = run(QgsProcessingFeatureSourceDefinition(src, False, 10**6))
    with monkeypatch.context() as m:
        _no_feature_read(m)
        bulk = run(src)
    assert bulk == reference == [("A", "faibles"), ("B", "excessives")]


def test_toolbox_destination_keeps_the_geopackage_sql_write(raster, typed_buildings, run_alg,
                                                            tmp_path, monkeypatch):
    """The toolbox dialog always sends the text encoding as a creation option: a GeoPackage
    output still gets the SQL write, any other creation option goes through the sink. Both
    write multi-polygons (the input holds single polygons); the SQL write keeps the input
    table's name, the sink names the table after the file."""
    import pyogrio
    from qgis.core import QgsProcessingOutputLayerDefinition
    from qpvgeo_plugin import fastpath

    src = _write(typed_buildings, tmp_path / "in.gpkg", "GPKG")
    assert pyogrio.list_layers(src).tolist() == [["batiments", "Polygon"]]
    sql_writes = []
    real = fastpath.write_gpkg
    monkeypatch.setattr(fastpath, "write_gpkg",
                        lambda *a, **k: sql_writes.append(a[1]) or real(*a, **k))
    for options, sql in (({"fileEncoding": "System"}, True),
                         ({"fileEncoding": "UTF-8", "layerOptions": ["FID=fid"]}, False)):
        out = tmp_path / f"sortie{len(options)}.gpkg"
        dest = QgsProcessingOutputLayerDefinition(str(out))
        dest.createOptions = options
        run_alg("building_heat_loss", {"RASTER": raster, "BUILDINGS": src, "OUTPUT": dest})
        assert (str(out) in sql_writes) is sql
        layers = pyogrio.list_layers(str(out)).tolist()
        assert ["batiments" if sql else out.stem, "MultiPolygon"] in layers, layers
        # written under a private temporary name, the file ends with the usual permissions
        umask = os.umask(0o022)
        os.umask(umask)
        assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_shapefile_text_fields_get_the_width_of_their_values(raster, typed_buildings, run_alg,
                                                             tmp_path):
    """Text fields without a width are written to a shapefile at the width of their longest
    value in UTF-8 bytes (not 254 bytes each), and no value is cut."""
    from osgeo import ogr

    src = _write(typed_buildings, tmp_path / "in.gpkg", "GPKG")
    out = str(tmp_path / "out.shp")
    run_alg("building_heat_loss", {"RASTER": raster, "BUILDINGS": src, "OUTPUT": out})
    ds = ogr.Open(out)
    lyr = ds.GetLayer(0)
    defn = lyr.GetLayerDefn()
    widths = {defn.GetFieldDefn(i).GetName(): defn.GetFieldDefn(i).GetWidth()
              for i in range(defn.GetFieldCount())}
    labels = [f.GetField("libelle_de") for f in lyr]
    del lyr, ds
    # "libelle": longest value TEXT; "libelle_deperdition": "non mesuré" and "non classé"
    # are 11 bytes in UTF-8 (é is 2 bytes), "excessives" 10
    assert widths["libelle"] == len(TEXT.encode("utf-8"))
    assert widths["libelle_de"] == len("non mesuré".encode()) == 11
    assert sorted(labels) == sorted(["faibles", "excessives", "excessives", "non classé",
                                     "non mesuré"])


def test_feature_writer_checks_cancel_and_keeps_null_geometries(qgis_app, context, plugin):
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsField,
        QgsFields,
        QgsGeometry,
        QgsProcessingFeedback,
        QgsProcessingParameterFeatureSink,
        QgsProcessingParameters,
        QgsWkbTypes,
    )
    from qgis.PyQt.QtCore import QVariant
    from qpvgeo_plugin.convert import add_features

    from qpvgeo.errors import Cancelled

    fields = QgsFields()
    fields.append(QgsField("n", QVariant.LongLong))
    fields.append(QgsField("t", QVariant.String))
    param = QgsProcessingParameterFeatureSink("OUT", "sortie")
    sink, dest = QgsProcessingParameters.parameterAsSink(
        param, {"OUT": "TEMPORARY_OUTPUT"}, fields, QgsWkbTypes.Type.MultiPolygon,
        QgsCoordinateReferenceSystem("EPSG:2154"), context)
    square = QgsGeometry.fromWkt(box_wkt(0, 0, 2, 2))
    rows = [[1, "a"], [None, None], [3, "c"]]
    geoms = [bytes(square.asWkb()), None, square]
    assert add_features(sink, rows, geoms) == 3
    cancelled = QgsProcessingFeedback()
    cancelled.cancel()
    with pytest.raises(Cancelled):
        add_features(sink, rows, geoms, cancelled)
    del sink
    layer = context.getMapLayer(dest)
    feats = list(layer.getFeatures())
    assert len(feats) == 3  # nothing added once cancelled
    assert [_plain(f["n"]) for f in feats] == [1, None, 3]
    assert [f.hasGeometry() for f in feats] == [True, False, True]
    assert QgsWkbTypes.displayString(feats[2].geometry().wkbType()) == "MultiPolygon"
    assert feats[0].geometry().area() == pytest.approx(4.0)


def test_text_width_counts_utf8_bytes_and_skips_missing(plugin):
    from qgis.PyQt.QtCore import QVariant
    from qpvgeo_plugin.convert import text_width

    # "é" is 2 bytes in UTF-8: "écoles" 7; NULL (None, NaN, QVariant) skipped; 12345 as text 5
    values = ["abc", None, float("nan"), QVariant(), "écoles", 12345, "abc"]
    assert text_width(values) == len("écoles".encode()) == 7
    assert text_width(v for v in values) == 7  # a generator is read once
    assert text_width([None, QVariant()]) == 0


def _gpkg_blob(geom, *, big_endian=False, envelope=False, empty=False):
    """A GeoPackage geometry blob: "GP", version 0, flags, SRS id, optional xy envelope, WKB."""
    import struct

    import shapely

    order = ">" if big_endian else "<"
    flags = (0 if big_endian else 1) | ((1 << 1) if envelope else 0) | (0x10 if empty else 0)
    head = b"GP" + bytes([0, flags]) + struct.pack(order + "i", 2154)
    if envelope:
        x0, y0, x1, y1 = geom.bounds
        head += struct.pack(order + "4d", x0, x1, y0, y1)
    return head + shapely.to_wkb(geom, flavor="iso", byte_order=0 if big_endian else 1)


def test_multi_blob_wraps_single_geometries_in_one_part(plugin):
    import shapely
    from qpvgeo_plugin.fastpath import _multi_blob

    square = shapely.box(0, 0, 2, 3)
    square_z = shapely.force_3d(square, 7.0)
    for geom, kw, multi in (
            (square, {}, "MultiPolygon"),
            (square_z, {"big_endian": True, "envelope": True}, "MultiPolygon"),
            (shapely.LineString([(0, 0), (1, 1)]), {"envelope": True}, "MultiLineString"),
            (shapely.Point(1, 2), {}, "MultiPoint")):
        blob = _gpkg_blob(geom, **kw)
        header = len(blob) - len(shapely.to_wkb(geom, flavor="iso"))
        out = _multi_blob(blob)
        assert out[:header] == blob[:header]  # header and envelope kept
        got = shapely.from_wkb(out[header:])
        assert got.geom_type == multi
        assert shapely.get_num_geometries(got) == 1
        assert shapely.equals_exact(shapely.get_geometry(got, 0), geom)
        assert got.has_z == geom.has_z
    # already multi, NULL: unchanged; an empty polygon becomes an empty multi-polygon
    multi = _gpkg_blob(shapely.MultiPolygon([square]))
    assert _multi_blob(multi) == multi
    assert _multi_blob(None) is None
    empty = _multi_blob(_gpkg_blob(shapely.Polygon(), empty=True))
    assert shapely.from_wkb(empty[8:]).wkt == "MULTIPOLYGON EMPTY"
