"""Plugin entry object: registers the Processing provider, warns once about missing packages."""

from __future__ import annotations

from typing import Any

from qgis.core import Qgis, QgsApplication

from . import deps
from .provider import QpvgeoProvider


class QpvgeoPlugin:
    """Registers the "qpvgeo" Processing provider (in QGIS and in ``qgis_process``)."""

    def __init__(self, iface: Any) -> None:
        self.iface = iface
        self.provider: QpvgeoProvider | None = None

    def initProcessing(self) -> None:
        """Add the provider to the Processing registry (called by ``qgis_process`` too)."""
        if self.provider is None:
            deps.use_bundled_library()
            self.provider = QpvgeoProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:
        self.initProcessing()
        message = deps.missing_message(("core",))
        if message and self.iface is not None:
            self.iface.messageBar().pushMessage("qpvgeo", message, Qgis.Warning, 0)

    def unload(self) -> None:
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
