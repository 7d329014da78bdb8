"""Private helpers of :mod:`qpvgeo.io`: point datasets (CRS of coordinates, joins, drops)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from qpvgeo import _io_codes as c
from qpvgeo import _io_tables as t
from qpvgeo import _validate as v
from qpvgeo._progress import ProgressCallback
from qpvgeo.errors import CodeFormatError, DataQualityWarning, EmptyLayerError

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


def read_geolocation(
    path: Path, siret: pd.Series, *, progress: ProgressCallback | None = None
) -> pd.DataFrame:
    """Geolocation rows aligned on ``siret`` (index of the stock): x, y, epsg, lon, lat, QPV.

    The file is read in chunks keeping only the establishments of ``siret``.
    """
    p = t.check_file(path)
    label = p.name
    wanted = set(siret.dropna().astype(str))

    def keep(chunk: pd.DataFrame) -> pd.Series:
        col = v.find_column(chunk, "siret", required=True, name=label)
        return chunk[str(col)].str.strip().str.zfill(14).isin(wanted)

    g, _ = t.read_text_table(p, name=label, keep=keep, progress=progress)
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
        "code_qpv": c.qpv_column(g, found["code_qpv"], name=label),
    })
    v.check_unique(table, "siret", name=label)
    aligned = table.set_index("siret").reindex(siret.to_numpy())
    aligned.index = siret.index
    for col in ("x", "y", "lon", "lat"):
        aligned[col] = aligned[col].astype(object).where(aligned[col].notna(), "")
    return aligned


def legal_categories(
    path: Path, siret: pd.Series, *, progress: ProgressCallback | None = None
) -> pd.Series:
    """``categorieJuridiqueUniteLegale`` of each establishment, from ``StockUniteLegale``."""
    p = t.check_file(path)
    label = p.name
    wanted = set(siret.dropna().astype(str).str[:9])

    def keep(chunk: pd.DataFrame) -> pd.Series:
        col = v.find_column(chunk, "siren", required=True, name=label)
        return chunk[str(col)].str.strip().str.zfill(9).isin(wanted)

    u, _ = t.read_text_table(p, name=label, keep=keep, progress=progress)
    found = t.resolve_columns(
        u, {"siren": ("siren",), "cat": ("categorieJuridiqueUniteLegale",)}, name=label,
        required=["siren", "cat"])
    siren = c.pad_digits(u[str(found["siren"])], 9, name=label, column=str(found["siren"]),
                        what="SIREN numbers")
    cats = pd.Series(c.text_column(u, found["cat"]).to_numpy(), index=siren.to_numpy())
    cats = cats[~cats.index.duplicated()]
    out = cats.reindex(siret.astype(str).str[:9].to_numpy())
    return pd.Series(out.to_numpy(), index=siret.index, dtype=object)


def wanted_communes(communes: Iterable[str] | str) -> set[str]:
    """INSEE codes of a ``communes=`` argument, checked (``62498``, ``2A004``; ``1053`` padded)."""
    items = [communes] if isinstance(communes, str) else list(communes)
    out = set()
    for item in items:
        code = str(item).strip()
        code = code.zfill(5) if code.isdigit() else code.upper()
        if not v.CODE_PATTERNS["commune"][1].match(code):
            raise CodeFormatError(
                f"communes=: {item!r} is not an INSEE commune code; give codes such as "
                "'62498' or '2A004'")
        out.add(code)
    if not out:
        raise CodeFormatError("communes= is empty; give INSEE commune codes or None")
    return out


def commune_filter(
    communes: Iterable[str] | str | None, spec: Mapping[str, Sequence[str]],
    columns: Mapping[str, str | None] | None, *, name: str,
) -> Callable[[pd.DataFrame], pd.Series] | None:
    """Row filter keeping the communes asked for, on the reader's commune column."""
    if communes is None:
        return None
    wanted = wanted_communes(communes)
    state: dict[str, str] = {}

    def keep(chunk: pd.DataFrame) -> pd.Series:
        if "col" not in state:
            found = t.resolve_columns(chunk, spec, name=name, required=["insee_com"],
                                      columns=columns)
            state["col"] = str(found["insee_com"])
        vals = chunk[state["col"]].astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
        vals = vals.where(~vals.str.isdigit(), vals.str.zfill(5)).str.upper()
        return vals.isin(wanted)

    return keep
