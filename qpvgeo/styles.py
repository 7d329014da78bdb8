"""QGIS styles (QML) for the portrait's GeoPackage, embedded in its ``layer_styles`` table.

QGIS opens a GeoPackage layer with the style of the ``layer_styles`` row whose
``f_table_name`` is the layer and ``useAsDefault`` is true (the table QGIS itself writes with
"Save as default" in a GeoPackage). :func:`embed_styles` creates that table with QGIS's columns
and registers it in ``gpkg_contents`` as an attributes table. The QML is plain XML written here
(no QGIS needed): a categorised fill for buildings by heat-loss label in the scheme's colours, a
graduated fill for the QPV indicator, and outlines.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd

__all__ = ["buildings_qml", "embed_styles", "outline_qml", "qpv_qml"]

_HEAD = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" \
        '<qgis version="3.22.0" styleCategories="Symbology">\n'


def _rgba(colour: str, alpha: int = 255) -> str:
    c = colour.lstrip("#")
    r, g, b = int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
    return f"{r},{g},{b},{alpha}"


def _fill_symbol(name: str, fill: str | None, outline: str, width: float,
                 fill_alpha: int = 255) -> str:
    style = "solid" if fill else "no"
    props = {
        "color": _rgba(fill or "#ffffff", fill_alpha if fill else 0),
        "outline_color": _rgba(outline), "outline_style": "solid",
        "outline_width": f"{width:g}", "outline_width_unit": "MM", "style": style,
        "joinstyle": "bevel",
    }
    opts = "".join(f'<Option type="QString" name="{k}" value="{v}"/>' for k, v in props.items())
    legacy = "".join(f'<prop k="{k}" v="{v}"/>' for k, v in props.items())
    return (f'<symbol type="fill" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">'
            f'<layer class="SimpleFill" enabled="1" pass="0" locked="0">'
            f'<Option type="Map">{opts}</Option>{legacy}</layer></symbol>')


def buildings_qml(classes: Sequence[tuple[str, str]], *, class_col: str = "heatloss_label",
                  unclassified: Sequence[str] = ("non classé", "non mesuré")) -> str:
    """Categorised fill by heat-loss label: one category per ``(label, colour)``, then grey."""
    cats, syms = [], []
    items = [*list(classes), *[(u, "#9e9e9e") for u in unclassified]]
    for i, (label, colour) in enumerate(items):
        text = f"Déperditions {label}" if i < len(classes) else str(label).capitalize()
        cats.append(f'<category symbol="{i}" value={quoteattr(str(label))} '
                    f'label={quoteattr(text)} render="true"/>')
        # outline in the fill colour: small roofs keep their class colour at every scale
        syms.append(_fill_symbol(str(i), colour, colour, 0.0))
    return (_HEAD + f'<renderer-v2 type="categorizedSymbol" attr={quoteattr(class_col)} '
            'symbollevels="0" enableorderby="0" forceraster="0">'
            f'<categories>{"".join(cats)}</categories><symbols>{"".join(syms)}</symbols>'
            '</renderer-v2></qgis>\n')


_RAMP = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"]


def qpv_qml(layer: pd.DataFrame, indicator: str | None, *, k: int = 5,
            breaks: Sequence[float] | None = None, colours: Sequence[str] | None = None) -> str:
    """Graduated fill of the QPV by ``indicator``, or an outline style.

    Parameters
    ----------
    layer, indicator
        The QPV table and the indicator column.
    k
        Number of quantile classes when ``breaks`` is not given.
    breaks
        Upper bounds of the classes (the web map's classes, so both agree); the first class
        starts at the minimum value.
    colours
        One colour per class (default: a yellow-to-red ramp).

    Returns
    -------
    str
        The QML text; range labels are French (``27,0 % – 53,5 %`` for shares).
    """
    from qpvgeo._format import fmt, indicator_unit

    if not indicator or indicator not in layer.columns:
        return outline_qml("#7a0177", width=0.6)
    v = pd.to_numeric(layer[indicator], errors="coerce").dropna().to_numpy(dtype=float)
    if v.size == 0:
        return outline_qml("#7a0177", width=0.6)
    if breaks is not None and len(breaks):
        edges = np.array([float(v.min()), *[float(b) for b in breaks]])
    else:
        edges = np.unique(np.quantile(v, np.linspace(0, 1, k + 1)))
    if edges.size == 1:
        edges = np.array([edges[0], edges[0]])
    unit = indicator_unit(indicator)
    ranges, syms = [], []
    n = edges.size - 1
    for i in range(n):
        colour = (colours[i] if colours is not None and i < len(colours) else
                  _RAMP[round(i * (len(_RAMP) - 1) / max(n - 1, 1))])
        lo, hi = float(edges[i]), float(edges[i + 1])
        label = f"{fmt(lo, unit)} – {fmt(hi, unit)}"
        ranges.append(f'<range symbol="{i}" lower="{lo:.10g}" upper="{hi:.10g}" '
                      f'label={quoteattr(label)} render="true"/>')
        syms.append(_fill_symbol(str(i), colour, "#7a0177", 0.4, 200))
    return (_HEAD + f'<renderer-v2 type="graduatedSymbol" attr={quoteattr(indicator)} '
            'graduatedMethod="GraduatedColor" symbollevels="0" enableorderby="0" '
            f'forceraster="0"><ranges>{"".join(ranges)}</ranges>'
            f'<symbols>{"".join(syms)}</symbols></renderer-v2></qgis>\n')


def outline_qml(colour: str = "#2b8cbe", *, width: float = 0.4) -> str:
    """Single-symbol outline (no fill)."""
    return (_HEAD + '<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" '
            f'forceraster="0"><symbols>{_fill_symbol("0", None, colour, width)}</symbols>'
            "</renderer-v2></qgis>\n")


_CREATE = """
CREATE TABLE IF NOT EXISTS layer_styles (
  id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), f_table_schema TEXT(256),
  f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT,
  styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30),
  update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))
"""


def embed_styles(gpkg: str | Path, styles: Sequence[tuple[str, str]]) -> None:
    """Store QML styles as the default style of GeoPackage layers.

    Parameters
    ----------
    gpkg
        An existing GeoPackage holding the layers.
    styles
        ``(layer name, QML text)`` pairs; a layer's previous default style is replaced.
    """
    con = sqlite3.connect(str(gpkg))
    try:
        con.execute(_CREATE)
        con.execute(
            "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, "
            "description, last_change) VALUES ('layer_styles', 'attributes', 'layer_styles', "
            "'', strftime('%Y-%m-%dT%H:%M:%fZ','now'))")
        geom_cols = dict(con.execute(
            "SELECT table_name, column_name FROM gpkg_geometry_columns").fetchall())
        for layer, qml in styles:
            con.execute("DELETE FROM layer_styles WHERE f_table_name = ?", (layer,))
            con.execute(
                "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
                "owner, ui, update_time) VALUES ('', '', ?, ?, ?, ?, '', 1, ?, '', '', "
                "'2024-01-01T00:00:00Z')",
                (layer, geom_cols.get(layer, "geom"), f"qpvgeo {layer}", qml,
                 "Style qpvgeo (portrait de territoire)"))
        con.commit()
    finally:
        con.close()
