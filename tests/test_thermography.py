"""Tests of qpvgeo.raster and qpvgeo.thermography: hand-worked rasters, exactextract as peer."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import rasterio.errors
import shapely
from affine import Affine

from qpvgeo.errors import (
    InputFileError,
    MissingCRSError,
    NoOverlapError,
    RasterError,
    SchemaError,
)
from qpvgeo.raster import InMemoryRaster, open_raster, row_windows
from qpvgeo.thermography import (
    DEFAULT_SCHEME,
    NOT_MEASURED_LABEL,
    UNCLASSIFIED_LABEL,
    HeatLossScheme,
    building_heat_loss,
    class_fractions,
    heat_loss_shares,
    raster_summary,
)

X0, Y0 = 700_000.0, 7_000_004.0  # whole Lambert-93 metres


def assert_result(result, expected_index):
    """The result keeps the caller's index, in order (as tests/conftest.py's helper; importing
    ``conftest`` by name clashes with tests/qgis/conftest.py when both are collected)."""
    pd.testing.assert_index_equal(result.index, expected_index)


def north_up(x0, y0, xres, yres):
    return Affine(xres, 0.0, x0, 0.0, -yres, y0)


def write_tif(path, array, transform, crs="EPSG:2154", nodata=None, tags=None):
    profile = {"driver": "GTiff", "width": array.shape[1], "height": array.shape[0], "count": 1,
                   "dtype": array.dtype, "transform": transform, "nodata": nodata}
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)
        if tags:
            dst.update_tags(**tags)
    return path


# ----------------------------------------------------------------------------------------------
# The hand-worked fixture (STYLE.md): 4x4 raster, 1 m pixels, classes 0-3
#
#          x = 700000   +1     +2     +3     +4
#   y = 7000004 +------+------+------+------+
#               |  0   |  1   |  1   |  2   |  row 0
#               +------+------+------+------+
#               |  1   |  2   |  3   |  3   |  row 1
#               +------+------+------+------+
#               |  1   |  3   |  3   |  2   |  row 2
#               +------+------+------+------+
#               |  0   |  0   |  1   |  2   |  row 3
#   y = 7000000 +------+------+------+------+
#
# Building: x 700000.5..700002.5, y 7000001.5..7000003.5 (offset half a pixel), so the cells of
# rows 0-2 x cols 0-2 are covered 1/4 (corners), 1/2 (edges) and 1 (the centre cell r1c1).
# ----------------------------------------------------------------------------------------------
FIXTURE = np.array([[0, 1, 1, 2],
                    [1, 2, 3, 3],
                    [1, 3, 3, 2],
                    [0, 0, 1, 2]], dtype=np.uint8)
BUILDING = shapely.box(X0 + 0.5, Y0 - 2.5, X0 + 2.5, Y0 - 0.5)


@pytest.fixture
def fixture_tif(tmp_path):
    return write_tif(tmp_path / "fixture.tif", FIXTURE, north_up(X0, Y0, 1, 1), nodata=255)


def one_zone(geom, crs="EPSG:2154", index=("QN06201A",)):
    return gpd.GeoDataFrame({"code_qpv": list(index)}, geometry=[geom], crs=crs,
                            index=pd.Index(list(index), name="code"))


def test_fixture_exact_fractions(fixture_tif):
    zones = one_zone(BUILDING)
    res = class_fractions(fixture_tif, zones)
    assert_result(res, zones.index)
    # class 0: r0c0 (1/4); class 1: r0c1 (1/2) + r0c2 (1/4) + r1c0 (1/2) + r2c0 (1/4);
    # class 2: r1c1 (1); class 3: r1c2 (1/2) + r2c1 (1/2) + r2c2 (1/4); total 4 pixels.
    total = 4.0
    row = res.loc["QN06201A"]
    assert row[0] == pytest.approx(0.25 / total)
    assert row[1] == pytest.approx((0.5 + 0.25 + 0.5 + 0.25) / total)
    assert row[2] == pytest.approx(1.0 / total)
    assert row[3] == pytest.approx((0.5 + 0.5 + 0.25) / total)
    assert row["measured_px"] == pytest.approx(total)
    assert row["measured_area_m2"] == pytest.approx(4.0)  # 1 m² pixels
    assert row["coverage"] == pytest.approx(1.0)


@pytest.mark.parametrize("big_cells", [16_384, 1])
def test_fixture_not_measured_class_excluded(fixture_tif, monkeypatch, big_cells):
    import qpvgeo.coverage

    monkeypatch.setattr(qpvgeo.coverage, "_BIG_CELLS", big_cells)
    res = class_fractions(fixture_tif, one_zone(BUILDING), not_measured=(0,))
    measured = 4.0 - 0.25  # the class-0 corner is not measured
    assert [c for c in res.columns if isinstance(c, int)] == [1, 2, 3]
    assert res.iloc[0][1] == pytest.approx(1.5 / measured)  # = 0.4
    assert res.iloc[0][2] == pytest.approx(1.0 / measured)
    assert res.iloc[0][3] == pytest.approx(1.25 / measured)  # = 1/3
    assert res.iloc[0]["coverage"] == pytest.approx(measured / 4.0)


def test_fixture_centre_fractions(fixture_tif):
    # Centres inside (half-open rule, see qpvgeo.coverage): cols 1-2 of rows 0-1, values
    # 1, 1 / 2, 3.
    res = class_fractions(fixture_tif, one_zone(BUILDING), coverage="centre")
    assert res.iloc[0][1] == pytest.approx(2 / 4)
    assert res.iloc[0][2] == pytest.approx(1 / 4)
    assert res.iloc[0][3] == pytest.approx(1 / 4)
    assert 0 not in res.columns
    assert res.iloc[0]["measured_px"] == 4


@pytest.mark.parametrize("dtype", ["int16", "int32", "float32"])
def test_other_dtypes_give_the_same_fractions(dtype):
    # 8/16-bit rasters are binned per (polygon, value); wider integers and floats take the
    # generic path (np.unique). Same hand-worked fractions; a NaN/-1 cell is nodata.
    arr = FIXTURE.astype(dtype)
    nodata = np.nan if dtype == "float32" else -1
    arr[3, 3] = nodata
    src = InMemoryRaster(arr, north_up(X0, Y0, 1, 1), "EPSG:2154", nodata=nodata)
    res = class_fractions(src, one_zone(BUILDING), not_measured=(0,))
    assert res.iloc[0][1] == pytest.approx(1.5 / 3.75)
    assert res.iloc[0][3] == pytest.approx(1.25 / 3.75)
    assert res.iloc[0]["measured_px"] == pytest.approx(3.75)


def test_classes_argument_fixes_columns_and_warns_for_unlisted(fixture_tif):
    from qpvgeo.errors import DataQualityWarning

    with pytest.warns(DataQualityWarning, match="not listed"):
        res = class_fractions(fixture_tif, one_zone(BUILDING), classes=[3, 1, 4])
    assert [c for c in res.columns if isinstance(c, int)] == [3, 1, 4]
    assert res.iloc[0][4] == 0.0
    assert res.iloc[0][3] == pytest.approx(1.25 / 4)


def test_zone_smaller_than_a_pixel(fixture_tif):
    # 0.3 x 0.3 m inside cell r1c2 (class 3), away from its centre: exact mode still gives
    # its fractions, centre mode finds no pixel.
    tiny = shapely.box(X0 + 2.1, Y0 - 1.9, X0 + 2.4, Y0 - 1.6)
    res = class_fractions(fixture_tif, one_zone(tiny))
    assert res.iloc[0][3] == 1.0
    assert res.iloc[0]["measured_px"] == pytest.approx(0.3 * 0.3)
    centre = class_fractions(fixture_tif, one_zone(tiny), coverage="centre")
    assert centre.iloc[0]["measured_px"] == 0
    assert np.isnan(centre.iloc[0][3]) if 3 in centre.columns else True


def test_zones_in_wgs84_and_cc50(fixture_tif):
    zones = one_zone(BUILDING)
    ref = class_fractions(fixture_tif, zones)
    for crs in ("EPSG:4326", "EPSG:3950"):
        res = class_fractions(fixture_tif, zones.to_crs(crs))
        assert_result(res, zones.index)
        cols = [0, 1, 2, 3]
        np.testing.assert_allclose(res[cols].to_numpy(), ref[cols].to_numpy(), atol=1e-6)


def test_raster_in_cc50_areas_in_m2(tmp_path):
    # Raster in CC50 (EPSG:3950, as the CALL's product), 2 m pixels, all valid; zone in
    # Lambert-93 well inside it: coverage 1 and the measured area is the zone's Lambert-93
    # area (qpvgeo's working CRS; CC50 areas are 0.3 % smaller at Lens).
    origin = (1_690_000.0, 9_240_000.0)
    arr = np.full((200, 200), 2, dtype=np.uint8)
    tif = write_tif(tmp_path / "cc50.tif", arr, north_up(*origin, 2, 2), crs="EPSG:3950")
    zone_cc50 = gpd.GeoSeries([shapely.Point(origin[0] + 200, origin[1] - 200).buffer(80)],
                              crs=3950)
    zone_l93 = zone_cc50.to_crs(2154)
    zones = gpd.GeoDataFrame(geometry=zone_l93, crs=2154)
    res = class_fractions(tif, zones)
    assert res.iloc[0]["coverage"] == pytest.approx(1.0, abs=1e-9)
    assert res.iloc[0]["measured_area_m2"] == pytest.approx(zone_l93.area.iloc[0], rel=1e-9)
    assert zone_l93.to_crs(3950).area.iloc[0] / zone_l93.area.iloc[0] == pytest.approx(
        0.9972, abs=1e-3)
    assert res.iloc[0][2] == 1.0


def test_index_order_kept_and_input_untouched(fixture_tif):
    zones = gpd.GeoDataFrame(
        {"code_qpv": ["QN06203C", "QN06201A", "QN06202B"]},
        geometry=[shapely.box(X0, Y0 - 4, X0 + 1, Y0 - 3), BUILDING,
                  shapely.box(X0 + 3, Y0 - 1, X0 + 4, Y0)],
        crs="EPSG:2154", index=[30, 10, 20])
    before = zones.copy()
    res = class_fractions(fixture_tif, zones)
    assert_result(res, zones.index)
    assert res.loc[30, 0] == 1.0  # bottom-left cell is class 0
    assert res.loc[20, 2] == 1.0  # top-right cell is class 2
    pd.testing.assert_frame_equal(zones, before)


def test_all_nodata_zone_gives_nan_not_zero(tmp_path):
    arr = np.full((4, 4), 255, dtype=np.uint8)
    arr[0, 0] = 1
    tif = write_tif(tmp_path / "nodata.tif", arr, north_up(X0, Y0, 1, 1), nodata=255)
    zones = gpd.GeoDataFrame(geometry=[shapely.box(X0 + 2, Y0 - 4, X0 + 4, Y0 - 2),
                                       shapely.box(X0, Y0 - 1, X0 + 1, Y0)], crs=2154)
    res = class_fractions(tif, zones)
    assert np.isnan(res.loc[0, 1])
    assert res.loc[0, "measured_px"] == 0.0
    assert res.loc[0, "coverage"] == 0.0
    assert res.loc[1, 1] == 1.0


def test_raster_off_the_zones_is_an_error(fixture_tif):
    far = one_zone(shapely.box(X0 + 1000, Y0, X0 + 1010, Y0 + 10))
    with pytest.raises(NoOverlapError, match=r"fixture\.tif"):
        class_fractions(fixture_tif, far)


def test_raster_without_crs(tmp_path):
    tif = write_tif(tmp_path / "no_crs.tif", FIXTURE, north_up(X0, Y0, 1, 1), crs=None)
    with pytest.raises(MissingCRSError, match=r"no_crs\.tif.*crs="):
        class_fractions(tif, one_zone(BUILDING))
    with open_raster(tif, crs="EPSG:2154") as src:
        res = class_fractions(src, one_zone(BUILDING))
    assert res.iloc[0][2] == pytest.approx(0.25)


def test_zones_without_crs_or_not_polygons(fixture_tif):
    with pytest.raises(MissingCRSError):
        class_fractions(fixture_tif, gpd.GeoDataFrame(geometry=[BUILDING]))
    pts = gpd.GeoDataFrame(geometry=[shapely.Point(X0 + 1, Y0 - 1)], crs=2154)
    with pytest.raises(SchemaError, match="not polygons"):
        class_fractions(fixture_tif, pts)


def test_open_raster_errors(tmp_path, fixture_tif):
    with pytest.raises(InputFileError, match="not found"):
        open_raster(tmp_path / "missing.tif")
    bad = tmp_path / "corrupt.tif"
    bad.write_bytes(b"II*\x00 not a tiff")
    with pytest.raises(InputFileError, match=r"corrupt\.tif"):
        open_raster(bad)
    with pytest.raises(RasterError, match="band 2"):
        open_raster(fixture_tif, band=2)
    plain = tmp_path / "plain.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(plain, "w", driver="GTiff", width=2, height=2, count=1,
                           dtype="uint8") as dst:
            dst.write(np.zeros((2, 2), dtype=np.uint8), 1)
    with pytest.raises(RasterError, match="no georeferencing"):
        open_raster(plain)


def test_open_raster_reads_tags_and_windows(tmp_path):
    tif = write_tif(tmp_path / "t.tif", FIXTURE, north_up(X0, Y0, 1, 1), nodata=255,
                    tags={"QPVGEO_SOURCE": "illustratif"})
    with open_raster(tif) as src:
        assert src.tags["QPVGEO_SOURCE"] == "illustratif"
        assert src.pixel_area_m2 == 1.0
        np.testing.assert_array_equal(src.read((1, 3, 2, 4)), FIXTURE[1:3, 2:4])
    assert list(row_windows(10, 100, 1, budget_bytes=300)) == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert list(row_windows(10, 100, 1, budget_bytes=1)) == [(i, i + 1) for i in range(10)]


def test_rotated_raster_file(tmp_path):
    # The fixture rotated by 30° about its top-left corner, with the building rotated alike:
    # the same fractions as the unrotated hand-worked case.
    rot = Affine.rotation(30, pivot=(X0, Y0)) @ north_up(X0, Y0, 1, 1)
    tif = write_tif(tmp_path / "rot.tif", FIXTURE, rot)
    b = shapely.Polygon([rot @ (0.5, 0.5), rot @ (2.5, 0.5), rot @ (2.5, 2.5), rot @ (0.5, 2.5)])
    res = class_fractions(tif, one_zone(b))
    assert res.iloc[0][3] == pytest.approx(1.25 / 4)
    assert res.iloc[0][1] == pytest.approx(1.5 / 4)
    assert res.iloc[0]["measured_area_m2"] == pytest.approx(4.0)


def test_float_raster_with_nan_nodata():
    # [[1, NaN], [3, 5]]: the zone covers the 4 pixels; NaN is not measured.
    arr = np.array([[1.0, np.nan], [3.0, 5.0]], dtype=np.float32)
    src = InMemoryRaster(arr, north_up(X0, Y0, 10, 10), "EPSG:2154", nodata=np.nan)
    zones = one_zone(shapely.box(X0, Y0 - 20, X0 + 20, Y0))
    res = raster_summary(src, zones, stats=("mean", "min", "max", "count", "median"),
                         threshold=2.0)
    row = res.iloc[0]
    assert row["mean"] == pytest.approx((1 + 3 + 5) / 3)
    assert row["median"] == pytest.approx(3.0)
    assert row["min"] == 1.0
    assert row["max"] == 5.0
    assert row["count"] == pytest.approx(3.0)
    assert row["above_share"] == pytest.approx(2 / 3)  # 3 and 5 are above 2
    assert row["coverage"] == pytest.approx(0.75)
    assert row["measured_area_m2"] == pytest.approx(300.0)


def test_raster_summary_weighted_by_hand():
    # 1x2 raster [10, 20], 1 m pixels; zone covers the first pixel fully and 1/4 of the second.
    # mean = (1*10 + 0.25*20) / 1.25 = 12; std = sqrt((1*4 + 0.25*64) / 1.25) = 4.
    # Weighted median (exactextract's definition): S_0 = 0, S_1 = 1*0.25 + 1*1 = 1.25,
    # T = 0.5 * 1 * 1.25 = 0.625 -> 10 + (0.625 - 0)/(1.25 - 0) * (20 - 10) = 15.
    src = InMemoryRaster(np.array([[10.0, 20.0]]), north_up(X0, Y0, 1, 1), "EPSG:2154")
    zones = one_zone(shapely.box(X0, Y0 - 1, X0 + 1.25, Y0))
    res = raster_summary(src, zones, stats=("mean", "std", "median", "p100", "count"),
                         prefix="lst")
    assert res.iloc[0]["lst_mean"] == pytest.approx(12.0)
    assert res.iloc[0]["lst_std"] == pytest.approx(4.0)
    assert res.iloc[0]["lst_median"] == pytest.approx(15.0)
    assert res.iloc[0]["lst_p100"] == pytest.approx(20.0)
    assert res.iloc[0]["lst_count"] == pytest.approx(1.25)


# ----------------------------------------------------------------------------------------------
# exactextract as peer
# ----------------------------------------------------------------------------------------------
def lattice_polygons(rng, n, extent, step):
    """Random rectilinear (multi)polygons, holes included, with vertices on a 1/64-pixel lattice.

    Their cell coverage fractions are multiples of 1/4096, exactly representable in the float32
    that exactextract stores coverage fractions in, so both engines can agree to 1e-9.
    """
    x0, y0, x1, y1 = extent
    q = step / 64.0
    out = []
    while len(out) < n:
        boxes = []
        for _ in range(rng.integers(1, 5)):
            a = np.round(rng.uniform([x0 - 3 * step, y0 - 3 * step], [x1, y1]) / q) * q
            size = np.round(rng.uniform(0.1 * step, 6 * step, 2) / q) * q
            boxes.append(shapely.box(a[0], a[1], a[0] + size[0], a[1] + size[1]))
        g = shapely.union_all(boxes)
        if rng.random() < 0.3 and g.area > 4 * step * step:
            c = g.representative_point()
            hole = shapely.box(*(np.round(np.array([c.x - step, c.y - step, c.x + step / 2,
                                                    c.y + step / 2]) / q) * q))
            g = g.difference(hole)
        if not g.is_empty:
            out.append(g)
    return out


@pytest.fixture(scope="module")
def random_case(tmp_path_factory):
    rng = np.random.default_rng(2024)
    h, w, step = 60, 80, 0.5
    x0, y0 = 685_000.0, 7_030_000.0
    classes = rng.integers(0, 5, size=(h, w)).astype(np.uint8)
    classes[rng.random((h, w)) < 0.05] = 255
    temps = rng.normal(8.0, 2.5, size=(h, w)).astype(np.float64)
    temps[rng.random((h, w)) < 0.05] = -9999.0
    d = tmp_path_factory.mktemp("ee")
    t = north_up(x0, y0, step, step)
    ctif = write_tif(d / "classes.tif", classes, t, nodata=255)
    ttif = write_tif(d / "temps.tif", temps, t, nodata=-9999.0)
    polys = lattice_polygons(rng, 120, (x0, y0 - h * step, x0 + w * step, y0), step)
    zones = gpd.GeoDataFrame({"zone": range(len(polys))}, geometry=polys, crs=2154,
                             index=pd.RangeIndex(1000, 1000 + len(polys)))
    return ctif, ttif, zones


@pytest.mark.parametrize("path", ["small", "large"])
def test_class_fractions_match_exactextract(random_case, monkeypatch, path):
    # "large" sends every polygon through the per-window path (2-D buffers and one weighted
    # bincount per window) that zones use, "small" through the shared flat buffers.
    from exactextract import exact_extract

    import qpvgeo.coverage

    if path == "large":
        monkeypatch.setattr(qpvgeo.coverage, "_BIG_CELLS", 1)
    ctif, _, zones = random_case
    ours = class_fractions(ctif, zones, coverage="exact")
    assert_result(ours, zones.index)
    ee = exact_extract(str(ctif), zones, ["unique", "frac", "count"], output="pandas")
    compared = 0
    for i, idx in enumerate(zones.index):
        assert ours.loc[idx, "measured_px"] == pytest.approx(ee["count"][i], abs=1e-9)
        expected = dict(zip(ee["unique"][i], ee["frac"][i], strict=True))
        for cls in [c for c in ours.columns if isinstance(c, int)]:
            value = ours.loc[idx, cls]
            if ee["count"][i] == 0:
                assert np.isnan(value)
                continue
            assert value == pytest.approx(expected.get(cls, 0.0), abs=1e-9)
            compared += 1
    assert compared > 300


@pytest.mark.parametrize("path", ["small", "large"])
def test_raster_summary_matches_exactextract(random_case, monkeypatch, path):
    from exactextract import exact_extract

    import qpvgeo.coverage

    if path == "large":
        monkeypatch.setattr(qpvgeo.coverage, "_BIG_CELLS", 1)
    _, ttif, zones = random_case
    ours = raster_summary(ttif, zones, stats=("mean", "median", "p90", "p25", "min", "max",
                                              "std", "count"))
    ops = ["mean", "median", "quantile(q=0.9)", "quantile(q=0.25)", "min", "max", "stdev",
           "count"]
    ee = exact_extract(str(ttif), zones, ops, output="pandas")
    names = {"mean": "mean", "median": "median", "p90": "quantile_90", "p25": "quantile_25",
             "min": "min", "max": "max", "std": "stdev", "count": "count"}
    for ours_col, ee_col in names.items():
        np.testing.assert_allclose(ours[ours_col].to_numpy(), ee[ee_col].to_numpy(dtype=float),
                                   rtol=1e-9, atol=1e-9, err_msg=ours_col)


def test_general_polygons_close_to_exactextract(random_case):
    # Arbitrary slopes: exactextract stores coverage as float32 (~1e-7 relative), qpvgeo in
    # float64 (checked against GEOS cell by cell in test_coverage.py), hence 1e-6 here.
    from exactextract import exact_extract

    ctif, _, _ = random_case
    rng = np.random.default_rng(8)
    polys = []
    for _ in range(60):
        c = rng.uniform([685_000, 7_029_970], [685_040, 7_030_000])
        k = rng.integers(3, 9)
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = rng.uniform(0.2, 6, k)
        polys.append(shapely.make_valid(shapely.Polygon(np.c_[c[0] + rad * np.cos(ang),
                                                              c[1] + rad * np.sin(ang)])))
    zones = gpd.GeoDataFrame(geometry=polys, crs=2154)
    ours = class_fractions(ctif, zones)
    ee = exact_extract(str(ctif), zones, ["unique", "frac"], output="pandas")
    for i in range(len(zones)):
        for u, f in zip(ee["unique"][i], ee["frac"][i], strict=True):
            assert ours.loc[i, int(u)] == pytest.approx(f, abs=1e-6)


# ----------------------------------------------------------------------------------------------
# building_heat_loss, worked by hand
#
# 10 x 20 raster, 1 m pixels, origin (700000, 7000010); background class 1 (walls, ground).
#   A: footprint rows 2-8 x cols 2-8 (36 px); interior after a 1 m buffer rows 3-7 x cols 3-7
#      (16 px): class 4 on rows 3-4 x cols 3-4 (4 px), class 2 on row 6 cols 3-5 (3 px), class 3
#      elsewhere (16 - 4 - 3 = 9 px) -> majority 3 "fortes", share 9/16. On the whole footprint
#      the 20 ring pixels of class 1 would win (20/36).
#   B: 2 x 2 m on class 4 (rows 2-4 x cols 11-13): the 1 m buffer leaves nothing, so the whole
#      footprint is used: 4 valid px of class 4 -> "excessives".
#   C: 1.5 x 1.5 m (2.25 px) -> fewer than 4 valid pixels -> "non classé".
#   E: 3 x 3 m on class 0 (not measured) -> "non mesuré".
#   D: outside the raster -> "non mesuré".
# ----------------------------------------------------------------------------------------------
def building_case(tags=None):
    arr = np.ones((10, 20), dtype=np.uint8)
    arr[3:7, 3:7] = 3
    arr[3:5, 3:5] = 4
    arr[6, 3:6] = 2
    arr[2:4, 11:13] = 4
    arr[7:10, 14:20] = 0
    src = InMemoryRaster(arr, north_up(700_000, 7_000_010, 1, 1), "EPSG:2154", nodata=255,
                         tags=tags)

    def box(c0, r0, c1, r1):
        return shapely.box(700_000 + c0, 7_000_010 - r1, 700_000 + c1, 7_000_010 - r0)

    b = gpd.GeoDataFrame(
        {"building_id": ["A", "B", "C", "E", "D"]},
        geometry=[box(2, 2, 8, 8), box(11, 2, 13, 4), box(15, 2, 16.5, 3.5), box(15, 7, 18, 10),
                  box(30, 2, 34, 6)],
        crs="EPSG:2154", index=[5, 4, 3, 2, 1])
    return src, b


def test_building_heat_loss_by_hand():
    src, b = building_case()
    res = building_heat_loss(src, b)
    assert_result(res, b.index)
    assert list(res["building_id"]) == ["A", "B", "C", "E", "D"]
    r = res.set_index("building_id")
    assert r.loc["A", "heatloss_class"] == 3
    assert r.loc["A", "heatloss_label"] == "fortes"
    assert r.loc["A", "heatloss_class_share"] == pytest.approx(9 / 16)
    assert r.loc["A", "heatloss_frac_4"] == pytest.approx(4 / 16)
    assert r.loc["A", "heatloss_frac_2"] == pytest.approx(3 / 16)
    assert r.loc["A", "heatloss_frac_1"] == 0.0
    assert r.loc["A", "heatloss_valid_px"] == pytest.approx(16)
    assert r.loc["A", "heatloss_valid_area_m2"] == pytest.approx(16.0)
    assert bool(r.loc["A", "heatloss_interior"]) is True
    assert pd.isna(r.loc["A", "heatloss_reason"])
    assert r.loc["B", "heatloss_label"] == "excessives"
    assert bool(r.loc["B", "heatloss_interior"]) is False
    assert r.loc["B", "heatloss_valid_px"] == pytest.approx(4)
    assert r.loc["C", "heatloss_label"] == UNCLASSIFIED_LABEL
    assert pd.isna(r.loc["C", "heatloss_class"])
    assert r.loc["C", "heatloss_valid_px"] == pytest.approx(2.25)
    assert "2.2 < 4" in r.loc["C", "heatloss_reason"] or "2.3 < 4" in r.loc["C",
                                                                          "heatloss_reason"]
    assert r.loc["E", "heatloss_label"] == NOT_MEASURED_LABEL
    assert r.loc["D", "heatloss_label"] == NOT_MEASURED_LABEL
    assert r.loc["D", "heatloss_valid_px"] == 0
    assert str(res["heatloss_class"].dtype) == "Int64"
    assert res.crs.to_epsg() == 2154


def test_building_without_interior_buffer_takes_the_footprint_majority():
    src, b = building_case()
    res = building_heat_loss(src, b, interior_buffer_m=0)
    a = res.set_index("building_id").loc["A"]
    assert a["heatloss_label"] == "faibles"  # the 20 ring pixels of class 1
    assert a["heatloss_class_share"] == pytest.approx(20 / 36)


def test_building_tie_goes_to_the_higher_class():
    # 2 pixels of class 2 and 2 of class 3 under a 2 x 2 m roof.
    arr = np.array([[2, 3], [3, 2]], dtype=np.uint8)
    src = InMemoryRaster(arr, north_up(X0, Y0, 1, 1), "EPSG:2154")
    b = gpd.GeoDataFrame(geometry=[shapely.box(X0, Y0 - 2, X0 + 2, Y0)], crs=2154)
    res = building_heat_loss(src, b, interior_buffer_m=0)
    assert res.iloc[0]["heatloss_class"] == 3
    assert res.iloc[0]["heatloss_class_share"] == 0.5


def test_unknown_raster_values_warn_and_are_not_measured():
    from qpvgeo.errors import DataQualityWarning

    arr = np.array([[9, 9], [1, 1]], dtype=np.uint8)
    src = InMemoryRaster(arr, north_up(X0, Y0, 1, 1), "EPSG:2154")
    b = gpd.GeoDataFrame(geometry=[shapely.box(X0, Y0 - 2, X0 + 2, Y0)], crs=2154)
    with pytest.warns(DataQualityWarning, match="not classes of the scheme"):
        res = building_heat_loss(src, b, interior_buffer_m=0, min_valid_pixels=1)
    assert res.iloc[0]["heatloss_valid_px"] == pytest.approx(2)
    assert res.iloc[0]["heatloss_label"] == "faibles"


def temperature_case():
    # 4 roofs of 3 x 3 m on 10, 12, 14 and 16 °C; one NaN pixel under the 16 °C roof.
    arr = np.full((3, 12), np.nan, dtype=np.float32)
    for k, t in enumerate((10.0, 12.0, 14.0, 16.0)):
        arr[:, 3 * k:3 * k + 3] = t
    arr[0, 9] = np.nan
    src = InMemoryRaster(arr, north_up(X0, Y0, 1, 1), "EPSG:2154", nodata=np.nan)
    b = gpd.GeoDataFrame({"t": [10, 12, 14, 16]},
                         geometry=[shapely.box(X0 + 3 * k, Y0 - 3, X0 + 3 * k + 3, Y0)
                                   for k in range(4)], crs=2154)
    return src, b


def test_temperature_scheme_absolute_breaks():
    src, b = temperature_case()
    scheme = HeatLossScheme.temperature((11.0, 13.0, 15.0))
    res = building_heat_loss(src, b, scheme=scheme, interior_buffer_m=0)
    assert list(res["heatloss_class"]) == [1, 2, 3, 4]
    assert list(res["heatloss_stat"]) == [10.0, 12.0, 14.0, 16.0]
    assert res.iloc[3]["heatloss_valid_px"] == pytest.approx(8)  # one NaN pixel
    assert res.iloc[0]["heatloss_frac_1"] == 1.0


def test_temperature_scheme_relative_breaks():
    # Quartiles of the roofs' means (10, 12, 14, 16): 11.5, 13, 14.5 (linear interpolation)
    # -> classes 1, 2, 3, 4; the breaks are reported in attrs.
    src, b = temperature_case()
    scheme = HeatLossScheme.temperature()  # quartiles of the scene by default
    assert scheme.relative
    assert scheme.breaks == (25.0, 50.0, 75.0)
    res = building_heat_loss(src, b, scheme=scheme, interior_buffer_m=0)
    assert res.attrs["qpvgeo"]["breaks_from_scene"] == pytest.approx([11.5, 13.0, 14.5])
    assert list(res["heatloss_class"]) == [1, 2, 3, 4]


def test_scheme_as_data_and_validation():
    t = DEFAULT_SCHEME.table()
    assert list(t["label"]) == ["faibles", "moyennes", "fortes", "excessives", UNCLASSIFIED_LABEL,
                                NOT_MEASURED_LABEL]
    assert t.loc[t["label"] == "fortes", "colour"].item() == "#fdd835"
    assert list(t.loc[t["strong"], "value"]) == [3, 4]
    assert DEFAULT_SCHEME.label(4) == "excessives"
    with pytest.raises(ValueError, match="breaks"):
        HeatLossScheme.temperature((1.0, 2.0))
    with pytest.raises(ValueError, match="hex"):
        HeatLossScheme.temperature(labels=("a", "b", "c", "d"), colours=("red",) * 4)


# ----------------------------------------------------------------------------------------------
# heat_loss_shares, worked by hand (Lambert-93 metres, zones 100 m wide)
#   Z1 x 0-100: b1 class 1 (100 m²), b2 class 3 (200 m²), b3 class 4 (50 m²)
#   Z2 x 100-200: b4 class 3 (300 m², straddles: 100 m² in Z1, 200 m² in Z2 -> Z2),
#                 b5 class 2 (100 m²), b6 non classé
#   b7 outside every zone; b8 5 m into Z3 and 10 m outside -> no zone
#   Z3 x 300-400: b9 non mesuré; Z4 x 500-600: no building
# ----------------------------------------------------------------------------------------------
def shares_case():
    def z(x0):
        return shapely.box(X0 + x0, Y0, X0 + x0 + 100, Y0 + 100)

    def bb(x0, x1, y0=10, y1=20):
        return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)

    zones = gpd.GeoDataFrame({"code_qpv": ["QN06201A", "QN06202B", "QN06203C", "QN06204D"]},
                             geometry=[z(0), z(100), z(300), z(500)], crs=2154)
    zones = zones.set_index("code_qpv", drop=False)
    rows = [  # (geometry, class, label)
        (bb(10, 20), 1, "faibles"),
        (bb(30, 50), 3, "fortes"),
        (bb(60, 70, 10, 15), 4, "excessives"),
        (bb(90, 120), 3, "fortes"),
        (bb(150, 160), 2, "moyennes"),
        (bb(170, 175), None, UNCLASSIFIED_LABEL),
        (bb(250, 260), 4, "excessives"),
        (bb(395, 410), 4, "excessives"),
        (bb(320, 330), None, NOT_MEASURED_LABEL),
    ]
    b = gpd.GeoDataFrame({"heatloss_class": pd.array([r[1] for r in rows], dtype="Int64"),
                          "heatloss_label": [r[2] for r in rows]},
                         geometry=[r[0] for r in rows], crs=2154,
                         index=[f"b{i + 1}" for i in range(len(rows))])
    return b, zones


def test_heat_loss_shares_by_hand():
    b, zones = shares_case()
    res = heat_loss_shares(b, zones)
    assert_result(res, zones.index)
    z1, z2, z3, z4 = (res.loc[c] for c in zones.index)
    assert (z1["buildings_count"], z1["buildings_classified"], z1["heatloss_strong_count"]) == \
        (3, 3, 2)
    assert z1["heatloss_strong_share"] == pytest.approx(2 / 3)
    assert z1["heatloss_classified_area_m2"] == pytest.approx(100 + 200 + 50)
    assert z1["heatloss_strong_area_share"] == pytest.approx((200 + 50) / (100 + 200 + 50))
    assert (z2["buildings_count"], z2["buildings_classified"], z2["buildings_unclassified"]) == \
        (3, 2, 1)
    assert z2["heatloss_strong_share"] == pytest.approx(1 / 2)
    assert z2["heatloss_strong_area_share"] == pytest.approx(300 / (300 + 100))
    assert [z2[f"heatloss_count_{v}"] for v in (1, 2, 3, 4)] == [0, 1, 1, 0]
    assert z3["buildings_count"] == 1
    assert z3["buildings_not_measured"] == 1
    assert np.isnan(z3["heatloss_strong_share"])
    assert "aucun bâtiment classé" in z3["heatloss_missing_reason"]
    assert z4["buildings_count"] == 0
    assert np.isnan(z4["heatloss_strong_area_share"])
    assert z4["heatloss_missing_reason"] == "aucun bâtiment dans la zone"
    assert pd.isna(z1["heatloss_missing_reason"])
    assert res.attrs["qpvgeo"]["buildings_outside_zones"] == 2


def test_heat_loss_shares_strong_by_value_and_crs():
    b, zones = shares_case()
    by_value = heat_loss_shares(b.to_crs(4326), zones, strong=(4,))
    assert by_value.loc["QN06201A", "heatloss_strong_count"] == 1
    assert by_value.loc["QN06202B", "heatloss_strong_count"] == 0
    with pytest.raises(SchemaError, match="tièdes"):
        heat_loss_shares(b, zones, strong=("tièdes",))
    with pytest.raises(SchemaError, match="building_heat_loss"):
        heat_loss_shares(b.drop(columns="heatloss_label"), zones)


def test_illustrative_inputs_are_labelled():
    src, b = building_case(tags={"QPVGEO_SOURCE": "illustratif"})
    res = building_heat_loss(src, b)
    assert (res["source"] == "illustratif").all()
    zones = gpd.GeoDataFrame(geometry=[shapely.box(700_000, 7_000_000, 700_020, 7_000_010)],
                             crs=2154)
    shares = heat_loss_shares(res, zones)
    assert shares.loc[0, "source"] == "illustratif"
    fr = class_fractions(src, zones)
    assert fr.loc[0, "source"] == "illustratif"
    plain_src, plain_b = building_case()
    assert "source" not in building_heat_loss(plain_src, plain_b).columns


def test_end_to_end_building_to_zone_shares():
    # Buildings of the hand case: A (fortes) and B (excessives) classified, C non classé,
    # E and D non mesuré (D lies outside the zone).
    src, b = building_case()
    res = building_heat_loss(src, b)
    zones = gpd.GeoDataFrame(geometry=[shapely.box(700_000, 7_000_000, 700_020, 7_000_010)],
                             crs=2154)
    shares = heat_loss_shares(res, zones).iloc[0]
    assert shares["buildings_count"] == 4
    assert shares["buildings_classified"] == 2
    assert shares["heatloss_strong_share"] == 1.0
    assert shares["heatloss_classified_area_m2"] == pytest.approx(36 + 4)


@pytest.mark.qgis
def test_gdal_backend_gives_the_same_result(fixture_tif):
    pytest.importorskip("osgeo.gdal", reason="osgeo.gdal (QGIS's GDAL bindings) not installed")
    with open_raster(fixture_tif, backend="gdal") as src:
        assert src.crs.to_epsg() == 2154
        assert src.nodata == 255
        res = class_fractions(src, one_zone(BUILDING))
    assert res.iloc[0][3] == pytest.approx(1.25 / 4)


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def cli_files(tmp_path):
    src, b = building_case(tags={"QPVGEO_SOURCE": "illustratif"})
    tif = write_tif(tmp_path / "thermo.tif", src.read((0, src.height, 0, src.width)),
                    Affine(*src.transform), nodata=255, tags=src.tags)
    b.to_file(tmp_path / "bati.gpkg", driver="GPKG")
    zones = gpd.GeoDataFrame(
        {"code_qpv": ["QN06201A", "QN06202B"], "nom_qpv": ["Ouest", "Est"]},
        geometry=[shapely.box(700_000, 7_000_000, 700_010, 7_000_010),
                  shapely.box(700_010, 7_000_000, 700_020, 7_000_010)], crs=2154)
    zones.to_crs(4326).to_file(tmp_path / "qpv.geojson", driver="GeoJSON")
    return tmp_path, tif


def test_cli_writes_buildings_and_zones(cli_files, capsys):
    import pyogrio

    from qpvgeo.cli import main

    d, tif = cli_files
    out = d / "out.gpkg"
    rc = main(["thermography", "--raster", str(tif), "--buildings", str(d / "bati.gpkg"),
               "--zones", str(d / "qpv.geojson"), "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "5 bâtiments, 2 classés" in text
    assert "ILLUSTRATIVES" in text
    assert sorted(pyogrio.list_layers(out)[:, 0]) == ["buildings", "zones"]
    bld = gpd.read_file(out, layer="buildings").set_index("building_id")
    assert bld.loc["A", "heatloss_label"] == "fortes"
    assert (bld["source"] == "illustratif").all()
    zones = gpd.read_file(out, layer="zones").set_index("code_qpv")
    # A (fortes) lies in the west zone; B (excessives), C (non classé), E (non mesuré) east.
    assert zones.loc["QN06201A", "heatloss_strong_share"] == 1.0
    assert zones.loc["QN06202B", "buildings_count"] == 3
    assert zones.loc["QN06202B", "buildings_classified"] == 1
    assert zones.loc["QN06202B", "nom_qpv"] == "Est"
    assert [p.name for p in d.iterdir() if p.name.startswith(".out")] == []


def test_cli_cancel_and_bad_input_write_nothing(cli_files, capsys, monkeypatch):
    from qpvgeo import thermography
    from qpvgeo.cli import main
    from qpvgeo.errors import Cancelled

    d, tif = cli_files
    out = d / "out.gpkg"
    args = ["thermography", "--raster", str(tif), "--buildings", str(d / "bati.gpkg"),
            "--zones", str(d / "qpv.geojson"), "--out", str(out)]

    def cancelled(*a, progress=None, **k):
        progress(0.5, "…")
        raise Cancelled("annulé")

    monkeypatch.setattr(thermography, "building_heat_loss", cancelled)
    assert main(args) == 1
    assert "rien n'a été écrit" in capsys.readouterr().err
    monkeypatch.undo()
    far = d / "loin.geojson"
    gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 10, 10)], crs=2154).to_file(far)
    assert main([*args[:4], str(far), *args[5:]]) == 2
    assert "does not overlap" in capsys.readouterr().err
    assert sorted(p.name for p in d.iterdir()) == ["bati.gpkg", "loin.geojson", "qpv.geojson",
                                                   "thermo.tif"]


# ----------------------------------------------------------------------------------------------
# Demo territory (generated by data/make_demo.py; `make data`)
# ----------------------------------------------------------------------------------------------
DEMO = __import__("pathlib").Path(__file__).resolve().parents[1] / "data"


def test_demo_territory_gives_shares_for_every_qpv():
    from qpvgeo import io

    raster = DEMO / "thermography" / "illustratif_deperdition_thermique_cc50_2m.tif"
    if not raster.exists():
        pytest.skip("demo territory not generated (run `make data`)")
    buildings = io.read_buildings(DEMO / "shapes" / "illustratif_batiment.shp")
    qpv = io.read_qpv(DEMO / "shapes" / "illustratif_qpv2024_wgs84.geojson")
    res = building_heat_loss(raster, buildings)
    assert (res["source"] == "illustratif").all()
    assert res["heatloss_class"].notna().mean() > 0.9
    shares = heat_loss_shares(res, qpv)
    assert_result(shares, qpv.index)
    assert shares["heatloss_strong_share"].notna().all()
    assert shares["heatloss_strong_share"].between(0, 1).all()
    assert (shares["buildings_classified"] > 0).all()
    assert (shares["source"] == "illustratif").all()
    # the fast approximation stays close to the exact rule on 2 m pixels
    centre = heat_loss_shares(building_heat_loss(raster, buildings, coverage="centre"), qpv)
    gap = (centre["heatloss_strong_share"] - shares["heatloss_strong_share"]).abs()
    assert gap.max() < 0.1


def test_sparse_block_reads_on_tiled_files(tmp_path, monkeypatch):
    # A tiled 64 x 64 GeoTIFF (16 x 16 tiles) with two small buildings in opposite corners:
    # only their tiles are read, and the result equals the in-memory one.
    import qpvgeo.raster

    rng = np.random.default_rng(4)
    arr = rng.integers(1, 5, size=(64, 64)).astype(np.uint8)
    t = north_up(X0, Y0, 1, 1)
    tif = tmp_path / "tiled.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=64, height=64, count=1, dtype="uint8",
                       crs="EPSG:2154", transform=t, tiled=True, blockxsize=16,
                       blockysize=16) as dst:
        dst.write(arr, 1)
    b = gpd.GeoDataFrame(geometry=[shapely.box(X0 + 1.5, Y0 - 9.3, X0 + 7.2, Y0 - 2.5),
                                   shapely.box(X0 + 50.2, Y0 - 60.1, X0 + 55.5, Y0 - 52.7)],
                         crs=2154)
    reads = []
    real = qpvgeo.raster._RasterioSource.read
    monkeypatch.setattr(qpvgeo.raster._RasterioSource, "read",
                        lambda self, w: reads.append(w) or real(self, w))
    res = class_fractions(tif, b)
    ref = class_fractions(InMemoryRaster(arr, t, "EPSG:2154"), b)
    pd.testing.assert_frame_equal(res, ref)
    # each read is one tile, clipped to the polygons' window (rows 2-61, cols 1-56)
    assert sorted(reads) == [(2, 16, 1, 16), (48, 61, 48, 56)]
