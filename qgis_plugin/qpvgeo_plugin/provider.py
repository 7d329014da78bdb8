"""Processing provider "qpvgeo": one algorithm class per module, French display names."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from .base import ICON


def algorithm_classes() -> list[type]:
    """The algorithm classes, in toolbox order (imported here so a broken one is visible)."""
    from .algorithms import ALGORITHMS

    return list(ALGORITHMS)


class QpvgeoProvider(QgsProcessingProvider):
    """The qpvgeo tools of the Processing toolbox."""

    def id(self) -> str:
        return "qpvgeo"

    def name(self) -> str:
        return QCoreApplication.translate("qpvgeo", "qpvgeo – quartiers prioritaires")

    def longName(self) -> str:
        return QCoreApplication.translate(
            "qpvgeo", "qpvgeo – statistiques spatiales des quartiers prioritaires (QPV)")

    def icon(self) -> QIcon:
        return QIcon(ICON)

    def svgIconPath(self) -> str:
        return ICON

    def loadAlgorithms(self) -> None:
        for cls in algorithm_classes():
            self.addAlgorithm(cls())
