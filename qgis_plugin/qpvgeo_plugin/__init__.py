"""qpvgeo QGIS plugin: the qpvgeo library's tools in the Processing toolbox (provider "qpvgeo").

QGIS calls :func:`classFactory` when the plugin is enabled; ``qgis_process`` loads it the same
way (``hasProcessingProvider=yes`` in metadata.txt).
"""


def classFactory(iface):
    """Return the plugin instance QGIS loads."""
    from .plugin import QpvgeoPlugin

    return QpvgeoPlugin(iface)
