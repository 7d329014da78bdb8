"""Private helpers of :mod:`qpvgeo.io`: opening vector layers (see :func:`qpvgeo.io.read_layer`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from qpvgeo import _io_codes as c
from qpvgeo import _io_tables as t
from qpvgeo import _validate as v
from qpvgeo.errors import EmptyLayerError, InputFileError, SchemaError


def open_layer(
    path: str | Path,
    *,
    layer: str | None,
    crs: Any,
    name: str | None,
    prefer: Sequence[str] = (),
    geom_kind: Literal["polygon", "point", None] = None,
) -> gpd.GeoDataFrame:
    p = t.check_file(path)
    label = name or p.name
    try:
        layers = pyogrio.list_layers(p)
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise InputFileError(
            f"{label}: cannot open as a vector layer ({exc}); check that the file is a "
            "GeoJSON, shapefile (with .shp, .shx, .dbf) or GeoPackage"
        ) from exc
    names = [str(row[0]) for row in layers]
    # attribute tables (QGIS's layer_styles, metadata) are never the layer asked for
    spatial = [str(row[0]) for row in layers if row[1] is not None] or names
    if layer is None:
        if len(spatial) == 1:
            layer = spatial[0]
        else:
            lower = {n.lower(): n for n in spatial}
            layer = next((lower[c.lower()] for c in prefer if c.lower() in lower), None)
            if layer is None:
                raise SchemaError(
                    f"{label}: the file has {len(spatial)} layers ({', '.join(spatial)}); "
                    "pass layer='<name>' to choose one"
                )
    elif layer not in names:
        raise SchemaError(
            f"{label}: no layer {layer!r} (layers: {', '.join(names) or 'none'}); "
            "pass one of these as layer="
        )
    if len(names) > 1:
        label = f"{label}:{layer}"
    try:
        gdf = gpd.read_file(p, layer=layer, engine="pyogrio")
    except Exception as exc:
        raise InputFileError(f"{label}: cannot read the layer ({exc})") from exc
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        raise SchemaError(
            f"{label}: the layer has no geometry; give a spatial layer (a table is read "
            "with read_insee_table or the point readers)"
        )
    v.check_not_empty(gdf, name=label)
    if gdf.geometry.name != "geometry":
        if "geometry" in gdf.columns:
            gdf = gdf.rename(columns={"geometry": "geometry_attr"})
        gdf = gdf.rename_geometry("geometry")
    t.check_declared_crs(gdf.crs, crs, name=label)
    gdf = v.to_lambert93(gdf, name=label, crs=crs)
    gdf = codes_from_numbers(gdf, label)
    types = set(shapely.get_type_id(np.asarray(gdf.geometry.array)[gdf.geometry.notna()]))
    polygonal = bool(types) and types <= {3, 6}
    gdf = v.repair_geometries(gdf, name=label, polygonal=polygonal)
    if len(gdf) == 0:
        raise EmptyLayerError(f"{label}: no feature has a geometry; check the file")
    if geom_kind is not None:
        check_geom_kind(gdf, geom_kind, label)
    return gdf


def check_geom_kind(gdf: gpd.GeoDataFrame, kind: str, label: str) -> None:
    types = gdf.geometry.geom_type
    ok = types.isin(["Polygon", "MultiPolygon"] if kind == "polygon" else ["Point", "MultiPoint"])
    if not ok.all():
        found = ", ".join(sorted(set(types[~ok].astype(str))))
        raise SchemaError(
            f"{label}: expected {kind} geometries but {int((~ok).sum())} feature(s) are {found}; "
            f"give the {kind} layer of the dataset"
        )


def codes_from_numbers(gdf: gpd.GeoDataFrame, label: str) -> gpd.GeoDataFrame:
    """Zero-pad numeric code columns known by name (a shapefile stores INSEE_COM as integer)."""
    for col in gdf.columns:
        kind = c.KNOWN_CODE_COLUMNS.get(str(col).lower())
        if kind and pd.api.types.is_numeric_dtype(gdf[col]):
            gdf[col] = v.normalize_codes(gdf[col], kind, name=label, column=str(col), strict=False)
    return gdf
