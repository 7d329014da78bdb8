"""Folium web map of the portrait de territoire (French labels, light, offline-capable).

:func:`portrait_map` draws, each as a layer of a layer control:

- the QPV choropleth by one indicator (``mapclassify`` classes, legend, French tooltips with
  name, code and key figures; missing values in grey, never as 0);
- the NPNRU QPV highlighted (thick dashed outline);
- the IRIS concerned by a QPV; the communes outline;
- buildings by heat-loss class, in the scheme's colours (blue → yellow "fortes" → red
  "excessives");
- social housing (RPLS dwellings grouped by location, circle size by count);
- health equipment (clustered markers, one Font Awesome icon and colour per kind) and walking
  areas.

**Light building layer.** A plain folium GeoJSON of 50k building polygons is a 14 MB page drawn in
13–15 s by headless Chromium. Here buildings are drawn *one by one only where they matter*: those
touching a QPV or within ``detail_m`` (300 m by default) of one, as exterior rings simplified to
0.5 m, quantised to 1e-5 degree (≈ 1.1 m north–south, 0.7 m east–west at 50° N), delta-encoded
integers, with a single property (the class), decoded by a few lines of JavaScript into Leaflet
polygons on one canvas renderer. Elsewhere buildings are *aggregated* into ``cell_m`` square
cells (250 m, Lambert-93) coloured by their majority class, with the counts and the share of
strong heat loss in the tooltip. The map says so in the layer names and the legend.

**Offline.** ``save_map(..., offline=True)`` copies the vendored Leaflet, Leaflet.markercluster and
Font Awesome files (``qpvgeo/static``, see its README) into ``assets/`` beside the page, points the
page at them and uses no tile layer; the written page is then checked to reference no remote
resource. Folium's default bootstrap, jQuery and awesome-markers are never loaded (not needed).

**Escaping.** Every text coming from an input file (names, codes, labels, attributes) is
HTML-escaped before it is put in a tooltip, popup or legend; data embedded in ``<script>`` is
JSON with ``<``, ``>``, ``&`` escaped, so a QPV named ``<img src=x onerror=alert(1)>`` shows as
text.

Input layers may be in any CRS (reprojected, EPSG:2154 for the geometry work and EPSG:4326 for
the page); a layer without CRS raises :class:`qpvgeo.errors.MissingCRSError`.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element
from jinja2 import Template

from qpvgeo._format import esc, fmt, indicator_label, indicator_unit
from qpvgeo._validate import to_crs, to_lambert93
from qpvgeo.errors import QpvgeoError, SchemaError

__all__ = [
    "ASSETS",
    "DEFAULT_HEAT_CLASSES",
    "STATIC_DIR",
    "class_breaks",
    "encode_buildings",
    "fisher_jenks_bins",
    "health_icon",
    "palette",
    "portrait_map",
    "save_map",
]

STATIC_DIR = Path(__file__).with_name("static")
"""Folder of the vendored web assets (see ``qpvgeo/static/README.md``)."""

_CDN = "https://cdn.jsdelivr.net/npm/"
# key -> (kind, path under STATIC_DIR, CDN URL of the same file and version)
ASSETS: dict[str, tuple[str, str, str]] = {
    "leaflet_css": ("css", "leaflet/leaflet.css", _CDN + "leaflet@1.9.4/dist/leaflet.css"),
    "leaflet": ("js", "leaflet/leaflet.js", _CDN + "leaflet@1.9.4/dist/leaflet.js"),
    "markercluster_css": ("css", "leaflet.markercluster/MarkerCluster.css",
                          _CDN + "leaflet.markercluster@1.5.3/dist/MarkerCluster.css"),
    "markercluster_default_css": (
        "css", "leaflet.markercluster/MarkerCluster.Default.css",
        _CDN + "leaflet.markercluster@1.5.3/dist/MarkerCluster.Default.css"),
    "markercluster": ("js", "leaflet.markercluster/leaflet.markercluster.js",
                      _CDN + "leaflet.markercluster@1.5.3/dist/leaflet.markercluster.js"),
    "fontawesome_css": ("css", "fontawesome/css/fontawesome.min.css",
                        _CDN + "@fortawesome/fontawesome-free@6.7.2/css/fontawesome.min.css"),
    "fontawesome_solid_css": ("css", "fontawesome/css/solid.min.css",
                              _CDN + "@fortawesome/fontawesome-free@6.7.2/css/solid.min.css"),
}
# Files a CSS asset loads by relative URL (copied with it in offline mode).
_ASSET_EXTRA_FILES: dict[str, list[str]] = {
    "leaflet_css": ["leaflet/images/layers.png", "leaflet/images/layers-2x.png",
                    "leaflet/images/marker-icon.png", "leaflet/images/marker-icon-2x.png",
                    "leaflet/images/marker-shadow.png", "leaflet/LICENSE"],
    "markercluster": ["leaflet.markercluster/MIT-LICENCE.txt"],
    "fontawesome_solid_css": ["fontawesome/webfonts/fa-solid-900.woff2",
                              "fontawesome/LICENSE.txt"],
}

DEFAULT_HEAT_CLASSES: tuple[tuple[str, str], ...] = (
    ("faibles", "#2c7bb6"),
    ("moyennes", "#abd9e9"),
    ("fortes", "#fdd835"),
    ("excessives", "#d7191c"),
)
"""Fallback heat-loss classes (label, colour) when no scheme is given: blue → yellow → red."""

UNCLASSIFIED_COLOUR = "#9e9e9e"
_WALK_COLOURS = ["#1b9e77", "#66a61e", "#7570b3", "#e7298a"]
MISSING_COLOUR = "#d9d9d9"
# Sequential palette for the QPV choropleth (ColorBrewer YlOrRd-like, 7 steps max).
_CHORO = ["#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026", "#800026"]

# BPE health codes (several vintages) -> (kind label, Font Awesome icon, colour).
_HEALTH_KINDS: list[tuple[tuple[str, ...], str, str, str]] = [
    (("D201", "D265"), "Médecin généraliste", "user-doctor", "#1b9e77"),
    (("D221", "D277"), "Chirurgien-dentiste", "tooth", "#7570b3"),
    (("D232", "D244", "D281"), "Infirmier", "syringe", "#e7298a"),
    (("D301", "D307"), "Pharmacie", "prescription-bottle-medical", "#66a61e"),
    (("D101", "D102", "D103", "D104", "D106", "D107"), "Établissement hospitalier",
     "hospital", "#d95f02"),
    (("D108", "D113"), "Centre ou maison de santé", "house-medical", "#e6ab02"),
]


def health_icon(typequ: str, label: str | None = None) -> tuple[str, str, str]:
    """Kind label, Font Awesome icon name and colour of a BPE health code.

    Unknown codes get a generic icon and, as label, the given ``label`` or the code.
    """
    code = str(typequ).strip().upper()
    for codes, kind, icon, colour in _HEALTH_KINDS:
        if code in codes:
            return kind, icon, colour
    if code.startswith("D2"):
        return (label or "Autre professionnel de santé"), "stethoscope", "#a6761d"
    return (label or code), "kit-medical", "#666666"


def _js_json(obj: Any) -> str:
    """JSON safe to embed in a ``<script>`` element (no ``</script>`` break-out)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _wgs84(gdf: gpd.GeoDataFrame, name: str) -> gpd.GeoDataFrame:
    return to_crs(gdf, "EPSG:4326", name=name)


# --------------------------------------------------------------------------------------------
# compact building encoding
# --------------------------------------------------------------------------------------------

def encode_buildings(
    geoms_wgs84: np.ndarray, classes: np.ndarray, *, quantum: float = 1e-5,
) -> dict[str, Any]:
    """Encode polygons as delta-coded integer rings (exterior rings only).

    Parameters
    ----------
    geoms_wgs84
        Array of (Multi)Polygon geometries in EPSG:4326 (longitude, latitude in degrees).
    classes
        Integer class index of each geometry (same length).
    quantum
        Coordinate step in degrees (1e-5° ≈ 1.1 m north–south).

    Returns
    -------
    dict
        ``{"q": quantum, "o": [x0, y0], "r": [[class, x, y, dx1, dy1, ...], ...]}`` where ``x``,
        ``y`` are integer offsets from the origin ``o`` (in quanta) and the following pairs are
        deltas to the previous vertex; the closing vertex is omitted. Rings reduced to fewer
        than three distinct vertices by quantisation (sub-metre slivers) are dropped. Holes are
        not drawn (buildings rarely have courtyards visible at map scale).
    """
    geoms = np.asarray(geoms_wgs84, dtype=object)
    cls = np.asarray(classes, dtype=np.int64)
    if len(geoms) == 0:
        return {"q": quantum, "o": [0, 0], "r": []}
    parts, part_idx = shapely.get_parts(geoms, return_index=True)
    rings = shapely.get_exterior_ring(parts)
    coords, ring_idx = shapely.get_coordinates(rings, return_index=True)
    q = np.round(coords / quantum).astype(np.int64)
    origin = q.min(axis=0)
    q -= origin
    # ring boundaries
    starts = np.flatnonzero(np.r_[True, ring_idx[1:] != ring_idx[:-1]])
    ends = np.r_[starts[1:], len(ring_idx)]
    out: list[list[int]] = []
    for s, e in zip(starts, ends, strict=True):
        ring = q[s:e - 1]  # drop the closing vertex
        if len(ring) > 1:
            keep = np.r_[True, np.any(ring[1:] != ring[:-1], axis=1)]
            ring = ring[keep]
            if len(ring) > 1 and np.array_equal(ring[0], ring[-1]):
                ring = ring[:-1]
        if len(ring) < 3:
            continue
        deltas = np.diff(ring, axis=0).ravel()
        c = int(cls[part_idx[ring_idx[s]]])
        out.append([c, int(ring[0, 0]), int(ring[0, 1]), *deltas.tolist()])
    return {"q": quantum, "o": [int(origin[0]), int(origin[1])], "r": out}


class _JsLayer(folium.map.Layer):
    """A Leaflet layer built by our own JavaScript from compact embedded data."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var data = {{ this.data_json }};
            {{ this.body }}
        })();
        {% endmacro %}
    """)

    def __init__(self, name: str, data: Any, body: str, *, show: bool = True) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "QpvgeoLayer"
        self.data_json = _js_json(data)
        self.body = body


_BUILDINGS_JS = """
var q = data.q, ox = data.o[0], oy = data.o[1], r = L.canvas({padding: 0.3});
var grp = L.featureGroup();
for (var i = 0; i < data.r.length; i++) {
    var a = data.r[i], x = a[1], y = a[2], pts = [[(y + oy) * q, (x + ox) * q]];
    for (var j = 3; j < a.length; j += 2) {
        x += a[j]; y += a[j + 1]; pts.push([(y + oy) * q, (x + ox) * q]);
    }
    grp.addLayer(L.polygon(pts, {renderer: r, weight: 0.4, color: '#555555', opacity: 0.6,
        fillColor: data.colours[a[0]], fillOpacity: 0.85, c: a[0]}));
}
grp.bindTooltip(function (l) { return data.labels[l.options.c]; }, {sticky: true});
return grp;
"""

_CELLS_JS = """
var r = L.canvas({padding: 0.3});
var grp = L.featureGroup();
for (var i = 0; i < data.cells.length; i++) {
    var c = data.cells[i];
    grp.addLayer(L.polygon(c[0], {renderer: r, weight: 0.3, color: '#666666',
        fillColor: data.colours[c[1]], fillOpacity: 0.55, t: c[2]}));
}
grp.bindTooltip(function (l) { return l.options.t; }, {sticky: true});
return grp;
"""

_POINTS_JS = """
var r = L.canvas({padding: 0.3});
var grp = L.featureGroup();
for (var i = 0; i < data.p.length; i++) {
    var p = data.p[i];
    grp.addLayer(L.circleMarker([p[0], p[1]], {renderer: r, radius: p[2], weight: 1,
        color: data.stroke, fillColor: data.fill, fillOpacity: 0.7, t: p[3]}));
}
grp.bindTooltip(function (l) { return l.options.t; });
return grp;
"""

_CLUSTER_JS = """
var grp = L.markerClusterGroup({showCoverageOnHover: false, maxClusterRadius: 40});
for (var i = 0; i < data.p.length; i++) {
    var p = data.p[i], k = data.kinds[p[2]];
    var icon = L.divIcon({className: 'qpvgeo-eq', iconSize: [24, 24], iconAnchor: [12, 12],
        html: '<span style="background:' + k[2] + '"><i class="fa-solid fa-' + k[1]
              + '"></i></span>'});
    grp.addLayer(L.marker([p[0], p[1]], {icon: icon, title: p[3]})
        .bindTooltip(p[4]));
}
return grp;
"""

_MAP_CSS = """
<style>
.qpvgeo-legend {position: absolute; z-index: 1000; background: rgba(255,255,255,0.92);
  padding: 6px 8px; font: 12px/1.35 sans-serif; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,0.3); max-width: 300px;}
.qpvgeo-legend h4 {margin: 0 0 4px; font-size: 12px;}
.qpvgeo-legend i.sw {display: inline-block; width: 14px; height: 12px; margin-right: 5px;
  vertical-align: middle; border: 1px solid #777;}
.qpvgeo-legend .note {color: #444; font-size: 11px; margin-top: 4px;}
.qpvgeo-title {position: absolute; z-index: 1000; top: 8px; left: 54px;
  background: rgba(255,255,255,0.92); padding: 4px 10px; font: bold 14px sans-serif;
  border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,0.3);}
.qpvgeo-banner {position: absolute; z-index: 1001; top: 0; left: 0; right: 0;
  background: #b00020; color: #fff; text-align: center; font: bold 13px sans-serif;
  padding: 3px;}
.leaflet-control-layers {font-size: 12px;}
.leaflet-bottom.leaflet-left .leaflet-control-scale {margin-bottom: 4px;}
.qpvgeo-eq span {display: block; width: 24px; height: 24px; border-radius: 12px;
  color: #fff; text-align: center; line-height: 24px; font-size: 12px;
  border: 1px solid #fff; box-shadow: 0 0 2px #000;}
</style>
"""

_READY_JS = """
<script>
(function () {
  function done() { window.qpvgeoDrawn = performance.now(); }
  requestAnimationFrame(function () { requestAnimationFrame(done); });
})();
</script>
"""
# ``window.qpvgeoDrawn``: time (ms since navigation start) when the layers were built and two
# frames painted — read by the browser test to report the draw time.


def fisher_jenks_bins(sorted_values: np.ndarray, k: int) -> np.ndarray:
    """Upper bounds of the ``k`` Fisher-Jenks classes of sorted values (exact optimum).

    The classes minimise the sum of squared deviations from their means (dynamic programming
    over the sorted values, O(k·n²)). Same result and tie rule as
    ``mapclassify.FisherJenks(values, k).bins`` (checked in the tests), without importing
    mapclassify (which loads SciPy's statistics and scikit-learn: 2 s at start-up).

    Parameters
    ----------
    sorted_values
        Values sorted in increasing order (at least ``k`` distinct ones).
    k
        Number of classes (≥ 2).

    Returns
    -------
    numpy.ndarray
        ``k`` upper bounds, the last being the maximum.
    """
    x = np.asarray(sorted_values, dtype=float)
    n = len(x)
    s1 = np.concatenate([[0.0], np.cumsum(x)])
    s2 = np.concatenate([[0.0], np.cumsum(x * x)])
    inf = np.inf
    cost = np.full((n + 1, k + 1), inf)  # cost[l, j]: best j classes over x[0:l]
    cost[0, 0] = 0.0
    cost[1, 1:] = 0.0
    start = np.ones((n + 1, k + 1), dtype=np.int64)  # 1-based first index of the last class
    for end in range(2, n + 1):
        first = np.arange(1, end + 1)  # candidate first index (1-based) of the last class
        cnt = end - first + 1
        sum1 = s1[end] - s1[first - 1]
        var = (s2[end] - s2[first - 1]) - sum1 * sum1 / cnt
        cost[end, 1] = var[0]
        start[end, 1] = 1
        for j in range(2, k + 1):
            cand = var[1:] + cost[first[1:] - 1, j - 1]  # first index ≥ 2
            # smallest first index among the minima (mapclassify keeps the last one tried,
            # trying first indices in decreasing order with ">=")
            best = int(np.flatnonzero(cand == cand.min())[0])
            cost[end, j] = cand[best]
            start[end, j] = first[1:][best]
    bins = np.empty(k)
    bins[k - 1] = x[-1]
    last = n
    for j in range(k, 1, -1):
        pivot = int(start[last, j])
        bins[j - 2] = x[pivot - 2]
        last = pivot - 1
    return bins


def class_breaks(values: pd.Series, k: int = 5, scheme: str = "FisherJenks"
                 ) -> tuple[np.ndarray, list[float]]:
    """Return the class of each value (-1 when missing) and the classes' upper bounds.

    Parameters
    ----------
    values
        Indicator values (missing allowed).
    k
        Number of classes (fewer when there are fewer distinct values).
    scheme
        A deterministic ``mapclassify`` scheme (``FisherJenks``, ``Quantiles``…).

    Returns
    -------
    tuple
        Class index per value (numpy int array) and the upper bound of each class.
    """
    v = pd.to_numeric(values, errors="coerce").astype(float)
    valid = v.notna().to_numpy()
    idx = np.full(len(v), -1, dtype=np.int64)
    if not valid.any():
        return idx, []
    y = v.to_numpy()[valid]
    n_unique = len(np.unique(y))
    k_eff = max(1, min(int(k), n_unique, len(_CHORO)))
    if k_eff == 1:
        idx[valid] = 0
        return idx, [float(y.max())]
    if scheme.replace("_", "").lower() == "fisherjenks":
        bins = fisher_jenks_bins(np.sort(y), k_eff)
        # as mapclassify.bin1d: class = first bin whose upper bound is >= the value
        idx[valid] = np.searchsorted(bins, y, side="left")
        return idx, [float(b) for b in bins]
    import warnings

    import mapclassify

    with warnings.catch_warnings():  # "Numba not installed": speed only, not a data issue
        warnings.filterwarnings("ignore", message="Numba not installed")
        classifier = mapclassify.classify(y, scheme=scheme, k=k_eff)
    idx[valid] = np.asarray(classifier.yb, dtype=np.int64)
    return idx, [float(b) for b in classifier.bins]


def _legend_html(title: str, items: Sequence[tuple[str, str]], *, position: str,
                 note: str | None = None) -> str:
    rows = "".join(f'<div><i class="sw" style="background:{colour}"></i>{esc(label)}</div>'
                   for label, colour in items)
    note_html = f'<div class="note">{esc(note)}</div>' if note else ""
    return (f'<div class="qpvgeo-legend" style="{position}"><h4>{esc(title)}</h4>{rows}'
            f"{note_html}</div>")


def _props_table(gdf: gpd.GeoDataFrame, fields: Mapping[str, str]) -> gpd.GeoDataFrame:
    """Keep geometry + display fields, every value turned into escaped French text."""
    out = gpd.GeoDataFrame(index=gdf.index, geometry=gdf.geometry, crs=gdf.crs)
    for col in fields:
        if col not in gdf.columns:
            continue
        unit = indicator_unit(col)
        if pd.api.types.is_numeric_dtype(gdf[col]) and unit != "text":
            out[col] = [esc(fmt(v, unit)) for v in gdf[col]]
        else:
            out[col] = [esc(v) if pd.notna(v) else "" for v in gdf[col]]
    return out


def _aggregate_cells(
    b93: gpd.GeoDataFrame, cls: np.ndarray, labels: Sequence[str], strong: set[int],
    cell_m: float,
) -> list[list[Any]]:
    """Aggregate buildings (Lambert-93) into square cells; return encoded cells for the page."""
    if len(b93) == 0:
        return []
    from pyproj import Transformer

    cent = shapely.centroid(np.asarray(b93.geometry.array))
    xy = shapely.get_coordinates(cent)
    ix = np.floor(xy[:, 0] / cell_m).astype(np.int64)
    iy = np.floor(xy[:, 1] / cell_m).astype(np.int64)
    n_classes = len(labels)
    cells, inverse = np.unique(np.stack([ix, iy], axis=1), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    # counts[cell, class + 1]: column 0 for unclassified buildings (class -1)
    counts = np.zeros((len(cells), n_classes + 1), dtype=np.int64)
    np.add.at(counts, (inverse, np.clip(cls, -1, n_classes - 1) + 1), 1)
    classified = counts[:, 1:]
    n_all = counts.sum(axis=1)
    n_cls = classified.sum(axis=1)
    major = np.where(n_cls > 0, classified.argmax(axis=1), n_classes)
    n_strong = classified[:, sorted(strong)].sum(axis=1) if strong else np.zeros(len(cells))
    # corners (south-west, south-east, north-east, north-west) in WGS84, latitude first
    x0, y0 = cells[:, 0] * cell_m, cells[:, 1] * cell_m
    cx = np.stack([x0, x0 + cell_m, x0 + cell_m, x0], axis=1).ravel()
    cy = np.stack([y0, y0, y0 + cell_m, y0 + cell_m], axis=1).ravel()
    tr = Transformer.from_crs(b93.crs, "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(cx, cy)
    ring = np.round(np.stack([lat, lon], axis=1), 6).reshape(len(cells), 4, 2).tolist()
    names = [esc(lbl) for lbl in labels]
    size = fmt(cell_m, "m")
    out: list[list[Any]] = []
    for i in range(len(cells)):
        share = fmt(n_strong[i] / n_cls[i], "share") if n_cls[i] else "n.d."
        parts = [f"{names[c]} : {int(classified[i, c])}" for c in range(n_classes)
                 if classified[i, c]]
        tip = (f"<b>Carreau de {size}</b><br>{int(n_all[i])} bâtiments, {int(n_cls[i])} "
               f"classés<br>Déperditions fortes ou excessives : {share}"
               + ("<br>" + "<br>".join(parts) if parts else ""))
        out.append([ring[i], int(major[i]), tip])
    return out


def portrait_map(
    qpv: gpd.GeoDataFrame,
    *,
    indicator: str | None = None,
    indicator_title: str | None = None,
    k: int = 5,
    scheme: str = "FisherJenks",
    tooltip_fields: Sequence[str] = (),
    npnru: Sequence[str] = (),
    iris: gpd.GeoDataFrame | None = None,
    communes: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    building_class_col: str = "heatloss_label",
    heat_classes: Sequence[tuple[str, str]] = DEFAULT_HEAT_CLASSES,
    strong_classes: Sequence[str] = ("fortes", "excessives"),
    detail_m: float = 300.0,
    cell_m: float = 250.0,
    social_housing: gpd.GeoDataFrame | None = None,
    equipment: gpd.GeoDataFrame | None = None,
    equipment_kind_col: str = "typequ",
    equipment_label_col: str | None = None,
    walking_areas: gpd.GeoDataFrame | None = None,
    walking_label: str = "Zone à 15 min à pied",
    title: str = "Portrait de territoire",
    illustrative: bool = False,
    offline: bool = False,
) -> folium.Map:
    """Build the portrait's folium map.

    Parameters
    ----------
    qpv
        QPV polygons (any CRS) with ``code_qpv``, ``nom_qpv`` and the indicator columns.
    indicator
        Column of ``qpv`` used for the choropleth (shares 0–1, counts…); ``None`` draws QPV
        outlines only. Missing values are grey ("donnée non disponible").
    indicator_title
        Legend title (default: the French label of the indicator).
    k, scheme
        Number of classes and ``mapclassify`` scheme (deterministic schemes only:
        ``FisherJenks``, ``Quantiles``, ``EqualInterval``…); ``k`` is lowered to the number of
        distinct values.
    tooltip_fields
        Extra ``qpv`` columns shown in the tooltip (formatted in French).
    npnru
        Codes of the QPV of the NPNRU, highlighted.
    iris
        IRIS concerned by a QPV (``code_iris``, ``nom_iris``, optional ``share_of_qpv``).
    communes
        Commune polygons (``nom_com``), drawn as outlines.
    buildings
        Classified buildings (any CRS) with ``building_class_col`` holding the class label.
    heat_classes
        Ordered ``(label, colour)`` of the heat-loss scheme; other labels are "non classé".
    strong_classes
        Labels counted as strong heat loss in the aggregated cells' tooltips.
    detail_m
        Buildings within this distance (metres) of a QPV are drawn one by one; others are
        aggregated into ``cell_m`` square cells (metres, Lambert-93 grid).
    social_housing
        RPLS dwelling points (one row per dwelling); grouped by location (1 m).
    equipment
        Health equipment points with ``equipment_kind_col`` (BPE ``typequ``).
    walking_areas
        Polygons of the walking-distance areas: one layer per value of ``kind`` (the first
        shown), named ``"{kind} : {label}"`` (``label`` says how the reach was measured,
        e.g. "accessible à pied en 15 min (réseau des rues)"; ``walking_label`` without it).
    title
        Map title (escaped).
    illustrative
        Show the "données illustratives" banner.
    offline
        Use no tile layer (no network); pass the same flag to :func:`save_map`.

    Returns
    -------
    folium.Map
        Save it with :func:`save_map` (which handles offline assets).
    """
    from qpvgeo._validate import require_columns

    require_columns(qpv, ["code_qpv", "nom_qpv"], name="qpv")
    if indicator is not None and indicator not in qpv.columns:
        raise SchemaError(f"qpv: no column {indicator} to map (found "
                          f"{', '.join(map(str, qpv.columns[:20]))}); choose another "
                          "indicator (option indicateur_carte)")
    qpv93 = to_lambert93(qpv, name="qpv")
    qpv84 = _wgs84(qpv93, "qpv")
    bounds_src = communes if communes is not None else qpv
    b84 = _wgs84(bounds_src, "communes" if communes is not None else "qpv").total_bounds

    m = folium.Map(location=[(b84[1] + b84[3]) / 2, (b84[0] + b84[2]) / 2], zoom_start=12,
                   tiles=None, control_scale=True, prefer_canvas=True,
                   maxZoom=19, minZoom=8)
    if not offline:
        folium.TileLayer("OpenStreetMap", name="Fond de carte OpenStreetMap",
                         control=True, opacity=0.6).add_to(m)
    m.fit_bounds([[b84[1], b84[0]], [b84[3], b84[2]]])
    root: Any = m.get_root()
    root.header.add_child(Element(_MAP_CSS), name="qpvgeo_css")
    needed = {"leaflet", "leaflet_css"}

    # --- communes outline
    if communes is not None and len(communes):
        com = _props_table(_wgs84(communes, "communes"),
                           {"nom_com": "Commune", "insee_com": "Code"})
        fields = [c for c in ("nom_com", "insee_com") if c in com.columns]
        folium.GeoJson(
            com, name="Communes", control=True, show=True,
            style_function=lambda f: {"color": "#444444", "weight": 1.2, "fill": False,
                                      "dashArray": "4 3"},
            tooltip=folium.GeoJsonTooltip(fields, aliases=["Commune", "Code"][:len(fields)],
                                          sticky=True) if fields else None,
        ).add_to(m)

    # --- buildings (detail near QPV + aggregated cells elsewhere)
    labels = [str(lbl) for lbl, _ in heat_classes]
    colours = [str(col) for _, col in heat_classes]
    notes_buildings = None
    if buildings is not None and len(buildings):
        b93 = to_lambert93(buildings, name="buildings")
        if building_class_col not in b93.columns:
            raise SchemaError(f"buildings: no column {building_class_col} (found "
                              f"{', '.join(map(str, b93.columns[:20]))}); classify the "
                              "buildings first (qpvgeo.thermography.building_heat_loss)")
        lookup = {lbl: i for i, lbl in enumerate(labels)}
        cls = np.array([lookup.get(str(v), -1) if pd.notna(v) else -1
                        for v in b93[building_class_col]], dtype=np.int64)
        zone = shapely.buffer(shapely.union_all(np.asarray(qpv93.geometry.array)),
                              float(detail_m))
        shapely.prepare(zone)
        near = shapely.intersects(zone, np.asarray(b93.geometry.array))
        detail = b93.loc[near]
        simplified = shapely.simplify(np.asarray(detail.geometry.array), 0.5,
                                      preserve_topology=True)
        det84 = gpd.GeoSeries(simplified, crs=b93.crs).to_crs("EPSG:4326")
        det_cls = np.where(cls[near] < 0, len(labels), cls[near])
        data = encode_buildings(np.asarray(det84.array), det_cls)
        data["colours"] = [*colours, UNCLASSIFIED_COLOUR]
        data["labels"] = [esc(f"Déperditions {lbl}") for lbl in labels] + ["Non classé"]
        _JsLayer(f"Bâtiments : déperditions (détail, QPV + {fmt(detail_m, 'm')})", data,
                 _BUILDINGS_JS).add_to(m)
        far = ~near
        if far.any():
            strong = {lookup[s] for s in strong_classes if s in lookup}
            cells = _aggregate_cells(b93.loc[far], cls[far], labels, strong, float(cell_m))
            _JsLayer(f"Bâtiments : déperditions (carreaux de {fmt(cell_m, 'm')}, ailleurs)",
                     {"cells": cells, "colours": [*colours, UNCLASSIFIED_COLOUR]},
                     _CELLS_JS, show=True).add_to(m)
        notes_buildings = (f"Bâtiments dessinés un à un dans les QPV et à moins de "
                           f"{fmt(detail_m, 'm')} ; ailleurs, carreaux de {fmt(cell_m, 'm')} "
                           "colorés selon la classe majoritaire.")

    # --- IRIS concerned
    if iris is not None and len(iris):
        fields_map = {"code_iris": "Code IRIS", "nom_iris": "IRIS"}
        for extra in ("share_of_qpv", "share_of_iris", "code_qpv"):
            if extra in iris.columns:
                fields_map[extra] = {"share_of_qpv": "Part du QPV", "share_of_iris":
                                     "Part de l'IRIS", "code_qpv": "QPV"}[extra]
        ir = _props_table(_wgs84(iris, "iris"), fields_map)
        fields = [c for c in fields_map if c in ir.columns]
        folium.GeoJson(
            ir, name="IRIS concernés par un QPV", show=False,
            style_function=lambda f: {"color": "#2b8cbe", "weight": 1.5, "fillOpacity": 0.05},
            tooltip=folium.GeoJsonTooltip(fields, aliases=[fields_map[c] for c in fields],
                                          sticky=True),
        ).add_to(m)

    # --- QPV choropleth
    tip_cols: dict[str, str] = {"nom_qpv": "Quartier", "code_qpv": "Code"}
    if indicator is not None:
        tip_cols[indicator] = indicator_label(indicator)
    for col in tooltip_fields:
        if col in qpv84.columns and col not in tip_cols:
            tip_cols[col] = indicator_label(col)
    qprops = _props_table(qpv84, tip_cols)
    legend_items: list[tuple[str, str]] = []
    if indicator is not None:
        idx, bins = class_breaks(qpv84[indicator], k, scheme)
        unit = indicator_unit(indicator)
        palette = _pick_palette(len(bins))
        qprops["_c"] = [palette[i] if i >= 0 else MISSING_COLOUR for i in idx]
        low = float(pd.to_numeric(qpv84[indicator], errors="coerce").min()) if bins else 0.0
        for i, upper in enumerate(bins):
            lower = low if i == 0 else bins[i - 1]
            legend_items.append((f"{fmt(lower, unit)} – {fmt(upper, unit)}", palette[i]))
        if (idx < 0).any():
            legend_items.append(("donnée non disponible", MISSING_COLOUR))
    else:
        qprops["_c"] = "#fdae6b"
    fields = [c for c in tip_cols if c in qprops.columns]
    folium.GeoJson(
        qprops, name="QPV" + (f" : {indicator_label(indicator)}" if indicator else ""),
        style_function=lambda f: {"fillColor": f["properties"]["_c"], "color": "#7a0177",
                                  "weight": 1.5, "fillOpacity": 0.5},
        highlight_function=lambda f: {"weight": 3},
        tooltip=folium.GeoJsonTooltip(fields, aliases=[tip_cols[c] for c in fields],
                                      sticky=True),
    ).add_to(m)

    # --- NPNRU
    npnru_set = {str(c) for c in npnru}
    if npnru_set:
        sel = qprops.loc[qpv84["code_qpv"].astype(str).isin(npnru_set).to_numpy()]
        if len(sel):
            folium.GeoJson(
                sel[["nom_qpv", "code_qpv", "geometry"]], name="QPV du NPNRU",
                style_function=lambda f: {"color": "#000000", "weight": 4, "fill": False,
                                          "dashArray": "8 4"},
                tooltip=folium.GeoJsonTooltip(["nom_qpv", "code_qpv"],
                                              aliases=["QPV du NPNRU", "Code"]),
            ).add_to(m)

    # --- social housing
    if social_housing is not None and len(social_housing):
        sh = to_lambert93(social_housing, name="rpls")
        xy = np.round(shapely.get_coordinates(np.asarray(sh.geometry.array)))
        grouped = pd.DataFrame(xy, columns=["x", "y"]).value_counts().sort_index()
        pts93 = gpd.GeoSeries(gpd.points_from_xy(grouped.index.get_level_values(0),
                                                  grouped.index.get_level_values(1)),
                              crs=sh.crs).to_crs("EPSG:4326")
        ll = shapely.get_coordinates(np.asarray(pts93.array))
        counts = grouped.to_numpy()
        radius = np.clip(2 + 1.5 * np.sqrt(counts), 2, 18)
        pts = [[round(float(lat), 6), round(float(lon), 6), round(float(rad), 1),
                f"{int(n)} logement{'s' if n > 1 else ''} social{'aux' if n > 1 else ''} (RPLS)"]
               for (lon, lat), rad, n in zip(ll, radius, counts, strict=True)]
        _JsLayer("Logements sociaux (RPLS)", {"p": pts, "fill": "#6a3d9a",
                                              "stroke": "#ffffff"},
                 _POINTS_JS, show=False).add_to(m)

    # --- walking areas: one layer per kind of equipment
    if walking_areas is not None and len(walking_areas):
        wa = _wgs84(walking_areas, "walking_areas")
        wa = wa.set_geometry(shapely.set_precision(np.asarray(wa.geometry.array), 1e-5))
        fields_map = {c: lbl for c, lbl in (("kind", "Équipement"), ("label", "Zone"))
                      if c in wa.columns}
        groups = ([(str(k), wa.loc[wa["kind"] == k]) for k in pd.unique(wa["kind"])]
                  if "kind" in wa.columns else [("", wa)])
        for i, (kind, part) in enumerate(groups):
            label = (str(part["label"].iloc[0]) if "label" in part.columns
                     and pd.notna(part["label"].iloc[0]) else walking_label)
            colour = _WALK_COLOURS[i % len(_WALK_COLOURS)]
            wprops = _props_table(part, fields_map)
            folium.GeoJson(
                wprops, name=f"{kind} : {label}" if kind else label, show=i == 0,
                style_function=lambda f, c=colour: {"color": c, "weight": 1,
                                                    "fillColor": c, "fillOpacity": 0.12},
                tooltip=folium.GeoJsonTooltip(list(fields_map),
                                              aliases=list(fields_map.values()))
                if fields_map else None,
            ).add_to(m)

    # --- health equipment
    eq_legend: list[tuple[str, str]] = []
    if equipment is not None and len(equipment):
        eq = _wgs84(equipment, "bpe")
        if equipment_kind_col not in eq.columns:
            raise SchemaError(f"bpe: no column {equipment_kind_col} (found "
                              f"{', '.join(map(str, eq.columns[:20]))})")
        kinds: list[list[str]] = []
        kind_idx: dict[tuple[str, str, str], int] = {}
        pts = []
        ll = shapely.get_coordinates(np.asarray(eq.geometry.array))
        lab = eq[equipment_label_col] if equipment_label_col in eq.columns else None
        for i, code in enumerate(eq[equipment_kind_col].astype(str)):
            given = None if lab is None or pd.isna(lab.iloc[i]) else str(lab.iloc[i])
            key = health_icon(code, given)
            if key not in kind_idx:
                kind_idx[key] = len(kinds)
                kinds.append([esc(key[0]), key[1], key[2]])
            name = esc(f"{key[0]} ({code})")
            pts.append([round(float(ll[i, 1]), 6), round(float(ll[i, 0]), 6), kind_idx[key],
                        name, name])
        _JsLayer("Équipements de santé (BPE)", {"p": pts, "kinds": kinds},
                 _CLUSTER_JS).add_to(m)
        needed |= {"markercluster", "markercluster_css", "markercluster_default_css",
                   "fontawesome_css", "fontawesome_solid_css"}
        eq_legend = [(k[0], k[2]) for k in kinds]

    folium.LayerControl(collapsed=False).add_to(m)

    # --- legends, title, banner
    title_style = ' style="top:28px"' if illustrative else ""
    html_parts = [f'<div class="qpvgeo-title"{title_style}>{esc(title)}</div>']
    if illustrative:
        root.header.add_child(Element("<style>.leaflet-top {top: 24px;}</style>"),
                              name="qpvgeo_banner_css")
        html_parts.append('<div class="qpvgeo-banner">Données illustratives (fictives) — '
                          "ne pas utiliser pour décider</div>")
    if indicator is not None:
        html_parts.append(_legend_html(indicator_title or indicator_label(indicator),
                                       legend_items, position="bottom: 48px; left: 10px;",
                                       note=f"Classes : {scheme}, {len(bins)} classes"))
    if buildings is not None and len(buildings):
        items = [(f"Déperditions {lbl}", col) for lbl, col in heat_classes]
        items.append(("Non classé", UNCLASSIFIED_COLOUR))
        html_parts.append(_legend_html("Bâtiments : déperditions thermiques", items,
                                       position="bottom: 24px; right: 10px;",
                                       note=notes_buildings))
    if eq_legend:
        html_parts.append(_legend_html("Équipements de santé", eq_legend,
                                       position="bottom: 24px; left: 240px;"))
    root.html.add_child(Element("".join(html_parts)), name="qpvgeo_legends")
    root.html.add_child(Element(_READY_JS), name="qpvgeo_ready")
    _set_assets(m, needed, offline=offline)
    _stable_ids(m)
    return m


def palette(n: int) -> list[str]:
    """Colours of ``n`` choropleth classes (the web map's, reused in the QGIS style)."""
    return _pick_palette(n)


def _pick_palette(n: int) -> list[str]:
    if n <= 0:
        return []
    if n == 1:
        return [_CHORO[3]]
    pos = np.linspace(0, len(_CHORO) - 1, n).round().astype(int)
    return [_CHORO[i] for i in pos]


def _set_assets(m: folium.Map, needed: set[str], *, offline: bool) -> None:
    """Replace folium's default CDN assets by ours (local paths when offline)."""
    order = list(ASSETS)
    js: list[tuple[str, str]] = []
    css: list[tuple[str, str]] = []
    for key in order:
        if key not in needed:
            continue
        kind, local, url = ASSETS[key]
        target = f"assets/{local}" if offline else url
        (js if kind == "js" else css).append((key, target))
    m.default_js = js
    m.default_css = css
    m._qpvgeo_assets = sorted(needed)  # type: ignore[attr-defined]


def _stable_ids(m: folium.Map) -> None:
    """Give every element a deterministic id so re-runs write the same page."""
    counter = 0

    def walk(el: Any) -> None:
        nonlocal counter
        counter += 1
        el._id = f"{counter:08x}"
        for child in list(getattr(el, "_children", {}).values()):
            walk(child)

    walk(m)


_REMOTE = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.IGNORECASE)


def save_map(m: folium.Map, path: str | Path, *, offline: bool = False) -> Path:
    """Write the map's HTML page (and, offline, its assets beside it).

    Parameters
    ----------
    m
        Map from :func:`portrait_map` (built with the same ``offline`` flag).
    path
        Destination ``.html``; with ``offline`` the assets go to ``assets/`` in its folder.
    offline
        Copy the vendored assets and check the page references no remote resource.

    Returns
    -------
    Path
        The written page.

    Raises
    ------
    QpvgeoError
        When offline and the page still references a remote script or stylesheet (a layer
        using an asset that is not vendored).
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    needed = set(getattr(m, "_qpvgeo_assets", ("leaflet", "leaflet_css")))
    _set_assets(m, needed, offline=offline)
    if offline:  # no tiles without network
        for key, child in list(m._children.items()):
            if isinstance(child, folium.TileLayer):
                del m._children[key]
    html_text = m.get_root().render()
    if offline:
        remote = _REMOTE.findall(html_text)
        if remote:
            found = re.findall(r"""(?:src|href)\s*=\s*["']((?:https?:)?//[^"']+)""", html_text)
            raise QpvgeoError("offline map: the page still references remote resources "
                              f"({', '.join(found[:5])}); vendor them in qpvgeo/static")
        files: list[str] = []
        for key in sorted(needed):
            files.append(ASSETS[key][1])
            files.extend(_ASSET_EXTRA_FILES.get(key, []))
        for rel in files:
            src = STATIC_DIR / rel
            dst = p.parent / "assets" / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    p.write_text(html_text, encoding="utf-8")
    return p
