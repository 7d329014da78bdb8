"""Fast path for large GeoPackage layers: bulk read with OGR's Arrow stream, bulk write in SQL.

Reading 50,000 buildings feature by feature through PyQGIS and writing them back as
``QgsFeature`` objects costs seconds of Python per call; the statistics themselves take less.
When the input is a plain GeoPackage layer (OGR provider, every feature: no selection, no
filter, no feature limit, no per-layer override) this module reads the geometries in one Arrow
batch with QGIS's own GDAL (``osgeo.ogr``, so no second GDAL in the process), and, when the
output is a GeoPackage file too, writes it as a copy of the input table (SQLite backup, or
``gdal.VectorTranslate`` when the input file holds other layers) with the result columns added
and filled by one ``UPDATE … FROM`` — all in C. Anything else goes through the generic
feature-by-feature path of :mod:`.convert`; both give the same attributes and geometries (the
tests run both). Output files are written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from dataclasses import dataclass
from typing import Any

from qgis.core import (
    QgsFeatureRequest,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingUtils,
    QgsProviderRegistry,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QCoreApplication

from . import convert


def tr(text: str) -> str:
    return QCoreApplication.translate("qpvgeo", text)


@dataclass
class OgrLayer:
    """A GeoPackage layer read directly by OGR."""

    path: str
    layer_name: str
    qgis_layer: Any

    @property
    def single_layer_file(self) -> bool:
        """Whether the GeoPackage holds only this feature/attribute table."""
        con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            tables = [r[0] for r in con.execute(
                "SELECT table_name FROM gpkg_contents")]
        finally:
            con.close()
        return tables == [self.layer_name]


def ogr_layer(alg: Any, parameters: dict, name: str, context: Any) -> OgrLayer | None:
    """The GeoPackage layer behind parameter ``name`` when every feature is to be read as is."""
    value = parameters.get(name)
    if isinstance(value, QgsProcessingFeatureSourceDefinition) and (
            value.selectedFeaturesOnly or value.featureLimit != -1 or int(value.flags) != 0):
        return None
    layer = convert.vector_layer(alg, parameters, name, context)
    if layer is None or layer.providerType() != "ogr" or layer.subsetString():
        return None
    wkb = layer.wkbType()
    if QgsWkbTypes.isCurvedType(wkb) or QgsWkbTypes.hasM(wkb) or not layer.crs().isValid():
        return None
    parts = QgsProviderRegistry.instance().decodeUri("ogr", layer.source())
    path = parts.get("path") or ""
    if not path.lower().endswith(".gpkg") or not os.path.isfile(path):
        return None
    if parts.get("layerId") not in (None, "") or parts.get("subset"):
        return None
    from osgeo import ogr

    ds = ogr.Open(path)
    if ds is None:
        return None
    layer_name = parts.get("layerName")
    if not isinstance(layer_name, str) or not layer_name:
        if ds.GetLayerCount() != 1:
            return None
        layer_name = ds.GetLayer(0).GetName()
    if ds.GetLayerByName(layer_name) is None:
        return None
    return OgrLayer(path, layer_name, layer)


def read_frame(src: OgrLayer, label: str, context: Any, fields: list[str] | None) -> Any:
    """GeoDataFrame of ``src`` (feature ids as index, ``fields`` — all when None — and
    geometry, layer CRS).

    Applies the context's invalid-geometry setting like a Processing feature source would.
    """
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import shapely
    from osgeo import ogr

    ds = ogr.Open(src.path)
    lyr = ds.GetLayerByName(src.layer_name)
    defn = lyr.GetLayerDefn()
    names = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
    if fields is None:
        fields = names
    lyr.SetIgnoredFields([n for n in names if n not in fields])
    # masked arrays: NULL stays missing (USE_MASKED_ARRAYS=NO would give 0, "" or 1970-01-01)
    batches = list(lyr.GetArrowStreamAsNumPy())
    fid_col = lyr.GetFIDColumn() or "OGC_FID"
    geom_col = lyr.GetGeometryColumn() or "wkb_geometry"

    def column(key: str) -> Any:
        parts = [_plain(b[key]) for b in batches if key in b]
        if not parts:
            return np.array([], dtype=object)
        if any(p.dtype == object for p in parts):
            parts = [p.astype(object) for p in parts]
        return np.concatenate(parts)

    fids = column(fid_col).astype("int64")
    if len(fids) == 0:
        raise QgsProcessingException(tr("La couche « {} » ne contient aucune entité.").format(
            label))
    geoms = shapely.from_wkb(column(geom_col))
    data = {}
    for f in fields:
        data[f] = column(f)
    frame = gpd.GeoDataFrame(pd.DataFrame(data, index=pd.Index(fids, name="fid")),
                             geometry=geoms, crs=convert.crs_to_pyproj(src.qgis_layer.crs()))
    check = context.invalidGeometryCheck()
    if check != QgsFeatureRequest.InvalidGeometryCheck.GeometryNoCheck:
        invalid = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
        if invalid.any():
            if check == QgsFeatureRequest.InvalidGeometryCheck.GeometrySkipInvalid:
                frame = frame.loc[~invalid]
            else:
                raise QgsProcessingException(tr(
                    "L'entité ({}) de « {} » a une géométrie invalide. Corrigez la géométrie "
                    "ou choisissez « Ignorer les entités invalides » dans les options de "
                    "Traitement.").format(int(fids[np.argmax(invalid)]), label))
    return frame


def _plain(values: Any) -> Any:
    """A numpy array from an Arrow batch column: NULL -> None (object), bytes -> str."""
    import numpy as np

    def decode(items: list[Any]) -> Any:
        return np.array([v.decode("utf-8") if isinstance(v, bytes) else v for v in items],
                        dtype=object)

    if isinstance(values, np.ma.MaskedArray):
        if values.mask is not np.ma.nomask and np.any(values.mask):
            return decode(values.tolist())  # masked cells become None
        values = np.ma.getdata(values)
    values = np.asarray(values)
    if values.dtype.kind in "SO":
        return decode(values.tolist())
    return values


def features_from_frame(frame: Any, fields: Any, fid_name: str = "fid",
                        ) -> tuple[dict[int, Any], dict[int, list[Any]]]:
    """QGIS geometries (multi-part) and attribute lists, in the order of ``fields``, by feature
    id, from a frame read by :func:`read_frame` (for the feature-by-feature writer)."""
    import shapely
    from qgis.core import QgsGeometry

    ids = frame.index.tolist()
    columns = []
    for field in fields:
        name = field.name()
        if name in frame.columns:
            columns.append(convert._series_values(frame[name]))
        elif name.lower() == fid_name.lower():
            columns.append(ids)
        else:
            columns.append([None] * len(ids))
    rows = [list(r) for r in zip(*columns, strict=True)] if columns else [[] for _ in ids]
    geometries = {}
    for fid, wkb in zip(ids, shapely.to_wkb(frame.geometry.values, flavor="iso"), strict=True):
        if wkb is None:
            continue
        geom = QgsGeometry()
        geom.fromWkb(wkb)
        geom.convertToMultiType()
        geometries[fid] = geom
    return geometries, dict(zip(ids, rows, strict=True))


def gpkg_destination(alg: Any, parameters: dict, name: str, context: Any) -> str | None:
    """The GeoPackage file an output goes to, when the fast write can serve it."""
    value = parameters.get(name)
    if isinstance(value, QgsProcessingOutputLayerDefinition):
        fmt = value.format() if hasattr(value, "format") else ""
        if value.createOptions or fmt not in ("", "GPKG"):
            return None
        value = value.sink.staticValue()
    if not isinstance(value, str) or "|" in value or value == "TEMPORARY_OUTPUT":
        return None
    if not value.lower().endswith(".gpkg"):
        return None
    return value


def _sql_type(dtype: Any) -> str:
    """GeoPackage column type for a pandas dtype (as GDAL reads it back)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(dtype):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(dtype):
        return "INTEGER"
    if pd.api.types.is_float_dtype(dtype):
        return "REAL"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "DATETIME"
    return "TEXT"


def _sql_values(series: Any) -> list[Any]:
    """Values for SQLite: missing (NaN, NA, NaT) -> NULL, numpy scalars -> Python."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return [None if pd.isna(v) else v.isoformat() for v in series.tolist()]
    values = series.astype(object).where(series.notna(), None).tolist()
    if series.dtype == object:
        values = [v.item() if isinstance(v, np.generic) else v for v in values]
    return values


def _st_is_empty(blob: bytes | None) -> int | None:
    """GeoPackage ST_IsEmpty: the empty-geometry flag (bit 4) of the blob header."""
    return None if blob is None else int(bool(blob[3] & 0x10))


def _not_available(*_args: Any) -> None:
    raise RuntimeError("geometry changes are not supported while adding columns")


def write_gpkg(src: OgrLayer, dest: str, frame: Any, rename: dict[str, str],
               replace: tuple[str, ...] = ("source",)) -> bool:
    """Write ``dest``: the input table with ``frame``'s columns added (joined on fid).

    The table is copied whole (SQLite backup of a single-layer file, else
    ``gdal.VectorTranslate`` keeping feature ids); the new columns are added with ``ALTER
    TABLE`` and filled by one ``UPDATE … FROM``. The GeoPackage R-tree triggers only act on
    geometry or fid changes, which never happen here; their SQL functions are registered so
    the statements compile (``ST_IsEmpty`` for real, the extent functions refusing to run).
    Input fields named in ``replace`` (``source``) are overwritten with the new values, as the
    feature-by-feature path does. Returns False (nothing written) when another new field name
    clashes with an input field, so the caller falls back to the generic path.
    """
    from osgeo import gdal, ogr

    columns = [c for c in frame.columns if c != "geometry"]
    if not columns or len(frame) == 0:
        return False
    new_names = [rename.get(c, c) for c in columns]
    ds = ogr.Open(src.path)
    lyr = ds.GetLayerByName(src.layer_name)
    defn = lyr.GetLayerDefn()
    existing = {defn.GetFieldDefn(i).GetName().lower() for i in range(defn.GetFieldCount())}
    fid = lyr.GetFIDColumn() or "fid"
    ds = None
    replaced = {n.lower() for n in replace} & existing
    if (existing - replaced) & {n.lower() for n in new_names} or \
            len({n.lower() for n in new_names}) != len(new_names):
        return False
    folder = os.path.dirname(os.path.abspath(dest)) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".qpvgeo-", suffix=".gpkg", dir=folder)
    os.close(fd)
    table = src.layer_name
    try:
        if src.single_layer_file:
            source = sqlite3.connect(f"file:{src.path}?mode=ro", uri=True)
            target = sqlite3.connect(tmp)
            try:
                source.backup(target)
            finally:
                source.close()
                target.close()
        else:
            os.remove(tmp)
            gdal.VectorTranslate(tmp, src.path, options=gdal.VectorTranslateOptions(
                format="GPKG", layers=[table], options=["-preserve_fid"]))
        types = [_sql_type(frame[c].dtype) for c in columns]
        rows = list(zip(frame.index.tolist(), *(_sql_values(frame[c]) for c in columns),
                        strict=True))
        con = sqlite3.connect(tmp)
        try:
            con.create_function("ST_IsEmpty", 1, _st_is_empty)
            for name in ("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY"):
                con.create_function(name, 1, _not_available)
            con.execute("CREATE TEMP TABLE qpvgeo_new (fid INTEGER PRIMARY KEY, " + ", ".join(
                f'"c{i}" {t}' for i, t in enumerate(types)) + ")")
            con.executemany(f"INSERT INTO qpvgeo_new VALUES ({', '.join('?' * len(rows[0]))})",
                            rows)
            for new, kind in zip(new_names, types, strict=True):
                if new.lower() not in replaced:
                    con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{new}" {kind}')
            assignments = ", ".join(f'"{new}" = n."c{i}"' for i, new in enumerate(new_names))
            con.execute(f'UPDATE "{table}" SET {assignments} FROM qpvgeo_new n '
                        f'WHERE n.fid = "{table}"."{fid}"')
            con.commit()
        finally:
            con.close()
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return True


def load_on_completion(parameters: dict, name: str, context: Any, dest: str,
                       title: str) -> None:
    """Register ``dest`` to be added to the project, as a Processing sink would."""
    value = parameters.get(name)
    if isinstance(value, QgsProcessingOutputLayerDefinition) and value.destinationProject:
        details = QgsProcessingContext.LayerDetails(title, value.destinationProject, name,
                                                    QgsProcessingUtils.LayerHint.Vector)
        context.addLayerToLoadOnCompletion(dest, details)
