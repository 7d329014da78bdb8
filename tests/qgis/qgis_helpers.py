"""Plain helpers of the QGIS tests (importable without QGIS)."""

from __future__ import annotations

# Lambert-93 origin of the hand-worked fixtures: whole metres inside the Lens-Liévin area
X0, Y0 = 690_000, 7_036_000


def box_wkt(x0, y0, x1, y1):
    """WKT of an axis-aligned rectangle (coordinates relative to (X0, Y0), metres)."""
    x0, x1, y0, y1 = X0 + x0, X0 + x1, Y0 + y0, Y0 + y1
    return f"POLYGON(({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"


def point_wkt(x, y):
    """WKT of a point (coordinates relative to (X0, Y0), metres)."""
    return f"POINT({X0 + x} {Y0 + y})"

# every algorithm the provider must offer (fixed ids: models and scripts depend on them)
EXPECTED_ALGORITHMS = {
    "building_heat_loss",
    "heat_loss_shares",
    "iris_qpv_overlap",
    "interpolate_iris_qpv",
    "social_housing",
    "health_access",
    "portrait",
}


def write_raster(path, array, *, x0=X0, y_top=None, pixel=1.0, epsg=2154, nodata=None,
                 tags=None):
    """Write a single-band GeoTIFF with QGIS's GDAL; top-left corner at (x0, y_top)."""
    import numpy as np
    from osgeo import gdal, osr

    array = np.asarray(array)
    rows, cols = array.shape
    if y_top is None:
        y_top = Y0 + rows * pixel
    gdal_type = {np.dtype("uint8"): gdal.GDT_Byte, np.dtype("float32"): gdal.GDT_Float32,
                 np.dtype("float64"): gdal.GDT_Float64}[array.dtype]
    ds = gdal.GetDriverByName("GTiff").Create(str(path), cols, rows, 1, gdal_type)
    ds.SetGeoTransform((x0, pixel, 0.0, y_top, 0.0, -pixel))
    if epsg is not None:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(epsg)
        ds.SetProjection(srs.ExportToWkt())
    band = ds.GetRasterBand(1)
    if nodata is not None:
        band.SetNoDataValue(nodata)
    band.WriteArray(array)
    if tags:
        ds.SetMetadata(dict(tags))
    ds.FlushCache()
    ds = None
    return str(path)
