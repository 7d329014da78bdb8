"""Fast path for large file layers: bulk read with OGR's Arrow stream, bulk write in SQL.

Reading 50,000 buildings feature by feature through PyQGIS costs a second of Python; the
statistics themselves take less. When the input is a plain file layer (GeoPackage, shapefile or
FlatGeobuf through the OGR provider, every feature: no selection, no filter, no feature limit,
no per-layer override) this module reads its attributes and geometries in one Arrow batch with
QGIS's own GDAL (``osgeo.ogr``, so no second GDAL in the process): :class:`BulkTable`. The
library gets a GeoDataFrame of it; the output is then written

- to a GeoPackage, from a GeoPackage input: as a copy of the input table (SQLite backup, or
  ``gdal.VectorTranslate`` when the input file holds other layers) with the result columns
  added and filled by one ``UPDATE … FROM``, all in C (:func:`write_gpkg`);
- to anything else (FlatGeobuf, shapefile, memory layer…): through the Processing sink, by the
  feature writer of :mod:`.convert` fed column by column from the Arrow arrays (no
  per-feature conversion in Python, WKB decoded by QGIS).

Other inputs are read feature by feature (:func:`.convert.source_to_frame`); every path gives
the same attributes and geometries (the tests run them side by side). Output files written
here are written under a temporary name and renamed when complete.
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

from . import convert
from .convert import tr

# files whose layers OGR streams as Arrow batches with the feature ids QGIS uses (its OGR
# provider keeps OGR's ids for these drivers); GeoPackage inputs can also be written in SQL
BULK_READ_EXTENSIONS = (".gpkg", ".shp", ".fgb")


@dataclass
class OgrLayer:
    """A file layer read directly by OGR (GeoPackage, shapefile, FlatGeobuf)."""

    path: str
    layer_name: str
    qgis_layer: Any
    encoding: str = "utf-8"

    @property
    def is_gpkg(self) -> bool:
        """Whether the layer is a GeoPackage table (the SQL write needs one)."""
        return self.path.lower().endswith(".gpkg")

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


def _python_codec(name: str) -> str | None:
    """Python's name for a text encoding QGIS names (None when Python does not know it)."""
    import codecs

    try:
        return codecs.lookup(name).name
    except (LookupError, TypeError):
        return None


def ogr_layer(alg: Any, parameters: dict, name: str, context: Any) -> OgrLayer | None:
    """The file layer behind parameter ``name`` when every feature is to be read as is, and OGR
    reads it as QGIS does (None otherwise: the caller reads features through QGIS).

    Refused: selections, filters, feature limits, per-layer overrides, curved or measured
    geometries, layers without CRS, a shapefile whose text encoding Python does not know.
    """
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
    if not path.lower().endswith(BULK_READ_EXTENSIONS) or not os.path.isfile(path):
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
    lyr = ds.GetLayerByName(layer_name)
    if lyr is None:
        return None
    encoding: str | None = "utf-8"
    if path.lower().endswith(".shp") and not lyr.TestCapability(ogr.OLCStringsAsUTF8):
        # QGIS opens shapefiles with OGR's recoding off (SHAPE_ENCODING="") and decodes the
        # text itself with the layer's encoding (.cpg, LDID or set by hand): the same here
        encoding = _python_codec(layer.dataProvider().encoding())
        if encoding is None:
            return None
    return OgrLayer(path, layer_name, layer, encoding)


@dataclass
class BulkTable:
    """Every feature of a GeoPackage layer read in one Arrow batch (see :func:`read_table`).

    ``columns`` hold plain numpy arrays (NULL as None in object arrays, text decoded), ``wkb``
    the ISO WKB of each geometry as OGR gives it (None for a missing geometry), ``fids`` the
    feature ids (QGIS's ids for OGR layers). ``valid`` marks the rows kept by the context's
    invalid-geometry setting.
    """

    fids: Any
    columns: dict[str, Any]
    wkb: Any
    crs: str | None
    fid_name: str = "fid"
    valid: Any = None

    def frame(self, fields: list[str] | None = None) -> Any:
        """GeoDataFrame of the kept rows: feature ids as index (``fid``), ``fields`` (all when
        None), geometry in the layer CRS."""
        import geopandas as gpd
        import pandas as pd

        names = list(self.columns) if fields is None else fields
        keep = self.valid
        data = {f: self.columns[f] if keep is None else self.columns[f][keep] for f in names}
        fids = self.fids if keep is None else self.fids[keep]
        geoms = self.geometries if keep is None else self.geometries[keep]
        return gpd.GeoDataFrame(pd.DataFrame(data, index=pd.Index(fids, name="fid")),
                                geometry=geoms, crs=self.crs)

    @property
    def geometries(self) -> Any:
        """Shapely geometries of every row (decoded once)."""
        import shapely

        if getattr(self, "_geoms", None) is None:
            self._geoms = shapely.from_wkb(self.wkb)
        return self._geoms

    def features(self, fields: Any, index: Any) -> tuple[list[Any], list[list[Any]]]:
        """ISO WKB of each row and the input columns in the order of the QGIS ``fields``, for
        the rows ``index`` (feature ids, the result's index) — for the feature writer
        (:func:`.convert.write_frame`), built column by column without per-feature Python."""
        import numpy as np

        fids = self.fids if self.valid is None else self.fids[self.valid]
        ids = np.asarray(index, dtype="int64")
        if len(ids) == len(fids) and np.array_equal(ids, fids):
            take: Any = self.valid  # the result keeps the table's rows in order
        else:
            position = {fid: i for i, fid in enumerate(self.fids.tolist())}
            take = np.array([position[fid] for fid in ids.tolist()], dtype="int64")
        columns = []
        for field in fields:
            name = field.name()
            if name in self.columns:
                values = self.columns[name] if take is None else self.columns[name][take]
                if values.dtype.kind == "M":
                    values = values.astype(object)
                items = values.tolist()
                if values.dtype == object and _holds_dates(items):
                    items = [None if v is None else _qt_date(v) for v in items]
                columns.append(items)
            elif name.lower() == self.fid_name.lower():
                columns.append(ids.tolist())
            else:
                columns.append([None] * len(ids))
        wkb = (self.wkb if take is None else self.wkb[take]).tolist()
        return wkb, columns


def _holds_dates(items: list[Any]) -> bool:
    """Whether a column's values are dates (its first non-NULL value tells)."""
    import datetime

    first = next((v for v in items if v is not None), None)
    return isinstance(first, (datetime.date, datetime.time))


def _qt_date(value: Any) -> Any:
    """QDate / QDateTime of a Python date or datetime (from a datetime64 column)."""
    import datetime

    from qgis.PyQt.QtCore import QDate, QDateTime, QTime

    if isinstance(value, datetime.datetime):
        return QDateTime(value)
    if isinstance(value, datetime.date):
        return QDate(value)
    if isinstance(value, datetime.time):
        return QTime(value)
    return value


def read_table(src: OgrLayer, label: str, context: Any, fields: list[str] | None = None,
               ) -> BulkTable:
    """Read ``fields`` (all when None) and the geometries of ``src`` in one Arrow batch with
    QGIS's GDAL.

    Applies the context's invalid-geometry setting like a Processing feature source would
    (skipped rows are marked in ``valid``; "stop" raises a French error naming the feature).
    """
    import numpy as np
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
        parts = [_plain(b[key], src.encoding) for b in batches if key in b]
        if not parts:
            return np.array([], dtype=object)
        if any(p.dtype == object for p in parts):
            parts = [p.astype(object) for p in parts]
        return np.concatenate(parts)

    fids = column(fid_col).astype("int64")
    if len(fids) == 0:
        raise QgsProcessingException(tr("La couche « {} » ne contient aucune entité.").format(
            label))
    items = [w for b in batches if geom_col in b for w in _wkb_list(b[geom_col])]
    wkb = np.empty(len(fids), dtype=object)
    wkb[:] = items if len(items) == len(fids) else None
    columns = {f: column(f) for f in fields}
    if not src.is_gpkg:
        dates = [f for f in fields if defn.GetFieldDefn(defn.GetFieldIndex(f)).GetType()
                 == ogr.OFTDate and _may_be_shifted(columns[f])]
        if dates:  # OGR's generic Arrow stream dates before 1970 a day late: read as features
            lyr.SetIgnoredFields([n for n in names if n not in dates] + ["OGR_GEOMETRY"])
            columns.update(_ogr_dates(lyr, dates, len(fids)))
    table = BulkTable(fids, columns, wkb, convert.crs_to_pyproj(src.qgis_layer.crs()), fid_col)
    check = context.invalidGeometryCheck()
    if check != QgsFeatureRequest.InvalidGeometryCheck.GeometryNoCheck:
        geoms = table.geometries
        invalid = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
        if invalid.any():
            if check == QgsFeatureRequest.InvalidGeometryCheck.GeometrySkipInvalid:
                table.valid = ~invalid
            else:
                raise QgsProcessingException(tr(
                    "L'entité ({}) de « {} » a une géométrie invalide. Corrigez la géométrie "
                    "ou choisissez « Ignorer les entités invalides » dans les options de "
                    "Traitement.").format(int(fids[np.argmax(invalid)]), label))
    return table


def _may_be_shifted(values: Any) -> bool:
    """Whether a date column read from OGR's generic Arrow stream may hold a wrong date.

    GDAL 3.6's generic stream (shapefiles, not GeoPackages) gives every date before
    1970-01-01 one day late (1961-05-02 comes out as 1961-05-03, 1969-12-31 as 1970-01-01);
    later dates are right. A column with no date up to 1970-01-01 is therefore exact.
    """
    import datetime

    import numpy as np

    if values.dtype.kind == "M":
        return bool((values <= np.datetime64("1970-01-01")).any())
    epoch = datetime.date(1970, 1, 1)
    return any(v is not None and v <= epoch for v in values.tolist())


def _ogr_dates(lyr: Any, names: list[str], count: int) -> dict[str, Any]:
    """Date fields ``names`` of every feature of ``lyr``, read feature by feature in the order
    of the Arrow stream (``datetime.date``, None for NULL)."""
    import datetime

    import numpy as np

    defn = lyr.GetLayerDefn()
    index = [defn.GetFieldIndex(n) for n in names]
    out: dict[str, list[Any]] = {n: [] for n in names}
    lyr.ResetReading()
    for feat in lyr:
        for name, i in zip(names, index, strict=True):
            if feat.IsFieldSetAndNotNull(i):
                y, m, d = feat.GetFieldAsDateTime(i)[:3]
                out[name].append(datetime.date(y, m, d))
            else:
                out[name].append(None)
    lyr.ResetReading()
    result = {}
    for name, items in out.items():
        if len(items) != count:
            raise QgsProcessingException(tr(
                "Lecture des dates du champ « {} » incohérente ({} valeurs pour {} entités)."
            ).format(name, len(items), count))
        array = np.empty(count, dtype=object)
        array[:] = items
        result[name] = array
    return result


def read_frame(src: OgrLayer, label: str, context: Any, fields: list[str] | None) -> Any:
    """GeoDataFrame of ``src`` (feature ids as index, ``fields`` — all when None — and
    geometry, layer CRS); see :func:`read_table`."""
    return read_table(src, label, context, fields).frame()


def _wkb_list(values: Any) -> list[bytes | None]:
    """The WKB of an Arrow batch's geometry column as ``bytes`` (None where missing).

    OGR gives a fixed-width ``void`` array when every geometry has the same size, else an
    object array of ``bytes``; missing geometries are masked.
    """
    import numpy as np

    mask = None
    if isinstance(values, np.ma.MaskedArray):
        if values.mask is not np.ma.nomask and np.any(values.mask):
            mask = np.ma.getmaskarray(values)
        values = np.ma.getdata(values)
    items = [None if v is None else bytes(v) for v in np.asarray(values).tolist()]
    if mask is not None:
        items = [None if m else v for v, m in zip(items, mask.tolist(), strict=True)]
    return items


def _plain(values: Any, encoding: str = "utf-8") -> Any:
    """A numpy array from an Arrow batch column: NULL -> None (object), bytes -> str (in
    ``encoding``, undecodable bytes replaced as QGIS does)."""
    import numpy as np

    def decode(items: list[Any]) -> Any:
        return np.array([v.decode(encoding, "replace") if isinstance(v, bytes) else v
                         for v in items], dtype=object)

    if isinstance(values, np.ma.MaskedArray):
        if values.mask is not np.ma.nomask and np.any(values.mask):
            return decode(values.tolist())  # masked cells become None
        values = np.ma.getdata(values)
    values = np.asarray(values)
    if values.dtype.kind in "SO":
        return decode(values.tolist())
    return values


def gpkg_destination(alg: Any, parameters: dict, name: str, context: Any) -> str | None:
    """The GeoPackage file an output goes to, when the fast write can serve it.

    The toolbox dialog always puts the text encoding in ``createOptions``
    (``{"fileEncoding": ...}``): a GeoPackage is UTF-8 whatever it says, so that option alone
    keeps the fast write; any other creation option, a field remapping (appending to an
    existing layer) or a layer inside a file (``ogr:`` or ``|layername=``) does not.
    """
    value = parameters.get(name)
    if isinstance(value, QgsProcessingOutputLayerDefinition):
        fmt = value.format() if hasattr(value, "format") else ""
        options = {k: v for k, v in dict(value.createOptions or {}).items()
                   if k != "fileEncoding"}
        if options or fmt not in ("", "GPKG") or (
                hasattr(value, "useRemapping") and value.useRemapping()):
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


# GeoPackage single geometry types promoted to multi-part, as the Processing sink writes them
_MULTI_TYPE_NAMES = {"POINT": "MULTIPOINT", "LINESTRING": "MULTILINESTRING",
                     "POLYGON": "MULTIPOLYGON"}


def _multi_blob(blob: bytes | None) -> bytes | None:
    """A GeoPackage geometry blob of a point, line or polygon as a one-part multi-geometry.

    The header (and its envelope) is kept; the ISO WKB is wrapped (type + 3, one part; no
    part for an empty geometry). Other geometries are returned unchanged.
    """
    import struct

    if blob is None or len(blob) < 8 or blob[:2] != b"GP":
        return blob
    flags = blob[3]
    header = 8 + {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}.get((flags >> 1) & 0x07, 0)
    wkb = blob[header:]
    if len(wkb) < 5:
        return blob
    order = "<" if wkb[0] == 1 else ">"
    (code,) = struct.unpack(order + "I", wkb[1:5])
    if (code & 0x0FFFFFFF) % 1000 not in (1, 2, 3):
        return blob
    parts = 0 if flags & 0x10 else 1
    return blob[:header] + wkb[:1] + struct.pack(order + "II", code + 3, parts) + \
        (wkb if parts else b"")


def write_gpkg(src: OgrLayer, dest: str, frame: Any, rename: dict[str, str],
               replace: tuple[str, ...] = ("source",)) -> bool:
    """Write ``dest``: the input table with ``frame``'s columns added (joined on fid).

    The table is copied whole (SQLite backup of a single-layer file, else
    ``gdal.VectorTranslate`` keeping feature ids); the new columns are added with ``ALTER
    TABLE`` and filled by one ``UPDATE … FROM``. The GeoPackage R-tree triggers only act on
    geometry or fid changes, which never happen here; their SQL functions are registered so
    the statements compile (``ST_IsEmpty`` for real, the extent functions refusing to run).
    Input fields named in ``replace`` (``source``) are overwritten with the new values, as the
    feature-by-feature path does. Single points, lines or polygons become one-part
    multi-geometries, as the Processing sink writes them (in the same UPDATE, the R-tree update
    triggers set aside: the envelopes do not change). The table keeps the input layer's name
    (the sink names it after the file). Returns False (nothing written) when another new
    field name clashes with an input field, so the caller falls back to the generic path.
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
            con.create_function("qpvgeo_multi", 1, _multi_blob, deterministic=True)
            con.execute("CREATE TEMP TABLE qpvgeo_new (fid INTEGER PRIMARY KEY, " + ", ".join(
                f'"c{i}" {t}' for i, t in enumerate(types)) + ")")
            con.executemany(f"INSERT INTO qpvgeo_new VALUES ({', '.join('?' * len(rows[0]))})",
                            rows)
            for new, kind in zip(new_names, types, strict=True):
                if new.lower() not in replaced:
                    con.execute(f'ALTER TABLE "{table}" ADD COLUMN "{new}" {kind}')
            assignments = [f'"{new}" = n."c{i}"' for i, new in enumerate(new_names)]
            geom_col, geom_type = con.execute(
                "SELECT column_name, geometry_type_name FROM gpkg_geometry_columns "
                "WHERE table_name = ?", (table,)).fetchone()
            multi = _MULTI_TYPE_NAMES.get(str(geom_type).upper())
            triggers = []
            if multi is not None:
                # the R-tree update triggers would recompute unchanged envelopes: set aside
                triggers = con.execute(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND "
                    "tbl_name = ? AND sql LIKE '%UPDATE%'", (table,)).fetchall()
                for name, _sql in triggers:
                    con.execute(f'DROP TRIGGER "{name}"')
                assignments.append(f'"{geom_col}" = qpvgeo_multi("{geom_col}")')
                con.execute("UPDATE gpkg_geometry_columns SET geometry_type_name = ? "
                            "WHERE table_name = ?", (multi, table))
                _declare_column_type(con, table, geom_col, str(geom_type), multi)
            con.execute(f'UPDATE "{table}" SET {", ".join(assignments)} FROM qpvgeo_new n '
                        f'WHERE n.fid = "{table}"."{fid}"')
            for _name, sql in triggers:
                con.execute(sql)
            con.commit()
        finally:
            con.close()
        from qpvgeo._atomic import usual_permissions

        usual_permissions(tmp)  # mkstemp creates 0600
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return True


def _declare_column_type(con: Any, table: str, column: str, old: str, new: str) -> None:
    """Change the declared type of a geometry column (``"geom" POLYGON`` → ``MULTIPOLYGON``),
    which GDAL checks against ``gpkg_geometry_columns``.

    SQLite cannot alter a column type; the declaration is edited in the schema, which SQLite
    allows when the on-disk format does not change: each single/multi pair has the same
    column affinity (POINT/MULTIPOINT integer, the others numeric), checked here.
    """
    import re

    def affinity(name: str) -> str:
        name = name.upper()
        return "INTEGER" if "INT" in name else "NUMERIC"

    if affinity(old) != affinity(new):
        raise RuntimeError(f"{old} and {new} columns differ in affinity")
    (sql,) = con.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                         (table,)).fetchone()
    pattern = re.compile(r'("' + re.escape(column) + r'"\s+)' + re.escape(old) + r"\b",
                         re.IGNORECASE)
    changed, count = pattern.subn(lambda m: m.group(1) + new, sql, count=1)
    if count != 1:
        raise RuntimeError(f"geometry column {column!r} not found in {sql!r}")
    (version,) = con.execute("PRAGMA schema_version").fetchone()
    con.execute("PRAGMA writable_schema = ON")
    con.execute("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
                (changed, table))
    con.execute(f"PRAGMA schema_version = {int(version) + 1}")
    con.execute("PRAGMA writable_schema = OFF")


def load_on_completion(parameters: dict, name: str, context: Any, dest: str,
                       title: str) -> None:
    """Register ``dest`` to be added to the project, as a Processing sink would."""
    value = parameters.get(name)
    if isinstance(value, QgsProcessingOutputLayerDefinition) and value.destinationProject:
        details = QgsProcessingContext.LayerDetails(title, value.destinationProject, name,
                                                    QgsProcessingUtils.LayerHint.Vector)
        context.addLayerToLoadOnCompletion(dest, details)
