"""Aerial thermography: per-building heat-loss classes and per-zone shares of strong heat loss.

The diagnostic's sentence "une prédominance de logements subissant d'importantes pertes
thermiques, qualifiées de « fortes » (jaune) à « excessives » (rouge)" is computed here from an
aerial infrared thermography raster, building footprints and zones (QPV, IRIS, communes, EPCI).
All statistics use the exact-coverage engine of :mod:`qpvgeo.coverage` (pure numpy, streamed
window by window, see that module for the method) on rasters opened by :mod:`qpvgeo.raster`.

Public API
----------
:func:`class_fractions`
    Share of each polygon's measured area in each raster class.
:func:`building_heat_loss`
    Heat-loss class of every building (roof interior, minimum valid pixels, majority class or a
    temperature statistic turned into classes by a :class:`HeatLossScheme`).
:func:`heat_loss_shares`
    Per zone: buildings counted and classified, share of buildings and of roof area in the strong
    classes, per-class counts.
:func:`raster_summary`
    Coverage-weighted statistics of a continuous raster (surface temperature, NDVI, canopy)
    per zone, with the share of area above a threshold.
:class:`HeatLossScheme`, :data:`DEFAULT_SCHEME`
    Class values, French labels and colours (reused by the maps and the QGIS style).

Output columns
--------------
``class_fractions`` (index = zones' index, order kept):
    one column per class value (int labels, share of the measured area, 0–1, NaN when nothing is
    measured); ``measured_px`` (pixels, fractional in exact mode); ``measured_area_m2``
    (see below); ``coverage`` (measured area / polygon area, 0–1); ``source`` when an input is
    illustrative.

``building_heat_loss`` (GeoDataFrame in EPSG:2154, buildings' index and columns kept):
    ``heatloss_class`` (nullable Int64: the scheme's class value, <NA> when not classed),
    ``heatloss_label`` (str: the class label, "non classé" — too few valid pixels — or
    "non mesuré" — no valid pixel, outside the raster or only the not-measured class),
    ``heatloss_reason`` (str or <NA>: why the building is not classed),
    ``heatloss_class_share`` (share of the measured roof area in the assigned class, 0–1),
    ``heatloss_stat`` (per-roof statistic in raster units, e.g. °C, continuous rasters only),
    ``heatloss_valid_px`` (valid pixels, fractional in exact mode),
    ``heatloss_valid_area_m2`` (measured roof area, m²),
    ``heatloss_coverage`` (measured area / analysed roof area, 0–1),
    ``heatloss_interior`` (bool: measured on the roof interior; False = whole footprint),
    ``heatloss_frac_<value>`` (share of the measured area in each class, 0–1),
    ``heatloss_method`` (str: coverage rule, statistic, buffer and threshold used),
    ``source`` = "illustratif" when an input is illustrative.

``heat_loss_shares`` (index = zones' index):
    ``buildings_count`` (buildings assigned to the zone), ``buildings_classified``,
    ``buildings_unclassified`` ("non classé"), ``buildings_not_measured`` ("non mesuré"),
    ``heatloss_strong_count``, ``heatloss_strong_share`` (0–1 of classified buildings),
    ``heatloss_classified_area_m2`` (footprint area of classified buildings, m²),
    ``heatloss_strong_area_m2``, ``heatloss_strong_area_share`` (0–1 of classified roof area),
    ``heatloss_count_<value>`` per class, ``heatloss_missing_reason`` (str or <NA>; set when the
    shares are NaN), ``source`` when an input is illustrative.

``raster_summary`` (index = zones' index; ``prefix`` prepended when given):
    the requested statistics (``mean``, ``median``, ``min``, ``max``, ``std``, ``pNN``,
    ``count`` = weighted pixel count), ``above_share`` (0–1 of the measured area above
    ``threshold``, when given), ``measured_px``, ``measured_area_m2``, ``coverage``.

Areas: every ``*_area_m2`` is in m² of EPSG:2154, qpvgeo's working CRS, whatever the raster's
CRS: the measured share of a polygon (exact, computed in pixel space) times the polygon's
Lambert-93 area. CC50 (EPSG:3950) areas are about 0.3 % smaller than Lambert-93 ones at Lens.

Every result carries provenance in ``result.attrs["qpvgeo"]`` (source, vintage, method, units).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from qpvgeo import _validate
from qpvgeo._progress import ProgressCallback, report, scaled
from qpvgeo.coverage import (
    DEFAULT_BATCH_CELLS,
    CoverageBlock,
    CoverageMode,
    PixelPolygons,
    erode,
    iter_coverage,
    prepare_polygons,
    ring_arrays,
)
from qpvgeo.errors import DataQualityWarning, SchemaError
from qpvgeo.raster import DEFAULT_BUDGET_BYTES, RasterSource, open_raster

__all__ = [
    "DEFAULT_SCHEME",
    "NOT_MEASURED_LABEL",
    "UNCLASSIFIED_LABEL",
    "HeatLossClass",
    "HeatLossScheme",
    "building_heat_loss",
    "class_fractions",
    "heat_loss_shares",
    "raster_summary",
]

NOT_MEASURED_LABEL = "non mesuré"
"""Label of buildings without any valid pixel (outside the raster, nodata, class 0)."""
UNCLASSIFIED_LABEL = "non classé"
"""Label of buildings with too few valid pixels to be classed (never a guess)."""
NOT_MEASURED_COLOUR = "#d9d9d9"
UNCLASSIFIED_COLOUR = "#9e9e9e"

RasterInput = str | os.PathLike[str] | RasterSource

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
_STAT = re.compile(r"^(mean|median|min|max|std|count|p(\d{1,2}(\.\d+)?|100))$")


# ----------------------------------------------------------------------------------------------
# Scheme
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HeatLossClass:
    """One heat-loss class: raster value (or ordinal for temperature schemes), label, colour.

    Attributes
    ----------
    value : int
        Class value as stored in a classified raster (1, 2, …).
    label : str
        French label shown on maps and tables (e.g. "fortes").
    colour : str
        Hex colour ``#rrggbb`` used by the maps and the QGIS style.
    strong : bool
        Whether the class counts as strong heat loss in :func:`heat_loss_shares`.
    """

    value: int
    label: str
    colour: str
    strong: bool = False


@dataclass(frozen=True)
class HeatLossScheme:
    """How raster values become heat-loss classes, with labels and colours.

    Two kinds:

    - ``"classified"``: the raster already holds class values (vendors' 4–5 groups); each roof
      takes the class holding the largest share of its measured area (``statistic="majority"``;
      an exact tie goes to the higher class). Values in ``not_measured`` (0 in the CALL's
      product) and nodata are not measured.
    - ``"continuous"``: the raster holds apparent temperatures (°C, float). A per-roof statistic
      (``"mean"``, ``"median"`` or ``"pNN"``, coverage-weighted) is compared with ``breaks``:
      class ``k`` (1-based, in ``classes`` order) holds values in ``[breaks[k-2], breaks[k-1])``.
      With ``relative=True`` the breaks are percentiles (0–100) of that statistic over the
      classed roofs of the scene, the usual relative blue→red reading of thermography; the
      territory-wide class shares are then fixed by construction and only differences between
      zones carry information.

    Attributes
    ----------
    classes : tuple of HeatLossClass
        Ordered from the weakest to the strongest heat loss.
    kind : {"classified", "continuous"}
    not_measured : tuple of float
        Raster values meaning "not measured" (classified rasters).
    breaks : tuple of float
        ``len(classes) - 1`` increasing breaks (continuous rasters), in raster units or
        percentiles when ``relative``.
    relative : bool
        Breaks are percentiles of the scene's per-roof statistic.
    statistic : str
        ``"majority"`` (classified) or ``"mean"``, ``"median"``, ``"pNN"`` (continuous).
    units : str
        Units of the raster values (``"classe"``, ``"°C"``).
    name : str
        Short description used in provenance.

    Examples
    --------
    >>> DEFAULT_SCHEME.table()[["value", "label", "colour"]].head(2)
       value     label   colour
    0      1   faibles  #2c7bb6
    1      2  moyennes  #abd9e9
    """

    classes: tuple[HeatLossClass, ...]
    kind: Literal["classified", "continuous"] = "classified"
    not_measured: tuple[float, ...] = (0,)
    breaks: tuple[float, ...] = ()
    relative: bool = False
    statistic: str = "majority"
    units: str = "classe"
    name: str = "déperditions thermiques"
    _by_value: dict[int, HeatLossClass] = field(default_factory=dict, repr=False,
                                                compare=False)

    def __post_init__(self) -> None:
        if not self.classes:
            raise ValueError("HeatLossScheme needs at least one class")
        values = [c.value for c in self.classes]
        if len(set(values)) != len(values):
            raise ValueError(f"HeatLossScheme: duplicate class values {values}")
        labels = [c.label for c in self.classes]
        if len(set(labels)) != len(labels) or {NOT_MEASURED_LABEL, UNCLASSIFIED_LABEL} & set(
                labels):
            raise ValueError(f"HeatLossScheme: labels must be unique and differ from "
                             f"'{NOT_MEASURED_LABEL}'/'{UNCLASSIFIED_LABEL}': {labels}")
        for c in self.classes:
            if not _HEX.match(c.colour):
                raise ValueError(f"HeatLossScheme: colour {c.colour!r} of class {c.label!r} is "
                                 "not a #rrggbb hex colour")
        if self.kind == "classified":
            if self.statistic != "majority":
                raise ValueError("a classified scheme uses statistic='majority'")
        elif self.kind == "continuous":
            if len(self.breaks) != len(self.classes) - 1:
                raise ValueError(f"a continuous scheme with {len(self.classes)} classes needs "
                                 f"{len(self.classes) - 1} breaks, got {len(self.breaks)}")
            if any(b2 <= b1 for b1, b2 in zip(self.breaks, self.breaks[1:], strict=False)):
                raise ValueError(f"breaks must increase: {self.breaks}")
            if self.relative and any(not 0 <= b <= 100 for b in self.breaks):
                raise ValueError(f"relative breaks are percentiles 0–100: {self.breaks}")
            if self.statistic == "majority" or not _STAT.match(self.statistic) or \
                    self.statistic in ("count", "std", "min", "max"):
                raise ValueError("a continuous scheme uses statistic 'mean', 'median' or 'pNN', "
                                 f"not {self.statistic!r}")
        else:
            raise ValueError(f"kind must be 'classified' or 'continuous', not {self.kind!r}")
        self._by_value.update({c.value: c for c in self.classes})

    @classmethod
    def call_4_classes(cls) -> HeatLossScheme:
        """Return the CALL's 4-class "Déperdition thermique globale" scheme (EPSG:3950).

        Values 1 faibles (blue ``#2c7bb6``), 2 moyennes (light blue ``#abd9e9``), 3 fortes
        (yellow ``#fdd835``), 4 excessives (red ``#d7191c``); 0 = non mesuré. Strong classes:
        fortes and excessives, as in the diagnostic.
        """
        return cls(classes=(
            HeatLossClass(1, "faibles", "#2c7bb6"),
            HeatLossClass(2, "moyennes", "#abd9e9"),
            HeatLossClass(3, "fortes", "#fdd835", strong=True),
            HeatLossClass(4, "excessives", "#d7191c", strong=True),
        ), kind="classified", not_measured=(0,), name="CALL, déperdition thermique globale "
                                                       "(4 classes)")

    @classmethod
    def temperature(
        cls, breaks: Sequence[float] | None = None, *, relative: bool | None = None,
        statistic: str = "mean",
        labels: Sequence[str] = ("faibles", "moyennes", "fortes", "excessives"),
        colours: Sequence[str] = ("#2c7bb6", "#abd9e9", "#fdd835", "#d7191c"),
        strong: Sequence[str] = ("fortes", "excessives"), units: str = "°C",
    ) -> HeatLossScheme:
        """Build a scheme for continuous apparent-temperature rasters.

        Parameters
        ----------
        breaks : sequence of float, optional
            ``len(labels) - 1`` increasing breaks, in °C (absolute) or percentiles 0–100
            (``relative=True``). Default: quartiles of the scene, ``(25, 50, 75)`` relative.
        relative : bool, optional
            Breaks are percentiles of the per-roof statistic over the scene's classed roofs.
            Default: True without ``breaks``, False (°C) when ``breaks`` are given.
        statistic : str
            Per-roof statistic: ``"mean"``, ``"median"`` or ``"pNN"`` (coverage-weighted).
        labels, colours : sequence of str
            One per class, weakest first.
        strong : sequence of str
            Labels counted as strong heat loss.
        units : str
            Units of the raster values.
        """
        if relative is None:
            relative = breaks is None
        if breaks is None:
            breaks = (25.0, 50.0, 75.0)
        if len(labels) != len(colours):
            raise ValueError("labels and colours must have the same length")
        classes = tuple(HeatLossClass(i + 1, lab, col, lab in strong)
                        for i, (lab, col) in enumerate(zip(labels, colours, strict=True)))
        kind = "percentiles" if relative else "seuils"
        return cls(classes=classes, kind="continuous", not_measured=(), breaks=tuple(
            float(b) for b in breaks), relative=relative, statistic=statistic, units=units,
            name=f"températures apparentes, {statistic} par toit, {kind} {tuple(breaks)}")

    # data for maps and styles ------------------------------------------------------------
    @property
    def values(self) -> list[int]:
        """Class values, weakest first."""
        return [c.value for c in self.classes]

    @property
    def strong_values(self) -> list[int]:
        """Values of the classes counted as strong heat loss."""
        return [c.value for c in self.classes if c.strong]

    def label(self, value: int) -> str:
        """Label of a class value."""
        return self._by_value[int(value)].label

    def table(self) -> pd.DataFrame:
        """Return the legend as data, one row per class then "non classé" and "non mesuré".

        Columns ``value`` (Int64, <NA> for the two status rows), ``label``, ``colour`` (hex),
        ``strong`` (bool). The maps and the QGIS style (QML) are built from it.
        """
        rows: list[tuple[Any, str, str, bool]] = [
            (c.value, c.label, c.colour, c.strong) for c in self.classes]
        rows += [(pd.NA, UNCLASSIFIED_LABEL, UNCLASSIFIED_COLOUR, False),
                 (pd.NA, NOT_MEASURED_LABEL, NOT_MEASURED_COLOUR, False)]
        df = pd.DataFrame(rows, columns=["value", "label", "colour", "strong"])
        df["value"] = df["value"].astype("Int64")
        df["label"] = df["label"].astype(object)
        df["colour"] = df["colour"].astype(object)
        return df


DEFAULT_SCHEME = HeatLossScheme.call_4_classes()
"""Default scheme: the CALL's 4 classes (1 faibles … 4 excessives, 0 non mesuré)."""


# ----------------------------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------------------------
class _Opened:
    """Open a raster path (and close it) or pass an open RasterSource through."""

    def __init__(self, raster: RasterInput, band: int) -> None:
        self._owned = not isinstance(raster, RasterSource)
        self.src = open_raster(raster, band=band)

    def __enter__(self) -> RasterSource:
        return self.src

    def __exit__(self, *exc: object) -> None:
        if self._owned:
            self.src.close()


def _layer_name(gdf: Any, default: str) -> str:
    attrs = getattr(gdf, "attrs", {}) or {}
    return str(attrs.get("name") or attrs.get("path") or default)


def _prepared(
    gdf: gpd.GeoDataFrame, src: RasterSource, *, name: str, buffer_m: float = 0.0,
    min_area_m2: float = 0.0,
) -> tuple[PixelPolygons, np.ndarray, np.ndarray]:
    """Return (polygons on the raster grid, their EPSG:2154 areas m², interior mask).

    The layer is checked (GeoDataFrame, CRS, polygons), brought to Lambert-93, repaired
    (warning) and, with ``buffer_m > 0``, shrunk by a negative buffer in Lambert-93 metres
    (:func:`qpvgeo.coverage.erode`); a shrunk polygon smaller than ``min_area_m2`` falls back
    to the whole footprint. Vertices are then reprojected to the raster's CRS as flat arrays
    (as ``GeoDataFrame.to_crs`` does, vertex by vertex). Positions follow the input rows.
    """
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise SchemaError(f"{name}: expected a GeoDataFrame of polygons, got "
                          f"{type(gdf).__name__}; read the layer with qpvgeo.io or geopandas")
    _validate.check_not_empty(gdf, name=name, what="polygon")
    l93 = _validate.to_lambert93(gdf[[gdf.geometry.name]], name=name)
    l93 = l93.set_axis(pd.RangeIndex(len(l93)), axis=0)
    geom = np.asarray(l93.geometry.array, dtype=object)
    types = shapely.get_type_id(geom)
    bad = ~np.isin(types, [-1, 3, 6]) & ~shapely.is_empty(geom)
    if bad.any():
        kinds = sorted({shapely.get_type_id(g) for g in geom[bad]})
        names = {0: "Point", 1: "LineString", 2: "LinearRing", 4: "MultiPoint",
                 5: "MultiLineString", 7: "GeometryCollection"}
        raise SchemaError(
            f"{name}: {int(bad.sum())} geometr{'y is' if bad.sum() == 1 else 'ies are'} not "
            f"polygons ({', '.join(names.get(k, str(k)) for k in kinds)}); zones and buildings "
            "must be polygons or multipolygons"
        )
    repaired = _validate.repair_geometries(l93, name=name)
    geom = np.full(len(l93), None, dtype=object)
    geom[repaired.index.to_numpy()] = np.asarray(repaired.geometry.array, dtype=object)
    rings = ring_arrays(geom)
    interior = np.zeros(len(geom), dtype=bool)
    if buffer_m > 0:
        shrunk = erode(geom, float(buffer_m), rings)
        shrunk_area = shrunk.polygon_areas()
        interior = (shrunk_area > 0) & (shrunk_area >= min_area_m2)
        rings = rings.choose(shrunk, interior)
    area_l93 = rings.polygon_areas()
    if not src.crs.equals(_validate.LAMBERT93):
        from pyproj import Transformer

        tr = Transformer.from_crs(_validate.LAMBERT93, src.crs, always_xy=True)
        x, y = tr.transform(rings.x, rings.y)
        rings = rings.with_xy(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return prepare_polygons(rings, src.transform), area_l93, interior


def _pixel_area_l93(src: RasterSource) -> float:
    """Area in EPSG:2154 m² of the raster's central pixel (any raster CRS)."""
    a, b, c, d, e, f = src.transform
    i, j = src.width // 2, src.height // 2
    corners = [(c + a * x + b * y, f + d * x + e * y)
               for x, y in ((i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1))]
    pix = gpd.GeoSeries([shapely.Polygon(corners)], crs=src.crs)
    return float(_validate.to_lambert93(gpd.GeoDataFrame(geometry=pix)).area.iloc[0])


def _area_factor(pp: PixelPolygons, area_l93: np.ndarray) -> np.ndarray:
    """Lambert-93 m² per (fractional) pixel, per polygon.

    Measured areas are the measured share of each polygon (exact, in pixel space) times the
    polygon's area in EPSG:2154, qpvgeo's working CRS, so that they compare with every other
    area of the library whatever the raster's CRS (CC50 areas are about 0.3 % smaller than
    Lambert-93 ones at Lens; geographic rasters have no metric pixel area at all).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pp.area_px > 0, area_l93 / pp.area_px, 0.0)


def _provenance(src: RasterSource, method: str, units: Any, illustrative: bool) -> dict[str, Any]:
    tags = src.tags
    vintage = tags.get("QPVGEO_VINTAGE") or tags.get("TIFFTAG_DATETIME") or None
    source = tags.get("QPVGEO_SOURCE") or src.name
    if illustrative:
        source = f"{_validate.ILLUSTRATIVE} ({src.name})"
    return {"source": source, "vintage": vintage, "method": method, "units": units,
            "raster": src.name, "raster_crs": src.crs.to_string()}


def _check_mode(coverage: str) -> CoverageMode:
    if coverage == "center":
        coverage = "centre"
    if coverage not in ("exact", "centre"):
        raise ValueError(f"coverage must be 'exact' or 'centre', not {coverage!r}")
    return coverage  # type: ignore[return-value]


def _as_physical(src: RasterSource, values: np.ndarray) -> np.ndarray:
    out = values.astype(np.float64)
    if src.scale != 1.0 or src.offset != 0.0:
        out = out * src.scale + src.offset
    return out


class _ClassAccumulator:
    """Coverage-weighted area per (polygon, class value), grown as new values appear."""

    def __init__(self, n: int, classes: Sequence[float] | None) -> None:
        self.n = n
        self.fixed = classes is not None
        self.values: list[float] = [float(v) for v in classes] if classes is not None else []
        self.col = {v: i for i, v in enumerate(self.values)}
        self.area = np.zeros((n, max(1, len(self.values))))
        self.measured = np.zeros(n)
        self.other_px = 0.0
        self.other_values: set[float] = set()

    def _columns_for(self, uniq: np.ndarray) -> np.ndarray:
        cols = np.empty(len(uniq), dtype=np.int64)
        for i, v in enumerate(uniq.tolist()):
            j = self.col.get(float(v))
            if j is None:
                if self.fixed:
                    j = -1
                    self.other_values.add(float(v))
                else:
                    j = len(self.values)
                    self.values.append(float(v))
                    self.col[float(v)] = j
            cols[i] = j
        if self.area.shape[1] < len(self.values):
            self.area = np.pad(self.area, ((0, 0), (0, len(self.values) - self.area.shape[1])))
        return cols

    def add_block(self, block: CoverageBlock, src: RasterSource,
                  not_measured: Sequence[float]) -> bool:
        """Add a 2-D window of one polygon with one weighted bincount of its values.

        Returns False (nothing added) for rasters that are not 8/16-bit integers.
        """
        values = block.values
        if values.dtype.kind not in "iub" or values.dtype.itemsize > 2:
            return False
        if block.weight.dtype == np.bool_:  # centre mode: count the cells inside
            v = values[block.weight]
            w = None
        else:
            v = values.reshape(-1)
            w = block.weight.reshape(-1)
        if not len(v):
            return True
        if values.dtype == np.uint8:
            base = 0
            sums = np.bincount(v, weights=w, minlength=256)
        else:
            base = int(v.min())
            sums = np.bincount(v.astype(np.int64) - base, weights=w)
        present = np.flatnonzero(sums > 0)
        vals = (present + base).astype(values.dtype)
        ok = _measured_mask(src, vals, not_measured)
        vals, area = vals[ok], sums[present][ok]
        if not len(vals):
            return True
        cols = self._columns_for(vals)
        self.measured[block.poly] += float(area.sum())
        known = cols >= 0
        if not known.all():
            self.other_px += float(area[~known].sum())
            self.other_values.update(float(x) for x in vals[~known])
        np.add.at(self.area[block.poly], cols[known], area[known])
        return True

    def add_binned(self, poly: np.ndarray, values: np.ndarray, weight: np.ndarray,
                   src: RasterSource, not_measured: Sequence[float]) -> bool:
        """Add cells of 8/16-bit rasters with one weighted bincount over (polygon, value).

        Nodata and not-measured values are binned too and dropped afterwards, which avoids
        filtering every cell. Returns False (nothing added) when not applicable.
        """
        if values.dtype.kind not in "iub" or values.dtype.itemsize > 2:
            return False
        if not len(poly):
            return True
        pmin, pmax = int(poly.min()), int(poly.max())
        span = pmax - pmin + 1
        if values.dtype == np.uint8:
            base, nv, v = 0, 256, values
        else:
            base = int(values.min())
            nv = int(values.max()) - base + 1
            v = values.astype(np.int64) - base
        if span * nv > 20_000_000:
            return False
        sums = np.bincount((poly - pmin) * nv + v, weights=weight,
                           minlength=span * nv).reshape(span, nv)
        present = np.flatnonzero(sums.sum(axis=0) > 0)
        vals = (present + base).astype(values.dtype)
        ok = _measured_mask(src, vals, not_measured)
        present, vals = present[ok], vals[ok]
        if not len(present):
            return True
        cols = self._columns_for(vals)
        sub = sums[:, present]
        self.measured[pmin:pmax + 1] += sub.sum(axis=1)
        known = cols >= 0
        if not known.all():
            self.other_px += float(sub[:, ~known].sum())
            self.other_values.update(float(x) for x in vals[~known])
        self.area[pmin:pmax + 1, cols[known]] += sub[:, known]
        return True

    def add(self, poly: np.ndarray, values: np.ndarray, weight: np.ndarray) -> None:
        if not len(poly):
            return
        self.measured += np.bincount(poly, weights=weight, minlength=self.n)
        if values.dtype.kind in "iub" and values.dtype.itemsize <= 2:
            vmin = int(values.min())
            present = np.flatnonzero(np.bincount(values.astype(np.int64) - vmin))
            uniq = present + vmin
            lut = np.full(int(values.max()) - vmin + 1, -1, dtype=np.int64)
            lut[present] = self._columns_for(uniq)
            col = lut[values.astype(np.int64) - vmin]
        else:
            uniq, inv = np.unique(values, return_inverse=True)
            col = self._columns_for(uniq)[inv.reshape(-1)]
        known = col >= 0
        if not known.all():
            self.other_px += float(weight[~known].sum())
            poly, col, weight = poly[known], col[known], weight[known]
        k = self.area.shape[1]
        pmin, pmax = int(poly.min()), int(poly.max())
        span = pmax - pmin + 1
        sums = np.bincount((poly - pmin) * k + col, weights=weight, minlength=span * k)
        self.area[pmin:pmax + 1] += sums.reshape(span, k)


def _measured_mask(src: RasterSource, values: np.ndarray, not_measured: Sequence[float]
                   ) -> np.ndarray:
    ok = src.is_valid(values)
    if len(not_measured):
        ok &= ~np.isin(values, np.asarray(not_measured, dtype=values.dtype)
                       if values.dtype.kind != "f" else np.asarray(not_measured, dtype=float))
    return ok


def _class_areas(
    src: RasterSource, pp: PixelPolygons, *, mode: CoverageMode, classes: Sequence[float] | None,
    not_measured: Sequence[float], budget_bytes: int, batch_cells: int,
    progress: ProgressCallback | None,
) -> _ClassAccumulator:
    acc = _ClassAccumulator(pp.n, classes)
    for item in iter_coverage(src, pp, mode=mode, budget_bytes=budget_bytes,
                              batch_cells=batch_cells, progress=progress, blocks=True):
        if isinstance(item, CoverageBlock):
            if acc.add_block(item, src, not_measured):
                continue
            batch = item.flat()
        else:
            batch = item
        if acc.add_binned(batch.poly, batch.values, batch.weight, src, not_measured):
            continue
        ok = _measured_mask(src, batch.values, not_measured)
        acc.add(batch.poly[ok], batch.values[ok], batch.weight[ok])
    return acc


def _column_label(v: float, integral: bool) -> int | float:
    return int(v) if integral and float(v).is_integer() else float(v)


# ----------------------------------------------------------------------------------------------
# class_fractions
# ----------------------------------------------------------------------------------------------
def class_fractions(
    raster: RasterInput, zones: gpd.GeoDataFrame, *, band: int = 1,
    coverage: str = "exact", classes: Sequence[float] | None = None,
    not_measured: Sequence[float] = (), budget_bytes: int = DEFAULT_BUDGET_BYTES,
    batch_cells: int = DEFAULT_BATCH_CELLS, progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Share of each polygon's measured area in each class of a classified raster.

    Parameters
    ----------
    raster : path or RasterSource
        Classified raster (integer classes; float values are accepted and used as they are).
    zones : GeoDataFrame
        Polygons in any CRS (reprojected to the raster's CRS; a layer without CRS raises
        :class:`~qpvgeo.errors.MissingCRSError`). Invalid geometries are repaired with a
        :class:`~qpvgeo.errors.DataQualityWarning`.
    band : int
        Band number, 1-based.
    coverage : {"exact", "centre"}
        ``"exact"`` weights each pixel by the exact fraction of its area inside the polygon
        (exactextract's coverage fraction), so a polygon smaller than a pixel still gets its
        fractions; ``"centre"`` counts the pixels whose centre lies inside (faster
        approximation; small polygons may get no pixel).
    classes : sequence of numbers, optional
        Class values to report, in this order. Default: every value found. Pixels of unlisted
        values still count in the measured area (fractions then sum to less than 1, with a
        :class:`~qpvgeo.errors.DataQualityWarning`).
    not_measured : sequence of numbers
        Values meaning "not measured" (e.g. ``(0,)``), excluded like nodata.
    budget_bytes : int
        Raster pixels held in memory at once (bytes), default 512 MB.
    batch_cells : int
        Work units per batch (buffer cells plus 4 per edge piece; ~100 bytes each of
        temporary arrays), see :func:`qpvgeo.coverage.iter_coverage`.
    progress : callable, optional
        ``progress(fraction, message)``; may raise :class:`~qpvgeo.errors.Cancelled`.

    Returns
    -------
    pandas.DataFrame
        Index = ``zones.index`` (order kept). One column per class value (share of the measured
        area, 0–1; NaN when nothing is measured), then ``measured_px`` (pixels, fractional in
        exact mode), ``measured_area_m2`` (m², EPSG:2154) and ``coverage`` (measured area /
        polygon area, 0–1; NaN for an empty polygon); ``source`` = "illustratif" when an input is.

    Raises
    ------
    NoOverlapError
        The raster overlaps none of the zones.
    MissingCRSError
        The raster or the zones have no CRS.
    """
    mode = _check_mode(coverage)
    name = _layer_name(zones, "zones")
    with _Opened(raster, band) as src:
        pp, area_l93, _ = _prepared(zones, src, name=name)
        acc = _class_areas(src, pp, mode=mode, classes=classes, not_measured=not_measured,
                           budget_bytes=budget_bytes, batch_cells=batch_cells,
                           progress=progress)
        factor = _area_factor(pp, area_l93)
        illustrative = _validate.is_illustrative(src.tags) or _validate.is_illustrative(zones)
        prov = _provenance(src, f"{mode} coverage class fractions", {
            "fractions": "share of measured area (0-1)", "measured_area_m2": "m2",
            "measured_px": "pixels"}, illustrative)
        integral = src.dtype.kind in "iub"
    if acc.other_px > 0:
        warnings.warn(
            f"{src.name}: {acc.other_px:.1f} measured pixel(s) hold values not listed in "
            f"classes ({', '.join(f'{v:g}' for v in sorted(acc.other_values)[:10])}); they count "
            "in the measured area but in no class column",
            DataQualityWarning, stacklevel=2,
        )
    order = np.argsort(acc.values) if classes is None else np.arange(len(acc.values))
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = acc.area[:, :len(acc.values)] / acc.measured[:, None]
        frac[acc.measured <= 0] = np.nan
        cov = np.where(pp.area_px > 0, acc.measured / pp.area_px, np.nan)
    data: dict[Any, Any] = {
        _column_label(acc.values[j], integral): frac[:, j] for j in order
    }
    data["measured_px"] = acc.measured
    data["measured_area_m2"] = acc.measured * factor
    data["coverage"] = np.minimum(cov, 1.0)
    out = pd.DataFrame(data, index=zones.index)
    if illustrative:
        out["source"] = pd.Series(_validate.ILLUSTRATIVE, index=out.index, dtype=object)
    out.attrs["qpvgeo"] = prov
    return out


# ----------------------------------------------------------------------------------------------
# Weighted statistics (continuous rasters)
# ----------------------------------------------------------------------------------------------
def _group_quantiles(group: np.ndarray, values: np.ndarray, weight: np.ndarray, n: int,
                     qs: Sequence[float]) -> dict[float, np.ndarray]:
    """Coverage-weighted quantiles per group, exactextract's definition.

    For one group with values sorted ``x_0 ≤ … ≤ x_{m-1}`` and weights ``w_i``, let
    ``S_i = i·w_i + (m-1)·Σ_{j<i} w_j`` and ``T = q·(m-1)·Σ w``; the quantile is interpolated
    linearly between the last element with ``S_i ≤ T`` and the next one (the last element when
    none follows). With equal weights this is the usual linear (type 7) quantile.
    """
    out = {q: np.full(n, np.nan) for q in qs}
    if not len(group):
        return out
    order = np.lexsort((values, group))
    g, v, w = group[order], values[order], weight[order]
    m = np.bincount(g, minlength=n)
    starts = np.concatenate([[0], np.cumsum(m)[:-1]])
    pos = np.arange(len(g)) - starts[g]
    cw = np.cumsum(w)
    cw_start = np.where(starts > 0, cw[np.maximum(starts - 1, 0)], 0.0)
    prev = cw - w - cw_start[g]  # exclusive cumulative weight within the group
    total = np.bincount(g, weights=w, minlength=n)
    s = pos * w + (m[g] - 1) * prev
    present = m > 0
    for q in qs:
        target = q * (m - 1) * total
        below = np.bincount(g, weights=(s <= target[g]).astype(float), minlength=n)
        k = below.astype(np.int64)  # elements with S <= T; k >= 1 since S_0 = 0
        k = np.clip(k, 1, np.maximum(m, 1))
        left = starts + k - 1
        right = starts + k
        res = np.full(n, np.nan)
        last = present & (k >= m)
        res[last] = v[left[last]]
        mid = present & (k < m)
        if mid.any():
            li, ri = left[mid], right[mid]
            with np.errstate(invalid="ignore", divide="ignore"):
                frac = (target[mid] - s[li]) / (s[ri] - s[li])
            frac = np.where(np.isfinite(frac), frac, 0.0)
            res[mid] = v[li] + frac * (v[ri] - v[li])
        out[q] = res
    return out


def _parse_stats(stats: Iterable[str]) -> list[str]:
    out = []
    for s in stats:
        s = str(s).lower()
        if not _STAT.match(s):
            raise ValueError(f"unknown statistic {s!r}; use mean, median, min, max, std, count "
                             "or pNN (e.g. p90)")
        out.append(s)
    return out


def _quantile_of(stat: str) -> float | None:
    if stat == "median":
        return 0.5
    if stat.startswith("p"):
        return float(stat[1:]) / 100.0
    return None


class _Pairs:
    """Collects (polygon, value, weight) of measured cells, plus streamed sums."""

    def __init__(self, n: int, keep: bool) -> None:
        self.n = n
        self.keep = keep
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.sw = np.zeros(n)
        self.swv = np.zeros(n)
        self.swv2 = np.zeros(n)
        self.vmin = np.full(n, np.inf)
        self.vmax = np.full(n, -np.inf)
        self.above = np.zeros(n)

    def add(self, poly: np.ndarray, v: np.ndarray, w: np.ndarray, threshold: float | None
            ) -> None:
        if not len(poly):
            return
        self.sw += np.bincount(poly, weights=w, minlength=self.n)
        self.swv += np.bincount(poly, weights=w * v, minlength=self.n)
        self.swv2 += np.bincount(poly, weights=w * v * v, minlength=self.n)
        np.minimum.at(self.vmin, poly, v)
        np.maximum.at(self.vmax, poly, v)
        if threshold is not None:
            self.above += np.bincount(poly, weights=w * (v > threshold), minlength=self.n)
        if self.keep:
            self.parts.append((poly, v, w))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.parts:
            e = np.zeros(0)
            return e.astype(np.int64), e, e
        return (np.concatenate([p[0] for p in self.parts]),
                np.concatenate([p[1] for p in self.parts]),
                np.concatenate([p[2] for p in self.parts]))

    def stat(self, s: str) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            has = self.sw > 0
            if s == "mean":
                return np.where(has, self.swv / self.sw, np.nan)
            if s == "std":
                mean = self.swv / self.sw
                var = np.maximum(self.swv2 / self.sw - mean * mean, 0.0)
                return np.where(has, np.sqrt(var), np.nan)
            if s == "min":
                return np.where(has, self.vmin, np.nan)
            if s == "max":
                return np.where(has, self.vmax, np.nan)
            if s == "count":
                return self.sw.copy()
        raise ValueError(s)


def _collect(src: RasterSource, pp: PixelPolygons, *, mode: CoverageMode, keep: bool,
             threshold: float | None, not_measured: Sequence[float], budget_bytes: int,
             batch_cells: int, progress: ProgressCallback | None) -> _Pairs:
    pairs = _Pairs(pp.n, keep)
    for item in iter_coverage(src, pp, mode=mode, budget_bytes=budget_bytes,
                              batch_cells=batch_cells, progress=progress):
        batch = item.flat() if isinstance(item, CoverageBlock) else item
        ok = _measured_mask(src, batch.values, not_measured)
        pairs.add(batch.poly[ok], _as_physical(src, batch.values[ok]), batch.weight[ok],
                  threshold)
    return pairs


# ----------------------------------------------------------------------------------------------
# raster_summary
# ----------------------------------------------------------------------------------------------
def raster_summary(
    raster: RasterInput, zones: gpd.GeoDataFrame, *,
    stats: Sequence[str] = ("mean", "median", "p90"), threshold: float | None = None,
    band: int = 1, coverage: str = "exact", prefix: str = "",
    budget_bytes: int = DEFAULT_BUDGET_BYTES, batch_cells: int = DEFAULT_BATCH_CELLS,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Coverage-weighted statistics of a continuous raster per zone.

    For summer surface temperature (heat islands), a vegetation index or tree canopy: each pixel
    weighs by the fraction of its area inside the zone (``coverage="exact"``) or by 1 when its
    centre is inside (``"centre"``). For the territory figure, pass the territory polygon (e.g.
    the EPCI from :func:`qpvgeo.io.read_epci`) as a zone.

    Parameters
    ----------
    raster : path or RasterSource
        Continuous raster; band scale/offset are applied (physical units); nodata and NaN
        pixels are not measured.
    zones : GeoDataFrame
        Polygons in any CRS (reprojected to the raster's CRS).
    stats : sequence of str
        Among ``mean``, ``median``, ``min``, ``max``, ``std`` (weighted population standard
        deviation), ``count`` (weighted pixel count) and ``pNN`` (weighted percentile, e.g.
        ``p90``; definition of exactextract's ``quantile``). Medians and percentiles keep
        every covered cell in memory (about 24 bytes per cell); the others stream.
    threshold : float, optional
        Adds ``above_share``: share of the measured area whose value is strictly above it (0–1).
    band : int
        Band number, 1-based.
    coverage : {"exact", "centre"}
        Pixel weighting rule (see :func:`class_fractions`).
    prefix : str
        Prepended to the output columns with an underscore (``prefix="lst"`` → ``lst_mean``).
    budget_bytes, batch_cells, progress
        See :func:`class_fractions`.

    Returns
    -------
    pandas.DataFrame
        Index = ``zones.index``. Statistic columns in raster units (NaN where nothing is
        measured), ``above_share`` (with ``threshold``), ``measured_px``, ``measured_area_m2``
        (m²), ``coverage`` (0–1); ``source`` = "illustratif" when an input is.
    """
    mode = _check_mode(coverage)
    wanted = _parse_stats(stats)
    qs = [q for q in (_quantile_of(s) for s in wanted) if q is not None]
    name = _layer_name(zones, "zones")
    with _Opened(raster, band) as src:
        pp, area_l93, _ = _prepared(zones, src, name=name)
        pairs = _collect(src, pp, mode=mode, keep=bool(qs), threshold=threshold,
                         not_measured=(), budget_bytes=budget_bytes, batch_cells=batch_cells,
                         progress=progress)
        factor = _area_factor(pp, area_l93)
        illustrative = _validate.is_illustrative(src.tags) or _validate.is_illustrative(zones)
        prov = _provenance(src, f"{mode} coverage weighted statistics", {
            "statistics": "raster units", "above_share": "share of measured area (0-1)",
            "measured_area_m2": "m2"}, illustrative)
    quant: dict[float, np.ndarray] = {}
    if qs:
        g, v, w = pairs.arrays()
        quant = _group_quantiles(g, v, w, pp.n, qs)
    pre = f"{prefix}_" if prefix else ""
    data: dict[str, Any] = {}
    for s in wanted:
        q = _quantile_of(s)
        data[pre + s] = quant[q] if q is not None else pairs.stat(s)
    if threshold is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            data[pre + "above_share"] = np.where(pairs.sw > 0, pairs.above / pairs.sw, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = np.where(pp.area_px > 0, pairs.sw / pp.area_px, np.nan)
    data[pre + "measured_px"] = pairs.sw
    data[pre + "measured_area_m2"] = pairs.sw * factor
    data[pre + "coverage"] = np.minimum(cov, 1.0)
    out = pd.DataFrame(data, index=zones.index)
    if illustrative:
        out["source"] = pd.Series(_validate.ILLUSTRATIVE, index=out.index, dtype=object)
    prov["threshold"] = threshold
    out.attrs["qpvgeo"] = prov
    return out


# ----------------------------------------------------------------------------------------------
# building_heat_loss
# ----------------------------------------------------------------------------------------------
def building_heat_loss(
    raster: RasterInput, buildings: gpd.GeoDataFrame, *, scheme: HeatLossScheme | None = None,
    interior_buffer_m: float = 1.0, min_valid_pixels: float = 4.0, statistic: str | None = None,
    coverage: str = "exact", band: int = 1, budget_bytes: int = DEFAULT_BUDGET_BYTES,
    batch_cells: int = DEFAULT_BATCH_CELLS, progress: ProgressCallback | None = None,
) -> gpd.GeoDataFrame:
    """Heat-loss class of every building from an aerial thermography raster.

    Each roof is measured on its interior: the footprint shrunk by ``interior_buffer_m``
    (Lambert-93 metres) so that pixels mixing roof, walls and ground are left out; a roof too
    small for that (the shrunk polygon is empty or smaller than ``min_valid_pixels`` pixels) is
    measured on its whole footprint (``heatloss_interior`` False). A roof with fewer than
    ``min_valid_pixels`` valid pixels (coverage-weighted in exact mode) is "non classé"; one
    without any is "non mesuré". Neither is guessed.

    Parameters
    ----------
    raster : path or RasterSource
        Classified heat-loss raster (e.g. the CALL's 4 classes in EPSG:3950) or continuous
        apparent temperatures (°C) with a continuous ``scheme``.
    buildings : GeoDataFrame
        Building footprints (e.g. BD TOPO ``BATIMENT`` via :func:`qpvgeo.io.read_buildings`),
        any CRS.
    scheme : HeatLossScheme, optional
        Classes, labels, colours and (continuous rasters) breaks; default
        :data:`DEFAULT_SCHEME`.
    interior_buffer_m : float
        Negative buffer in metres (0 to use whole footprints). Default 1 m: two pixels of
        50 cm imagery.
    min_valid_pixels : float
        Minimum number of valid pixels to class a roof. Default 4; with 50 cm imagery a
        higher value (10–20) makes classes of small roofs more robust.
    statistic : str, optional
        Overrides the scheme's per-roof statistic (continuous schemes: mean, median, pNN).
    coverage : {"exact", "centre"}
        Pixel weighting rule (see :func:`class_fractions`).
    band, budget_bytes, batch_cells, progress
        See :func:`class_fractions`.

    Returns
    -------
    geopandas.GeoDataFrame
        The buildings (index, order and columns kept, geometry in EPSG:2154) with the
        ``heatloss_*`` columns listed in the module docstring; ``attrs["qpvgeo"]`` holds the
        provenance and, for relative schemes, the breaks computed from the scene.
    """
    mode = _check_mode(coverage)
    scheme = scheme or DEFAULT_SCHEME
    if statistic is not None and statistic != scheme.statistic:
        scheme = HeatLossScheme(scheme.classes, scheme.kind, scheme.not_measured, scheme.breaks,
                                scheme.relative, statistic, scheme.units, scheme.name)
    if interior_buffer_m < 0 or min_valid_pixels < 0:
        raise ValueError("interior_buffer_m and min_valid_pixels must be >= 0")
    name = _layer_name(buildings, "buildings")
    values = scheme.values
    n = len(buildings)
    with _Opened(raster, band) as src:
        px_m2 = _pixel_area_l93(src)
        pp, area_l93, interior = _prepared(
            buildings, src, name=name, buffer_m=interior_buffer_m,
            min_area_m2=min_valid_pixels * px_m2)
        factor = _area_factor(pp, area_l93)
        illustrative = _validate.is_illustrative(src.tags) or _validate.is_illustrative(
            buildings)
        stat_value = np.full(n, np.nan)
        area_by_class: np.ndarray
        prov_extra: dict[str, Any] = {}
        if scheme.kind == "classified":
            acc = _class_areas(src, pp, mode=mode, classes=values,
                               not_measured=scheme.not_measured, budget_bytes=budget_bytes,
                               batch_cells=batch_cells, progress=scaled(progress, 0, 0.95))
            unknown = acc.other_px
            area_by_class = acc.area[:, :len(values)]
            measured = area_by_class.sum(axis=1)
        else:
            pairs = _collect(src, pp, mode=mode, keep=True, threshold=None,
                             not_measured=scheme.not_measured, budget_bytes=budget_bytes,
                             batch_cells=batch_cells, progress=scaled(progress, 0, 0.95))
            unknown = 0.0
            measured = pairs.sw
            q = _quantile_of(scheme.statistic)
            g, v, w = pairs.arrays()
            if q is None:
                stat_value = pairs.stat(scheme.statistic)
            else:
                stat_value = _group_quantiles(g, v, w, n, [q])[q]
            breaks = np.asarray(scheme.breaks, dtype=float)
            enough = measured >= max(min_valid_pixels, 1e-12)
            if scheme.relative:
                ref = stat_value[enough & np.isfinite(stat_value)]
                breaks = (np.percentile(ref, breaks) if len(ref)
                          else np.full(len(breaks), np.nan))
                prov_extra["breaks_from_scene"] = [float(b) for b in breaks]
            # pixel-level class of every measured cell, for the per-class fractions
            cls_idx = np.searchsorted(breaks, v, side="right")
            area_by_class = np.bincount(g * len(values) + cls_idx, weights=w,
                                        minlength=n * len(values)).reshape(n, len(values))
        prov = _provenance(src, "", {"heatloss_valid_area_m2": "m2",
                                     "heatloss_stat": scheme.units}, illustrative)
        src_name = src.name
    if unknown > 0:
        warnings.warn(
            f"{src_name}: {unknown:.1f} pixel(s) under the buildings hold values that are not "
            f"classes of the scheme ({', '.join(map(str, values))}, not measured: "
            f"{', '.join(f'{v:g}' for v in scheme.not_measured) or 'none'}); they are treated "
            "as not measured. Check the raster or pass the right HeatLossScheme",
            DataQualityWarning, stacklevel=2,
        )
    report(progress, 0.96, "classement des toitures")
    measured = np.maximum(measured, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        fracs = area_by_class / measured[:, None]
    fracs[measured <= 0] = np.nan
    has_any = measured > 1e-12
    enough = has_any & (measured >= min_valid_pixels)
    if scheme.kind == "classified":
        # majority; exact ties go to the higher class (argmax on the reversed columns)
        rev = np.nan_to_num(area_by_class[:, ::-1])
        k = len(values) - 1 - np.argmax(rev, axis=1)
    else:
        k = np.searchsorted(breaks, stat_value, side="right")
        enough &= np.isfinite(stat_value)
    cls_values = np.asarray(values)[np.clip(k, 0, len(values) - 1)]
    heat_class = pd.array(np.where(enough, cls_values, 0), dtype="Int64")
    heat_class[~enough] = pd.NA
    class_labels = np.array([c.label for c in scheme.classes], dtype=object)
    labels = np.where(enough, class_labels[np.clip(k, 0, len(values) - 1)],
                      np.where(has_any, UNCLASSIFIED_LABEL, NOT_MEASURED_LABEL))
    outside = pp.area_px <= 0
    reason = np.full(n, None, dtype=object)
    reason[~has_any] = "aucun pixel valide (hors raster, nodata ou non mesuré)"
    reason[outside] = "géométrie vide"
    few = has_any & ~enough
    if few.any():
        reason[few] = [f"trop peu de pixels valides ({m:.1f} < {min_valid_pixels:g})"
                       for m in measured[few]]
    share = np.take_along_axis(np.nan_to_num(fracs), np.clip(k, 0, len(values) - 1)[:, None],
                               axis=1)[:, 0] if n else np.zeros(0)
    out = _validate.to_lambert93(buildings, name=name)
    out["heatloss_class"] = heat_class
    out["heatloss_label"] = pd.Series(labels, index=out.index, dtype=object)
    out["heatloss_reason"] = pd.Series(reason, index=out.index, dtype=object)
    out["heatloss_class_share"] = np.where(enough, share, np.nan)
    out["heatloss_stat"] = stat_value if scheme.kind == "continuous" else np.nan
    out["heatloss_valid_px"] = measured
    out["heatloss_valid_area_m2"] = measured * factor
    with np.errstate(invalid="ignore", divide="ignore"):
        out["heatloss_coverage"] = np.minimum(
            np.where(pp.area_px > 0, measured / pp.area_px, np.nan), 1.0)
    out["heatloss_interior"] = interior
    for j, val in enumerate(values):
        out[f"heatloss_frac_{val}"] = fracs[:, j]
    method = (f"{'couverture exacte' if mode == 'exact' else 'centre des pixels'}; "
              f"{scheme.statistic}; tampon intérieur {interior_buffer_m:g} m; "
              f"min {min_valid_pixels:g} px")
    out["heatloss_method"] = pd.Series(method, index=out.index, dtype=object)
    if illustrative:
        out["source"] = pd.Series(_validate.ILLUSTRATIVE, index=out.index, dtype=object)
    prov["method"] = method
    prov["scheme"] = scheme.name
    prov.update(prov_extra)
    out.attrs["qpvgeo"] = prov
    report(progress, 1.0, "classement des toitures terminé")
    return out

# ----------------------------------------------------------------------------------------------
# heat_loss_shares
# ----------------------------------------------------------------------------------------------
def _assign_to_zones(bld: np.ndarray, zon: np.ndarray) -> np.ndarray:
    """Zone position holding most of each building's area (-1: none).

    A building goes to the zone holding the largest part of its area, provided that part is at
    least as large as the part lying outside every zone; exact ties go to the first zone in the
    zones' order.
    """
    n = len(bld)
    out = np.full(n, -1, dtype=np.int64)
    if not n or not len(zon):
        return out
    # zones as the queries (prepared once by GEOS), buildings in the tree
    zi, bi = shapely.STRtree(bld).query(zon, predicate="intersects")
    if not len(bi):
        return out
    area = np.asarray(shapely.area(bld), dtype=float)
    shapely.prepare(zon)
    covered = shapely.covers(zon[zi], bld[bi])
    inter = np.where(covered, area[bi], 0.0)
    partial = ~covered
    if partial.any():
        inter[partial] = shapely.area(shapely.intersection(bld[bi[partial]], zon[zi[partial]]))
    inside_total = np.bincount(bi, weights=inter, minlength=n)
    outside = np.maximum(area - inside_total, 0.0)
    # order pairs by building, then by decreasing area, then by zone position
    order = np.lexsort((zi, -inter, bi))
    bi, zi, inter = bi[order], zi[order], inter[order]
    first = np.ones(len(bi), dtype=bool)
    first[1:] = bi[1:] != bi[:-1]
    bsel, zsel, isel = bi[first], zi[first], inter[first]
    ok = (isel > 0) & (isel >= outside[bsel])
    out[bsel[ok]] = zsel[ok]
    return out


def heat_loss_shares(
    buildings: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, *,
    strong: Sequence[str | int] | None = ("fortes", "excessives"),
    scheme: HeatLossScheme | None = None, progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Share of buildings and of roof area with strong heat loss, per zone.

    Each building (output of :func:`building_heat_loss`) is assigned to the zone holding the
    largest part of its footprint, provided that part is at least as large as the part outside
    every zone (a building straddling two QPV counts once); its whole footprint area then
    counts in that zone. Shares are taken over classified buildings only: "non classé" and
    "non mesuré" buildings are counted apart, never as 0. Zones of one call should not overlap:
    compute nested levels (QPV, then the territory) in separate calls.

    Parameters
    ----------
    buildings : GeoDataFrame
        Result of :func:`building_heat_loss` (columns ``heatloss_class``, ``heatloss_label``),
        any CRS.
    zones : GeoDataFrame
        Zones (QPV, IRIS, communes, or the territory as one polygon), any CRS; areas are
        computed in EPSG:2154.
    strong : sequence of str or int, optional
        Classes counted as strong heat loss, by label (``"fortes"``) or class value (``3``).
        ``None`` uses the scheme's strong classes.
    scheme : HeatLossScheme, optional
        Gives the per-class count columns (default :data:`DEFAULT_SCHEME`; classes found in the
        buildings but not in the scheme are added).
    progress : callable, optional
        ``progress(fraction, message)``.

    Returns
    -------
    pandas.DataFrame
        Index = ``zones.index`` (order kept): ``buildings_count``, ``buildings_classified``,
        ``buildings_unclassified``, ``buildings_not_measured``, ``heatloss_strong_count``,
        ``heatloss_strong_share`` (0–1 of classified buildings), ``heatloss_classified_area_m2``,
        ``heatloss_strong_area_m2`` (m², footprints), ``heatloss_strong_area_share`` (0–1),
        ``heatloss_count_<value>`` per class, ``heatloss_missing_reason`` (str where the shares
        are NaN), ``source`` = "illustratif" when an input is.
    """
    scheme = scheme or DEFAULT_SCHEME
    bname = _layer_name(buildings, "buildings")
    zname = _layer_name(zones, "zones")
    for df, nm in ((buildings, bname), (zones, zname)):
        if not isinstance(df, gpd.GeoDataFrame):
            raise SchemaError(f"{nm}: expected a GeoDataFrame, got {type(df).__name__}")
    _validate.require_columns(
        buildings, ["heatloss_class", "heatloss_label"], name=bname,
        hint="compute them first with qpvgeo.thermography.building_heat_loss(raster, buildings)")
    _validate.check_not_empty(zones, name=zname, what="zone")
    report(progress, 0.0, "affectation des bâtiments aux zones")
    b93 = _validate.to_lambert93(buildings[["heatloss_class", "heatloss_label",
                                            buildings.geometry.name]], name=bname)
    z93 = _validate.to_lambert93(zones[[zones.geometry.name]], name=zname)
    zgeom = np.asarray(z93.geometry.array, dtype=object)
    bgeom = np.asarray(b93.geometry.array, dtype=object)
    zone_of = _assign_to_zones(bgeom, zgeom)
    nz = len(zones)

    cls = pd.array(b93["heatloss_class"], dtype="Int64")
    classified = ~np.asarray(cls.isna())
    label = b93["heatloss_label"].astype(object).to_numpy()
    unclassified = ~classified & (label == UNCLASSIFIED_LABEL)
    not_measured = ~classified & ~unclassified
    if strong is None:
        strong_labels: set[Any] = {c.label for c in scheme.classes if c.strong}
        strong_values: set[int] = set(scheme.strong_values)
    else:
        strong_labels = {s for s in strong if isinstance(s, str)}
        strong_values = {int(s) for s in strong if not isinstance(s, str)}
    cls_np = np.asarray(cls.fillna(-(2**31)), dtype=np.int64)
    is_strong = classified & (np.isin(label, list(strong_labels)) | np.isin(
        cls_np, list(strong_values)))
    known_labels = {c.label for c in scheme.classes}
    missing = (strong_labels - known_labels) - set(label[classified].tolist())
    if missing:
        raise SchemaError(
            f"{bname}: strong class label(s) {sorted(missing)} match no class of the scheme "
            f"({', '.join(sorted(known_labels))}) nor any heatloss_label; pass labels or values "
            "of the scheme used by building_heat_loss"
        )
    area = np.nan_to_num(np.asarray(shapely.area(bgeom), dtype=float))

    assigned = zone_of >= 0
    z = zone_of[assigned]

    def _count(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        w = None if weights is None else weights[assigned & mask]
        return np.bincount(zone_of[assigned & mask], weights=w, minlength=nz)

    n_all = np.bincount(z, minlength=nz)
    n_cls = _count(classified)
    n_strong = _count(is_strong)
    a_cls = _count(classified, area).astype(float)
    a_strong = _count(is_strong, area).astype(float)
    out = pd.DataFrame({
        "buildings_count": n_all.astype(np.int64),
        "buildings_classified": n_cls.astype(np.int64),
        "buildings_unclassified": _count(unclassified).astype(np.int64),
        "buildings_not_measured": _count(not_measured).astype(np.int64),
        "heatloss_strong_count": n_strong.astype(np.int64),
    }, index=zones.index)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["heatloss_strong_share"] = np.where(n_cls > 0, n_strong / n_cls, np.nan)
        out["heatloss_classified_area_m2"] = a_cls
        out["heatloss_strong_area_m2"] = a_strong
        out["heatloss_strong_area_share"] = np.where(a_cls > 0, a_strong / a_cls, np.nan)
    values = list(scheme.values)
    values += sorted(set(cls_np[classified].tolist()) - set(values))
    for v in values:
        out[f"heatloss_count_{v}"] = _count(classified & (cls_np == v)).astype(np.int64)
    reason = np.full(nz, None, dtype=object)
    reason[(n_cls == 0)] = [
        f"aucun bâtiment classé ({u} non classé(s), {m} non mesuré(s))"
        for u, m in zip(out["buildings_unclassified"].to_numpy()[n_cls == 0],
                        out["buildings_not_measured"].to_numpy()[n_cls == 0], strict=True)]
    reason[n_all == 0] = "aucun bâtiment dans la zone"
    out["heatloss_missing_reason"] = pd.Series(reason, index=out.index, dtype=object)
    illustrative = _validate.is_illustrative(buildings) or _validate.is_illustrative(zones)
    if illustrative:
        out["source"] = pd.Series(_validate.ILLUSTRATIVE, index=out.index, dtype=object)
    prov = dict(buildings.attrs.get("qpvgeo", {}) or {})
    prov.update({
        "method": "building assigned to the zone holding most of its footprint; shares of "
                  "classified buildings and of their footprint area (EPSG:2154)",
        "units": {"*_share": "0-1", "*_area_m2": "m2", "*_count": "buildings"},
        "strong": sorted(map(str, strong_labels | strong_values)),
        "buildings_outside_zones": int((~assigned).sum()),
    })
    if illustrative:
        prov["source"] = _validate.ILLUSTRATIVE
    out.attrs["qpvgeo"] = prov
    report(progress, 1.0, "parts de déperditions calculées")
    return out
