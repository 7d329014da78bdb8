"""Conversions between QGIS layers and (Geo)DataFrames, and writing results to Processing sinks.

Reading goes through the ``QgsProcessingFeatureSource`` Processing gives the algorithm, so
"selected features only", feature filters and invalid-geometry settings of the dialog apply.
The GeoDataFrame keeps the layer's CRS (the library reprojects explicitly; a layer without CRS is
refused here with a French message naming the layer) and is indexed by feature id, so results
that keep the caller's index can be joined back to the features.
Writing creates the sink only once the library has returned: a failed or cancelled run leaves
no half-written output.

Geopandas, pandas and shapely are imported inside the functions: the plugin loads (and says what
is missing) even where they are not installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureRequest,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsProcessingException,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QCoreApplication, QDate, QDateTime, QTime, QVariant

from .feedback import cancel_check

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    import pandas as pd


def tr(text: str) -> str:
    return QCoreApplication.translate("qpvgeo", text)


_NUMERIC = {QVariant.Type.Int, QVariant.Type.UInt, QVariant.Type.LongLong,
            QVariant.Type.ULongLong, QVariant.Type.Double}
_INTEGER = {QVariant.Type.Int, QVariant.Type.UInt, QVariant.Type.LongLong,
            QVariant.Type.ULongLong}


# --------------------------------------------------------------------------------------------
# CRS
def crs_to_pyproj(crs: QgsCoordinateReferenceSystem) -> str | None:
    """Return a CRS string pyproj understands ("EPSG:2154" or WKT2), or None when invalid."""
    if crs is None or not crs.isValid():
        return None
    authid = crs.authid()
    if authid.upper().startswith(("EPSG:", "IGNF:", "ESRI:")):
        return authid
    return crs.toWkt(QgsCoordinateReferenceSystem.WktVariant.WKT_PREFERRED)


def crs_from_pyproj(crs: Any) -> QgsCoordinateReferenceSystem:
    """Return the QGIS CRS of a pyproj CRS (or anything pyproj accepts)."""
    if crs is None:
        return QgsCoordinateReferenceSystem()
    from pyproj import CRS

    pcrs = CRS.from_user_input(crs)
    epsg = pcrs.to_epsg(min_confidence=90)
    if epsg is not None:
        out = QgsCoordinateReferenceSystem(f"EPSG:{epsg}")
        if out.isValid():
            return out
    return QgsCoordinateReferenceSystem.fromWkt(pcrs.to_wkt())


def require_crs(source: Any, label: str) -> None:
    """Refuse a layer without CRS with a French message naming it and the fix."""
    if not source.sourceCrs().isValid():
        raise QgsProcessingException(tr(
            "La couche « {} » n'a pas de système de coordonnées de référence (SCR) : qpvgeo "
            "n'en devine jamais. Définissez-le (clic droit sur la couche > Définir le SCR de "
            "la couche, ou le fichier .prj d'un shapefile) puis relancez.").format(label))


# --------------------------------------------------------------------------------------------
# QGIS values -> Python
_PLAIN = {int, float, str, bool, type(None)}


def _py_value(value: Any) -> Any:
    """Turn a QGIS attribute value into a plain Python value (NULL -> None)."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, QVariant):
        return None if value.isNull() else value.value()
    if isinstance(value, QDateTime):
        return value.toPyDateTime() if value.isValid() else None
    if isinstance(value, QDate):
        return value.toPyDate() if value.isValid() else None
    if isinstance(value, QTime):
        return value.toPyTime() if value.isValid() else None
    return value


def _column(values: list[Any], qtype: Any) -> Any:
    """Build a pandas-friendly column: numbers as float with NaN (missing is not 0)."""
    import numpy as np

    if not all(type(v) in _PLAIN for v in values):
        values = [_py_value(v) for v in values]
    if qtype in _NUMERIC:
        if qtype in _INTEGER and None not in values:
            return np.asarray(values, dtype="int64")
        return np.asarray([np.nan if v is None else v for v in values], dtype="float64")
    if qtype == QVariant.Type.Bool:
        if None not in values:
            return np.asarray(values, dtype=bool)
        return np.asarray(values, dtype=object)
    if qtype in (QVariant.Type.Date, QVariant.Type.DateTime):
        import pandas as pd

        return pd.to_datetime(pd.Series(values, dtype=object)).to_numpy()
    if qtype == QVariant.Type.String:
        return np.asarray(values, dtype=object)
    # lists, maps, binary: keep their text form
    return np.asarray([None if v is None else str(v) for v in values], dtype=object)


def _needs_cleaning(wkb_type: Any) -> bool:
    """Whether geometries of this type must be segmentised or lose M before GEOS reads them."""
    return bool(QgsWkbTypes.isCurvedType(wkb_type) or QgsWkbTypes.hasM(wkb_type))


def _geometry_wkb(geom: QgsGeometry, check: bool = True) -> bytes | None:
    """WKB of a QGIS geometry, with curves segmentised and M dropped (GEOS reads the rest)."""
    if geom.isNull():
        return None
    if check and _needs_cleaning(geom.wkbType()):
        wkb_type = geom.wkbType()
        abstract = geom.constGet().segmentize() if QgsWkbTypes.isCurvedType(wkb_type) \
            else geom.constGet().clone()
        abstract.dropMValue()
        geom = QgsGeometry(abstract)
    return bytes(geom.asWkb())


def source_to_frame(
    source: Any, label: str, feedback: Any = None, *, fields: list[str] | None = None,
    geometry: bool = True, require_features: bool = True,
    keep_geometries: dict[int, QgsGeometry] | None = None,
    keep_attributes: dict[int, list[Any]] | None = None,
) -> gpd.GeoDataFrame | pd.DataFrame:
    """Read a Processing feature source into a GeoDataFrame (or a DataFrame for tables).

    Parameters
    ----------
    source
        ``QgsProcessingFeatureSource`` (honours "selected features only") or vector layer.
    label
        Layer name used in messages (the parameter's French description).
    feedback
        ``QgsProcessingFeedback``: reading stops with :class:`qpvgeo.errors.Cancelled` when the
        user cancels.
    fields
        Attribute names to read (all when None); unknown names raise a French error.
    geometry
        Read geometries (a GeoDataFrame in the source CRS) or not (a DataFrame).
    require_features
        Refuse an empty source with a French message.
    keep_geometries
        A dict filled with the original QGIS geometries by feature id (multi-part), to write
        outputs with the input's exact geometry and CRS without converting back.
    keep_attributes
        A dict filled with the raw QGIS attributes (all fields) by feature id, to copy the
        input's attributes to an output unchanged (see :func:`write_frame`).

    Returns
    -------
    GeoDataFrame or DataFrame
        One row per feature in feature-id order, indexed by feature id (index name ``fid``),
        attribute columns named
        as the layer's fields, geometry column ``geometry``.
    """
    import geopandas as gpd
    import pandas as pd
    import shapely

    if source is None:
        raise QgsProcessingException(tr("Couche « {} » introuvable ou illisible.").format(label))
    name = source.sourceName() if hasattr(source, "sourceName") else ""
    if name and name != label:
        label = f"{label} ({name})"
    has_geom = geometry and source.wkbType() not in (QgsWkbTypes.Type.NoGeometry,
                                                    QgsWkbTypes.Type.Unknown)
    if has_geom:
        require_crs(source, label)
    src_fields = source.fields()
    names = [f.name() for f in src_fields] if fields is None else list(fields)
    unknown = [n for n in names if src_fields.lookupField(n) < 0]
    if unknown:
        raise QgsProcessingException(tr("Couche « {} » : champ(s) absent(s) : {} (champs "
                                        "présents : {}).").format(
            label, ", ".join(unknown), ", ".join(f.name() for f in src_fields)))
    indices = [src_fields.lookupField(n) for n in names]
    request = QgsFeatureRequest()
    if fields is not None and keep_attributes is None:
        request.setSubsetOfAttributes(indices)
    if not has_geom:
        request.setFlags(QgsFeatureRequest.Flag.NoGeometry)

    check = cancel_check(feedback)
    clean = has_geom and (_needs_cleaning(source.wkbType())
                          or source.wkbType() == QgsWkbTypes.Type.Unknown)
    ids: list[int] = []
    wkbs: list[bytes | None] = []
    rows: list[list[Any]] = []
    for n, feat in enumerate(source.getFeatures(request)):
        if n % 5000 == 0:
            check()
        fid = feat.id()
        ids.append(fid)
        attrs = feat.attributes()
        rows.append(attrs)
        if keep_attributes is not None:
            keep_attributes[fid] = attrs
        if has_geom:
            geom = feat.geometry()
            wkbs.append(_geometry_wkb(geom, clean))
            if keep_geometries is not None:
                geom.convertToMultiType()
                keep_geometries[fid] = geom
    values = [[row[idx] for row in rows] for idx in indices]
    if require_features and not ids:
        raise QgsProcessingException(tr(
            "La couche « {} » ne contient aucune entité (ou aucune entité sélectionnée quand "
            "« Entités sélectionnées uniquement » est coché).").format(label))
    index = pd.Index(ids, name="fid", dtype="int64")
    data = {name: _column(col, src_fields.at(idx).type())
            for name, col, idx in zip(names, values, indices, strict=True)}
    frame = pd.DataFrame(data, index=index)
    if has_geom:
        frame = gpd.GeoDataFrame(frame, geometry=shapely.from_wkb(wkbs),
                                 crs=crs_to_pyproj(source.sourceCrs()))
    # selected features come in hash order: sort by feature id (the layer's order)
    if not frame.index.is_monotonic_increasing:
        frame = frame.sort_index(kind="stable")
    return frame


def vector_layer(alg: Any, parameters: dict, name: str, context: Any) -> Any:
    """The vector layer behind a feature-source parameter (also given as a definition with
    "selected features only", which ``parameterAsVectorLayer`` does not unwrap in 3.22)."""
    from qgis.core import QgsProcessingFeatureSourceDefinition, QgsProcessingUtils

    value = parameters.get(name)
    if isinstance(value, QgsProcessingFeatureSourceDefinition):
        layer = QgsProcessingUtils.mapLayerFromString(value.source.staticValue(), context)
        if layer is not None:
            return layer
    return alg.parameterAsVectorLayer(parameters, name, context)


def raster_path(layer: Any, label: str) -> str:
    """Path or GDAL connection string of a raster layer read by GDAL."""
    if layer is None:
        raise QgsProcessingException(tr("Raster « {} » introuvable ou illisible.").format(label))
    if layer.name() and layer.name() != label:
        label = f"{label} ({layer.name()})"
    if layer.providerType() != "gdal":
        raise QgsProcessingException(tr(
            "Le raster « {} » n'est pas un fichier lu par GDAL (fournisseur « {} ») : "
            "enregistrez-le d'abord en GeoTIFF (clic droit > Exporter).").format(
            label, layer.providerType()))
    if not layer.crs().isValid():
        raise QgsProcessingException(tr(
            "Le raster « {} » n'a pas de système de coordonnées de référence (SCR) : "
            "définissez-le (Propriétés > Source) puis relancez.").format(label))
    return layer.source()


# --------------------------------------------------------------------------------------------
# DataFrame -> QGIS fields and features
def qgis_field_type(dtype: Any) -> Any:
    """QVariant type for a pandas dtype (text for anything that is not a number/bool/date)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(dtype):
        return QVariant.Type.Bool
    if pd.api.types.is_integer_dtype(dtype):
        return QVariant.Type.LongLong
    if pd.api.types.is_float_dtype(dtype):
        return QVariant.Type.Double
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return QVariant.Type.DateTime
    return QVariant.Type.String


def frame_fields(frame: pd.DataFrame, rename: dict[str, str] | None = None, *,
                 text_widths: bool = False) -> tuple[QgsFields, list[str]]:
    """QGIS fields for the non-geometry columns of ``frame`` (renamed), and those columns.

    With ``text_widths`` each text field gets the length of its longest value in UTF-8 bytes
    (at least 1): a shapefile stores every text field at its declared width, 254 bytes when
    none is given, which makes the .dbf of 50,000 buildings four times larger and its writing
    slower.
    """
    rename = rename or {}
    geom_name = getattr(frame, "_geometry_column_name", None)
    columns = [c for c in frame.columns if c != geom_name]
    fields = QgsFields()
    for col in columns:
        kind = qgis_field_type(frame[col].dtype)
        field = QgsField(rename.get(str(col), str(col)), kind)
        if text_widths and kind == QVariant.Type.String:
            field.setLength(max(1, text_width(frame[col].tolist())))
        fields.append(field)
    return fields, columns


def text_width(values: Any) -> int:
    """Largest UTF-8 length in bytes of the text form of ``values`` (0 when all missing)."""
    values = list(values)  # a generator is read once
    try:
        distinct: Any = set(values)  # few distinct values: checked once each below
    except TypeError:  # unhashable values (QVariant): one by one
        distinct = values
    seen = set()
    for v in distinct:
        if v is None or v != v or (isinstance(v, QVariant) and v.isNull()):
            continue
        seen.add(v if isinstance(v, str) else str(v))
    return max((len(v.encode("utf-8")) for v in seen), default=0)


def narrowed_text_field(field: QgsField, values: Any) -> QgsField:
    """``field`` with the width of its longest value when it is text without a width (see
    :func:`frame_fields`); other fields unchanged."""
    if field.type() != QVariant.Type.String or 0 < field.length() <= 254:
        return field
    out = QgsField(field)
    out.setLength(max(1, text_width(values)))
    return out


def is_shapefile(destination: Any) -> bool:
    """Whether a sink parameter value writes an ESRI shapefile (.shp, or the format chosen)."""
    from qgis.core import QgsProcessingOutputLayerDefinition

    if isinstance(destination, QgsProcessingOutputLayerDefinition):
        fmt = destination.format() if hasattr(destination, "format") else ""
        if fmt:
            return fmt.lower() in ("esri shapefile", "shp")
        destination = destination.sink.staticValue()
    return isinstance(destination, str) and destination.lower().split("|")[0].endswith(".shp")


def column_values(series: pd.Series) -> list[Any]:
    """Python values of a column for QGIS attributes, in bulk: missing (NaN, NA, NaT) -> NULL.

    Numbers, text and booleans come out of ``tolist`` (plain ``int``/``float``/``str``/``bool``
    that sip turns into QVariants with no per-value Python); dates become ``QDateTime``.
    """
    import numpy as np
    import pandas as pd

    mask = series.isna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return [None if m else QDateTime(v.to_pydatetime())
                for v, m in zip(series.tolist(), mask, strict=True)]
    if series.dtype != object:
        if mask.any():  # numbers and booleans with gaps: NULL in one numpy pass
            return series.to_numpy(dtype=object, na_value=None).tolist()
        return series.tolist()
    values = series.tolist()
    if any(issubclass(k, np.generic) for k in set(map(type, values))):
        values = [v.item() if isinstance(v, np.generic) else v for v in values]
    if mask.any():
        values = [None if m else v for v, m in zip(values, mask, strict=True)]
    return values


def multi_type(wkb_type: Any) -> Any:
    """Multi-part version of a QGIS geometry type (outputs accept single and multi parts)."""
    return QgsWkbTypes.multiType(wkb_type)


def frame_wkb_type(frame: gpd.GeoDataFrame) -> Any:
    """Multi geometry type of a GeoDataFrame's geometries (NoGeometry for a plain table)."""
    geom_name = getattr(frame, "_geometry_column_name", None)
    if geom_name is None or geom_name not in frame.columns:
        return QgsWkbTypes.Type.NoGeometry
    kinds = set(frame.geometry.geom_type.dropna().unique())
    if kinds <= {"Point", "MultiPoint"} and kinds:
        return QgsWkbTypes.Type.MultiPoint
    if kinds <= {"LineString", "MultiLineString"} and kinds:
        return QgsWkbTypes.Type.MultiLineString
    return QgsWkbTypes.Type.MultiPolygon


# a cancel request is checked every this many features while writing
CANCEL_EVERY = 10_000


def add_features(sink: Any, rows: list[list[Any]], geometries: Any = None,
                 feedback: Any = None) -> int:
    """Add one feature per attribute row to ``sink``; return the number written.

    Parameters
    ----------
    sink
        ``QgsFeatureSink`` whose fields match the rows (same order and count).
    rows
        Attribute lists (plain Python values, ``None`` for NULL).
    geometries
        Sequence of the same length: ``QgsGeometry``, ISO WKB ``bytes`` or ``None`` (no
        geometry); ``None`` for a table. Geometries are made multi-part (sinks are created with
        the multi type; the memory provider does not convert single parts itself).
    feedback
        ``QgsProcessingFeedback``: a cancel request raises :class:`qpvgeo.errors.Cancelled`
        (checked every :data:`CANCEL_EVERY` features).

    The loop does the least Python per feature: one reused ``QgsFeature`` (its setters detach
    it from the copy the sink keeps), one ``setAttributes`` (sip converts the whole list), the
    WKB decoded by QGIS in C++; the rows and geometries are prepared in bulk by the caller.
    """
    n = len(rows)
    if geometries is None:
        geometries = [None] * n
    elif len(geometries) != n:
        raise ValueError(f"{len(geometries)} geometries for {n} rows")
    feat = QgsFeature()
    add = sink.addFeature
    fast = QgsFeatureSink.Flag.FastInsert
    for start in range(0, n, CANCEL_EVERY):
        if feedback is not None and feedback.isCanceled():
            raise _cancelled()
        for attrs, geom in zip(rows[start:start + CANCEL_EVERY],
                               geometries[start:start + CANCEL_EVERY], strict=True):
            feat.setAttributes(attrs)
            if geom is None:
                feat.clearGeometry()
            else:
                if not isinstance(geom, QgsGeometry):
                    wkb, geom = geom, QgsGeometry()
                    geom.fromWkb(wkb)
                geom.convertToMultiType()
                feat.setGeometry(geom)
            if not add(feat, fast):
                raise QgsProcessingException(tr(
                    "Écriture de la couche de sortie impossible : {}").format(
                    getattr(sink, "lastError", lambda: "")()))
    if feedback is not None and feedback.isCanceled():
        raise _cancelled()
    return n


def frame_geometries(frame: Any) -> Any:
    """ISO WKB of the geometry column of ``frame`` (None for a plain table), in bulk.

    Geometry collections (left by overlays) keep only the parts of the layer's kind, as one
    multi-part geometry.
    """
    import shapely

    geom_name = getattr(frame, "_geometry_column_name", None)
    if geom_name is None or geom_name not in frame.columns:
        return None
    geoms = frame.geometry.values
    collections = frame.geometry.geom_type.to_numpy() == "GeometryCollection"
    if collections.any():  # keep the parts of the sink's kind (polygons from overlays)
        keep = {"MultiPolygon": "Polygon", "MultiLineString": "LineString",
                "MultiPoint": "Point"}[QgsWkbTypes.displayString(frame_wkb_type(frame))]
        geoms = geoms.copy()
        for i in collections.nonzero()[0]:
            parts = [p for p in shapely.get_parts(geoms[i]) if p.geom_type.endswith(keep)]
            geoms[i] = shapely.union_all(parts) if parts else None
    return shapely.to_wkb(geoms, flavor="iso").tolist()


def write_frame(
    sink: Any, frame: pd.DataFrame, columns: list[str], feedback: Any = None, *,
    geometries: dict[int, Any] | list[Any] | None = None,
    base_attributes: dict[int, list[Any]] | list[list[Any]] | None = None,
    base_indices: list[int] | None = None,
) -> int:
    """Write the rows of ``frame`` to ``sink``; return the number of features written.

    Parameters
    ----------
    sink
        ``QgsFeatureSink`` whose fields are the input fields kept (``base_indices``) followed
        by ``columns``.
    frame, columns
        Result rows and the columns written (values converted column by column).
    geometries
        Original geometries (``QgsGeometry`` or ISO WKB), by feature id (a dict keyed by the
        index of ``frame``) or in the order of ``frame``'s rows (a list); else the frame's
        geometry column; a plain DataFrame gives features without geometry.
    base_attributes
        Input attributes written first: raw attribute lists by feature id (a dict, see
        :func:`source_to_frame`), of which ``base_indices`` are kept; or already the kept
        input columns (one per input field, ``base_indices`` kept), in the order of
        ``frame``'s rows (a list of columns).
    """
    from operator import itemgetter

    index = frame.index.tolist()
    cols = [column_values(frame[c]) for c in columns]
    if isinstance(base_attributes, dict):
        if base_indices is None:
            base_rows = [base_attributes[fid] for fid in index]
        else:
            pick = itemgetter(*base_indices) if base_indices else None
            if len(base_indices) == 1:
                j = base_indices[0]
                base_rows = [[base_attributes[fid][j]] for fid in index]
            elif pick is not None:
                base_rows = [pick(base_attributes[fid]) for fid in index]
            else:
                base_rows = [[] for _ in index]
        if cols:
            rows = [[*b, *r] for b, r in zip(base_rows, zip(*cols, strict=True), strict=True)]
        else:
            rows = [list(b) for b in base_rows]
    else:
        base_cols = base_attributes or []
        if base_attributes is not None and base_indices is not None:
            base_cols = [base_attributes[j] for j in base_indices]
        cols = [*base_cols, *cols]
        rows = list(map(list, zip(*cols, strict=True))) if cols else [[] for _ in index]
    if isinstance(geometries, dict):
        geoms: Any = [geometries.get(fid) for fid in index]
    elif geometries is not None:
        geoms = geometries
    else:
        geoms = frame_geometries(frame)
    return add_features(sink, rows, geoms, feedback)


def _cancelled() -> Exception:
    from qpvgeo.errors import Cancelled

    return Cancelled("annulé par l'utilisateur")


def collect_features(source: Any) -> tuple[dict[int, QgsGeometry], dict[int, list[Any]]]:
    """Original geometries (multi-part) and raw attributes of ``source`` by feature id."""
    geometries: dict[int, QgsGeometry] = {}
    attributes: dict[int, list[Any]] = {}
    for feat in source.getFeatures():
        geom = feat.geometry()
        geom.convertToMultiType()
        geometries[feat.id()] = geom
        attributes[feat.id()] = feat.attributes()
    return geometries, attributes


def source_geometries(source: Any, ids: Any | None = None) -> dict[int, QgsGeometry]:
    """Original geometries of ``source`` by feature id (multi-part), optionally only ``ids``."""
    request = QgsFeatureRequest()
    request.setNoAttributes()
    if ids is not None:
        request.setFilterFids([int(i) for i in ids])
    out = {}
    for feat in source.getFeatures(request):
        geom = QgsGeometry(feat.geometry())
        geom.convertToMultiType()
        out[feat.id()] = geom
    return out
