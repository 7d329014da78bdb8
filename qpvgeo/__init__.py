"""qpvgeo: spatial statistics of a portrait de territoire for the QPV.

The package re-exports the engine (readers, thermography, overlay, interpolation, housing,
health, economy, indicators). Presentation modules (``qpvgeo.maps``, ``qpvgeo.charts``,
``qpvgeo.report``) are imported explicitly, so ``import qpvgeo`` loads neither folium nor QGIS.
"""

from __future__ import annotations

__version__ = "0.1.0"

from qpvgeo import errors
from qpvgeo.errors import QpvgeoError

__all__ = ["QpvgeoError", "__version__", "errors"]
