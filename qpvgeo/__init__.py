"""qpvgeo: spatial statistics of a portrait de territoire for the QPV.

The package re-exports the engine: readers (``qpvgeo.io``), thermography, IRIS↔QPV overlay and
interpolation, housing, health and equipment, economy and the portrait indicators. Presentation
modules (``qpvgeo.maps``, ``qpvgeo.charts``, ``qpvgeo.report``, ``qpvgeo.portrait``) are
imported explicitly, so ``import qpvgeo`` loads neither folium, matplotlib nor QGIS.

Example
-------
>>> import qpvgeo
>>> demo = qpvgeo.datasets.load_demo(["qpv", "iris"])          # doctest: +SKIP
>>> table = qpvgeo.iris_qpv_overlap(demo["iris"], demo["qpv"])  # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from qpvgeo import datasets, errors
from qpvgeo.economy import creations, economic_activity, establishment_change, sector_mix
from qpvgeo.equipment import WalkingGraph, assign_points, equipment_access
from qpvgeo.errors import QpvgeoError
from qpvgeo.health import bpe_codes, health_access, school_access
from qpvgeo.housing import housing_quality, rpls_composition, social_housing, social_housing_stock
from qpvgeo.indicators import (
    catalogue,
    compute_indicators,
    gap_evolution,
    gap_overview,
    gap_summary,
    portrait_table,
    read_reference_table,
    territory_indicators,
    zone_indicators,
)
from qpvgeo.interpolation import apply_crosswalk, interpolate
from qpvgeo.io import (
    read_bpe,
    read_buildings,
    read_communes,
    read_epci,
    read_insee_table,
    read_iris,
    read_layer,
    read_qpv,
    read_qpv_correspondence,
    read_qpv_list,
    read_rpls,
    read_sirene,
)
from qpvgeo.overlay import building_weights, concerned_iris, crosswalk, iris_qpv_overlap
from qpvgeo.thermography import (
    HeatLossScheme,
    building_heat_loss,
    class_fractions,
    heat_loss_shares,
    raster_summary,
)

__all__ = [
    "HeatLossScheme",
    "QpvgeoError",
    "WalkingGraph",
    "__version__",
    "apply_crosswalk",
    "assign_points",
    "bpe_codes",
    "building_heat_loss",
    "building_weights",
    "catalogue",
    "class_fractions",
    "compute_indicators",
    "concerned_iris",
    "creations",
    "crosswalk",
    "datasets",
    "economic_activity",
    "equipment_access",
    "errors",
    "establishment_change",
    "gap_evolution",
    "gap_overview",
    "gap_summary",
    "health_access",
    "heat_loss_shares",
    "housing_quality",
    "interpolate",
    "iris_qpv_overlap",
    "portrait_table",
    "raster_summary",
    "read_bpe",
    "read_buildings",
    "read_communes",
    "read_epci",
    "read_insee_table",
    "read_iris",
    "read_layer",
    "read_qpv",
    "read_qpv_correspondence",
    "read_qpv_list",
    "read_reference_table",
    "read_rpls",
    "read_sirene",
    "rpls_composition",
    "school_access",
    "sector_mix",
    "social_housing",
    "social_housing_stock",
    "territory_indicators",
    "zone_indicators",
]
