"""Helpers shared by test modules (imported as ``from _helpers import ...``).

Not in ``conftest.py``: ``from conftest import`` is ambiguous once ``tests/qgis/conftest.py`` is
collected in the same run.
"""

from __future__ import annotations

import pandas as pd
import shapely

# origin of the small hand-worked cases, in Lambert-93 (m): coordinates are written from it
X0, Y0 = 700_000.0, 6_600_000.0


def assert_result(result: pd.DataFrame, expected_index: pd.Index) -> None:
    """Check that a result keeps the caller's index, in order (momepy-style)."""
    pd.testing.assert_index_equal(result.index, expected_index)


def sq(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    """Rectangle x0..x1 × y0..y1 (m from X0, Y0)."""
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def pt(x: float, y: float) -> shapely.Point:
    """Point at (x, y) m from X0, Y0."""
    return shapely.Point(X0 + x, Y0 + y)
