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
    "iris_qpv_overlap",
}
