"""QML styles of the output layers, built by the library (``qpvgeo.styles``) from its data.

The heat-loss colours come from the scheme (``HeatLossScheme.table()``), the same colours as the
portrait's maps and GeoPackage. Styles are applied to the layer QGIS loads at the end of the
algorithm and, for GeoPackage outputs, stored as the layer's default style in the file, so the
style follows the file (also when the algorithm runs in ``qgis_process`` or a model).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from qgis.PyQt.QtXml import QDomDocument


def buildings_qml(scheme: Any, label_field: str) -> str:
    """Categorised fill by heat-loss label in the scheme's colours (then grey statuses)."""
    from qpvgeo.styles import buildings_qml as _qml

    return _qml([(c.label, c.colour) for c in scheme.classes], class_col=label_field)


def zones_qml(frame: Any, field: str) -> str:
    """Graduated fill of zones by ``field`` (quantile classes), or an outline without data."""
    from qpvgeo.styles import qpv_qml

    return qpv_qml(frame, field)


def outline_qml(colour: str = "#7a0177", width: float = 0.6) -> str:
    """Outline only."""
    from qpvgeo.styles import outline_qml as _qml

    return _qml(colour, width=width)


def apply_qml(layer: Any, qml: str) -> bool:
    """Apply a QML style to a loaded layer; True on success."""
    doc = QDomDocument()
    doc.setContent(qml)
    ok, _message = layer.importNamedStyle(doc)
    if ok:
        layer.triggerRepaint()
    return bool(ok)


def embed_in_geopackage(path: str, qml: str) -> bool:
    """Store ``qml`` as the default style of the (single) feature table of a GeoPackage."""
    from qpvgeo.styles import embed_styles

    base = path.split("|", 1)[0]
    if not base.lower().endswith(".gpkg"):
        return False
    con = sqlite3.connect(base)
    try:
        tables = [row[0] for row in con.execute(
            "SELECT table_name FROM gpkg_contents WHERE data_type = 'features'")]
    finally:
        con.close()
    layer = None
    if "|layername=" in path:
        layer = path.split("|layername=", 1)[1].split("|", 1)[0]
    elif len(tables) == 1:
        layer = tables[0]
    if layer is None or layer not in tables:
        return False
    embed_styles(base, [(layer, qml)])
    return True
