"""Opening rasters for the statistics engine, with one small interface over two backends.

The statistics code (:mod:`qpvgeo.coverage`, :mod:`qpvgeo.thermography`) only needs a handful of
things from a raster: its size, CRS, affine transform, nodata value, data type, metadata tags and
``read(window)``. :class:`RasterSource` is that interface. Three implementations exist:

- rasterio (the default in the library's environment);
- ``osgeo.gdal`` (QGIS's own bindings, used inside QGIS where installing rasterio is not wanted;
  pick it with ``backend="gdal"`` or the environment variable ``QPVGEO_RASTER_BACKEND=gdal``);
- :class:`InMemoryRaster`, a numpy array with a transform and a CRS (tests, callers who already
  hold the pixels).

Checks done on opening (one typed error each, naming the file and the fix):

- missing or unreadable file → :class:`~qpvgeo.errors.InputFileError`;
- no CRS → :class:`~qpvgeo.errors.MissingCRSError` (pass ``crs=`` to state it; never guessed);
- no georeferencing (identity transform) or a degenerate transform → :class:`RasterError`;
- band out of range → :class:`~qpvgeo.errors.RasterError`.

Rotated, sheared and non-square pixels are accepted: the engine works in pixel coordinates through
the inverse of the affine transform, which maps areas by a constant factor, so coverage fractions
stay exact and areas come from the transform's determinant.

Memory: :func:`row_windows` cuts the raster into full-width strips holding at most
``budget_bytes`` of pixels (default :data:`DEFAULT_BUDGET_BYTES`, 512 MB), so a raster larger than
memory is read strip by strip. The rasterio backend also caps GDAL's block cache
(:data:`GDAL_CACHE_MB`) while the file is open so that the cache does not add a second copy of
each strip to the process memory.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import CRS

from qpvgeo.errors import InputFileError, MissingCRSError, RasterError

__all__ = [
    "DEFAULT_BUDGET_BYTES",
    "GDAL_CACHE_MB",
    "InMemoryRaster",
    "RasterSource",
    "Window",
    "open_raster",
    "read_blocks",
    "row_windows",
]

DEFAULT_BUDGET_BYTES = 512 * 2**20
"""Default pixel budget of one window: 512 MB of raster values."""

GDAL_CACHE_MB = 64
"""GDAL block cache (MB) used by the rasterio backend while a file is open."""

Window = tuple[int, int, int, int]
"""A pixel window ``(row_start, row_stop, col_start, col_stop)``, stops excluded."""


class RasterSource:
    """One band of a georeferenced raster, read window by window.

    Attributes
    ----------
    name : str
        File name (or a label) used in messages.
    width, height : int
        Size in pixels (columns, rows).
    band : int
        Band number (1-based) that :meth:`read` returns.
    crs : pyproj.CRS
        Coordinate reference system of the raster.
    transform : tuple of 6 floats
        Affine transform ``(a, b, c, d, e, f)`` in rasterio/affine order: a pixel corner
        ``(col, row)`` lies at ``x = a*col + b*row + c``, ``y = d*col + e*row + f``.
    nodata : float or None
        Nodata value of the band (NaN pixels of float rasters are always treated as nodata).
    dtype : numpy.dtype
        Data type of the band.
    scale, offset : float
        Band scale and offset (physical value = raw * scale + offset), 1 and 0 when unset.
    tags : dict
        Dataset metadata tags (e.g. ``QPVGEO_SOURCE=illustratif``) merged with the band's.
    block_height, block_width : int
        Natural block size of the band (rows, columns), used to align windows and to read only
        the blocks that polygons touch.
    """

    name: str
    width: int
    height: int
    band: int
    crs: CRS
    transform: tuple[float, float, float, float, float, float]
    nodata: float | None
    dtype: np.dtype[Any]
    scale: float
    offset: float
    tags: dict[str, str]
    block_height: int
    block_width: int

    def read(self, window: Window) -> np.ndarray:
        """Return the pixels of ``window`` as a 2-D array (rows, cols) of :attr:`dtype`."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the file (no-op for in-memory rasters)."""

    def __enter__(self) -> RasterSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Derived properties shared by every backend -------------------------------------------
    @property
    def pixel_area(self) -> float:
        """Area of one pixel in squared CRS units (absolute determinant of the transform)."""
        a, b, _, d, e, _ = self.transform
        return abs(a * e - b * d)

    @property
    def pixel_area_m2(self) -> float | None:
        """Area of one pixel in m², or None when the CRS is not projected in metres."""
        if not self.crs.is_projected:
            return None
        factor = _linear_unit_factor(self.crs)
        return None if factor is None else self.pixel_area * factor * factor

    @property
    def is_rotated(self) -> bool:
        """True when the transform has rotation or shear terms."""
        return self.transform[1] != 0.0 or self.transform[3] != 0.0

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)`` of the raster's footprint in its CRS."""
        a, b, c, d, e, f = self.transform
        xs = [c + a * i + b * j for i in (0, self.width) for j in (0, self.height)]
        ys = [f + d * i + e * j for i in (0, self.width) for j in (0, self.height)]
        return (min(xs), min(ys), max(xs), max(ys))

    def is_valid(self, values: np.ndarray) -> np.ndarray:
        """Boolean mask of the pixels that hold data (not nodata, not NaN)."""
        valid = np.ones(values.shape, dtype=bool)
        if values.dtype.kind == "f":
            valid &= ~np.isnan(values)
        if self.nodata is not None and not (
            isinstance(self.nodata, float) and math.isnan(self.nodata)
        ):
            valid &= values != self.nodata
        return valid


def _linear_unit_factor(crs: CRS) -> float | None:
    """Metres per unit of the first axis of a projected CRS (1.0 for metres)."""
    try:
        axis = crs.axis_info[0]
    except (IndexError, AttributeError):  # pragma: no cover - pyproj always gives axes
        return None
    factor = getattr(axis, "unit_conversion_factor", None)
    return float(factor) if factor else None


def _check_transform(name: str, transform: tuple[float, ...], georeferenced: bool) -> None:
    a, b, _, d, e, _ = transform[:6]
    if not georeferenced:
        raise RasterError(
            f"{name}: the raster has no georeferencing (no geotransform); qpvgeo cannot place "
            "its pixels. Georeference it (QGIS: Raster > Georeferencer, or gdal_translate "
            "-a_ullr ... -a_srs EPSG:2154) and try again"
        )
    det = a * e - b * d
    if not math.isfinite(det) or det == 0.0:
        raise RasterError(
            f"{name}: the raster's geotransform is degenerate ({tuple(transform[:6])}); "
            "fix the georeferencing of the file"
        )


def _resolve_crs(name: str, crs_obj: Any, crs: Any) -> CRS:
    if crs_obj is not None:
        return CRS.from_user_input(crs_obj)
    if crs is None:
        raise MissingCRSError(
            f"{name}: the raster has no coordinate reference system (CRS); qpvgeo does not "
            "guess one. Fix the file (QGIS: Raster > Projections > Assign projection; or "
            "gdal_edit.py -a_srs EPSG:3950 file.tif) or pass crs='EPSG:3950' (the CRS it is in)"
        )
    return CRS.from_user_input(crs)


class _RasterioSource(RasterSource):
    def __init__(self, path: Path, band: int, crs: Any) -> None:
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

        self.name = path.name
        self._env = rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB)
        self._env.__enter__()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                try:
                    ds = rasterio.open(path)
                except RasterioIOError as exc:
                    raise InputFileError(
                        f"{path}: cannot open the raster ({exc}); check that it is a GeoTIFF "
                        "(or another GDAL raster) and that it is not damaged"
                    ) from exc
            self._ds = ds
            if not 1 <= band <= ds.count:
                raise RasterError(
                    f"{self.name}: band {band} requested but the raster has {ds.count} band(s); "
                    f"pass band=1..{ds.count}"
                )
            georef = not (ds.transform.is_identity and ds.crs is None and not ds.gcps[0])
            t = ds.transform
            self.transform = (t.a, t.b, t.c, t.d, t.e, t.f)
            _check_transform(self.name, self.transform, georef)
            self.crs = _resolve_crs(self.name, ds.crs.to_wkt() if ds.crs else None, crs)
            self.width, self.height, self.band = ds.width, ds.height, band
            self.dtype = np.dtype(ds.dtypes[band - 1])
            nd = ds.nodatavals[band - 1]
            self.nodata = None if nd is None else float(nd)
            self.scale = float(ds.scales[band - 1] or 1.0)
            self.offset = float(ds.offsets[band - 1] or 0.0)
            self.tags = {**ds.tags(), **ds.tags(band)}
            self.block_height, self.block_width = (int(v) for v in ds.block_shapes[band - 1])
        except BaseException:
            self.close()
            raise

    def read(self, window: Window) -> np.ndarray:
        from rasterio.windows import Window as RioWindow

        r0, r1, c0, c1 = window
        return np.asarray(
            self._ds.read(self.band, window=RioWindow(c0, r0, c1 - c0, r1 - r0))
        )

    def close(self) -> None:
        ds = getattr(self, "_ds", None)
        if ds is not None:
            ds.close()
            self._ds = None
        env = getattr(self, "_env", None)
        if env is not None:
            env.__exit__(None, None, None)
            self._env = None


def _gdal_call(func: Any, *args: Any) -> tuple[Any, str]:
    """Call an ``osgeo.gdal`` function without touching the process-wide exception mode.

    ``gdal.UseExceptions()`` is global to the process: inside QGIS it would change the behaviour
    of QGIS's own Python code and of other plugins (and the GDAL 3.6 bindings of QGIS 3.22 have
    no scoped ``gdal.ExceptionMgr``). Instead the call runs under GDAL's quiet error handler,
    pushed for this thread only and popped afterwards, and works in either mode: an exception
    (exceptions enabled by someone else) or a ``None`` result (the default mode) is a failure.
    Returns ``(result, "")`` or ``(None, GDAL's error message)``.
    """
    from osgeo import gdal

    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        gdal.ErrorReset()
        try:
            result = func(*args)
        except RuntimeError as exc:
            return None, str(exc) or gdal.GetLastErrorMsg()
        if result is None:
            return None, gdal.GetLastErrorMsg() or "unknown GDAL error"
        return result, ""
    finally:
        gdal.PopErrorHandler()


class _GdalSource(RasterSource):
    def __init__(self, path: Path, band: int, crs: Any) -> None:
        from osgeo import gdal

        self.name = path.name
        ds, error = _gdal_call(gdal.Open, str(path))
        if ds is None:
            raise InputFileError(
                f"{path}: cannot open the raster ({error}); check that it is a GeoTIFF (or "
                "another GDAL raster) and that it is not damaged"
            )
        self._ds = ds
        if not 1 <= band <= ds.RasterCount:
            raise RasterError(
                f"{self.name}: band {band} requested but the raster has {ds.RasterCount} "
                f"band(s); pass band=1..{ds.RasterCount}"
            )
        c, a, b, f, d, e = ds.GetGeoTransform(can_return_null=True) or (0, 1, 0, 0, 0, 1)
        self.transform = (a, b, c, d, e, f)
        wkt = ds.GetProjection() or None
        georef = ds.GetGeoTransform(can_return_null=True) is not None
        _check_transform(self.name, self.transform, georef)
        self.crs = _resolve_crs(self.name, wkt, crs)
        self._band = ds.GetRasterBand(band)
        self.width, self.height, self.band = ds.RasterXSize, ds.RasterYSize, band
        from osgeo import gdal_array

        self.dtype = np.dtype(gdal_array.GDALTypeCodeToNumericTypeCode(self._band.DataType))
        nd = self._band.GetNoDataValue()
        self.nodata = None if nd is None else float(nd)
        self.scale = float(self._band.GetScale() or 1.0)
        self.offset = float(self._band.GetOffset() or 0.0)
        self.tags = {**(ds.GetMetadata() or {}), **(self._band.GetMetadata() or {})}
        bw, bh = self._band.GetBlockSize()
        self.block_height, self.block_width = int(bh), int(bw)

    def read(self, window: Window) -> np.ndarray:
        r0, r1, c0, c1 = window
        pixels, error = _gdal_call(self._band.ReadAsArray, c0, r0, c1 - c0, r1 - r0)
        if pixels is None:
            raise RasterError(
                f"{self.name}: cannot read rows {r0}-{r1}, columns {c0}-{c1} ({error}); the "
                "file may be truncated or damaged: check it with gdalinfo -checksum"
            )
        return np.asarray(pixels)

    def close(self) -> None:
        self._band = None
        self._ds = None


class InMemoryRaster(RasterSource):
    """A raster held as a numpy array, with the same interface as a file.

    Parameters
    ----------
    array : numpy.ndarray
        2-D array (rows, cols) of pixel values; row 0 is the top row when the transform's ``e``
        is negative (north-up), as in GeoTIFF files.
    transform : sequence of 6 floats or affine.Affine
        Affine transform ``(a, b, c, d, e, f)`` (rasterio order), e.g.
        ``rasterio.transform.from_origin(x_left, y_top, xres, yres)``.
    crs : Any
        CRS of the pixels, anything :meth:`pyproj.CRS.from_user_input` accepts; required.
    nodata : float, optional
        Nodata value.
    tags : mapping, optional
        Metadata tags (e.g. ``{"QPVGEO_SOURCE": "illustratif"}``).
    name : str
        Label used in messages.
    scale, offset : float
        Physical value = raw * scale + offset.
    """

    def __init__(
        self, array: np.ndarray, transform: Any, crs: Any, *, nodata: float | None = None,
        tags: Mapping[str, str] | None = None, name: str = "raster en mémoire",
        scale: float = 1.0, offset: float = 0.0,
    ) -> None:
        arr = np.asarray(array)
        if arr.ndim != 2:
            raise RasterError(f"{name}: expected a 2-D array (rows, cols), got shape {arr.shape}")
        self.name = name
        self._array = arr
        self.height, self.width = arr.shape
        self.band = 1
        self.transform = tuple(float(v) for v in tuple(transform)[:6])  # type: ignore[assignment]
        _check_transform(name, self.transform, True)
        self.crs = _resolve_crs(name, crs, None)
        self.dtype = arr.dtype
        self.nodata = None if nodata is None else float(nodata)
        self.scale, self.offset = float(scale), float(offset)
        self.tags = dict(tags or {})
        self.block_height, self.block_width = 1, self.width

    def read(self, window: Window) -> np.ndarray:
        """Return the pixels of ``window`` (a view of the array)."""
        r0, r1, c0, c1 = window
        return self._array[r0:r1, c0:c1]


def open_raster(
    raster: str | os.PathLike[str] | RasterSource, *, band: int = 1, backend: str | None = None,
    crs: Any = None,
) -> RasterSource:
    """Open one band of a raster file behind the :class:`RasterSource` interface.

    Parameters
    ----------
    raster : path or RasterSource
        A GeoTIFF (or any GDAL raster) path, or an already open :class:`RasterSource`, which is
        returned unchanged (the caller keeps closing it).
    band : int
        Band number, 1-based.
    backend : {"rasterio", "gdal"}, optional
        Reading library. Default: the ``QPVGEO_RASTER_BACKEND`` environment variable if set,
        else rasterio when importable, else ``osgeo.gdal``.
    crs : Any, optional
        CRS to assume when the file has none (e.g. ``"EPSG:3950"``); ignored otherwise.

    Returns
    -------
    RasterSource
        Use it as a context manager (``with open_raster(p) as src: ...``) to close the file.

    Raises
    ------
    InputFileError
        The file does not exist or GDAL cannot read it.
    MissingCRSError
        The raster has no CRS and ``crs`` is not given.
    RasterError
        No georeferencing, a degenerate transform or a band out of range.
    """
    if isinstance(raster, RasterSource):
        return raster
    path = Path(os.fspath(raster))
    if not path.exists() and "://" not in str(raster) and not str(raster).startswith("/vsi"):
        raise InputFileError(
            f"{path}: raster file not found; check the path (current folder: {Path.cwd()})"
        )
    choice = (backend or os.environ.get("QPVGEO_RASTER_BACKEND") or "auto").lower()
    if choice == "auto":
        try:
            import rasterio  # noqa: F401

            choice = "rasterio"
        except ImportError:  # pragma: no cover - rasterio is a dependency of the library
            choice = "gdal"
    if choice == "rasterio":
        return _RasterioSource(path, band, crs)
    if choice == "gdal":
        return _GdalSource(path, band, crs)
    raise ValueError(f"backend must be 'rasterio' or 'gdal', not {backend!r}")


def row_windows(
    height: int, width: int, itemsize: int, *, budget_bytes: int = DEFAULT_BUDGET_BYTES,
    block_height: int = 1, rows: tuple[int, int] | None = None,
) -> Iterator[tuple[int, int]]:
    """Cut rows ``[0, height)`` (or ``rows``) into strips of at most ``budget_bytes`` of pixels.

    Parameters
    ----------
    height, width : int
        Raster size in pixels.
    itemsize : int
        Bytes per pixel.
    budget_bytes : int
        Maximum bytes of one strip (at least one row is always returned).
    block_height : int
        Strip heights are rounded down to a multiple of this (the file's block height) when the
        budget allows, so that no block is read twice.
    rows : (int, int), optional
        Row range to cover, stop excluded; default all rows.

    Yields
    ------
    (int, int)
        ``(row_start, row_stop)`` of each strip, top to bottom.
    """
    start, stop = rows if rows is not None else (0, height)
    per_row = max(1, width * itemsize)
    strip = max(1, budget_bytes // per_row)
    if block_height > 1 and strip >= block_height:
        strip -= strip % block_height
    r = start
    while r < stop:
        yield r, min(stop, r + strip)
        r += strip


def read_blocks(
    source: RasterSource, window: Window, boxes: tuple[np.ndarray, np.ndarray, np.ndarray,
                                                        np.ndarray],
) -> np.ndarray:
    """Read the part of ``window`` that the pixel boxes touch, block by block.

    For tiled files, only the blocks (tiles) intersecting at least one box are read, in runs
    of consecutive blocks; the other pixels of the returned array are left uninitialised (they
    are never used). When most blocks are needed, or the file is striped, the window is read in
    one call.

    Parameters
    ----------
    source : RasterSource
        The raster.
    window : Window
        ``(row_start, row_stop, col_start, col_stop)`` to return.
    boxes : tuple of four arrays
        ``(row_start, row_stop, col_start, col_stop)`` of the pixel boxes (inside ``window``).

    Returns
    -------
    numpy.ndarray
        Array of the window's shape; pixels inside every box are read from the file.
    """
    r0, r1, c0, c1 = window
    bh, bw = max(1, source.block_height), max(1, source.block_width)
    if bh == 1 or bw >= c1 - c0:
        return source.read(window)
    br0, bc0 = r0 // bh, c0 // bw
    nbr, nbc = (r1 - 1) // bh - br0 + 1, (c1 - 1) // bw - bc0 + 1
    rb_lo = boxes[0] // bh - br0
    rb_hi = (boxes[1] - 1) // bh - br0
    cb_lo = boxes[2] // bw - bc0
    cb_hi = (boxes[3] - 1) // bw - bc0
    nrow = rb_hi - rb_lo + 1
    ncol = cb_hi - cb_lo + 1
    total = nrow * ncol
    owner = np.repeat(np.arange(len(total)), total)
    pos = np.arange(int(total.sum())) - np.repeat(np.cumsum(total) - total, total)
    occ = np.zeros((nbr, nbc), dtype=bool)
    occ[rb_lo[owner] + pos // ncol[owner], cb_lo[owner] + pos % ncol[owner]] = True
    if occ.mean() > 0.7:
        return source.read(window)
    out = np.empty((r1 - r0, c1 - c0), dtype=source.dtype)
    for i in np.flatnonzero(occ.any(axis=1)):
        row = np.concatenate([[False], occ[i], [False]])
        edges = np.flatnonzero(row[1:] != row[:-1])
        rr0 = max(r0, int(br0 + i) * bh)
        rr1 = min(r1, int(br0 + i + 1) * bh)
        for a, b in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
            cc0 = max(c0, (bc0 + a) * bw)
            cc1 = min(c1, (bc0 + b) * bw)
            out[rr0 - r0:rr1 - r0, cc0 - c0:cc1 - c0] = source.read((rr0, rr1, cc0, cc1))
    return out
