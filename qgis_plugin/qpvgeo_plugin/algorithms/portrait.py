"""Portrait de territoire: ``qpvgeo.portrait.run_portrait`` from project layers or a config."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsCoordinateTransformContext,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingOutputFile,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingUtils,
    QgsProviderRegistry,
    QgsVectorFileWriter,
    QgsVectorLayer,
)

from .. import convert, params
from ..base import QpvgeoAlgorithm
from ..feedback import progress_callback

POLY = QgsProcessing.SourceType.TypeVectorPolygon
POINT = QgsProcessing.SourceType.TypeVectorPoint
LINE = QgsProcessing.SourceType.TypeVectorLine
ANY = QgsProcessing.SourceType.TypeVector

# parameter -> (configuration key, French description, layer type)
LAYERS = [
    ("QPV", "qpv", "Quartiers prioritaires 2024 (QPV)", POLY),
    ("QPV_2015", "qpv_2015", "QPV 2015", POLY),
    ("IRIS", "iris", "Contours IRIS", POLY),
    ("COMMUNES", "communes", "Communes", POLY),
    ("EPCI", "epci", "EPCI", POLY),
    ("BUILDINGS", "batiments", "Bâtiments (BD TOPO)", POLY),
    ("HOUSING_QUALITY", "qualite_logement", "Qualité du logement (PLH)", POLY),
    ("RPLS", "rpls", "Logements sociaux RPLS (points)", POINT),
    ("BPE", "bpe", "Équipements BPE (points)", POINT),
    ("STREETS", "voirie", "Tronçons de rue (marche)", LINE),
    ("INSEE_IRIS", "insee_iris", "Indicateurs INSEE par IRIS (table)", ANY),
]


@contextmanager
def gdal_rasters() -> Any:
    """Let the library read rasters with QGIS's GDAL during the run (see deps.py)."""
    old = os.environ.get("QPVGEO_RASTER_BACKEND")
    os.environ["QPVGEO_RASTER_BACKEND"] = "gdal"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("QPVGEO_RASTER_BACKEND", None)
        else:
            os.environ["QPVGEO_RASTER_BACKEND"] = old


class Portrait(QpvgeoAlgorithm):
    ALG_ID = "portrait"
    GROUP_ID = "portrait"
    DEPENDENCIES = ("core", "portrait")

    CONFIG = "CONFIG"
    DEMO = "DEMO"
    NAME = "NAME"
    SIREN_EPCI = "SIREN_EPCI"
    THERMOGRAPHY = "THERMOGRAPHY"
    OFFLINE = "OFFLINE"
    OPEN_MAP = "OPEN_MAP"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    MAP = "MAP"
    REPORT = "REPORT"
    GEOPACKAGE = "GEOPACKAGE"

    def displayName(self) -> str:
        return self.tr("Portrait de territoire")

    def shortHelpString(self) -> str:
        return self.tr(
            "Calcule le portrait de territoire des quartiers prioritaires et écrit dans le "
            "dossier de sortie : la carte web (carte.html), le rapport (rapport.html), les "
            "graphiques, portrait.gpkg (QPV avec tous les indicateurs, bâtiments classés, "
            "correspondance IRIS, styles QGIS inclus), indicateurs.csv et .xlsx avec la "
            "provenance de chaque chiffre.\n\n"
            "Les couches viennent d'un fichier de configuration (qpvgeo init-config) et/ou des "
            "couches du projet choisies ici (elles remplacent celles de la configuration) ; "
            "seuls les QPV sont obligatoires : une couche absente fait sauter sa section, avec "
            "une note. « Territoire de démonstration » utilise les données illustratives "
            "fournies avec qpvgeo.\n\n"
            "Le dossier est remplacé d'un bloc à la fin (jamais à moitié écrit) ; un dossier "
            "existant qui n'est pas un portrait n'est jamais effacé. À la fin, la carte s'ouvre "
            "dans le navigateur et les couches du GeoPackage sont ajoutées au projet. Calcul : "
            "qpvgeo.portrait.run_portrait.")

    def initAlgorithm(self, config: Any = None) -> None:
        params.add(self, QgsProcessingParameterFile(
            self.CONFIG, self.tr("Fichier de configuration (.toml) [facultatif]"),
            QgsProcessingParameterFile.Behavior.File, "toml", optional=True),
            "Écrit par « qpvgeo init-config » ; les chemins relatifs partent de son dossier.")
        params.add(self, QgsProcessingParameterBoolean(
            self.DEMO, self.tr("Territoire de démonstration (données illustratives)"), False),
            "Part de la configuration de démonstration de qpvgeo (CALL, données fictives).")
        params.add(self, QgsProcessingParameterString(
            self.NAME, self.tr("Nom du territoire"), "", optional=True),
            "Ex. « CA de Lens-Liévin ». Vide : celui de la configuration.")
        params.add(self, QgsProcessingParameterString(
            self.SIREN_EPCI, self.tr("SIREN de l'EPCI"), "", optional=True),
            "9 chiffres, ex. 246200364 ; sert à choisir les QPV et le territoire.")
        for name, _key, label, kind in LAYERS:
            params.add(self, QgsProcessingParameterFeatureSource(
                name, self.tr(label), [kind], optional=True))
        params.add(self, QgsProcessingParameterRasterLayer(
            self.THERMOGRAPHY, self.tr("Thermographie aérienne (raster)"), optional=True))
        params.add(self, QgsProcessingParameterBoolean(
            self.OFFLINE, self.tr("Carte utilisable hors connexion"), False),
            "Bibliothèques de la carte copiées dans le dossier, sans fond de carte en ligne.",
            advanced=True)
        params.add(self, QgsProcessingParameterBoolean(
            self.OPEN_MAP, self.tr("Ouvrir la carte à la fin"), True))
        params.add(self, QgsProcessingParameterFolderDestination(
            self.OUTPUT_FOLDER, self.tr("Dossier du portrait")))
        self.addOutput(QgsProcessingOutputFile(self.MAP, self.tr("Carte web")))
        self.addOutput(QgsProcessingOutputFile(self.REPORT, self.tr("Rapport")))
        self.addOutput(QgsProcessingOutputFile(self.GEOPACKAGE, self.tr("GeoPackage")))

    # ---- inputs ------------------------------------------------------------------------------
    def _layer_file(self, parameters: dict, name: str, context: Any, label: str,
                    folder: str) -> str | None:
        """A file qpvgeo's readers can open for a layer parameter (None when left empty).

        A whole file-based layer is read from its file (the readers recognise official
        layouts); a selection, a filter or another provider is written to a GeoPackage first.
        """
        value = parameters.get(name)
        if value in (None, ""):
            return None
        selected = isinstance(value, QgsProcessingFeatureSourceDefinition) and (
            value.selectedFeaturesOnly or value.featureLimit != -1)
        layer = convert.vector_layer(self, parameters, name, context)
        if layer is None:
            raise QgsProcessingException(self.tr("Couche « {} » introuvable.").format(label))
        if not selected and not layer.subsetString() and layer.providerType() in (
                "ogr", "delimitedtext"):
            parts = QgsProviderRegistry.instance().decodeUri(layer.providerType(),
                                                             layer.source())
            path = parts.get("path") or ""
            layer_name = parts.get("layerName")
            if os.path.isfile(path) and not (isinstance(layer_name, str) and layer_name):
                return path
        if layer.isSpatial() and not layer.crs().isValid():
            convert.require_crs(layer, label)
        out = os.path.join(folder, f"{name.lower()}.gpkg")
        options = QgsVectorFileWriter.SaveVectorOptions()
        options.driverName = "GPKG"
        options.layerName = name.lower()
        options.onlySelectedFeatures = bool(selected and value.selectedFeaturesOnly)
        error = QgsVectorFileWriter.writeAsVectorFormatV3(
            layer, out, QgsCoordinateTransformContext(), options)
        if error[0] != QgsVectorFileWriter.WriterError.NoError:
            raise QgsProcessingException(self.tr("Couche « {} » : copie impossible ({}).")
                                         .format(label, error[1]))
        return out

    def _config(self, parameters: dict, context: Any, folder: str) -> Any:
        from qpvgeo.config import PortraitConfig, demo_config, load_config

        config_path = self.parameterAsFile(parameters, self.CONFIG, context)
        if config_path:
            cfg = load_config(config_path)
        elif self.parameterAsBoolean(parameters, self.DEMO, context):
            cfg = demo_config()
        else:
            cfg = PortraitConfig(name="", siren_epci=None, files={})
        files = dict(cfg.files)
        for name, key, label, _kind in LAYERS:
            path = self._layer_file(parameters, name, context, self.tr(label), folder)
            if path is not None:
                files[key] = Path(path)
        raster = self.parameterAsRasterLayer(parameters, self.THERMOGRAPHY, context)
        if raster is not None:
            files["thermographie"] = Path(convert.raster_path(raster, self.tr("Thermographie")))
        if "qpv" not in files:
            raise QgsProcessingException(self.tr(
                "Portrait : donnez la couche des QPV, un fichier de configuration ou cochez "
                "« Territoire de démonstration »."))
        name = self.parameterAsString(parameters, self.NAME, context).strip() or cfg.name \
            or self.tr("Territoire")
        siren = self.parameterAsString(parameters, self.SIREN_EPCI, context).strip() or \
            cfg.siren_epci
        if siren and not (len(siren) == 9 and siren.isdigit()):
            raise QgsProcessingException(self.tr(
                "SIREN de l'EPCI : 9 chiffres attendus (ex. 246200364), reçu « {} ».")
                .format(siren))
        return dataclasses.replace(cfg, name=name, siren_epci=siren or None, files=files)

    # ---- run ---------------------------------------------------------------------------------
    def compute(self, parameters: dict, context: Any, feedback: Any) -> dict:
        from qpvgeo.portrait import run_portrait

        out_dir = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        with tempfile.TemporaryDirectory(prefix="qpvgeo_portrait_") as folder:
            cfg = self._config(parameters, context, folder)
            feedback.pushInfo(self.tr("Couches : {}").format(", ".join(sorted(cfg.files))))
            with gdal_rasters():
                result = run_portrait(
                    cfg, out_dir, offline=self.parameterAsBoolean(parameters, self.OFFLINE,
                                                                  context),
                    progress=progress_callback(feedback))
        for section, notes in result.notes.items():
            for note in notes:
                feedback.pushInfo(f"[{section}] {note}")
        if result.illustrative:
            feedback.pushWarning(self.tr(
                "Portrait calculé sur des données illustratives (fictives) : ne pas diffuser "
                "comme un diagnostic."))
        out = Path(result.out_dir)
        self._open_map = self.parameterAsBoolean(parameters, self.OPEN_MAP, context)
        self._map = str(out / "carte.html") if (out / "carte.html").exists() else None
        gpkg = out / "portrait.gpkg"
        if gpkg.exists() and context.project() is not None:
            # loaded by the toolbox (and runAndLoadResults) only, not by scripts
            self._load_geopackage(str(gpkg), context, result.illustrative)
        return {
            self.OUTPUT_FOLDER: str(out),
            self.MAP: self._map,
            self.REPORT: str(out / "rapport.html") if (out / "rapport.html").exists() else None,
            self.GEOPACKAGE: str(gpkg) if gpkg.exists() else None,
        }

    def _load_geopackage(self, path: str, context: Any, illustrative: bool) -> None:
        """Add the portrait's GeoPackage layers (with their embedded styles) to the project."""
        probe = QgsVectorLayer(path, "portrait", "ogr")
        names = [s.split("!!::!!")[1] for s in probe.dataProvider().subLayers()] \
            if probe.isValid() else []
        for layer_name in names:
            if layer_name == "layer_styles":
                continue
            title = f"Portrait – {layer_name}" + (" (illustratif)" if illustrative else "")
            details = QgsProcessingContext.LayerDetails(title, context.project(), layer_name,
                                                        QgsProcessingUtils.LayerHint.Vector)
            context.addLayerToLoadOnCompletion(f"{path}|layername={layer_name}", details)

    def postProcessAlgorithm(self, context: Any, feedback: Any) -> dict:
        super().postProcessAlgorithm(context, feedback)
        if getattr(self, "_open_map", False) and getattr(self, "_map", None):
            from qgis.utils import iface

            if iface is not None:  # desktop QGIS only, never in qgis_process or tests
                from qgis.PyQt.QtCore import QUrl
                from qgis.PyQt.QtGui import QDesktopServices

                QDesktopServices.openUrl(QUrl.fromLocalFile(self._map))
        return {}
