"""Private helpers of :mod:`qpvgeo.io`: point datasets (CRS of coordinates, joins, drops)."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from qpvgeo import _io_codes as c
from qpvgeo import _io_tables as t
from qpvgeo import _validate as v
from qpvgeo.errors import DataQualityWarning, EmptyLayerError

_GEOLOC_SPEC: dict[str, tuple[str, ...]] = {
    "siret": ("siret",),
    "x": ("x",),
    "y": ("y",),
    "epsg": ("epsg",),
    "code_qpv": ("plg_qp24",),
    "lon": ("x_longitude",),
    "lat": ("y_latitude",),
}


def row_epsg(
    df: pd.DataFrame, epsg_col: str | None, communes: pd.Series | None, crs: Any
) -> pd.Series:
    """CRS of each row: the EPSG column, else ``crs=``, else Lambert-93 / overseas UTM."""
    if crs is not None:
        from pyproj import CRS

        code = CRS.from_user_input(crs).to_epsg()
        default = pd.Series(code, index=df.index, dtype=object)
    elif communes is not None:
        default = t.default_epsg_by_commune(communes).astype(object)
    else:
        default = pd.Series(2154, index=df.index, dtype=object)
    if epsg_col is None:
        return default
    given = t.text_or_none(df[epsg_col])
    return given.where(given.notna(), default)


def finish_points(
    norm: Mapping[str, Any],
    df: pd.DataFrame,
    used: Iterable[str | None],
    pts: gpd.GeoSeries,
    mask: pd.Series,
    *,
    name: str,
    what: str,
    attrs: dict[str, Any],
) -> gpd.GeoDataFrame:
    n_drop = int((~mask).sum())
    if n_drop == len(df):
        raise EmptyLayerError(
            f"{name}: no {what} has usable coordinates; check the coordinate columns "
            "(or pass columns= to name them)"
        )
    if n_drop:
        warnings.warn(
            f"{name}: {n_drop} {what}(s) out of {len(df)} without coordinates were dropped "
            "(missing, non-diffusible or unreadable X/Y)",
            DataQualityWarning, stacklevel=3,
        )
    keep = df.index[mask.to_numpy()]
    out = t.assemble({k: pd.Series(val, index=df.index).loc[keep] for k, val in norm.items()},
                     df, used, index=keep)
    result = gpd.GeoDataFrame(out, geometry=pts.loc[keep], crs=v.LAMBERT93)
    attrs["dropped_no_coordinates"] = n_drop
    result.attrs["qpvgeo"] = attrs
    return result


def bpe_iris(df: pd.DataFrame, col: str | None, insee: pd.Series, label: str) -> pd.Series:
    if col is None:
        return pd.Series(None, index=df.index, dtype=object)
    s = t.text_or_none(df[col])
    s = s.where(s.isna(), s.astype(str).str.replace("_", "", regex=False))
    unsplit = s.notna() & (s.astype(str).str.len() == 5) & (s == insee)
    s = s.where(~unsplit, s.astype(str) + "0000")
    return v.normalize_codes(s, "iris", name=label, column=col)


def read_geolocation(path: Path, siret: pd.Series) -> pd.DataFrame:
    """Geolocation rows aligned on ``siret`` (index of the stock): x, y, epsg, lon, lat, QPV."""
    p = t.check_file(path)
    label = p.name
    g, _ = t.read_text_table(p, name=label)
    v.check_not_empty(g, name=label, what="row")
    found = t.resolve_columns(g, _GEOLOC_SPEC, name=label, required=["siret", "x", "y"])
    key = c.pad_digits(g[str(found["siret"])], 14, name=label, column=str(found["siret"]),
                      what="SIRET numbers")
    table = pd.DataFrame({
        "siret": key,
        "x": g[str(found["x"])], "y": g[str(found["y"])],
        "epsg": c.text_column(g, found["epsg"]),
        "lon": g[found["lon"]] if found["lon"] else "",
        "lat": g[found["lat"]] if found["lat"] else "",
        "code_qpv": (c.qpv_codes_optional(g[found["code_qpv"]], label, str(found["code_qpv"]))
                     if found["code_qpv"] else None),
    })
    v.check_unique(table, "siret", name=label)
    aligned = table.set_index("siret").reindex(siret.to_numpy())
    aligned.index = siret.index
    for col in ("x", "y", "lon", "lat"):
        aligned[col] = aligned[col].astype(object).where(aligned[col].notna(), "")
    return aligned


def legal_categories(path: Path, siret: pd.Series) -> pd.Series:
    """``categorieJuridiqueUniteLegale`` of each establishment, from ``StockUniteLegale``."""
    p = t.check_file(path)
    label = p.name
    u, _ = t.read_text_table(p, name=label)
    found = t.resolve_columns(
        u, {"siren": ("siren",), "cat": ("categorieJuridiqueUniteLegale",)}, name=label,
        required=["siren", "cat"])
    siren = c.pad_digits(u[str(found["siren"])], 9, name=label, column=str(found["siren"]),
                        what="SIREN numbers")
    cats = pd.Series(c.text_column(u, found["cat"]).to_numpy(), index=siren.to_numpy())
    cats = cats[~cats.index.duplicated()]
    out = cats.reindex(siret.astype(str).str[:9].to_numpy())
    return pd.Series(out.to_numpy(), index=siret.index, dtype=object)
