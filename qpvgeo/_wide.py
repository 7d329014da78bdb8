"""Helpers shared by the wide indicator tables (``k``, ``k_num``, ``k_den``, ``k_origin``…)."""

from __future__ import annotations

import pandas as pd

from qpvgeo import _validate
from qpvgeo._catalogue import Indicator
from qpvgeo.errors import SchemaError

_SUFFIXES = ("num", "den", "origin", "source", "vintage", "method", "is_estimate",
             "missing_reason")
_ID_CANDIDATES = ("code_qpv", "code_iris", "insee_com", "siren_epci", "code")
_NAME_CANDIDATES = ("nom_qpv", "nom_iris", "nom_com", "nom_epci", "nom", "name")


def _row_sources(table: pd.DataFrame, source: str | None) -> pd.Series:
    """Source label per row: explicit argument, else ``source`` column, else attrs."""
    if source is not None:
        return pd.Series(source, index=table.index, dtype=object)
    col = _validate.find_column(table, "source")
    if col is not None:
        return table[col].astype(object).where(table[col].notna(), "")
    attrs = table.attrs.get("qpvgeo", {}) if isinstance(table.attrs, dict) else {}
    return pd.Series(str(attrs.get("source") or ""), index=table.index, dtype=object)


_ILLUSTRATIVE_SUFFIX = " (données illustratives)"


def _is_illustrative_source(text: str) -> bool:
    """Whether a source label marks illustrative stand-in data."""
    return text.startswith(_validate.ILLUSTRATIVE) or text.endswith(_ILLUSTRATIVE_SUFFIX)


def _bare(frame: pd.DataFrame) -> pd.DataFrame:
    """Shallow copy without ``attrs``, for working copies.

    pandas deep-copies a frame's ``attrs`` into every derived frame: thousands of copies of
    provenance dictionaries in the loops over indicators and zones.
    """
    if not getattr(frame, "attrs", None):
        return frame
    out = frame.copy(deep=False)
    out.attrs = {}
    return out


def _source_text(ind: Indicator, file_source: str) -> str:
    if not file_source:
        return ind.source_label
    if file_source == _validate.ILLUSTRATIVE:
        return f"{ind.source_label}{_ILLUSTRATIVE_SUFFIX}"
    return f"{ind.source_label} — {file_source}"


def _wide_columns(table: pd.DataFrame, ind: Indicator, what: str) -> None:
    needed = [ind.key] + [f"{ind.key}_{s}" for s in _SUFFIXES]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise SchemaError(
            f"{what}: no columns for indicator {ind.key} ({', '.join(missing[:3])}…); build it "
            "with zone_indicators/territory_indicators/compute_indicators including this "
            "indicator")


def _mode_int(s: pd.Series) -> int | None:
    s = pd.to_numeric(s, errors="coerce").dropna()
    if s.empty:
        return None
    return int(s.mode().iloc[0])
