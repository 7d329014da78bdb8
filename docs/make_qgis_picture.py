"""Render docs/qgis_result.png: a result of the plugin drawn by QGIS itself, headless.

Runs the two thermography tools of the plugin on the demo territory (illustrative data) around
one QPV — "Déperditions thermiques par bâtiment" on the buildings of the area, then "Parts de
déperditions fortes par quartier" on the QPV — and renders the output layers with the styles the
plugin gives them (QgsMapSettings + QgsMapRendererParallelJob, no GUI), then draws a title and
the legend of the scheme on the image.

Usage (QGIS environment, headless)::

    QT_QPA_PLATFORM=offscreen .venv-qgis/bin/python docs/make_qgis_picture.py [--qpv CODE]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(argv: list[str] | None = None) -> int:
    """Render the picture; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qpv", default=None, help="QPV code to centre on (default: the QPV "
                        "with the most buildings)")
    parser.add_argument("--out", type=Path, default=HERE / "qgis_result.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=820)
    args = parser.parse_args(argv)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from qgis.core import (
            QgsApplication,
            QgsCoordinateReferenceSystem,
            QgsCoordinateTransform,
            QgsFeatureRequest,
            QgsMapRendererParallelJob,
            QgsMapSettings,
            QgsPalLayerSettings,
            QgsProcessingContext,
            QgsProcessingFeatureSourceDefinition,
            QgsProcessingFeedback,
            QgsProject,
            QgsTextBufferSettings,
            QgsTextFormat,
            QgsVectorLayer,
            QgsVectorLayerSimpleLabeling,
        )
        from qgis.PyQt.QtCore import QRectF, QSize, Qt
        from qgis.PyQt.QtGui import QColor, QFont, QImage, QPainter

    QgsApplication.setPrefixPath("/usr", True)
    profile = tempfile.mkdtemp(prefix="qpvgeo_picture_profile_")
    app = QgsApplication([], False, profile)
    app.initQgis()
    sys.path.append("/usr/share/qgis/python/plugins")
    sys.path.insert(0, str(ROOT / "qgis_plugin"))
    import processing
    from processing.core.Processing import Processing

    Processing.initialize()
    import qpvgeo_plugin

    from qpvgeo import datasets
    from qpvgeo.thermography import DEFAULT_SCHEME, NOT_MEASURED_LABEL, UNCLASSIFIED_LABEL

    plugin = qpvgeo_plugin.classFactory(None)
    plugin.initProcessing()
    project = QgsProject.instance()
    layers = []
    try:
        qpv = QgsVectorLayer(str(datasets.get_path("qpv")), "QPV", "ogr")
        buildings = QgsVectorLayer(str(datasets.get_path("buildings")), "bâtiments", "ogr")
        raster = str(datasets.get_path("heatloss"))
        project.addMapLayers([qpv, buildings], False)
        layers += [qpv, buildings]
        crs = QgsCoordinateReferenceSystem("EPSG:2154")
        to_l93 = QgsCoordinateTransform(qpv.crs(), crs, project)
        to_bld = QgsCoordinateTransform(crs, buildings.crs(), project)

        zones = list(qpv.getFeatures())
        code_field = "code_qp"

        def n_buildings(feat):
            box = to_bld.transformBoundingBox(to_l93.transformBoundingBox(
                feat.geometry().boundingBox()))
            return sum(1 for _ in buildings.getFeatures(
                QgsFeatureRequest().setFilterRect(box).setNoAttributes()))

        if args.qpv:
            zone = next(f for f in zones if f[code_field] == args.qpv)
        else:
            zone = max(zones, key=n_buildings)
        extent = to_l93.transformBoundingBox(zone.geometry().boundingBox())
        extent.grow(max(extent.width(), extent.height()) * 0.25)
        ratio = args.width / args.height
        if extent.width() / extent.height() < ratio:
            extent.scale(ratio * extent.height() / extent.width(), extent.center())
        else:
            extent.scale(extent.width() / ratio / extent.height(), extent.center())
        ids = [f.id() for f in buildings.getFeatures(QgsFeatureRequest().setFilterRect(
            to_bld.transformBoundingBox(extent)).setNoAttributes())]
        buildings.selectByIds(ids)

        context = QgsProcessingContext()
        context.setProject(project)
        feedback = QgsProcessingFeedback()
        tmp = Path(tempfile.mkdtemp(prefix="qpvgeo_picture_"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            classified = processing.runAndLoadResults("qpvgeo:building_heat_loss", {
                "RASTER": raster, "OUTPUT": str(tmp / "batiments.gpkg"),
                "BUILDINGS": QgsProcessingFeatureSourceDefinition(buildings.id(), True)},
                context=context, feedback=feedback)
            shares = processing.runAndLoadResults("qpvgeo:heat_loss_shares", {
                "BUILDINGS": classified["OUTPUT"], "ZONES": qpv,
                "OUTPUT": str(tmp / "qpv.gpkg")}, context=context, feedback=feedback)
        loaded = {lyr.source().split("|")[0]: lyr for lyr in project.mapLayers().values()}
        bld_layer = loaded[classified["OUTPUT"]]
        qpv_layer = loaded[shares["OUTPUT"]]
        # QPV drawn as outlines over the buildings, labelled with their share of strong loss
        from qpvgeo_plugin import styling

        styling.apply_qml(qpv_layer, styling.outline_qml("#4a1486", width=0.9))
        fmt = QgsTextFormat()
        fmt.setFont(QFont("DejaVu Sans", 9, QFont.Bold))
        fmt.setSize(9)
        fmt.setColor(QColor("#2d004b"))
        buffer = QgsTextBufferSettings()
        buffer.setEnabled(True)
        buffer.setSize(1.2)
        buffer.setColor(QColor("white"))
        fmt.setBuffer(buffer)
        label = QgsPalLayerSettings()
        label.fieldName = ("lib_qp || '\\n' || format_number(part_deperditions_fortes * 100, 0)"
                           " || ' % de bâtiments en déperditions fortes'")
        label.isExpression = True
        label.setFormat(fmt)
        qpv_layer.setLabeling(QgsVectorLayerSimpleLabeling(label))
        qpv_layer.setLabelsEnabled(True)

        settings = QgsMapSettings()
        settings.setLayers([qpv_layer, bld_layer])
        settings.setDestinationCrs(crs)
        settings.setExtent(extent)
        settings.setOutputSize(QSize(args.width, args.height))
        settings.setBackgroundColor(QColor("#f7f7f2"))
        settings.setOutputDpi(110)
        job = QgsMapRendererParallelJob(settings)
        job.start()
        job.waitForFinished()
        image = job.renderedImage()

        painter = QPainter(image)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setFont(QFont("DejaVu Sans", 15, QFont.Bold))
        painter.setPen(QColor("#222222"))
        painter.fillRect(QRectF(0, 0, args.width, 44), QColor(255, 255, 255, 215))
        painter.drawText(QRectF(14, 8, args.width - 28, 30), Qt.AlignLeft | Qt.AlignVCenter,
                         "Déperditions thermiques par bâtiment — qpvgeo dans QGIS "
                         f"({qgis_version()})")
        items = [(f"déperditions {c.label}", c.colour) for c in DEFAULT_SCHEME.classes]
        items += [(UNCLASSIFIED_LABEL, "#9e9e9e"), (NOT_MEASURED_LABEL, "#9e9e9e")]
        box = QRectF(args.width - 300, 54, 286, 24 * (len(items) + 1) + 16)
        painter.fillRect(box, QColor(255, 255, 255, 230))
        painter.setFont(QFont("DejaVu Sans", 10))
        for i, (text, colour) in enumerate(items):
            y = box.top() + 10 + 24 * i
            painter.fillRect(QRectF(box.left() + 12, y + 3, 22, 14), QColor(colour))
            painter.drawText(QRectF(box.left() + 44, y, 230, 20), Qt.AlignVCenter, text)
        painter.setFont(QFont("DejaVu Sans", 9, -1, True))
        painter.drawText(QRectF(box.left() + 12, box.top() + 10 + 24 * len(items), 270, 20),
                         Qt.AlignVCenter, "Données illustratives (fictives)")
        painter.setFont(QFont("DejaVu Sans", 9))
        painter.drawText(QRectF(14, args.height - 26, args.width - 340, 20), Qt.AlignVCenter,
                         f"QPV {zone[code_field]} et alentours, {len(ids)} bâtiments ; "
                         "rendu headless par QgsMapRendererParallelJob ; Lambert-93")
        painter.end()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        # 256-colour palette: the map has few colours, the file stays small for the repository
        small = image.convertToFormat(QImage.Format_Indexed8, Qt.ThresholdDither)
        if not small.save(str(args.out), "PNG", 9):
            print(f"cannot write {args.out}", file=sys.stderr)
            return 1
        print(f"{args.out}: {args.width}×{args.height} px, QPV {zone[code_field]}, "
              f"{len(ids)} buildings")
    finally:
        layers.clear()
        project.clear()
        plugin.unload()
        Processing.deinitialize()
        app.exitQgis()
    return 0


def qgis_version() -> str:
    """Short QGIS version for the title."""
    from qgis.core import Qgis

    return f"QGIS {Qgis.QGIS_VERSION.split('-')[0]}"


if __name__ == "__main__":
    sys.exit(main())
