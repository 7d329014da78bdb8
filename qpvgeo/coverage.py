"""Exact-coverage engine: which pixels each polygon covers, and by how much, in pure numpy.

This module answers one question for many polygons at once: for every raster cell touched by a
polygon, what fraction of the cell's area lies inside the polygon (``mode="exact"``, the quantity
exactextract calls the coverage fraction), or whether the cell's centre lies inside it
(``mode="centre"``, the rule of GDAL's rasterize without ``ALL_TOUCHED``). The statistics built on
it live in :mod:`qpvgeo.thermography`.

Method (exact mode)
-------------------
The covered area of a cell is the integral over the cell of the polygon's winding number. Writing
the winding number at ``(x, y)`` as the signed count of boundary crossings left of ``x`` on the
horizontal line through ``y``, the integral splits into a contribution of each boundary edge,
which is the signed-area accumulation used by font rasterisers:

1. Polygon vertices are mapped to pixel coordinates (column, row) with the inverse of the
   raster's affine transform; an affine map scales every area by the same factor, so fractions
   are exact for rotated, sheared or non-square pixels too.
2. Rings are oriented (exterior +1, holes -1) from their shoelace area in pixel space, so holes
   subtract whatever the input ring orientation.
3. Every edge is cut at the horizontal grid lines (one piece per pixel row), then each row piece
   at the vertical grid lines (one piece per cell). A piece with signed height ``dy`` and mean
   column ``xm`` inside cell ``c`` adds ``dy * (c + 1 - xm)`` to cell ``c`` and the rest of
   ``dy`` to cell ``c + 1``: the part of the cell right of the piece is fully inside.
4. A cumulative sum along each row turns these increments into the exact covered area of every
   cell (0–1 of a pixel). Pieces left of the window are folded into its first column, pieces right
   of it into a discarded "sink" column, so a window needs no context outside itself.

Centre mode is the same pipeline with one increment per crossing of an edge with a row of pixel
centres (the winding number at each centre), which makes it an exact pixel-centre rasteriser
that needs no special handling of overlapping polygons. Ties are half-open in pixel space: a
centre exactly on a boundary belongs to the polygon on its left (in columns) and below it (in rows,
i.e. to the south on a north-up raster), so polygons tiling the plane share every centre exactly
once. GDAL's rasterize agrees except for centres exactly on a horizontal edge, which it gives to
both sides.

All polygons are processed together: each one gets a flat buffer covering its pixel bounding box
(plus the sink column), the increments of all pieces are added with one ``np.bincount``, and the
row sums are one ``np.cumsum`` over the concatenated buffers. Polygons are grouped into batches of
at most ``batch_cells`` work units (buffer cells plus four per edge piece), and polygons taller
than a batch are cut into row chunks (rows are independent), so memory is bounded whatever the
zone sizes and shapes.

Memory and windows
------------------
Small polygons (pixel box under 16,384 cells: buildings) are processed together: the raster is
read in full-width strips of at most ``budget_bytes`` of pixels (:func:`qpvgeo.raster.row_windows`,
512 MB by default), restricted to the rows and columns the polygons need (and, for tiled files,
to the tiles they touch: :func:`qpvgeo.raster.read_blocks`), and each batch of polygons is summed
in one flat buffer. Large polygons (zones) are cut into row chunks of at most
``batch_cells`` cells; each chunk reads only its own window and is summed as a 2-D buffer, so
sparse zones on a large raster do not read the pixels between them. Peak memory is about one
strip plus a few arrays of ``batch_cells`` elements (about 100 bytes per work unit, 100 MB by
default), whatever the raster size.

Numerical notes: cells covered by less than ``1e-12`` of their area are dropped (rounding noise of
the cumulative sum); coverage is capped at 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import shapely

from qpvgeo._progress import ProgressCallback, report
from qpvgeo.errors import NoOverlapError, RasterError
from qpvgeo.raster import DEFAULT_BUDGET_BYTES, RasterSource, read_blocks, row_windows

__all__ = [
    "DEFAULT_BATCH_CELLS",
    "CoverageBatch",
    "CoverageBlock",
    "PixelPolygons",
    "RingArrays",
    "erode",
    "iter_coverage",
    "prepare_polygons",
    "ring_arrays",
]

DEFAULT_BATCH_CELLS = 1_000_000
"""Work units per batch: buffer cells plus 4 per edge piece (about 100 MB of temporary arrays)."""

_EPS = 1e-12
_PIECE_WEIGHT = 4
_BIG_CELLS = 16_384
"""Polygons whose pixel box holds at least this many cells read their own windows."""

CoverageMode = Literal["exact", "centre"]


@dataclass(frozen=True)
class PixelPolygons:
    """Polygons mapped to a raster's pixel grid, edges flattened for vectorised work.

    Built by :func:`prepare_polygons`. Coordinates are pixel coordinates: column and row of the
    raster, fractional, ``(0, 0)`` the top-left corner of the top-left pixel.

    Attributes
    ----------
    n : int
        Number of polygons (positions ``0..n-1`` follow the input order).
    x0, y0, x1, y1 : numpy.ndarray
        Start and end of every non-horizontal edge (column, row).
    sign : numpy.ndarray
        +1 or -1 per edge so that exterior rings add area and holes subtract it.
    edge_start : numpy.ndarray
        Edges of polygon ``i`` are ``edge_start[i]:edge_start[i + 1]``.
    rmin, rmax, cmin, cmax : numpy.ndarray
        Pixel bounding box of each polygon (rows ``rmin..rmax-1``, columns ``cmin..cmax-1``),
        not clipped to the raster.
    area_px : numpy.ndarray
        Polygon areas in pixels (area in CRS units / pixel area).
    """

    n: int
    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    sign: np.ndarray
    edge_start: np.ndarray
    rmin: np.ndarray
    rmax: np.ndarray
    cmin: np.ndarray
    cmax: np.ndarray
    area_px: np.ndarray


@dataclass(frozen=True)
class CoverageBatch:
    """Covered cells of a batch of polygons: one entry per (polygon, cell) pair.

    Attributes
    ----------
    poly : numpy.ndarray
        Position (0-based, input order) of the polygon covering the cell.
    values : numpy.ndarray
        Raw raster value of the cell (raster dtype; nodata not removed).
    weight : numpy.ndarray
        Covered fraction of the cell, 0–1 (exact mode), or 1.0 (centre mode).
    """

    poly: np.ndarray
    values: np.ndarray
    weight: np.ndarray


@dataclass(frozen=True)
class CoverageBlock:
    """Covered cells of one large polygon over a raster window, as 2-D arrays.

    Yielded by :func:`iter_coverage` with ``blocks=True`` for large polygons, so that consumers
    can reduce whole windows at once (e.g. one weighted ``np.bincount`` of class values).

    Attributes
    ----------
    poly : int
        Position of the polygon.
    values : numpy.ndarray
        Raw raster values of the window (2-D, raster dtype; nodata not removed).
    weight : numpy.ndarray
        Covered fraction of each cell, 0–1, 0 outside the polygon (exact mode; rounding noise
        below 1e-12 is set to 0), or a boolean mask of the cells whose centre is inside
        (centre mode).
    """

    poly: int
    values: np.ndarray
    weight: np.ndarray

    def flat(self) -> CoverageBatch:
        """Return the covered cells as a :class:`CoverageBatch` (cells with weight > 1e-12)."""
        if self.weight.dtype == np.bool_:  # centre mode: weights 1
            values = self.values[self.weight]
            weight = np.ones(len(values))
        else:
            mask = self.weight > _EPS
            values, weight = self.values[mask], self.weight[mask]
        return CoverageBatch(np.full(len(values), self.poly, dtype=np.int64), values, weight)


@dataclass(frozen=True)
class RingArrays:
    """Polygon rings as flat coordinate arrays (no shapely objects), in some CRS.

    Attributes
    ----------
    n : int
        Number of polygons (positions ``0..n-1``).
    x, y : numpy.ndarray
        Vertices of every ring, closed (last vertex repeats the first), rings contiguous and
        grouped by polygon in increasing position.
    ring : numpy.ndarray
        Ring number (0-based, increasing) of every vertex.
    ring_poly : numpy.ndarray
        Polygon position of every ring.
    exterior : numpy.ndarray
        Whether each ring is an exterior ring (False for holes).
    """

    n: int
    x: np.ndarray
    y: np.ndarray
    ring: np.ndarray
    ring_poly: np.ndarray
    exterior: np.ndarray

    def signed_ring_areas(self) -> np.ndarray:
        """Shoelace area of every ring (positive when counter-clockwise, x right / y up)."""
        nr = len(self.ring_poly)
        if not len(self.x):
            return np.zeros(nr)
        first = np.searchsorted(self.ring, np.arange(nr))
        x0 = self.x[first][self.ring]
        y0 = self.y[first][self.ring]
        dx, dy = self.x - x0, self.y - y0  # relative to each ring's first vertex (precision)
        same = self.ring[1:] == self.ring[:-1]
        cross = dx[:-1] * dy[1:] - dx[1:] * dy[:-1]
        return 0.5 * np.bincount(self.ring[:-1][same], weights=cross[same], minlength=nr)

    def polygon_areas(self) -> np.ndarray:
        """Area of every polygon (exteriors minus holes), in squared CRS units."""
        a = np.abs(self.signed_ring_areas()) * np.where(self.exterior, 1.0, -1.0)
        return np.maximum(np.bincount(self.ring_poly, weights=a, minlength=self.n), 0.0)

    def with_xy(self, x: np.ndarray, y: np.ndarray) -> RingArrays:
        """Return the same rings with new coordinates (e.g. reprojected)."""
        return RingArrays(self.n, x, y, self.ring, self.ring_poly, self.exterior)

    def choose(self, other: RingArrays, use_other: np.ndarray) -> RingArrays:
        """Rings of ``other`` for the polygons where ``use_other`` is True, else these rings."""
        keep_self = ~use_other[self.ring_poly]
        keep_other = use_other[other.ring_poly]
        rp = np.concatenate([self.ring_poly[keep_self], other.ring_poly[keep_other]])
        ext = np.concatenate([self.exterior[keep_self], other.exterior[keep_other]])
        order = np.argsort(rp, kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        # new ring number of each kept ring, in polygon order
        new_self = np.full(len(self.ring_poly), -1, dtype=np.int64)
        new_self[keep_self] = rank[:int(keep_self.sum())]
        new_other = np.full(len(other.ring_poly), -1, dtype=np.int64)
        new_other[keep_other] = rank[int(keep_self.sum()):]
        vs = new_self[self.ring]
        vo = new_other[other.ring]
        ring = np.concatenate([vs[vs >= 0], vo[vo >= 0]])
        x = np.concatenate([self.x[vs >= 0], other.x[vo >= 0]])
        y = np.concatenate([self.y[vs >= 0], other.y[vo >= 0]])
        vorder = np.argsort(ring, kind="stable")
        return RingArrays(self.n, x[vorder], y[vorder], ring[vorder], rp[order], ext[order])


def ring_arrays(geoms: np.ndarray) -> RingArrays:
    """Flatten polygons and multipolygons into :class:`RingArrays` (input CRS kept).

    ``None`` and empty geometries get no ring. Valid geometries are expected (see
    :func:`qpvgeo._validate.repair_geometries`).
    """
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) and bool((shapely.get_type_id(geoms) == 3).all()):
        parts, part_geom = geoms, np.arange(len(geoms))
    else:
        parts, part_geom = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    exterior = np.ones(len(rings), dtype=bool)
    if len(rings) > 1:
        exterior[1:] = ring_part[1:] != ring_part[:-1]
    ring_poly = part_geom[ring_part] if len(ring_part) else np.zeros(0, dtype=np.int64)
    return RingArrays(len(geoms), coords[:, 0].copy(), coords[:, 1].copy(),
                      ring.astype(np.int64), ring_poly.astype(np.int64), exterior)


def prepare_polygons(
    geoms: np.ndarray | RingArrays, transform: tuple[float, float, float, float, float, float]
) -> PixelPolygons:
    """Map polygons (already in the raster's CRS) to the raster's pixel grid.

    Parameters
    ----------
    geoms : numpy.ndarray of shapely geometries, or RingArrays
        Polygons or multipolygons in the raster's CRS; ``None`` or empty geometries cover
        nothing. Valid geometries are expected (see :func:`qpvgeo._validate.repair_geometries`).
    transform : tuple of 6 floats
        The raster's affine transform ``(a, b, c, d, e, f)``.

    Returns
    -------
    PixelPolygons
    """
    ra = geoms if isinstance(geoms, RingArrays) else ring_arrays(geoms)
    n = ra.n
    a, b, c, d, e, f = (float(v) for v in tuple(transform)[:6])
    det = a * e - b * d
    if det == 0.0 or not np.isfinite(det):
        raise RasterError(f"degenerate raster transform {transform}")
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    dx = ra.x - c
    dy = ra.y - f
    col = ia * dx + ib * dy
    row = id_ * dx + ie * dy
    pix = ra.with_xy(col, row)
    # Orientation in pixel space: rings with a positive shoelace area have a negative
    # winding integral in the accumulation scheme, hence the minus sign; holes subtract.
    ring_area = pix.signed_ring_areas()
    ring_sign = -np.sign(ring_area) * np.where(ra.exterior, 1.0, -1.0)
    area_px = pix.polygon_areas()

    coord_ring = ra.ring
    same = coord_ring[1:] == coord_ring[:-1] if len(col) else np.zeros(0, dtype=bool)
    x0, y0, x1, y1 = col[:-1][same], row[:-1][same], col[1:][same], row[1:][same]
    ering = coord_ring[:-1][same]
    keep = y0 != y1  # horizontal edges never contribute
    x0, y0, x1, y1, ering = x0[keep], y0[keep], x1[keep], y1[keep], ering[keep]
    sign = ring_sign[ering]
    epoly = ra.ring_poly[ering]
    edge_start = np.searchsorted(epoly, np.arange(n + 1)).astype(np.int64)

    rmin = np.zeros(n, dtype=np.int64)
    rmax = np.zeros(n, dtype=np.int64)
    cmin = np.zeros(n, dtype=np.int64)
    cmax = np.zeros(n, dtype=np.int64)
    if len(col):
        cgeom = ra.ring_poly[coord_ring]
        has = np.bincount(cgeom, minlength=n) > 0
        starts = np.searchsorted(cgeom, np.arange(n))[has]
        rmin[has] = np.floor(np.minimum.reduceat(row, starts)).astype(np.int64)
        rmax[has] = np.ceil(np.maximum.reduceat(row, starts)).astype(np.int64)
        cmin[has] = np.floor(np.minimum.reduceat(col, starts)).astype(np.int64)
        cmax[has] = np.ceil(np.maximum.reduceat(col, starts)).astype(np.int64)
    return PixelPolygons(n, x0, y0, x1, y1, sign, edge_start, rmin, rmax, cmin, cmax, area_px)


def _ranges(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For counts ``[n0, n1, …]`` return (owner, position) arrays: owner i repeated n_i times."""
    total = int(counts.sum())
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    pos = np.arange(total, dtype=np.int64) - np.repeat(starts, counts)
    return owner, pos


def _accumulate(
    pp: PixelPolygons, poly: np.ndarray, r0: np.ndarray, r1: np.ndarray, c0: np.ndarray,
    c1: np.ndarray, mode: CoverageMode,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Increments of a batch of chunks (polygon, rows r0..r1-1, cols c0..c1-1).

    Returns ``(acc, rowlen, cell_off)``: the flat buffer of every chunk (``r1 - r0`` rows of
    ``rowlen = c1 - c0 + 1`` cells, the last one the sink) starts at ``cell_off``; a cumulative
    sum along each buffer row gives the coverage.
    """
    rowlen = (c1 - c0) + 1  # + sink column
    cells = (r1 - r0) * rowlen
    cell_off = np.cumsum(cells) - cells
    ncells = int(cells.sum())

    es = pp.edge_start[poly]
    cnt = pp.edge_start[poly + 1] - es
    chunk, pos = _ranges(cnt)
    eidx = es[chunk] + pos
    ex0, ey0, ex1, ey1 = pp.x0[eidx], pp.y0[eidx], pp.x1[eidx], pp.y1[eidx]
    up = ey1 > ey0
    ya = np.where(up, ey0, ey1)
    yb = np.where(up, ey1, ey0)
    xa = np.where(up, ex0, ex1)
    xb = np.where(up, ex1, ex0)
    sgn = pp.sign[eidx] * np.where(up, 1.0, -1.0)
    slope = (xb - xa) / (yb - ya)  # dx per row; edges are never horizontal
    lo = r0[chunk].astype(float)
    hi = r1[chunk].astype(float)
    ca = np.maximum(ya, lo)
    cb = np.minimum(yb, hi)
    keep = cb > ca
    if not keep.all():
        chunk, ya, xa, slope, sgn, ca, cb = (
            v[keep] for v in (chunk, ya, xa, slope, sgn, ca, cb)
        )

    if mode == "exact":
        fl = np.floor(ca)
        n1 = (np.ceil(cb) - fl).astype(np.int64)
        n1 = np.maximum(n1, 1)
        e1, k1 = _ranges(n1)
        rowf = fl[e1] + k1
        ylo = np.maximum(ca[e1], rowf)
        yhi = np.minimum(cb[e1], rowf + 1.0)
        sl = slope[e1]
        ya1 = ya[e1]
        xa1 = xa[e1]
        xlo_ = xa1 + (ylo - ya1) * sl
        xhi_ = xa1 + (yhi - ya1) * sl
        dyp = (yhi - ylo) * sgn[e1]
        pchunk = chunk[e1]
        del ylo, yhi, sl, ya1, xa1, k1
        xmin = np.minimum(xlo_, xhi_)
        xmax = np.maximum(xlo_, xhi_)
        fx = np.floor(xmin)
        n2 = np.maximum((np.ceil(xmax) - fx).astype(np.int64), 1)
        e2, k2 = _ranges(n2)
        colf = fx[e2] + k2
        xmn = xmin[e2]
        xmx = xmax[e2]
        sxl = np.maximum(xmn, colf)
        sxh = np.minimum(xmx, colf + 1.0)
        width = xmx - xmn
        with np.errstate(invalid="ignore", divide="ignore"):
            portion = np.where(width > 0, (sxh - sxl) / width, 1.0)
        dyk = dyp[e2] * portion
        xmid = 0.5 * (sxl + sxh)
        inc_a = dyk * (colf + 1.0 - xmid)
        inc_b = dyk - inc_a
        ch = pchunk[e2]
        prow = rowf[e2].astype(np.int64)
        pcol = colf.astype(np.int64)
        del xmn, xmx, sxl, sxh, width, portion, dyk, xmid
        base = cell_off[ch] + (prow - r0[ch]) * rowlen[ch]
        cc0 = c0[ch]
        cc1 = c1[ch]
        ia = base + np.clip(pcol, cc0, cc1) - cc0
        ib = base + np.clip(pcol + 1, cc0, cc1) - cc0
        acc = np.bincount(np.concatenate([ia, ib]), weights=np.concatenate([inc_a, inc_b]),
                          minlength=ncells)
    else:
        first = np.ceil(ca - 0.5)
        n1 = (np.ceil(cb - 0.5) - first).astype(np.int64)
        n1 = np.maximum(n1, 0)
        e1, k1 = _ranges(n1)
        rowf = first[e1] + k1
        xc = xa[e1] + (rowf + 0.5 - ya[e1]) * slope[e1]
        ch = chunk[e1]
        pcol = np.floor(xc + 0.5).astype(np.int64)
        prow = rowf.astype(np.int64)
        cc0 = c0[ch]
        idx = cell_off[ch] + (prow - r0[ch]) * rowlen[ch] + np.clip(pcol, cc0, c1[ch]) - cc0
        acc = np.bincount(idx, weights=sgn[e1], minlength=ncells)
    return acc, rowlen, cell_off


def _flat_cells(
    acc: np.ndarray, rowlen: np.ndarray, cell_off: np.ndarray, r0: np.ndarray, r1: np.ndarray,
    c0: np.ndarray, mode: CoverageMode, win_r0: int, win_c0: int, win_w: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coverage of many small chunks at once from their increments.

    Returns (chunk, window index, weight) of the cells with non-zero coverage, the window
    index being the flat position in the raster window starting at ``(win_r0, win_c0)`` with
    ``win_w`` columns.
    """
    nrows = r1 - r0
    rchunk, ri = _ranges(nrows)  # chunk and row number of every buffer row
    rl = rowlen[rchunk]
    row_start = cell_off[rchunk] + ri * rl
    cs = np.cumsum(acc, dtype=np.float64)
    # subtract the running sum at the start of every buffer row (exact restart per row) and
    # clear the sink column (its coverage is the row's sum, zero up to rounding)
    prev = np.where(row_start > 0, cs[np.maximum(row_start - 1, 0)], 0.0)
    cov = cs
    cov -= np.repeat(prev, rl)
    cov[row_start + rl - 1] = 0.0
    del prev
    mask = cov > (0.5 if mode == "centre" else _EPS)
    nz = np.flatnonzero(mask)
    w = np.minimum(cov[nz], 1.0) if mode == "exact" else np.ones(len(nz))
    # number of selected cells per buffer row, from the running count at row ends
    counts = np.cumsum(mask, dtype=np.int64)[row_start + rl - 1]
    counts[1:] -= counts[:-1].copy()
    # window index = buffer index + (window offset of the row - buffer offset of the row)
    shift = (r0[rchunk] + ri - win_r0) * win_w + (c0[rchunk] - win_c0) - row_start
    widx = nz + np.repeat(shift, counts)
    chunk = np.repeat(rchunk, counts)
    return chunk, widx, w


def iter_coverage(
    source: RasterSource, pp: PixelPolygons, *, mode: CoverageMode = "exact",
    budget_bytes: int = DEFAULT_BUDGET_BYTES, batch_cells: int = DEFAULT_BATCH_CELLS,
    progress: ProgressCallback | None = None, blocks: bool = False,
) -> Iterator[CoverageBatch | CoverageBlock]:
    """Yield the covered cells of every polygon, strip by strip and batch by batch.

    Parameters
    ----------
    source : RasterSource
        The raster (see :func:`qpvgeo.raster.open_raster`).
    pp : PixelPolygons
        Polygons mapped to ``source``'s grid by :func:`prepare_polygons`.
    mode : {"exact", "centre"}
        Exact coverage fractions, or the pixel-centre rule (weights 1).
    budget_bytes : int
        Maximum bytes of raster pixels held at once (one strip).
    batch_cells : int
        Work units per batch (buffer cells plus 4 per edge piece), bounding the temporary
        arrays to about 100 bytes per unit.
    progress : callable, optional
        ``progress(fraction, message)``; it may raise :class:`qpvgeo.errors.Cancelled`.
    blocks : bool
        Yield large polygons as :class:`CoverageBlock` (2-D windows) instead of flattening
        them into :class:`CoverageBatch`.

    Yields
    ------
    CoverageBatch or CoverageBlock
        A polygon may appear in several batches (tall polygons, several strips); consumers
        accumulate. Cells outside the raster are never yielded.

    Raises
    ------
    NoOverlapError
        No polygon overlaps the raster's footprint.
    """
    if mode not in ("exact", "centre"):
        raise ValueError(f"mode must be 'exact' or 'centre', not {mode!r}")
    H, W = source.height, source.width
    r_lo = np.clip(pp.rmin, 0, H)
    r_hi = np.clip(pp.rmax, 0, H)
    c_lo = np.clip(pp.cmin, 0, W)
    c_hi = np.clip(pp.cmax, 0, W)
    has_edges = np.diff(pp.edge_start) > 0
    active = (r_hi > r_lo) & (c_hi > c_lo) & has_edges
    if not active.any():
        raise NoOverlapError(
            f"{source.name}: the raster does not overlap any of the {pp.n} polygon(s) "
            "(compared in the raster's CRS); check that the raster covers the territory and "
            "that the CRS of both inputs are right"
        )
    cells = (r_hi - r_lo) * (c_hi - c_lo + 1)
    big = active & (cells >= _BIG_CELLS)
    small = active & ~big
    total = float(cells[active].sum())
    progress_state = [0.0, total]
    report(progress, 0.0, "lecture du raster")
    if big.any():
        yield from _big_polygons(source, pp, np.flatnonzero(big), r_lo, r_hi, c_lo, c_hi,
                                 mode, batch_cells, progress, progress_state, blocks)
    if small.any():
        yield from _small_polygons(source, pp, small, r_lo, r_hi, c_lo, c_hi, mode,
                                   budget_bytes, batch_cells, progress, progress_state)
    report(progress, 1.0, "couverture des pixels terminée")


def _chunks(
    pp: PixelPolygons, ids: np.ndarray, pr0: np.ndarray, pr1: np.ndarray, c_lo: np.ndarray,
    c_hi: np.ndarray, batch_cells: int,
) -> tuple[np.ndarray, ...]:
    """Cut polygons ``ids`` (rows pr0..pr1) into row chunks and group the chunks in batches.

    Returns (poly, r0, r1, c0, c1, cells, batch_starts, batch_stops).
    """
    rowlen = c_hi[ids] - c_lo[ids] + 1
    rpc = np.maximum(1, batch_cells // rowlen)
    nch = -(-(pr1 - pr0) // rpc)
    owner, k = _ranges(nch)
    ch_poly = ids[owner]
    ch_r0 = pr0[owner] + k * rpc[owner]
    ch_r1 = np.minimum(ch_r0 + rpc[owner], pr1[owner])
    ch_c0 = c_lo[ch_poly]
    ch_c1 = c_hi[ch_poly]
    ch_cells = (ch_r1 - ch_r0) * (ch_c1 - ch_c0 + 1)
    # memory cost of a chunk: its buffer cells plus its edge pieces (about one per edge and
    # per grid line crossed, each held in ~20 temporary arrays, hence the weight)
    n_edges = pp.edge_start[ch_poly + 1] - pp.edge_start[ch_poly]
    pieces = n_edges + 2 * ((ch_r1 - ch_r0) + (ch_c1 - ch_c0))
    cost = ch_cells + _PIECE_WEIGHT * pieces
    before = np.cumsum(cost) - cost
    batch_id = before // batch_cells
    bounds = np.flatnonzero(np.diff(batch_id)) + 1
    starts = np.concatenate([[0], bounds]).astype(np.int64)
    stops = np.concatenate([bounds, [len(ch_poly)]]).astype(np.int64)
    return ch_poly, ch_r0, ch_r1, ch_c0, ch_c1, ch_cells, starts, stops


def _big_polygons(
    source: RasterSource, pp: PixelPolygons, ids: np.ndarray, r_lo: np.ndarray,
    r_hi: np.ndarray, c_lo: np.ndarray, c_hi: np.ndarray, mode: CoverageMode, batch_cells: int,
    progress: ProgressCallback | None, state: list[float], blocks: bool,
) -> Iterator[CoverageBatch | CoverageBlock]:
    """Large polygons: each row chunk reads its own window and is summed as a 2-D buffer."""
    ch_poly, ch_r0, ch_r1, ch_c0, ch_c1, ch_cells, starts, stops = _chunks(
        pp, ids, r_lo[ids], r_hi[ids], c_lo, c_hi, batch_cells)
    for b_idx, (s, t) in enumerate(zip(starts, stops, strict=True)):
        sl = slice(int(s), int(t))
        acc, rowlen, cell_off = _accumulate(pp, ch_poly[sl], ch_r0[sl], ch_r1[sl], ch_c0[sl],
                                            ch_c1[sl], mode)
        if mode == "centre":
            # increments of ±1: winding numbers are small integers, summed exactly in int8
            # (a quarter of the float64 traffic; they wrap only past 127 nested rings)
            acc = acc.astype(np.int8)
        for k in range(int(t - s)):
            h = int(ch_r1[sl][k] - ch_r0[sl][k])
            rl = int(rowlen[k])
            off = int(cell_off[k])
            inc = acc[off:off + h * rl].reshape(h, rl)[:, :rl - 1]  # without the sink column
            cov: np.ndarray
            if mode == "exact":
                cov = np.empty((h, rl - 1))
                np.cumsum(inc, axis=1, out=cov)
                np.clip(cov, 0.0, 1.0, out=cov)
                cov[cov <= _EPS] = 0.0  # rounding noise, as in the flat path
            else:
                cov = np.cumsum(inc, axis=1, dtype=np.int8) > 0  # centre inside: winding ≥ 1
            window = source.read((int(ch_r0[sl][k]), int(ch_r1[sl][k]), int(ch_c0[sl][k]),
                                  int(ch_c1[sl][k])))
            block = CoverageBlock(int(ch_poly[sl][k]), window, cov)
            yield block if blocks else block.flat()
        state[0] += float(ch_cells[sl].sum())
        report(progress, state[0] / state[1] if state[1] else 1.0,
               f"couverture des pixels (grandes zones, lot {b_idx + 1}/{len(starts)})")


def _small_polygons(
    source: RasterSource, pp: PixelPolygons, small: np.ndarray, r_lo: np.ndarray,
    r_hi: np.ndarray, c_lo: np.ndarray, c_hi: np.ndarray, mode: CoverageMode,
    budget_bytes: int, batch_cells: int, progress: ProgressCallback | None, state: list[float],
) -> Iterator[CoverageBatch]:
    """Small polygons: raster strips under the budget, all polygons of a batch at once."""
    H, W = source.height, source.width
    rows = (int(r_lo[small].min()), int(r_hi[small].max()))
    strips = list(row_windows(H, W, source.dtype.itemsize, budget_bytes=budget_bytes,
                              block_height=source.block_height, rows=rows))
    for s_idx, (R0, R1) in enumerate(strips):
        ids = np.flatnonzero(small & (r_lo < R1) & (r_hi > R0))
        if not len(ids):
            continue
        RR0 = max(R0, int(r_lo[ids].min()))
        RR1 = min(R1, int(r_hi[ids].max()))
        C0 = int(c_lo[ids].min())
        C1 = int(c_hi[ids].max())
        window = read_blocks(source, (RR0, RR1, C0, C1), (
            np.maximum(r_lo[ids], RR0), np.minimum(r_hi[ids], RR1), c_lo[ids], c_hi[ids]))
        flat = window.reshape(-1)
        win_w = C1 - C0
        ch_poly, ch_r0, ch_r1, ch_c0, ch_c1, ch_cells, starts, stops = _chunks(
            pp, ids, np.maximum(r_lo[ids], R0), np.minimum(r_hi[ids], R1), c_lo, c_hi,
            batch_cells)
        for b_idx, (s, t) in enumerate(zip(starts, stops, strict=True)):
            sl = slice(int(s), int(t))
            acc, rowlen, cell_off = _accumulate(pp, ch_poly[sl], ch_r0[sl], ch_r1[sl],
                                                ch_c0[sl], ch_c1[sl], mode)
            cidx, widx, w = _flat_cells(acc, rowlen, cell_off, ch_r0[sl], ch_r1[sl],
                                        ch_c0[sl], mode, RR0, C0, win_w)
            del acc
            yield CoverageBatch(ch_poly[sl][cidx], flat[widx], w)
            state[0] += float(ch_cells[sl].sum())
            report(progress, state[0] / state[1] if state[1] else 1.0,
                   f"couverture des pixels (bande {s_idx + 1}/{len(strips)}, "
                   f"lot {b_idx + 1}/{len(starts)})")
        del window, flat


def erode(geoms: np.ndarray, distance: float, rings: RingArrays | None = None
          ) -> RingArrays:
    """Shrink polygons by ``distance`` (a negative buffer), fast for convex polygons.

    The erosion of a convex polygon by a disk is the intersection of its edges' half-planes
    moved inwards, whose corners are the mitred offsets of its vertices: computed here with
    numpy, without building shapely objects, for every convex polygon with a single ring whose
    offset keeps all its edges. Every other polygon (concave, holes, several parts, collapsing
    edges) goes through GEOS (``shapely.buffer(geom, -distance)``), which gives the same result
    on convex ones (checked in the tests).

    Parameters
    ----------
    geoms : numpy.ndarray of shapely geometries
        Polygons in a projected CRS (metres).
    distance : float
        Inward distance in CRS units (> 0).
    rings : RingArrays, optional
        ``ring_arrays(geoms)`` when already computed.

    Returns
    -------
    RingArrays
        Rings of the eroded polygons (none where a polygon vanishes), same CRS and positions.
    """
    geoms = np.asarray(geoms, dtype=object)
    ra = rings if rings is not None else ring_arrays(geoms)
    n = ra.n
    nrings = np.bincount(ra.ring_poly, minlength=n)
    candidate = nrings == 1  # one exterior ring, no hole, one part
    # vertices of candidate rings, closing vertex dropped
    cand_v = candidate[ra.ring_poly[ra.ring]]
    last = np.ones(len(ra.ring), dtype=bool)
    last[:-1] = ra.ring[1:] != ra.ring[:-1]
    sel = cand_v & ~last
    x, y, ring = ra.x[sel], ra.y[sel], ra.ring[sel]
    done = np.zeros(n, dtype=bool)
    fast_x = fast_y = np.zeros(0)
    fast_poly = np.zeros(0, dtype=np.int64)
    fast_counts = np.zeros(0, dtype=np.int64)
    if len(ring):
        uring, rid = np.unique(ring, return_inverse=True)
        nr = len(uring)
        counts = np.bincount(rid, minlength=nr)
        start = np.cumsum(counts) - counts
        pos = np.arange(len(rid)) - start[rid]
        nxt = start[rid] + (pos + 1) % counts[rid]
        prv = start[rid] + (pos - 1) % counts[rid]
        x0, y0 = x - x[start][rid], y - y[start][rid]  # relative coordinates (precision)
        ex, ey = x0[nxt] - x0, y0[nxt] - y0
        length = np.hypot(ex, ey)
        with np.errstate(invalid="ignore", divide="ignore"):
            ux, uy = ex / length, ey / length
        cross = x0 * y0[nxt] - x0[nxt] * y0
        orient = np.sign(np.bincount(rid, weights=cross, minlength=nr))
        o = orient[rid]
        nx, ny = -uy * o, ux * o  # inward unit normals
        turn = (ex[prv] * ey - ey[prv] * ex) * o
        convex_v = turn >= -1e-12 * length * length[prv]
        denom = 1.0 + nx[prv] * nx + ny[prv] * ny
        with np.errstate(invalid="ignore", divide="ignore"):
            k = distance / denom
            nxv = x + k * (nx[prv] + nx)
            nyv = y + k * (ny[prv] + ny)
        keeps = (nxv[nxt] - nxv) * ex + (nyv[nxt] - nyv) * ey > 0
        good = (length > 0) & convex_v & keeps & (denom > 1e-9) & np.isfinite(nxv) & \
            np.isfinite(nyv)
        bad = np.bincount(rid, weights=~good, minlength=nr) > 0
        bad |= (counts < 3) | (orient == 0)
        ok_ring = ~bad
        vsel = ok_ring[rid]
        fast_x, fast_y = nxv[vsel], nyv[vsel]
        fast_counts = counts[ok_ring]
        fast_poly = ra.ring_poly[uring[ok_ring]]
        done[fast_poly] = True
    # close the fast rings (repeat each first vertex) and build their arrays
    nf = len(fast_counts)
    fstart = np.cumsum(fast_counts) - fast_counts
    closed_counts = fast_counts + 1
    owner, pos = _ranges(closed_counts)
    src = fstart[owner] + np.where(pos == fast_counts[owner], 0, pos)
    fast = RingArrays(n, fast_x[src] if nf else np.zeros(0), fast_y[src] if nf else np.zeros(0),
                      owner.astype(np.int64), fast_poly.astype(np.int64),
                      np.ones(nf, dtype=bool))
    rest = np.flatnonzero(~done)
    slow_geoms = np.full(n, None, dtype=object)
    if len(rest):
        slow_geoms[rest] = shapely.buffer(geoms[rest], -float(distance))
    slow = ring_arrays(slow_geoms)
    return slow.choose(fast, done)
