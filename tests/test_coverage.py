"""Tests of the exact-coverage engine (qpvgeo.coverage): hand-worked grids, GEOS and GDAL peers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import shapely
from affine import Affine
from rasterio.features import rasterize

from qpvgeo.coverage import iter_coverage, prepare_polygons
from qpvgeo.errors import Cancelled, NoOverlapError
from qpvgeo.raster import InMemoryRaster


def from_origin(x0, y0, xres, yres):
    """North-up transform (affine 3 deprecates ``*`` inside rasterio's own helper)."""
    return Affine(xres, 0.0, x0, 0.0, -yres, y0)


def cells(src, geoms, mode="exact", **kw):
    """{(poly, row, col) -> weight} from the engine, via the raster values (value = cell id)."""
    pp = prepare_polygons(np.asarray(geoms, dtype=object), src.transform)
    out: dict[tuple[int, int, int], float] = {}
    for b in iter_coverage(src, pp, mode=mode, **kw):
        for p, v, w in zip(b.poly.tolist(), b.values.tolist(), b.weight.tolist(), strict=True):
            key = (p, v // src.width, v % src.width)
            out[key] = out.get(key, 0.0) + w
    return out


def id_raster(h, w, transform, crs="EPSG:2154"):
    """Raster whose value is the cell id row*w + col (lets tests find each cell)."""
    return InMemoryRaster(np.arange(h * w, dtype=np.int64).reshape(h, w), transform, crs)


def geos_cells(geom, transform, h, w):
    """Reference coverage by GEOS: intersection area of the polygon with each cell polygon."""
    t = Affine(*tuple(transform)[:6])
    det = abs(t.a * t.e - t.b * t.d)
    out = {}
    for r in range(h):
        for c in range(w):
            corners = [t @ (c, r), t @ (c + 1, r), t @ (c + 1, r + 1), t @ (c, r + 1)]
            a = geom.intersection(shapely.Polygon(corners)).area / det
            if a > 1e-12:
                out[(r, c)] = a
    return out


def test_exactextract_3x3_square():
    # 3x3 raster, 1 m pixels, origin (0, 3); square 0.5..2.5: corners 1/4, edges 1/2, centre 1.
    #   +----+----+----+
    #   |1/4 |1/2 |1/4 |
    #   +----+----+----+
    #   |1/2 | 1  |1/2 |
    #   +----+----+----+
    #   |1/4 |1/2 |1/4 |
    #   +----+----+----+
    src = id_raster(3, 3, from_origin(0, 3, 1, 1))
    got = cells(src, [shapely.box(0.5, 0.5, 2.5, 2.5)])
    expected = {(0, r, c): (0.5 if r != 1 else 1.0) * (0.5 if c != 1 else 1.0)
                for r in range(3) for c in range(3)}
    assert got == pytest.approx(expected, abs=1e-15)
    assert sum(got.values()) == pytest.approx(0.25 * 4 + 0.5 * 4 + 1.0)


def test_centre_rule_3x3_square_half_open():
    # Same square: its edges pass exactly through pixel centres. Half-open rule: a centre on
    # the left edge (x = 0.5) is out, on the right edge (x = 2.5) in; on the top edge (y = 2.5,
    # row 0) in, on the bottom edge (y = 0.5, row 2) out -> rows 0-1 x cols 1-2.
    src = id_raster(3, 3, from_origin(0, 3, 1, 1))
    got = cells(src, [shapely.box(0.5, 0.5, 2.5, 2.5)], mode="centre")
    assert got == {(0, 0, 1): 1.0, (0, 0, 2): 1.0, (0, 1, 1): 1.0, (0, 1, 2): 1.0}


def test_centre_rule_tiling_counts_each_centre_once():
    # Four squares tiling the 4x4 raster along lines through pixel centres: every centre goes to
    # exactly one square (GDAL's rasterize would give the centres on y = 2.5 to both sides).
    src = id_raster(4, 4, from_origin(0, 4, 1, 1))
    squares = [shapely.box(x0, y0, x0 + 2, y0 + 2) for x0 in (0.5, 2.5) for y0 in (0.5, 2.5)]
    squares = [s.intersection(shapely.box(-1, -1, 5, 5)) for s in squares]
    big = shapely.box(-1.5, -1.5, 6.5, 6.5)
    tiles = [big.intersection(shapely.box(*b)) for b in
             [(-1.5, -1.5, 2.5, 2.5), (2.5, -1.5, 6.5, 2.5), (-1.5, 2.5, 2.5, 6.5),
              (2.5, 2.5, 6.5, 6.5)]]
    got = cells(src, tiles, mode="centre")
    owners: dict[tuple[int, int], list[int]] = {}
    for (p, r, c) in got:
        owners.setdefault((r, c), []).append(p)
    assert len(owners) == 16
    assert all(len(v) == 1 for v in owners.values())


def test_diamond_5x5_by_hand():
    # 5x5 raster, 1 m pixels; diamond |x-2.5| + |y-2.5| <= 2 (pixel units, centred on cell (2,2))
    # Per cell: centre and its 4 neighbours fully inside (1); the 4 diagonal neighbours cut by
    # the diagonal (1/2); the 4 cells at distance 2 on the axes hold a triangle of
    # 2 * integral_0^0.5 (0.5 - t) dt = 1/4. Total 5*1 + 4*1/2 + 4*1/4 = 8 = 4*4/2.
    src = id_raster(5, 5, from_origin(0, 5, 1, 1))
    diamond = shapely.Polygon([(2.5, 0.5), (4.5, 2.5), (2.5, 4.5), (0.5, 2.5)])
    got = cells(src, [diamond])
    expected = {}
    for r in range(5):
        for c in range(5):
            d = abs(r - 2) + abs(c - 2)
            if d <= 1:
                expected[(0, r, c)] = 1.0
            elif d == 2 and r != 2 and c != 2:
                expected[(0, r, c)] = 0.5
            elif d == 2:
                expected[(0, r, c)] = 0.25
    assert got == pytest.approx(expected, abs=1e-14)
    assert sum(got.values()) == pytest.approx(8.0)


def test_hole_and_multipolygon():
    # 6x6 raster; a 4x4 square with a 2x2 hole (12 px) and a multipolygon of two unit squares
    # placed half a pixel off the grid (each covers 4 cells by 1/4).
    src = id_raster(6, 6, from_origin(0, 6, 1, 1))
    ring = shapely.Polygon(shapely.box(1, 1, 5, 5).exterior.coords,
                           [shapely.box(2, 2, 4, 4).exterior.coords])
    multi = shapely.MultiPolygon([shapely.box(0.5, 0.5, 1.5, 1.5), shapely.box(4.5, 4.5, 5.5, 5.5)])
    got = cells(src, [ring, multi])
    ring_cells = {k: v for k, v in got.items() if k[0] == 0}
    assert sum(ring_cells.values()) == pytest.approx(16 - 4)
    assert all(v == pytest.approx(1.0) for v in ring_cells.values())
    assert (0, 2, 2) not in ring_cells
    assert (0, 3, 3) not in ring_cells
    multi_cells = {k: v for k, v in got.items() if k[0] == 1}
    assert len(multi_cells) == 8
    assert all(v == pytest.approx(0.25) for v in multi_cells.values())


@pytest.mark.parametrize("orient", ["ccw", "cw"])
def test_ring_orientation_does_not_matter(orient):
    src = id_raster(6, 6, from_origin(0, 6, 1, 1))
    shell = [(1.2, 1.1), (5.3, 1.4), (4.7, 5.2), (0.9, 4.6)]
    hole = [(2.1, 2.2), (3.4, 2.0), (3.1, 3.5)]
    if orient == "cw":
        shell, hole = shell[::-1], hole
    else:
        hole = hole[::-1]
    poly = shapely.Polygon(shell, [hole])
    got = {(r, c): w for (_, r, c), w in cells(src, [poly]).items()}
    assert got == pytest.approx(geos_cells(poly, src.transform, 6, 6), abs=1e-12)


def test_random_polygons_match_geos_cell_by_cell():
    # Independent peer: GEOS intersection area of each polygon with each cell.
    rng = np.random.default_rng(3)
    h, w = 12, 15
    tr = from_origin(100.0, 200.0, 2.0, 2.0)
    src = id_raster(h, w, tr)
    geoms = []
    for _ in range(25):
        cx, cy = rng.uniform(95, 135), rng.uniform(170, 205)
        k = rng.integers(3, 9)
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = rng.uniform(0.2, 9, k)
        g = shapely.make_valid(shapely.Polygon(np.c_[cx + rad * np.cos(ang),
                                                     cy + rad * np.sin(ang)]))
        geoms.append(g)
    got = cells(src, geoms)
    for i, g in enumerate(geoms):
        mine = {(r, c): v for (p, r, c), v in got.items() if p == i}
        assert mine == pytest.approx(geos_cells(g, tr, h, w), abs=1e-12)


def test_non_square_pixels():
    # 2 m wide, 0.5 m tall pixels: fractions stay fractions of each (rectangular) cell.
    tr = from_origin(0, 5, 2.0, 0.5)
    src = id_raster(10, 4, tr)
    poly = shapely.Polygon([(0.3, 0.2), (7.1, 1.3), (5.2, 4.9), (1.0, 3.7)])
    got = {(r, c): v for (_, r, c), v in cells(src, [poly]).items()}
    assert got == pytest.approx(geos_cells(poly, tr, 10, 4), abs=1e-12)
    assert sum(got.values()) * 2.0 * 0.5 == pytest.approx(poly.area)


def test_rotated_raster_equals_unrotated_problem():
    # Rotating raster and polygon together changes nothing: the 3x3 square case, rotated 30°.
    base = from_origin(700000, 7000003, 1, 1)
    rot = Affine.rotation(30, pivot=(700000, 7000003)) @ base
    src = id_raster(3, 3, rot)
    square = shapely.Polygon([rot @ (0.5, 0.5), rot @ (2.5, 0.5), rot @ (2.5, 2.5),
                              rot @ (0.5, 2.5)])
    got = cells(src, [square])
    expected = {(0, r, c): (0.5 if r != 1 else 1.0) * (0.5 if c != 1 else 1.0)
                for r in range(3) for c in range(3)}
    assert got == pytest.approx(expected, abs=1e-9)


def test_polygon_smaller_than_a_pixel():
    # A 0.2 x 0.3 m polygon inside one 1 m pixel: exact mode gives it 0.06 of that pixel;
    # centre mode gives nothing (its pixel's centre is outside).
    src = id_raster(3, 3, from_origin(0, 3, 1, 1))
    tiny = shapely.box(1.1, 1.1, 1.3, 1.4)
    assert cells(src, [tiny]) == pytest.approx({(0, 1, 1): 0.2 * 0.3})
    assert cells(src, [tiny], mode="centre") == {}


def test_partly_outside_raster_counts_inside_only():
    src = id_raster(4, 4, from_origin(0, 4, 1, 1))
    poly = shapely.box(-3.5, 2.5, 1.5, 6.0)  # overlaps cols 0-1 of rows 0-1 (y 2.5..4)
    got = cells(src, [poly])
    # x: col 0 full, col 1 half; y: row 0 full (3..4), row 1 half (2.5..3)
    assert got == pytest.approx({(0, 0, 0): 1.0, (0, 0, 1): 0.5, (0, 1, 0): 0.5,
                                 (0, 1, 1): 0.25})


def test_small_windows_and_batches_give_the_same_result():
    # One-row strips and batches of 5 cells force row chunks, folding and many windows.
    rng = np.random.default_rng(5)
    src = id_raster(20, 30, from_origin(0, 20, 1, 1))
    geoms = [shapely.make_valid(shapely.Polygon(rng.uniform([-3, -3], [33, 23], size=(6, 2))))
             for _ in range(15)]
    geoms.append(shapely.box(-10, -10, 40, 30))  # larger than the raster
    ref = cells(src, geoms)
    small = cells(src, geoms, budget_bytes=1, batch_cells=5)
    assert small == pytest.approx(ref, abs=1e-12)
    assert sum(v for (p, _, _), v in ref.items() if p == 15) == pytest.approx(600)
    ref_c = cells(src, geoms, mode="centre")
    assert cells(src, geoms, mode="centre", budget_bytes=1, batch_cells=5) == ref_c


def test_centre_matches_gdal_rasterize_on_random_polygons():
    rng = np.random.default_rng(9)
    h, w = 30, 40
    tr = from_origin(1000.0, 2000.0, 2.5, 2.5)
    src = id_raster(h, w, tr)
    geoms = []
    for _ in range(60):
        cx, cy = rng.uniform(1000, 1100), rng.uniform(1925, 2000)
        k = rng.integers(3, 10)
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = rng.uniform(0.5, 20, k)
        geoms.append(shapely.make_valid(shapely.Polygon(
            np.c_[cx + rad * np.cos(ang), cy + rad * np.sin(ang)])))
    got = cells(src, geoms, mode="centre")
    for i, g in enumerate(geoms):
        mask = rasterize([(g, 1)], out_shape=(h, w), transform=tr)
        expected = {(i, int(r), int(c)): 1.0 for r, c in zip(*np.nonzero(mask), strict=True)}
        assert {k: v for k, v in got.items() if k[0] == i} == expected


def test_no_overlap_is_an_error():
    src = id_raster(4, 4, from_origin(0, 4, 1, 1))
    pp = prepare_polygons(np.array([shapely.box(10, 10, 12, 12)]), src.transform)
    with pytest.raises(NoOverlapError, match="does not overlap"):
        list(iter_coverage(src, pp))


def test_empty_and_missing_geometries_cover_nothing():
    src = id_raster(4, 4, from_origin(0, 4, 1, 1))
    got = cells(src, [None, shapely.Polygon(), shapely.box(0, 0, 1, 1)])
    assert got == {(2, 3, 0): 1.0}


def test_progress_and_cancel():
    src = id_raster(50, 50, from_origin(0, 50, 1, 1))
    geoms = np.array([shapely.box(i, i, i + 3, i + 3) for i in range(40)], dtype=object)
    pp = prepare_polygons(geoms, src.transform)
    seen = []
    list(iter_coverage(src, pp, batch_cells=20, progress=lambda f, m: seen.append(f)))
    assert seen[-1] == 1.0
    assert all(b >= a for a, b in itertools.pairwise(seen))

    def cancel(f, m):
        if f > 0.3:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        list(iter_coverage(src, pp, batch_cells=20, progress=cancel))


def test_erode_equals_geos_negative_buffer():
    # Convex polygons take the numpy path (mitred offsets), the others GEOS; both must give
    # GEOS's negative buffer. Mixed: convex hulls (both orientations), concave stars, L shapes,
    # a polygon with a hole, a multipolygon, polygons that vanish, an empty geometry.
    from qpvgeo.coverage import erode

    rng = np.random.default_rng(12)
    geoms = []
    for i in range(400):
        c = rng.uniform(0, 1000, 2)
        k = rng.integers(3, 12)
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = rng.uniform(0.5, 15, k)
        p = shapely.Polygon(np.c_[c[0] + rad * np.cos(ang), c[1] + rad * np.sin(ang)])
        if i % 2 == 0:
            p = shapely.convex_hull(p)
        if i % 4 == 0:
            p = shapely.Polygon(list(p.exterior.coords)[::-1])
        if i % 7 == 0:
            p = shapely.union_all([shapely.box(c[0], c[1], c[0] + 10, c[1] + 3),
                                   shapely.box(c[0], c[1], c[0] + 3, c[1] + 10)])
        geoms.append(shapely.make_valid(p))
    geoms.append(shapely.Polygon(shapely.box(0, 0, 20, 20).exterior.coords,
                                 [shapely.box(8, 8, 12, 12).exterior.coords]))
    geoms.append(shapely.MultiPolygon([shapely.box(50, 0, 60, 10), shapely.box(70, 0, 80, 10)]))
    geoms.append(shapely.box(0, 100, 1.5, 130))  # vanishes at 1 m
    geoms.append(shapely.Polygon())
    geoms = np.array(geoms, dtype=object)
    for dist in (0.3, 1.0, 2.5):
        rings = erode(geoms, dist)
        expected = shapely.buffer(geoms, -dist)
        np.testing.assert_allclose(rings.polygon_areas(),
                                   np.nan_to_num(shapely.area(expected)), atol=1e-8)
        # compare shapes: single-ring results rebuilt as polygons vs GEOS
        nring = np.bincount(rings.ring_poly, minlength=rings.n)
        checked = 0
        for i in np.flatnonzero(nring == 1):
            r = np.flatnonzero(rings.ring_poly == i)[0]
            pts = np.c_[rings.x[rings.ring == r], rings.y[rings.ring == r]]
            diff = shapely.Polygon(pts).symmetric_difference(expected[i]).area
            assert diff < 1e-8, (i, dist, diff)
            checked += 1
        assert checked > 200
    box = erode(np.array([shapely.box(0, 0, 10, 6)], dtype=object), 1.0)
    assert rings.polygon_areas()[-2] == 0.0  # the 1.5 m wide strip vanished
    assert box.polygon_areas()[0] == pytest.approx(8 * 4)
    assert sorted(zip(box.x[:-1], box.y[:-1], strict=True)) == [(1, 1), (1, 5), (9, 1), (9, 5)]


def test_ring_arrays_choose_and_areas():
    from qpvgeo.coverage import ring_arrays

    a = ring_arrays(np.array([shapely.box(0, 0, 2, 2), shapely.box(0, 0, 3, 3), None],
                             dtype=object))
    b = ring_arrays(np.array([shapely.box(0, 0, 1, 1), None,
                              shapely.Polygon(shapely.box(0, 0, 4, 4).exterior.coords,
                                              [shapely.box(1, 1, 2, 2).exterior.coords])],
                             dtype=object))
    np.testing.assert_allclose(a.polygon_areas(), [4, 9, 0])
    np.testing.assert_allclose(b.polygon_areas(), [1, 0, 15])
    mixed = a.choose(b, np.array([True, False, True]))
    np.testing.assert_allclose(mixed.polygon_areas(), [1, 9, 15])
    assert list(mixed.ring_poly) == [0, 1, 2, 2]
    assert list(mixed.exterior) == [True, True, True, False]


@pytest.mark.parametrize("mode", ["exact", "centre"])
def test_large_and_small_polygon_paths_agree(monkeypatch, mode):
    # Large polygons read their own windows and sum 2-D buffers; small ones share strips and
    # a flat buffer. Forcing every polygon through one path or the other changes nothing.
    import qpvgeo.coverage as cov

    rng = np.random.default_rng(21)
    src = id_raster(40, 50, from_origin(0, 40, 1, 1))
    geoms = [shapely.make_valid(shapely.Polygon(rng.uniform([-5, -5], [55, 45], size=(7, 2))))
             for _ in range(12)]
    geoms.append(shapely.Polygon(shapely.box(2, 2, 38, 30).exterior.coords,
                                 [shapely.box(10, 10, 20, 20).exterior.coords]))
    monkeypatch.setattr(cov, "_BIG_CELLS", 10**12)
    flat = cells(src, geoms, mode=mode, batch_cells=50)
    monkeypatch.setattr(cov, "_BIG_CELLS", 1)
    big = cells(src, geoms, mode=mode, batch_cells=50)
    assert big == pytest.approx(flat, abs=1e-12)
    assert sum(v for (p, _, _), v in big.items() if p == 12) == pytest.approx(36 * 28 - 100)
