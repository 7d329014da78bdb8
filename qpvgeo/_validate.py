"""Shared input checks: CRS, columns, codes, geometries, emptiness.

Private module: every public function of qpvgeo calls these helpers so that the same fault gets
the same message everywhere. Faults in one call are collected and reported together (one
``SchemaError`` listing every missing column rather than one at a time).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from qpvgeo.errors import (
    CodeFormatError,
    DataQualityWarning,
    DuplicateKeyError,
    EmptyLayerError,
    MissingCRSError,
    SchemaError,
)

LAMBERT93 = CRS.from_epsg(2154)
"""RGF93 / Lambert-93, the working CRS of qpvgeo (metres)."""

# Expected width of each kind of code, and a pattern it must match once normalised.
CODE_PATTERNS: dict[str, tuple[int | None, re.Pattern[str]]] = {
    "commune": (5, re.compile(r"^(\d{5}|2[AB]\d{3})$")),
    "iris": (9, re.compile(r"^(\d{5}|2[AB]\d{3})\d{4}$")),
    "departement": (2, re.compile(r"^(\d{2,3}|2[AB])$")),
    "qpv": (None, re.compile(r"^(QN\d{3}\d{2}[A-Z]|QP\d{3}\d{3})$")),
    "epci": (9, re.compile(r"^\d{9}$")),
}


def layer_name(name: str | None) -> str:
    """Return a label for messages: the file name or a generic word."""
    return name if name else "input layer"


def find_column(
    df: pd.DataFrame, candidates: str | Sequence[str], *, required: bool = False,
    name: str | None = None, hint: str = "",
) -> str | None:
    """Find the first of ``candidates`` among ``df`` columns, matching case-insensitively.

    Returns the actual column name, or ``None`` (or a :class:`SchemaError` when ``required``).
    """
    if isinstance(candidates, str):
        candidates = [candidates]
    lower = {str(c).lower(): c for c in df.columns}
    for cand in candidates:
        if cand.lower() in lower:
            return str(lower[cand.lower()])
    if required:
        raise SchemaError(missing_message(name, list(candidates)[:1], df.columns, hint))
    return None


def missing_message(
    name: str | None, missing: Iterable[str], found: Iterable[Any], hint: str = ""
) -> str:
    """Build the standard 'no column X (found ...)' message."""
    found_list = [str(c) for c in found if str(c) != "geometry"]
    shown = ", ".join(found_list[:25]) + (", …" if len(found_list) > 25 else "")
    miss = ", ".join(missing)
    plural = "s" if len(list(missing)) > 1 else ""
    msg = f"{layer_name(name)}: no column{plural} {miss} (found {shown or 'no column'})"
    return f"{msg}; {hint}" if hint else f"{msg}; rename the column or pass its name explicitly"


def require_columns(
    df: pd.DataFrame, columns: Mapping[str, Sequence[str]] | Sequence[str], *,
    name: str | None = None, hint: str = "",
) -> dict[str, str]:
    """Check that every required column is present (case-insensitive, with aliases).

    Parameters
    ----------
    df
        Table to check.
    columns
        Either a list of column names, or a mapping ``{canonical: [accepted spellings…]}``.
    name
        File or layer name used in the message.
    hint
        Fix suggested in the message.

    Returns
    -------
    dict
        ``{canonical: actual column name}``.

    Raises
    ------
    SchemaError
        Listing every missing column at once.
    """
    spec: Mapping[str, Sequence[str]]
    if isinstance(columns, Mapping):
        spec = columns
    else:
        spec = {c: [c] for c in columns}
    found: dict[str, str] = {}
    missing: list[str] = []
    for canonical, aliases in spec.items():
        col = find_column(df, [canonical, *aliases])
        if col is None:
            missing.append(canonical if not aliases or aliases[0] == canonical else aliases[0])
        else:
            found[canonical] = col
    if missing:
        raise SchemaError(missing_message(name, missing, df.columns, hint))
    return found


def check_not_empty(df: pd.DataFrame, *, name: str | None = None, what: str = "feature") -> None:
    """Raise :class:`EmptyLayerError` when ``df`` has no row."""
    if len(df) == 0:
        raise EmptyLayerError(
            f"{layer_name(name)}: the layer has no {what}; check the file, the layer name or "
            "the filter that was applied"
        )


def to_lambert93(
    gdf: gpd.GeoDataFrame, *, name: str | None = None, crs: Any = None
) -> gpd.GeoDataFrame:
    """Return ``gdf`` in EPSG:2154 (a copy; the input is never modified).

    Parameters
    ----------
    gdf
        Layer in any CRS.
    name
        File or layer name used in messages.
    crs
        CRS to assume when the layer has none (e.g. ``"EPSG:3950"``). Without it, a layer with
        no CRS raises :class:`MissingCRSError`: qpvgeo never guesses a CRS.
    """
    return to_crs(gdf, LAMBERT93, name=name, crs=crs)


def to_crs(
    gdf: gpd.GeoDataFrame, target: Any, *, name: str | None = None, crs: Any = None
) -> gpd.GeoDataFrame:
    """Return a copy of ``gdf`` reprojected to ``target``; see :func:`to_lambert93`."""
    out = gdf.copy()
    if out.crs is None:
        if crs is None:
            raise MissingCRSError(
                f"{layer_name(name)}: the layer has no coordinate reference system (CRS); "
                "qpvgeo does not guess one. Fix the file (e.g. add the .prj of a shapefile, "
                "or in QGIS: Layer > Set CRS) or pass crs='EPSG:2154' (or the CRS it is in)"
            )
        out = out.set_crs(crs)
    target_crs = CRS.from_user_input(target)
    if not CRS.from_user_input(out.crs).equals(target_crs):
        out = out.to_crs(target_crs)
    return out


def repair_geometries(
    gdf: gpd.GeoDataFrame, *, name: str | None = None, polygonal: bool = True
) -> gpd.GeoDataFrame:
    """Repair invalid geometries with ``make_valid`` and drop empty ones, with one warning.

    For polygon layers (``polygonal=True``) only the polygonal parts of a repaired geometry
    are kept (``make_valid`` may return lines along a self-intersection).
    Returns a copy; the index is kept (rows with empty or missing geometry are dropped and
    counted in the warning).
    """
    out = gdf.copy()
    geom = out.geometry.array
    missing = shapely.is_missing(np.asarray(geom)) | shapely.is_empty(np.asarray(geom))
    invalid = ~missing & ~shapely.is_valid(np.asarray(geom))
    n_invalid = int(invalid.sum())
    if n_invalid:
        fixed = shapely.make_valid(np.asarray(geom)[invalid])
        if polygonal:
            fixed = np.array([_polygonal_part(g) for g in fixed], dtype=object)
        values = np.asarray(geom).copy()
        values[invalid] = fixed
        out[out.geometry.name] = gpd.GeoSeries(values, index=out.index, crs=out.crs)
    geom = np.asarray(out.geometry.array)
    drop = shapely.is_missing(geom) | shapely.is_empty(geom)
    n_drop = int(drop.sum())
    if n_invalid or n_drop:
        parts = []
        if n_invalid:
            parts.append(f"{n_invalid} invalid geometr{'y' if n_invalid == 1 else 'ies'} "
                         "repaired with make_valid")
        if n_drop:
            parts.append(f"{n_drop} empty or missing geometr{'y' if n_drop == 1 else 'ies'} "
                         "dropped")
        warnings.warn(f"{layer_name(name)}: " + "; ".join(parts), DataQualityWarning,
                      stacklevel=3)
        out = out.loc[~drop]
    return out


def _polygonal_part(geom: Any) -> Any:
    """Keep the polygonal part of a geometry returned by ``make_valid``."""
    if geom is None or geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    if geom.geom_type == "GeometryCollection":
        polys = [g for g in geom.geoms if g.geom_type in ("Polygon", "MultiPolygon")]
        if not polys:
            return shapely.Polygon()
        return shapely.union_all(polys)
    return shapely.Polygon()


def normalize_codes(
    values: pd.Series, kind: str, *, name: str | None = None, column: str | None = None,
    pad: bool = True, strict: bool = True,
) -> pd.Series:
    """Return codes as clean strings (object dtype), index kept.

    Integers or floats (``62498.0``) are turned into strings; with ``pad`` the leading zeros a
    spreadsheet or a numeric column lost are restored to the code's width (commune 5, IRIS 9),
    with a :class:`DataQualityWarning`. Missing values stay missing.

    Raises
    ------
    CodeFormatError
        When ``strict`` and a value does not match the pattern of ``kind`` once normalised.
    """
    width, pattern = CODE_PATTERNS[kind]
    col = column or str(values.name)
    s = values.astype(object)
    notna = s.notna()

    def _clean(v: Any) -> str:
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            v = int(v)
        return str(v).strip()

    s = s.where(~notna, s[notna].map(_clean) if notna.any() else s)
    s = s.where(s != "", None)
    notna = s.notna()
    if width is not None and pad and notna.any():
        short = notna & (s.astype(str).str.len() < width) & s.astype(str).str.isdigit()
        if short.any():
            s.loc[short] = s.loc[short].astype(str).str.zfill(width)
            warnings.warn(
                f"{layer_name(name)}: column {col} had {int(short.sum())} {kind} code(s) "
                f"shorter than {width} characters (read as numbers?); leading zeros restored. "
                "Read codes as text to avoid this (e.g. dtype=str)",
                DataQualityWarning, stacklevel=3,
            )
    if strict and notna.any():
        bad = notna & ~s.astype(str).str.match(pattern)
        if bad.any():
            examples = ", ".join(map(str, s[bad].unique()[:5]))
            raise CodeFormatError(
                f"{layer_name(name)}: column {col} holds {int(bad.sum())} value(s) that are not "
                f"valid {kind} codes (e.g. {examples}); codes are text such as "
                f"{_EXAMPLES[kind]}: check the column and read it as text"
            )
    return s.astype(object)


_EXAMPLES = {
    "commune": "'62498' or '2A004'",
    "iris": "'624980101'",
    "departement": "'62' or '2A'",
    "qpv": "'QN06224M' (2024) or 'QP062019' (2015)",
    "epci": "'246200364'",
}


def check_string_key(
    df: pd.DataFrame, column: str, kind: str, *, name: str | None = None
) -> None:
    """Refuse a key column stored as numbers (leading zeros possibly lost).

    Used by engine functions that receive DataFrames from the caller (readers repair codes
    themselves; an engine function must not guess).
    """
    if column not in df.columns:
        raise SchemaError(missing_message(name, [column], df.columns))
    if pd.api.types.is_numeric_dtype(df[column]):
        raise CodeFormatError(
            f"{layer_name(name)}: key column {column} is numeric ({df[column].dtype}); "
            f"{kind} codes must be text or leading zeros are lost (e.g. {_EXAMPLES[kind]}). "
            f"Fix: df['{column}'] = df['{column}'].astype(str).str.zfill("
            f"{CODE_PATTERNS[kind][0] or ''}) or read the file with qpvgeo's readers"
        )


def check_unique(df: pd.DataFrame, column: str, *, name: str | None = None) -> None:
    """Raise :class:`DuplicateKeyError` naming duplicated values of ``column``."""
    dup = df[column][df[column].duplicated(keep=False)]
    if len(dup):
        values = ", ".join(map(str, pd.unique(dup)[:10]))
        n = dup.nunique()
        raise DuplicateKeyError(
            f"{layer_name(name)}: column {column} must be unique but {n} value(s) appear more "
            f"than once ({values}); dissolve or deduplicate the rows first"
        )


ILLUSTRATIVE = "illustratif"
"""Value of the ``source`` column (and of the raster tag ``QPVGEO_SOURCE``) of stand-in data."""


def is_illustrative(data: Any) -> bool:
    """Tell whether a layer, table or raster tag set comes from illustrative stand-in data.

    True when ``data`` is a DataFrame whose ``source`` column holds ``"illustratif"`` on any row,
    a mapping of raster tags with ``QPVGEO_SOURCE == "illustratif"``, or a string equal to it.
    """
    if isinstance(data, pd.DataFrame):
        col = find_column(data, "source")
        return bool(col is not None and (data[col].astype(str) == ILLUSTRATIVE).any())
    if isinstance(data, Mapping):
        return str(data.get("QPVGEO_SOURCE", "")).lower() == ILLUSTRATIVE
    if isinstance(data, str):
        return data.lower() == ILLUSTRATIVE
    return False
