"""Helpers shared by test modules (imported as ``from _helpers import ...``).

Not in ``conftest.py``: ``from conftest import`` is ambiguous once ``tests/qgis/conftest.py`` is
collected in the same run.
"""

from __future__ import annotations

import pandas as pd


def assert_result(result: pd.DataFrame, expected_index: pd.Index) -> None:
    """Check that a result keeps the caller's index, in order (momepy-style)."""
    pd.testing.assert_index_equal(result.index, expected_index)
